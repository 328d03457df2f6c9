/* keys/jwt.c — JWS compact signing and verification (RFC 7515) with OpenSSL EVP and the
 * ring's parsed keys. The verifier faces the network: every length is capped before it is
 * used, and the token's alg header is only ever compared with the alg of the key its kid
 * names, never used to choose an algorithm. */
#include "keys/internal.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADER_MAX 1024 /* decoded protected header */
#define SIG_MAX 512     /* RSA-4096; ES256 and EdDSA are 64 */
#define ES256_COORD 32
#define RAW_SIG_LEN 64 /* ES256 r||s and Ed25519 */
#define ECDSA_DER_MAX 80
#define TYP_MAX 64

/* ---- ECDSA: one encoding per signature ----
 * (r, s) and (r, n - s) are both valid ECDSA signatures of the same message, so anyone holding
 * a token could make a second, different text that verifies (a twin that a denylist or replay
 * cache keyed on the token's text would not know). idpd signs only the low half (s <= n/2, as
 * Bitcoin's BIP 62 and libsecp256k1 do) and its verifier refuses the high half. n/2 is computed
 * once per curve, so the check costs one BN_cmp on the s the verifier decodes anyway. */

static struct keys_ec_curve p256;
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;

/* Runs once; on failure p256 stays empty and every ES256 key fails to load (KEYS_ECRYPTO). The
 * BIGNUMs live as long as the process: rings come and go, the curve does not. */
static void p256_init(void)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *n = g ? BN_dup(EC_GROUP_get0_order(g)) : NULL;
    BIGNUM *half = BN_new();

    if (n && half && BN_rshift1(half, n) == 1) {
        p256.order = n;
        p256.half_order = half;
        n = half = NULL;
    }
    BN_free(n);
    BN_free(half);
    EC_GROUP_free(g);
}

/* The curve of alg's keys, ready; NULL for non-ECDSA algs and when it could not be set up. */
static const struct keys_ec_curve *curve_of(enum keys_alg alg)
{
    if (alg != KEYS_ALG_ES256)
        return NULL;
    if (pthread_once(&p256_once, p256_init) != 0 || !p256.half_order)
        return NULL;
    return &p256;
}

/* ---- per-key contexts ---- */

static const EVP_MD *md_of(const struct ring_key *k)
{
    return k->alg == KEYS_ALG_EDDSA ? NULL : EVP_sha256(); /* Ed25519 hashes internally */
}

int keys_ring_key_prepare(struct ring_key *k)
{
    int rc = KEYS_ENOMEM;

    k->sign_tpl = EVP_MD_CTX_new();
    k->verify_tpl = EVP_MD_CTX_new();
    if (!k->sign_tpl || !k->verify_tpl)
        goto out;
    rc = KEYS_ECRYPTO;
    k->ec = curve_of(k->alg);
    if (k->alg == KEYS_ALG_ES256 && !k->ec)
        goto out;
    if (EVP_DigestSignInit(k->sign_tpl, NULL, md_of(k), NULL, k->pkey) != 1 ||
        EVP_DigestVerifyInit(k->verify_tpl, NULL, md_of(k), NULL, k->pkey) != 1)
        goto out;
    rc = KEYS_OK;
out:
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}

void keys_ring_key_clear(struct ring_key *k)
{
    EVP_MD_CTX_free(k->sign_tpl);
    EVP_MD_CTX_free(k->verify_tpl);
    EVP_PKEY_free(k->pkey);
    k->sign_tpl = k->verify_tpl = NULL;
    k->pkey = NULL;
    k->ec = NULL;
}

/* A fresh context ready for one signature or verification: a copy of the key's template. */
static EVP_MD_CTX *ctx_from(const EVP_MD_CTX *tpl)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx && EVP_MD_CTX_copy_ex(ctx, tpl) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* ---- signing ---- */

/* JSON-safe without escaping, and short: typ is written into the header as is. */
static int typ_valid(const char *typ)
{
    size_t n = 0;

    for (; typ[n]; n++)
        if (typ[n] <= 0x20 || typ[n] >= 0x7f || typ[n] == '"' || typ[n] == '\\' || n >= TYP_MAX)
            return 0;
    return n > 0;
}

static size_t sig_len_of(const struct ring_key *k)
{
    if (k->alg == KEYS_ALG_RS256) {
        int n = EVP_PKEY_get_size(k->pkey);
        return n > 0 && n <= SIG_MAX ? (size_t)n : 0;
    }
    return RAW_SIG_LEN;
}

/* ES256: OpenSSL writes an ECDSA-Sig-Value (DER); JWS wants r||s, each padded to 32 bytes
 * (RFC 7518 §3.4). OpenSSL's s falls in either half; a high s is replaced by n - s, which
 * verifies the same, so every token idpd signs passes its own low-S check. */
static int ecdsa_der_to_raw(const struct keys_ec_curve *ec, const uint8_t *der, size_t der_len,
                            uint8_t raw[RAW_SIG_LEN])
{
    int rc = KEYS_ECRYPTO;
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    BIGNUM *low = NULL;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);

    if (!es)
        goto out;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_cmp(s, ec->half_order) > 0) {
        low = BN_new();
        if (!low || BN_sub(low, ec->order, s) != 1)
            goto out;
        s = low;
    }
    if (BN_bn2binpad(r, raw, ES256_COORD) != ES256_COORD ||
        BN_bn2binpad(s, raw + ES256_COORD, ES256_COORD) != ES256_COORD)
        goto out;
    rc = KEYS_OK;
out:
    BN_free(low);
    ECDSA_SIG_free(es);
    return rc;
}

static int sign_raw(const struct ring_key *k, const char *msg, size_t len, uint8_t *sig,
                    size_t *sig_len)
{
    int rc = KEYS_ECRYPTO;
    EVP_MD_CTX *ctx = ctx_from(k->sign_tpl);
    uint8_t der[ECDSA_DER_MAX];
    size_t n;

    if (!ctx)
        goto out;
    if (k->alg == KEYS_ALG_ES256) {
        n = sizeof der;
        if (EVP_DigestSign(ctx, der, &n, (const uint8_t *)msg, len) != 1)
            goto out;
        rc = ecdsa_der_to_raw(k->ec, der, n, sig);
        if (rc == KEYS_OK)
            *sig_len = RAW_SIG_LEN;
    } else {
        n = *sig_len;
        if (EVP_DigestSign(ctx, sig, &n, (const uint8_t *)msg, len) != 1)
            goto out;
        *sig_len = n;
        rc = KEYS_OK;
    }
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int keys_jwt_sign(struct keys *kr, const char *typ, const char *claims, size_t claims_len,
                  char **out)
{
    int rc = KEYS_EINVAL, hlen;
    struct ring *r = NULL;
    const struct ring_key *k;
    char header[64 + KEYS_KID_MAX + TYP_MAX];
    uint8_t sig[SIG_MAX];
    size_t sig_len, total, pos = 0, n = 0;
    char *buf = NULL;

    if (!kr || !typ || !claims || !out || !typ_valid(typ) || claims_len > KEYS_JWT_MAX)
        goto out;
    r = keys_ring_acquire(kr);
    k = r->active;
    hlen = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"%s\"}",
                    keys_alg_name(k->alg), k->kid, typ);
    if (hlen < 0 || (size_t)hlen >= sizeof header)
        goto out;
    sig_len = sig_len_of(k);
    if (sig_len == 0) {
        rc = KEYS_ECRYPTO;
        goto out;
    }
    total = crypto_b64url_len((size_t)hlen) + 1 + crypto_b64url_len(claims_len) + 1 +
            crypto_b64url_len(sig_len);
    /* a token this verifier would refuse is of no use to anyone */
    if (total > KEYS_JWT_MAX)
        goto out;
    /* One allocation: the signing input is built in place and the signature appended. */
    buf = malloc(total + 1);
    if (!buf) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    rc = KEYS_ECRYPTO;
    if (crypto_b64url_encode(header, (size_t)hlen, buf, total + 1, &n) != CRYPTO_OK)
        goto out;
    pos = n;
    buf[pos++] = '.';
    if (crypto_b64url_encode(claims, claims_len, buf + pos, total + 1 - pos, &n) != CRYPTO_OK)
        goto out;
    pos += n;
    rc = sign_raw(k, buf, pos, sig, &sig_len);
    if (rc != KEYS_OK)
        goto out;
    buf[pos++] = '.';
    if (crypto_b64url_encode(sig, sig_len, buf + pos, total + 1 - pos, &n) != CRYPTO_OK) {
        rc = KEYS_ECRYPTO;
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = KEYS_OK;
out:
    keys_ring_release(kr, r);
    free(buf);
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}

/* ---- verification ---- */

static int typ_matches(const char *typ, const char *expect)
{
    static const char app[] = "application/";

    if (strcasecmp(typ, expect) == 0)
        return 1;
    /* RFC 7515 §4.1.9: "application/" may be left out, so it may also be written */
    return strncasecmp(typ, app, sizeof app - 1) == 0 &&
           strcasecmp(typ + sizeof app - 1, expect) == 0;
}

/* ES256: JWS carries r||s; OpenSSL verifies an ECDSA-Sig-Value (DER). KEYS_ESIG when s is in
 * the high half (the malleable twin of a low-S signature; idpd never signs one). */
static int ecdsa_raw_to_der(const struct keys_ec_curve *ec, const uint8_t raw[RAW_SIG_LEN],
                            uint8_t *der, size_t cap, size_t *der_len)
{
    int rc = KEYS_ECRYPTO, n;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_COORD, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_COORD, ES256_COORD, NULL);
    unsigned char *p = der;

    if (!es || !r || !s)
        goto out;
    if (BN_cmp(s, ec->half_order) > 0) {
        rc = KEYS_ESIG;
        goto out;
    }
    if (ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* es owns them */
    n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(es, &p) != n)
        goto out;
    *der_len = (size_t)n;
    rc = KEYS_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

/* KEYS_OK when sig is k's signature of msg, else KEYS_ESIG (or ENOMEM). */
static int verify_raw(const struct ring_key *k, const char *msg, size_t len, const uint8_t *sig,
                      size_t sig_len)
{
    int rc = KEYS_ESIG;
    EVP_MD_CTX *ctx = NULL;
    uint8_t der[ECDSA_DER_MAX];
    size_t der_len = 0;

    if (sig_len != sig_len_of(k))
        goto out;
    if (k->alg == KEYS_ALG_ES256) {
        if (ecdsa_raw_to_der(k->ec, sig, der, sizeof der, &der_len) != KEYS_OK)
            goto out; /* KEYS_ESIG: malformed or high-S alike */
        sig = der;
        sig_len = der_len;
    }
    ctx = ctx_from(k->verify_tpl);
    if (!ctx)
        goto out;
    if (EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)msg, len) == 1)
        rc = KEYS_OK;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Parses the protected header and checks alg, crit, kid and typ against the ring, in that
 * order. *key is the ring key kid names. */
static int check_header(const struct ring *r, const char *seg, size_t seg_len,
                        const char *expect_typ, const struct ring_key **key)
{
    int rc = KEYS_EFORMAT, alg;
    uint8_t text[HEADER_MAX];
    size_t n = 0;
    json_t *hdr = NULL, *v;
    json_error_t jerr;
    const struct ring_key *k;
    const char *s;

    if (seg_len == 0 || seg_len > crypto_b64url_len(HEADER_MAX))
        goto out;
    if (crypto_b64url_decode(seg, seg_len, text, sizeof text, &n) != CRYPTO_OK)
        goto out;
    /* duplicate members would let two parsers see two different headers */
    hdr = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!hdr || !json_is_object(hdr))
        goto out;

    rc = KEYS_EALG;
    v = json_object_get(hdr, "alg");
    if (!json_is_string(v))
        goto out;
    alg = keys_alg_parse(json_string_value(v)); /* "none", HS*, anything else: -1 */
    if (alg < 0)
        goto out;

    rc = KEYS_EFORMAT;
    if (json_object_get(hdr, "crit"))
        goto out; /* no extension is understood, so none may be critical (RFC 7515 §4.1.11) */

    rc = KEYS_EKID;
    v = json_object_get(hdr, "kid");
    if (!json_is_string(v) || json_string_length(v) >= KEYS_KID_MAX)
        goto out;
    k = keys_ring_find(r, json_string_value(v));
    if (!k || (k->state == STORE_KEY_RETIRED && k->retire_after <= (int64_t)time(NULL)))
        goto out;

    rc = KEYS_EALG;
    if ((int)k->alg != alg)
        goto out; /* the key decides the algorithm; the token only has to agree */

    rc = KEYS_ETYP;
    v = json_object_get(hdr, "typ");
    s = json_string_value(v);
    if (!s || !typ_matches(s, expect_typ))
        goto out;
    *key = k;
    rc = KEYS_OK;
out:
    json_decref(hdr);
    return rc;
}

int keys_jws_split(const char *token, size_t len, struct keys_jws *j)
{
    const char *dot1 = memchr(token, '.', len), *dot2;
    if (!dot1 || !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))))
        return KEYS_EFORMAT;
    j->header = token;
    j->header_len = (size_t)(dot1 - token);
    j->payload = dot1 + 1;
    j->payload_len = (size_t)(dot2 - j->payload);
    j->sig = dot2 + 1;
    j->sig_len = len - (size_t)(j->sig - token);
    j->signed_len = (size_t)(dot2 - token);
    /* a third dot: JWE (five segments) or junk */
    return memchr(j->sig, '.', j->sig_len) ? KEYS_EFORMAT : KEYS_OK;
}

int keys_jws_payload(const struct keys_jws *j, char **body, size_t *len)
{
    size_t cap = j->payload_len / 4 * 3 + 2;
    *body = malloc(cap + 1);
    if (!*body)
        return KEYS_ENOMEM;
    if (crypto_b64url_decode(j->payload, j->payload_len, *body, cap, len) != CRYPTO_OK) {
        free(*body);
        *body = NULL;
        return KEYS_EFORMAT;
    }
    (*body)[*len] = '\0';
    return KEYS_OK;
}

int keys_jwt_verify(struct keys *kr, const char *token, size_t len, const char *expect_typ,
                    char **payload, size_t *payload_len, char *kid)
{
    int rc = KEYS_EINVAL;
    struct ring *r = NULL;
    const struct ring_key *k = NULL;
    struct keys_jws j;
    size_t sig_len = 0, body_len = 0;
    uint8_t sig[SIG_MAX];
    char *body = NULL;

    if (!kr || !expect_typ || !payload)
        goto out;
    rc = KEYS_EFORMAT;
    if (!token || len == 0 || len > KEYS_JWT_MAX || keys_jws_split(token, len, &j) != KEYS_OK)
        goto out;

    r = keys_ring_acquire(kr);
    rc = check_header(r, j.header, j.header_len, expect_typ, &k);
    if (rc != KEYS_OK)
        goto out;

    rc = KEYS_ESIG;
    if (j.sig_len > crypto_b64url_len(SIG_MAX))
        goto out;
    rc = KEYS_EFORMAT;
    if (crypto_b64url_decode(j.sig, j.sig_len, sig, sizeof sig, &sig_len) != CRYPTO_OK)
        goto out;
    if ((rc = keys_jws_payload(&j, &body, &body_len)) != KEYS_OK)
        goto out;

    /* the signing input is the text as received: header "." payload */
    rc = verify_raw(k, token, j.signed_len, sig, sig_len);
    if (rc != KEYS_OK)
        goto out;
    if (kid)
        snprintf(kid, KEYS_KID_MAX, "%s", k->kid);
    *payload = body;
    if (payload_len)
        *payload_len = body_len;
    body = NULL;
out:
    keys_ring_release(kr, r);
    free(body);
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}
