/* crypto — the primitives idpd builds on: CSPRNG, identifiers, base64url, SHA-256/HMAC,
 * constant-time comparison, Argon2id password hashing (PHC strings) and AES-256-GCM.
 *
 * This header is the module's whole API. It depends on no other idpd module. OpenSSL and
 * libargon2 stay behind it: nothing here exposes their types.
 *
 * Every function that can fail returns an enum crypto_err (CRYPTO_OK = 0). Fixed-size outputs
 * go into caller buffers; nothing here allocates memory the caller must free. All functions are
 * safe to call from several threads at once. */
#ifndef IDPD_CRYPTO_H
#define IDPD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

enum crypto_err {
    CRYPTO_OK = 0,
    CRYPTO_EINVAL,    /* bad argument: NULL, length out of range, unknown parameter */
    CRYPTO_ESPACE,    /* output buffer too small */
    CRYPTO_EFORMAT,   /* input is not valid base64url / PHC / ciphertext framing */
    CRYPTO_EMISMATCH, /* password does not match, or AEAD authentication failed */
    CRYPTO_ENOMEM,
    CRYPTO_EINTERNAL, /* OpenSSL or libargon2 failed; the detail is logged nowhere */
};

/* A static string describing rc; never NULL. */
const char *crypto_strerror(int rc);

/* ---- randomness and identifiers ---- */

/* Fills out with len bytes from OpenSSL's CSPRNG (RAND_bytes). Requests of up to 64 bytes are
 * served from a per-thread pool drawn 512 bytes at a time (each byte handed out once, then
 * wiped; emptied in a forked child), which saves RAND_bytes' fixed cost on the token path. */
int crypto_random(void *out, size_t len);

/* Longest identifier crypto_id_new() writes, including prefix, '_' and NUL. */
#define CRYPTO_ID_MAX 48

/* Writes "<prefix>_<26 chars>" into out (cap >= CRYPTO_ID_MAX): 48 bits of milliseconds since
 * the epoch followed by 80 random bits, in lower-case Crockford base32, so ids sort by creation
 * time (ULID layout). prefix is 1..16 lower-case letters. */
int crypto_id_new(const char *prefix, char *out, size_t cap);

/* ---- base64url (RFC 4648 §5, no padding) ---- */

/* Characters crypto_b64url_encode() writes for n input bytes, without the NUL. */
size_t crypto_b64url_len(size_t n);

/* Encodes len bytes into out and NUL-terminates it. cap must be >= crypto_b64url_len(len) + 1.
 * *outlen (may be NULL) receives the length without the NUL. */
int crypto_b64url_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen);

/* Decodes len characters of unpadded base64url. Padding '=', whitespace, characters outside the
 * URL-safe alphabet, a length of 1 mod 4 and non-zero trailing bits are CRYPTO_EFORMAT.
 * cap must be >= len * 3 / 4. */
int crypto_b64url_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen);

/* ---- hashing ---- */

#define CRYPTO_SHA256_LEN 32

void crypto_sha256(const void *in, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
int crypto_hmac_sha256(const void *key, size_t keylen, const void *in, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN]);

/* Constant-time comparison of two equal-length buffers: 1 when equal, 0 otherwise. */
int crypto_memeq(const void *a, const void *b, size_t len);

/* Constant-time comparison of two NUL-terminated strings. The time depends only on the length
 * of b (the expected value), never on where the strings differ. 1 when equal. */
int crypto_streq(const char *a, const char *b);

/* Overwrites len bytes with zeros in a way the compiler cannot drop (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t len);

/* ---- Argon2id password hashing ---- */

struct crypto_argon2_params {
    uint32_t m_kib;   /* memory in KiB, 8 * p .. 4 GiB */
    uint32_t t_cost;  /* iterations, >= 1 */
    uint32_t p_lanes; /* parallelism, 1..16 */
};

/* idpd's defaults (DESIGN.md §6, OWASP) are m=19456 KiB, t=2, p=1; they live in server/config.c. */

/* Longest PHC string crypto_password_hash() writes, including the NUL. */
#define CRYPTO_PHC_MAX 128

/* Hashes a password or secret with a fresh 16-byte salt into a PHC string,
 * "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (standard base64, no padding; 32-byte hash).
 * pw may contain any bytes; pwlen 0 is allowed. out must hold CRYPTO_PHC_MAX bytes.
 * Workers reuse a per-thread buffer for Argon2's memory so repeated hashing does not pay
 * for fresh pages each time (DESIGN.md §8). */
int crypto_password_hash(const struct crypto_argon2_params *params, const void *pw, size_t pwlen,
                         char *out, size_t cap);

/* Verifies pw against a PHC string in constant time. CRYPTO_OK on match, CRYPTO_EMISMATCH on
 * mismatch, CRYPTO_EFORMAT when phc is not an argon2id PHC string idpd can read. */
int crypto_password_verify(const char *phc, const void *pw, size_t pwlen);

/* 1 when phc was made with parameters other than params (or cannot be parsed), else 0. */
int crypto_password_needs_rehash(const char *phc, const struct crypto_argon2_params *params);

/* ---- AES-256-GCM for data at rest ---- */

#define CRYPTO_AEAD_KEY_LEN 32
#define CRYPTO_AEAD_NONCE_LEN 12
#define CRYPTO_AEAD_TAG_LEN 16
/* Bytes crypto_aead_seal() adds to the plaintext: nonce in front, tag behind. */
#define CRYPTO_AEAD_OVERHEAD (CRYPTO_AEAD_NONCE_LEN + CRYPTO_AEAD_TAG_LEN)

/* Encrypts pt under key with a random nonce and authenticates aad with it.
 * out receives nonce || ciphertext || tag; cap >= ptlen + CRYPTO_AEAD_OVERHEAD. */
int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *aad, size_t aadlen,
                     const void *pt, size_t ptlen, uint8_t *out, size_t cap, size_t *outlen);

/* Reverses crypto_aead_seal(). CRYPTO_EMISMATCH when the key, the aad or any byte is wrong;
 * then out holds nothing useful. cap >= inlen - CRYPTO_AEAD_OVERHEAD. */
int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen);

#endif
