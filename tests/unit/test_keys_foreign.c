/* Unit tests of keys/foreign.c: another issuer's tokens, verified against its JWK Set with the
 * algorithm bound to the key, never taken from the token alone. The tokens are signed here with
 * OpenSSL directly (no code of keys/ signs them). */
#include "harness.h"
#include "keys/internal.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <stdarg.h>

static EVP_PKEY *ec, *rsa, *ed;

/* Memory freed when the case ends. */
static void *keep(void *p)
{
    th_defer(free, p);
    return p;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return keep(s);
}

static char *b64(const void *p, size_t n)
{
    size_t cap = crypto_b64url_len(n) + 1;
    char *s = keep(malloc(cap));
    crypto_b64url_encode(p, n, s, cap, NULL);
    return s;
}

static char *b64s(const char *text)
{
    return b64(text, strlen(text));
}

/* The JWK of pk (public members) with kid and, when alg is not NULL, alg; kept in buf b. */
static void jwk_of(EVP_PKEY *pk, enum keys_alg a, const char *kid, const char *alg, struct buf *b)
{
    struct keys_jwk j;
    if (keys_jwk_from_pkey(pk, a, &j) != KEYS_OK) {
        th_case_failed = 1;
        return;
    }
    size_t at = b->len;
    keys_jwk_render(&j, kid, alg ? alg : "", b);
    /* without an alg: the member goes (a JWK need not name one) */
    char *empty = b->data ? strstr(b->data + at, ",\"alg\":\"\"") : NULL;
    if (empty)
        memmove(empty, empty + 9, strlen(empty + 9) + 1), b->len -= 9;
    keys_jwk_clear(&j);
}

/* header.payload signed with pk as alg ("RS256", "PS256", "ES256", "EdDSA"); malloc'd. */
static char *sign(EVP_PKEY *pk, const char *alg, const char *header, const char *payload)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *in = malloc(in_len + 1);
    snprintf(in, in_len + 1, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(alg, "EdDSA") == 0;
    uint8_t sig[1024], raw[64];
    size_t sig_len = sizeof sig;
    EVP_DigestSignInit_ex(ctx, &pctx, eddsa ? NULL : "SHA256", NULL, NULL, pk, NULL);
    if (strcmp(alg, "PS256") == 0) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    if (EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)in, in_len) != 1)
        th_case_failed = 1;
    const uint8_t *s = sig;
    if (strcmp(alg, "ES256") == 0) {
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &s, (long)sig_len);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        s = raw;
        sig_len = 64;
    }
    char *sg = b64(s, sig_len);
    char *out = fmt("%s.%s", in, sg);
    EVP_MD_CTX_free(ctx);
    free(in);
    return out;
}

static const char *set_text(void)
{
    static struct buf b;
    if (b.data)
        return b.data;
    buf_appends(&b, "{\"keys\":[");
    jwk_of(ec, KEYS_ALG_ES256, "ec1", "ES256", &b);
    buf_appends(&b, ",");
    jwk_of(rsa, KEYS_ALG_RS256, "rsa1", NULL, &b);
    buf_appends(&b, ",");
    jwk_of(ed, KEYS_ALG_EDDSA, "ed1", NULL, &b);
    buf_appends(&b, "]}");
    return b.data;
}

static int verify(const char *token, const char *algs, const char *typ, char **payload)
{
    struct keys_jwks *s = NULL;
    char *p = NULL;
    int rc = keys_jwks_parse(set_text(), strlen(set_text()), &s);
    if (rc == KEYS_OK)
        rc = keys_foreign_verify(s, token, strlen(token), algs, typ, &p, NULL, NULL);
    keys_jwks_free(s);
    if (payload)
        *payload = p;
    else
        free(p);
    return rc;
}

#define ALL "RS256,PS256,ES256,EdDSA"

TEST(tokens_of_each_alg_verify)
{
    char *p = NULL;
    CHECK_INT(verify(sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", "{\"sub\":\"a\"}"),
                     ALL, NULL, &p),
              KEYS_OK);
    CHECK_STR(p, "{\"sub\":\"a\"}");
    free(p);
    CHECK_INT(
        verify(sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{}"), ALL, NULL, NULL),
        KEYS_OK);
    CHECK_INT(
        verify(sign(rsa, "PS256", "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", "{}"), ALL, NULL, NULL),
        KEYS_OK);
    CHECK_INT(verify(sign(ed, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"JWT\"}", "{}"),
                     ALL, "jwt", NULL),
              KEYS_OK);
    /* without kid: the one key that fits */
    CHECK_INT(verify(sign(ed, "EdDSA", "{\"alg\":\"EdDSA\"}", "{}"), ALL, NULL, NULL), KEYS_OK);
}

TEST(the_key_decides_the_algorithm)
{
    /* none, HMAC (with the public key as the secret, the classic confusion), unknown */
    const char *none = fmt("%s.%s.", b64s("{\"alg\":\"none\",\"kid\":\"rsa1\"}"), b64s("{}"));
    CHECK_INT(verify(none, ALL, NULL, NULL), KEYS_EFORMAT); /* an empty signature segment */
    const char *none2 = fmt("%s.%s.AA", b64s("{\"alg\":\"none\",\"kid\":\"rsa1\"}"), b64s("{}"));
    CHECK_INT(verify(none2, ALL, NULL, NULL), KEYS_EALG);
    const char *hs = fmt("%s.%s.AAAA", b64s("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}"), b64s("{}"));
    CHECK_INT(verify(hs, ALL, NULL, NULL), KEYS_EALG);
    /* an alg the caller did not allow */
    CHECK_INT(verify(sign(rsa, "PS256", "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", "{}"),
                     "RS256,ES256", NULL, NULL),
              KEYS_EALG);
    /* an alg of another key type than the kid's key: no key fits */
    CHECK_INT(
        verify(sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", "{}"), ALL, NULL, NULL),
        KEYS_EKID);
    /* the JWK's own alg binds: ec1 says ES256 (fits); an RSA key said nothing, so both RSA algs */
    CHECK_INT(
        verify(sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"nope\"}", "{}"), ALL, NULL, NULL),
        KEYS_EKID);
    /* unknown algs in the allow-list are a caller's error */
    CHECK_INT(verify(sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{}"),
                     "RS256,HS256", NULL, NULL),
              KEYS_EINVAL);
}

TEST(malformed_and_tampered_tokens_are_refused)
{
    const char *good = sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", "{\"sub\":\"a\"}");
    char *t = fmt("%s", good);
    char *dot = strchr(t, '.') + 1;
    dot[0] = dot[0] == 'A' ? 'B' : 'A'; /* the payload changed */
    CHECK_INT(verify(t, ALL, NULL, NULL), KEYS_ESIG);
    CHECK_INT(verify(fmt("%s.x", good), ALL, NULL, NULL), KEYS_EFORMAT);
    CHECK_INT(verify(fmt("%s=", good), ALL, NULL, NULL), KEYS_EFORMAT);
    t = fmt("%s", good);
    t[strlen(t) - 3] = '!';
    CHECK_INT(verify(t, ALL, NULL, NULL), KEYS_EFORMAT);
    CHECK_INT(
        verify(sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"crit\":[\"x\"]}", "{}"), ALL,
               NULL, NULL),
        KEYS_EFORMAT);
    CHECK_INT(verify(sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"kid\":\"ec1\"}", "{}"),
                     ALL, NULL, NULL),
              KEYS_EFORMAT);
    CHECK_INT(
        verify(sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"at+jwt\"}", "{}"),
               ALL, "JWT", NULL),
        KEYS_ETYP);
    /* a signature of another token, a signature of the wrong length */
    const char *other = sign(ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", "{\"sub\":\"b\"}");
    t = fmt("%.*s%s", (int)(strrchr(good, '.') - good), good, strrchr(other, '.'));
    CHECK_INT(verify(t, ALL, NULL, NULL), KEYS_ESIG);
    t = fmt("%.*s.AAAA", (int)(strrchr(good, '.') - good), good);
    CHECK_INT(verify(t, ALL, NULL, NULL), KEYS_ESIG);
    /* too long, a NUL inside */
    char *big = keep(calloc(1, KEYS_FOREIGN_JWT_MAX + 2));
    memset(big, 'A', KEYS_FOREIGN_JWT_MAX + 1);
    CHECK_INT(verify(big, ALL, NULL, NULL), KEYS_EFORMAT);
}

TEST(sets_skip_keys_that_cannot_be_used)
{
    struct keys_jwks *s = NULL;
    struct buf b = {0};
    EVP_PKEY *small = NULL;
    EVP_PKEY_CTX *g = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    CHECK(g && EVP_PKEY_keygen_init(g) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(g, 1024) == 1 &&
          EVP_PKEY_keygen(g, &small) == 1);
    EVP_PKEY_CTX_free(g);
    struct keys_jwk j;
    /* keys_jwk_from_pkey refuses RSA-1024 itself: write its members by hand */
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(small, "n", &n);
    EVP_PKEY_get_bn_param(small, "e", &e);
    uint8_t nb[128], eb[8];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    buf_appendf(&b, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"small\",\"n\":\"%s\",\"e\":\"%s\"},",
                b64(nb, (size_t)nl), b64(eb, (size_t)el));
    BN_free(n), BN_free(e);
    EVP_PKEY_free(small);
    /* use enc, a private member, an unknown kty, an alg of another type, an EC point off the
     * curve */
    CHECK_INT(keys_jwk_from_pkey(ec, KEYS_ALG_ES256, &j), KEYS_OK);
    buf_appendf(&b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"use\":\"enc\"},",
                j.x, j.y);
    buf_appendf(&b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"AA\"},",
                j.x, j.y);
    buf_appendf(&b, "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},");
    buf_appendf(&b,
                "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"RS256\"},",
                j.x, j.y);
    char *x = fmt("%s", j.x);
    x[5] = x[5] == 'A' ? 'B' : 'A';
    buf_appendf(&b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},", x, j.y);
    /* and one good key */
    buf_appendf(&b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":\"ok\"}]}",
                j.x, j.y);
    keys_jwk_clear(&j);
    CHECK_INT(keys_jwks_parse(b.data, b.len, &s), KEYS_OK);
    CHECK_INT(keys_jwks_count(s), 1);
    keys_jwks_free(s);
    buf_free(&b);
    /* not a set */
    CHECK_INT(keys_jwks_parse("{\"keys\":{}}", 11, &s), KEYS_EFORMAT);
    CHECK_INT(keys_jwks_parse("[]", 2, &s), KEYS_EFORMAT);
    CHECK_INT(keys_jwks_parse("{\"keys\":[],\"keys\":[]}", 21, &s), KEYS_EFORMAT);
    CHECK(s == NULL);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    keys_pkey_generate(KEYS_ALG_ES256, &ec);
    keys_pkey_generate(KEYS_ALG_RS256, &rsa);
    keys_pkey_generate(KEYS_ALG_EDDSA, &ed);
    RUN(tokens_of_each_alg_verify);
    RUN(the_key_decides_the_algorithm);
    RUN(malformed_and_tampered_tokens_are_refused);
    RUN(sets_skip_keys_that_cannot_be_used);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    return th_done();
}
