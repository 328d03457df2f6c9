/* The App Services client API (/api/client/v2.0) as the native SDKs (realm-core) use it, which
 * realm-web (tests/interop/realm.test.js) does not exercise: their request shapes, the tokens
 * they parse (the refresh token as a JWT with integer times), errors with exactly
 * application/json; and every refusal: bad bodies, wrong tokens of each kind, links that would
 * merge, API key limits and other users' keys, disabled and deleted users, origins. */
#include <stdlib.h>
#include <string.h>

#include "mail_sink.h"
#include "support.h"

#define A "/api/client/v2.0"
#define APP_ID "inventory-abcde"
#define LOGIN(p) A "/app/" APP_ID "/auth/providers/" p "/login"
#define USERPASS(p) A "/app/" APP_ID "/auth/providers/local-userpass/" p
#define PASSWORD "correct horse battery"
/* realm-core's content type, on every request, empty bodies included */
#define CORE_TYPE "application/json;charset=utf-8"

static const char *const r_admin[] = {"idp:admin", NULL};

struct fixture {
    struct ts_server *s;
    struct ts_account app, admin;
    const char *t_admin;
};

static int setup_with(struct fixture *f, const char *const *env)
{
    static const char *const args[] = {"--allow-registration", NULL};
    static const char *const more[] = {"--name",
                                       "inventory",
                                       "--app-services-id",
                                       APP_ID,
                                       "--origin",
                                       "https://app.example",
                                       "--grant",
                                       "password",
                                       "--grant",
                                       "refresh_token",
                                       "--grant",
                                       "urn:idpd:grant-type:anonymous",
                                       "--grant",
                                       "urn:idpd:grant-type:api-key",
                                       NULL};
    struct ts_opts o = {.args = args, .env = env};
    f->s = ts_start(&o);
    if (!f->s || !ts_app_create_with(f->s->data, more, &f->app) ||
        ts_sa_create(f->s->data, "admin", r_admin, NULL, &f->admin) != 0)
        return 0;
    f->t_admin = ts_token_str(f->s, &f->admin);
    return f->t_admin != NULL;
}

static int setup(struct fixture *f)
{
    return setup_with(f, NULL);
}

/* method path with a JSON body (NULL: none) under type (NULL: application/json; "" none), and
 * a bearer token when not NULL. */
static struct ts_resp *call(struct fixture *f, const char *method, const char *path,
                            const char *bearer, const char *json, const char *type)
{
    const char *headers[3] = {NULL};
    size_t n = 0;
    if (bearer)
        headers[n++] = ts_printf("Authorization: Bearer %s", bearer);
    struct ts_req r = {.method = method,
                       .path = path,
                       .headers = headers,
                       .body = json,
                       .content_type = type ? type : "application/json"};
    return ts_do(f->s, &r);
}

/* An error of this API: status, exactly application/json, {"error","error_code"}. */
#define CHECK_AS_ERROR(resp, st, code)                                                             \
    do {                                                                                           \
        const struct ts_resp *as_r_ = (resp);                                                      \
        CHECK_MSG(as_r_->status == (st), "status %ld, expected %d; body %s", as_r_->status,        \
                  (int)(st), as_r_->body ? as_r_->body : "");                                      \
        CHECK_STR(ts_header(as_r_, "Content-Type"), "application/json");                           \
        CHECK_STR(ts_jstr(as_r_->json, "error_code"), (code));                                     \
        CHECK(ts_jstr(as_r_->json, "error") && ts_jstr(as_r_->json, "error")[0]);                  \
    } while (0)

struct user {
    const char *id, *at, *rt, *device;
};

static int tokens_of(struct ts_resp *r, struct user *u)
{
    u->id = ts_jstr(r->json, "user_id");
    u->at = ts_jstr(r->json, "access_token");
    u->rt = ts_jstr(r->json, "refresh_token");
    u->device = ts_jstr(r->json, "device_id");
    if (r->status != 200 || !u->id || !u->at || !u->rt || !u->device) {
        fprintf(stderr, "  not a login answer: %ld %s\n", r->status, r->body);
        return 0;
    }
    return 1;
}

static int anonymous(struct fixture *f, struct user *u)
{
    return tokens_of(call(f, "POST", LOGIN("anon-user"), NULL, "{}", NULL), u);
}

static struct ts_resp *login_password(struct fixture *f, const char *email, const char *password)
{
    return call(f, "POST", LOGIN("local-userpass"), NULL,
                ts_printf("{\"username\":\"%s\",\"password\":\"%s\"}", email, password), NULL);
}

/* Registers email (no mail: it may log in at once) and logs in. */
static int registered(struct fixture *f, const char *email, struct user *u)
{
    struct ts_resp *r =
        call(f, "POST", USERPASS("register"), NULL,
             ts_printf("{\"email\":\"%s\",\"password\":\"" PASSWORD "\"}", email), NULL);
    if (r->status != 201) {
        fprintf(stderr, "  register %s: %ld %s\n", email, r->status, r->body);
        return 0;
    }
    return tokens_of(login_password(f, email, PASSWORD), u);
}

static long long user_count(struct fixture *f)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", "/admin/v1/users?limit=500", f->t_admin, NULL);
    json_t *items = json_object_get(r->json, "items");
    return r->status == 200 && json_is_array(items) ? (long long)json_array_size(items) : -1;
}

/* The payload of a compact JWS, or NULL. */
static json_t *payload_of(const char *token)
{
    json_t *h = NULL, *p = NULL;
    return ts_jwt_decode(token, &h, &p) == 0 ? p : NULL;
}

TEST(native_sdk_requests_and_the_tokens_it_parses)
{
    struct fixture f;
    struct user u;
    CHECK(setup(&f));
    struct ts_resp *r = call(&f, "GET", A "/app/" APP_ID "/location", NULL, NULL, "");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_jstr(r->json, "hostname"), f.s->issuer);
    CHECK_STR(ts_jstr(r->json, "ws_hostname"), ts_printf("ws://%s", f.s->issuer + 7));

    /* realm-core's login: provider again in the body, a device of its own, its content type */
    r = call(&f, "POST", LOGIN("anon-user"), NULL,
             "{\"provider\":\"anon-user\",\"options\":{\"device\":{\"appId\":\"" APP_ID
             "\",\"platform\":\"Linux\",\"platformVersion\":\"6.1\",\"sdk\":\"cpp\","
             "\"sdkVersion\":\"14.14.0\",\"cpuArch\":\"x86_64\",\"deviceName\":\"\","
             "\"coreVersion\":\"14.14.0\",\"bundleId\":\"x\",\"frameworkName\":\"\"}}}",
             CORE_TYPE);
    CHECK(tokens_of(r, &u));
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_INT(strlen(u.device), 24);
    CHECK_INT(strspn(u.device, "0123456789abcdef"), 24);

    /* the refresh token: three parts, integer exp and iat (realm-core aborts on others) */
    json_t *rt = payload_of(u.rt);
    CHECK(rt != NULL);
    CHECK(json_is_integer(json_object_get(rt, "exp")));
    CHECK(json_is_integer(json_object_get(rt, "iat")));
    CHECK(ts_jint(rt, "exp") > ts_jint(rt, "iat"));
    CHECK_STR(ts_jstr(rt, "sub"), u.id);
    CHECK(strchr(strchr(strchr(u.rt, '.') + 1, '.') + 1, '.') == NULL);
    CHECK(strlen(strrchr(u.rt, '.')) > 1); /* a signature, not an empty one */
    /* the access token: integer times, user_data an object, the device */
    json_t *at = payload_of(u.at);
    CHECK(at != NULL);
    CHECK(json_is_integer(json_object_get(at, "exp")));
    CHECK(json_is_integer(json_object_get(at, "iat")));
    CHECK(json_is_object(json_object_get(at, "user_data")));
    CHECK_STR(ts_jstr(at, "baas_device_id"), u.device);
    CHECK_STR(ts_jstr(at, "aud"), f.s->issuer);

    /* realm-core sends its JSON type with the empty bodies of GET and POST */
    r = call(&f, "GET", A "/auth/profile", u.at, "", CORE_TYPE);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "user_id"), u.id);
    CHECK(json_is_array(json_object_get(r->json, "identities")));
    CHECK(json_is_object(json_object_get(r->json, "data")));
    r = call(&f, "POST", A "/auth/session", u.rt, "", CORE_TYPE);
    CHECK_INT(r->status, 201);
    CHECK(json_is_integer(json_object_get(payload_of(ts_jstr(r->json, "access_token")), "exp")));
    /* a success without a body has no content type (realm-web parses nothing then) */
    r = call(&f, "DELETE", A "/auth/session", u.rt, "", CORE_TYPE);
    CHECK_INT(r->status, 204);
    CHECK(ts_header(r, "Content-Type") == NULL);
    CHECK_INT(r->len, 0);
}

TEST(refresh_tokens_do_not_rotate_and_are_their_own_kind)
{
    struct fixture f;
    struct user u;
    CHECK(setup(&f));
    CHECK(anonymous(&f, &u));
    /* the same refresh token, again and again */
    for (int i = 0; i < 3; i++)
        CHECK_INT(call(&f, "POST", A "/auth/session", u.rt, NULL, "")->status, 201);
    /* the secret it carries is no OAuth refresh token, nor is the JWT itself */
    const char *secret = ts_jstr(payload_of(u.rt), "rt");
    CHECK(secret != NULL);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, secret, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, u.rt, NULL), 400, "invalid_grant");
    CHECK_INT(call(&f, "POST", A "/auth/session", u.rt, NULL, "")->status, 201);
    /* an OAuth refresh token, an access token, a token with another secret: InvalidSession */
    struct ts_resp *o = ts_anonymous(f.s, f.app.id);
    CHECK_INT(o->status, 200);
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", ts_jstr(o->json, "refresh_token"), NULL, ""),
                   401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", u.at, NULL, ""), 401, "InvalidSession");
    char *forged = ts_printf("%s", u.rt);
    const char *dot = strchr(forged, '.');
    const char *payload = ts_printf("{\"sub\":\"%s\",\"iat\":1,\"exp\":2,\"rt\":\"%s\"}", u.id,
                                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    const char *tampered =
        ts_printf("%.*s.%s%s", (int)(dot - forged), forged,
                  ts_b64url_encode(payload, strlen(payload)), strrchr(u.rt, '.'));
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", tampered, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", "a.b", NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", NULL, NULL, ""), 401, "InvalidSession");
    /* a refresh token is no access token either */
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/profile", u.rt, NULL, ""), 401, "InvalidSession");
    CHECK_INT(call(&f, "GET", A "/auth/profile", u.at, NULL, "")->status, 200);
}

TEST(bad_bodies_are_refused_and_change_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    long long users = user_count(&f);
    CHECK(users >= 0);
    static const char *const bodies[] = {
        "{\"surprise\":1}",                /* an unknown member */
        "{\"options\":[]}",                /* options not an object */
        "{\"provider\":7}",                /* provider not a string */
        "{\"options\":",                   /* not JSON */
        "[]",                              /* not an object */
        "{\"options\":{},\"options\":{}}", /* a member twice */
        "{\"provider\":\"\xff\"}",         /* not UTF-8 */
        "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":{\"k\":{\"l\":{"
        "\"m\":{\"n\":{\"o\":{\"p\":{\"q\":1}}}}}}}}}}}}}}}}}", /* nested too deep */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        CHECK_AS_ERROR(call(&f, "POST", LOGIN("anon-user"), NULL, bodies[i], NULL), 400,
                       "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("anon-user"), NULL, "{}", "text/plain"), 415,
                   "BadRequest");
    CHECK_AS_ERROR(
        call(&f, "POST", LOGIN("local-userpass"), NULL, "{\"username\":\"a@b.c\"}", NULL), 400,
        "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass"), NULL,
                        "{\"username\":\"a@b.c\",\"password\":1}", NULL),
                   400, "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("api-key"), NULL, "{\"key\":\"\"}", NULL), 400,
                   "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("anon-user") "?link=maybe", NULL, "{}", NULL), 400,
                   "InvalidParameter");
    /* an oversized body: refused before routing, in this API's shape */
    char *big = ts_keep(calloc(1, 70000));
    memset(big, ' ', 69999);
    big[0] = '{';
    big[69998] = '}';
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("anon-user"), NULL, big, NULL), 413, "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("register"), NULL,
                        "{\"email\":\"x@example.com\",\"password\":\"short\"}", NULL),
                   400, "BadRequest");
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("register"), NULL,
                        "{\"email\":\"x@example.com\",\"password\":\"" PASSWORD "\",\"x\":1}",
                        NULL),
                   400, "BadRequest");
    CHECK_INT(user_count(&f), users);
    /* and a good one still works */
    struct user u;
    CHECK(anonymous(&f, &u));
    CHECK_INT(user_count(&f), users + 1);
}

TEST(links_never_merge_two_users)
{
    static const char *const env[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=3", NULL};
    struct fixture f;
    struct user anon, other, owner;
    CHECK(setup_with(&f, env));
    CHECK(anonymous(&f, &anon));
    CHECK(anonymous(&f, &other));
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL,
                   "{\"email\":\"pending@example.com\",\"password\":\"" PASSWORD "\"}", NULL)
                  ->status,
              201);
    const char *link = "{\"username\":\"pending@example.com\",\"password\":\"" PASSWORD "\"}";
    /* a wrong password: refused, counted */
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", anon.at,
                        "{\"username\":\"pending@example.com\",\"password\":\"wrong password\"}",
                        NULL),
                   401, "InvalidPassword");
    /* no access token, or a refresh token: InvalidSession */
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", NULL, link, NULL), 401,
                   "InvalidSession");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", anon.rt, link, NULL), 401,
                   "InvalidSession");
    /* only email/password links */
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("anon-user") "?link=true", anon.at, "{}", NULL), 400,
                   "InvalidParameter");
    /* the registration joins the anonymous user: same id, no refresh token in the answer */
    struct ts_resp *r = call(&f, "POST", LOGIN("local-userpass") "?link=true", anon.at, link, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "user_id"), anon.id);
    CHECK(ts_jstr(r->json, "refresh_token") == NULL);
    CHECK_STR(ts_jstr(r->json, "device_id"), anon.device);
    /* again: it is linked already */
    CHECK_INT(call(&f, "POST", LOGIN("local-userpass") "?link=true", anon.at, link, NULL)->status,
              200);
    /* another user cannot take it */
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", other.at, link, NULL),
                   409, "AccountNameInUse");
    CHECK_INT(json_array_size(json_object_get(
                  call(&f, "GET", A "/auth/profile", other.at, NULL, "")->json, "identities")),
              1);
    /* a user with a password identity cannot link a second one */
    CHECK(registered(&f, "owner@example.com", &owner));
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL,
                   "{\"email\":\"second@example.com\",\"password\":\"" PASSWORD "\"}", NULL)
                  ->status,
              201);
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", owner.at,
                        "{\"username\":\"second@example.com\",\"password\":\"" PASSWORD "\"}",
                        NULL),
                   409, "AccountNameInUse");
    /* that registration is untouched: its first login makes its own user */
    struct user second;
    CHECK(tokens_of(login_password(&f, "second@example.com", PASSWORD), &second));
    CHECK(strcmp(second.id, owner.id) != 0);
    /* the email logs in as the anonymous user it joined */
    struct user again;
    CHECK(tokens_of(login_password(&f, "pending@example.com", PASSWORD), &again));
    CHECK_STR(again.id, anon.id);
    /* wrong link passwords count toward the lockout of the name (the link above cleared the
     * earlier one): from the third on, the name waits */
    for (int i = 0; i < 3; i++)
        call(&f, "POST", LOGIN("local-userpass") "?link=true", other.at,
             "{\"username\":\"pending@example.com\",\"password\":\"wrong password\"}", NULL);
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("local-userpass") "?link=true", other.at, link, NULL),
                   429, "TooManyRequests");
}

TEST(api_keys_limits_owners_and_states)
{
    struct fixture f;
    struct user u, v, anon;
    CHECK(setup(&f));
    CHECK(registered(&f, "keys@example.com", &u));
    CHECK(registered(&f, "other@example.com", &v));
    CHECK(anonymous(&f, &anon));
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/api_keys", anon.rt, "{\"name\":\"x\"}", NULL), 403,
                   "Forbidden");
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/api-keys", anon.at, "{\"name\":\"x\"}"), 403);
    /* an access token is no bearer here: the SDKs send the refresh token */
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/api_keys", u.at, NULL, ""), 401, "InvalidSession");
    const char *first_id = NULL, *first_key = NULL;
    for (int i = 0; i < 20; i++) {
        struct ts_resp *r =
            call(&f, "POST", A "/auth/api_keys", u.rt, ts_printf("{\"name\":\"key %d\"}", i), NULL);
        CHECK_INT(r->status, 201);
        if (i == 0) {
            first_id = ts_jstr(r->json, "_id");
            first_key = ts_jstr(r->json, "key");
        }
    }
    CHECK(first_id && first_key);
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/api_keys", u.rt, "{\"name\":\"key 20\"}", NULL), 400,
                   "InvalidParameter");
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/api_keys", u.rt, "{\"name\":\"key 3\"}", NULL), 409,
                   "APIKeyAlreadyExists");
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/api-keys", u.at, "{\"name\":\"key 21\"}"), 409);
    struct ts_resp *r = call(&f, "GET", A "/auth/api_keys", u.rt, NULL, "");
    CHECK_INT(r->status, 200);
    CHECK_INT(json_array_size(r->json), 20);
    /* another user's key is as unknown as a missing one, for every verb */
    const char *theirs = ts_printf(A "/auth/api_keys/%s", first_id);
    CHECK_AS_ERROR(call(&f, "GET", theirs, v.rt, NULL, ""), 404, "APIKeyNotFound");
    CHECK_AS_ERROR(call(&f, "PUT", ts_printf("%s/disable", theirs), v.rt, NULL, ""), 404,
                   "APIKeyNotFound");
    CHECK_AS_ERROR(call(&f, "DELETE", theirs, v.rt, NULL, ""), 404, "APIKeyNotFound");
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", ts_printf("/v1/me/api-keys/%s", first_id), v.at,
                            "{\"disabled\":true}"),
                  404);
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/api_keys/nothex", u.rt, NULL, ""), 404,
                   "APIKeyNotFound");
    /* logins: the key; a wrong secret of its id; a malformed key */
    const char *key_body = ts_printf("{\"key\":\"%s\"}", first_key);
    struct user byk;
    CHECK(tokens_of(call(&f, "POST", LOGIN("api-key"), NULL, key_body, NULL), &byk));
    CHECK_STR(byk.id, u.id);
    char *wrong = ts_printf("%s", first_key);
    wrong[strlen(wrong) - 2] = wrong[strlen(wrong) - 2] == 'A' ? 'B' : 'A';
    CHECK_AS_ERROR(
        call(&f, "POST", LOGIN("api-key"), NULL, ts_printf("{\"key\":\"%s\"}", wrong), NULL), 401,
        "AuthError");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("api-key"), NULL, "{\"key\":\"not a key\"}", NULL), 401,
                   "AuthError");
    /* the grant of idpd's own API takes it too */
    struct ts_resp *g =
        ts_post(f.s, "/oauth/token", NULL,
                ts_printf("grant_type=urn:idpd:grant-type:api-key&client_id=%s&api_key=%s",
                          f.app.id, ts_form_escape(first_key)));
    CHECK_INT(g->status, 200);
    CHECK_OAUTH_ERROR(
        ts_post(f.s, "/oauth/token", NULL,
                ts_printf("grant_type=urn:idpd:grant-type:api-key&client_id=%s&api_key=%s",
                          f.app.id, ts_form_escape(wrong))),
        400, "invalid_grant");
    CHECK_OAUTH_ERROR(
        ts_post(f.s, "/oauth/token", NULL,
                ts_printf("grant_type=urn:idpd:grant-type:api-key&client_id=%s", f.app.id)),
        400, "invalid_request");
    /* disabled: refused; the user disabled: UserDisabled after the right key */
    CHECK_INT(call(&f, "PUT", ts_printf("%s/disable", theirs), u.rt, NULL, "")->status, 204);
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("api-key"), NULL, key_body, NULL), 401, "AuthError");
    CHECK_INT(call(&f, "PUT", ts_printf("%s/enable", theirs), u.rt, NULL, "")->status, 204);
    CHECK_INT(ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/disable", u.id), f.t_admin, NULL)
                  ->status,
              200);
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("api-key"), NULL, key_body, NULL), 401, "UserDisabled");
    CHECK_AS_ERROR(
        call(&f, "POST", LOGIN("api-key"), NULL, ts_printf("{\"key\":\"%s\"}", wrong), NULL), 401,
        "AuthError");
    /* deleted: the keys go with the user */
    CHECK_INT(
        ts_bearer(f.s, "DELETE", ts_printf("/admin/v1/users/%s", u.id), f.t_admin, NULL)->status,
        204);
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("api-key"), NULL, key_body, NULL), 401, "AuthError");
}

TEST(admins_disable_delete_and_revoke_at_once)
{
    struct fixture f;
    struct user u, w;
    CHECK(setup(&f));
    CHECK(registered(&f, "who@example.com", &u));
    /* an admin ends the session: its refresh token and access token stop working */
    json_t *at = payload_of(u.at);
    CHECK_INT(ts_bearer(f.s, "DELETE", ts_printf("/admin/v1/sessions/%s", ts_jstr(at, "sid")),
                        f.t_admin, NULL)
                  ->status,
              204);
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", u.rt, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/profile", u.at, NULL, ""), 401, "InvalidSession");
    /* disabled: the live session refuses to refresh; enabled again, a new login works */
    CHECK(tokens_of(login_password(&f, "who@example.com", PASSWORD), &w));
    CHECK_INT(ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/disable", w.id), f.t_admin, NULL)
                  ->status,
              200);
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", w.rt, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/profile", w.at, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(login_password(&f, "who@example.com", PASSWORD), 401, "UserDisabled");
    CHECK_AS_ERROR(login_password(&f, "who@example.com", "wrong password"), 401, "InvalidPassword");
    CHECK_INT(ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/enable", w.id), f.t_admin, NULL)
                  ->status,
              200);
    CHECK_INT(login_password(&f, "who@example.com", PASSWORD)->status, 200);
    /* the user deletes itself: its tokens are refused, the email is free again */
    CHECK_INT(call(&f, "DELETE", A "/auth/delete", w.at, NULL, "")->status, 401); /* disabled */
    struct user z;
    CHECK(tokens_of(login_password(&f, "who@example.com", PASSWORD), &z));
    struct ts_resp *r = call(&f, "DELETE", A "/auth/delete", z.at, NULL, "");
    CHECK_INT(r->status, 204);
    CHECK(ts_header(r, "Content-Type") == NULL);
    CHECK_AS_ERROR(call(&f, "POST", A "/auth/session", z.rt, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(call(&f, "DELETE", A "/auth/session", z.rt, NULL, ""), 401, "InvalidSession");
    CHECK_AS_ERROR(login_password(&f, "who@example.com", PASSWORD), 401, "InvalidPassword");
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL,
                   "{\"email\":\"who@example.com\",\"password\":\"" PASSWORD "\"}", NULL)
                  ->status,
              201);
}

TEST(origins_apps_and_providers)
{
    struct fixture f;
    CHECK(setup(&f));
    /* the application's origin is served, another refused before anything happens */
    const char *ok_origin[] = {"Origin: https://app.example", NULL};
    struct ts_req rq = {.method = "POST",
                        .path = LOGIN("anon-user"),
                        .headers = ok_origin,
                        .body = "{}",
                        .content_type = "application/json"};
    struct ts_resp *r = ts_do(f.s, &rq);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Access-Control-Allow-Origin"), "https://app.example");
    long long users = user_count(&f);
    const char *bad_origin[] = {"Origin: https://evil.example", NULL};
    rq.headers = bad_origin;
    r = ts_do(f.s, &rq);
    CHECK_AS_ERROR(r, 403, "Forbidden");
    CHECK(ts_header(r, "Access-Control-Allow-Origin") == NULL);
    CHECK_INT(user_count(&f), users);
    /* a preflight of the SDK's refresh */
    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: authorization, content-type", NULL};
    struct ts_req p = {.method = "OPTIONS", .path = A "/auth/session", .headers = pre};
    CHECK_INT(ts_do(f.s, &p)->status, 204);
    /* unknown apps and providers */
    CHECK_AS_ERROR(call(&f, "GET", A "/app/nope/location", NULL, NULL, ""), 404, "AppNotFound");
    CHECK_AS_ERROR(call(&f, "POST", A "/app/nope/auth/providers/anon-user/login", NULL, "{}", NULL),
                   404, "AppNotFound");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("custom-token"), NULL, "{\"token\":\"x\"}", NULL), 400,
                   "AuthProviderNotFound");
    CHECK_AS_ERROR(call(&f, "POST", LOGIN("oauth2-google"), NULL, "{}", NULL), 400,
                   "AuthProviderNotFound");
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("confirm/call"), NULL, "{\"email\":\"a@b.c\"}", NULL),
                   400, "FunctionNotFound");
    /* no mail configured: the sending routes say so */
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("reset/send"), NULL, "{\"email\":\"a@b.c\"}", NULL),
                   400, "BadRequest");
    /* the router's refusals are in this API's shape */
    CHECK_AS_ERROR(call(&f, "GET", A "/auth/nothing", NULL, NULL, ""), 404, "NotFound");
    r = call(&f, "PUT", A "/auth/session", NULL, NULL, "");
    CHECK_AS_ERROR(r, 405, "MethodNotAllowed");
    CHECK_STR(ts_header(r, "Allow"), "POST, DELETE");
}

TEST(app_services_ids_through_the_admin_api)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *path = ts_printf("/admin/v1/applications/%s", f.app.id);
    struct ts_resp *r = ts_bearer(f.s, "GET", path, f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "app_services_id"), APP_ID);
    /* another application cannot take it; a bad one is refused */
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"b\",\"grant_types\":[\"password\"],\"app_services_id\":\"" APP_ID
                  "\"}");
    CHECK_PROBLEM(r, 409);
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"b\",\"grant_types\":[\"password\"],\"app_services_id\":\"a/b\"}");
    CHECK_PROBLEM(r, 400);
    /* renamed: the old id is free, the new one answers */
    r = ts_bearer(f.s, "PATCH", path, f.t_admin, "{\"app_services_id\":\"renamed-12345\"}");
    CHECK_INT(r->status, 200);
    CHECK_AS_ERROR(call(&f, "GET", A "/app/" APP_ID "/location", NULL, NULL, ""), 404,
                   "AppNotFound");
    CHECK_INT(call(&f, "GET", A "/app/renamed-12345/location", NULL, NULL, "")->status, 200);
    /* null removes it; the idpd id still names the application */
    r = ts_bearer(f.s, "PATCH", path, f.t_admin, "{\"app_services_id\":null}");
    CHECK_INT(r->status, 200);
    CHECK(json_object_get(r->json, "app_services_id") == NULL);
    CHECK_INT(call(&f, "GET", A "/app/renamed-12345/location", NULL, NULL, "")->status, 404);
    CHECK_INT(call(&f, "GET", ts_printf(A "/app/%s/location", f.app.id), NULL, NULL, "")->status,
              200);
}

/* The newest link to path in a message to `to` (waited for until there are want), as token and
 * tokenId. */
static int mailed_link(struct th_sink *sink, const char *to, int want, const char *path,
                       const char **token, const char **token_id)
{
    char *msg = NULL;
    int n = th_sink_count(sink, to, want, 15000, &msg);
    char *link = n >= want && msg ? th_mail_link(msg, ts_printf("%s?token=", path)) : NULL;
    free(msg);
    if (!link)
        return 0;
    ts_keep(link);
    *token = ts_url_param(link, "token");
    *token_id = ts_url_param(link, "tokenId");
    return *token != NULL;
}

TEST(registrations_with_mail_confirm_and_the_last_one_wins)
{
    struct fixture f;
    struct th_sink *sink = th_sink_start(0);
    CHECK(sink != NULL);
    const char *env[] = {ts_printf("IDPD_SMTP_URL=%s", sink->url),
                         "IDPD_SMTP_FROM=idpd@example.org",
                         "IDPD_SMTP_PLAIN_LOOPBACK=1",
                         "IDPD_SMTP_RETRY_BASE=1",
                         "IDPD_RATE_LIMIT_REGISTER=0",
                         NULL};
    CHECK(setup_with(&f, env));
    const char *reg1 = "{\"email\":\"race@example.com\",\"password\":\"the first password\"}";
    const char *reg2 = "{\"email\":\"race@example.com\",\"password\":\"the second password\"}";
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL, reg1, NULL)->status, 201);
    const char *t1 = NULL, *id1 = NULL, *t2 = NULL, *id2 = NULL;
    CHECK(mailed_link(sink, "race@example.com", 1, "/verify-email", &t1, &id1));
    CHECK(id1 && strncmp(id1, "pnd_", 4) == 0);
    /* not confirmed: the right password says so, a wrong one does not */
    CHECK_AS_ERROR(login_password(&f, "race@example.com", "the first password"), 401, "AuthError");
    CHECK_AS_ERROR(login_password(&f, "race@example.com", "not the password"), 401,
                   "InvalidPassword");
    /* a second registration of the unconfirmed address replaces the first: its link dies */
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL, reg2, NULL)->status, 201);
    CHECK(mailed_link(sink, "race@example.com", 2, "/verify-email", &t2, &id2));
    CHECK(strcmp(t1, t2) != 0 && strcmp(id1, id2) != 0);
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("confirm"), NULL,
                        ts_printf("{\"token\":\"%s\",\"tokenId\":\"%s\"}", t1, id1), NULL),
                   400, "UserpassTokenInvalid");
    /* the token with another registration's tokenId confirms nothing */
    CHECK_AS_ERROR(call(&f, "POST", USERPASS("confirm"), NULL,
                        ts_printf("{\"token\":\"%s\",\"tokenId\":\"%s\"}", t2, id1), NULL),
                   400, "UserpassTokenInvalid");
    /* idpd's own page (its API) confirms it as well as the SDK's call would */
    struct ts_req rq = {.method = "POST",
                        .path = "/v1/email/verify",
                        .body = ts_printf("{\"token\":\"%s\"}", t2),
                        .content_type = "application/json"};
    CHECK_INT(ts_do(f.s, &rq)->status, 204);
    CHECK_AS_ERROR(login_password(&f, "race@example.com", "the first password"), 401,
                   "InvalidPassword");
    struct user u;
    CHECK(tokens_of(login_password(&f, "race@example.com", "the second password"), &u));
    /* the address was proven by the link */
    struct ts_resp *me = ts_bearer(f.s, "GET", "/v1/me", u.at, NULL);
    CHECK_INT(me->status, 200);
    CHECK(json_is_true(json_object_get(me->json, "email_verified")));
    /* registering the taken address: the same 201, and its owner is told */
    CHECK_INT(call(&f, "POST", USERPASS("register"), NULL, reg1, NULL)->status, 201);
    CHECK_INT(th_sink_count(sink, "race@example.com", 3, 15000, NULL), 3);
    CHECK(tokens_of(login_password(&f, "race@example.com", "the second password"), &u));
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(native_sdk_requests_and_the_tokens_it_parses);
    RUN(refresh_tokens_do_not_rotate_and_are_their_own_kind);
    RUN(bad_bodies_are_refused_and_change_nothing);
    RUN(links_never_merge_two_users);
    RUN(api_keys_limits_owners_and_states);
    RUN(admins_disable_delete_and_revoke_at_once);
    RUN(origins_apps_and_providers);
    RUN(app_services_ids_through_the_admin_api);
    RUN(registrations_with_mail_confirm_and_the_last_one_wins);
    return ts_done();
}
