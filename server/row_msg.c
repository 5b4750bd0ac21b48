/* Rows into protobuf messages by their descriptors (row_msg.h). */
#include "row_msg.h"

#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "rpc.h"

static int scalar(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) /* strings only: a comma-separated column */
        return f->type == PROTOBUF_C_TYPE_STRING;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_ENUM: /* by number */
        return 1;
    default:
        return 0;
    }
}

static void resolve(struct row_msg *m)
{
    const char *p = m->columns;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        if (len == 0 || len >= sizeof name || m->n == ROW_MSG_MAX)
            goto bad;
        memcpy(name, p, len);
        name[len] = '\0';
        const ProtobufCFieldDescriptor *f = NULL;
        if (strcmp(name, "-") != 0) {
            f = protobuf_c_message_descriptor_get_field_by_name(m->desc, name);
            if (!f || !scalar(f)) {
                log_error(0, 0, "row_msg: %s has no scalar field '%s'", m->desc->name, name);
                abort();
            }
        }
        m->fields[m->n++] = f;
        p = end ? end + 1 : p + len;
    }
    return;
bad:
    log_error(0, 0, "row_msg: bad column list for %s: %s", m->desc->name, m->columns);
    abort();
}

void *row_msg(struct req *r, struct row_msg *m, const struct db_result *res, int stmt, int row, int col0)
{
    if (!m->n)
        resolve(m);
    void *msg = arena_alloc(&r->arena, m->desc->sizeof_message);
    protobuf_c_message_init(m->desc, msg);
    for (int i = 0; i < m->n; i++) {
        const ProtobufCFieldDescriptor *f = m->fields[i];
        if (!f)
            continue;
        int col = col0 + i;
        void *at = (char *)msg + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            *(char ***)at = arena_split(&r->arena, rpc_col(r, res, stmt, row, col), ',',
                                        (size_t *)((char *)msg + f->quantifier_offset));
            continue;
        }
        if (f->quantifier_offset && db_get(res, stmt, row, col))
            *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            *(char **)at = rpc_col(r, res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            *(int64_t *)at = db_get_i64(res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            *(uint64_t *)at = (uint64_t)db_get_i64(res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_ENUM:
            *(int32_t *)at = (int32_t)db_get_i64(res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            *(uint32_t *)at = (uint32_t)db_get_i64(res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(protobuf_c_boolean *)at = db_get_bool(res, stmt, row, col);
            break;
        case PROTOBUF_C_TYPE_DOUBLE: {
            const char *v = db_get(res, stmt, row, col);
            *(double *)at = v ? strtod(v, NULL) : 0;
            break;
        }
        default:
            break; /* refused by resolve */
        }
    }
    return msg;
}
