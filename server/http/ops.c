/* Liveness and readiness for orchestrators. */
#include <stdlib.h>

#include "server/http/http.h"

void srv_handle_healthz(struct srv_request *rq)
{
    srv_reply_json(rq, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static int read_schema(struct store_txn *txn, void *arg)
{
    return store_meta_get(txn, "schema_version", arg);
}

/* Ready when the store answers a read and the key ring signs (a probe that is thrown away;
 * an ES256 signature costs tens of microseconds). */
void srv_handle_readyz(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    uint64_t version = 0;
    char *probe = NULL;
    int src = store_read(ctx->store, read_schema, &version);
    if (src != STORE_OK) {
        srv_reply_problem(rq, 503, "storage is not readable: %s", store_strerror(src));
        return;
    }
    int krc = keys_jwt_sign(ctx->keys, "readyz", "{}", 2, &probe);
    free(probe);
    if (krc != KEYS_OK) {
        srv_reply_problem(rq, 503, "the signing key does not sign: %s", keys_strerror(krc));
        return;
    }
    srv_reply_json(rq, 200,
                   json_pack("{s:s, s:I, s:s, s:s}", "status", "ready", "schema_version",
                             (json_int_t)version, "store", store_backend(ctx->store), "signing_alg",
                             keys_active_alg(ctx->keys)),
                   NULL);
}
