/* keys/foreign.c — tokens of other issuers: an upstream provider's ID tokens, JWT-bearer
 * assertions, client assertions. Verified with OpenSSL directly, not libjwt: Debian's libjwt
 * 1.10.2 takes the algorithm from the token (HS256 "signed" with a public key verifies), skips
 * verification when given no key, has no length bound and a lax base64 decoder (README, "Why
 * idpd verifies foreign tokens with OpenSSL").
 *
 * The rules: at most KEYS_FOREIGN_JWT_MAX bytes; exactly three segments of strict base64url; a
 * header object without duplicate members, without "crit"; an alg from the caller's allow-list
 * that is also the alg of the key's type (RSA of 2048 bits or more: RS256, PS256; EC P-256:
 * ES256; Ed25519: EdDSA), and the JWK's own "alg" when it names one; the key chosen by kid, or,
 * for a token without kid, the one key of the set that fits. The caller parses the payload
 * (strictly, with duplicates refused) and checks its claims. */
#include "keys/internal.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_MAX 2048
#define SIG_MAX 1024 /* RSA-8192 */
#define RSA_N_MAX 1024
#define COORD 32
#define ECDSA_DER_MAX 80

enum kind { K_RSA, K_EC, K_OKP };
enum falg { F_RS256, F_PS256, F_ES256, F_EDDSA, F_COUNT };

static const char *const falg_names[F_COUNT] = {"RS256", "PS256", "ES256", "EdDSA"};

struct foreign_key {
    char kid[KEYS_KID_MAX]; /* "" when the JWK has none */
    enum kind kind;
    int alg; /* the JWK's "alg", or -1 */
    EVP_PKEY *pk;
};

struct keys_jwks {
    size_t n;
    struct foreign_key *keys;
};

static int falg_parse(const char *s, size_t len)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(falg_names[i]) == len && strncmp(falg_names[i], s, len) == 0)
            return i;
    return -1;
}

static enum kind kind_of(enum falg a)
{
    return a == F_ES256 ? K_EC : a == F_EDDSA ? K_OKP : K_RSA;
}

/* A base64url member of o into out (at most cap bytes); 0 when absent or malformed. */
static int b64_member(const json_t *o, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    const json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    size_t slen = s ? json_string_length(v) : 0;
    if (!s || slen == 0 || slen > crypto_b64url_len(cap))
        return 0;
    return crypto_b64url_decode(s, slen, out, cap, len) == CRYPTO_OK;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pk = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

static EVP_PKEY *rsa_key(const json_t *jwk)
{
    uint8_t n[RSA_N_MAX], e[8];
    size_t nlen = 0, elen = 0;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;
    if (!b64_member(jwk, "n", n, sizeof n, &nlen) || !b64_member(jwk, "e", e, sizeof e, &elen))
        return NULL;
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && BN_num_bits(bn) >= 2048 && BN_is_odd(be) && !BN_is_one(be) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pk = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pk;
}

static EVP_PKEY *ec_key(const json_t *jwk)
{
    uint8_t point[1 + 2 * COORD];
    size_t xlen = 0, ylen = 0;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!crv || strcmp(crv, "P-256") != 0 || !b64_member(jwk, "x", point + 1, COORD, &xlen) ||
        !b64_member(jwk, "y", point + 1 + COORD, COORD, &ylen) || xlen != COORD || ylen != COORD)
        return NULL;
    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    bld = OSSL_PARAM_BLD_new();
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) == 1)
        pk = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    /* a point off the curve would make verification meaningless */
    EVP_PKEY_CTX *check = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
    if (pk && (!check || EVP_PKEY_public_check(check) != 1)) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(check);
    return pk;
}

static EVP_PKEY *okp_key(const json_t *jwk)
{
    uint8_t x[32];
    size_t xlen = 0;
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!crv || strcmp(crv, "Ed25519") != 0 || !b64_member(jwk, "x", x, sizeof x, &xlen) ||
        xlen != sizeof x)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x);
}

/* One JWK into k; 0 when idpd cannot use it (it is skipped, as RFC 7517 §5 allows). */
static int key_from_jwk(const json_t *jwk, struct foreign_key *k)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const json_t *kid = json_object_get(jwk, "kid"), *alg = json_object_get(jwk, "alg");
    memset(k, 0, sizeof *k);
    if (!json_is_object(jwk) || !kty || (use && strcmp(use, "sig") != 0) ||
        (json_object_get(jwk, "use") && !use))
        return 0;
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        if (json_object_get(jwk, private_members[i]))
            return 0; /* a private key has no business in a published set */
    if (kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                json_string_length(kid) >= sizeof k->kid))
        return 0;
    k->alg = -1;
    if (alg && (!json_is_string(alg) ||
                (k->alg = falg_parse(json_string_value(alg), json_string_length(alg))) < 0))
        return 0;
    if (strcmp(kty, "RSA") == 0) {
        k->kind = K_RSA;
        k->pk = rsa_key(jwk);
    } else if (strcmp(kty, "EC") == 0) {
        k->kind = K_EC;
        k->pk = ec_key(jwk);
    } else if (strcmp(kty, "OKP") == 0) {
        k->kind = K_OKP;
        k->pk = okp_key(jwk);
    }
    if (!k->pk || (k->alg >= 0 && kind_of((enum falg)k->alg) != k->kind)) {
        EVP_PKEY_free(k->pk);
        k->pk = NULL;
        return 0;
    }
    if (kid)
        memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
    return 1;
}

int keys_jwks_parse(const char *text, size_t len, struct keys_jwks **out)
{
    json_t *doc = NULL, *list, *jwk;
    struct keys_jwks *s = NULL;
    size_t i;
    int rc = KEYS_EINVAL;
    if (!out)
        return rc;
    *out = NULL;
    rc = KEYS_EFORMAT;
    if (!text || len > KEYS_FOREIGN_JWKS_MAX)
        goto out;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    list = json_object_get(doc, "keys");
    if (!json_is_array(list) || json_array_size(list) > KEYS_FOREIGN_KEYS_MAX)
        goto out;
    rc = KEYS_ENOMEM;
    if (!(s = calloc(1, sizeof *s)) ||
        (json_array_size(list) && !(s->keys = calloc(json_array_size(list), sizeof *s->keys))))
        goto out;
    json_array_foreach(list, i, jwk)
    {
        if (key_from_jwk(jwk, &s->keys[s->n]))
            s->n++;
    }
    *out = s;
    s = NULL;
    rc = KEYS_OK;
out:
    keys_jwks_free(s);
    json_decref(doc);
    ERR_clear_error();
    return rc;
}

void keys_jwks_free(struct keys_jwks *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        EVP_PKEY_free(s->keys[i].pk);
    free(s->keys);
    free(s);
}

size_t keys_jwks_count(const struct keys_jwks *s)
{
    return s ? s->n : 0;
}

/* The allow-list "RS256,ES256" as a bit set; -1 when it names an alg idpd does not verify. */
static int allowed_set(const char *algs)
{
    int set = 0;
    for (const char *p = algs; p && *p;) {
        size_t len = strcspn(p, ", ");
        int a = len ? falg_parse(p, len) : -2;
        if (a == -1)
            return -1;
        if (a >= 0)
            set |= 1 << a;
        p += len;
        p += strspn(p, ", ");
    }
    return set;
}

static int header_check(const char *seg, size_t seg_len, int allowed, const char *expect_typ,
                        const struct keys_jwks *s, enum falg *alg, const struct foreign_key **key)
{
    uint8_t text[HEADER_MAX];
    size_t n = 0;
    json_t *hdr = NULL, *v;
    int rc = KEYS_EFORMAT, a;
    if (seg_len == 0 || seg_len > crypto_b64url_len(HEADER_MAX) ||
        crypto_b64url_decode(seg, seg_len, text, sizeof text, &n) != CRYPTO_OK)
        goto out;
    hdr = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(hdr) || json_object_get(hdr, "crit"))
        goto out;
    rc = KEYS_EALG;
    v = json_object_get(hdr, "alg");
    if (!json_is_string(v) || (a = falg_parse(json_string_value(v), json_string_length(v))) < 0 ||
        !(allowed & (1 << a)))
        goto out; /* none, HS*, or one the caller did not allow */
    *alg = (enum falg)a;
    rc = KEYS_ETYP;
    v = json_object_get(hdr, "typ");
    if (expect_typ && (!json_is_string(v) || strcasecmp(json_string_value(v), expect_typ) != 0))
        goto out;
    rc = KEYS_EKID;
    v = json_object_get(hdr, "kid");
    if (v && !json_is_string(v))
        goto out;
    *key = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct foreign_key *k = &s->keys[i];
        if (k->kind != kind_of(*alg) || (k->alg >= 0 && k->alg != a))
            continue; /* the key's type decides what it verifies */
        if (v ? strcmp(k->kid, json_string_value(v)) == 0 : !*key) {
            *key = k;
            if (v)
                break;
        } else if (!v) {
            *key = NULL; /* no kid and two keys that fit: which one is not ours to guess */
            goto out;
        }
    }
    rc = *key ? KEYS_OK : KEYS_EKID;
out:
    json_decref(hdr);
    return rc;
}

/* ES256 r||s into an ECDSA-Sig-Value. */
static int ecdsa_der(const uint8_t raw[2 * COORD], uint8_t *der, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, COORD, NULL), *s = BN_bin2bn(raw + COORD, COORD, NULL);
    unsigned char *p = der;
    int rc = KEYS_ESIG, n;
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* es owns them */
    n = i2d_ECDSA_SIG(es, NULL);
    if (n > 0 && n <= ECDSA_DER_MAX && i2d_ECDSA_SIG(es, &p) == n) {
        *der_len = (size_t)n;
        rc = KEYS_OK;
    }
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

static int verify_sig(const struct foreign_key *k, enum falg alg, const char *msg, size_t len,
                      const uint8_t *sig, size_t sig_len)
{
    uint8_t der[ECDSA_DER_MAX];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int rc = KEYS_ESIG;
    if (!ctx)
        return KEYS_ENOMEM;
    if (alg == F_ES256) {
        size_t der_len = 0;
        if (sig_len != 2 * COORD || ecdsa_der(sig, der, &der_len) != KEYS_OK)
            goto out;
        sig = der;
        sig_len = der_len;
    } else if (alg == F_EDDSA && sig_len != 64) {
        goto out;
    } else if (alg != F_EDDSA && sig_len != (size_t)EVP_PKEY_get_size(k->pk)) {
        goto out;
    }
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, alg == F_EDDSA ? NULL : "SHA256", NULL, NULL, k->pk,
                                NULL) != 1)
        goto out;
    if (alg == F_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                           EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1))
        goto out;
    if (alg == F_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    if (EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)msg, len) == 1)
        rc = KEYS_OK;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int keys_foreign_verify(const struct keys_jwks *s, const char *token, size_t len, const char *algs,
                        const char *expect_typ, char **payload, size_t *payload_len,
                        char kid[KEYS_KID_MAX])
{
    const struct foreign_key *k = NULL;
    struct keys_jws j;
    size_t sig_len = 0, body_len = 0;
    uint8_t sig[SIG_MAX];
    char *body = NULL;
    enum falg alg = F_RS256;
    int allowed, rc = KEYS_EINVAL;
    if (!s || !algs || !payload || (allowed = allowed_set(algs)) <= 0)
        goto out;
    *payload = NULL;
    rc = KEYS_EFORMAT;
    if (!token || len == 0 || len > KEYS_FOREIGN_JWT_MAX || memchr(token, '\0', len) ||
        keys_jws_split(token, len, &j) != KEYS_OK || j.sig_len == 0 || j.payload_len == 0)
        goto out;
    rc = header_check(j.header, j.header_len, allowed, expect_typ, s, &alg, &k);
    if (rc != KEYS_OK)
        goto out;
    rc = KEYS_EFORMAT;
    if (j.sig_len > crypto_b64url_len(SIG_MAX) ||
        crypto_b64url_decode(j.sig, j.sig_len, sig, sizeof sig, &sig_len) != CRYPTO_OK)
        goto out;
    if ((rc = keys_jws_payload(&j, &body, &body_len)) != KEYS_OK)
        goto out;
    rc = KEYS_EFORMAT;
    if (memchr(body, '\0', body_len))
        goto out; /* two parsers would read two different payloads */
    rc = verify_sig(k, alg, token, j.signed_len, sig, sig_len);
    if (rc != KEYS_OK)
        goto out;
    if (kid)
        snprintf(kid, KEYS_KID_MAX, "%s", k->kid);
    *payload = body;
    if (payload_len)
        *payload_len = body_len;
    body = NULL;
out:
    free(body);
    ERR_clear_error();
    return rc;
}
