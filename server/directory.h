/* The directory kept in memory: every user's name and unit, every unit's
 * name and path. A customer read returns the database's directory version
 * (sql/0046) beside the row instead of joining four rows for the names and
 * paths it shows and authorizes by; kehud fills them in from this copy
 * when the copy is at least as new as the row's version, so an answer
 * never rests on an older directory than the row's own statement saw.
 * Otherwise (or when an id is unknown) the caller falls back to the joined
 * statement, and the copy is read again in the background. */
#ifndef KEHU_DIRECTORY_H
#define KEHU_DIRECTORY_H

#include <libpq-fe.h>
#include <stdint.h>

struct server;

/* Reads the copy (at kehud's start; again whenever it is found too old). */
void directory_start(struct server *s);
void directory_free(struct server *s);

/* Where a lean customer row (CUSTOMER_COLUMNS_LEAN) leaves its directory
 * columns, and where it carries the ids and version that fill them. */
struct directory_row {
    int owner_id, branch_id, created_by_id, updated_by_id, version; /* read */
    int owner, branch, created_by, updated_by, path, owner_path;      /* written */
};

/* Fills row `row` of res in place: 0; -1 when the copy is older than the
 * row's version or lacks one of its ids (a reload is started). */
int directory_fill(struct server *s, PGresult *res, int row, const struct directory_row *cols);
/* Rows filled from the copy, and rows it could not fill (read joined). */
void directory_counts(const struct server *s, uint64_t *filled, uint64_t *joined);

#endif
