/* keys/errors.c — keys_strerror() and the one place where crypto/ and storage/ errors become
 * keys errors. */
#include "keys/internal.h"

const char *keys_strerror(int rc)
{
    switch (rc) {
    case KEYS_OK:
        return "ok";
    case KEYS_EINVAL:
        return "invalid argument or configuration";
    case KEYS_ENOMEM:
        return "out of memory";
    case KEYS_ESTORE:
        return "storage failed";
    case KEYS_ECRYPTO:
        return "cryptographic operation failed or key does not open under the master key";
    case KEYS_EMASTER:
        return "master key missing, malformed or readable by others";
    case KEYS_EFORMAT:
        return "malformed token";
    case KEYS_EALG:
        return "token algorithm not accepted";
    case KEYS_EKID:
        return "token key id missing or unknown";
    case KEYS_ETYP:
        return "token type not accepted";
    case KEYS_ESIG:
        return "token signature does not verify";
    case KEYS_ETOOSOON:
        return "the next signing key has not been published long enough";
    default:
        return "unknown keys error";
    }
}

int keys_from_crypto(int rc)
{
    switch (rc) {
    case CRYPTO_OK:
        return KEYS_OK;
    case CRYPTO_ENOMEM:
        return KEYS_ENOMEM;
    default:
        return KEYS_ECRYPTO;
    }
}

int keys_from_store(int rc)
{
    switch (rc) {
    case STORE_OK:
        return KEYS_OK;
    case STORE_ENOMEM:
        return KEYS_ENOMEM;
    default:
        return KEYS_ESTORE;
    }
}
