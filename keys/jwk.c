/* keys/jwk.c — public JWK members of a key (RFC 7517/7518/8037), the RFC 7638 thumbprint that
 * is the kid, and the JWK text of the JWKS. Every member is base64url or a fixed name, so the
 * JSON is written directly: nothing needs escaping. */
#include "keys/internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define EC_COORD_LEN 32 /* P-256 */
#define ED25519_LEN 32

static char *b64_dup(const uint8_t *p, size_t n)
{
    size_t cap = crypto_b64url_len(n) + 1;
    char *s = malloc(cap);
    if (s && crypto_b64url_encode(p, n, s, cap, NULL) != CRYPTO_OK) {
        free(s);
        s = NULL;
    }
    return s;
}

/* A BIGNUM parameter of pk as base64url, big-endian: padded to pad bytes when pad > 0 (EC
 * coordinates always have the field size, RFC 7518 §6.2.1.2), else minimal (RSA, §6.3.1). */
static int bn_param_b64(EVP_PKEY *pk, const char *name, int pad, char **out)
{
    int rc = KEYS_ECRYPTO, len;
    BIGNUM *bn = NULL;
    uint8_t *bin = NULL;

    if (!EVP_PKEY_get_bn_param(pk, name, &bn))
        goto out;
    len = pad > 0 ? pad : BN_num_bytes(bn);
    if (len <= 0 || len > 2048)
        goto out;
    bin = malloc((size_t)len);
    if (!bin) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    if ((pad > 0 ? BN_bn2binpad(bn, bin, len) : BN_bn2bin(bn, bin)) != len)
        goto out;
    *out = b64_dup(bin, (size_t)len);
    rc = *out ? KEYS_OK : KEYS_ENOMEM;
out:
    BN_free(bn);
    free(bin);
    return rc;
}

static int is_p256(EVP_PKEY *pk)
{
    char group[64];
    size_t len = 0;

    if (!EVP_PKEY_is_a(pk, "EC") ||
        !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len))
        return 0;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

int keys_jwk_from_pkey(EVP_PKEY *pk, enum keys_alg alg, struct keys_jwk *j)
{
    int rc = KEYS_ECRYPTO;
    uint8_t raw[ED25519_LEN];
    size_t raw_len = sizeof raw;

    memset(j, 0, sizeof *j);
    if (!pk)
        goto out;
    switch (alg) {
    case KEYS_ALG_ES256:
        if (!is_p256(pk))
            goto out;
        j->kty = "EC";
        j->crv = "P-256";
        rc = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, EC_COORD_LEN, &j->x);
        if (rc == KEYS_OK)
            rc = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, EC_COORD_LEN, &j->y);
        break;
    case KEYS_ALG_RS256:
        if (!EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < 2048)
            goto out;
        j->kty = "RSA";
        rc = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0, &j->n);
        if (rc == KEYS_OK)
            rc = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0, &j->e);
        break;
    case KEYS_ALG_EDDSA:
        if (!EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_get_raw_public_key(pk, raw, &raw_len) != 1 ||
            raw_len != ED25519_LEN)
            goto out;
        j->kty = "OKP";
        j->crv = "Ed25519";
        j->x = b64_dup(raw, raw_len);
        rc = j->x ? KEYS_OK : KEYS_ENOMEM;
        break;
    default:
        rc = KEYS_EINVAL;
        break;
    }
out:
    if (rc != KEYS_OK) {
        keys_jwk_clear(j);
        ERR_clear_error();
    }
    return rc;
}

void keys_jwk_clear(struct keys_jwk *j)
{
    free(j->x);
    free(j->y);
    free(j->n);
    free(j->e);
    memset(j, 0, sizeof *j);
}

static void add_member(struct buf *b, const char *sep, const char *name, const char *value)
{
    buf_appends(b, sep);
    buf_appends(b, "\"");
    buf_appends(b, name);
    buf_appends(b, "\":\"");
    buf_appends(b, value);
    buf_appends(b, "\"");
}

int keys_jwk_thumbprint(const struct keys_jwk *j, char kid[KEYS_KID_MAX])
{
    int rc = KEYS_EINVAL;
    struct buf b = {0};
    uint8_t digest[CRYPTO_SHA256_LEN];

    /* RFC 7638 §3.2: only the required members, names in lexicographic order, no whitespace. */
    if (!j->kty) {
        goto out;
    } else if (strcmp(j->kty, "EC") == 0) {
        if (!j->crv || !j->x || !j->y)
            goto out;
        add_member(&b, "{", "crv", j->crv);
        add_member(&b, ",", "kty", j->kty);
        add_member(&b, ",", "x", j->x);
        add_member(&b, ",", "y", j->y);
    } else if (strcmp(j->kty, "RSA") == 0) {
        if (!j->n || !j->e)
            goto out;
        add_member(&b, "{", "e", j->e);
        add_member(&b, ",", "kty", j->kty);
        add_member(&b, ",", "n", j->n);
    } else if (strcmp(j->kty, "OKP") == 0) {
        if (!j->crv || !j->x)
            goto out;
        add_member(&b, "{", "crv", j->crv);
        add_member(&b, ",", "kty", j->kty);
        add_member(&b, ",", "x", j->x);
    } else {
        goto out;
    }
    buf_appends(&b, "}");
    if (b.failed) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    crypto_sha256(b.data, b.len, digest);
    rc = keys_from_crypto(crypto_b64url_encode(digest, sizeof digest, kid, KEYS_KID_MAX, NULL));
out:
    buf_free(&b);
    return rc;
}

void keys_jwk_render(const struct keys_jwk *j, const char *kid, const char *alg, struct buf *b)
{
    add_member(b, "{", "kty", j->kty);
    if (j->crv)
        add_member(b, ",", "crv", j->crv);
    if (j->n)
        add_member(b, ",", "n", j->n);
    if (j->e)
        add_member(b, ",", "e", j->e);
    if (j->x)
        add_member(b, ",", "x", j->x);
    if (j->y)
        add_member(b, ",", "y", j->y);
    add_member(b, ",", "kid", kid);
    add_member(b, ",", "alg", alg);
    add_member(b, ",", "use", "sig");
    buf_appends(b, "}");
}
