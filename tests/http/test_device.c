/* Device authorization (RFC 8628): codes from /oauth/device_authorization, the /device page
 * (sign-in, the code, allow or deny, CSRF), and every answer of the polling grant:
 * authorization_pending, slow_down, access_denied, expired_token, invalid_grant and tokens. */
#include <string.h>
#include <unistd.h>

#include "support.h"

#define GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define EMAIL "cli@example.com"
#define PASSWORD "correct horse battery"

static const char *const env[] = {"IDPD_RATE_LIMIT_REGISTER=0", "IDPD_DEVICE_POLL_INTERVAL=1",
                                  NULL};
/* for the one case that waits for a code to expire */
static const char *const env_short[] = {"IDPD_RATE_LIMIT_REGISTER=0", "IDPD_DEVICE_POLL_INTERVAL=1",
                                        "IDPD_DEVICE_CODE_TTL=2", NULL};
static const char *const args[] = {"--allow-registration", NULL};

struct fx {
    struct ts_server *s;
    struct ts_account cli, web;
};

static int fx_start_env(struct fx *f, const char *const *with)
{
    const char *data = ts_path("data");
    const char *cli[] = {"--name",  "Deploy CLI",    "--grant", GRANT,
                         "--grant", "refresh_token", NULL};
    const char *web[] = {"--name", "Web", "--grant", "password", NULL};
    if (!ts_app_create_with(data, cli, &f->cli) || !ts_app_create_with(data, web, &f->web))
        return 0;
    struct ts_opts o = {.data = data, .env = with, .args = args};
    if (!(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->web.id, EMAIL, PASSWORD)->status == 201;
}

static int fx_start(struct fx *f)
{
    return fx_start_env(f, env);
}

static struct ts_resp *start(struct fx *f, const char *client_id)
{
    return ts_post(f->s, "/oauth/device_authorization", NULL,
                   ts_printf("client_id=%s&scope=openid%%20offline_access", client_id));
}

static struct ts_resp *poll_once(struct fx *f, const char *device_code)
{
    return ts_post(f->s, "/oauth/token", NULL,
                   ts_printf("grant_type=%s&client_id=%s&device_code=%s", ts_form_escape(GRANT),
                             f->cli.id, ts_form_escape(device_code)));
}

static struct ts_resp *page_post(struct fx *f, struct ts_browser *b, const char *form)
{
    struct ts_req r = {.method = "POST", .path = "/device", .body = form};
    return ts_browser_do(f->s, b, &r);
}

/* The /device page of user_code, signed in or not; its CSRF token. */
static const char *open_page(struct fx *f, struct ts_browser *b, const char *user_code)
{
    struct ts_req r = {.path = ts_printf("/device?user_code=%s", ts_form_escape(user_code))};
    struct ts_resp *page = ts_browser_do(f->s, b, &r);
    return page->status == 200 ? ts_html_field(page->body, "csrf") : NULL;
}

TEST(device_flow_approved_in_the_browser)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_resp *r = start(&f, f.cli.id);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    const char *device = ts_jstr(r->json, "device_code"),
               *user_code = ts_jstr(r->json, "user_code");
    CHECK(device && user_code && strlen(user_code) == 9 && user_code[4] == '-');
    CHECK(strspn(user_code, "BCDFGHJKLMNPQRSTVWXZ-") == 9);
    CHECK_STR(ts_jstr(r->json, "verification_uri"), ts_printf("%s/device", f.s->issuer));
    CHECK_STR(ts_jstr(r->json, "verification_uri_complete"),
              ts_printf("%s/device?user_code=%s", f.s->issuer, user_code));
    CHECK_INT(ts_jint(r->json, "expires_in"), 600);
    CHECK_INT(ts_jint(r->json, "interval"), 1);
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "authorization_pending");

    /* the page: not signed in, so email and password come with the code */
    struct ts_browser *b = ts_browser_new();
    struct ts_req get = {.path = ts_printf("/device?user_code=%s", user_code)};
    struct ts_resp *page = ts_browser_do(f.s, b, &get);
    CHECK_INT(page->status, 200);
    CHECK_STR(ts_html_field(page->body, "user_code"), user_code);
    CHECK(strstr(page->body, "name=\"password\"") != NULL);
    const char *csrf = ts_html_field(page->body, "csrf");
    /* typed the way people type: lower case, a space for the dash */
    char typed[16];
    snprintf(typed, sizeof typed, "%.4s %.4s", user_code, user_code + 5);
    for (char *p = typed; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    r = page_post(&f, b,
                  ts_printf("csrf=%s&user_code=%s&email=%s&password=wrong+password", csrf,
                            ts_form_escape(typed), ts_form_escape(EMAIL)));
    CHECK_INT(r->status, 401);
    CHECK_STR(ts_html_field(r->body, "email"), EMAIL); /* kept, the password not */
    r = page_post(&f, b,
                  ts_printf("csrf=%s&user_code=%s&email=%s&password=%s", csrf,
                            ts_form_escape(typed), ts_form_escape(EMAIL),
                            ts_form_escape(PASSWORD)));
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "Deploy CLI") && strstr(r->body, user_code));
    CHECK(ts_browser_cookie(b, "idpd_session") != NULL);
    /* without the CSRF token the answer is refused; neither allow nor deny is a page */
    CHECK_INT(page_post(&f, b, ts_printf("user_code=%s&decision=allow", user_code))->status, 403);
    CHECK_INT(
        page_post(&f, b, ts_printf("csrf=%s&user_code=%s&decision=maybe", csrf, user_code))->status,
        400);
    sleep(1); /* the interval */
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "authorization_pending");
    r = page_post(&f, b,
                  ts_printf("csrf=%s&user_code=%s&decision=allow", ts_html_field(r->body, "csrf"),
                            user_code));
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "You can return to your device") != NULL);
    /* answered: the code is not offered again */
    CHECK_INT(page_post(&f, b, ts_printf("csrf=%s&user_code=%s", csrf, user_code))->status, 400);

    sleep(1); /* the interval */
    r = poll_once(&f, device);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    const char *access = ts_jstr(r->json, "access_token");
    CHECK(ts_jstr(r->json, "refresh_token") && ts_jstr(r->json, "id_token"));
    r = ts_bearer(f.s, "GET", "/v1/me", access, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "email"), EMAIL);
    /* a device code works once */
    sleep(1);
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "invalid_grant");
    /* signing out of the browser leaves the device signed in */
    struct ts_req out = {
        .method = "POST", .path = "/oauth/logout", .body = ts_printf("csrf=%s&confirm=yes", csrf)};
    CHECK_INT(ts_browser_do(f.s, b, &out)->status, 200);
    CHECK(ts_browser_cookie(b, "idpd_session") == NULL);
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", access, NULL)->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(polling_answers)
{
    struct fx f;
    CHECK(fx_start(&f));
    /* too fast: slow_down, and the interval grows by 5 s */
    const char *device = ts_jstr(start(&f, f.cli.id)->json, "device_code");
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "authorization_pending");
    struct ts_resp *r = poll_once(&f, device);
    CHECK_OAUTH_ERROR(r, 400, "slow_down");
    CHECK(strstr(ts_jstr(r->json, "error_description"), "6 seconds") != NULL);
    /* denied */
    r = start(&f, f.cli.id);
    device = ts_jstr(r->json, "device_code");
    const char *user_code = ts_jstr(r->json, "user_code");
    struct ts_browser *b = ts_browser_new();
    const char *csrf = open_page(&f, b, user_code);
    r = page_post(&f, b,
                  ts_printf("csrf=%s&user_code=%s&email=%s&password=%s", csrf, user_code,
                            ts_form_escape(EMAIL), ts_form_escape(PASSWORD)));
    CHECK_INT(r->status, 200);
    r = page_post(&f, b, ts_printf("csrf=%s&user_code=%s&decision=deny", csrf, user_code));
    CHECK_INT(r->status, 200);
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "access_denied");
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "invalid_grant");
    /* an unknown code, none */
    CHECK_OAUTH_ERROR(poll_once(&f, "not-a-device-code"), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(
        ts_post(f.s, "/oauth/token", NULL,
                ts_printf("grant_type=%s&client_id=%s", ts_form_escape(GRANT), f.cli.id)),
        400, "invalid_request");
    /* the page refuses a code that is unknown or malformed */
    CHECK_INT(page_post(&f, b, ts_printf("csrf=%s&user_code=BBBB-BBBB", csrf))->status, 400);
    CHECK_INT(page_post(&f, b, ts_printf("csrf=%s&user_code=AAAA-AAAA", csrf))->status, 400);
    /* an application without the grant */
    CHECK_OAUTH_ERROR(start(&f, f.web.id), 400, "unauthorized_client");
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(expired_codes)
{
    struct fx f;
    CHECK(fx_start_env(&f, env_short));
    struct ts_resp *r = start(&f, f.cli.id);
    CHECK_INT(ts_jint(r->json, "expires_in"), 2);
    const char *device = ts_jstr(r->json, "device_code"),
               *user_code = ts_jstr(r->json, "user_code");
    sleep(3);
    CHECK_OAUTH_ERROR(poll_once(&f, device), 400, "expired_token");
    struct ts_browser *b = ts_browser_new();
    const char *csrf = open_page(&f, b, user_code);
    CHECK_INT(page_post(&f, b, ts_printf("csrf=%s&user_code=%s", csrf, user_code))->status, 400);
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(device_flow_approved_in_the_browser);
    RUN(polling_answers);
    RUN(expired_codes);
    return ts_done();
}
