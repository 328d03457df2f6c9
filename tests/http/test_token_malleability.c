/* One token, one text (security review, issue 12, finding 7). ECDSA is malleable: when (r, s)
 * is a valid signature, so is (r, n - s), and anyone holding a token could make its twin, a
 * second text that verified everywhere the first did (a denylist, revocation list or replay
 * cache keyed on the token text would not recognise it). idpd signs ES256 with s <= n/2 only and
 * refuses the high-S twin: introspection says inactive, the admin API and the bearer endpoints
 * answer 401. The twin is made here from a real token the server issued. */
#include <openssl/bn.h>
#include <string.h>

#include "support.h"

static const char *const r_admin[] = {"idp:admin", NULL};
static const char *const r_intro[] = {"idp:introspect", NULL};

/* The P-256 group order (FIPS 186-4 D.1.2.3). */
static const char p256_n_hex[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

/* s of an ES256 token's r||s signature (the caller frees it with BN_free()), or NULL. The
 * ts_b64url_* results belong to the case (ts_keep). */
static BIGNUM *sig_s(const char *token)
{
    const char *dot = strrchr(token, '.');
    size_t len = 0;
    unsigned char *raw =
        dot ? (unsigned char *)ts_b64url_decode(dot + 1, strlen(dot + 1), &len) : NULL;
    return raw && len == 64 ? BN_bin2bn(raw + 32, 32, NULL) : NULL;
}

/* token with s replaced by n - s: the same header and payload, the other valid signature. */
static const char *twin_of(const char *token, const BIGNUM *n)
{
    const char *dot = strrchr(token, '.');
    size_t len = 0;
    unsigned char *raw = (unsigned char *)ts_b64url_decode(dot + 1, strlen(dot + 1), &len);
    BIGNUM *s = raw && len == 64 ? BN_bin2bn(raw + 32, 32, NULL) : NULL;
    const char *out = NULL;
    if (s && BN_sub(s, n, s) == 1 && BN_bn2binpad(s, raw + 32, 32) == 32) {
        char *sig = ts_b64url_encode(raw, 64);
        if (sig)
            out = ts_printf("%.*s.%s", (int)(dot - token), token, sig);
    }
    BN_free(s);
    return out;
}

TEST(es256_high_s_twin_refused)
{
    struct ts_account admin, intro;
    BIGNUM *n = NULL, *half = BN_new(), *s = NULL;
    struct ts_server *srv = ts_start(NULL);
    CHECK(srv != NULL);
    CHECK(ts_sa_create(srv->data, "admin", r_admin, NULL, &admin) == 0);
    CHECK(ts_sa_create(srv->data, "introspector", r_intro, NULL, &intro) == 0);
    CHECK(BN_hex2bn(&n, p256_n_hex) == 64 && half && BN_rshift1(half, n) == 1);

    /* a real token; its twin is a valid ECDSA signature of the same bytes under the published
     * key (whichever half the token's s is in) */
    const char *tok = ts_token_str(srv, &admin);
    CHECK(tok != NULL);
    const char *twin = twin_of(tok, n);
    CHECK(twin && strcmp(twin, tok) != 0);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(tok, &hdr, &claims) == 0);
    struct ts_resp *jwks = ts_get(srv, "/jwks");
    CHECK_INT(jwks->status, 200);
    json_t *jwk = ts_jwks_key(jwks->json, ts_jstr(hdr, "kid"));
    CHECK(jwk != NULL);
    CHECK(ts_es256_verify(tok, jwk) == 1);
    CHECK(ts_es256_verify(twin, jwk) == 1);

    /* introspection: the original is active, the twin is not */
    struct ts_resp *r = ts_introspect(srv, &intro, tok);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "sub"), admin.id);
    CHECK_INACTIVE(ts_introspect(srv, &intro, twin));

    /* the admin API: the original authenticates, the twin does not */
    r = ts_bearer(srv, "GET", "/admin/v1/keys", tok, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_BEARER_401(ts_bearer(srv, "GET", "/admin/v1/keys", twin, NULL),
                     ", error=\"invalid_token\"");
    /* the self-service API: a service account's token is refused as such (403); its twin is
     * not a token at all (401) */
    CHECK_PROBLEM(ts_bearer(srv, "GET", "/v1/me", tok, NULL), 403);
    CHECK_BEARER_401(ts_bearer(srv, "GET", "/v1/me", twin, NULL), ", error=\"invalid_token\"");

    /* every token the server signs is low-S (OpenSSL's own s is high half the time) */
    for (int i = 0; i < 20; i++) {
        const char *t = ts_token_str(srv, &admin);
        CHECK(t != NULL);
        s = sig_s(t);
        CHECK(s != NULL);
        int low = BN_cmp(s, half) <= 0;
        BN_free(s);
        CHECK_MSG(low, "token %d has s > n/2: %s", i, t);
    }

    BN_free(n);
    BN_free(half);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(es256_high_s_twin_refused);
    return ts_done();
}
