/* Small pieces every RPC family uses: numbers as statement parameters and
 * result cells as protocol strings, both in the request's arena. */
#include "rpc.h"
#include "util.h"

char *rpc_num(struct req *r, int64_t v)
{
    return arena_printf(&r->arena, "%lld", (long long)v);
}

char *rpc_col(struct req *r, const struct db_result *res, int stmt, int row, int col)
{
    const char *v = db_get(res, stmt, row, col);
    return arena_strdup(&r->arena, v ? v : "");
}
