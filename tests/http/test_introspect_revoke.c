/* Introspection (RFC 7662) and revocation (RFC 7009): who may call them, what an active token
 * shows, and every kind of token that must be inactive, down to forged ones. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

static const char *const intro_roles[] = {"idp:introspect", NULL};
static const char *const app_roles[] = {"writer", "reader", NULL};

struct fixture {
    struct ts_server *s;
    struct ts_account caller; /* holds idp:introspect */
    struct ts_account app;    /* holds reader and writer */
};

static int setup(struct fixture *f)
{
    f->s = ts_start(NULL);
    return f->s &&
           ts_sa_create(f->s->data, "resource-server", intro_roles, NULL, &f->caller) == 0 &&
           ts_sa_create(f->s->data, "app", app_roles, NULL, &f->app) == 0;
}

static int is_active(struct fixture *f, const char *token)
{
    struct ts_resp *r = ts_introspect(f->s, &f->caller, token);
    return r->status == 200 && json_is_true(json_object_get(r->json, "active"));
}

/* The decoded payload (JSON text) of a token. */
static const char *payload_of(const char *token)
{
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    return d2 ? ts_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), NULL) : NULL;
}

static const char *kid_of(const char *token)
{
    json_t *h, *p;
    return ts_jwt_decode(token, &h, &p) == 0 ? ts_jstr(h, "kid") : NULL;
}

/* Claims that look exactly like idpd's for account a, with exp = now + exp_in. */
static const char *claims_for(struct fixture *f, const struct ts_account *a, const char *iss,
                              long long exp_in, const char *jti)
{
    long long now = (long long)time(NULL);
    return ts_printf("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld,"
                     "\"jti\":\"%s\",\"client_id\":\"%s\",\"principal_type\":\"service_account\","
                     "\"roles\":[\"reader\",\"writer\"]}",
                     iss ? iss : f->s->issuer, a->id, f->s->issuer, now - 10, now + exp_in, jti,
                     a->id);
}

TEST(introspect_active_token)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *t = ts_token(f.s, &f.app, NULL);
    CHECK_INT(t->status, 200);
    const char *tok = ts_jstr(t->json, "access_token");
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(tok, &hdr, &claims) == 0);
    struct ts_resp *r = ts_introspect(f.s, &f.caller, tok);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    json_t *j = r->json;
    CHECK(json_is_true(json_object_get(j, "active")));
    CHECK_STR(ts_jstr(j, "token_type"), "Bearer");
    CHECK_STR(ts_jstr(j, "sub"), f.app.id);
    CHECK_STR(ts_jstr(j, "client_id"), f.app.id);
    CHECK_STR(ts_jstr(j, "iss"), ts_printf("http://127.0.0.1:%u", f.s->port));
    CHECK_STR(ts_jstr(j, "aud"), ts_jstr(claims, "aud"));
    CHECK_STR(ts_jstr(j, "jti"), ts_jstr(claims, "jti"));
    CHECK_INT(ts_jint(j, "exp"), ts_jint(claims, "exp"));
    CHECK_INT(ts_jint(j, "iat"), ts_jint(claims, "iat"));
    CHECK_INT(ts_jint(j, "exp") - ts_jint(j, "iat"), 3600);
    CHECK_STR(ts_jstr(j, "principal_type"), "service_account");
    CHECK_STR(ts_jarray_join(json_object_get(j, "roles")), "reader,writer");
    CHECK_INT(json_object_size(j), 11);

    /* a narrowed token shows its scope */
    t = ts_token(f.s, &f.app, "scope=reader");
    CHECK_INT(t->status, 200);
    r = ts_introspect(f.s, &f.caller, ts_jstr(t->json, "access_token"));
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "scope"), "reader");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "reader");

    /* client_secret_post works for the caller too, and a caller may introspect its own token */
    r = ts_post(
        f.s, "/oauth/introspect", NULL,
        ts_printf("token=%s&client_id=%s&client_secret=%s", tok, f.caller.id, f.caller.secret));
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK(is_active(&f, ts_token_str(f.s, &f.caller)));
}

TEST(introspect_caller_rules)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    /* an account without idp:introspect or idp:admin */
    struct ts_resp *r = ts_introspect(f.s, &f.app, tok);
    CHECK_OAUTH_ERROR(r, 403, "access_denied");
    /* a wrong caller secret, an unknown caller, no caller */
    struct ts_account wrong = f.caller;
    wrong.secret[9] = wrong.secret[9] == 'k' ? 'j' : 'k';
    r = ts_introspect(f.s, &wrong, tok);
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    CHECK(ts_header(r, "WWW-Authenticate") != NULL);
    r = ts_post(f.s, "/oauth/introspect", NULL, ts_printf("token=%s", tok));
    CHECK_OAUTH_ERROR(r, 401, "invalid_client");
    /* idp:admin is enough */
    const char *const admin_roles[] = {"idp:admin", NULL};
    struct ts_account admin;
    CHECK_INT(ts_sa_create(f.s->data, "admin", admin_roles, NULL, &admin), 0);
    r = ts_introspect(f.s, &admin, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    /* a scoped role is not the role */
    const char *const scoped[] = {"idp:introspect@proj", NULL};
    struct ts_account near;
    CHECK_INT(ts_sa_create(f.s->data, "near", scoped, NULL, &near), 0);
    CHECK_OAUTH_ERROR(ts_introspect(f.s, &near, tok), 403, "access_denied");
    /* refused callers changed nothing */
    CHECK(is_active(&f, tok));
}

TEST(introspect_missing_token_400)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *h[] = {ts_basic(&f.caller), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/introspect", h, ""), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/introspect", h, "token="), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/introspect", h, "token_type_hint=access_token"), 400,
                      "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/introspect", h, "token=a&token=b"), 400,
                      "invalid_request");
}

TEST(introspect_garbage_inactive)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    char *huge = ts_keep(malloc(9001));
    memset(huge, 'A', 9000);
    huge[9000] = '\0';
    const char *bad[] = {
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        ts_printf("%s.", tok),                        /* a fourth segment */
        ts_printf("%s.x.y", tok),                     /* five segments */
        ts_printf("%s ", tok),                        /* trailing space */
        ts_printf("%.*s", (int)strlen(tok) - 2, tok), /* truncated signature */
        huge,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INACTIVE(ts_introspect(f.s, &f.caller, bad[i]));
    CHECK(is_active(&f, tok));
}

/* alg none and HMAC with public material as the key, each naming a real kid. */
TEST(introspect_alg_confusion_inactive)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    const char *kid = kid_of(tok), *payload = payload_of(tok);
    CHECK(kid && payload);
    struct ts_resp *jwks = ts_get(f.s, "/jwks");
    json_t *jwk = ts_jwks_key(jwks->json, kid);
    CHECK(jwk);

    const char *none[] = {"none", "None", "NONE"};
    for (size_t i = 0; i < 3; i++) {
        const char *h =
            ts_printf("{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", none[i], kid);
        CHECK_INACTIVE(ts_introspect(f.s, &f.caller, ts_jws_unsigned(h, payload)));
    }
    /* none with the real signature left on */
    const char *h = ts_printf("{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
    const char *sig = strrchr(tok, '.') + 1;
    CHECK_INACTIVE(
        ts_introspect(f.s, &f.caller, ts_printf("%s%s", ts_jws_unsigned(h, payload), sig)));

    const char *x = ts_jstr(jwk, "x");
    size_t xl = 0;
    const char *xbytes = ts_b64url_decode(x, strlen(x), &xl);
    const char *jwk_text = ts_keep(json_dumps(jwk, JSON_COMPACT));
    struct {
        const void *key;
        size_t len;
    } keys[] = {
        {jwks->body, jwks->len}, {x, strlen(x)}, {xbytes, xl}, {jwk_text, strlen(jwk_text)}};
    const char *algs[] = {"HS256", "HS384", "HS512"};
    for (size_t a = 0; a < 3; a++) {
        h = ts_printf("{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", algs[a], kid);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *forged = ts_jws_hs256(h, payload, keys[k].key, keys[k].len);
            CHECK(forged);
            CHECK_INACTIVE(ts_introspect(f.s, &f.caller, forged));
        }
    }
    /* the token's own alg header cannot pick another algorithm for the key */
    h = ts_printf("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
    CHECK_INACTIVE(
        ts_introspect(f.s, &f.caller, ts_printf("%s%s", ts_jws_unsigned(h, payload), sig)));
    CHECK(is_active(&f, tok));
}

/* Tokens signed by keys idpd does not hold: another data folder's (unknown kid), and a fresh key
 * behind a real kid (bad signature). A tampered payload and a kid swapped to the other published
 * key fail the same way. */
TEST(introspect_foreign_signatures_inactive)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    const char *kid = kid_of(tok), *payload = payload_of(tok);
    CHECK(kid && payload);

    struct keys *foreign = ts_keys_open(ts_path("foreign"));
    CHECK(foreign);
    const char *t1 = ts_keys_sign(foreign, "at+jwt", claims_for(&f, &f.app, NULL, 3600, "f1"));
    CHECK(t1);
    CHECK(strcmp(kid_of(t1), kid) != 0);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t1));

    /* the foreign folder's token, its header naming the real kid: the signature is the foreign
     * key's */
    const char *h = ts_printf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    const char *t1b = ts_printf("%s%s", ts_b64url_encode(h, strlen(h)), strchr(t1, '.'));
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t1b));

    /* a fresh key's signature over exactly this header (real kid) and the real payload */
    const char *t2 = ts_jws_es256_foreign(h, payload);
    CHECK(t2);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t2));

    /* the real header and signature around another payload */
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    json_t *p = ts_keep_json(json_loads(payload, 0, NULL));
    json_object_set_new(p, "roles", json_pack("[s]", "idp:admin"));
    char *ptext = ts_keep(json_dumps(p, JSON_COMPACT));
    const char *t3 =
        ts_printf("%.*s.%s%s", (int)(d1 - tok), tok, ts_b64url_encode(ptext, strlen(ptext)), d2);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t3));

    /* the real token, its header naming the next key instead */
    struct ts_resp *jwks = ts_get(f.s, "/jwks");
    json_t *keys = json_object_get(jwks->json, "keys");
    CHECK_INT(json_array_size(keys), 2);
    const char *other = ts_jstr(json_array_get(keys, 0), "kid");
    if (strcmp(other, kid) == 0)
        other = ts_jstr(json_array_get(keys, 1), "kid");
    h = ts_printf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", other);
    const char *t4 =
        ts_printf("%s%s", ts_b64url_encode(h, strlen(h)), d1); /* payload and signature kept */
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t4));
    CHECK(is_active(&f, tok));
}

/* Tokens signed with the server's own key (opened beside it through libidp): a faithful one is
 * active, which shows the forging is sound; each single flaw then makes it inactive. */
TEST(introspect_own_key_forgeries)
{
    struct fixture f;
    CHECK(setup(&f));
    struct keys *own = ts_keys_open(f.s->data);
    CHECK(own);
    const char *good = ts_keys_sign(own, "at+jwt", claims_for(&f, &f.app, NULL, 3600, "good"));
    CHECK(good);
    struct ts_resp *r = ts_introspect(f.s, &f.caller, good);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "jti"), "good");

    /* expired a second ago, and expiring right now */
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller, ts_keys_sign(own, "at+jwt", claims_for(&f, &f.app, NULL, -1, "old"))));
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller, ts_keys_sign(own, "at+jwt", claims_for(&f, &f.app, NULL, -3600, "older"))));
    /* typ JWT (an ID token or any other JWT), and no typ-like typ at all */
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller, ts_keys_sign(own, "JWT", claims_for(&f, &f.app, NULL, 3600, "jwt"))));
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller, ts_keys_sign(own, "id+jwt", claims_for(&f, &f.app, NULL, 3600, "id"))));
    /* another issuer */
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller,
        ts_keys_sign(own, "at+jwt",
                     claims_for(&f, &f.app, "http://127.0.0.1:1", 3600, "other-iss"))));
    /* a principal that never existed */
    struct ts_account ghost = f.app;
    snprintf(ghost.id, sizeof ghost.id, "sa_01ghost");
    CHECK_INACTIVE(ts_introspect(
        f.s, &f.caller, ts_keys_sign(own, "at+jwt", claims_for(&f, &ghost, NULL, 3600, "ghost"))));
    /* missing claims the checker needs */
    long long now = (long long)time(NULL);
    const char *no_jti = ts_printf("{\"iss\":\"%s\",\"sub\":\"%s\",\"exp\":%lld,"
                                   "\"principal_type\":\"service_account\"}",
                                   f.s->issuer, f.app.id, now + 3600);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, ts_keys_sign(own, "at+jwt", no_jti)));
    const char *str_exp = ts_printf("{\"iss\":\"%s\",\"sub\":\"%s\",\"exp\":\"%lld\",\"jti\":\"s\","
                                    "\"principal_type\":\"service_account\"}",
                                    f.s->issuer, f.app.id, now + 3600);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, ts_keys_sign(own, "at+jwt", str_exp)));
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, ts_keys_sign(own, "at+jwt", "[1,2]")));
    CHECK(is_active(&f, good));
}

TEST(introspect_deleted_account_inactive)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    CHECK(is_active(&f, tok));
    CHECK_INT(ts_store_sa_delete(f.s->data, f.app.id), 0);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, tok));
    /* no new token either, cached secret or not */
    CHECK_OAUTH_ERROR(ts_token(f.s, &f.app, NULL), 401, "invalid_client");
    /* the other account is untouched */
    CHECK(is_active(&f, ts_token_str(f.s, &f.caller)));
}

TEST(revoke_own_token)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app), *other = ts_token_str(f.s, &f.app);
    CHECK(tok && other);
    CHECK(is_active(&f, tok));
    struct ts_resp *r = ts_revoke(f.s, &f.app, tok);
    CHECK_INT(r->status, 200);
    CHECK_INT(r->len, 0);
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, tok));
    /* only that token */
    CHECK(is_active(&f, other));
    /* again: still 200, still revoked */
    r = ts_revoke(f.s, &f.app, tok);
    CHECK_INT(r->status, 200);
    CHECK_INT(r->len, 0);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, tok));
    /* with client_secret_post and a token_type_hint */
    r = ts_post(f.s, "/oauth/revoke", NULL,
                ts_printf("token=%s&token_type_hint=access_token&client_id=%s&client_secret=%s",
                          other, f.app.id, f.app.secret));
    CHECK_INT(r->status, 200);
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, other));
    /* the account itself still gets tokens */
    CHECK(is_active(&f, ts_token_str(f.s, &f.app)));
}

TEST(revoke_unknown_tokens_200)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    struct keys *foreign = ts_keys_open(ts_path("foreign"));
    CHECK(foreign);
    const char *bad[] = {"garbage", "a.b.c",
                         ts_keys_sign(foreign, "at+jwt", claims_for(&f, &f.app, NULL, 3600, "x"))};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = ts_revoke(f.s, &f.app, bad[i]);
        CHECK_INT(r->status, 200);
        CHECK_INT(r->len, 0);
    }
    CHECK(is_active(&f, tok));
}

TEST(revoke_other_accounts_token_400)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    struct ts_resp *r = ts_revoke(f.s, &f.caller, tok);
    CHECK_OAUTH_ERROR(r, 400, "unauthorized_client");
    CHECK(is_active(&f, tok));
}

TEST(revoke_bad_requests)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *tok = ts_token_str(f.s, &f.app);
    CHECK(tok);
    const char *h[] = {ts_basic(&f.app), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", h, ""), 400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", h, "token_type_hint=access_token"), 400,
                      "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", h, ts_printf("token=%s&token=%s", tok, tok)),
                      400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", h, "token=%zz"), 400, "invalid_request");
    /* unauthenticated or wrongly authenticated revocation changes nothing */
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", NULL, ts_printf("token=%s", tok)), 401,
                      "invalid_client");
    struct ts_account wrong = f.app;
    wrong.secret[11] = wrong.secret[11] == 'm' ? 'n' : 'm';
    CHECK_OAUTH_ERROR(ts_revoke(f.s, &wrong, tok), 401, "invalid_client");
    CHECK(is_active(&f, tok));
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(introspect_active_token);
    RUN(introspect_caller_rules);
    RUN(introspect_missing_token_400);
    RUN(introspect_garbage_inactive);
    RUN(introspect_alg_confusion_inactive);
    RUN(introspect_foreign_signatures_inactive);
    RUN(introspect_own_key_forgeries);
    RUN(introspect_deleted_account_inactive);
    RUN(revoke_own_token);
    RUN(revoke_unknown_tokens_200);
    RUN(revoke_other_accounts_token_400);
    RUN(revoke_bad_requests);
    return ts_done();
}
