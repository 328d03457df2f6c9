/* What /v1/me/api-keys and the App Services client API both do with a user's API keys: make one
 * (Argon2id of the new key on a worker, then one write transaction that stores it with its
 * audit event), list them, and read, enable, disable or delete one of the user's own. */
#include <string.h>

#include "server/signin/signin.h"

static int op_txn(struct store_txn *txn, const char *user_id, const char *id,
                  enum srv_api_key_op op, const char *ip, const char *via,
                  struct store_api_key *key, int *missing)
{
    static const char *const types[] = {
        [SRV_KEY_DELETE] = "api_key.delete",
        [SRV_KEY_ENABLE] = "api_key.enable",
        [SRV_KEY_DISABLE] = "api_key.disable",
    };
    int rc =
        strlen(id) == STORE_API_KEY_ID_MAX - 1 ? store_api_key_get(txn, id, key) : STORE_NOTFOUND;
    *missing = rc == STORE_NOTFOUND || rc == STORE_EINVAL ||
               (rc == STORE_OK && strcmp(key->user_id, user_id) != 0);
    if (*missing) {
        memset(key, 0, sizeof *key);
        return STORE_OK;
    }
    if (rc != STORE_OK || op == SRV_KEY_GET)
        return rc;
    if (op == SRV_KEY_DELETE) {
        rc = store_api_key_delete(txn, user_id, id);
    } else {
        key->disabled = op == SRV_KEY_DISABLE;
        rc = store_api_key_update(txn, key);
    }
    return rc ? rc : srv_audit(txn, types[op], user_id, id, ip, 1, via);
}

static int insert_txn(struct store_txn *txn, const struct store_api_key *rec, const char *ip,
                      const char *via, enum srv_api_key_made *made)
{
    int rc = store_api_key_insert(txn, rec);
    *made = rc == STORE_EXISTS     ? SRV_KEY_NAME_TAKEN
            : rc == STORE_EINVAL   ? SRV_KEY_FULL
            : rc == STORE_NOTFOUND ? SRV_KEY_USER_GONE
                                   : SRV_KEY_CREATED;
    if (*made != SRV_KEY_CREATED)
        return STORE_OK;
    return rc ? rc : srv_audit(txn, "api_key.create", rec->user_id, rec->id, ip, 1, via);
}

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
    return insert_txn(txn, &a->c->rec, srv_rq_client_ip(a->rq), a->c->via, &a->c->outcome);
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

struct list_args {
    const char *user_id;
    struct store_api_key *keys;
    size_t *n;
};

static int list_txn(struct store_txn *txn, void *arg)
{
    struct list_args *a = arg;
    return store_api_key_list(txn, a->user_id, a->keys, STORE_API_KEYS_MAX, a->n);
}

int srv_api_keys_read(struct srv_request *rq, const char *user_id,
                      struct store_api_key keys[STORE_API_KEYS_MAX], size_t *n)
{
    struct list_args a = {user_id, keys, n};
    return store_read(srv_rq_ctx(rq)->store, list_txn, &a);
}

struct one_args {
    struct srv_request *rq;
    const char *user_id, *via;
    char id[STORE_API_KEY_ID_MAX + 1];
    enum srv_api_key_op op;
    struct store_api_key *key;
    int *missing;
};

static int one_txn(struct store_txn *txn, void *arg)
{
    struct one_args *a = arg;
    return op_txn(txn, a->user_id, a->id, a->op, srv_rq_client_ip(a->rq), a->via, a->key,
                  a->missing);
}

int srv_api_key_apply(struct srv_request *rq, const char *user_id, enum srv_api_key_op op,
                      const char *via, struct store_api_key *key, int *missing)
{
    struct one_args a = {rq, user_id, via, "", op, key, missing};
    struct store *st = srv_rq_ctx(rq)->store;
    srv_rq_param(rq, 0, a.id, sizeof a.id);
    return op == SRV_KEY_GET ? store_read(st, one_txn, &a) : store_write(st, one_txn, &a);
}
