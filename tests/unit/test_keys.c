/* Unit tests of keys/: master key, generation and sealing, JWK thumbprints, the JWKS, JWT
 * signing and verification (including the attacks a verifier must refuse), persistence,
 * rotation and concurrent starts. Each case uses a fresh data folder and its own store. */
#include "harness.h"

#include "keys/internal.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint8_t master_a[KEYS_MASTER_LEN] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

static const char claims[] = "{\"sub\":\"usr_01\",\"exp\":4102444800,\"roles\":[\"idp:admin\"]}";

/* ---- helpers ---- */

static char *b64(const void *p, size_t n)
{
    size_t cap = crypto_b64url_len(n) + 1;
    char *s = malloc(cap);
    if (s && crypto_b64url_encode(p, n, s, cap, NULL) != CRYPTO_OK) {
        free(s);
        s = NULL;
    }
    return s;
}

/* Decodes base64url into a malloc'd NUL-terminated buffer; NULL when invalid. */
static char *unb64(const char *s, size_t n, size_t *len)
{
    char *p = malloc(n + 3);
    size_t got = 0;
    if (p && crypto_b64url_decode(s, n, p, n + 2, &got) != CRYPTO_OK) {
        free(p);
        return NULL;
    }
    if (p)
        p[got] = '\0';
    if (len)
        *len = got;
    return p;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

static const char *subdir(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", th_tmpdir(), name);
    mkdir(path, 0700);
    return path;
}

struct fixture {
    struct store *st;
    struct keys *kr;
};

static int fixture_open(struct fixture *f, const char *dir, const char *alg)
{
    struct keys_options o = {alg, 3600};
    int rc;

    memset(f, 0, sizeof *f);
    rc = store_open(th_store_for(dir), NULL, &f->st);
    if (rc != STORE_OK) {
        fprintf(stderr, "  store_open: %s\n", store_strerror(rc));
        return -1;
    }
    rc = keys_open(f->st, master_a, &o, &f->kr);
    if (rc != KEYS_OK) {
        fprintf(stderr, "  keys_open: %s\n", keys_strerror(rc));
        return rc;
    }
    return 0;
}

static void fixture_close(struct fixture *f)
{
    keys_close(f->kr);
    store_close(f->st);
    memset(f, 0, sizeof *f);
}

/* The kid of the key in state (from keys_list) into kid; 0 when found. */
static int kid_in_state(struct keys *kr, const char *state, char kid[KEYS_KID_MAX])
{
    struct keys_info *items = NULL;
    size_t n = 0;
    int found = -1;

    if (keys_list(kr, &items, &n) != KEYS_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].state, state) == 0) {
            snprintf(kid, KEYS_KID_MAX, "%s", items[i].kid);
            found = 0;
            break;
        }
    }
    free(items);
    return found;
}

static json_t *jwks_json(struct keys *kr)
{
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;

    if (keys_jwks_dup(kr, &text, &len) == KEYS_OK && strlen(text) == len)
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    return j;
}

/* The P-256 group order (FIPS 186-4 D.1.2.3), written out so the test does not take n from the
 * code it checks. */
static const char p256_n_hex[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

/* Signs header "." claims with the ring key named kid (any state), like a real signer would,
 * but with a header the test chooses. sig_adjust > 0 appends bytes to the JWS signature,
 * < 0 removes bytes. low_s: an ES256 s above n/2 becomes n - s, as idpd's signer writes it;
 * 0 keeps OpenSSL's s (either half). Returns the token, malloc'd. */
static char *forge_ex(struct keys *kr, const char *kid, const char *header, const char *body,
                      int sig_adjust, int low_s)
{
    struct ring *r = keys_ring_acquire(kr);
    const struct ring_key *k = keys_ring_find(r, kid);
    char *h = b64(header, strlen(header)), *c = b64(body, strlen(body)), *s = NULL, *tok = NULL;
    char *input = NULL;
    uint8_t sig[600], raw[600];
    size_t sig_len = sizeof sig, raw_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!k || !h || !c || !ctx)
        goto out;
    input = malloc(strlen(h) + strlen(c) + 2);
    snprintf(input, strlen(h) + strlen(c) + 2, "%s.%s", h, c);
    if (EVP_DigestSignInit(ctx, NULL, k->alg == KEYS_ALG_EDDSA ? NULL : EVP_sha256(), NULL,
                           k->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)input, strlen(input)) != 1)
        goto out;
    if (k->alg == KEYS_ALG_ES256) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        const BIGNUM *br, *bs;
        BIGNUM *n = NULL, *half = BN_new(), *low = BN_new();
        ECDSA_SIG_get0(es, &br, &bs);
        BN_hex2bn(&n, p256_n_hex);
        BN_rshift1(half, n);
        if (low_s && BN_cmp(bs, half) > 0 && BN_sub(low, n, bs) == 1)
            bs = low;
        BN_bn2binpad(br, raw, 32);
        BN_bn2binpad(bs, raw + 32, 32);
        BN_free(n);
        BN_free(half);
        BN_free(low);
        ECDSA_SIG_free(es);
        raw_len = 64;
    } else {
        memcpy(raw, sig, sig_len);
        raw_len = sig_len;
    }
    if (sig_adjust > 0) {
        memset(raw + raw_len, 0, (size_t)sig_adjust);
        raw_len += (size_t)sig_adjust;
    } else {
        raw_len -= (size_t)-sig_adjust;
    }
    s = b64(raw, raw_len);
    if (s)
        tok = join3(h, c, s);
out:
    EVP_MD_CTX_free(ctx);
    keys_ring_release(kr, r);
    free(h);
    free(c);
    free(s);
    free(input);
    return tok;
}

static char *forge(struct keys *kr, const char *kid, const char *header, const char *body,
                   int sig_adjust)
{
    return forge_ex(kr, kid, header, body, sig_adjust, 1);
}

/* keys_jwt_verify() of a NUL-terminated token, expecting at+jwt; frees the payload. */
static int verify(struct keys *kr, const char *token)
{
    char *payload = NULL;
    size_t plen = 0;
    int rc = keys_jwt_verify(kr, token, strlen(token), "at+jwt", &payload, &plen, NULL);
    if (rc == KEYS_OK && !payload)
        rc = -1;
    free(payload);
    return rc;
}

/* ---- sign / verify ---- */

static void roundtrip(const char *alg, size_t sig_len)
{
    struct fixture f;
    char *tok = NULL, *payload = NULL, *hdr = NULL, *sig = NULL;
    char kid[KEYS_KID_MAX] = "", active[KEYS_KID_MAX] = "", expect_hdr[256];
    size_t plen = 0, n = 0;
    json_t *jwks = NULL;

    CHECK_INT(fixture_open(&f, th_tmpdir(), alg), 0);
    CHECK_STR(keys_active_alg(f.kr), alg);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(keys_jwt_verify(f.kr, tok, strlen(tok), "at+jwt", &payload, &plen, kid), KEYS_OK);
    CHECK_INT(plen, strlen(claims));
    CHECK_STR(payload, claims);

    /* the kid that verified is the active key's, and it is the first key of the JWKS */
    CHECK_INT(kid_in_state(f.kr, "active", active), 0);
    CHECK_STR(kid, active);
    CHECK_INT(strlen(kid), 43);
    jwks = jwks_json(f.kr);
    CHECK(jwks != NULL);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "kid")),
        kid);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "alg")),
        alg);

    /* header exactly as documented, and a signature of the size the alg defines */
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    hdr = unb64(tok, (size_t)(dot1 - tok), NULL);
    CHECK(hdr != NULL);
    snprintf(expect_hdr, sizeof expect_hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             alg, kid);
    CHECK_STR(hdr, expect_hdr);
    sig = unb64(dot2 + 1, strlen(dot2 + 1), &n);
    CHECK(sig != NULL);
    CHECK_INT(n, sig_len);

    json_decref(jwks);
    free(tok);
    free(payload);
    free(hdr);
    free(sig);
    fixture_close(&f);
}

TEST(sign_verify_es256)
{
    roundtrip("ES256", 64);
}

TEST(sign_verify_rs256)
{
    roundtrip("RS256", 256);
}

TEST(sign_verify_eddsa)
{
    roundtrip("EdDSA", 64);
}

TEST(tampered_token_refused)
{
    struct fixture f;
    char *tok = NULL;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);

    /* one character in the middle of the payload segment: still valid base64url */
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char *pc = dot1 + 1 + (dot2 - dot1 - 1) / 2, saved = *pc;
    *pc = saved == 'A' ? 'B' : 'A';
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    *pc = saved;

    char *sc = dot2 + 1 + strlen(dot2 + 1) / 2;
    saved = *sc;
    *sc = saved == 'A' ? 'B' : 'A';
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    *sc = saved;
    CHECK_INT(verify(f.kr, tok), KEYS_OK);

    /* a whole signature of another token over this content */
    char *other = NULL;
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", "{}", 2, &other), KEYS_OK);
    size_t hp = (size_t)(dot2 - tok) + 1;
    const char *osig = strrchr(other, '.') + 1;
    char *mixed = malloc(hp + strlen(osig) + 1);
    memcpy(mixed, tok, hp);
    memcpy(mixed + hp, osig, strlen(osig) + 1);
    CHECK_INT(verify(f.kr, mixed), KEYS_ESIG);
    free(mixed);
    free(other);
    free(tok);
    fixture_close(&f);
}

TEST(alg_none_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header, "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
    char *tok = join3(h, c, "");
    CHECK_INT(verify(f.kr, tok), KEYS_EALG);
    free(tok);
    /* "None", lower-case es256 and a missing or non-string alg are refused the same way */
    const char *variants[] = {
        "\"alg\":\"None\",", "\"alg\":\"es256\",", "", "\"alg\":null,", "\"alg\":[\"ES256\"],",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        snprintf(header, sizeof header, "{%s\"kid\":\"%s\",\"typ\":\"at+jwt\"}", variants[i], kid);
        tok = forge(f.kr, kid, header, claims, 0);
        CHECK(tok != NULL);
        CHECK_MSG(verify(f.kr, tok) == KEYS_EALG, "variant %zu", i);
        free(tok);
    }
    free(h);
    free(c);
    fixture_close(&f);
}

/* The classic confusion: HS256 keyed with what the verifier publishes. */
TEST(hmac_with_public_key_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256], *jwks = NULL, *input = NULL;
    size_t jwks_len = 0;
    uint8_t mac[CRYPTO_SHA256_LEN], point[65];
    json_t *j = NULL;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_INT(keys_jwks_dup(f.kr, &jwks, &jwks_len), KEYS_OK);
    const char *algs[] = {"HS256", "HS384", "HS512"};
    for (size_t a = 0; a < 3; a++) {
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
                 algs[a], kid);
        char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
        input = malloc(strlen(h) + strlen(c) + 2);
        snprintf(input, strlen(h) + strlen(c) + 2, "%s.%s", h, c);

        /* key 1: the JWKS text */
        CHECK_INT(crypto_hmac_sha256(jwks, jwks_len, input, strlen(input), mac), CRYPTO_OK);
        char *s = b64(mac, sizeof mac), *tok = join3(h, c, s);
        CHECK_INT(verify(f.kr, tok), KEYS_EALG);
        free(s);
        free(tok);

        /* key 2: the public key bytes (uncompressed point 04||x||y) */
        j = jwks_json(f.kr);
        json_t *k0 = json_array_get(json_object_get(j, "keys"), 0);
        const char *x = json_string_value(json_object_get(k0, "x"));
        const char *y = json_string_value(json_object_get(k0, "y"));
        size_t xl = 0, yl = 0;
        char *xb = unb64(x, strlen(x), &xl), *yb = unb64(y, strlen(y), &yl);
        CHECK(xl == 32 && yl == 32);
        point[0] = 4;
        memcpy(point + 1, xb, 32);
        memcpy(point + 33, yb, 32);
        CHECK_INT(crypto_hmac_sha256(point, sizeof point, input, strlen(input), mac), CRYPTO_OK);
        s = b64(mac, sizeof mac);
        tok = join3(h, c, s);
        CHECK_INT(verify(f.kr, tok), KEYS_EALG);
        free(s);
        free(tok);
        free(xb);
        free(yb);
        json_decref(j);
        j = NULL;
        free(h);
        free(c);
        free(input);
        input = NULL;
    }
    free(jwks);
    fixture_close(&f);
}

TEST(alg_of_other_key_type_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    const char *algs[] = {"RS256", "EdDSA"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
                 algs[i], kid);
        /* signed correctly with the ES256 key: only the alg header lies */
        char *tok = forge(f.kr, kid, header, claims, 0);
        CHECK(tok != NULL);
        CHECK_INT(verify(f.kr, tok), KEYS_EALG);
        free(tok);
    }
    /* and the same header with the honest alg verifies */
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    char *tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    fixture_close(&f);
}

TEST(unknown_or_missing_kid_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    const char *headers[] = {
        ("{\"alg\":\"ES256\",\"kid\":\"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\","
         "\"typ\":\"at+jwt\"}"),
        "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":42,\"typ\":\"at+jwt\"}",
        "{\"alg\":\"ES256\",\"kid\":\"\",\"typ\":\"at+jwt\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *tok = forge(f.kr, kid, headers[i], claims, 0);
        CHECK(tok != NULL);
        CHECK_MSG(verify(f.kr, tok) == KEYS_EKID, "header %zu", i);
        free(tok);
    }
    /* a kid longer than any kid */
    char longkid[200];
    memset(longkid, 'A', sizeof longkid - 1);
    longkid[sizeof longkid - 1] = '\0';
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             longkid);
    char *tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_EKID);
    free(tok);
    fixture_close(&f);
}

TEST(typ_checked)
{
    struct fixture f;
    char *tok = NULL, kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(keys_jwt_sign(f.kr, "JWT", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(verify(f.kr, tok), KEYS_ETYP);
    free(tok);
    CHECK_INT(keys_jwt_sign(f.kr, "application/at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    CHECK_INT(keys_jwt_sign(f.kr, "AT+JWT", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    CHECK_INT(keys_jwt_sign(f.kr, "application/jwt", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(verify(f.kr, tok), KEYS_ETYP);
    free(tok);
    /* expect "JWT" (ID tokens) */
    CHECK_INT(keys_jwt_sign(f.kr, "JWT", claims, strlen(claims), &tok), KEYS_OK);
    char *payload = NULL;
    CHECK_INT(keys_jwt_verify(f.kr, tok, strlen(tok), "JWT", &payload, NULL, NULL), KEYS_OK);
    free(payload);
    free(tok);
    /* missing typ, non-string typ */
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_ETYP);
    free(tok);
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":1}", kid);
    tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_ETYP);
    free(tok);
    /* a typ that cannot be written into the header unescaped is refused at signing */
    CHECK_INT(keys_jwt_sign(f.kr, "at\"+jwt", claims, strlen(claims), &tok), KEYS_EINVAL);
    CHECK_INT(keys_jwt_sign(f.kr, "", claims, strlen(claims), &tok), KEYS_EINVAL);
    fixture_close(&f);
}

TEST(crit_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header,
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\",\"crit\":[\"exp\"],"
             "\"exp\":1}",
             kid);
    char *tok = forge(f.kr, kid, header, claims, 0);
    CHECK(tok != NULL);
    CHECK_INT(verify(f.kr, tok), KEYS_EFORMAT);
    free(tok);
    snprintf(header, sizeof header,
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\",\"b64\":false,"
             "\"crit\":[\"b64\"]}",
             kid);
    tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_EFORMAT);
    free(tok);
    fixture_close(&f);
}

TEST(malformed_tokens_refused)
{
    struct fixture f;
    char *tok = NULL, kid[KEYS_KID_MAX], header[256], *payload = NULL;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    size_t len = strlen(tok);

    /* longer than KEYS_JWT_MAX: a valid token followed by junk, and a huge payload */
    char *big = malloc(KEYS_JWT_MAX + 2);
    memcpy(big, tok, len);
    memset(big + len, 'A', KEYS_JWT_MAX + 1 - len);
    big[KEYS_JWT_MAX + 1] = '\0';
    CHECK_INT(keys_jwt_verify(f.kr, big, KEYS_JWT_MAX + 1, "at+jwt", &payload, NULL, NULL),
              KEYS_EFORMAT);
    free(big);
    /* len counts, not strlen: the valid prefix verifies when len says so */
    char *padded = malloc(len + 10);
    memcpy(padded, tok, len);
    memcpy(padded + len, ".xyz", 5);
    CHECK_INT(keys_jwt_verify(f.kr, padded, len, "at+jwt", &payload, NULL, NULL), KEYS_OK);
    free(payload);
    payload = NULL;
    /* four segments */
    CHECK_INT(keys_jwt_verify(f.kr, padded, len + 4, "at+jwt", &payload, NULL, NULL), KEYS_EFORMAT);
    free(padded);
    /* two segments */
    const char *dot2 = strrchr(tok, '.');
    CHECK_INT(keys_jwt_verify(f.kr, tok, (size_t)(dot2 - tok), "at+jwt", &payload, NULL, NULL),
              KEYS_EFORMAT);
    CHECK_INT(verify(f.kr, "abc"), KEYS_EFORMAT);
    CHECK_INT(verify(f.kr, ""), KEYS_EFORMAT);
    CHECK_INT(verify(f.kr, ".."), KEYS_EFORMAT);
    /* empty header segment */
    const char *dot1 = strchr(tok, '.');
    CHECK_INT(verify(f.kr, dot1), KEYS_EFORMAT);

    /* bad base64url: padding, the standard alphabet, a space, in header, payload, signature */
    const char *segs[3][2] = {{"eyJhbGciOiJFUzI1NiJ9=", "e30"},
                              {"eyJhbGciOi+FUzI1NiJ9", "e30"},
                              {"eyJhbGciOiJ FUzI1NiJ9", "e30"}};
    for (size_t i = 0; i < 3; i++) {
        char *t = join3(segs[i][0], segs[i][1], "AAAA");
        CHECK_MSG(verify(f.kr, t) == KEYS_EFORMAT, "segment %zu", i);
        free(t);
    }
    char *copy = strdup(tok);
    copy[(dot1 - tok) + 2] = '*'; /* payload */
    CHECK_INT(verify(f.kr, copy), KEYS_EFORMAT);
    free(copy);
    copy = strdup(tok);
    copy[(dot2 - tok) + 2] = '=';
    CHECK_INT(verify(f.kr, copy), KEYS_EFORMAT);
    free(copy);
    /* 1 mod 4 characters */
    copy = join3("eyJhbGciOiJFUzI1NiJ9A", "e30", "AAAA");
    CHECK_INT(verify(f.kr, copy), KEYS_EFORMAT);
    free(copy);

    /* header not JSON, not an object, trailing garbage, over 1 KiB */
    const char *bad_headers[] = {"not json", "[\"ES256\"]", "\"ES256\"", "{\"alg\":\"ES256\"} x",
                                 "{\"alg\":\"ES256\""};
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        char *h = b64(bad_headers[i], strlen(bad_headers[i]));
        char *t = join3(h, "e30", "AAAA");
        CHECK_MSG(verify(f.kr, t) == KEYS_EFORMAT, "header %zu", i);
        free(h);
        free(t);
    }
    char hbig[1200];
    int n = snprintf(hbig, sizeof hbig,
                     "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\",\"x\":\"", kid);
    memset(hbig + n, 'a', sizeof hbig - (size_t)n - 3);
    memcpy(hbig + sizeof hbig - 3, "\"}", 3);
    char *t = forge(f.kr, kid, hbig, claims, 0);
    CHECK(t != NULL);
    CHECK_INT(verify(f.kr, t), KEYS_EFORMAT);
    free(t);

    /* duplicate alg member: two parsers could read two algs */
    snprintf(header, sizeof header,
             "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    t = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, t), KEYS_EFORMAT);
    free(t);
    snprintf(header, sizeof header,
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid, kid);
    t = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, t), KEYS_EFORMAT);
    free(t);
    /* a NUL escaped into the header */
    snprintf(header, sizeof header, "{\"alg\":\"ES256\\u0000x\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             kid);
    t = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, t), KEYS_EFORMAT);
    free(t);
    /* arguments */
    CHECK_INT(keys_jwt_verify(f.kr, NULL, 10, "at+jwt", &payload, NULL, NULL), KEYS_EFORMAT);
    CHECK_INT(keys_jwt_verify(f.kr, tok, len, NULL, &payload, NULL, NULL), KEYS_EINVAL);
    free(tok);
    fixture_close(&f);
}

/* Documented choice: a signature segment that decodes but has the wrong length for the key's
 * alg is KEYS_ESIG (the token is well-formed; its signature is not one). */
TEST(es256_signature_length_exact)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    char *tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    tok = forge(f.kr, kid, header, claims, -1);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    tok = forge(f.kr, kid, header, claims, 1);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    tok = forge(f.kr, kid, header, claims, -64);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    /* a DER signature (what OpenSSL emits) is not a JWS ES256 signature */
    tok = forge(f.kr, kid, header, claims, 6);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    /* r = s = 0 */
    char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
    uint8_t zeros[64] = {0};
    char *s = b64(zeros, sizeof zeros);
    tok = join3(h, c, s);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    free(h);
    free(c);
    free(s);
    fixture_close(&f);
}

TEST(eddsa_signature_length_exact)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], header[256];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "EdDSA"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    char *tok = forge(f.kr, kid, header, claims, 0);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    tok = forge(f.kr, kid, header, claims, -1);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    tok = forge(f.kr, kid, header, claims, 1);
    CHECK_INT(verify(f.kr, tok), KEYS_ESIG);
    free(tok);
    fixture_close(&f);
}

/* ---- one encoding per token: ECDSA low-S, canonical EdDSA S, RSA below n ---- */

/* token with its signature segment replaced by raw (sig_len bytes); malloc'd. */
static char *with_sig(const char *token, const uint8_t *raw, size_t sig_len)
{
    const char *dot2 = strrchr(token, '.');
    char *s = b64(raw, sig_len), *out = NULL;
    size_t hp = (size_t)(dot2 - token) + 1;

    if (s && (out = malloc(hp + strlen(s) + 1))) {
        memcpy(out, token, hp);
        memcpy(out + hp, s, strlen(s) + 1);
    }
    free(s);
    return out;
}

/* The raw r||s of an ES256 token with s replaced by n - s; malloc'd token. */
static char *es256_twin(const char *token, const BIGNUM *n)
{
    const char *dot2 = strrchr(token, '.');
    size_t len = 0;
    uint8_t *raw = (uint8_t *)unb64(dot2 + 1, strlen(dot2 + 1), &len);
    BIGNUM *s = raw && len == 64 ? BN_bin2bn(raw + 32, 32, NULL) : NULL;
    char *out = NULL;

    if (s && BN_sub(s, n, s) == 1 && BN_bn2binpad(s, raw + 32, 32) == 32)
        out = with_sig(token, raw, 64);
    BN_free(s);
    free(raw);
    return out;
}

/* s of an ES256 token as a BIGNUM (BN_free()), NULL when the signature is not 64 bytes. */
static BIGNUM *es256_s(const char *token)
{
    const char *dot2 = strrchr(token, '.');
    size_t len = 0;
    uint8_t *raw = (uint8_t *)unb64(dot2 + 1, strlen(dot2 + 1), &len);
    BIGNUM *s = raw && len == 64 ? BN_bin2bn(raw + 32, 32, NULL) : NULL;
    free(raw);
    return s;
}

/* ECDSA's (r, n - s) verifies wherever (r, s) does: idpd signs only s <= n/2 and refuses the
 * high twin, so a token has exactly one valid text. */
TEST(es256_low_s_only)
{
    struct fixture f;
    BIGNUM *n = NULL, *half = BN_new(), *s = NULL;
    char *tok = NULL, *twin = NULL, kid[KEYS_KID_MAX], header[256];
    int high_forged = 0;

    CHECK(BN_hex2bn(&n, p256_n_hex) == 64 && half && BN_rshift1(half, n) == 1);
    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    /* OpenSSL's own s is high half the time: 200 signatures all low is no accident */
    for (int i = 0; i < 200; i++) {
        CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
        s = es256_s(tok);
        CHECK(s != NULL);
        CHECK_MSG(BN_cmp(s, half) <= 0, "token %d has a high s", i);
        CHECK_INT(verify(f.kr, tok), KEYS_OK);
        BN_free(s);
        s = NULL;
        if (i < 199)
            free(tok);
    }
    /* the high-S twin of a token idpd signed is refused; the original still verifies */
    twin = es256_twin(tok, n);
    CHECK(twin != NULL && strcmp(twin, tok) != 0);
    CHECK_INT(verify(f.kr, twin), KEYS_ESIG);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(twin);
    free(tok);

    /* signed outside keys_jwt_sign() (raw OpenSSL, either half): the low one of each pair
     * verifies, the high one does not */
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", kid);
    for (int i = 0; i < 40 && !high_forged; i++) {
        tok = forge_ex(f.kr, kid, header, claims, 0, 0);
        CHECK(tok != NULL);
        s = es256_s(tok);
        CHECK(s != NULL);
        twin = es256_twin(tok, n);
        CHECK(twin != NULL);
        high_forged = BN_cmp(s, half) > 0;
        CHECK_INT(verify(f.kr, tok), high_forged ? KEYS_ESIG : KEYS_OK);
        CHECK_INT(verify(f.kr, twin), high_forged ? KEYS_OK : KEYS_ESIG);
        BN_free(s);
        s = NULL;
        free(tok);
        free(twin);
    }
    CHECK(high_forged); /* 2^-40 to miss */
    BN_free(n);
    BN_free(half);
    fixture_close(&f);
}

/* Ed25519's S must be below the group order L (RFC 8032 §5.1.7): S + L, the only other 32-byte
 * encoding that the group equation accepts, is refused by OpenSSL 3 already. */
TEST(eddsa_non_canonical_s_refused)
{
    /* L = 2^252 + 27742317777372353535851937790883648493, little-endian */
    static const uint8_t ell[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,       0xd6,
                                    0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
    struct fixture f;
    char *tok = NULL, *twin = NULL;
    size_t len = 0;
    uint8_t *raw = NULL;
    unsigned carry = 0;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "EdDSA"), 0);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    raw = (uint8_t *)unb64(strrchr(tok, '.') + 1, strlen(strrchr(tok, '.') + 1), &len);
    CHECK(raw && len == 64);
    /* S < L < 2^253, so S + L < 2^254 still fits 32 bytes */
    for (size_t i = 0; i < 32; i++) {
        unsigned v = raw[32 + i] + ell[i] + carry;
        raw[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    CHECK_INT(carry, 0);
    twin = with_sig(tok, raw, 64);
    CHECK(twin != NULL);
    CHECK_INT(verify(f.kr, twin), KEYS_ESIG);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(raw);
    free(twin);
    free(tok);
    fixture_close(&f);
}

/* RS256 (PKCS#1 v1.5) is deterministic and its signature is an integer below the modulus n:
 * s + n, when it still fits the signature's length, is refused by OpenSSL. */
TEST(rs256_signature_above_modulus_refused)
{
    struct fixture f;
    char kid[KEYS_KID_MAX], *tok = NULL, *twin = NULL;
    BIGNUM *n = NULL, *s = NULL;
    uint8_t *raw = NULL;
    size_t len = 0;
    int tried = 0;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "RS256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    struct ring *r = keys_ring_acquire(f.kr);
    CHECK(EVP_PKEY_get_bn_param(keys_ring_find(r, kid)->pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
    keys_ring_release(f.kr, r);
    /* each claims text signs to another s; s + n fits 256 bytes with odds (2^2048 - n) / n,
     * usually about one in three */
    for (int i = 0; i < 200 && !tried; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sub\":\"usr_%d\"}", i);
        CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", body, strlen(body), &tok), KEYS_OK);
        raw = (uint8_t *)unb64(strrchr(tok, '.') + 1, strlen(strrchr(tok, '.') + 1), &len);
        CHECK(raw && len == 256);
        s = BN_bin2bn(raw, 256, NULL);
        CHECK(s && BN_add(s, s, n) == 1);
        if (BN_num_bytes(s) <= 256) {
            CHECK(BN_bn2binpad(s, raw, 256) == 256);
            twin = with_sig(tok, raw, 256);
            CHECK(twin != NULL);
            CHECK_INT(verify(f.kr, twin), KEYS_ESIG);
            CHECK_INT(verify(f.kr, tok), KEYS_OK);
            free(twin);
            tried = 1;
        }
        BN_free(s);
        free(raw);
        free(tok);
    }
    if (!tried) /* n this close to 2^2048 leaves no twin of that length to try */
        fprintf(stderr, "  no RS256 signature left room for s + n; nothing to refuse\n");
    BN_free(n);
    fixture_close(&f);
}

/* ---- JWK and thumbprints ---- */

TEST(thumbprint_rfc7638_vector)
{
    char n[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw";
    char e[] = "AQAB";
    struct keys_jwk j = {.kty = "RSA", .n = n, .e = e};
    char kid[KEYS_KID_MAX];

    CHECK_INT(keys_jwk_thumbprint(&j, kid), KEYS_OK);
    CHECK_STR(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    /* missing members are refused, not hashed */
    struct keys_jwk bad = {.kty = "RSA", .n = n};
    CHECK_INT(keys_jwk_thumbprint(&bad, kid), KEYS_EINVAL);
}

/* The thumbprint of the padded members, computed here independently. */
static int ec_thumbprint(const char *x, const char *y, char kid[KEYS_KID_MAX])
{
    char text[256];
    uint8_t d[CRYPTO_SHA256_LEN];
    int n = snprintf(text, sizeof text,
                     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    crypto_sha256(text, (size_t)n, d);
    return crypto_b64url_encode(d, sizeof d, kid, KEYS_KID_MAX, NULL);
}

TEST(ec_coordinate_padded)
{
    EVP_PKEY *pk = NULL;
    struct keys_jwk j;
    char kid[KEYS_KID_MAX], expect[KEYS_KID_MAX];
    int found = 0;

    memset(&j, 0, sizeof j);
    for (int i = 0; i < 5000 && !found; i++) {
        BIGNUM *x = NULL, *y = NULL;
        CHECK_INT(keys_pkey_generate(KEYS_ALG_ES256, &pk), KEYS_OK);
        CHECK(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x));
        CHECK(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y));
        found = BN_num_bytes(x) < 32 || BN_num_bytes(y) < 32;
        BN_free(x);
        BN_free(y);
        if (!found) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
    }
    CHECK(found);
    CHECK_INT(keys_jwk_from_pkey(pk, KEYS_ALG_ES256, &j), KEYS_OK);
    size_t xl = 0, yl = 0;
    char *xb = unb64(j.x, strlen(j.x), &xl), *yb = unb64(j.y, strlen(j.y), &yl);
    CHECK_INT(xl, 32);
    CHECK_INT(yl, 32);
    CHECK_INT(strlen(j.x), 43);
    CHECK_INT(strlen(j.y), 43);
    CHECK(xb[0] == 0 || yb[0] == 0);
    CHECK_INT(keys_jwk_thumbprint(&j, kid), KEYS_OK);
    CHECK_INT(ec_thumbprint(j.x, j.y, expect), CRYPTO_OK);
    CHECK_STR(kid, expect);
    /* the rendered JWK carries the same padded members */
    struct buf b = {0};
    keys_jwk_render(&j, kid, "ES256", &b);
    CHECK(!b.failed);
    json_t *o = json_loads(b.data, 0, NULL);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "x")), j.x);
    CHECK_STR(json_string_value(json_object_get(o, "y")), j.y);
    CHECK_STR(json_string_value(json_object_get(o, "kty")), "EC");
    CHECK_STR(json_string_value(json_object_get(o, "crv")), "P-256");
    CHECK_STR(json_string_value(json_object_get(o, "use")), "sig");
    json_decref(o);
    buf_free(&b);
    free(xb);
    free(yb);
    keys_jwk_clear(&j);
    /* the key type must fit the alg */
    CHECK_INT(keys_jwk_from_pkey(pk, KEYS_ALG_RS256, &j), KEYS_ECRYPTO);
    CHECK_INT(keys_jwk_from_pkey(pk, KEYS_ALG_EDDSA, &j), KEYS_ECRYPTO);
    EVP_PKEY_free(pk);
}

TEST(sealed_key_bound_to_kid)
{
    EVP_PKEY *pk = NULL, *back = NULL;
    uint8_t *sealed = NULL, other[KEYS_MASTER_LEN];
    size_t sealed_len = 0;

    CHECK_INT(keys_pkey_generate(KEYS_ALG_EDDSA, &pk), KEYS_OK);
    CHECK_INT(keys_pkey_seal(pk, master_a, "kid-a", "EdDSA", &sealed, &sealed_len), KEYS_OK);
    CHECK_INT(keys_pkey_unseal(sealed, sealed_len, master_a, "kid-b", "EdDSA", &back),
              KEYS_ECRYPTO);
    CHECK_INT(keys_pkey_unseal(sealed, sealed_len, master_a, "kid-a", "ES256", &back),
              KEYS_ECRYPTO);
    memcpy(other, master_a, sizeof other);
    other[0] ^= 1;
    CHECK_INT(keys_pkey_unseal(sealed, sealed_len, other, "kid-a", "EdDSA", &back), KEYS_ECRYPTO);
    CHECK_INT(keys_pkey_unseal(sealed, sealed_len, master_a, "kid-a", "EdDSA", &back), KEYS_OK);
    CHECK_INT(EVP_PKEY_eq(pk, back), 1);
    EVP_PKEY_free(back);
    free(sealed);
    EVP_PKEY_free(pk);
}

TEST(jwks_has_no_private_member)
{
    const char *algs[] = {"ES256", "RS256", "EdDSA"};
    const char *kty[] = {"EC", "RSA", "OKP"};
    const char *private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};

    for (size_t a = 0; a < 3; a++) {
        struct fixture f;
        CHECK_INT(fixture_open(&f, subdir(algs[a]), algs[a]), 0);
        json_t *j = jwks_json(f.kr);
        CHECK(j != NULL);
        CHECK_INT(json_object_size(j), 1);
        json_t *keys = json_object_get(j, "keys");
        CHECK_INT(json_array_size(keys), 2);
        for (size_t i = 0; i < json_array_size(keys); i++) {
            json_t *k = json_array_get(keys, i);
            for (size_t m = 0; m < sizeof private_members / sizeof private_members[0]; m++)
                CHECK_MSG(json_object_get(k, private_members[m]) == NULL, "%s has %s", algs[a],
                          private_members[m]);
            CHECK_STR(json_string_value(json_object_get(k, "kty")), kty[a]);
            CHECK_STR(json_string_value(json_object_get(k, "alg")), algs[a]);
            CHECK_STR(json_string_value(json_object_get(k, "use")), "sig");
            CHECK_INT(json_object_size(k), a == 0 ? 7 : 6);
        }
        if (a == 1) {
            json_t *k = json_array_get(keys, 0);
            CHECK_STR(json_string_value(json_object_get(k, "e")), "AQAB");
            CHECK_INT(strlen(json_string_value(json_object_get(k, "n"))), 342); /* 256 bytes */
        }
        json_decref(j);
        fixture_close(&f);
    }
}

/* ---- master key ---- */

static const char master_b64[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
static const char master_hex[] = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

struct master_race {
    const char *dir;
    uint8_t key[KEYS_MASTER_LEN];
    int rc;
};

static void *master_thread(void *arg)
{
    struct master_race *m = arg;
    m->rc = keys_master_load(m->dir, NULL, m->key);
    return NULL;
}

TEST(master_key)
{
    uint8_t k1[KEYS_MASTER_LEN], k2[KEYS_MASTER_LEN], zero[KEYS_MASTER_LEN] = {0};
    char path[512], text[128];
    struct stat sb;
    const char *dir = th_tmpdir();

    /* created 0600 with base64url text and a newline, then stable */
    CHECK_INT(keys_master_load(dir, NULL, k1), KEYS_OK);
    snprintf(path, sizeof path, "%s/master.key", dir);
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    CHECK_INT(n, 44);
    CHECK(text[43] == '\n');
    CHECK(!crypto_memeq(k1, zero, sizeof zero));
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_OK);
    CHECK(crypto_memeq(k1, k2, sizeof k1));
    CHECK_INT(keys_master_load(dir, "", k2), KEYS_OK); /* empty env: the file */
    CHECK(crypto_memeq(k1, k2, sizeof k1));

    /* readable by others: refused, as ssh refuses such private keys */
    CHECK_INT(chmod(path, 0644), 0);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_EMASTER);
    CHECK_INT(chmod(path, 0640), 0);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_EMASTER);
    CHECK_INT(chmod(path, 0600), 0);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_OK);

    /* bad content */
    fp = fopen(path, "w");
    fputs("not a key\n", fp);
    fclose(fp);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_EMASTER);
    fp = fopen(path, "w");
    fputs(master_b64, fp);
    fputs("\n\n", fp);
    fclose(fp);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_EMASTER);
    fp = fopen(path, "w");
    fputs(master_b64, fp); /* no newline is fine */
    fclose(fp);
    CHECK_INT(keys_master_load(dir, NULL, k2), KEYS_OK);
    CHECK(crypto_memeq(k2, master_a, sizeof k2));

    /* environment: base64url or hex (either case), nothing else */
    CHECK_INT(keys_master_load(NULL, master_b64, k2), KEYS_OK);
    CHECK(crypto_memeq(k2, master_a, sizeof k2));
    CHECK_INT(keys_master_load(NULL, master_hex, k2), KEYS_OK);
    CHECK(crypto_memeq(k2, master_a, sizeof k2));
    CHECK_INT(keys_master_load(
                  NULL, "0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20", k2),
              KEYS_OK);
    CHECK(crypto_memeq(k2, master_a, sizeof k2));
    CHECK_INT(keys_master_load(NULL, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", k2),
              KEYS_EMASTER);
    CHECK_INT(keys_master_load(NULL, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHy", k2),
              KEYS_EMASTER);
    CHECK_INT(keys_master_load(NULL, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB", k2),
              KEYS_EMASTER); /* non-zero trailing bits */
    CHECK_INT(keys_master_load(
                  NULL, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2", k2),
              KEYS_EMASTER);
    CHECK_INT(keys_master_load(
                  NULL, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fzz", k2),
              KEYS_EMASTER);
    CHECK_INT(keys_master_load(NULL, "secret", k2), KEYS_EMASTER);

    /* two processes (here threads) creating it at once end with one key */
    for (int round = 0; round < 5; round++) {
        char name[16];
        snprintf(name, sizeof name, "race%d", round);
        char dir_copy[512];
        struct master_race m[4];
        pthread_t t[4];
        snprintf(dir_copy, sizeof dir_copy, "%s", subdir(name));
        for (int i = 0; i < 4; i++) {
            m[i].dir = dir_copy;
            m[i].rc = -1;
            pthread_create(&t[i], NULL, master_thread, &m[i]);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < 4; i++) {
            CHECK_INT(m[i].rc, KEYS_OK);
            CHECK(crypto_memeq(m[i].key, m[0].key, sizeof m[0].key));
        }
    }
}

TEST(wrong_master_key_refused)
{
    struct fixture f;
    struct keys *kr = NULL;
    uint8_t other[KEYS_MASTER_LEN];

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    keys_close(f.kr);
    f.kr = NULL;
    memcpy(other, master_a, sizeof other);
    other[31] ^= 0x80;
    CHECK_INT(keys_open(f.st, other, NULL, &kr), KEYS_ECRYPTO);
    CHECK(kr == NULL);
    CHECK_INT(keys_open(f.st, master_a, NULL, &kr), KEYS_OK);
    keys_close(kr);
    /* bad options */
    struct keys_options o = {"HS256", 3600};
    CHECK_INT(keys_open(f.st, master_a, &o, &kr), KEYS_EINVAL);
    o.alg = "es256";
    CHECK_INT(keys_open(f.st, master_a, &o, &kr), KEYS_EINVAL);
    o.alg = "ES256";
    o.token_ttl = -1;
    CHECK_INT(keys_open(f.st, master_a, &o, &kr), KEYS_EINVAL);
    fixture_close(&f);
}

/* ---- persistence and rotation ---- */

TEST(persistence)
{
    struct fixture f;
    char active[KEYS_KID_MAX], next[KEYS_KID_MAX], a2[KEYS_KID_MAX], n2[KEYS_KID_MAX];
    char *tok = NULL, *jwks1 = NULL, *jwks2 = NULL, *payload = NULL, kid[KEYS_KID_MAX];
    size_t l1 = 0, l2 = 0;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", active), 0);
    CHECK_INT(kid_in_state(f.kr, "next", next), 0);
    CHECK(strcmp(active, next) != 0);
    CHECK_INT(keys_jwks_dup(f.kr, &jwks1, &l1), KEYS_OK);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    fixture_close(&f);

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", a2), 0);
    CHECK_INT(kid_in_state(f.kr, "next", n2), 0);
    CHECK_STR(a2, active);
    CHECK_STR(n2, next);
    CHECK_INT(keys_jwks_dup(f.kr, &jwks2, &l2), KEYS_OK);
    CHECK_STR(jwks2, jwks1);
    CHECK_INT(keys_jwt_verify(f.kr, tok, strlen(tok), "at+jwt", &payload, NULL, kid), KEYS_OK);
    CHECK_STR(payload, claims);
    CHECK_STR(kid, active);
    free(payload);
    free(tok);
    free(jwks1);
    free(jwks2);
    fixture_close(&f);
}

static int count_state(struct keys *kr, const char *state)
{
    struct keys_info *items = NULL;
    size_t n = 0;
    int c = 0;

    if (keys_list(kr, &items, &n) != KEYS_OK)
        return -1;
    for (size_t i = 0; i < n; i++)
        c += strcmp(items[i].state, state) == 0;
    free(items);
    return c;
}

TEST(rotation)
{
    struct fixture f;
    struct keys *other = NULL;
    char a0[KEYS_KID_MAX], n0[KEYS_KID_MAX], a1[KEYS_KID_MAX], n1[KEYS_KID_MAX];
    char kid[KEYS_KID_MAX], *tok0 = NULL, *tok1 = NULL, *payload = NULL;
    int changed = -1;
    json_t *j = NULL;
    struct keys_options o = {"ES256", 600};
    int64_t now;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(keys_open(f.st, master_a, &o, &other), KEYS_OK);
    /* read after the keys were made: a rotation "now" earlier than their creation (a second
     * boundary between the two) would make the new next key look older than the active one */
    now = (int64_t)time(NULL);
    CHECK_INT(kid_in_state(f.kr, "active", a0), 0);
    CHECK_INT(kid_in_state(f.kr, "next", n0), 0);
    j = jwks_json(f.kr);
    CHECK_INT(json_array_size(json_object_get(j, "keys")), 2);
    json_decref(j);
    CHECK_INT(keys_refresh(other, &changed), KEYS_OK);
    CHECK_INT(changed, 0);

    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok0), KEYS_OK);
    CHECK_INT(keys_rotate(f.kr, now), KEYS_OK);

    /* next became active and signs; a fresh next key; the old active is retired */
    CHECK_INT(kid_in_state(f.kr, "active", a1), 0);
    CHECK_INT(kid_in_state(f.kr, "next", n1), 0);
    CHECK_STR(a1, n0);
    CHECK(strcmp(n1, a0) != 0 && strcmp(n1, n0) != 0);
    CHECK_INT(count_state(f.kr, "active"), 1);
    CHECK_INT(count_state(f.kr, "next"), 1);
    CHECK_INT(count_state(f.kr, "retired"), 1);
    struct keys_info *items = NULL;
    size_t n = 0;
    CHECK_INT(keys_list(f.kr, &items, &n), KEYS_OK);
    CHECK_INT(n, 3);
    CHECK_STR(items[0].state, "next"); /* newest first */
    CHECK_STR(items[0].kid, n1);
    for (size_t i = 0; i < n; i++) {
        CHECK_STR(items[i].alg, "ES256");
        if (strcmp(items[i].kid, a0) == 0) {
            CHECK_STR(items[i].state, "retired");
            /* the first ring's ttl (3600) plus the leeway */
            CHECK_INT(items[i].retire_after, now + 3600 + KEYS_RETIRE_LEEWAY);
        } else if (strcmp(items[i].kid, a1) == 0) {
            CHECK_INT(items[i].activated_at, now);
            CHECK_INT(items[i].retire_after, 0);
        } else {
            CHECK_INT(items[i].activated_at, 0);
            CHECK_INT(items[i].created_at, now);
        }
    }
    free(items);

    j = jwks_json(f.kr);
    json_t *keys = json_object_get(j, "keys");
    CHECK_INT(json_array_size(keys), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), a1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(keys, 1), "kid")), n1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(keys, 2), "kid")), a0);
    json_decref(j);

    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok1), KEYS_OK);
    CHECK_INT(keys_jwt_verify(f.kr, tok1, strlen(tok1), "at+jwt", &payload, NULL, kid), KEYS_OK);
    CHECK_STR(kid, a1);
    free(payload);
    CHECK_INT(keys_jwt_verify(f.kr, tok0, strlen(tok0), "at+jwt", &payload, NULL, kid), KEYS_OK);
    CHECK_STR(kid, a0);
    free(payload);

    /* the second ring still has the old snapshot: it knows the old tokens, not the new key's
     * role; keys_refresh() brings it up to date */
    CHECK_INT(kid_in_state(other, "active", kid), 0);
    CHECK_STR(kid, a0);
    CHECK_INT(keys_refresh(other, &changed), KEYS_OK);
    CHECK_INT(changed, 1);
    CHECK_INT(kid_in_state(other, "active", kid), 0);
    CHECK_STR(kid, a1);
    CHECK_INT(keys_refresh(other, &changed), KEYS_OK);
    CHECK_INT(changed, 0);
    CHECK_INT(keys_refresh(other, NULL), KEYS_OK);
    CHECK_INT(keys_jwt_verify(other, tok0, strlen(tok0), "at+jwt", &payload, NULL, NULL), KEYS_OK);
    free(payload);
    CHECK_INT(keys_jwt_verify(other, tok1, strlen(tok1), "at+jwt", &payload, NULL, NULL), KEYS_OK);
    free(payload);

    /* far in the future: a0 is past retire_after and goes; a1 is retired, n1 active */
    int64_t later = now + 365LL * 24 * 3600;
    CHECK_INT(keys_rotate(other, later), KEYS_OK);
    CHECK_INT(keys_refresh(f.kr, &changed), KEYS_OK);
    CHECK_INT(changed, 1);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_STR(kid, n1);
    CHECK_INT(count_state(f.kr, "retired"), 1);
    CHECK_INT(kid_in_state(f.kr, "retired", kid), 0);
    CHECK_STR(kid, a1);
    j = jwks_json(f.kr);
    CHECK_INT(json_array_size(json_object_get(j, "keys")), 3);
    json_decref(j);
    /* the other ring's ttl (600) applies to what it retired */
    CHECK_INT(keys_list(f.kr, &items, &n), KEYS_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].kid, a1) == 0)
            CHECK_INT(items[i].retire_after, later + 600 + KEYS_RETIRE_LEEWAY);
    free(items);
    CHECK_INT(keys_jwt_verify(f.kr, tok0, strlen(tok0), "at+jwt", &payload, NULL, NULL), KEYS_EKID);
    CHECK_INT(keys_jwt_verify(f.kr, tok1, strlen(tok1), "at+jwt", &payload, NULL, NULL), KEYS_OK);
    free(payload);

    /* stored: exactly what the ring shows */
    keys_close(other);
    other = NULL;
    CHECK_INT(keys_open(f.st, master_a, NULL, &other), KEYS_OK);
    CHECK_INT(count_state(other, "retired"), 1);
    CHECK_INT(count_state(other, "active"), 1);
    CHECK_INT(count_state(other, "next"), 1);

    keys_close(other);
    free(tok0);
    free(tok1);
    fixture_close(&f);
}

/* A retired key stops verifying at retire_after even in a ring loaded before, and
 * keys_refresh() then drops it from the JWKS although no other process changed anything. */
/* keys_rotate_with(): what the hook writes commits with the rotation, and a failing hook leaves
 * the keys as they were. */
struct hook_arg {
    char kid[KEYS_KID_MAX];
    int fail;
};

static int rotation_hook(struct store_txn *txn, const char *active_kid, void *arg)
{
    struct hook_arg *h = arg;
    snprintf(h->kid, sizeof h->kid, "%s", active_kid);
    int rc = store_meta_put(txn, "test_rotations", 1);
    return rc ? rc : h->fail ? STORE_EIO : STORE_OK;
}

static int read_rotations(struct store_txn *txn, void *arg)
{
    return store_meta_get(txn, "test_rotations", arg);
}

TEST(rotation_with_hook)
{
    struct fixture f;
    char a0[KEYS_KID_MAX], n0[KEYS_KID_MAX], a1[KEYS_KID_MAX];
    struct hook_arg h = {"", 1};
    uint64_t count = 0;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", a0), 0);
    CHECK_INT(kid_in_state(f.kr, "next", n0), 0);
    /* the hook fails: nothing of the rotation or of the hook is written */
    CHECK(keys_rotate_with(f.kr, (int64_t)time(NULL), 0, NULL, rotation_hook, &h) != KEYS_OK);
    CHECK_STR(h.kid, n0); /* it was handed the key that would have become active */
    CHECK_INT(kid_in_state(f.kr, "active", a1), 0);
    CHECK_STR(a1, a0);
    CHECK_INT(store_read(f.st, read_rotations, &count), STORE_NOTFOUND);
    /* the hook succeeds: both commit */
    h.fail = 0;
    CHECK_INT(keys_rotate_with(f.kr, (int64_t)time(NULL), 0, NULL, rotation_hook, &h), KEYS_OK);
    CHECK_INT(kid_in_state(f.kr, "active", a1), 0);
    CHECK_STR(a1, n0);
    CHECK_STR(h.kid, n0);
    CHECK_INT(store_read(f.st, read_rotations, &count), STORE_OK);
    CHECK_INT(count, 1);
    fixture_close(&f);
}

/* The created_at of key kid (from keys_list), or -1. */
static int64_t created_at_of(struct keys *kr, const char *kid)
{
    struct keys_info *items = NULL;
    size_t n = 0;
    int64_t t = -1;

    if (keys_list(kr, &items, &n) != KEYS_OK)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].kid, kid) == 0)
            t = items[i].created_at;
    free(items);
    return t;
}

/* keys_rotate_with(min_published): the next key signs only once it has been published that
 * long; before, nothing is written (nor the hook run) and ready_at says when. */
TEST(rotation_waits_for_publication)
{
    struct fixture f;
    char a0[KEYS_KID_MAX], n0[KEYS_KID_MAX], kid[KEYS_KID_MAX], n1[KEYS_KID_MAX];
    struct hook_arg h = {"", 0};
    uint64_t count = 0;
    int64_t ready = 0, t0;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(kid_in_state(f.kr, "active", a0), 0);
    CHECK_INT(kid_in_state(f.kr, "next", n0), 0);
    t0 = created_at_of(f.kr, n0);
    CHECK(t0 > 0);
    /* published t0; with min_published 10 it may sign from t0 + 11 (whole seconds) */
    CHECK_INT(keys_rotate_with(f.kr, t0 + 10, 10, &ready, rotation_hook, &h), KEYS_ETOOSOON);
    CHECK_INT(ready, t0 + 11);
    CHECK_STR(h.kid, "");
    CHECK_INT(store_read(f.st, read_rotations, &count), STORE_NOTFOUND);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_STR(kid, a0);
    CHECK_INT(kid_in_state(f.kr, "next", kid), 0);
    CHECK_STR(kid, n0);
    CHECK_INT(count_state(f.kr, "retired"), 0);
    /* in time: the rotation happens, hook and all */
    CHECK_INT(keys_rotate_with(f.kr, t0 + 11, 10, &ready, rotation_hook, &h), KEYS_OK);
    CHECK_STR(h.kid, n0);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_STR(kid, n0);
    CHECK_INT(kid_in_state(f.kr, "next", n1), 0);
    CHECK_INT(created_at_of(f.kr, n1), t0 + 11);
    /* a second rotation right after finds the next key it just made: refused */
    h.kid[0] = '\0';
    CHECK_INT(keys_rotate_with(f.kr, t0 + 12, 10, &ready, rotation_hook, &h), KEYS_ETOOSOON);
    CHECK_INT(ready, t0 + 22);
    CHECK_STR(h.kid, "");
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_STR(kid, n0);
    /* min_published 0 (forced) rotates at once */
    CHECK_INT(keys_rotate_with(f.kr, t0 + 12, 0, NULL, rotation_hook, &h), KEYS_OK);
    CHECK_INT(kid_in_state(f.kr, "active", kid), 0);
    CHECK_STR(kid, n1);
    CHECK_INT(count_state(f.kr, "retired"), 2);
    fixture_close(&f);
}

TEST(retired_key_expires)
{
    struct fixture f;
    struct keys_options o = {"ES256", 2};
    char *tok = NULL;
    int changed = -1;
    json_t *j = NULL;

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    keys_close(f.kr);
    CHECK_INT(keys_open(f.st, master_a, &o, &f.kr), KEYS_OK);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    /* retire_after = (now - 60) + 2 + 60: two seconds from now */
    CHECK_INT(keys_rotate(f.kr, (int64_t)time(NULL) - KEYS_RETIRE_LEEWAY), KEYS_OK);
    j = jwks_json(f.kr);
    CHECK_INT(json_array_size(json_object_get(j, "keys")), 3);
    json_decref(j);
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    CHECK_INT(keys_refresh(f.kr, &changed), KEYS_OK);
    CHECK_INT(changed, 0);
    sleep(3);
    CHECK_INT(verify(f.kr, tok), KEYS_EKID);
    CHECK_INT(keys_refresh(f.kr, &changed), KEYS_OK);
    CHECK_INT(changed, 1);
    j = jwks_json(f.kr);
    CHECK_INT(json_array_size(json_object_get(j, "keys")), 2);
    json_decref(j);
    CHECK_INT(count_state(f.kr, "retired"), 0);
    CHECK_INT(keys_refresh(f.kr, &changed), KEYS_OK);
    CHECK_INT(changed, 0);
    free(tok);
    fixture_close(&f);
}

/* A stored key of another alg keeps verifying and signing; the configured alg is for new keys. */
TEST(alg_change_applies_to_new_keys)
{
    struct fixture f;
    char *tok = NULL, *payload = NULL;
    int64_t now = (int64_t)time(NULL);

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    keys_close(f.kr);
    struct keys_options o = {"EdDSA", 3600};
    CHECK_INT(keys_open(f.st, master_a, &o, &f.kr), KEYS_OK);
    CHECK_STR(keys_active_alg(f.kr), "ES256");
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    CHECK_INT(keys_rotate(f.kr, now), KEYS_OK);
    CHECK_STR(keys_active_alg(f.kr), "ES256"); /* the old next key */
    CHECK_INT(keys_rotate(f.kr, now + 1), KEYS_OK);
    CHECK_STR(keys_active_alg(f.kr), "EdDSA");
    CHECK_INT(verify(f.kr, tok), KEYS_OK);
    free(tok);
    CHECK_INT(keys_jwt_sign(f.kr, "at+jwt", claims, strlen(claims), &tok), KEYS_OK);
    CHECK_INT(keys_jwt_verify(f.kr, tok, strlen(tok), "at+jwt", &payload, NULL, NULL), KEYS_OK);
    CHECK_STR(payload, claims);
    free(payload);
    free(tok);
    fixture_close(&f);
}

/* ---- concurrency ---- */

struct open_race {
    struct store *st;
    struct keys *kr;
    const char *alg;
    int rc;
};

static void *open_thread(void *arg)
{
    struct open_race *o = arg;
    struct keys_options opts = {o->alg, 3600};
    o->rc = keys_open(o->st, master_a, &opts, &o->kr);
    return NULL;
}

struct stored_counts {
    int active, next, retired, total;
};

static int count_cb(struct store_txn *txn, void *arg)
{
    struct stored_counts *c = arg;
    struct store_signing_key *items = NULL;
    size_t n = 0;
    int rc = store_key_list(txn, &items, &n);

    memset(c, 0, sizeof *c);
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        c->active += items[i].state == STORE_KEY_ACTIVE;
        c->next += items[i].state == STORE_KEY_NEXT;
        c->retired += items[i].state == STORE_KEY_RETIRED;
        c->total++;
    }
    store_key_list_free(items, n);
    return rc;
}

TEST(concurrent_open_makes_one_set)
{
    for (int round = 0; round < 4; round++) {
        char name[16];
        struct store *st = NULL;
        struct open_race o[2];
        pthread_t t[2];
        struct stored_counts c;
        char k0[KEYS_KID_MAX], k1[KEYS_KID_MAX];

        snprintf(name, sizeof name, "r%d", round);
        CHECK_INT(store_open(th_store_for(subdir(name)), NULL, &st), STORE_OK);
        for (int i = 0; i < 2; i++) {
            o[i].st = st;
            o[i].kr = NULL;
            o[i].alg = round == 3 ? "RS256" : "ES256";
            pthread_create(&t[i], NULL, open_thread, &o[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        CHECK_INT(o[0].rc, KEYS_OK);
        CHECK_INT(o[1].rc, KEYS_OK);
        CHECK_INT(store_read(st, count_cb, &c), STORE_OK);
        CHECK_INT(c.active, 1);
        CHECK_INT(c.next, 1);
        CHECK_INT(c.total, 2);
        CHECK_INT(kid_in_state(o[0].kr, "active", k0), 0);
        CHECK_INT(kid_in_state(o[1].kr, "active", k1), 0);
        CHECK_STR(k0, k1);
        keys_close(o[0].kr);
        keys_close(o[1].kr);
        store_close(st);
    }
}

struct worker {
    struct keys *kr;
    int failures;
    int done;
};

static void *sign_verify_thread(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < 300; i++) {
        char *tok = NULL;
        if (keys_jwt_sign(w->kr, "at+jwt", claims, strlen(claims), &tok) != KEYS_OK ||
            verify(w->kr, tok) != KEYS_OK)
            w->failures++;
        free(tok);
    }
    w->done = 1;
    return NULL;
}

/* Signing and verifying on several threads while the ring is rotated and refreshed under
 * them: every token verifies (the ring a caller holds stays alive until it lets go). */
TEST(sign_during_rotation)
{
    struct fixture f;
    struct worker w[3];
    pthread_t t[3];
    int64_t now = (int64_t)time(NULL);

    CHECK_INT(fixture_open(&f, th_tmpdir(), "ES256"), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct worker){f.kr, 0, 0};
        pthread_create(&t[i], NULL, sign_verify_thread, &w[i]);
    }
    for (int i = 0; i < 5; i++) {
        CHECK_INT(keys_rotate(f.kr, now + i), KEYS_OK);
        CHECK_INT(keys_refresh(f.kr, NULL), KEYS_OK);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK_INT(w[i].failures, 0);
    fixture_close(&f);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(sign_verify_es256);
    RUN(sign_verify_rs256);
    RUN(sign_verify_eddsa);
    RUN(tampered_token_refused);
    RUN(alg_none_refused);
    RUN(hmac_with_public_key_refused);
    RUN(alg_of_other_key_type_refused);
    RUN(unknown_or_missing_kid_refused);
    RUN(typ_checked);
    RUN(crit_refused);
    RUN(malformed_tokens_refused);
    RUN(es256_signature_length_exact);
    RUN(eddsa_signature_length_exact);
    RUN(es256_low_s_only);
    RUN(eddsa_non_canonical_s_refused);
    RUN(rs256_signature_above_modulus_refused);
    RUN(thumbprint_rfc7638_vector);
    RUN(ec_coordinate_padded);
    RUN(sealed_key_bound_to_kid);
    RUN(jwks_has_no_private_member);
    RUN(master_key);
    RUN(wrong_master_key_refused);
    RUN(persistence);
    RUN(rotation);
    RUN(rotation_with_hook);
    RUN(rotation_waits_for_publication);
    RUN(retired_key_expires);
    RUN(alg_change_applies_to_new_keys);
    RUN(concurrent_open_makes_one_set);
    RUN(sign_during_rotation);
    return th_done();
}
