/* grant_type=password: an application logs a user in with email and password. The tokens (user
 * claims of DESIGN.md §4, the ID token with openid) verify against /jwks; an unknown user and a
 * wrong password are indistinguishable; client and request errors answer RFC 6749 errors and make
 * no session. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
static const char *const anon_only[] = {"urn:idpd:grant-type:anonymous", NULL};
static const char *const on[] = {"--allow-registration", NULL};

#define EMAIL "grace.hopper@example.com"
#define PASSWORD "COBOL forever 1959"

struct fixture {
    struct ts_server *s;
    struct ts_account app; /* public: password, refresh_token */
    const char *user_id;
};

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on};
    f->s = ts_start(&o);
    if (!f->s || ts_app_create(f->s->data, "web", app_grants, NULL, &f->app) != 0)
        return 0;
    const char *body = ts_printf("{\"client_id\":\"%s\",\"email\":\"%s\",\"password\":\"%s\","
                                 "\"name\":\"Grace Hopper\"}",
                                 f->app.id, EMAIL, PASSWORD);
    struct ts_resp *r = ts_bearer(f->s, "POST", "/v1/register", NULL, body);
    f->user_id = ts_jstr(r->json, "id");
    if (r->status != 201 || !f->user_id) {
        fprintf(stderr, "  register: %ld %s\n", r->status, r->body);
        return 0;
    }
    return 1;
}

/* The claims of token after checking its header (typ) and its signature against /jwks. */
static json_t *verified_claims(struct ts_server *s, const char *token, const char *typ)
{
    json_t *h = NULL, *claims = NULL;
    if (!token || ts_jwt_decode(token, &h, &claims) != 0)
        return NULL;
    const char *t = ts_jstr(h, "typ"), *alg = ts_jstr(h, "alg");
    if (!t || strcmp(t, typ) != 0 || !alg || strcmp(alg, "ES256") != 0 || !ts_jstr(h, "kid")) {
        fprintf(stderr, "  header %s\n", (char *)ts_keep(json_dumps(h, JSON_COMPACT)));
        return NULL;
    }
    struct ts_resp *jwks = ts_get(s, "/jwks");
    json_t *jwk = ts_jwks_key(jwks->json, ts_jstr(h, "kid"));
    if (!jwk || !ts_es256_verify(token, jwk)) {
        fprintf(stderr, "  the %s does not verify against /jwks\n", typ);
        return NULL;
    }
    return claims;
}

/* Sessions of the user as /v1/me/sessions lists them (-1 when the call fails). */
static long sessions_of(struct ts_server *s, const char *access_token)
{
    struct ts_resp *r = ts_bearer(s, "GET", "/v1/me/sessions", access_token, NULL);
    if (r->status != 200)
        return -1;
    return (long)json_array_size(json_object_get(r->json, "items"));
}

TEST(password_login_tokens)
{
    struct fixture f;
    CHECK(setup(&f));
    long long before = (long long)time(NULL);
    struct ts_resp *r = ts_login(f.s, f.app.id, EMAIL, PASSWORD, NULL);
    long long after = (long long)time(NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_STR(ts_header(r, "Pragma"), "no-cache");
    CHECK_STR(ts_jstr(r->json, "token_type"), "Bearer");
    CHECK_INT(ts_jint(r->json, "expires_in"), 3600);
    const char *rt = ts_jstr(r->json, "refresh_token");
    size_t rl = 0;
    CHECK(rt && ts_b64url_decode(rt, strlen(rt), &rl) && rl == 32); /* 256 random bits */
    CHECK(!json_object_get(r->json, "id_token"));                   /* no openid, no ID token */
    CHECK(!json_object_get(r->json, "scope"));
    CHECK_INT(json_object_size(r->json), 4);

    json_t *c = verified_claims(f.s, ts_jstr(r->json, "access_token"), "at+jwt");
    CHECK(c);
    CHECK_STR(ts_jstr(c, "iss"), f.s->issuer);
    CHECK_STR(ts_jstr(c, "aud"), f.s->issuer);
    CHECK_STR(ts_jstr(c, "sub"), f.user_id);
    CHECK(strncmp(ts_jstr(c, "sub"), "usr_", 4) == 0);
    CHECK_STR(ts_jstr(c, "client_id"), f.app.id);
    CHECK(strncmp(f.app.id, "app_", 4) == 0);
    CHECK_STR(ts_jstr(c, "principal_type"), "user");
    const char *sid = ts_jstr(c, "sid");
    CHECK(sid && strncmp(sid, "ses_", 4) == 0);
    long long iat = ts_jint(c, "iat"), auth_time = ts_jint(c, "auth_time");
    CHECK(iat >= before && iat <= after);
    CHECK_INT(ts_jint(c, "exp") - iat, 3600);
    CHECK(auth_time >= before && auth_time <= after);
    CHECK_STR(ts_jarray_join(json_object_get(c, "amr")), "pwd");
    CHECK(json_is_array(json_object_get(c, "roles")));
    CHECK_INT(json_array_size(json_object_get(c, "roles")), 0);
    CHECK(ts_jstr(c, "jti"));
    CHECK(!json_object_get(c, "scope"));
    CHECK(!json_object_get(c, "email")); /* profile claims belong to the ID token */
    /* idpd takes the token at its own endpoints: the session it names is the current one */
    struct ts_resp *me = ts_bearer(f.s, "GET", "/v1/me", ts_jstr(r->json, "access_token"), NULL);
    CHECK_INT(me->status, 200);
    CHECK_STR(ts_jstr(me->json, "id"), f.user_id);
    struct ts_resp *ss =
        ts_bearer(f.s, "GET", "/v1/me/sessions", ts_jstr(r->json, "access_token"), NULL);
    CHECK_INT(ss->status, 200);
    json_t *items = json_object_get(ss->json, "items");
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), sid);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "amr"), "pwd");
    CHECK_STR(ts_jstr(json_array_get(items, 0), "client_id"), f.app.id);
    /* a second login is another session */
    struct ts_resp *r2 = ts_login(f.s, f.app.id, EMAIL, PASSWORD, NULL);
    CHECK_INT(r2->status, 200);
    json_t *c2 = verified_claims(f.s, ts_jstr(r2->json, "access_token"), "at+jwt");
    CHECK(c2);
    CHECK(strcmp(ts_jstr(c2, "sid"), sid) != 0);
    CHECK(strcmp(ts_jstr(r2->json, "refresh_token"), rt) != 0);
}

TEST(openid_id_token)
{
    struct fixture f;
    CHECK(setup(&f));
    long long before = (long long)time(NULL);
    struct ts_resp *r =
        ts_login(f.s, f.app.id, EMAIL, PASSWORD, "scope=openid+email&nonce=n-0S6_WzA2Mj");
    long long after = (long long)time(NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "scope"), "openid email");
    CHECK(ts_jstr(r->json, "refresh_token"));
    json_t *at = verified_claims(f.s, ts_jstr(r->json, "access_token"), "at+jwt");
    CHECK(at);
    CHECK_STR(ts_jstr(at, "scope"), "openid email");
    json_t *id = verified_claims(f.s, ts_jstr(r->json, "id_token"), "JWT");
    CHECK(id);
    CHECK_STR(ts_jstr(id, "iss"), f.s->issuer);
    CHECK_STR(ts_jstr(id, "aud"), f.app.id);
    CHECK_STR(ts_jstr(id, "sub"), f.user_id);
    CHECK_STR(ts_jstr(id, "sid"), ts_jstr(at, "sid"));
    CHECK_INT(ts_jint(id, "auth_time"), ts_jint(at, "auth_time"));
    long long iat = ts_jint(id, "iat");
    CHECK(iat >= before && iat <= after);
    CHECK(ts_jint(id, "exp") > iat);
    CHECK_STR(ts_jstr(id, "email"), EMAIL);
    CHECK(json_is_false(json_object_get(id, "email_verified")));
    CHECK_STR(ts_jstr(id, "name"), "Grace Hopper");
    CHECK_STR(ts_jstr(id, "nonce"), "n-0S6_WzA2Mj");
    /* the ID token is not an access token: idpd's endpoints refuse it */
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", ts_jstr(r->json, "id_token"), NULL),
                     ", error=\"invalid_token\"");
    /* without a nonce, none in the token */
    struct ts_resp *r2 = ts_login(f.s, f.app.id, EMAIL, PASSWORD, "scope=openid");
    CHECK_INT(r2->status, 200);
    CHECK_STR(ts_jstr(r2->json, "scope"), "openid");
    json_t *id2 = verified_claims(f.s, ts_jstr(r2->json, "id_token"), "JWT");
    CHECK(id2);
    CHECK(!json_object_get(id2, "nonce"));
    CHECK(strcmp(ts_jstr(id2, "sid"), ts_jstr(id, "sid")) != 0);
    /* other known scopes without openid: no ID token */
    struct ts_resp *r3 = ts_login(f.s, f.app.id, EMAIL, PASSWORD, "scope=profile+offline_access");
    CHECK_INT(r3->status, 200);
    CHECK(!json_object_get(r3->json, "id_token"));
    CHECK(ts_jstr(r3->json, "refresh_token"));
}

TEST(unknown_user_and_wrong_password_look_the_same)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *unknown = ts_login(f.s, f.app.id, "nobody@example.com", PASSWORD, NULL);
    struct ts_resp *wrong = ts_login(f.s, f.app.id, EMAIL, "COBOL forever 1960", NULL);
    struct ts_resp *wrong_case = ts_login(f.s, f.app.id, EMAIL, "cobol forever 1959", NULL);
    CHECK_OAUTH_ERROR(unknown, 400, "invalid_grant");
    CHECK_OAUTH_ERROR(wrong, 400, "invalid_grant");
    CHECK_OAUTH_ERROR(wrong_case, 400, "invalid_grant");
    CHECK_STR(wrong->body, unknown->body);
    CHECK_STR(wrong_case->body, unknown->body);
    CHECK(!ts_header(unknown, "WWW-Authenticate") && !ts_header(wrong, "WWW-Authenticate"));
    /* a 2000-byte password is no password anyone has */
    char *big = ts_keep(malloc(2001));
    memset(big, 'z', 2000);
    big[2000] = '\0';
    struct ts_resp *huge = ts_login(f.s, f.app.id, EMAIL, big, NULL);
    CHECK_OAUTH_ERROR(huge, 400, "invalid_grant");
    CHECK_STR(huge->body, unknown->body);
    /* an empty value counts as omitted (RFC 6749 §3.1) */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, EMAIL, "", NULL), 400, "invalid_request");
    /* the email matches in any case; the password does not */
    struct ts_resp *ok = ts_login(f.s, f.app.id, "GRACE.Hopper@EXAMPLE.com", PASSWORD, NULL);
    CHECK_MSG(ok->status == 200, "%ld %s", ok->status, ok->body);
    /* the failures made no session: the one login is the only one */
    CHECK_INT(sessions_of(f.s, ts_jstr(ok->json, "access_token")), 1);
}

TEST(client_must_be_allowed)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_account sa, anon_app, conf;
    CHECK_INT(ts_sa_create(f.s->data, "batch", NULL, NULL, &sa), 0);
    CHECK_INT(ts_app_create(f.s->data, "guest-only", anon_only, NULL, &anon_app), 0);
    CHECK_INT(ts_app_create(f.s->data, "backend", app_grants, "confidential", &conf), 0);
    CHECK(strncmp(conf.secret, "idpsec_", 7) == 0);
    const char *creds = ts_printf("grant_type=password&username=%s&password=%s",
                                  ts_form_escape(EMAIL), ts_form_escape(PASSWORD));

    /* a service account authenticates, but password is not among its grants */
    const char *hsa[] = {ts_basic(&sa), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", hsa, creds), 400, "unauthorized_client");
    CHECK_OAUTH_ERROR(ts_login(f.s, sa.id, EMAIL, PASSWORD, NULL), 401, "invalid_client");
    /* an application without the password grant */
    struct ts_resp *r = ts_login(f.s, anon_app.id, EMAIL, PASSWORD, NULL);
    CHECK_OAUTH_ERROR(r, 400, "unauthorized_client");
    CHECK(strstr(ts_jstr(r->json, "error_description"), "password") != NULL);
    /* unknown client_id, or none */
    CHECK_OAUTH_ERROR(ts_login(f.s, "app_00000000000000000000000000", EMAIL, PASSWORD, NULL), 401,
                      "invalid_client");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL, creds), 401, "invalid_client");
    /* a public application sends no secret, in the form or in Basic */
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL,
                              ts_printf("%s&client_id=%s&client_secret=whatever", creds, f.app.id)),
                      401, "invalid_client");
    const char *hpub[] = {ts_basic_header(ts_printf("%s:whatever", f.app.id)), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", hpub, creds), 401, "invalid_client");
    /* a confidential application must: none, a wrong one, then the right one both ways */
    CHECK_OAUTH_ERROR(ts_login(f.s, conf.id, EMAIL, PASSWORD, NULL), 401, "invalid_client");
    const char *hbad[] = {ts_basic_header(ts_printf("%s:idpsec_wrong", conf.id)), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", hbad, creds), 401, "invalid_client");
    const char *hconf[] = {ts_basic(&conf), NULL};
    struct ts_resp *ok = ts_post(f.s, "/oauth/token", hconf, creds);
    CHECK_MSG(ok->status == 200, "%ld %s", ok->status, ok->body);
    json_t *c = verified_claims(f.s, ts_jstr(ok->json, "access_token"), "at+jwt");
    CHECK(c);
    CHECK_STR(ts_jstr(c, "client_id"), conf.id);
    CHECK_STR(ts_jstr(c, "sub"), f.user_id);
    struct ts_resp *ok2 = ts_post(
        f.s, "/oauth/token", NULL,
        ts_printf("%s&client_id=%s&client_secret=%s", creds, conf.id, ts_form_escape(conf.secret)));
    CHECK_MSG(ok2->status == 200, "%ld %s", ok2->status, ok2->body);
    /* only the two confidential logins made sessions */
    CHECK_INT(sessions_of(f.s, ts_jstr(ok->json, "access_token")), 2);
}

TEST(bad_requests)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *app = f.app.id, *u = ts_form_escape(EMAIL), *p = ts_form_escape(PASSWORD);
    const struct {
        const char *form;
        const char *error;
    } cases[] = {
        {ts_printf("grant_type=password&client_id=%s&password=%s", app, p), "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&username=%s", app, u), "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s", app), "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&username=%s&username=%s&password=%s", app, u,
                   u, p),
         "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&username=%s&password=%s&password=%s", app, u,
                   p, p),
         "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&username=%s&password=%s&scope=openid&"
                   "scope=openid",
                   app, u, p),
         "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&client_id=%s&username=%s&password=%s", app,
                   app, u, p),
         "invalid_request"},
        {ts_printf("grant_type=password&client_id=%s&username=%s&password=%s&scope=admin", app, u,
                   p),
         "invalid_scope"},
        {ts_printf(
             "grant_type=password&client_id=%s&username=%s&password=%s&scope=openid+idp%%3Aadmin",
             app, u, p),
         "invalid_scope"},
        {ts_printf("grant_type=password&client_id=%s&username=%s&password=%s%%ff", app, u, p),
         "invalid_request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_resp *r = ts_post(f.s, "/oauth/token", NULL, cases[i].form);
        CHECK_MSG(r->status == 400 && ts_jstr(r->json, "error") &&
                      strcmp(ts_jstr(r->json, "error"), cases[i].error) == 0,
                  "%s: %ld %s", cases[i].form, r->status, r->body);
        CHECK_OAUTH_ERROR(r, 400, cases[i].error);
    }
    /* a JSON body is not a form */
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .body = ts_printf("{\"grant_type\":\"password\",\"client_id\":\"%s\","
                                          "\"username\":\"%s\",\"password\":\"%s\"}",
                                          app, EMAIL, PASSWORD),
                        .content_type = "application/json"};
    CHECK_OAUTH_ERROR(ts_do(f.s, &rq), 400, "invalid_request");
    /* none of it made a session */
    struct ts_resp *ok = ts_login(f.s, app, EMAIL, PASSWORD, NULL);
    CHECK_INT(ok->status, 200);
    CHECK_INT(sessions_of(f.s, ts_jstr(ok->json, "access_token")), 1);
}

/* A hash made with other Argon2 parameters than the current ones is re-made on the next
 * successful login (DESIGN.md §6), never on a failed one; the password works throughout. */
TEST(rehash_on_login_when_parameters_change)
{
    const char *data = ts_path("data");
    const char *cheap[] = {"IDPD_ARGON2_MEMORY_KIB=8192", "IDPD_ARGON2_ITERATIONS=1", NULL};
    struct ts_opts o1 = {.data = data, .env = cheap, .args = on};
    struct ts_server *s1 = ts_start(&o1);
    CHECK(s1);
    struct ts_account app;
    CHECK_INT(ts_app_create(data, "web", app_grants, NULL, &app), 0);
    CHECK_INT(ts_register(s1, app.id, EMAIL, PASSWORD)->status, 201);
    const char *phc1 = ts_store_password_phc(data, EMAIL);
    CHECK_MSG(phc1 && strstr(phc1, "$m=8192,t=1,p=1$"), "phc %s", phc1 ? phc1 : "(none)");
    CHECK_INT(ts_login(s1, app.id, EMAIL, PASSWORD, NULL)->status, 200);
    CHECK_STR(ts_store_password_phc(data, EMAIL), phc1); /* the parameters are current */
    CHECK_INT(ts_stop(s1), 0);

    struct ts_opts o2 = {.data = data};
    struct ts_server *s2 = ts_start(&o2);
    CHECK(s2);
    CHECK_OAUTH_ERROR(ts_login(s2, app.id, EMAIL, "not the password", NULL), 400, "invalid_grant");
    CHECK_STR(ts_store_password_phc(data, EMAIL), phc1);
    CHECK_INT(ts_login(s2, app.id, EMAIL, PASSWORD, NULL)->status, 200);
    const char *phc2 = ts_store_password_phc(data, EMAIL);
    CHECK_MSG(phc2 && strstr(phc2, "$m=19456,t=2,p=1$"), "phc %s", phc2 ? phc2 : "(none)");
    CHECK_INT(ts_login(s2, app.id, EMAIL, PASSWORD, NULL)->status, 200);
    CHECK_STR(ts_store_password_phc(data, EMAIL), phc2);
    CHECK_OAUTH_ERROR(ts_login(s2, app.id, EMAIL, "not the password", NULL), 400, "invalid_grant");
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(password_login_tokens);
    RUN(openid_id_token);
    RUN(unknown_user_and_wrong_password_look_the_same);
    RUN(client_must_be_allowed);
    RUN(bad_requests);
    RUN(rehash_on_login_when_parameters_change);
    return ts_done();
}
