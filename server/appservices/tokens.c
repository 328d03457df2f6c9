/* The tokens of the App Services client API.
 *
 * Access tokens are idpd's RFC 9068 tokens for idpd's own API (aud = the issuer), with the two
 * claims the SDKs read: user_data (the user's metadata object) and baas_device_id.
 *
 * Refresh tokens do not rotate: the SDKs keep the first one for the life of the session and read
 * only access_token from a refresh, so a rotated one would be thrown away and its reuse would end
 * the session. realm-core also parses the refresh token as a JWT (three parts, integer exp and
 * iat, or it aborts), so it is one: signed by idpd's key, carrying the session's opaque refresh
 * secret in "rt" (of which only the SHA-256 is stored, as for every refresh token). It is
 * accepted by that secret alone: the signature adds nothing to 256 random bits, and checking it
 * would end every session once its signing key retired. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/appservices/appservices.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

/* The device of a session: a session of idpd's own API (linked through this one) has none, which
 * the SDKs spell as 24 zeros. */
static const char *device_of(const struct store_session *s)
{
    return s->device_id[0] ? s->device_id : "000000000000000000000000";
}

int srv_as_access_token(struct srv_ctx *ctx, const struct store_user *u,
                        const struct store_session *s, const struct srv_session_roles *roles,
                        char **out)
{
    struct srv_issued_token tok = {0};
    struct srv_principal p = {
        .sub = u->id,
        .principal_type = "user",
        .client_id = s->client_id,
        .scope = s->scope[0] ? s->scope : NULL,
        .audience = ctx->issuer,
        .roles = roles->roles,
        .nroles = roles->n,
        .sid = s->id,
        .auth_time = s->created_at,
        .amr = s->amr,
        .user_data = u->metadata,
        .device_id = device_of(s),
    };
    *out = NULL;
    if (srv_token_issue(ctx, &p, &tok) != SRV_OK)
        return SRV_ERUNTIME;
    *out = tok.access_token;
    return SRV_OK;
}

/* The refresh token of session s: a JWT carrying the opaque secret refresh. */
static int refresh_jwt(struct srv_ctx *ctx, const struct store_session *s, const char *refresh,
                       char **out)
{
    struct srv_jw w = {0};
    size_t len = 0;
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "iss", ctx->issuer);
    srv_jw_string(&w, "sub", s->user_id);
    srv_jw_int(&w, "iat", s->created_at);
    srv_jw_int(&w, "exp", s->absolute_expires_at);
    srv_jw_string(&w, "sid", s->id);
    srv_jw_string(&w, "baas_device_id", device_of(s));
    srv_jw_string(&w, "rt", refresh);
    srv_jw_close(&w, '}');
    char *claims = srv_jw_finish(&w, &len);
    int rc = claims && keys_jwt_sign(ctx->keys, "JWT", claims, len, out) == KEYS_OK ? SRV_OK
                                                                                    : SRV_ERUNTIME;
    if (claims)
        crypto_wipe(claims, len);
    free(claims);
    return rc;
}

void srv_as_reply_tokens(struct srv_request *rq, const struct store_user *u,
                         const struct store_session *s, const char *refresh,
                         const struct srv_session_roles *roles, int link)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    char *access = NULL, *rt = NULL;
    if (srv_as_access_token(ctx, u, s, roles, &access) != SRV_OK ||
        (!link && refresh_jwt(ctx, s, refresh, &rt) != SRV_OK)) {
        srv_reply_app_error(rq, 500, "InternalServerError", "the tokens could not be signed");
        goto out;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "user_id", u->id, "access_token", access,
                             "device_id", device_of(s));
    if (body && rt)
        json_object_set_new(body, "refresh_token", json_string(rt));
    srv_reply_json(rq, 200, body, no_store);
out:
    free(access);
    if (rt)
        crypto_wipe(rt, strlen(rt));
    free(rt);
}

/* ---- callers with an access token ---- */

int srv_as_access_or_error(struct srv_request *rq, struct srv_as_caller *out)
{
    const char *auth = srv_rq_header(rq, "Authorization");
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    json_t *claims = NULL;
    memset(out, 0, sizeof *out);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_reply_app_error(rq, 401, "InvalidSession", "must authenticate first");
        return SRV_ERESPONDED;
    }
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    enum srv_token_state st = srv_token_check(ctx, token, strlen(token), ctx->issuer, &claims);
    if (st == SRV_TOKEN_UNAVAILABLE) {
        srv_reply_app_error(rq, 503, "ServiceUnavailable",
                            "the token cannot be checked now; retry shortly");
        goto refused;
    }
    if (st != SRV_TOKEN_ACTIVE) {
        /* expired, revoked, its session ended, its user disabled or gone, or not ours: the SDK
         * refreshes, and when that fails too, its user is logged out */
        srv_reply_app_error(rq, 401, "InvalidSession", "invalid session: %s",
                            st == SRV_TOKEN_EXPIRED ? "access token expired"
                            : st == SRV_TOKEN_NO_PRINCIPAL
                                ? "the session has ended or the user is disabled or deleted"
                                : "the access token is not valid");
        goto refused;
    }
    const char *type = json_string_value(json_object_get(claims, "principal_type"));
    if (!type || strcmp(type, "user") != 0) {
        srv_reply_app_error(rq, 403, "Forbidden", "this call is for users, not service accounts");
        goto refused;
    }
    out->client_id = json_string_value(json_object_get(claims, "client_id"));
    if (!srv_cors_client_or_error(rq, out->client_id))
        goto refused;
    out->claims = claims;
    out->user_id = json_string_value(json_object_get(claims, "sub"));
    out->sid = json_string_value(json_object_get(claims, "sid"));
    srv_rq_log_client(rq, out->client_id);
    return SRV_OK;
refused:
    json_decref(claims);
    memset(out, 0, sizeof *out);
    return SRV_ERESPONDED;
}

void srv_as_caller_clear(struct srv_as_caller *c)
{
    json_decref(c->claims);
    memset(c, 0, sizeof *c);
}

/* ---- callers with a refresh token ---- */

#define PAYLOAD_MAX 2048

/* The SHA-256 of the secret a refresh token of this API carries; 0 when it carries none. */
static int refresh_hash(const char *token, uint8_t hash[STORE_REFRESH_HASH_LEN])
{
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    char payload[PAYLOAD_MAX + 1];
    size_t len = 0;
    int ok = 0;
    if (!dot2 || strchr(dot2 + 1, '.') ||
        crypto_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, PAYLOAD_MAX, &len) !=
            CRYPTO_OK)
        return 0;
    payload[len] = '\0';
    json_t *claims = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    const char *rt = json_string_value(json_object_get(claims, "rt"));
    if (rt && strlen(rt) == SRV_REFRESH_LEN - 1) {
        crypto_sha256(rt, strlen(rt), hash);
        ok = 1;
    }
    json_decref(claims);
    crypto_wipe(payload, sizeof payload);
    return ok;
}

struct refresh_find {
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    struct store_session *s;
    struct store_user *u;
    int live;
};

static int refresh_find_txn(struct store_txn *txn, void *arg)
{
    struct refresh_find *f = arg;
    char sid[STORE_ID_MAX];
    int superseded = 0;
    int64_t now = srv_now();
    store_user_clear(f->u);
    f->live = 0;
    int rc = store_session_find_refresh(txn, f->hash, sid, &superseded);
    if (rc == STORE_OK)
        rc = store_session_get(txn, sid, f->s);
    if (rc == STORE_OK)
        rc = store_user_get(txn, f->s->user_id, f->u);
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    /* only this API's sessions (never rotated: superseded cannot happen, but is no use either) */
    f->live = rc == STORE_OK && !superseded && f->s->device_id[0] && !f->s->browser &&
              f->s->idle_expires_at > now && f->s->absolute_expires_at > now &&
              f->u->status == STORE_USER_ACTIVE;
    return rc;
}

int srv_as_refresh_or_error(struct srv_request *rq, struct store_session *s, struct store_user *u)
{
    const char *auth = srv_rq_header(rq, "Authorization");
    struct refresh_find f = {.s = s, .u = u};
    memset(s, 0, sizeof *s);
    memset(u, 0, sizeof *u);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_reply_app_error(rq, 401, "InvalidSession", "must authenticate first");
        return SRV_ERESPONDED;
    }
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    int rc = refresh_hash(token, f.hash) ? store_read(srv_rq_ctx(rq)->store, refresh_find_txn, &f)
                                         : STORE_OK;
    if (rc != STORE_OK) {
        srv_reply_app_error(rq, 503, "ServiceUnavailable",
                            "the session cannot be read now; retry shortly");
        LOG_STORE(rc, "refresh token lookup failed");
        goto refused;
    }
    if (!f.live) {
        srv_reply_app_error(rq, 401, "InvalidSession",
                            "invalid session: failed to find refresh token");
        goto refused;
    }
    if (!srv_cors_client_or_error(rq, s->client_id))
        goto refused;
    srv_rq_log_client(rq, s->client_id);
    return SRV_OK;
refused:
    store_user_clear(u);
    memset(s, 0, sizeof *s);
    return SRV_ERESPONDED;
}
