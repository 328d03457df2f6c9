/* Client credentials: both authentication methods, the RFC 9068 token itself (decoded and its
 * ES256 signature verified here with OpenSSL against the JWKS), scope narrowing, audiences and
 * the verified-secret cache. */
#include <limits.h>
#include <string.h>
#include <time.h>

#include "support.h"

/* Roles out of order and one twice: the token must carry them sorted and de-duplicated. */
static const char *const messy_roles[] = {"zeta", "alpha", "mid@proj_prod", "alpha", NULL};

static struct ts_server *start_with_account(struct ts_account *a, const char *const *roles)
{
    struct ts_server *s = ts_start(NULL);
    if (!s)
        return NULL;
    if (ts_sa_create(s->data, "ci-pipeline", roles, NULL, a) != 0)
        return NULL;
    return s;
}

/* Checks a successful token answer and its token completely; returns the claims. */
static json_t *check_token_response(struct ts_server *s, struct ts_resp *r,
                                    const struct ts_account *a, long long before, long long after,
                                    int *ok)
{
    json_t *hdr = NULL, *claims = NULL;
    *ok = 0;
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: %s failed; body %s\n", __FILE__, __LINE__, #cond, r->body);  \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)
    EXPECT(r->status == 200);
    EXPECT(ts_header(r, "Content-Type") &&
           !strcmp(ts_header(r, "Content-Type"), "application/json"));
    EXPECT(ts_header(r, "Cache-Control") && !strcmp(ts_header(r, "Cache-Control"), "no-store"));
    EXPECT(ts_header(r, "Pragma") && !strcmp(ts_header(r, "Pragma"), "no-cache"));
    EXPECT(ts_jstr(r->json, "access_token"));
    EXPECT(ts_jstr(r->json, "token_type") && !strcmp(ts_jstr(r->json, "token_type"), "Bearer"));
    EXPECT(ts_jint(r->json, "expires_in") == 3600);
    const char *tok = ts_jstr(r->json, "access_token");
    EXPECT(ts_jwt_decode(tok, &hdr, &claims) == 0);

    /* header */
    EXPECT(json_object_size(hdr) == 3);
    EXPECT(ts_jstr(hdr, "typ") && !strcmp(ts_jstr(hdr, "typ"), "at+jwt"));
    EXPECT(ts_jstr(hdr, "alg") && !strcmp(ts_jstr(hdr, "alg"), "ES256"));
    struct ts_resp *jwks = ts_get(s, "/jwks");
    EXPECT(jwks->status == 200);
    json_t *jwk = ts_jwks_key(jwks->json, ts_jstr(hdr, "kid"));
    EXPECT(jwk);
    EXPECT(ts_es256_verify(tok, jwk));

    /* claims */
    const char *iss = ts_printf("http://127.0.0.1:%u", s->port);
    EXPECT(ts_jstr(claims, "iss") && !strcmp(ts_jstr(claims, "iss"), iss));
    EXPECT(ts_jstr(claims, "sub") && !strcmp(ts_jstr(claims, "sub"), a->id));
    EXPECT(ts_jstr(claims, "client_id") && !strcmp(ts_jstr(claims, "client_id"), a->id));
    EXPECT(ts_jstr(claims, "aud") && !strcmp(ts_jstr(claims, "aud"), iss));
    long long iat = ts_jint(claims, "iat"), exp = ts_jint(claims, "exp");
    EXPECT(iat >= before && iat <= after);
    EXPECT(exp - iat == 3600);
    const char *jti = ts_jstr(claims, "jti");
    size_t jl = 0;
    EXPECT(jti && ts_b64url_decode(jti, strlen(jti), &jl) && jl == 16); /* 128 random bits */
    EXPECT(ts_jstr(claims, "principal_type") &&
           !strcmp(ts_jstr(claims, "principal_type"), "service_account"));
    EXPECT(json_is_array(json_object_get(claims, "roles")));
#undef EXPECT
    *ok = 1;
    return claims;
}

TEST(client_secret_basic_token)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    long long before = (long long)time(NULL);
    struct ts_resp *r = ts_token(s, &a, NULL);
    long long after = (long long)time(NULL);
    int ok;
    json_t *claims = check_token_response(s, r, &a, before, after, &ok);
    CHECK(ok);
    CHECK_INT(json_object_size(r->json), 3); /* no scope asked, none answered */
    CHECK_STR(ts_jarray_join(json_object_get(claims, "roles")), "alpha,mid@proj_prod,zeta");
    CHECK(!json_object_get(claims, "scope"));
    CHECK_INT(json_object_size(claims), 9);
}

TEST(client_secret_post_token)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    const char *form =
        ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", a.id, a.secret);
    long long before = (long long)time(NULL);
    struct ts_resp *r1 = ts_post(s, "/oauth/token", NULL, form);
    struct ts_resp *r2 = ts_post(s, "/oauth/token", NULL, form);
    long long after = (long long)time(NULL);
    int ok;
    json_t *c1 = check_token_response(s, r1, &a, before, after, &ok);
    CHECK(ok);
    json_t *c2 = check_token_response(s, r2, &a, before, after, &ok);
    CHECK(ok);
    CHECK_STR(ts_jarray_join(json_object_get(c1, "roles")), "alpha,mid@proj_prod,zeta");
    CHECK(strcmp(ts_jstr(c1, "jti"), ts_jstr(c2, "jti")) != 0);
    CHECK(strcmp(ts_jstr(r1->json, "access_token"), ts_jstr(r2->json, "access_token")) != 0);
}

/* RFC 6749 §2.3.1: id and secret are form-encoded inside Basic, so %5F must decode to '_'. */
TEST(basic_credentials_are_form_decoded)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    CHECK(strchr(a.id, '_') && strchr(a.secret, '_'));
    char id[256] = "", secret[256] = "";
    for (const char *p = a.id; *p; p++)
        snprintf(id + strlen(id), sizeof id - strlen(id), *p == '_' ? "%%5F" : "%c", *p);
    for (const char *p = a.secret; *p; p++)
        snprintf(secret + strlen(secret), sizeof secret - strlen(secret), *p == '_' ? "%%5f" : "%c",
                 *p);
    const char *h[] = {ts_basic_header(ts_printf("%s:%s", id, secret)), NULL};
    long long before = (long long)time(NULL);
    struct ts_resp *r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials");
    long long after = (long long)time(NULL);
    int ok;
    check_token_response(s, r, &a, before, after, &ok);
    CHECK(ok);
    /* the scheme name is case-insensitive (RFC 7235) */
    const char *lower[] = {ts_printf("authorization: basic %s", strstr(ts_basic(&a), "Basic ") + 6),
                           NULL};
    r = ts_post(s, "/oauth/token", lower, "grant_type=client_credentials");
    CHECK_INT(r->status, 200);
}

TEST(scope_narrows_roles)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    json_t *hdr, *claims;
    struct ts_resp *r = ts_token(s, &a, "scope=mid%40proj_prod");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "scope"), "mid@proj_prod");
    CHECK_INT(ts_jint(r->json, "expires_in"), 3600);
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jarray_join(json_object_get(claims, "roles")), "mid@proj_prod");
    CHECK_STR(ts_jstr(claims, "scope"), "mid@proj_prod");

    r = ts_token(s, &a, "scope=zeta+alpha");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "scope"), "zeta alpha");
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jarray_join(json_object_get(claims, "roles")), "alpha,zeta");

    /* the scope answered is normalised: single spaces, each value once, in request order */
    r = ts_token(s, &a, "scope=+alpha++zeta+alpha+");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "scope"), "alpha zeta");
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jarray_join(json_object_get(claims, "roles")), "alpha,zeta");
    CHECK_STR(ts_jstr(claims, "scope"), "alpha zeta");

    r = ts_token(s, &a, "scope=idp%3Aadmin");
    CHECK_OAUTH_ERROR(r, 400, "invalid_scope");
    r = ts_token(s, &a, "scope=alpha+beta");
    CHECK_OAUTH_ERROR(r, 400, "invalid_scope");
    r = ts_token(s, &a, "scope=mid"); /* a prefix of a role is not the role */
    CHECK_OAUTH_ERROR(r, 400, "invalid_scope");
}

TEST(account_without_roles)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, NULL);
    CHECK(s);
    json_t *hdr, *claims;
    struct ts_resp *r = ts_token(s, &a, NULL);
    CHECK_INT(r->status, 200);
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK(json_is_array(json_object_get(claims, "roles")));
    CHECK_INT(json_array_size(json_object_get(claims, "roles")), 0);
}

/* resource/audience may only name a served audience; by default that is the issuer. */
TEST(audience_parameter)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    json_t *hdr, *claims;
    struct ts_resp *r = ts_token(s, &a, ts_printf("resource=%s", s->url));
    CHECK_INT(r->status, 200);
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "aud"), s->url);
    r = ts_token(s, &a, "resource=https://elsewhere.example");
    CHECK_OAUTH_ERROR(r, 400, "invalid_target");
    r = ts_token(s, &a, ts_printf("resource=%s&audience=https://elsewhere.example", s->url));
    CHECK_OAUTH_ERROR(r, 400, "invalid_target");
}

/* The default cache: a second request with the same pair succeeds; a wrong secret after a cached
 * success still fails. */
TEST(secret_cache_default)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a, messy_roles);
    CHECK(s);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    struct ts_account wrong = a;
    wrong.secret[strlen(wrong.secret) - 1] ^= 1;
    struct ts_resp *r = ts_token(s, &wrong, NULL);
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    CHECK(ts_header(r, "WWW-Authenticate") != NULL);
    /* a longer secret that starts with the right one is still wrong */
    wrong = a;
    size_t sl = strlen(wrong.secret); /* 50 of 128 bytes */
    wrong.secret[sl] = 'x';
    wrong.secret[sl + 1] = '\0';
    CHECK_OAUTH_ERROR(ts_token(s, &wrong, NULL), 401, "invalid_client");
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

TEST(secret_cache_disabled)
{
    const char *env[] = {"IDPD_SECRET_CACHE_TTL=0", NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "uncached", messy_roles, NULL, &a), 0);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    struct ts_account wrong = a;
    wrong.secret[8] = wrong.secret[8] == 'A' ? 'B' : 'A';
    CHECK_OAUTH_ERROR(ts_token(s, &wrong, NULL), 401, "invalid_client");
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(client_secret_basic_token);
    RUN(client_secret_post_token);
    RUN(basic_credentials_are_form_decoded);
    RUN(scope_narrows_roles);
    RUN(account_without_roles);
    RUN(audience_parameter);
    RUN(secret_cache_default);
    RUN(secret_cache_disabled);
    return ts_done();
}
