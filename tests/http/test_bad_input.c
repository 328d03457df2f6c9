/* Failure paths of the token endpoint: each gets a clear error and changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

static const char *const roles[] = {"reader", NULL};

static struct ts_server *start_with_account(struct ts_account *a)
{
    struct ts_server *s = ts_start(NULL);
    if (!s || ts_sa_create(s->data, "batch-job", roles, NULL, a) != 0)
        return NULL;
    return s;
}

static struct ts_resp *post_body(struct ts_server *s, const char *const *headers, const char *body,
                                 size_t len, const char *content_type)
{
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .headers = headers,
                        .body = body,
                        .body_len = len,
                        .content_type = content_type};
    return ts_do(s, &rq);
}

/* A wrong secret and an unknown client get the same 401, challenge included. */
TEST(wrong_secret_and_unknown_client_401)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    struct ts_account wrong = a;
    wrong.secret[10] = wrong.secret[10] == 'x' ? 'y' : 'x';
    struct ts_resp *r1 = ts_token(s, &wrong, NULL);
    CHECK_OAUTH_ERROR(r1, 401, "invalid_client");
    const char *challenge = ts_header(r1, "WWW-Authenticate");
    CHECK(challenge && strncmp(challenge, "Basic ", 6) == 0);

    struct ts_account unknown = a;
    memcpy(unknown.id + strlen(unknown.id) - 4, "zzzz", 4);
    struct ts_resp *r2 = ts_token(s, &unknown, NULL);
    CHECK_OAUTH_ERROR(r2, 401, "invalid_client");
    CHECK_STR(ts_header(r2, "WWW-Authenticate"), challenge);
    CHECK_STR(r2->body, r1->body);

    /* the same through client_secret_post */
    struct ts_resp *r3 = ts_post(
        s, "/oauth/token", NULL,
        ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", a.id, "nope"));
    CHECK_OAUTH_ERROR(r3, 401, "invalid_client");
    CHECK_STR(r3->body, r1->body);
    struct ts_resp *r4 =
        ts_post(s, "/oauth/token", NULL,
                ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s",
                          "sa_nobody", a.secret));
    CHECK_OAUTH_ERROR(r4, 401, "invalid_client");
    CHECK_STR(r4->body, r1->body);
    /* an empty secret and an oversized one */
    struct ts_account empty = a;
    empty.secret[0] = '\0';
    CHECK_OAUTH_ERROR(ts_token(s, &empty, NULL), 401, "invalid_client");
    char *big = ts_keep(malloc(400));
    memset(big, 'A', 399);
    big[399] = '\0';
    const char *h[] = {ts_basic_header(ts_printf("%s:%s", a.id, big)), NULL};
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, "grant_type=client_credentials"), 401,
                      "invalid_client");
    /* nothing changed */
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

TEST(missing_credentials_401)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    struct ts_resp *r = ts_post(s, "/oauth/token", NULL, "grant_type=client_credentials");
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    CHECK(ts_header(r, "WWW-Authenticate") != NULL);
    /* a client_id without a secret */
    r = ts_post(s, "/oauth/token", NULL,
                ts_printf("grant_type=client_credentials&client_id=%s", a.id));
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    /* an empty client_id counts as none */
    r = ts_post(s, "/oauth/token", NULL,
                ts_printf("grant_type=client_credentials&client_id=&client_secret=%s", a.secret));
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
}

TEST(malformed_basic_401)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    static const char *const bad[] = {
        "Authorization: Basic",              /* nothing */
        "Authorization: Basic !!!!",         /* not base64 */
        "Authorization: Basic bm9jb2xvbg==", /* "nocolon" */
        "Authorization: Basic YWJj",         /* "abc" */
        "Authorization: Basic YTpi=",        /* bad padding */
        "Authorization: Basic YT%6Ei",       /* percent in base64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *h[] = {bad[i], NULL};
        struct ts_resp *r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials");
        CHECK_OAUTH_ERROR(r, 401, "invalid_client");
        CHECK(ts_header(r, "WWW-Authenticate") != NULL);
    }
    /* a bad %-escape inside the Basic pair */
    const char *h[] = {ts_basic_header(ts_printf("%s:%%zz%s", a.id, a.secret)), NULL};
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, "grant_type=client_credentials"), 401,
                      "invalid_client");
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

TEST(basic_and_body_secret_400)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *h[] = {ts_basic(&a), NULL};
    struct ts_resp *r =
        ts_post(s, "/oauth/token", h,
                ts_printf("grant_type=client_credentials&client_secret=%s", a.secret));
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* a body client_id that differs from the Basic one */
    r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials&client_id=sa_other");
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* the same client_id in both places is fine */
    r = ts_post(s, "/oauth/token", h,
                ts_printf("grant_type=client_credentials&client_id=%s", a.id));
    CHECK_INT(r->status, 200);
}

TEST(bearer_at_token_endpoint_401)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *tok = ts_token_str(s, &a);
    CHECK(tok);
    const char *h[] = {ts_printf("Authorization: Bearer %s", tok), NULL};
    struct ts_resp *r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials");
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    CHECK(ts_header(r, "WWW-Authenticate") != NULL);
    /* even with the right client in the body */
    r = ts_post(
        s, "/oauth/token", h,
        ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", a.id, a.secret));
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
}

TEST(unsupported_and_missing_grant_type)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *h[] = {ts_basic(&a), NULL};
    static const char *const unknown[] = {"foo", "implicit", "CLIENT_CREDENTIALS",
                                          "urn:idpd:grant-type:ANONYMOUS"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        struct ts_resp *r =
            ts_post(s, "/oauth/token", h, ts_printf("grant_type=%s", ts_form_escape(unknown[i])));
        CHECK_OAUTH_ERROR(r, 400, "unsupported_grant_type");
    }
    /* without credentials too: an unknown grant is judged first */
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", NULL, "grant_type=foo&username=a"), 400,
                      "unsupported_grant_type");
    /* grants idpd knows but only applications listed for them may use: a service account that
     * authenticates is refused them */
    static const char *const app_only[] = {"password&username=a%40b.c&password=12345678",
                                           "refresh_token&refresh_token=abc",
                                           "urn%3Aidpd%3Agrant-type%3Aanonymous"};
    for (size_t i = 0; i < sizeof app_only / sizeof app_only[0]; i++) {
        struct ts_resp *r = ts_post(s, "/oauth/token", h, ts_printf("grant_type=%s", app_only[i]));
        CHECK_OAUTH_ERROR(r, 400, "unauthorized_client");
    }
    /* a known grant without credentials: client authentication comes first */
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", NULL, "grant_type=password&username=a"), 401,
                      "invalid_client");
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, "scope=reader"), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, "grant_type="), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, ""), 400, "invalid_request");
    /* nothing changed */
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

TEST(wrong_content_type_400)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *h[] = {ts_basic(&a), NULL};
    const char *json = "{\"grant_type\":\"client_credentials\"}";
    CHECK_OAUTH_ERROR(post_body(s, h, json, 0, "application/json"), 400, "invalid_request");
    CHECK_OAUTH_ERROR(post_body(s, h, "grant_type=client_credentials", 0, "text/plain"), 400,
                      "invalid_request");
    CHECK_OAUTH_ERROR(post_body(s, h, "grant_type=client_credentials", 0, ""), 400,
                      "invalid_request");
    CHECK_OAUTH_ERROR(
        post_body(s, h, "grant_type=client_credentials", 0, "application/x-www-form-urlencodedx"),
        400, "invalid_request");
    /* parameters after the type are fine */
    struct ts_resp *r = post_body(s, h, "grant_type=client_credentials", 0,
                                  "application/x-www-form-urlencoded; charset=UTF-8");
    CHECK_INT(r->status, 200);
}

TEST(malformed_form_400)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *h[] = {ts_basic(&a), NULL};
    static const char *const bad[] = {
        "grant_type=client_credentials&a=%zz",       /* bad escape */
        "grant_type=client_credentials&a=%ff",       /* invalid UTF-8 */
        "grant_type=client_credentials&a=%4",        /* truncated escape */
        "grant_type=client_credentials&a=%",         /* bare percent */
        "grant_type=client_credentials&a=%00",       /* NUL */
        "grant_type=client_credentials&a=%c0%af",    /* overlong '/' */
        "grant_type=client_credentials&a=%ed%a0%80", /* UTF-16 surrogate */
        "grant_type=client_credentials&%zz=1",       /* bad escape in a name */
        "grant_type=client_credentials%zz",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = ts_post(s, "/oauth/token", h, bad[i]);
        CHECK_MSG(r->status == 400, "body %s: status %ld", bad[i], r->status);
        CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    }
    /* a raw byte that is not UTF-8 */
    CHECK_OAUTH_ERROR(post_body(s, h, "grant_type=client_credentials&a=\xff", 0, NULL), 400,
                      "invalid_request");
    /* well-formed escapes and UTF-8 are fine */
    struct ts_resp *r = ts_post(s, "/oauth/token", h,
                                "grant_type=client%5Fcredentials&note=caf%C3%A9+%E2%82%AC&&x");
    CHECK_INT(r->status, 200);
}

TEST(repeated_parameter_400)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *h[] = {ts_basic(&a), NULL};
    struct ts_resp *r = ts_post(s, "/oauth/token", h,
                                "grant_type=client_credentials&grant_type=client_credentials");
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    CHECK(strstr(ts_jstr(r->json, "error_description"), "grant_type") != NULL);
    r = ts_post(s, "/oauth/token", NULL,
                ts_printf("grant_type=client_credentials&client_id=%s&client_id=%s"
                          "&client_secret=%s",
                          a.id, a.id, a.secret));
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials&scope=reader&scope=reader");
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* an escaped name is the same name */
    r = ts_post(s, "/oauth/token", h, "grant_type=client_credentials&grant%5Ftype=foo");
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* too many parameters */
    char *many = ts_printf("grant_type=client_credentials");
    for (int i = 0; i < 40; i++)
        many = ts_printf("%s&p%d=1", many, i);
    CHECK_OAUTH_ERROR(ts_post(s, "/oauth/token", h, many), 400, "invalid_request");
}

/* A form body of exactly n bytes holding valid client_secret_post credentials. */
static char *sized_body(const struct ts_account *a, size_t n)
{
    const char *head = ts_printf(
        "grant_type=client_credentials&client_id=%s&client_secret=%s&pad=", a->id, a->secret);
    size_t hl = strlen(head);
    char *body = ts_keep(malloc(n + 1));
    memcpy(body, head, hl);
    memset(body + hl, 'a', n - hl);
    body[n] = '\0';
    return body;
}

TEST(body_limit_413)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    /* exactly the limit is accepted */
    struct ts_resp *r = post_body(s, NULL, sized_body(&a, 65536), 65536, NULL);
    CHECK_MSG(r->status == 200, "65536 bytes: %ld %s", r->status, r->body);
    CHECK(ts_jstr(r->json, "access_token") != NULL);
    /* one byte more is not; an OAuth endpoint answers in RFC 6749's shape */
    r = post_body(s, NULL, sized_body(&a, 65537), 65537, NULL);
    CHECK_OAUTH_ERROR(r, 413, "invalid_request");
    CHECK(strstr(ts_jstr(r->json, "error_description"), "65536") != NULL);
    /* the server keeps serving, on new connections and for the same client */
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    /* far beyond the limit: answered at once from the announced length */
    size_t big = 4u << 20;
    r = post_body(s, NULL, sized_body(&a, big), big, NULL);
    CHECK_OAUTH_ERROR(r, 413, "invalid_request");
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    /* the limit holds on every route; non-OAuth paths answer problem+json */
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/introspect",
                        .body = sized_body(&a, 70000),
                        .body_len = 70000};
    CHECK_OAUTH_ERROR(ts_do(s, &rq), 413, "invalid_request");
    rq.path = "/nope";
    CHECK_PROBLEM(ts_do(s, &rq), 413);
    rq.path = "/healthz";
    CHECK_PROBLEM(ts_do(s, &rq), 413);
}

TEST(chunked_body_limit)
{
    struct ts_account a;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    /* a chunked body within the limit works */
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .body = sized_body(&a, 60000),
                        .body_len = 60000,
                        .chunked = 1};
    struct ts_resp *r = ts_do(s, &rq);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    /* over the limit: read, discarded and answered 413 */
    rq.body = sized_body(&a, 65537);
    rq.body_len = 65537;
    r = ts_do(s, &rq);
    CHECK_OAUTH_ERROR(r, 413, "invalid_request");
    rq.body = sized_body(&a, 900000);
    rq.body_len = 900000;
    CHECK_OAUTH_ERROR(ts_do(s, &rq), 413, "invalid_request");
    /* past the 1 MiB the server is willing to discard, it closes the connection unanswered */
    rq.body = sized_body(&a, 3u << 20);
    rq.body_len = 3u << 20;
    r = ts_do(s, &rq);
    CHECK_MSG(r->curl != CURLE_OK && r->status == 0, "curl %d, status %ld", (int)r->curl,
              r->status);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

/* A barrage of bad requests leaves the keys, the account and its tokens as they were. */
TEST(bad_input_changes_nothing)
{
    struct ts_account a, checker;
    struct ts_server *s = start_with_account(&a);
    CHECK(s);
    const char *const intro_roles[] = {"idp:introspect", NULL};
    CHECK_INT(ts_sa_create(s->data, "checker", intro_roles, NULL, &checker), 0);
    const char *tok = ts_token_str(s, &a);
    CHECK(tok);
    struct ts_resp *jwks = ts_get(s, "/jwks");
    CHECK_INT(jwks->status, 200);
    const char *h[] = {ts_basic(&a), NULL};
    struct ts_account wrong = a;
    wrong.secret[12] = wrong.secret[12] == 'q' ? 'r' : 'q';
    static const char *const forms[] = {"grant_type=password",
                                        "grant_type=client_credentials&a=%zz",
                                        "grant_type=client_credentials&grant_type=x", "",
                                        "grant_type=client_credentials&scope=admin"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        CHECK_INT(ts_post(s, "/oauth/token", h, forms[i])->status, 400);
    CHECK_INT(ts_token(s, &wrong, NULL)->status, 401);
    CHECK_INT(ts_revoke(s, &wrong, tok)->status, 401);
    CHECK_INT(ts_introspect(s, &wrong, tok)->status, 401);
    CHECK_INT(post_body(s, h, sized_body(&a, 70000), 70000, NULL)->status, 413);
    CHECK_INT(ts_get(s, "/oauth/revoke")->status, 405);

    struct ts_resp *after = ts_get(s, "/jwks");
    CHECK_STR(after->body, jwks->body);
    struct ts_resp *r = ts_introspect(s, &checker, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    CHECK_INT(ts_get(s, "/readyz")->status, 200);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(wrong_secret_and_unknown_client_401);
    RUN(missing_credentials_401);
    RUN(malformed_basic_401);
    RUN(basic_and_body_secret_400);
    RUN(bearer_at_token_endpoint_401);
    RUN(unsupported_and_missing_grant_type);
    RUN(wrong_content_type_400);
    RUN(malformed_form_400);
    RUN(repeated_parameter_400);
    RUN(body_limit_413);
    RUN(chunked_body_limit);
    RUN(bad_input_changes_nothing);
    return ts_done();
}
