/* Look-alike emails (issue 12, finding 10): an address is unique under its NFKC_Casefold key, so
 * fullwidth "ａlice@example.com" is alice's address; one that mixes scripts ("аlice" with a
 * Cyrillic а) or only imitates ASCII ("alıce" with a dotless ı) is refused with a 400 where an
 * address is chosen (register, link, admin API), and simply fails like a wrong password at
 * login. Genuine single-script addresses register as before. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token",
                                         "urn:idpd:grant-type:anonymous", NULL};
static const char *const on[] = {"--allow-registration", NULL};
static const char *const no_rate_limit[] = {"IDPD_RATE_LIMIT_REGISTER=0", NULL};
static const char *const r_admin[] = {"idp:admin", NULL};

#define PASSWORD "correct horse battery"

static const char alice[] = "alice@example.com";
static const char fullwidth[] = "\xef\xbd\x81lice@example.com";    /* ａlice */
static const char fullwidth_all[] = "\xef\xbc\xa1LICE\xef\xbc\xa0" /* ＡLICE＠EXAMPLE.COM */
                                    "EXAMPLE.COM";
static const char cyrillic_a[] = "\xd0\xb0lice@example.com";      /* а (U+0430) lice */
static const char cyrillic_domain[] = "alice@ex\xd0\xb0mple.com"; /* exаmple */
static const char dotless[] = "al\xc4\xb1"                        /* alıce */
                              "ce@example.com";
static const char cyrillic_ape[] = "\xd0\xb0\xd1\x80\xd0\xb5@example.com"; /* аре, all Cyrillic */
static const char mueller[] = "m\xc3\xbcller@example.de";
static const char mueller_upper[] = "M\xc3\x9cLLER@EXAMPLE.DE";
static const char han[] = "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90." /* 用户@例子.广告 */
                          "\xe5\xb9\xbf\xe5\x91\x8a";

struct fixture {
    struct ts_server *s;
    struct ts_account app, admin;
    const char *t_admin;
};

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on, .env = no_rate_limit};
    memset(f, 0, sizeof *f);
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "web", app_grants, NULL, &f->app) == 0 &&
           ts_sa_create(f->s->data, "admin", r_admin, NULL, &f->admin) == 0 &&
           (f->t_admin = ts_token_str(f->s, &f->admin)) != NULL;
}

/* A JSON text from a json_pack() result, kept for the case. */
static const char *js(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text ? ts_keep(text) : NULL;
}

static const char *sub_of(struct ts_resp *login)
{
    json_t *h, *claims;
    if (login->status != 200 || ts_jwt_decode(ts_jstr(login->json, "access_token"), &h, &claims))
        return NULL;
    return ts_jstr(claims, "sub");
}

TEST(register_lookalikes)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r = ts_register(f.s, f.app.id, alice, PASSWORD);
    CHECK_INT(r->status, 201);
    const char *alice_id = ts_jstr(r->json, "id");
    CHECK(alice_id);

    /* the same key: exactly what a taken email answers */
    static const char *const taken[] = {alice, "ALICE@EXAMPLE.COM", fullwidth, fullwidth_all};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        struct ts_resp *dup = ts_register(f.s, f.app.id, taken[i], "another password");
        CHECK_PROBLEM(dup, 409);
        CHECK_STR(ts_jstr(dup->json, "detail"), "the email is already registered");
    }
    /* look-alikes that are not the same address: refused, not registered beside alice */
    static const struct {
        const char *email, *detail_has;
    } refused[] = {{cyrillic_a, "mixes scripts"},
                   {cyrillic_domain, "mixes scripts"},
                   {dotless, "imitate"},
                   {cyrillic_ape, "imitate"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct ts_resp *bad = ts_register(f.s, f.app.id, refused[i].email, PASSWORD);
        CHECK_PROBLEM(bad, 400);
        CHECK_MSG(strstr(ts_jstr(bad->json, "detail"), refused[i].detail_has),
                  "case %zu: detail %s", i, ts_jstr(bad->json, "detail"));
    }
    /* plain ASCII is never judged by look: dan and clan are two users */
    CHECK_INT(ts_register(f.s, f.app.id, "dan@example.com", PASSWORD)->status, 201);
    CHECK_INT(ts_register(f.s, f.app.id, "clan@example.com", PASSWORD)->status, 201);
    /* genuine single-script addresses register, and keep the spelling typed */
    r = ts_register(f.s, f.app.id, mueller_upper, PASSWORD);
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_jstr(r->json, "email"), mueller_upper);
    CHECK_PROBLEM(ts_register(f.s, f.app.id, mueller, PASSWORD), 409); /* ü folds Ü */
    r = ts_register(f.s, f.app.id, han, PASSWORD);
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_jstr(r->json, "email"), han);

    /* logins: the fullwidth form is alice's address, so it is alice's account */
    CHECK_STR(sub_of(ts_login(f.s, f.app.id, fullwidth, PASSWORD, NULL)), alice_id);
    CHECK_STR(sub_of(ts_login(f.s, f.app.id, "ALICE@example.com", PASSWORD, NULL)), alice_id);
    CHECK(sub_of(ts_login(f.s, f.app.id, mueller, PASSWORD, NULL)) != NULL);
    CHECK(sub_of(ts_login(f.s, f.app.id, han, PASSWORD, NULL)) != NULL);
    /* a refused form with alice's password is not alice: the answer of a wrong password */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, cyrillic_a, PASSWORD, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, dotless, PASSWORD, NULL), 400, "invalid_grant");
    struct ts_resp *wrong = ts_login(f.s, f.app.id, alice, "not the password", NULL);
    struct ts_resp *look = ts_login(f.s, f.app.id, dotless, "not the password", NULL);
    CHECK_STR(look->body, wrong->body);
}

TEST(link_lookalikes)
{
    struct fixture f;
    CHECK(setup(&f));
    CHECK_INT(ts_register(f.s, f.app.id, alice, PASSWORD)->status, 201);
    struct ts_resp *anon = ts_anonymous(f.s, f.app.id);
    CHECK_INT(anon->status, 200);
    const char *tok = ts_jstr(anon->json, "access_token");
    /* alice's address in fullwidth belongs to alice: 409, nothing linked */
    struct ts_resp *r = ts_bearer(f.s, "POST", "/v1/me/identities", tok,
                                  js(json_pack("{s:s, s:s, s:s}", "provider", "local-userpass",
                                               "email", fullwidth, "password", PASSWORD)));
    CHECK_PROBLEM(r, 409);
    r = ts_bearer(f.s, "POST", "/v1/me/identities", tok,
                  js(json_pack("{s:s, s:s, s:s}", "provider", "local-userpass", "email", cyrillic_a,
                               "password", PASSWORD)));
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "mixes scripts"));
    r = ts_bearer(f.s, "POST", "/v1/me/identities", tok,
                  js(json_pack("{s:s, s:s, s:s}", "provider", "local-userpass", "email", dotless,
                               "password", PASSWORD)));
    CHECK_PROBLEM(r, 400);
    /* a genuine address links, under its key: its upper-case form then logs in */
    r = ts_bearer(f.s, "POST", "/v1/me/identities", tok,
                  js(json_pack("{s:s, s:s, s:s}", "provider", "local-userpass", "email", mueller,
                               "password", PASSWORD)));
    CHECK_INT(r->status, 201);
    CHECK(sub_of(ts_login(f.s, f.app.id, mueller_upper, PASSWORD, NULL)) != NULL);
}

TEST(admin_lookalikes)
{
    struct fixture f;
    CHECK(setup(&f));
    CHECK_INT(ts_register(f.s, f.app.id, alice, PASSWORD)->status, 201);
    /* create: the same key is taken, with or without a password */
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                                  js(json_pack("{s:s}", "email", fullwidth)));
    CHECK_PROBLEM(r, 409);
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  js(json_pack("{s:s, s:s}", "email", fullwidth_all, "password", PASSWORD)));
    CHECK_PROBLEM(r, 409);
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  js(json_pack("{s:s}", "email", cyrillic_a)));
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "mixes scripts"));
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  js(json_pack("{s:s}", "email", dotless)));
    CHECK_PROBLEM(r, 400);
    /* update: moving bob onto alice's address in fullwidth is a conflict; a look-alike is 400 */
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  js(json_pack("{s:s, s:s}", "email", "bob@example.com", "password", PASSWORD)));
    CHECK_INT(r->status, 201);
    const char *bob = ts_printf("/admin/v1/users/%s", ts_jstr(r->json, "id"));
    CHECK_PROBLEM(
        ts_bearer(f.s, "PATCH", bob, f.t_admin, js(json_pack("{s:s}", "email", fullwidth))), 409);
    CHECK_PROBLEM(
        ts_bearer(f.s, "PATCH", bob, f.t_admin, js(json_pack("{s:s}", "email", cyrillic_domain))),
        400);
    /* a user made by an admin without a password holds its key too: registering the ASCII
     * form of its fullwidth address later is taken (the email index and the identities agree) */
    static const char carol_fw[] = "\xef\xbd\x83"
                                   "arol@example.com"; /* ｃarol */
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  js(json_pack("{s:s}", "email", carol_fw)));
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_jstr(r->json, "email"), carol_fw); /* shown as typed */
    CHECK_PROBLEM(ts_register(f.s, f.app.id, "Carol@example.com", PASSWORD), 409);
    /* and bob may take müller under any case */
    r = ts_bearer(f.s, "PATCH", bob, f.t_admin, js(json_pack("{s:s}", "email", mueller_upper)));
    CHECK_INT(r->status, 200);
    CHECK(sub_of(ts_login(f.s, f.app.id, mueller, PASSWORD, NULL)) != NULL);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(register_lookalikes);
    RUN(link_lookalikes);
    RUN(admin_lookalikes);
    return th_done();
}
