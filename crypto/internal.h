/* Private to crypto/: helpers shared between its files and the hooks its unit test needs to
 * check known-answer vectors. Nothing outside crypto/ and tests/unit/test_crypto.c includes it. */
#ifndef IDPD_CRYPTO_INTERNAL_H
#define IDPD_CRYPTO_INTERNAL_H

#include "crypto/crypto.h"

/* Drains the OpenSSL error queue so a stale entry cannot surface in an unrelated later call;
 * returns CRYPTO_EINTERNAL for the caller to pass on. */
int crypto_ossl_fail(void);

/* Standard-alphabet base64 without padding (the PHC string encoding), with the same strict rules
 * and arguments as crypto_b64url_encode() / crypto_b64url_decode(). */
int crypto_b64std_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen);
int crypto_b64std_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen);

/* CRYPTO_OK when params are within the bounds of struct crypto_argon2_params, else
 * CRYPTO_EINVAL. */
int crypto_argon2_params_check(const struct crypto_argon2_params *p);

/* Raw Argon2id (version 0x13) into out[outlen] using the calling thread's reusable buffer.
 * salt is 8..64 bytes, outlen 4..64; secret and ad may be NULL with length 0. */
int crypto_argon2id_raw(const struct crypto_argon2_params *p, const void *pw, size_t pwlen,
                        const void *salt, size_t saltlen, const void *secret, size_t secretlen,
                        const void *ad, size_t adlen, uint8_t *out, size_t outlen);

/* Bytes of Argon2 memory the calling thread currently keeps for reuse (0 before its first hash). */
size_t crypto_argon2_thread_buffer_size(void);

/* crypto_aead_seal() with a caller-chosen nonce; only known-answer tests may choose one, as a
 * repeated nonce under one key breaks GCM. */
int crypto_aead_seal_nonce(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
                           const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *aad,
                           size_t aadlen, const void *pt, size_t ptlen, uint8_t *out, size_t cap,
                           size_t *outlen);

#endif
