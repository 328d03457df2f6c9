/* POST /auth/session: a new access token for the session of a refresh token, which stays the
 * same (it does not rotate: tokens.c says why); the session's idle expiry moves on. 201, as
 * App Services answers. DELETE /auth/session: the session ends (logout); a refresh token whose
 * session is gone already answers 401 "failed to find refresh token", which the SDKs take as
 * done. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

struct use_args {
    struct store_session *s;
    struct srv_session_roles roles;
    struct store_user *u;
    int gone;
};

/* The session's use and what the new access token carries: one transaction, which also sees a
 * user disabled or deleted since the refresh token was read. */
static int use_txn(struct store_txn *txn, void *arg)
{
    struct use_args *a = arg;
    a->gone = 0; /* the callback may run again */
    store_user_clear(a->u);
    int rc = store_user_get(txn, a->s->user_id, a->u);
    if (rc == STORE_OK && a->u->status != STORE_USER_ACTIVE)
        rc = STORE_NOTFOUND;
    if (rc == STORE_OK)
        rc = store_session_touch(txn, a->s->id, srv_now(), a->s->idle_expires_at);
    if (rc == STORE_NOTFOUND) {
        a->gone = 1;
        return STORE_OK;
    }
    return rc ? rc : srv_session_roles_txn(txn, a->u->id, &a->roles);
}

void srv_as_session_new(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_session s;
    struct store_user u;
    char *access = NULL;
    if (srv_as_refresh_or_error(rq, &s, &u) != SRV_OK)
        return;
    int64_t now = srv_now(), idle = now + ctx->cfg->session_idle_ttl;
    s.idle_expires_at = idle < s.absolute_expires_at ? idle : s.absolute_expires_at;
    struct use_args a = {&s, {0}, &u, 0};
    int rc = store_write(ctx->store, use_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the session could not be used");
        goto out;
    }
    if (a.gone) {
        srv_reply_app_error(rq, 401, "InvalidSession",
                            "invalid session: failed to find refresh token");
        goto out;
    }
    if (srv_as_access_token(ctx, &u, &s, &a.roles, &access) != SRV_OK) {
        srv_reply_app_error(rq, 500, "InternalServerError", "the token could not be signed");
        goto out;
    }
    srv_reply_json(rq, 201, json_pack("{s:s}", "access_token", access), no_store);
out:
    free(access);
    srv_session_roles_clear(&a.roles);
    store_user_clear(&u);
}

struct end_args {
    struct srv_request *rq;
    const struct store_session *s;
};

static int end_txn(struct store_txn *txn, void *arg)
{
    struct end_args *a = arg;
    int rc = store_session_delete(txn, a->s->id);
    if (rc == STORE_NOTFOUND)
        return STORE_OK; /* ended meanwhile: the same outcome */
    return rc ? rc
              : srv_audit(txn, "session.end", a->s->user_id, a->s->id, srv_rq_client_ip(a->rq), 1,
                          "App Services client API");
}

void srv_as_session_delete(struct srv_request *rq)
{
    struct store_session s;
    struct store_user u;
    if (srv_as_refresh_or_error(rq, &s, &u) != SRV_OK)
        return;
    struct end_args a = {rq, &s};
    int rc = store_write(srv_rq_ctx(rq)->store, end_txn, &a);
    if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the session could not be ended");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
    store_user_clear(&u);
}
