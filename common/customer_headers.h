/* A customer's settable fields and the other names they go by: CSV headers
 * as spreadsheets spell them (English variants, the Chinese labels branch
 * staff use) and `customer edit --set NAME=`. One table for kehud (import
 * and edit) and the command line (its help). */
#ifndef KEHU_CUSTOMER_HEADERS_H
#define KEHU_CUSTOMER_HEADERS_H

#include <stddef.h>

struct customer_header {
    const char *label; /* as written in a header or after --set */
    const char *field; /* the field's name ("phones"), or "owner" / "branch" */
};

extern const struct customer_header customer_headers[];
extern const size_t customer_headers_count;

/* The field a label names (trimmed, ASCII case-insensitive), or NULL. */
const char *customer_header_field(const char *label);

/* The Chinese header a customer export writes for one of its columns
 * ("phones" -> "电话", "id" -> "系统编号", "grade_abc" -> "ABC等级"), or
 * NULL. An import reads every one of them back: the settable fields' are
 * among the labels above, the others through customer_export_column. */
const char *customer_export_label_zh(const char *column);
/* The export column a Chinese export header stands for, or NULL. */
const char *customer_export_column(const char *label);

#endif
