/* Making a user API key, shared by /v1/me/api-keys and the App Services client API: Argon2id of
 * the new key on a worker, then one write transaction that stores it with its audit event. */
#include "server/signin/signin.h"

static void create_work(struct srv_request *rq)
{
    struct srv_key_create *c = srv_rq_defer_arg(rq);
    c->made = srv_api_key_new(&srv_rq_ctx(rq)->cfg->argon2, &c->rec, c->key) == SRV_OK;
}

struct create_args {
    struct srv_request *rq;
    struct srv_key_create *c;
};

static int create_txn(struct store_txn *txn, void *arg)
{
    struct create_args *a = arg;
    return srv_api_key_insert_txn(txn, &a->c->rec, srv_rq_client_ip(a->rq), a->c->via,
                                  &a->c->outcome);
}

static void after_create(struct srv_request *rq)
{
    struct srv_key_create *c = srv_rq_defer_arg(rq);
    struct create_args a = {rq, c};
    c->rc = c->made ? store_write(srv_rq_ctx(rq)->store, create_txn, &a) : STORE_ENOMEM;
    c->done(rq);
}

void srv_api_key_create(struct srv_request *rq, struct srv_key_create *c)
{
    srv_defer_with(rq, NULL, c, create_work, after_create);
}
