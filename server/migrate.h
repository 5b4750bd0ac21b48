/* Schema migrations: numbered files in sql/, embedded into kehud at build
 * time, applied in order, each in its own transaction, recorded in
 * schema_migration. These run before the loop starts (blocking libpq). */
#ifndef KEHU_MIGRATE_H
#define KEHU_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct migration migrations[];
extern const int migrations_count;

/* The schema version this kehud expects (its newest migration). */
int migrate_expected(void);
/* Applies what is missing; prints one line per migration. 0 or -1 with err. */
int migrate_apply(const char *conninfo, char *err, size_t errsz);
/* 0 when the database's schema is at least the expected one; else -1 with a
 * message telling the operator what to do. */
int migrate_check(const char *conninfo, char *err, size_t errsz);
/* The same on a connection the caller holds (kehud's start-up checks share one). */
int migrate_check_pg(PGconn *pg, char *err, size_t errsz);
/* Blocking connection for offline commands, with a clear error. */
PGconn *migrate_connect(const char *conninfo, char *err, size_t errsz);

#endif
