#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "migrate.h"

void service_notify(const char *state)
{
    if (!getenv("NOTIFY_SOCKET"))
        return;
    int rc = sd_notify(0, state);
    if (rc < 0)
        log_warn(0, 0, "cannot tell the supervisor '%s' (NOTIFY_SOCKET): error %d", state, -rc);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

PGconn *service_connect_db(const struct config *cfg, char *err, size_t errsz)
{
    int64_t deadline = cfg->wait_db > 0 ? mono_ms() + (int64_t)cfg->wait_db * 1000 : 0;
    int backoff = 0, tries = 0, answered = 0;
    for (;;) {
        PGconn *pg = migrate_connect(cfg->db, err, errsz);
        if (pg) {
            if (tries)
                log_info(0, 0, "PostgreSQL answers after %d attempt(s)", tries + 1);
            return pg;
        }
        if (cfg->wait_db == 0)
            return NULL;
        /* only a server that is down or still starting is waited for: a
         * refused login or a missing database will not mend by itself (a
         * server that answers a ping yet refused the connection may have
         * finished starting in between: it is given one more try) */
        PGPing ping = PQping(cfg->db);
        if (ping == PQPING_OK && ++answered > 1)
            return NULL;
        if (ping == PQPING_NO_ATTEMPT)
            return NULL;
        if (deadline && mono_ms() >= deadline) {
            size_t n = strnlen(err, errsz);
            snprintf(err + n, errsz - n, " (waited %d s: wait_db)", cfg->wait_db);
            return NULL;
        }
        if (tries == 0) {
            log_warn(0, 0, "%s: waiting for PostgreSQL (wait_db %d%s)", err, cfg->wait_db,
                     cfg->wait_db < 0 ? ", for ever" : " s");
            service_notify("STATUS=waiting for PostgreSQL");
        } else {
            log_debug(0, 0, "%s: still waiting", err);
        }
        tries++;
        backoff = db_backoff_next(backoff);
        sleep_ms(backoff);
    }
}
