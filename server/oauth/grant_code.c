/* grant_type=authorization_code (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6): the code from
 * /oauth/authorize becomes tokens once. The code must be the caller's, unexpired, sent with the
 * redirect URI it was issued for and a verifier whose SHA-256 is its challenge. The tokens
 * belong to a new session of the application whose parent is the browser session, so logging
 * out of the browser ends them. A code presented again ends the session it made (RFC 6749
 * §4.1.2: revoke the tokens issued from it). */
#define LOG_MODULE "oauth"

#include <stdio.h>
#include <string.h>

#include "server/oauth/oauth.h"

#define VERIFIER_MIN 43
#define VERIFIER_MAX 128

enum outcome { OK, BAD_CODE, REPLAYED, LOGGED_OUT };

struct exchange {
    struct srv_request *rq;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    struct store_auth_code code;
    struct store_session parent;
    struct store_session *session; /* the new one: filled before the write */
    struct store_user user;
    struct srv_session_roles roles;
    enum outcome outcome;
};

/* RFC 7636 §4.1: 43 to 128 of [A-Za-z0-9-._~]. */
static int verifier_valid(const char *v)
{
    size_t n = strlen(v);
    if (n < VERIFIER_MIN || n > VERIFIER_MAX)
        return 0;
    return strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == n;
}

/* 1 when BASE64URL(SHA-256(verifier)) is challenge, compared in constant time. */
static int challenge_met(const char *verifier, const char *challenge)
{
    uint8_t digest[CRYPTO_SHA256_LEN];
    char b64[64];
    size_t n = 0;
    crypto_sha256(verifier, strlen(verifier), digest);
    if (crypto_b64url_encode(digest, sizeof digest, b64, sizeof b64, &n) != CRYPTO_OK)
        return 0;
    return n == strlen(challenge) && crypto_memeq(b64, challenge, n);
}

/* Reads the code. The checks that depend only on it and the request are the caller's. */
static int read_txn(struct store_txn *txn, void *arg)
{
    struct exchange *x = arg;
    int rc = store_code_get(txn, x->hash, &x->code);
    if (rc == STORE_NOTFOUND) {
        x->outcome = BAD_CODE;
        return STORE_OK;
    }
    return rc;
}

/* The exchange, or the end of what a replayed code made: one write transaction. */
static int exchange_txn(struct store_txn *txn, void *arg)
{
    struct exchange *x = arg;
    const char *ip = srv_rq_client_ip(x->rq);
    int rc = store_code_get(txn, x->hash, &x->code);
    store_user_clear(&x->user);
    if (rc == STORE_NOTFOUND) {
        x->outcome = BAD_CODE;
        return STORE_OK;
    }
    if (rc)
        return rc;
    if (x->code.session_id[0]) {
        x->outcome = REPLAYED;
        rc = store_session_delete(txn, x->code.session_id);
        if (rc && rc != STORE_NOTFOUND)
            return rc;
        return srv_audit(txn, "session.code_reuse", x->code.user_id, x->code.session_id, ip, 0,
                         "an authorization code was presented again");
    }
    rc = store_session_get(txn, x->code.browser_session, &x->parent);
    if (rc == STORE_OK)
        rc = store_user_get(txn, x->code.user_id, &x->user);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && x->user.status != STORE_USER_ACTIVE)) {
        x->outcome = LOGGED_OUT;
        return STORE_OK;
    }
    if (rc)
        return rc;
    snprintf(x->session->parent_id, sizeof x->session->parent_id, "%s", x->parent.id);
    snprintf(x->session->amr, sizeof x->session->amr, "%s", x->parent.amr);
    x->session->created_at = x->code.auth_time; /* the session's created_at is its auth_time */
    if ((rc = store_code_mark_used(txn, x->hash, x->session->id)) != STORE_OK ||
        (rc = store_session_insert(txn, x->session)) != STORE_OK)
        return rc;
    x->outcome = OK;
    rc = srv_audit(txn, "session.create", x->code.user_id, x->session->id, ip, 1,
                   "authorization code");
    return rc ? rc : srv_session_roles_txn(txn, x->code.user_id, &x->roles);
}

void srv_grant_code(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *code = srv_form_get(&call->form, "code");
    const char *redirect_uri = srv_form_get(&call->form, "redirect_uri");
    const char *verifier = srv_form_get(&call->form, "code_verifier");
    struct exchange x = {.rq = rq};
    struct store_session session;
    char refresh[SRV_REFRESH_LEN];
    if (!srv_app_allows_or_error(rq, &call->client, "authorization_code"))
        return;
    if (!code || !redirect_uri || !verifier) {
        srv_reply_oauth_error(rq, 400, "invalid_request",
                              "code, redirect_uri and code_verifier are required");
        return;
    }
    if (!verifier_valid(verifier)) {
        srv_reply_oauth_error(rq, 400, "invalid_request",
                              "code_verifier must be 43 to 128 unreserved characters");
        return;
    }
    crypto_sha256(code, strlen(code), x.hash);
    int rc = store_read(ctx->store, read_txn, &x);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the code cannot be checked now");
        return;
    }
    /* One answer for every way a code can be wrong: no oracle for which part was. */
    if (x.outcome == BAD_CODE || x.code.expires_at <= srv_now() ||
        strcmp(x.code.client_id, call->client.id) != 0 ||
        strcmp(x.code.redirect_uri, redirect_uri) != 0 ||
        !challenge_met(verifier, x.code.code_challenge)) {
        srv_reply_oauth_error(rq, 400, "invalid_grant",
                              "the code is not valid, has expired or was issued for another "
                              "client, redirect URI or verifier");
        return;
    }
    if (srv_session_new(rq, x.code.user_id, call->client.id, "pwd", x.code.scope, &session,
                        refresh) != SRV_OK) {
        srv_reply_oauth_error(rq, 500, "server_error", "no session could be made");
        return;
    }
    x.session = &session;
    rc = store_write(ctx->store, exchange_txn, &x);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the exchange could not be saved");
    } else if (x.outcome == REPLAYED) {
        srv_reply_oauth_error(rq, 400, "invalid_grant",
                              "the code was used already; the tokens it gave are revoked");
    } else if (x.outcome != OK) {
        srv_reply_oauth_error(rq, 400, "invalid_grant", "the sign-in has ended");
    } else {
        srv_reply_session_tokens(rq, &x.user, &session, refresh,
                                 x.code.nonce[0] ? x.code.nonce : NULL, &x.roles);
    }
    srv_session_roles_clear(&x.roles);
    store_user_clear(&x.user);
    crypto_wipe(refresh, sizeof refresh);
    crypto_wipe(&x.code, sizeof x.code);
}
