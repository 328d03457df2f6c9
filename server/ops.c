/* Liveness and readiness for orchestrators. */
#include "server/internal.h"

void srv_handle_healthz(struct srv_request *rq)
{
    srv_reply_json(rq, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static int read_schema(struct store_txn *txn, void *arg)
{
    return store_meta_get(txn, "schema_version", arg);
}

/* Ready when the store answers a read and the key ring can sign. */
void srv_handle_readyz(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    uint64_t version = 0;
    int src = store_read(ctx->store, read_schema, &version);
    if (src != STORE_OK) {
        srv_reply_problem(rq, 503, "storage is not readable: %s", store_strerror(src));
        return;
    }
    srv_reply_json(rq, 200,
                   json_pack("{s:s, s:I, s:s}", "status", "ready", "schema_version",
                             (json_int_t)version, "signing_alg", keys_active_alg(ctx->keys)),
                   NULL);
}
