#include "directory.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "server.h"
#include "util.h"

struct dir_user {
    int64_t id, unit_id;
    char *username;
};

struct dir_unit {
    int64_t id;
    char *name, *path; /* path as PostgreSQL writes a bigint[]: "{1,5,9}" */
};

struct directory {
    int64_t version; /* 0: not read yet */
    struct dir_user *users;
    struct dir_unit *units;
    size_t n_users, n_units;
    int reading;
    uint64_t filled, joined;
};

/* The version first: the rows read after it are at least that new. */
static struct db_stmt dir_version = DB_STMT("SELECT v FROM directory_version");
static struct db_stmt dir_users = DB_STMT("SELECT id, unit_id, username FROM app_user ORDER BY id");
static struct db_stmt dir_units = DB_STMT("SELECT id, name, path::text FROM org_unit ORDER BY id");

static void drop_rows(struct directory *d)
{
    for (size_t i = 0; i < d->n_users; i++)
        free(d->users[i].username);
    for (size_t i = 0; i < d->n_units; i++) {
        free(d->units[i].name);
        free(d->units[i].path);
    }
    free(d->users);
    free(d->units);
    d->users = NULL;
    d->units = NULL;
    d->n_users = d->n_units = 0;
}

static void read_done(const struct db_result *res, void *arg)
{
    struct server *s = arg;
    struct directory *d = s->directory;
    d->reading = 0;
    if (res->outcome != DB_OK || db_rows(res, 0) != 1) {
        log_warn(0, 0, "reading the directory: %s (customer reads join it meanwhile)",
                 res->message ? res->message : "database unavailable");
        return;
    }
    int64_t version = db_get_i64(res, 0, 0, 0);
    if (version <= d->version)
        return; /* an older read, overtaken */
    drop_rows(d);
    d->n_users = (size_t)db_rows(res, 1);
    d->users = xcalloc(d->n_users ? d->n_users : 1, sizeof *d->users);
    for (size_t i = 0; i < d->n_users; i++) {
        d->users[i].id = db_get_i64(res, 1, (int)i, 0);
        d->users[i].unit_id = db_get_i64(res, 1, (int)i, 1);
        d->users[i].username = xstrdup(db_get(res, 1, (int)i, 2));
    }
    d->n_units = (size_t)db_rows(res, 2);
    d->units = xcalloc(d->n_units ? d->n_units : 1, sizeof *d->units);
    for (size_t i = 0; i < d->n_units; i++) {
        d->units[i].id = db_get_i64(res, 2, (int)i, 0);
        d->units[i].name = xstrdup(db_get(res, 2, (int)i, 1));
        d->units[i].path = xstrdup(db_get(res, 2, (int)i, 2));
    }
    d->version = version;
    log_debug(0, 0, "directory version %lld: %zu users, %zu units", (long long)version, d->n_users, d->n_units);
}

static void read_directory(struct server *s)
{
    struct directory *d = s->directory;
    if (d->reading)
        return;
    d->reading = 1;
    struct db_call *call = db_call_new(s->db, read_done, s);
    db_call_add(call, &dir_version, 0, NULL);
    db_call_add(call, &dir_users, 0, NULL);
    db_call_add(call, &dir_units, 0, NULL);
    db_call_send(call);
}

void directory_start(struct server *s)
{
    s->directory = xcalloc(1, sizeof *s->directory);
    read_directory(s);
}

void directory_free(struct server *s)
{
    if (!s->directory)
        return;
    drop_rows(s->directory);
    free(s->directory);
    s->directory = NULL;
}

/* Both kinds of entry begin with their id, and are kept sorted by it. */
static int by_id(const void *key, const void *entry)
{
    int64_t k = *(const int64_t *)key, id = *(const int64_t *)entry;
    return (k > id) - (k < id);
}

static const struct dir_user *user_of(const struct directory *d, int64_t id)
{
    return bsearch(&id, d->users, d->n_users, sizeof *d->users, by_id);
}

static const struct dir_unit *unit_of(const struct directory *d, int64_t id)
{
    return bsearch(&id, d->units, d->n_units, sizeof *d->units, by_id);
}

static int64_t cell_i64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A user's name ("" for none); -1 for an id the copy does not know. */
static int user_name(const struct directory *d, int64_t id, const char **name)
{
    *name = "";
    if (!id)
        return 0;
    const struct dir_user *u = user_of(d, id);
    if (!u)
        return -1;
    *name = u->username;
    return 0;
}

static int put(PGresult *res, int row, int col, const char *value)
{
    return PQsetvalue(res, row, col, (char *)value, (int)strlen(value)) ? 0 : -1;
}

/* 0 filled; -1 not (and the copy read again when it is too old or lacks an id). */
static int fill(struct server *s, struct directory *d, PGresult *res, int row, const struct directory_row *cols)
{
    if (PQgetisnull(res, row, cols->version))
        return -1; /* no version to compare with (directory_version's row gone) */
    int64_t owner_id = cell_i64(res, row, cols->owner_id);
    const struct dir_unit *branch = unit_of(d, cell_i64(res, row, cols->branch_id));
    const struct dir_user *owner = owner_id ? user_of(d, owner_id) : NULL;
    const struct dir_unit *owner_unit = owner ? unit_of(d, owner->unit_id) : NULL;
    const char *created_by, *updated_by;
    if (!d->version || d->version < cell_i64(res, row, cols->version) || !branch || (owner_id && !owner_unit) ||
        user_name(d, cell_i64(res, row, cols->created_by_id), &created_by) < 0 ||
        user_name(d, cell_i64(res, row, cols->updated_by_id), &updated_by) < 0) {
        read_directory(s);
        return -1;
    }
    if (put(res, row, cols->owner, owner ? owner->username : "") < 0 || put(res, row, cols->branch, branch->name) < 0 ||
        put(res, row, cols->created_by, created_by) < 0 || put(res, row, cols->updated_by, updated_by) < 0 ||
        put(res, row, cols->path, branch->path) < 0 || put(res, row, cols->owner_path, owner ? owner_unit->path : "{}") < 0)
        return -1;
    return 0;
}

int directory_fill(struct server *s, PGresult *res, int row, const struct directory_row *cols)
{
    struct directory *d = s->directory;
    if (!d)
        return -1;
    int rc = fill(s, d, res, row, cols);
    if (rc < 0)
        d->joined++;
    else
        d->filled++;
    return rc;
}

void directory_counts(const struct server *s, uint64_t *filled, uint64_t *joined)
{
    *filled = s->directory ? s->directory->filled : 0;
    *joined = s->directory ? s->directory->joined : 0;
}
