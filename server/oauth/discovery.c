/* OAuth 2.0 Authorization Server Metadata (RFC 8414) and OpenID Connect Discovery, one document
 * for both paths, and the JWKS. Both are rendered here, published to http/ once (the JWKS again
 * whenever the key ring changes) and answered from shared bytes. */
#define LOG_MODULE "oauth"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

#define DISCOVERY_CACHE_CONTROL "public, max-age=3600"

char *srv_discovery_render(const char *issuer, const char *alg, size_t *len)
{
    char url[1200];
    json_t *doc = json_object();
    char *text = NULL;
    if (!doc)
        return NULL;
#define ENDPOINT(key, path)                                                                        \
    snprintf(url, sizeof url, "%s%s", issuer, path);                                               \
    json_object_set_new(doc, key, json_string(url))
    json_object_set_new(doc, "issuer", json_string(issuer));
    ENDPOINT("authorization_endpoint", "/oauth/authorize");
    ENDPOINT("token_endpoint", "/oauth/token");
    ENDPOINT("introspection_endpoint", "/oauth/introspect");
    ENDPOINT("revocation_endpoint", "/oauth/revoke");
    ENDPOINT("jwks_uri", "/jwks");
    ENDPOINT("userinfo_endpoint", "/userinfo");
    ENDPOINT("end_session_endpoint", "/oauth/logout");
    ENDPOINT("device_authorization_endpoint", "/oauth/device_authorization");
#undef ENDPOINT
    json_object_set_new(doc, "grant_types_supported",
                        json_pack("[s,s,s,s,s,s,s,s]", "authorization_code",
                                  "urn:ietf:params:oauth:grant-type:device_code",
                                  "client_credentials", "password", "refresh_token",
                                  "urn:idpd:grant-type:anonymous", "urn:idpd:grant-type:api-key",
                                  "urn:ietf:params:oauth:grant-type:jwt-bearer"));
    json_object_set_new(doc, "response_types_supported", json_pack("[s]", "code"));
    json_object_set_new(doc, "response_modes_supported", json_pack("[s]", "query"));
    /* said outright: OIDC Discovery's default for request_uri_parameter_supported is true */
    json_object_set_new(doc, "request_parameter_supported", json_false());
    json_object_set_new(doc, "request_uri_parameter_supported", json_false());
    /* PKCE is required, and only with S256 (plain would show the verifier to whoever sees the
     * authorization request) */
    json_object_set_new(doc, "code_challenge_methods_supported", json_pack("[s]", "S256"));
    json_object_set_new(doc, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(doc, "prompt_values_supported",
                        json_pack("[s,s,s]", "none", "login", "consent"));
    /* none: public applications name themselves with client_id alone */
    json_object_set_new(doc, "token_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "client_secret_basic", "client_secret_post", "none"));
    json_object_set_new(doc, "introspection_endpoint_auth_methods_supported",
                        json_pack("[s,s]", "client_secret_basic", "client_secret_post"));
    json_object_set_new(doc, "revocation_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "client_secret_basic", "client_secret_post", "none"));
    /* Required by OIDC Discovery; ID tokens are signed with the same keys as access tokens. */
    json_object_set_new(doc, "id_token_signing_alg_values_supported", json_pack("[s]", alg));
    json_object_set_new(doc, "subject_types_supported", json_pack("[s]", "public"));
    json_object_set_new(doc, "scopes_supported",
                        json_pack("[s,s,s,s]", "openid", "profile", "email", "offline_access"));
    json_object_set_new(doc, "claims_supported",
                        json_pack("[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s]", "iss", "sub", "aud", "iat",
                                  "exp", "jti", "client_id", "principal_type", "roles", "sid",
                                  "auth_time", "amr", "nonce", "email", "email_verified", "name"));
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text)
        *len = strlen(text);
    return text;
}

void srv_handle_discovery(struct srv_request *rq)
{
    srv_reply_cached(rq, SRV_CACHED_DISCOVERY);
}

void srv_handle_jwks(struct srv_request *rq)
{
    srv_reply_cached(rq, SRV_CACHED_JWKS);
}

int srv_discovery_publish(struct srv_ctx *ctx)
{
    size_t len = 0;
    char *doc = srv_discovery_render(ctx->issuer, keys_active_alg(ctx->keys), &len);
    return srv_http_set_document(ctx->http, SRV_CACHED_DISCOVERY, doc, len,
                                 DISCOVERY_CACHE_CONTROL);
}

int srv_jwks_publish(struct srv_ctx *ctx)
{
    char *jwks = NULL, cc[64];
    size_t len = 0;
    snprintf(cc, sizeof cc, "public, max-age=%lld", (long long)ctx->cfg->jwks_max_age);
    if (keys_jwks_dup(ctx->keys, &jwks, &len) != KEYS_OK ||
        srv_http_set_document(ctx->http, SRV_CACHED_JWKS, jwks, len, cc) != SRV_OK) {
        LOG(SRV_LOG_ERROR, "the JWKS could not be published; the previous one stays");
        return SRV_ERUNTIME;
    }
    return SRV_OK;
}
