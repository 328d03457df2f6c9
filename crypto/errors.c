#include "crypto/internal.h"

#include <openssl/err.h>

const char *crypto_strerror(int rc)
{
    switch (rc) {
    case CRYPTO_OK:
        return "success";
    case CRYPTO_EINVAL:
        return "invalid argument";
    case CRYPTO_ESPACE:
        return "output buffer too small";
    case CRYPTO_EFORMAT:
        return "malformed input";
    case CRYPTO_EMISMATCH:
        return "verification failed";
    case CRYPTO_ENOMEM:
        return "out of memory";
    case CRYPTO_EINTERNAL:
        return "internal cryptographic library error";
    }
    return "unknown crypto error";
}

int crypto_ossl_fail(void)
{
    ERR_clear_error();
    return CRYPTO_EINTERNAL;
}
