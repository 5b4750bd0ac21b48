/* A customer's fields as clients set them — one table for add, edit and
 * import: names, types, limits, checks and normal forms — and the columns
 * replies are built from. */
#ifndef KEHU_CUSTOMER_FIELDS_H
#define KEHU_CUSTOMER_FIELDS_H

#include "rpc.h"

/* ---- the columns a reply is built from (rpc_customer_from_row reads them)
 *
 * COL_ID_NUMBER is the number as stored (sealed): kehud opens it only for a
 * caller who may see it whole (rpc_customer_id_number), the others get
 * COL_ID_MASKED. */


/* The columns with the names and paths of the directory given: the joined
 * ones (CUSTOMER_COLUMNS, over CUSTOMER_JOINS), or NULLs that directory.c
 * fills in (CUSTOMER_COLUMNS_LEAN, over the customer alone). */
#define CUSTOMER_COLUMNS_WITH(owner, branch, created_by, updated_by, path, owner_path)                              \
    "c.id, c.version, c.kind::text, c.name, coalesce(c.ext_ref, ''), coalesce(c.gender, ''),"                        \
    " coalesce(c.birth::text, ''), coalesce(c.id_number, ''), array_to_string(c.phones, ','), coalesce(c.email, ''),"  \
    " coalesce(c.company, ''), coalesce(c.address, ''), coalesce(c.region, ''), coalesce(c.industry, ''),"           \
    " coalesce(c.size, ''), coalesce(c.occupation, ''), coalesce(c.source, ''), array_to_string(c.tags, ','),"       \
    " coalesce(c.notes, ''), coalesce(c.owner_id, 0), " owner ", c.branch_id, " branch ","                          \
    " c.since::text, c.status::text, " SQL_MS("c.created_at") ", " created_by ", " SQL_MS("c.updated_at")             \
    ", " updated_by ", coalesce(" SQL_MS("c.last_contact_at") ", 0), (c.revenue * 100)::bigint,"                      \
    " (c.balance * 100)::bigint, " path ", coalesce(c.merged_into, 0),"                                              \
    " " owner_path ", coalesce(c.id_number_masked, '')"
#define CUSTOMER_COLUMNS                                                                                             \
    CUSTOMER_COLUMNS_WITH("coalesce(ow.username, '')", "b.name", "coalesce(cb.username, '')",                        \
                          "coalesce(ub.username, '')", "b.path::text", SQL_OWNER_PATH)
#define CUSTOMER_COLUMNS_LEAN CUSTOMER_COLUMNS_WITH("NULL", "NULL", "NULL", "NULL", "NULL", "NULL")
/* FROM clause over a relation aliased c (the table, or a CTE of changed rows). */
#define CUSTOMER_JOINS                                                                              \
    " JOIN org_unit b ON b.id = c.branch_id LEFT JOIN app_user ow ON ow.id = c.owner_id"           \
    " LEFT JOIN app_user cb ON cb.id = c.created_by LEFT JOIN app_user ub ON ub.id = c.updated_by "
enum {
    COL_ID, COL_VERSION, COL_KIND, COL_NAME, COL_EXT_REF, COL_GENDER, COL_BIRTH, COL_ID_NUMBER, COL_PHONES,
    COL_EMAIL, COL_COMPANY, COL_ADDRESS, COL_REGION, COL_INDUSTRY, COL_SIZE, COL_OCCUPATION, COL_SOURCE, COL_TAGS,
    COL_NOTES, COL_OWNER_ID, COL_OWNER, COL_BRANCH_ID, COL_BRANCH, COL_SINCE, COL_STATUS, COL_CREATED, COL_CREATED_BY,
    COL_UPDATED, COL_UPDATED_BY, COL_LAST_CONTACT, COL_REVENUE, COL_BALANCE, COL_PATH, COL_MERGED_INTO, COL_OWNER_PATH,
    COL_ID_MASKED, CUSTOMER_NCOLS
};

/* ---- the fields a client sets */

enum ftype { F_TEXT, F_NOTES, F_NAME, F_DATE, F_PHONES, F_TAGS, F_EMAIL, F_IDNUM, F_KIND, F_GENDER, F_SOURCE };

struct cfield {
    const char *name;   /* as in the protocol and JSON; also the column */
    enum ftype type;
    size_t max_chars;
    const char *cast;   /* SQL cast of the parameter */
    int row_col;        /* where a CUSTOMER_COLUMNS row holds it */
};

enum {
    FI_NAME, FI_KIND, FI_EXT_REF, FI_GENDER, FI_BIRTH, FI_ID_NUMBER, FI_PHONES, FI_EMAIL, FI_COMPANY, FI_ADDRESS,
    FI_REGION, FI_INDUSTRY, FI_SIZE, FI_OCCUPATION, FI_SOURCE, FI_TAGS, FI_NOTES, FI_SINCE, CF_COUNT
};
extern const struct cfield customer_fields[CF_COUNT];

/* A customer's settable fields in their normal text form ("" = empty; lists
 * comma-separated). */
struct cvalues {
    char *text[CF_COUNT];
};

int customer_field_find(const char *name);
/* Checks and normalises one value into v->text[i]; NULL, or the reason. */
const char *customer_field_set(struct arena *a, struct cvalues *v, int i, const char *value);
/* The SQL parameter for field i: arrays as literals, empty as NULL. */
const char *customer_field_param(struct arena *a, const struct cvalues *v, int i);

/* What kehud computes for search and order (see search_keys.h). */
struct customer_keys {
    const char *sort_key, *text, *tokens;
};
int customer_keys(struct arena *a, const struct cvalues *v, struct customer_keys *out);

/* The ID number of a CUSTOMER_COLUMNS row: opened when `whole`, else its
 * masked form (rpc_customer.c). */
const char *rpc_customer_id_number(struct req *r, const struct db_result *res, int stmt, int row, int whole);
/* The values of row 0 of a CUSTOMER_COLUMNS result (rpc_customer.c). */
void rpc_customer_values(struct req *r, struct cvalues *v, const struct db_result *res, int stmt);

/* CSV headers: a field's name or its Chinese label (姓名, 电话, ...). Returns
 * the field index, or CF_OWNER / CF_BRANCH for those two columns, or -1. */
enum { CF_OWNER = 100, CF_BRANCH = 101 };
int customer_field_from_header(const char *header);

#endif
