#include "crypto/internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Fetched once: OpenSSL 3 looks an implicitly fetched algorithm up again on every call, which
 * its performance notes advise against on hot paths. */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* OpenSSL treats a NULL key as "keep the previous key"; an empty key needs a real pointer. */
static const uint8_t empty[1];

void crypto_sha256(const void *in, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    if (!out)
        return;
    pthread_once(&fetch_once, fetch_algorithms);
    /* The API has no error channel here; an all-zero digest never matches a real one. */
    if (!sha256_md || (!in && len) ||
        EVP_Digest(in ? in : empty, len, out, NULL, sha256_md, NULL) != 1) {
        memset(out, 0, CRYPTO_SHA256_LEN);
        crypto_ossl_fail();
    }
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *in, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN])
{
    if ((!key && keylen) || (!in && len) || !out)
        return CRYPTO_EINVAL;
    pthread_once(&fetch_once, fetch_algorithms);
    if (!hmac_mac)
        return crypto_ossl_fail();

    int rc = CRYPTO_EINTERNAL;
    size_t n = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    if (!ctx || EVP_MAC_init(ctx, key ? key : empty, keylen, params) != 1 ||
        EVP_MAC_update(ctx, in ? in : empty, len) != 1 ||
        EVP_MAC_final(ctx, out, &n, CRYPTO_SHA256_LEN) != 1 || n != CRYPTO_SHA256_LEN) {
        rc = crypto_ossl_fail();
        goto out;
    }
    rc = CRYPTO_OK;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int crypto_memeq(const void *a, const void *b, size_t len)
{
    if (!a || !b)
        return 0;
    return CRYPTO_memcmp(a, b, len) == 0;
}

int crypto_streq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t n = strlen(b);
    unsigned diff = 0;
    size_t j = 0;
    /* Walk b including its NUL; a's index stops advancing at a's NUL so a is never read past its
     * end, and a length difference shows as a NUL compared with a non-NUL byte. */
    for (size_t i = 0; i <= n; i++) {
        unsigned char ca = (unsigned char)a[j];
        diff |= ca ^ (unsigned char)b[i];
        j += ca != 0;
    }
    return diff == 0;
}

void crypto_wipe(void *p, size_t len)
{
    if (p)
        OPENSSL_cleanse(p, len);
}
