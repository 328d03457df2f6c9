/* Minting RFC 9068 access tokens (DESIGN.md §4). */
#define LOG_MODULE "tokens"

#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static int cmp_role(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* roles: sorted and de-duplicated, as DESIGN.md §4 promises resource servers. */
static json_t *roles_array(char (*roles)[STORE_ROLE_MAX], size_t n)
{
    json_t *arr = json_array();
    char(*sorted)[STORE_ROLE_MAX] = n ? malloc(n * sizeof *sorted) : NULL;
    if (!arr || (n && !sorted)) {
        json_decref(arr);
        free(sorted);
        return NULL;
    }
    if (n) {
        memcpy(sorted, roles, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_role);
    }
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            json_array_append_new(arr, json_string(sorted[i]));
    free(sorted);
    return arr;
}

int srv_token_issue(struct srv_ctx *ctx, const struct srv_principal *p,
                    struct srv_issued_token *out)
{
    uint8_t jti_raw[16];
    char *claims_text = NULL;
    int rc = SRV_ERUNTIME, krc;
    json_t *claims = NULL, *roles = roles_array(p->roles, p->nroles);
    memset(out, 0, sizeof *out);
    if (!roles || crypto_random(jti_raw, sizeof jti_raw) != CRYPTO_OK ||
        crypto_b64url_encode(jti_raw, sizeof jti_raw, out->jti, sizeof out->jti, NULL) != CRYPTO_OK)
        goto out;
    out->iat = srv_now();
    out->exp = out->iat + ctx->cfg->access_token_ttl;
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", ctx->issuer, "sub", p->sub,
                       "aud", p->audience, "iat", (json_int_t)out->iat, "exp", (json_int_t)out->exp,
                       "jti", out->jti, "client_id", p->client_id);
    if (!claims)
        goto out;
    if (p->scope)
        json_object_set_new(claims, "scope", json_string(p->scope));
    json_object_set_new(claims, "principal_type", json_string(p->principal_type));
    json_object_set(claims, "roles", roles);
    if (p->sid) {
        json_object_set_new(claims, "sid", json_string(p->sid));
        json_object_set_new(claims, "auth_time", json_integer(p->auth_time));
        json_object_set_new(claims, "amr", json_pack("[s]", p->amr));
    }
    claims_text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!claims_text)
        goto out;
    krc = keys_jwt_sign(ctx->keys, "at+jwt", claims_text, strlen(claims_text), &out->access_token);
    if (krc != KEYS_OK) {
        LOG(SRV_LOG_ERROR, "signing failed: %s", keys_strerror(krc));
        goto out;
    }
    rc = SRV_OK;
out:
    free(claims_text);
    json_decref(claims);
    json_decref(roles);
    return rc;
}

int srv_id_token_issue(struct srv_ctx *ctx, const struct store_user *u, const char *client_id,
                       const char *sid, int64_t auth_time, const char *nonce, char **out)
{
    int64_t now = srv_now();
    char *text = NULL;
    int rc = SRV_ERUNTIME;
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", ctx->issuer, "sub",
                               u->id, "aud", client_id, "iat", (json_int_t)now, "exp",
                               (json_int_t)(now + ctx->cfg->access_token_ttl), "auth_time",
                               (json_int_t)auth_time, "sid", sid);
    *out = NULL;
    if (!claims)
        goto out;
    if (nonce)
        json_object_set_new(claims, "nonce", json_string(nonce));
    if (u->email[0]) {
        json_object_set_new(claims, "email", json_string(u->email));
        json_object_set_new(claims, "email_verified", json_false()); /* idpd sends no mail yet */
    }
    if (u->name[0])
        json_object_set_new(claims, "name", json_string(u->name));
    text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text && keys_jwt_sign(ctx->keys, "JWT", text, strlen(text), out) == KEYS_OK)
        rc = SRV_OK;
out:
    free(text);
    json_decref(claims);
    return rc;
}
