/* Checking access tokens idpd issued: for introspection, revocation and (later) bearer
 * authentication of idpd's own endpoints. */
#define LOG_MODULE "tokens"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

/* An unknown kid may be a key another process (idpd keys rotate) just made. Reload the ring then,
 * but at most once a second so random kids cannot make every request reload. Returns 1 when the
 * ring changed. *unreadable = 1 when the store could not be read, now or at the last reload that
 * was tried: the kid may then be one it holds, so the token is neither good nor bad yet. */
static int refresh_for_unknown_kid(struct srv_ctx *ctx, int *unreadable)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static double last_ms;
    static int last_failed;
    int changed = 0, due, krc;
    double now = srv_now_ms();
    pthread_mutex_lock(&lock);
    due = now - last_ms >= 1000.0;
    if (due)
        last_ms = now;
    *unreadable = last_failed;
    pthread_mutex_unlock(&lock);
    if (!due)
        return 0;
    krc = keys_refresh(ctx->keys, &changed);
    pthread_mutex_lock(&lock);
    last_failed = *unreadable = krc == KEYS_ESTORE;
    pthread_mutex_unlock(&lock);
    if (krc == KEYS_OK && changed)
        srv_keys_changed(ctx);
    return changed;
}

struct principal_check {
    const char *jti;
    const char *sub;
    const char *type;
    const char *sid;
    int64_t now;
    int denied;
    int gone;
};

/* A user's token lives only as long as its user (active) and its session (not ended, not
 * expired): logout, disable and delete take effect at once. */
static int user_gone(struct store_txn *txn, struct principal_check *pc, int *gone)
{
    struct store_user u = {0};
    struct store_session s;
    int rc = store_user_get(txn, pc->sub, &u);
    int active = rc == STORE_OK && u.status == STORE_USER_ACTIVE;
    store_user_clear(&u);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return rc;
    *gone = 1;
    if (!active || !pc->sid)
        return STORE_OK;
    rc = store_session_get(txn, pc->sid, &s);
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc != STORE_OK)
        return rc;
    *gone = strcmp(s.user_id, pc->sub) != 0 || s.idle_expires_at <= pc->now ||
            s.absolute_expires_at <= pc->now;
    return STORE_OK;
}

static int check_txn(struct store_txn *txn, void *arg)
{
    struct principal_check *pc = arg;
    int is_user = strcmp(pc->type, "user") == 0;
    int is_sa = strcmp(pc->type, "service_account") == 0;
    /* none of these reads depends on another: one round trip on PostgreSQL */
    const struct store_record_ref ahead[] = {
        {STORE_REC_DENYLIST, pc->jti},
        {is_user ? STORE_REC_USER : STORE_REC_SERVICE_ACCOUNT, is_user || is_sa ? pc->sub : NULL},
        {STORE_REC_SESSION, is_user ? pc->sid : NULL},
    };
    store_read_ahead(txn, ahead, sizeof ahead / sizeof *ahead);
    int rc = store_deny_has(txn, pc->jti, &pc->denied);
    if (rc != STORE_OK)
        return rc;
    if (is_sa) {
        struct store_service_account sa = {0};
        rc = store_sa_get(txn, pc->sub, &sa);
        pc->gone = rc == STORE_NOTFOUND || (rc == STORE_OK && sa.disabled);
        store_service_account_clear(&sa);
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    }
    if (is_user)
        return user_gone(txn, pc, &pc->gone);
    pc->gone = 1; /* no other principal type exists */
    return STORE_OK;
}

enum srv_token_state srv_token_check(struct srv_ctx *ctx, const char *token, size_t len,
                                     const char *audience, json_t **claims_out)
{
    char *payload = NULL;
    size_t plen = 0;
    json_t *claims = NULL;
    enum srv_token_state state = SRV_TOKEN_INVALID;
    int krc = keys_jwt_verify(ctx->keys, token, len, "at+jwt", &payload, &plen, NULL);
    if (krc == KEYS_EKID) {
        int unreadable = 0;
        if (refresh_for_unknown_kid(ctx, &unreadable))
            krc = keys_jwt_verify(ctx->keys, token, len, "at+jwt", &payload, &plen, NULL);
        else if (unreadable)
            state = SRV_TOKEN_UNAVAILABLE;
    }
    if (krc != KEYS_OK)
        goto out;
    claims = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *type = json_string_value(json_object_get(claims, "principal_type"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_object(claims) || !iss || strcmp(iss, ctx->issuer) != 0 || !jti || !sub || !type ||
        !aud || !json_is_integer(exp))
        goto out;
    /* idpd mints one audience per token (a string, never an array), so a token asked for
     * another API cannot open idpd's: RFC 9068 §4, the resource server checks aud. */
    if (audience && strcmp(aud, audience) != 0) {
        state = SRV_TOKEN_AUDIENCE;
        goto out;
    }
    struct principal_check pc = {
        .jti = jti,
        .sub = sub,
        .type = type,
        .sid = json_string_value(json_object_get(claims, "sid")),
        .now = srv_now(),
    };
    if (json_integer_value(exp) <= srv_now()) {
        state = SRV_TOKEN_EXPIRED;
    } else {
        int src = store_read(ctx->store, check_txn, &pc);
        if (src != STORE_OK) {
            LOG_STORE(src, "token check failed");
            state = SRV_TOKEN_UNAVAILABLE;
            goto out;
        }
        state = pc.denied ? SRV_TOKEN_REVOKED : pc.gone ? SRV_TOKEN_NO_PRINCIPAL : SRV_TOKEN_ACTIVE;
    }
    if (claims_out) {
        *claims_out = claims;
        claims = NULL;
    }
out:
    json_decref(claims);
    free(payload);
    return state;
}

void srv_keys_changed(struct srv_ctx *ctx)
{
    if (ctx->keys_changed)
        (void)ctx->keys_changed(ctx); /* a failure is logged there; the old JWKS stays */
}
