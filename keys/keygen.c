/* keys/keygen.c — key generation and the private key at rest: PKCS#8 DER sealed with
 * AES-256-GCM under the master key (DESIGN.md §6). */
#include "keys/internal.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

int keys_pkey_generate(enum keys_alg alg, EVP_PKEY **out)
{
    int rc = KEYS_ECRYPTO;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;

    switch (alg) {
    case KEYS_ALG_ES256:
        pk = EVP_EC_gen("P-256");
        break;
    case KEYS_ALG_RS256:
        pk = EVP_RSA_gen(2048);
        break;
    case KEYS_ALG_EDDSA:
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pk) <= 0) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
        break;
    default:
        rc = KEYS_EINVAL;
        goto out;
    }
    if (!pk)
        goto out;
    *out = pk;
    rc = KEYS_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}

/* Binds a sealed record to its kid and alg, so a record copied to another kid (or relabelled
 * with another alg) no longer opens. */
static int make_aad(const char *kid, const char *alg, char *aad, size_t cap, size_t *len)
{
    int n = snprintf(aad, cap, "idpd-key:%s:%s", kid, alg);
    if (n < 0 || (size_t)n >= cap)
        return KEYS_EINVAL;
    *len = (size_t)n;
    return KEYS_OK;
}

int keys_pkey_seal(EVP_PKEY *pk, const uint8_t master[KEYS_MASTER_LEN], const char *kid,
                   const char *alg, uint8_t **sealed, size_t *sealed_len)
{
    int rc, der_len = 0;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *der = NULL;
    uint8_t *buf = NULL;
    char aad[KEYS_KID_MAX + 32];
    size_t aad_len = 0, cap, n = 0;

    rc = make_aad(kid, alg, aad, sizeof aad, &aad_len);
    if (rc != KEYS_OK)
        goto out;
    rc = KEYS_ECRYPTO;
    p8 = EVP_PKEY2PKCS8(pk);
    if (!p8)
        goto out;
    der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    if (der_len <= 0) {
        der = NULL;
        der_len = 0;
        goto out;
    }
    cap = (size_t)der_len + CRYPTO_AEAD_OVERHEAD;
    buf = malloc(cap);
    if (!buf) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    rc = keys_from_crypto(
        crypto_aead_seal(master, aad, aad_len, der, (size_t)der_len, buf, cap, &n));
    if (rc != KEYS_OK)
        goto out;
    *sealed = buf;
    *sealed_len = n;
    buf = NULL;
out:
    if (der)
        OPENSSL_clear_free(der, (size_t)der_len);
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears its copy of the private key */
    free(buf);
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}

int keys_pkey_unseal(const uint8_t *sealed, size_t sealed_len,
                     const uint8_t master[KEYS_MASTER_LEN], const char *kid, const char *alg,
                     EVP_PKEY **out)
{
    int rc;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *pk = NULL;
    uint8_t *der = NULL;
    const unsigned char *p;
    char aad[KEYS_KID_MAX + 32];
    size_t aad_len = 0, cap = 0, der_len = 0;

    rc = make_aad(kid, alg, aad, sizeof aad, &aad_len);
    if (rc != KEYS_OK)
        goto out;
    rc = KEYS_ECRYPTO;
    if (!sealed || sealed_len <= CRYPTO_AEAD_OVERHEAD || sealed_len > 1 << 20)
        goto out;
    cap = sealed_len - CRYPTO_AEAD_OVERHEAD;
    der = malloc(cap);
    if (!der) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    rc = crypto_aead_open(master, aad, aad_len, sealed, sealed_len, der, cap, &der_len);
    if (rc != CRYPTO_OK) {
        rc = rc == CRYPTO_ENOMEM ? KEYS_ENOMEM : KEYS_ECRYPTO;
        goto out;
    }
    rc = KEYS_ECRYPTO;
    p = der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
    if (!p8 || p != der + der_len)
        goto out;
    pk = EVP_PKCS82PKEY(p8);
    if (!pk)
        goto out;
    *out = pk;
    rc = KEYS_OK;
out:
    if (der) {
        crypto_wipe(der, cap);
        free(der);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (rc != KEYS_OK)
        ERR_clear_error();
    return rc;
}
