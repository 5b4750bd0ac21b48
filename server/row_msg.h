/* A protobuf message filled from a result row by its field descriptors:
 * each request family names, per kind of record, which field each column
 * goes to, instead of writing one assignment per column. */
#ifndef KEHU_ROW_MSG_H
#define KEHU_ROW_MSG_H

#include <protobuf-c/protobuf-c.h>
#include "db.h"
#include "dispatch.h"

#define ROW_MSG_MAX 48

/* columns: the field names in column order, comma-separated; "-" passes a
 * column over. Resolved against desc on first use; a name that is not a
 * scalar field of desc is a programming error (logged, abort). */
struct row_msg {
    const ProtobufCMessageDescriptor *desc;
    const char *columns;
    int n;
    const ProtobufCFieldDescriptor *fields[ROW_MSG_MAX];
};
#define ROW_MSG(d, cols) { .desc = &(d), .columns = (cols) }

/* A new message in the request's arena, its fields from columns col0.. of
 * the row: strings copied ("" for NULL), integers and booleans parsed (0 and
 * false for NULL), doubles from text, repeated strings split at commas. */
void *row_msg(struct req *r, struct row_msg *m, const struct db_result *res, int stmt, int row, int col0);

/* The first n rows of statement stmt as messages of m into out's repeated
 * field `field`: a new array (never NULL), and n_<field> = n. For records
 * with nothing to add per row; a macro so that the array keeps its type. */
#define ROW_MSGS(r, m, res, stmt, n, out, field)                                                  \
    do {                                                                                          \
        int n_ = (n);                                                                             \
        (out)->field = arena_alloc(&(r)->arena, sizeof *(out)->field * (size_t)(n_ ? n_ : 1));    \
        for (int i_ = 0; i_ < n_; i_++)                                                           \
            (out)->field[i_] = row_msg((r), (m), (res), (stmt), i_, 0);                           \
        (out)->n_##field = (size_t)n_;                                                            \
    } while (0)

#endif
