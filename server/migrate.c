#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Serialises concurrent `kehud migrate` runs against one database. */
#define MIGRATE_LOCK_KEY "7700001"

int migrate_expected(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

PGconn *migrate_connect(const char *conninfo, char *err, size_t errsz)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(pg));
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = 0;
        PQfinish(pg);
        return NULL;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    return pg;
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errsz, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errsz, "%s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Which embedded migrations the database has: applied[i] for migrations[i].
 * Versions are checked one by one, not against the newest, so that a
 * migration numbered below one already applied (two branches each adding
 * one, merged in either order) is still applied. Returns the newest version
 * recorded (0 for a database never migrated), or -1 with err. */
static int applied_versions(PGconn *pg, int *applied, char *err, size_t errsz)
{
    for (int i = 0; i < migrations_count; i++)
        applied[i] = 0;
    PGresult *r = PQexec(pg, "SELECT to_regclass('schema_migration') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "reading the schema version: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return 0;
    r = PQexec(pg, "SELECT version FROM schema_migration ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "reading the schema version: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int newest = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        int v = atoi(PQgetvalue(r, row, 0));
        if (v > newest)
            newest = v;
        for (int i = 0; i < migrations_count; i++)
            if (migrations[i].version == v)
                applied[i] = 1;
    }
    PQclear(r);
    return newest;
}

/* VACUUM (ANALYZE) of the tables the migrating role owns (Kehu's): a
 * database-wide VACUUM by a role that is not a superuser warns once for
 * every catalog it may not touch. */
static int vacuum_own_tables(PGconn *pg, char *err, size_t errsz)
{
    PGresult *r = PQexec(pg, "SELECT 'VACUUM (ANALYZE) ' || string_agg(format('%I.%I', schemaname, tablename), ', ')"
                             " FROM pg_tables WHERE tableowner = current_user"
                             " AND schemaname NOT IN ('pg_catalog', 'information_schema')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "listing the tables to vacuum: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    if (!PQgetisnull(r, 0, 0))
        rc = exec_ok(pg, PQgetvalue(r, 0, 0), err, errsz, "vacuuming after the migrations");
    PQclear(r);
    return rc;
}

int migrate_apply(const char *conninfo, char *err, size_t errsz)
{
    PGconn *pg = migrate_connect(conninfo, err, errsz);
    if (!pg)
        return -1;
    int *done = xcalloc((size_t)migrations_count + 1, sizeof *done);
    int rc = -1;
    if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errsz, "taking the migration lock") < 0)
        goto out;
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, errsz, "creating schema_migration") < 0)
        goto out;
    int have = applied_versions(pg, done, err, errsz);
    if (have < 0)
        goto out;
    int applied = 0;
    for (int i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];
        if (done[i])
            continue;
        char what[160];
        snprintf(what, sizeof what, "migration %04d_%s", m->version, m->name);
        if (exec_ok(pg, "BEGIN", err, errsz, what) < 0)
            goto out;
        if (exec_ok(pg, m->sql, err, errsz, what) < 0) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *params[2] = { ver, m->name };
        PGresult *r = PQexecParams(pg, "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", 2, NULL,
                                   params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errsz, "%s: recording it: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
        if (exec_ok(pg, "COMMIT", err, errsz, what) < 0)
            goto out;
        printf("applied %04d_%s\n", m->version, m->name);
        applied++;
    }
    if (applied == 0)
        printf("schema is up to date (version %d)\n", have);
    fflush(stdout);
    if (applied > 0 && have > 0) {
        /* a migration that rewrote a large table (a column filled for every
         * customer) leaves as many dead rows as live ones and statistics of
         * the old table: until autovacuum, throttled, gets there many minutes
         * later, lists that walk an index pay for them (a page at a million
         * customers went from a few ms to 0.25 s). A new database needs
         * neither. */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (vacuum_own_tables(pg, err, errsz) < 0)
            goto out;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("vacuumed and analysed after the migrations in %.1f s\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        fflush(stdout);
    }
    rc = 0;
out:
    free(done);
    PQfinish(pg);
    return rc;
}

int migrate_check(const char *conninfo, char *err, size_t errsz)
{
    PGconn *pg = migrate_connect(conninfo, err, errsz);
    if (!pg)
        return -1;
    int rc = migrate_check_pg(pg, err, errsz);
    PQfinish(pg);
    return rc;
}

int migrate_check_pg(PGconn *pg, char *err, size_t errsz)
{
    int *done = xcalloc((size_t)migrations_count + 1, sizeof *done);
    int have = applied_versions(pg, done, err, errsz);
    int missing = -1;
    for (int i = 0; have >= 0 && i < migrations_count && missing < 0; i++)
        if (!done[i] && migrations[i].version < have)
            missing = i;
    free(done);
    if (have < 0)
        return -1;
    if (missing >= 0) {
        snprintf(err, errsz, "the database schema lacks migration %04d_%s: run `kehud migrate`",
                 migrations[missing].version, migrations[missing].name);
        return -1;
    }
    if (have < migrate_expected()) {
        snprintf(err, errsz, "the database schema is at version %d but this kehud needs %d: run `kehud migrate`", have,
                 migrate_expected());
        return -1;
    }
    return 0;
}
