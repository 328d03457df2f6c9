/* AES-256-GCM with the nonce carried in front of the ciphertext, for data at rest. */
#include "crypto/internal.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_gcm;

static void fetch_cipher(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static EVP_CIPHER_CTX *cipher_ctx_new(void)
{
    pthread_once(&fetch_once, fetch_cipher);
    return aes_gcm ? EVP_CIPHER_CTX_new() : NULL;
}

int crypto_aead_seal_nonce(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
                           const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *aad,
                           size_t aadlen, const void *pt, size_t ptlen, uint8_t *out, size_t cap,
                           size_t *outlen)
{
    /* EVP takes int lengths. */
    if (!key || !nonce || !out || (!aad && aadlen) || (!pt && ptlen) || aadlen > INT_MAX ||
        ptlen > INT_MAX - CRYPTO_AEAD_OVERHEAD)
        return CRYPTO_EINVAL;
    if (cap < ptlen + CRYPTO_AEAD_OVERHEAD)
        return CRYPTO_ESPACE;

    int rc = CRYPTO_EINTERNAL, n = 0;
    uint8_t *ct = out + CRYPTO_AEAD_NONCE_LEN;
    EVP_CIPHER_CTX *ctx = cipher_ctx_new();
    if (!ctx || EVP_EncryptInit_ex2(ctx, aes_gcm, key, nonce, NULL) != 1)
        goto out;
    if (aadlen && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
        goto out;
    if (ptlen && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + ptlen, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_AEAD_TAG_LEN, ct + ptlen) != 1)
        goto out;
    memcpy(out, nonce, CRYPTO_AEAD_NONCE_LEN);
    if (outlen)
        *outlen = ptlen + CRYPTO_AEAD_OVERHEAD;
    rc = CRYPTO_OK;
out:
    if (rc != CRYPTO_OK) {
        crypto_wipe(out, ptlen + CRYPTO_AEAD_OVERHEAD);
        crypto_ossl_fail();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *aad, size_t aadlen,
                     const void *pt, size_t ptlen, uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t nonce[CRYPTO_AEAD_NONCE_LEN];
    /* Random 96-bit nonces: the store encrypts few records per key (signing keys), far below
     * the 2^32 messages where collisions become a concern. */
    int rc = crypto_random(nonce, sizeof nonce);
    if (rc != CRYPTO_OK)
        return rc;
    return crypto_aead_seal_nonce(key, nonce, aad, aadlen, pt, ptlen, out, cap, outlen);
}

int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (outlen)
        *outlen = 0;
    if (!key || !in || !out || (!aad && aadlen) || aadlen > INT_MAX || inlen > INT_MAX)
        return CRYPTO_EINVAL;
    if (inlen < CRYPTO_AEAD_OVERHEAD)
        return CRYPTO_EFORMAT;
    size_t ctlen = inlen - CRYPTO_AEAD_OVERHEAD;
    if (cap < ctlen)
        return CRYPTO_ESPACE;

    int rc = CRYPTO_EINTERNAL, n = 0;
    const uint8_t *ct = in + CRYPTO_AEAD_NONCE_LEN;
    uint8_t tag[CRYPTO_AEAD_TAG_LEN];
    memcpy(tag, ct + ctlen, sizeof tag); /* the ctrl call wants a writable pointer */
    EVP_CIPHER_CTX *ctx = cipher_ctx_new();
    if (!ctx || EVP_DecryptInit_ex2(ctx, aes_gcm, key, in, NULL) != 1)
        goto out;
    if (aadlen && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
        goto out;
    if (ctlen && EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(ctx, out + ctlen, &n) != 1) {
        rc = CRYPTO_EMISMATCH;
        goto out;
    }
    if (outlen)
        *outlen = ctlen;
    rc = CRYPTO_OK;
out:
    if (rc != CRYPTO_OK) {
        /* Unauthenticated plaintext must not reach the caller. */
        crypto_wipe(out, ctlen);
        crypto_ossl_fail();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
