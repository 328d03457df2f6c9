/* Minting RFC 9068 access tokens (DESIGN.md §4). */
#define LOG_MODULE "tokens"

#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

static int cmp_role(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* roles: sorted and de-duplicated, as DESIGN.md §4 promises resource servers. */
static int write_roles(struct srv_jw *w, char (*roles)[STORE_ROLE_MAX], size_t n)
{
    char(*sorted)[STORE_ROLE_MAX] = n ? malloc(n * sizeof *sorted) : NULL;
    if (n && !sorted)
        return SRV_ERUNTIME;
    if (n) {
        memcpy(sorted, roles, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_role);
    }
    srv_jw_array(w, "roles");
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            srv_jw_string(w, NULL, sorted[i]);
    srv_jw_close(w, ']');
    free(sorted);
    return SRV_OK;
}

int srv_opaque_new(char out[SRV_REFRESH_LEN], uint8_t hash[CRYPTO_SHA256_LEN])
{
    uint8_t raw[32];
    int rc = SRV_ERUNTIME;
    if (crypto_random(raw, sizeof raw) == CRYPTO_OK &&
        crypto_b64url_encode(raw, sizeof raw, out, SRV_REFRESH_LEN, NULL) == CRYPTO_OK) {
        crypto_sha256(out, strlen(out), hash);
        rc = SRV_OK;
    }
    crypto_wipe(raw, sizeof raw);
    return rc;
}

int srv_token_issue(struct srv_ctx *ctx, const struct srv_principal *p,
                    struct srv_issued_token *out)
{
    uint8_t jti_raw[16];
    char *claims = NULL;
    size_t claims_len = 0;
    int rc = SRV_ERUNTIME, krc;
    struct srv_jw w = {0};
    memset(out, 0, sizeof *out);
    if (crypto_random(jti_raw, sizeof jti_raw) != CRYPTO_OK ||
        crypto_b64url_encode(jti_raw, sizeof jti_raw, out->jti, sizeof out->jti, NULL) != CRYPTO_OK)
        goto out;
    out->iat = srv_now();
    out->exp = out->iat + ctx->cfg->access_token_ttl;
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "iss", ctx->issuer);
    srv_jw_string(&w, "sub", p->sub);
    srv_jw_string(&w, "aud", p->audience);
    srv_jw_int(&w, "iat", out->iat);
    srv_jw_int(&w, "exp", out->exp);
    srv_jw_string(&w, "jti", out->jti);
    srv_jw_string(&w, "client_id", p->client_id);
    if (p->scope)
        srv_jw_string(&w, "scope", p->scope);
    srv_jw_string(&w, "principal_type", p->principal_type);
    if (write_roles(&w, p->roles, p->nroles) != SRV_OK)
        goto out;
    if (p->sid) {
        srv_jw_string(&w, "sid", p->sid);
        srv_jw_int(&w, "auth_time", p->auth_time);
        srv_jw_array(&w, "amr");
        srv_jw_string(&w, NULL, p->amr);
        srv_jw_close(&w, ']');
    }
    if (p->device_id) {
        srv_jw_string(&w, "baas_device_id", p->device_id);
        srv_jw_object_text(&w, "user_data", p->user_data ? p->user_data : "{}");
    }
    srv_jw_close(&w, '}');
    if (!(claims = srv_jw_finish(&w, &claims_len)))
        goto out;
    krc = keys_jwt_sign(ctx->keys, "at+jwt", claims, claims_len, &out->access_token);
    if (krc != KEYS_OK) {
        LOG(SRV_LOG_ERROR, "signing failed: %s", keys_strerror(krc));
        goto out;
    }
    rc = SRV_OK;
out:
    free(srv_jw_finish(&w, NULL)); /* only left over after a failure */
    free(claims);
    return rc;
}

int srv_id_token_issue(struct srv_ctx *ctx, const struct store_user *u, const char *client_id,
                       const char *sid, int64_t auth_time, const char *nonce, char **out)
{
    int64_t now = srv_now();
    size_t len = 0;
    struct srv_jw w = {0};
    *out = NULL;
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "iss", ctx->issuer);
    srv_jw_string(&w, "sub", u->id);
    srv_jw_string(&w, "aud", client_id);
    srv_jw_int(&w, "iat", now);
    srv_jw_int(&w, "exp", now + ctx->cfg->access_token_ttl);
    srv_jw_int(&w, "auth_time", auth_time);
    srv_jw_string(&w, "sid", sid);
    if (nonce)
        srv_jw_string(&w, "nonce", nonce);
    if (u->email[0]) {
        srv_jw_string(&w, "email", u->email);
        srv_jw_bool(&w, "email_verified", u->email_verified);
    }
    if (u->name[0])
        srv_jw_string(&w, "name", u->name);
    srv_jw_close(&w, '}');
    char *text = srv_jw_finish(&w, &len);
    int rc =
        text && keys_jwt_sign(ctx->keys, "JWT", text, len, out) == KEYS_OK ? SRV_OK : SRV_ERUNTIME;
    free(text);
    return rc;
}
