/* Guessing device user codes (issue 12, finding 6; RFC 8628 §5.1): wrong codes wait per browser
 * and per address, like failed logins, and a device request fails once device_code_guess_max
 * wrong codes were tried anywhere while it waited. 60 random codes in 0.1 s went unthrottled. */
#include <string.h>

#include "support.h"

#define GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define EMAIL "cli@example.com"
#define PASSWORD "correct horse battery"
#define WRONG "BCDF-GHJK" /* well-formed; names no request (a clash is 1 in 2.5e10) */

static const char *const args[] = {"--allow-registration", NULL};

struct fx {
    struct ts_server *s;
    struct ts_account cli, web;
};

static int fx_start(struct fx *f, const char *const *env)
{
    const char *data = ts_path("data");
    const char *cli[] = {"--name",  "Deploy CLI",    "--grant", GRANT,
                         "--grant", "refresh_token", NULL};
    const char *web[] = {"--name", "Web", "--grant", "password", NULL};
    if (!ts_app_create_with(data, cli, &f->cli) || !ts_app_create_with(data, web, &f->web))
        return 0;
    struct ts_opts o = {.data = data, .env = env, .args = args};
    if (!(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->web.id, EMAIL, PASSWORD)->status == 201;
}

/* A device request: its device code into *device, its user code returned. */
static const char *start(struct fx *f, const char **device)
{
    struct ts_resp *r = ts_post(f->s, "/oauth/device_authorization", NULL,
                                ts_printf("client_id=%s&scope=openid", f->cli.id));
    *device = r->status == 200 ? ts_jstr(r->json, "device_code") : NULL;
    return r->status == 200 ? ts_jstr(r->json, "user_code") : NULL;
}

static const char *open_page(struct fx *f, struct ts_browser *b)
{
    struct ts_req r = {.path = "/device"};
    struct ts_resp *page = ts_browser_do(f->s, b, &r);
    return page->status == 200 ? ts_html_field(page->body, "csrf") : NULL;
}

static const char *code_form(const char *csrf, const char *code)
{
    return ts_printf("csrf=%s&user_code=%s&email=%s&password=%s", csrf, ts_form_escape(code),
                     ts_form_escape(EMAIL), ts_form_escape(PASSWORD));
}

static long post_code(struct fx *f, struct ts_browser *b, const char *csrf, const char *code)
{
    struct ts_req r = {.method = "POST", .path = "/device", .body = code_form(csrf, code)};
    return ts_browser_do(f->s, b, &r)->status;
}

/* The same form from another loopback address, as the browser whose CSRF token it is. */
static long post_code_from(struct fx *f, const char *from, const char *csrf, const char *code)
{
    return ts_status_from(f->s, from, "POST", "/device", ts_printf("Cookie: idpd_csrf=%s", csrf),
                          code_form(csrf, code));
}

TEST(wrong_codes_wait_per_browser_and_address)
{
    static const char *const env[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=3",
                                      "IDPD_LOGIN_LOCKOUT_BASE=30", "IDPD_RATE_LIMIT_TOKEN=0",
                                      NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    const char *device, *code = start(&f, &device);
    CHECK(code != NULL);
    struct ts_browser *b1 = ts_browser_new(), *b2 = ts_browser_new(), *b3 = ts_browser_new();
    const char *csrf1 = open_page(&f, b1), *csrf2 = open_page(&f, b2), *csrf3 = open_page(&f, b3);
    CHECK(csrf1 && csrf2 && csrf3);
    for (int i = 0; i < 3; i++)
        CHECK_INT(post_code(&f, b1, csrf1, WRONG), 400);
    /* now the browser waits, with the right code too, and nothing is looked up */
    CHECK_INT(post_code(&f, b1, csrf1, code), 429);
    /* another browser from the same address waits as well: the address counted them */
    CHECK_INT(post_code(&f, b2, csrf2, code), 429);
    /* the first browser from another address still waits: the browser counted them */
    CHECK_INT(post_code_from(&f, "127.0.0.2", csrf1, code), 429);
    /* a fresh browser at a fresh address is served: the right code and password sign in */
    CHECK_INT(post_code_from(&f, "127.0.0.3", csrf3, code), 200);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(a_request_fails_after_wrong_codes_in_total)
{
    /* no waits, so only the total decides */
    static const char *const env[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=0",
                                      "IDPD_DEVICE_CODE_GUESS_MAX=4", "IDPD_RATE_LIMIT_TOKEN=0",
                                      NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    const char *device, *code = start(&f, &device);
    CHECK(code != NULL);
    struct ts_browser *b = ts_browser_new();
    const char *csrf = open_page(&f, b);
    CHECK(csrf != NULL);
    /* a malformed code counts as a wrong one */
    CHECK_INT(post_code(&f, b, csrf, "not-a-code"), 400);
    for (int i = 0; i < 2; i++)
        CHECK_INT(post_code(&f, b, csrf, WRONG), 400);
    /* three wrong codes: the request still works */
    struct ts_resp *r = ts_post(f.s, "/oauth/token", NULL,
                                ts_printf("grant_type=%s&client_id=%s&device_code=%s",
                                          ts_form_escape(GRANT), f.cli.id, ts_form_escape(device)));
    CHECK_OAUTH_ERROR(r, 400, "authorization_pending");
    CHECK_INT(post_code_from(&f, "127.0.0.4", csrf, WRONG), 400);
    /* the fourth wrong code since it began: its own code is no longer taken */
    CHECK_INT(post_code(&f, b, csrf, code), 400);
    /* and the device is told it expired */
    r = ts_post(f.s, "/oauth/token", NULL,
                ts_printf("grant_type=%s&client_id=%s&device_code=%s", ts_form_escape(GRANT),
                          f.cli.id, ts_form_escape(device)));
    CHECK_OAUTH_ERROR(r, 400, "expired_token");
    /* a request that begins now counts from now: its code signs in */
    const char *device2, *code2 = start(&f, &device2);
    CHECK(code2 != NULL);
    CHECK_INT(post_code(&f, b, csrf, code2), 200);
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(wrong_codes_wait_per_browser_and_address);
    RUN(a_request_fails_after_wrong_codes_in_total);
    return ts_done();
}
