/* Discovery, JWKS, health and readiness, unknown routes and wrong methods. */
#include <string.h>

#include "support.h"

/* Both well-known paths answer the same metadata document, naming this server. */
TEST(discovery_both_paths_same_metadata)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_resp *a = ts_get(s, "/.well-known/openid-configuration");
    struct ts_resp *b = ts_get(s, "/.well-known/oauth-authorization-server");
    CHECK_INT(a->status, 200);
    CHECK_INT(b->status, 200);
    CHECK_STR(ts_header(a, "Content-Type"), "application/json");
    CHECK_STR(ts_header(b, "Content-Type"), "application/json");
    CHECK(ts_header(a, "Cache-Control") != NULL);
    CHECK_INT(a->len, b->len);
    CHECK(memcmp(a->body, b->body, a->len) == 0);
    json_t *d = a->json;
    CHECK(json_is_object(d));
    const char *iss = ts_printf("http://127.0.0.1:%u", s->port);
    CHECK_STR(ts_jstr(d, "issuer"), iss);
    CHECK_STR(s->issuer, iss);
    CHECK_STR(ts_jstr(d, "token_endpoint"), ts_printf("%s/oauth/token", iss));
    CHECK_STR(ts_jstr(d, "introspection_endpoint"), ts_printf("%s/oauth/introspect", iss));
    CHECK_STR(ts_jstr(d, "revocation_endpoint"), ts_printf("%s/oauth/revoke", iss));
    CHECK_STR(ts_jstr(d, "jwks_uri"), ts_printf("%s/jwks", iss));
    CHECK(ts_jarray_has(json_object_get(d, "grant_types_supported"), "client_credentials"));
    CHECK(ts_jarray_has(json_object_get(d, "grant_types_supported"), "authorization_code"));
    CHECK_STR(ts_jstr(d, "authorization_endpoint"), ts_printf("%s/oauth/authorize", iss));
    CHECK_STR(ts_jstr(d, "end_session_endpoint"), ts_printf("%s/oauth/logout", iss));
    CHECK_STR(ts_jarray_join(json_object_get(d, "response_types_supported")), "code");
    /* PKCE with S256 only: plain is never offered */
    CHECK_STR(ts_jarray_join(json_object_get(d, "code_challenge_methods_supported")), "S256");
    json_t *methods = json_object_get(d, "token_endpoint_auth_methods_supported");
    CHECK(ts_jarray_has(methods, "client_secret_basic"));
    CHECK(ts_jarray_has(methods, "client_secret_post"));
    methods = json_object_get(d, "introspection_endpoint_auth_methods_supported");
    CHECK(ts_jarray_has(methods, "client_secret_basic"));
    CHECK(ts_jarray_has(methods, "client_secret_post"));
    methods = json_object_get(d, "revocation_endpoint_auth_methods_supported");
    CHECK(ts_jarray_has(methods, "client_secret_basic"));
    CHECK(ts_jarray_has(methods, "client_secret_post"));
    /* OIDC Discovery requires this list; it names the signing alg, never none or HMAC */
    CHECK(ts_jarray_has(json_object_get(d, "id_token_signing_alg_values_supported"), "ES256"));
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v)
    {
        if (!strstr(key, "alg_values_supported"))
            continue;
        CHECK_MSG(!ts_jarray_has(v, "none") && !ts_jarray_has(v, "HS256"), "%s lists %s", key,
                  ts_jarray_join(v));
    }
}

/* --issuer names the server in discovery and in the tokens (a trailing slash is dropped). */
TEST(discovery_configured_issuer)
{
    const char *args[] = {"--issuer", "https://idp.example.test/", NULL};
    struct ts_opts o = {.args = args};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_resp *r = ts_get(s, "/.well-known/openid-configuration");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "issuer"), "https://idp.example.test");
    CHECK_STR(ts_jstr(r->json, "token_endpoint"), "https://idp.example.test/oauth/token");
    CHECK_STR(ts_jstr(r->json, "jwks_uri"), "https://idp.example.test/jwks");
}

/* Two public EC keys (active and next), each named by its RFC 7638 thumbprint, no private part. */
TEST(jwks_public_keys_only)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_resp *r = ts_get(s, "/jwks");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    const char *cc = ts_header(r, "Cache-Control");
    CHECK(cc != NULL);
    CHECK_MSG(strstr(cc, "public") && strstr(cc, "max-age=300"), "Cache-Control: %s", cc);
    CHECK(json_is_object(r->json));
    CHECK_INT(json_object_size(r->json), 1);
    json_t *keys = json_object_get(r->json, "keys");
    CHECK(json_is_array(keys));
    CHECK_INT(json_array_size(keys), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *k = json_array_get(keys, i);
        CHECK_STR(ts_jstr(k, "kty"), "EC");
        CHECK_STR(ts_jstr(k, "crv"), "P-256");
        CHECK_STR(ts_jstr(k, "alg"), "ES256");
        CHECK_STR(ts_jstr(k, "use"), "sig");
        CHECK(ts_jstr(k, "x") && strlen(ts_jstr(k, "x")) == 43);
        CHECK(ts_jstr(k, "y") && strlen(ts_jstr(k, "y")) == 43);
        CHECK(ts_jstr(k, "kid") != NULL);
        CHECK_STR(ts_jstr(k, "kid"), ts_jwk_thumbprint(k));
        static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
        for (size_t m = 0; m < sizeof private_members / sizeof private_members[0]; m++)
            CHECK_MSG(!json_object_get(k, private_members[m]), "member %s published",
                      private_members[m]);
    }
    CHECK(strcmp(ts_jstr(json_array_get(keys, 0), "kid"), ts_jstr(json_array_get(keys, 1), "kid")));
    CHECK(!strstr(r->body, "\"d\""));
}

TEST(healthz_and_readyz)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_resp *h = ts_get(s, "/healthz");
    CHECK_INT(h->status, 200);
    CHECK_STR(ts_header(h, "Content-Type"), "application/json");
    CHECK_STR(h->body, "{\"status\":\"ok\"}");
    struct ts_resp *r = ts_get(s, "/readyz");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_jstr(r->json, "status"), "ready");
    CHECK_INT(ts_jint(r->json, "schema_version"), 8);
    CHECK_STR(ts_jstr(r->json, "store"), th_on_postgres() ? "postgres" : "lmdb");
    CHECK_STR(ts_jstr(r->json, "signing_alg"), "ES256");
}

TEST(unknown_route_is_404_problem)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    static const char *const paths[] = {"/nope", "/oauth/token/extra", "/.well-known/", "/jwks/",
                                        "/JWKS", "/admin/v2/users"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct ts_resp *r = ts_get(s, paths[i]);
        CHECK_PROBLEM(r, 404);
        CHECK_STR(ts_jstr(r->json, "title"), "Not Found");
    }
    struct ts_resp *r = ts_post(s, "/oauth/nope", NULL, "grant_type=client_credentials");
    CHECK_PROBLEM(r, 404);
    /* a path that is not UTF-8 is refused before routing, and the log keeps its line */
    r = ts_get(s, "/admin/v1/users/%ff%fe");
    CHECK_PROBLEM(r, 400);
    CHECK(ts_log_wait(s, "\"path\":\"(not UTF-8)\"", 5000));
}

/* Every answer idpd makes, success or error, cached or not, forbids MIME sniffing. */
TEST(every_answer_says_nosniff)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    if (!s)
        return;
    struct ts_resp *rs[] = {
        ts_get(s, "/jwks"),
        ts_get(s, "/.well-known/openid-configuration"),
        ts_get(s, "/healthz"),
        ts_get(s, "/nope"),
        ts_post(s, "/oauth/token", NULL, "grant_type=client_credentials"),
        ts_get(s, "/oauth/token"),
        ts_get(s, "/v1/me"),
    };
    static const long want[] = {200, 200, 200, 404, 401, 405, 401};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        CHECK_INT(rs[i]->status, want[i]);
        CHECK_STR(ts_header(rs[i], "X-Content-Type-Options"), "nosniff");
    }
    CHECK_INT(ts_stop(s), 0);
}

TEST(wrong_method_is_405_with_allow)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    /* the OAuth endpoints answer in RFC 6749's shape */
    struct ts_resp *r = ts_get(s, "/oauth/token");
    CHECK_OAUTH_ERROR(r, 405, "invalid_request");
    CHECK_STR(ts_header(r, "Allow"), "POST");
    r = ts_get(s, "/oauth/introspect");
    CHECK_OAUTH_ERROR(r, 405, "invalid_request");
    CHECK_STR(ts_header(r, "Allow"), "POST");
    r = ts_post(s, "/jwks", NULL, "a=b");
    CHECK_PROBLEM(r, 405);
    CHECK_STR(ts_header(r, "Allow"), "GET, HEAD");
    struct ts_req del = {.method = "DELETE", .path = "/healthz"};
    r = ts_do(s, &del);
    CHECK_PROBLEM(r, 405);
    CHECK_STR(ts_header(r, "Allow"), "GET, HEAD");
    /* HEAD is answered wherever GET is, without a body */
    struct ts_req head = {.method = "HEAD", .path = "/jwks"};
    r = ts_do(s, &head);
    CHECK_INT(r->status, 200);
    CHECK_INT(strlen(r->body ? r->body : ""), 0);
    /* nothing changed: the server still answers */
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(discovery_both_paths_same_metadata);
    RUN(discovery_configured_issuer);
    RUN(jwks_public_keys_only);
    RUN(healthz_and_readyz);
    RUN(unknown_route_is_404_problem);
    RUN(wrong_method_is_405_with_allow);
    RUN(every_answer_says_nosniff);
    return ts_done();
}
