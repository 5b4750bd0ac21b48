/* The event log's replay rules: what a resumed watch is sent again, and
 * when it is told to refresh instead (another run, too long ago, a gap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event_log.h"

struct seen {
    int n;
    uint64_t first, last;
    char text[32];
};

static void count(const char *payload, uint64_t seq, void *arg)
{
    struct seen *s = arg;
    if (!s->n++)
        s->first = seq;
    s->last = seq;
    snprintf(s->text, sizeof s->text, "%s", payload);
}

static void test_replays_what_followed(void **state)
{
    (void)state;
    struct event_log *l = event_log_new();
    assert_true(event_log_stream(l) > 0);
    assert_int_equal(event_log_add(l, "a"), 1);
    assert_int_equal(event_log_add(l, "b"), 2);
    assert_int_equal(event_log_add(l, "c"), 3);
    struct seen s = { 0 };
    assert_int_equal(event_log_since(l, event_log_stream(l), 1, count, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.first, 2);
    assert_string_equal(s.text, "c");
    memset(&s, 0, sizeof s);
    assert_int_equal(event_log_since(l, event_log_stream(l), 3, count, &s), 0);
    assert_int_equal(s.n, 0);
    /* another run's stream, a seq not given yet */
    assert_int_equal(event_log_since(l, event_log_stream(l) + 1, 1, count, &s), -1);
    assert_int_equal(event_log_since(l, event_log_stream(l), 4, count, &s), -1);
    assert_int_equal(s.n, 0);
    event_log_free(l);
}

static void test_too_long_ago(void **state)
{
    (void)state;
    struct event_log *l = event_log_new();
    for (int i = 0; i < EVENT_LOG_KEPT + 10; i++)
        event_log_add(l, "x");
    struct seen s = { 0 };
    assert_int_equal(event_log_since(l, event_log_stream(l), 5, count, &s), -1);
    assert_int_equal(s.n, 0);
    assert_int_equal(event_log_since(l, event_log_stream(l), 10, count, &s), 0);
    assert_int_equal(s.n, EVENT_LOG_KEPT);
    event_log_free(l);
}

/* Announcements were lost at the gap: a watch that last saw anything
 * before it is told to refresh; one told of the gap (its seq) or later
 * is sent what followed. */
static void test_gap(void **state)
{
    (void)state;
    struct event_log *l = event_log_new();
    event_log_add(l, "a");
    event_log_add(l, "b");
    uint64_t gap = event_log_gap(l);
    assert_int_equal(gap, 3);
    assert_int_equal(event_log_last(l), 3);
    assert_int_equal(event_log_add(l, "c"), 4);
    struct seen s = { 0 };
    assert_int_equal(event_log_since(l, event_log_stream(l), 2, count, &s), -1);
    assert_int_equal(event_log_since(l, event_log_stream(l), 0, count, &s), -1);
    assert_int_equal(s.n, 0);
    assert_int_equal(event_log_since(l, event_log_stream(l), gap, count, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.first, 4);
    assert_string_equal(s.text, "c");
    event_log_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replays_what_followed),
        cmocka_unit_test(test_too_long_ago),
        cmocka_unit_test(test_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
