/* KEHU_TUI_TRACE=FILE: when each search keystroke came, when its answer came
 * (or was dropped for a newer keystroke's) and when the screen showing it was
 * updated — for bench/tui-search. Unset, every call is one test of a NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "tui.h"

static FILE *trace_file;
static int shown = -1; /* an answer applied, not yet on the screen */

void tui_trace_open(void)
{
    const char *path = getenv("KEHU_TUI_TRACE");
    if (path && *path && (trace_file = fopen(path, "w")) != NULL)
        setvbuf(trace_file, NULL, _IOLBF, 0);
}

static void put(const char *what, int seq)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(trace_file, "%s %d %lld\n", what, seq, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

void tui_trace_key(int seq)
{
    if (trace_file)
        put("key", seq);
}

void tui_trace_answer(int seq, int stale)
{
    if (!trace_file)
        return;
    put(stale ? "stale" : "answer", seq);
    if (!stale)
        shown = seq;
}

void tui_trace_drawn(void)
{
    if (trace_file && shown >= 0) {
        put("drawn", shown);
        shown = -1;
    }
}

void tui_trace_close(void)
{
    if (trace_file)
        fclose(trace_file);
    trace_file = NULL;
}
