/* Logins with a user API key, shared by the App Services client API (provider api-key) and
 * the token endpoint (grant urn:idpd:grant-type:api-key), which differ only in how they answer
 * (struct srv_password_ops, as password logins).
 *
 * The key names its record (srv_api_key_id), so one record is read and Argon2id runs once, on a
 * worker. A key that names no record is checked against the dummy hash, so it costs what a wrong
 * key costs and gets the same answer. Keys carry 256 random bits: no guessing budget applies,
 * but the worker queue's shares bound what one address may make idpd hash. */
#define LOG_MODULE "login"

#include <string.h>

#include "server/signin/signin.h"

static int find_txn(struct store_txn *txn, void *arg)
{
    struct srv_key_login *l = arg;
    char id[STORE_API_KEY_ID_MAX];
    store_user_clear(&l->user);
    l->found = 0;
    if (!srv_api_key_id(l->key, id))
        return STORE_OK;
    int rc = store_api_key_get(txn, id, &l->rec);
    if (rc == STORE_OK)
        rc = store_user_get(txn, l->rec.user_id, &l->user);
    if (rc == STORE_OK)
        l->found = 1;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void verify_work(struct srv_request *rq)
{
    struct srv_key_login *l = srv_rq_defer_arg(rq);
    const char *phc = l->found ? l->rec.phc : srv_rq_ctx(rq)->dummy_phc;
    l->verified = crypto_password_verify(phc, l->key, strlen(l->key)) == CRYPTO_OK && l->found;
}

struct login_args {
    struct srv_request *rq;
    struct srv_key_login *login;
    struct store_session *session;
    int gone; /* the key, its user or its hash changed while Argon2 ran */
};

/* The session, the key's last use and the audit event: one write transaction. */
static int login_txn(struct store_txn *txn, void *arg)
{
    struct login_args *a = arg;
    struct srv_key_login *l = a->login;
    struct store_api_key now_key;
    store_user_clear(&l->user);
    a->gone = 0;
    int rc = store_api_key_get(txn, l->rec.id, &now_key);
    if (rc == STORE_OK)
        rc = store_user_get(txn, now_key.user_id, &l->user);
    if (rc == STORE_NOTFOUND ||
        (rc == STORE_OK && (l->user.status != STORE_USER_ACTIVE || now_key.disabled ||
                            strcmp(now_key.phc, l->rec.phc) != 0))) {
        a->gone = 1;
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    now_key.last_used_at = srv_now();
    if ((rc = store_api_key_update(txn, &now_key)) != STORE_OK ||
        (rc = store_session_insert(txn, a->session)) != STORE_OK ||
        (rc = srv_audit(txn, "user.login", l->user.id, a->session->id, srv_rq_client_ip(a->rq), 1,
                        "api-key")) != STORE_OK)
        return rc;
    return srv_session_roles_txn(txn, l->user.id, &l->roles);
}

static void after_verify(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct srv_key_login *l = srv_rq_defer_arg(rq);
    struct store_session session;
    char refresh[SRV_REFRESH_LEN];
    const char *ip = srv_rq_client_ip(rq);
    if (!l->verified || l->rec.disabled) {
        /* a disabled key answers as a wrong one: the event says which */
        srv_audit_now(ctx, "user.login", l->found ? l->user.id : NULL, NULL, ip, 0,
                      !l->verified ? "api-key: wrong key" : "api-key: the key is disabled");
        l->ops->refused(rq);
        return;
    }
    if (l->user.status != STORE_USER_ACTIVE) {
        srv_audit_now(ctx, "user.login", l->user.id, NULL, ip, 0, "api-key: user disabled");
        (l->ops->disabled ? l->ops->disabled : l->ops->refused)(rq);
        return;
    }
    if (l->ops->session(rq, l->user.id, &session, refresh) != SRV_OK)
        return;
    struct login_args a = {rq, l, &session, 0};
    int rc = store_write(ctx->store, login_txn, &a);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "api-key login write failed");
        l->ops->unavailable(rq);
    } else if (a.gone) {
        l->ops->refused(rq);
    } else {
        l->ops->done(rq, &l->user, &session, refresh);
    }
    crypto_wipe(refresh, sizeof refresh);
}

void srv_key_login_clear(struct srv_key_login *l)
{
    store_user_clear(&l->user);
    srv_session_roles_clear(&l->roles);
    crypto_wipe(l, sizeof *l);
}

void srv_api_key_login(struct srv_request *rq, struct srv_key_login *l, const char *key,
                       const struct srv_password_ops *ops)
{
    l->ops = ops;
    l->key = key;
    if (strlen(key) >= SRV_API_KEY_LEN) { /* no key is longer: no Argon2 run on a megabyte */
        ops->refused(rq);
        return;
    }
    int rc = store_read(srv_rq_ctx(rq)->store, find_txn, l);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "api-key lookup failed");
        ops->unavailable(rq);
        return;
    }
    srv_defer_with(rq, l->found ? l->rec.user_id : NULL, l, verify_work, after_verify);
}
