/* The browser flow: /oauth/authorize with PKCE, the login page, the SSO cookie, consent, the
 * code exchange and logout, driven by a cookie-keeping client that follows no redirect, so every
 * step and every error path is looked at. The same flow in a real browser is tests/browser. */
#include <string.h>
#include <unistd.h>

#include "support.h"

#define REDIRECT "http://127.0.0.1:7777/cb"
#define BYE "http://127.0.0.1:7777/bye"
#define THIRD_REDIRECT "https://third.example/cb"
/* RFC 7636 appendix B */
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define EMAIL "ada@example.com"
#define PASSWORD "correct horse battery"

static const char *const env[] = {"IDPD_RATE_LIMIT_REGISTER=0", "IDPD_CODE_TTL=2", NULL};
static const char *const args[] = {"--allow-registration", NULL};

struct fx {
    struct ts_server *s;
    const char *data;
    struct ts_account first, second, third;
};

/* An application with the code flow, made with the command line. */
static int app_create(const char *data, const char *name, const char *redirect, int first_party,
                      struct ts_account *out)
{
    const char *more[] = {"--name",
                          name,
                          "--grant",
                          "authorization_code",
                          "--grant",
                          "refresh_token",
                          "--redirect-uri",
                          redirect,
                          "--post-logout-redirect-uri",
                          BYE,
                          first_party ? "--first-party" : NULL,
                          NULL};
    return ts_app_create_with(data, more, out);
}

static int fx_start(struct fx *f)
{
    f->data = ts_path("data");
    if (!app_create(f->data, "Shop", REDIRECT, 1, &f->first) ||
        !app_create(f->data, "Back office", REDIRECT, 1, &f->second) ||
        !app_create(f->data, "Third <party> & co", THIRD_REDIRECT, 0, &f->third))
        return 0;
    struct ts_opts o = {.data = f->data, .env = env, .args = args};
    if (!(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->first.id, EMAIL, PASSWORD)->status == 201;
}

static const char *authorize_path(const char *client_id, const char *redirect, const char *extra)
{
    return ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                     "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=st%%20ate"
                     "&nonce=n-0S6&scope=openid%%20offline_access%s",
                     client_id, ts_form_escape(redirect), extra ? extra : "");
}

static struct ts_resp *get(struct fx *f, struct ts_browser *b, const char *path)
{
    struct ts_req r = {.path = path};
    return ts_browser_do(f->s, b, &r);
}

static struct ts_resp *post(struct fx *f, struct ts_browser *b, const char *path, const char *form)
{
    struct ts_req r = {.method = "POST", .path = path, .body = form};
    return ts_browser_do(f->s, b, &r);
}

/* The form of a page, posted back with extra fields appended (csrf as the page had it). */
static const char *form_of(const char *html, const char *extra)
{
    static const char *const names[] = {"csrf",
                                        "client_id",
                                        "redirect_uri",
                                        "response_type",
                                        "scope",
                                        "state",
                                        "nonce",
                                        "code_challenge",
                                        "code_challenge_method",
                                        "prompt",
                                        "login_hint",
                                        "max_age",
                                        NULL};
    const char *out = "";
    for (size_t i = 0; names[i]; i++) {
        const char *v = ts_html_field(html, names[i]);
        if (v)
            out = ts_printf("%s%s%s=%s", out, *out ? "&" : "", names[i], ts_form_escape(v));
    }
    return ts_printf("%s&%s", out, extra);
}

static const char *credentials(const char *email, const char *password)
{
    return ts_printf("email=%s&password=%s", ts_form_escape(email), ts_form_escape(password));
}

/* The code of a 303 to the redirect URI, after checking state and iss came with it. */
static const char *code_of(struct fx *f, struct ts_resp *r, const char *redirect)
{
    const char *loc = ts_header(r, "Location");
    if (r->status != 303 || !loc || strncmp(loc, redirect, strlen(redirect)) != 0)
        return NULL;
    const char *state = ts_url_param(loc, "state"), *iss = ts_url_param(loc, "iss");
    if (!state || strcmp(state, "st ate") != 0 || !iss || strcmp(iss, f->s->issuer) != 0)
        return NULL;
    return ts_url_param(loc, "code");
}

/* Signs in through the login page of client_id; the code. */
static const char *sign_in(struct fx *f, struct ts_browser *b, const char *client_id)
{
    struct ts_resp *page = get(f, b, authorize_path(client_id, REDIRECT, NULL));
    if (page->status != 200)
        return NULL;
    struct ts_resp *r = post(f, b, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)));
    const char *next = ts_header(r, "Location");
    if (r->status != 303 || !next)
        return NULL;
    return code_of(f, get(f, b, next), REDIRECT);
}

static struct ts_resp *exchange(struct fx *f, const char *client_id, const char *code,
                                const char *redirect, const char *verifier)
{
    return ts_post(f->s, "/oauth/token", NULL,
                   ts_printf("grant_type=authorization_code&client_id=%s&code=%s&redirect_uri=%s"
                             "&code_verifier=%s",
                             client_id, ts_form_escape(code), ts_form_escape(redirect), verifier));
}

TEST(code_flow_with_pkce_and_sso)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    /* the login page: the application's name, a CSRF token, labelled fields, no scripts */
    struct ts_resp *page =
        get(&f, b, authorize_path(f.first.id, REDIRECT, "&login_hint=ada%40example.com"));
    CHECK_INT(page->status, 200);
    CHECK_STR(ts_header(page, "Content-Type"), "text/html; charset=utf-8");
    CHECK_STR(ts_header(page, "Cache-Control"), "no-store");
    CHECK_STR(ts_header(page, "X-Frame-Options"), "DENY");
    CHECK(strstr(ts_header(page, "Content-Security-Policy"), "default-src 'none'") != NULL);
    CHECK(strstr(page->body, "Shop") && strstr(page->body, "<label for=\"email\">"));
    CHECK(strstr(page->body, "<label for=\"password\">") && !strstr(page->body, "<script"));
    CHECK_STR(ts_html_field(page->body, "email"), EMAIL);
    CHECK(ts_browser_cookie(b, "idpd_csrf") != NULL);
    CHECK_STR(ts_html_field(page->body, "csrf"), ts_browser_cookie(b, "idpd_csrf"));

    /* signing in sets the SSO cookie and goes back to /oauth/authorize, which gives the code */
    struct ts_resp *r = post(&f, b, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)));
    CHECK_INT(r->status, 303);
    const char *set = ts_header(r, "Set-Cookie");
    CHECK(set && strncmp(set, "idpd_session=", 13) == 0);
    CHECK(strstr(set, "HttpOnly") && strstr(set, "SameSite=Lax") && strstr(set, "Path=/"));
    CHECK(strstr(set, "Secure") == NULL); /* plain HTTP here; http.tls checks the HTTPS one */
    const char *next = ts_header(r, "Location");
    CHECK(next && strncmp(next, "/oauth/authorize?", 17) == 0);
    const char *code = code_of(&f, get(&f, b, next), REDIRECT);
    CHECK(code != NULL);

    /* the exchange: tokens with the nonce and the login's auth_time */
    r = exchange(&f, f.first.id, code, REDIRECT, VERIFIER);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    const char *access = ts_jstr(r->json, "access_token"),
               *refresh = ts_jstr(r->json, "refresh_token");
    json_t *hdr = NULL, *idt = NULL;
    CHECK_INT(ts_jwt_decode(ts_jstr(r->json, "id_token"), &hdr, &idt), 0);
    CHECK_STR(ts_jstr(idt, "nonce"), "n-0S6");
    CHECK_STR(ts_jstr(idt, "aud"), f.first.id);
    CHECK(ts_jint(idt, "auth_time") > 0);
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", access, NULL)->status, 200);

    /* single sign-on: the second application gets a code without a password */
    code = code_of(&f, get(&f, b, authorize_path(f.second.id, REDIRECT, NULL)), REDIRECT);
    CHECK(code != NULL);
    r = exchange(&f, f.second.id, code, REDIRECT, VERIFIER);
    CHECK_INT(r->status, 200);
    const char *second_refresh = ts_jstr(r->json, "refresh_token");

    /* the sessions are listed: the browser's and one per application */
    r = ts_bearer(f.s, "GET", "/v1/me/sessions", access, NULL);
    CHECK_INT(r->status, 200);
    json_t *items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 3);
    const char *browser_sid = NULL;
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(ts_jstr(json_array_get(items, i), "kind"), "browser") == 0)
            browser_sid = ts_jstr(json_array_get(items, i), "id");
    CHECK(browser_sid != NULL);
    for (size_t i = 0; browser_sid && i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (strcmp(ts_jstr(it, "kind"), "app") == 0)
            CHECK_STR(ts_jstr(it, "parent_id"), browser_sid);
    }

    /* a replayed code is refused and ends what it gave */
    r = exchange(&f, f.second.id, code, REDIRECT, VERIFIER);
    CHECK_OAUTH_ERROR(r, 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.second.id, second_refresh, NULL), 400, "invalid_grant");
    /* the first application's tokens are untouched, and refresh */
    r = ts_refresh(f.s, f.first.id, refresh, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(errors_before_the_redirect_uri_is_trusted_are_pages)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    const char *bad[] = {
        authorize_path("app_00000000000000000000000000", REDIRECT, NULL),
        authorize_path(f.first.id, "http://127.0.0.1:7777/other", NULL),
        authorize_path(f.first.id, "https://evil.example/cb", NULL),
        ts_printf("/oauth/authorize?client_id=%s&response_type=code", f.first.id),
        ts_printf("%s&client_id=%s", authorize_path(f.first.id, REDIRECT, NULL), f.first.id),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = get(&f, b, bad[i]);
        CHECK_MSG(r->status == 400, "%s: %ld", bad[i], r->status);
        CHECK(ts_header(r, "Location") == NULL);
        CHECK_STR(ts_header(r, "Content-Type"), "text/html; charset=utf-8");
    }
    /* a loopback redirect URI may name another port (RFC 8252 §7.3), never another path */
    CHECK_INT(get(&f, b, authorize_path(f.first.id, "http://127.0.0.1:51234/cb", NULL))->status,
              200);
    CHECK_INT(get(&f, b, authorize_path(f.first.id, "http://127.0.0.1:51234/cb2", NULL))->status,
              400);
    /* the page escapes what it shows */
    struct ts_resp *r = get(&f, b, authorize_path(f.third.id, THIRD_REDIRECT, NULL));
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "Third &lt;party&gt; &amp; co") != NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

/* Later errors go back to the application, with state. */
TEST(errors_after_are_redirected)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    struct {
        const char *query, *error;
    } cases[] = {
        {ts_printf(
             "/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code&state=st%%20ate",
             f.first.id, ts_form_escape(REDIRECT)),
         "invalid_request"}, /* no PKCE */
        {ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                   "&code_challenge=" CHALLENGE "&code_challenge_method=plain&state=st%%20ate",
                   f.first.id, ts_form_escape(REDIRECT)),
         "invalid_request"}, /* plain PKCE */
        {ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                   "&code_challenge=short&code_challenge_method=S256&state=st%%20ate",
                   f.first.id, ts_form_escape(REDIRECT)),
         "invalid_request"},
        {ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=token"
                   "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=st%%20ate",
                   f.first.id, ts_form_escape(REDIRECT)),
         "unsupported_response_type"},
        {ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                   "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=st%%20ate"
                   "&scope=openid%%20admin",
                   f.first.id, ts_form_escape(REDIRECT)),
         "invalid_scope"},
        {authorize_path(f.first.id, REDIRECT, "&prompt=none%20login"), "invalid_request"},
        {authorize_path(f.first.id, REDIRECT, "&prompt=none"), "login_required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_resp *r = get(&f, b, cases[i].query);
        const char *loc = ts_header(r, "Location");
        CHECK_MSG(r->status == 303 && loc, "%s: %ld", cases[i].query, r->status);
        CHECK(strncmp(loc, REDIRECT "?", strlen(REDIRECT) + 1) == 0);
        CHECK_STR(ts_url_param(loc, "error"), cases[i].error);
        CHECK_STR(ts_url_param(loc, "state"), "st ate");
        CHECK_STR(ts_url_param(loc, "iss"), f.s->issuer);
        CHECK(ts_url_param(loc, "code") == NULL);
    }
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(login_page_refuses_and_keeps_csrf)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    struct ts_resp *page = get(&f, b, authorize_path(f.first.id, REDIRECT, NULL));
    /* a wrong password and an unknown email: the same generic message, no cookie */
    const char *wrong[][2] = {{EMAIL, "not the password"}, {"nobody@example.com", PASSWORD}};
    const char *message = NULL;
    for (size_t i = 0; i < 2; i++) {
        struct ts_resp *r =
            post(&f, b, "/login", form_of(page->body, credentials(wrong[i][0], wrong[i][1])));
        CHECK_INT(r->status, 401);
        const char *m = strstr(r->body, "role=\"alert\"");
        CHECK(m != NULL);
        if (!message)
            message = ts_printf("%.*s", (int)(strchr(m, '<') - m), m);
        else
            CHECK_STR(ts_printf("%.*s", (int)(strchr(m, '<') - m), m), message);
        CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
        CHECK_STR(ts_html_field(r->body, "email"), wrong[i][0]); /* kept, the password not */
        CHECK(!strstr(r->body, wrong[i][1]));
    }
    /* without the CSRF token, or with another: refused before any check */
    const char *no_csrf = strstr(form_of(page->body, credentials(EMAIL, PASSWORD)), "&") + 1;
    CHECK_INT(post(&f, b, "/login", no_csrf)->status, 403);
    const char *other = ts_printf("csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&%s", no_csrf);
    CHECK_INT(post(&f, b, "/login", other)->status, 403);
    /* a browser without the cookie, form or not */
    struct ts_browser *stranger = ts_browser_new();
    CHECK_INT(
        post(&f, stranger, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)))->status,
        403);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    /* the hidden authorization request is checked again on the way back */
    const char *tampered = form_of(page->body, credentials(EMAIL, PASSWORD));
    tampered = ts_printf("%.*s", (int)(strstr(tampered, "redirect_uri=") - tampered), tampered);
    tampered = ts_printf("%sredirect_uri=https%%3A%%2F%%2Fevil.example&response_type=code"
                         "&code_challenge=" CHALLENGE "&code_challenge_method=S256&%s",
                         tampered, credentials(EMAIL, PASSWORD));
    CHECK_INT(post(&f, b, "/login", tampered)->status, 400);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

/* The password grant's brute-force defence holds on the page too. */
TEST(login_page_is_locked_after_failures)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    struct ts_resp *page = get(&f, b, authorize_path(f.first.id, REDIRECT, NULL));
    for (int i = 0; i < 5; i++)
        CHECK_INT(
            post(&f, b, "/login", form_of(page->body, credentials(EMAIL, "guess guess")))->status,
            401);
    struct ts_resp *r = post(&f, b, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)));
    CHECK_INT(r->status, 429);
    CHECK(strstr(r->body, "Too many failed sign-ins") != NULL);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(code_exchange_errors)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    const char *code = sign_in(&f, b, f.first.id);
    CHECK(code != NULL);
    /* each wrong part is the same invalid_grant, and none uses the code up */
    CHECK_OAUTH_ERROR(
        exchange(&f, f.first.id, code, REDIRECT, "wrong-verifier-wrong-verifier-wrong-verifier-x"),
        400, "invalid_grant");
    CHECK_OAUTH_ERROR(exchange(&f, f.first.id, code, "http://127.0.0.1:7777/other", VERIFIER), 400,
                      "invalid_grant");
    CHECK_OAUTH_ERROR(exchange(&f, f.second.id, code, REDIRECT, VERIFIER), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(exchange(&f, f.first.id, "not-a-code", REDIRECT, VERIFIER), 400,
                      "invalid_grant");
    CHECK_OAUTH_ERROR(exchange(&f, f.first.id, code, REDIRECT, "short"), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL,
                              ts_printf("grant_type=authorization_code&client_id=%s&code=%s",
                                        f.first.id, ts_form_escape(code))),
                      400, "invalid_request");
    CHECK_INT(exchange(&f, f.first.id, code, REDIRECT, VERIFIER)->status, 200);
    /* an expired code (code_ttl is 2 s here) */
    code = code_of(&f, get(&f, b, authorize_path(f.first.id, REDIRECT, NULL)), REDIRECT);
    CHECK(code != NULL);
    sleep(3);
    CHECK_OAUTH_ERROR(exchange(&f, f.first.id, code, REDIRECT, VERIFIER), 400, "invalid_grant");
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(consent_for_third_parties)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    CHECK(sign_in(&f, b, f.first.id) != NULL);
    /* signed in: the third party shows what it asks for */
    struct ts_resp *page = get(&f, b, authorize_path(f.third.id, THIRD_REDIRECT, NULL));
    CHECK_INT(page->status, 200);
    CHECK(strstr(page->body, "Confirm who you are") && strstr(page->body, "Keep you signed in"));
    CHECK(strstr(page->body, "action=\"/consent\"") != NULL);
    /* prompt=none cannot ask */
    struct ts_resp *r = get(&f, b, authorize_path(f.third.id, THIRD_REDIRECT, "&prompt=none"));
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "consent_required");
    /* deny, without CSRF, allow */
    /* neither allow nor deny: a page, and no code */
    r = post(&f, b, "/consent", form_of(page->body, "decision=maybe"));
    CHECK_INT(r->status, 400);
    CHECK_STR(ts_header(r, "Content-Type"), "text/html; charset=utf-8");
    CHECK(ts_header(r, "Location") == NULL);
    r = post(&f, b, "/consent", form_of(page->body, "decision=deny"));
    CHECK_INT(r->status, 303);
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "access_denied");
    CHECK_INT(
        post(&f, b, "/consent", strstr(form_of(page->body, "decision=allow"), "&") + 1)->status,
        403);
    const char *code =
        code_of(&f, post(&f, b, "/consent", form_of(page->body, "decision=allow")), THIRD_REDIRECT);
    CHECK(code != NULL);
    CHECK_INT(exchange(&f, f.third.id, code, THIRD_REDIRECT, VERIFIER)->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

/* Another user signing in in the same browser ends the first one's browser session and what
 * was made through it; the same user signing in again (prompt=login) keeps the others. */
TEST(a_new_login_replaces_another_users_session)
{
    struct fx f;
    CHECK(fx_start(&f));
    CHECK_INT(ts_register(f.s, f.first.id, "bob@example.com", "bobs long password")->status, 201);
    struct ts_browser *b = ts_browser_new();
    struct ts_resp *r = exchange(&f, f.first.id, sign_in(&f, b, f.first.id), REDIRECT, VERIFIER);
    CHECK_INT(r->status, 200);
    const char *ada_refresh = ts_jstr(r->json, "refresh_token");
    /* Ada again, with prompt=login: her application session stays */
    struct ts_resp *page = get(&f, b, authorize_path(f.first.id, REDIRECT, "&prompt=login"));
    CHECK_INT(page->status, 200);
    CHECK_INT(post(&f, b, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)))->status,
              303);
    r = ts_refresh(f.s, f.first.id, ada_refresh, NULL);
    CHECK_INT(r->status, 200);
    ada_refresh = ts_jstr(r->json, "refresh_token");
    /* Bob in the same browser: Ada's sessions made through it end */
    page = get(&f, b, authorize_path(f.first.id, REDIRECT, "&prompt=login"));
    CHECK_INT(post(&f, b, "/login",
                   form_of(page->body, credentials("bob@example.com", "bobs long password")))
                  ->status,
              303);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.first.id, ada_refresh, NULL), 400, "invalid_grant");
    CHECK_INT(ts_stop(f.s), 0);
}

/* OIDC max_age: a login older than that is asked for again; after it, the code comes. */
TEST(max_age_asks_for_a_fresh_login)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    CHECK(sign_in(&f, b, f.first.id) != NULL);
    CHECK(code_of(&f, get(&f, b, authorize_path(f.first.id, REDIRECT, "&max_age=3600")),
                  REDIRECT) != NULL);
    sleep(2);
    struct ts_resp *r = get(&f, b, authorize_path(f.first.id, REDIRECT, "&prompt=none&max_age=1"));
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "login_required");
    struct ts_resp *page = get(&f, b, authorize_path(f.first.id, REDIRECT, "&max_age=1"));
    CHECK_INT(page->status, 200);
    CHECK_STR(ts_html_field(page->body, "max_age"), "1");
    r = post(&f, b, "/login", form_of(page->body, credentials(EMAIL, PASSWORD)));
    CHECK_INT(r->status, 303);
    CHECK(strstr(ts_header(r, "Location"), "max_age") == NULL);
    CHECK(code_of(&f, get(&f, b, ts_header(r, "Location")), REDIRECT) != NULL);
    r = get(&f, b, authorize_path(f.first.id, REDIRECT, "&max_age=soon"));
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "invalid_request");
    CHECK_INT(ts_stop(f.s), 0);
}

/* Disabling the user ends the browser session with the others: no silent sign-in after. */
TEST(disable_ends_the_browser_session)
{
    static const char *const admin_roles[] = {"idp:admin", NULL};
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_account admin;
    CHECK_INT(ts_sa_create(f.data, "admin", admin_roles, NULL, &admin), 0);
    struct ts_browser *b = ts_browser_new();
    struct ts_resp *r = exchange(&f, f.first.id, sign_in(&f, b, f.first.id), REDIRECT, VERIFIER);
    CHECK_INT(r->status, 200);
    json_t *hdr = NULL, *claims = NULL;
    CHECK_INT(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims), 0);
    const char *tok = ts_token_str(f.s, &admin);
    CHECK_INT(ts_bearer(f.s, "POST",
                        ts_printf("/admin/v1/users/%s/disable", ts_jstr(claims, "sub")), tok, NULL)
                  ->status,
              200);
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/users/%s/sessions", ts_jstr(claims, "sub")), tok,
                  NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(json_array_size(json_object_get(r->json, "items")), 0); /* the browser's too */
    r = get(&f, b, authorize_path(f.first.id, REDIRECT, "&prompt=none"));
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "login_required");
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(logout_ends_the_browser_session)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    struct ts_resp *r = exchange(&f, f.first.id, sign_in(&f, b, f.first.id), REDIRECT, VERIFIER);
    CHECK_INT(r->status, 200);
    const char *id_token = ts_jstr(r->json, "id_token"),
               *refresh = ts_jstr(r->json, "refresh_token");
    const char *access = ts_jstr(r->json, "access_token");
    /* a post-logout URI that is not registered: a page, nothing ended */
    r = get(&f, b,
            ts_printf("/oauth/logout?id_token_hint=%s&post_logout_redirect_uri=%s", id_token,
                      ts_form_escape("https://evil.example/")));
    CHECK_INT(r->status, 400);
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", access, NULL)->status, 200);
    /* a forged hint, or a client_id that is not the hint's audience: a page, nothing ended */
    CHECK_INT(get(&f, b, "/oauth/logout?id_token_hint=e30.e30.AAAA")->status, 400);
    CHECK_INT(
        get(&f, b, ts_printf("/oauth/logout?id_token_hint=%s&client_id=%s", id_token, f.second.id))
            ->status,
        400);
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", access, NULL)->status, 200);
    CHECK(ts_browser_cookie(b, "idpd_session") != NULL);
    /* with the hint: signed out at once, back to the registered URI with state */
    r = get(&f, b,
            ts_printf("/oauth/logout?id_token_hint=%s&post_logout_redirect_uri=%s&state=bye%%21",
                      id_token, ts_form_escape(BYE)));
    CHECK_INT(r->status, 303);
    CHECK_STR(ts_header(r, "Location"), BYE "?state=bye%21");
    CHECK(strstr(ts_header(r, "Set-Cookie"), "Max-Age=0") != NULL);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.first.id, refresh, NULL), 400, "invalid_grant");
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", access, NULL)->status, 401);
    r = get(&f, b, authorize_path(f.first.id, REDIRECT, "&prompt=none"));
    CHECK_STR(ts_url_param(ts_header(r, "Location"), "error"), "login_required");

    /* an RP may post its logout form from its own origin (a navigation, not a CORS request) */
    CHECK(sign_in(&f, b, f.first.id) != NULL);
    const char *rp[] = {"Origin: https://rp.example", NULL};
    struct ts_req rp_post = {.method = "POST",
                             .path = "/oauth/logout",
                             .headers = rp,
                             .body = ts_printf("id_token_hint=%s", id_token)};
    r = ts_browser_do(f.s, b, &rp_post);
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "signed out") != NULL);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);

    /* without a hint a signed-in user confirms first */
    CHECK(sign_in(&f, b, f.first.id) != NULL);
    r = get(&f, b, "/oauth/logout");
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "action=\"/oauth/logout\"") != NULL);
    CHECK(ts_browser_cookie(b, "idpd_session") != NULL);
    CHECK_INT(post(&f, b, "/oauth/logout", "confirm=yes")->status, 200); /* no CSRF: asks again */
    CHECK(ts_browser_cookie(b, "idpd_session") != NULL);
    r = post(&f, b, "/oauth/logout",
             ts_printf("csrf=%s&confirm=yes", ts_html_field(r->body, "csrf")));
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "signed out") != NULL);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(code_flow_with_pkce_and_sso);
    RUN(errors_before_the_redirect_uri_is_trusted_are_pages);
    RUN(errors_after_are_redirected);
    RUN(login_page_refuses_and_keeps_csrf);
    RUN(login_page_is_locked_after_failures);
    RUN(code_exchange_errors);
    RUN(consent_for_third_parties);
    RUN(a_new_login_replaces_another_users_session);
    RUN(max_age_asks_for_a_fresh_login);
    RUN(disable_ends_the_browser_session);
    RUN(logout_ends_the_browser_session);
    return ts_done();
}
