/* keys/internal.h — what the files of keys/ share. Never included outside keys/ and
 * tests/unit/test_keys.c, so it may use OpenSSL types. */
#ifndef IDPD_KEYS_INTERNAL_H
#define IDPD_KEYS_INTERNAL_H

#include "keys/keys.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>

#include "buf/buf.h"
#include "crypto/crypto.h"
#include "storage/storage.h"

/* Codes the store_write() callbacks of ring.c return besides STORE_* (0..8) and that must not
 * collide with them. */
#define KEYS_CB_BASE 1000

enum keys_alg { KEYS_ALG_ES256 = 0, KEYS_ALG_RS256, KEYS_ALG_EDDSA };

/* "ES256" → KEYS_ALG_ES256 etc.; -1 when s is no alg idpd signs with. Exact, case-sensitive
 * (RFC 7518 names are). */
int keys_alg_parse(const char *s);
/* The static name of alg. */
const char *keys_alg_name(enum keys_alg alg);

/* Maps a crypto_* or store_* error to a keys error. */
int keys_from_crypto(int rc);
int keys_from_store(int rc);

/* ---- JWK public members (keys/jwk.c) ---- */

/* The public members of a key as base64url text. Strings not used by the kty are NULL; the
 * const ones are static, the others are malloc'd and freed by keys_jwk_clear(). */
struct keys_jwk {
    const char *kty; /* "EC", "RSA", "OKP" */
    const char *crv; /* "P-256", "Ed25519"; NULL for RSA */
    char *x, *y;     /* EC: both, padded to 32 bytes; OKP: x only (raw 32 bytes) */
    char *n, *e;     /* RSA: unpadded big-endian */
};

/* Fills j from the public half of pk, which must be the key type alg uses (P-256 for ES256,
 * RSA of at least 2048 bits for RS256, Ed25519 for EdDSA); KEYS_ECRYPTO otherwise. */
int keys_jwk_from_pkey(EVP_PKEY *pk, enum keys_alg alg, struct keys_jwk *j);
void keys_jwk_clear(struct keys_jwk *j);

/* RFC 7638 thumbprint of j: SHA-256 over the required members in lexicographic order, no
 * whitespace, as base64url (43 characters) into kid. */
int keys_jwk_thumbprint(const struct keys_jwk *j, char kid[KEYS_KID_MAX]);

/* Appends {"kty":…,…,"kid":…,"alg":…,"use":"sig"} to b; a failure is left in b->failed. */
void keys_jwk_render(const struct keys_jwk *j, const char *kid, const char *alg, struct buf *b);

/* ---- compact JWS segments (keys/jwt.c): idpd's own tokens and other issuers' ---- */

struct keys_jws {
    const char *header, *payload, *sig; /* the three segments, pointing into the token */
    size_t header_len, payload_len, sig_len;
    size_t signed_len; /* header "." payload: the signing input, as received */
};
/* Splits token (len bytes) at exactly two dots. KEYS_EFORMAT for anything else (JWE, junk). */
int keys_jws_split(const char *token, size_t len, struct keys_jws *j);
/* The payload segment decoded (strict base64url) into *body, malloc'd and NUL-terminated (free()),
 * *len its length. KEYS_EFORMAT, KEYS_ENOMEM; *body NULL then. */
int keys_jws_payload(const struct keys_jws *j, char **body, size_t *len);

/* ---- generation and sealing (keys/keygen.c) ---- */

/* A fresh key pair for alg (P-256, RSA-2048 or Ed25519). */
int keys_pkey_generate(enum keys_alg alg, EVP_PKEY **out);

/* Seals pk's private key (PKCS#8 DER) under master with aad "idpd-key:<kid>:<alg>".
 * *sealed is malloc'd (free()). The DER plaintext is wiped. */
int keys_pkey_seal(EVP_PKEY *pk, const uint8_t master[KEYS_MASTER_LEN], const char *kid,
                   const char *alg, uint8_t **sealed, size_t *sealed_len);

/* Reverses keys_pkey_seal(): KEYS_ECRYPTO when the record does not open under master with this
 * kid and alg, or the DER does not parse. */
int keys_pkey_unseal(const uint8_t *sealed, size_t sealed_len,
                     const uint8_t master[KEYS_MASTER_LEN], const char *kid, const char *alg,
                     EVP_PKEY **out);

/* ---- the ring (keys/ring.c) ---- */

/* An ECDSA curve's group order n and n/2 (keys/jwt.c): a signature is accepted only with
 * s <= n/2 (low-S), so each token has one encoding. */
struct keys_ec_curve {
    BIGNUM *order, *half_order;
};

struct ring_key {
    char kid[KEYS_KID_MAX];
    enum keys_alg alg;
    int state; /* enum store_key_state */
    int64_t created_at, activated_at, retire_after;
    EVP_PKEY *pkey; /* parsed once; shared read-only by every thread */
    /* Initialised once; each call copies one (0.2 us) instead of running EVP_DigestSignInit /
     * EVP_DigestVerifyInit (2.5 us, a provider fetch and key export each time). Only read. */
    EVP_MD_CTX *sign_tpl, *verify_tpl;
    /* ECDSA algs (ES256): the curve's order n and n/2, computed once per process and shared by
     * every key of that curve (never freed); NULL for RS256 and EdDSA. */
    const struct keys_ec_curve *ec;
};

/* Sets up k's sign and verify templates from k->pkey (keys/jwt.c). */
int keys_ring_key_prepare(struct ring_key *k);
/* Frees what k owns (pkey, templates) and NULLs it. */
void keys_ring_key_clear(struct ring_key *k);

/* An immutable snapshot of the stored keys. Readers hold a reference (refs, under
 * keys.mutex) while they use it; the last release frees it. */
struct ring {
    unsigned refs;
    uint64_t epoch;     /* keys_epoch meta counter read with the keys */
    int64_t expires_at; /* earliest retire_after of its retired keys (0 = none): from then on
                           the JWKS lists a key too many, and keys_refresh() reloads */
    size_t nkeys;
    struct ring_key *keys; /* newest first (keys_list order) */
    const struct ring_key *active;
    char *jwks;
    size_t jwks_len;
};

struct keys {
    struct store *st;
    uint8_t master[KEYS_MASTER_LEN];
    enum keys_alg alg; /* for new keys */
    int64_t token_ttl;
    pthread_mutex_t mutex; /* guards ring and every ring's refs */
    struct ring *ring;
};

struct ring *keys_ring_acquire(struct keys *kr);
void keys_ring_release(struct keys *kr, struct ring *r);
/* The key of r named kid, or NULL. */
const struct ring_key *keys_ring_find(const struct ring *r, const char *kid);

/* Retired keys stay verifiable this long past token_ttl, for clock skew between the signer and
 * the verifiers. */
#define KEYS_RETIRE_LEEWAY 60

#endif
