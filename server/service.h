/* kehud as a service: waiting for PostgreSQL at start (wait_db) and telling
 * a supervisor how it goes (systemd's NOTIFY_SOCKET: READY, STOPPING,
 * STATUS). */
#ifndef KEHU_SERVICE_H
#define KEHU_SERVICE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"

/* A connection to the database kehud serves (cfg->db). While PostgreSQL
 * does not answer or is still starting, waits up to cfg->wait_db seconds
 * (-1: for ever) retrying on the pool's backoff (db_backoff_next); any other
 * failure (a refused password, no such database) ends the wait at once.
 * NULL with the reason in err. */
PGconn *service_connect_db(const struct config *cfg, char *err, size_t errsz);

/* Sends one state line ("READY=1", "STOPPING=1", "STATUS=...") to the
 * supervisor when NOTIFY_SOCKET is set; nothing otherwise. */
void service_notify(const char *state);

#endif
