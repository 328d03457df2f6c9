/* grant_type=refresh_token: rotates the session's refresh token (RFC 6749 §6, OAuth 2.0 Security
 * BCP §4.14). Presenting a token that was already rotated away means two parties hold the
 * session's tokens: the whole session ends, the event is audited, and the newest token of the
 * family stops working too. */
#define LOG_MODULE "oauth"

#include <string.h>

#include "server/oauth/oauth.h"

enum outcome { OK, UNKNOWN, REUSED, OTHER_CLIENT, EXPIRED, USER_GONE, SCOPE_NOT_GRANTED };

struct refresh_args {
    struct srv_request *rq;
    const char *client_id;
    const char *scope;  /* the narrower scope asked for, or NULL */
    char bad_scope[65]; /* SCOPE_NOT_GRANTED: the first value that was not granted */
    uint8_t old_hash[STORE_REFRESH_HASH_LEN];
    uint8_t new_hash[STORE_REFRESH_HASH_LEN];
    struct store_session session;
    struct store_user user;
    struct srv_session_roles roles; /* OK: what the new access token carries */
    enum outcome outcome;
};

/* A refresh may narrow the scope the session was granted, never widen it (RFC 6749 §6). Returns
 * the first value of want that granted lacks (its length in *len), or NULL. */
static const char *scope_not_granted(const char *want, const char *granted, size_t *len)
{
    for (const char *p = want; *p;) {
        p += strspn(p, " ");
        size_t plen = strcspn(p, " ");
        int found = 0;
        for (const char *q = granted; *q && plen;) {
            q += strspn(q, " ");
            size_t qlen = strcspn(q, " ");
            found |= qlen == plen && strncmp(p, q, plen) == 0;
            q += qlen;
        }
        if (plen && !found) {
            *len = plen;
            return p;
        }
        p += plen;
    }
    return NULL;
}

/* Everything a refresh decides happens in this one write transaction: a rotation, or the end of
 * a session that was reused or expired (committed even though the client gets an error). */
static int refresh_txn(struct store_txn *txn, void *arg)
{
    struct refresh_args *a = arg;
    char sid[STORE_ID_MAX];
    int superseded = 0, rc;
    int64_t now = srv_now();
    const struct srv_config *cfg = srv_rq_ctx(a->rq)->cfg;
    store_user_clear(&a->user);
    rc = store_session_find_refresh(txn, a->old_hash, sid, &superseded);
    if (rc == STORE_NOTFOUND) {
        a->outcome = UNKNOWN;
        return STORE_OK;
    }
    if (rc == STORE_OK)
        rc = store_session_get(txn, sid, &a->session);
    if (rc != STORE_OK)
        return rc;
    /* an SSO cookie is no refresh token; a session of the App Services client API refreshes
     * there only, without rotation (its secret travels inside that API's refresh JWT) */
    if (a->session.browser || a->session.device_id[0]) {
        a->outcome = UNKNOWN;
        return STORE_OK;
    }
    if (strcmp(a->session.client_id, a->client_id) != 0) {
        a->outcome = OTHER_CLIENT; /* another application's token: not its to use or to end */
        return STORE_OK;
    }
    if (superseded) {
        a->outcome = REUSED;
        rc = store_session_delete(txn, sid);
        return rc ? rc
                  : srv_audit(txn, "session.refresh_reuse", a->session.user_id, sid,
                              srv_rq_client_ip(a->rq), 0, "a rotated refresh token was presented");
    }
    if (a->session.idle_expires_at <= now || a->session.absolute_expires_at <= now) {
        a->outcome = EXPIRED;
        return store_session_delete(txn, sid);
    }
    rc = store_user_get(txn, a->session.user_id, &a->user);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && a->user.status != STORE_USER_ACTIVE)) {
        a->outcome = USER_GONE;
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    /* Refused before the rotation, so the refresh token stays good. The session's scope holds
     * only values login accepted, so an unknown value is simply one that was not granted. */
    size_t badlen = 0;
    const char *bad = a->scope ? scope_not_granted(a->scope, a->session.scope, &badlen) : NULL;
    if (a->scope && !bad && strlen(a->scope) >= sizeof a->session.scope) {
        bad = "(the scope is too long)";
        badlen = strlen(bad);
    }
    if (bad) {
        snprintf(a->bad_scope, sizeof a->bad_scope, "%.*s", (int)badlen, bad);
        a->outcome = SCOPE_NOT_GRANTED;
        return STORE_OK;
    }
    int64_t idle = now + cfg->session_idle_ttl;
    if (idle > a->session.absolute_expires_at)
        idle = a->session.absolute_expires_at;
    rc = store_session_rotate(txn, sid, a->new_hash, now, idle);
    if (rc != STORE_OK)
        return rc;
    memcpy(a->session.refresh_hash, a->new_hash, sizeof a->new_hash);
    a->session.last_used_at = now;
    a->session.idle_expires_at = idle;
    a->outcome = OK;
    return srv_session_roles_txn(txn, a->user.id, &a->roles);
}

void srv_grant_refresh(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *token = srv_form_get(&call->form, "refresh_token");
    struct refresh_args a = {.rq = rq, .client_id = call->client.id};
    char refresh[SRV_REFRESH_LEN] = "";
    uint8_t raw[32];
    if (!srv_app_allows_or_error(rq, &call->client, "refresh_token"))
        return;
    if (!token) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "refresh_token is required");
        return;
    }
    a.scope = srv_form_get(&call->form, "scope");
    crypto_sha256(token, strlen(token), a.old_hash);
    if (crypto_random(raw, sizeof raw) != CRYPTO_OK ||
        crypto_b64url_encode(raw, sizeof raw, refresh, sizeof refresh, NULL) != CRYPTO_OK) {
        srv_reply_oauth_error(rq, 500, "server_error", "no token could be made");
        goto out;
    }
    crypto_sha256(refresh, strlen(refresh), a.new_hash);
    /* Nothing is rotated unless the whole transaction commits, so a refresh the store could
     * not make leaves the presented token current: the client retries it later. */
    int rc = store_write(ctx->store, refresh_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the refresh could not be saved");
        goto out;
    }
    switch (a.outcome) {
    case OK:
        /* A narrower scope is for these tokens only: the session keeps its own. */
        if (a.scope && a.scope[strspn(a.scope, " ")])
            snprintf(a.session.scope, sizeof a.session.scope, "%s", a.scope);
        srv_reply_session_tokens(rq, &a.user, &a.session, refresh, NULL, &a.roles);
        break;
    case SCOPE_NOT_GRANTED:
        srv_reply_oauth_error(rq, 400, "invalid_scope", "scope %s was not granted to the session",
                              a.bad_scope);
        break;
    case REUSED:
        LOG(SRV_LOG_WARN, "refresh token reuse: session %s of %s ended", a.session.id,
            a.session.user_id);
        srv_reply_oauth_error(rq, 400, "invalid_grant",
                              "the refresh token was already used; the session has ended");
        break;
    case EXPIRED:
        srv_reply_oauth_error(rq, 400, "invalid_grant", "the session has expired");
        break;
    case USER_GONE:
        srv_reply_oauth_error(rq, 400, "invalid_grant", "the user is disabled or deleted");
        break;
    default:
        srv_reply_oauth_error(rq, 400, "invalid_grant", "the refresh token is not valid");
        break;
    }
out:
    srv_session_roles_clear(&a.roles);
    store_user_clear(&a.user);
    crypto_wipe(raw, sizeof raw);
    crypto_wipe(refresh, sizeof refresh);
}
