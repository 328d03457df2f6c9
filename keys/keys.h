/* keys — idpd's signing keys: the master key, generation, encryption at rest, rotation states,
 * JWT (JWS compact) signing and verification with OpenSSL EVP, and the pre-rendered JWKS.
 *
 * This header is the module's whole API. It uses storage/ (where the sealed keys live) and
 * crypto/ (AES-256-GCM, base64url, SHA-256); no OpenSSL type crosses it.
 *
 * Why not libjwt: Debian 12's libjwt 1.10.2 re-parses the PEM on every call (~20x slower), always
 * writes typ "JWT" (RFC 9068 needs "at+jwt"), trusts the token's own alg header and decodes with
 * alloca(). Here every key is parsed once, carries its own alg, and a token's alg header must
 * equal the alg of the key its kid names; "none" and HMAC algs are never accepted.
 *
 * A struct keys is a ring of parsed keys: one active key that signs, one next key that is already
 * published in the JWKS, and retired keys that still verify until every token they signed has
 * expired. All functions are thread-safe; signing and verification take no lock beyond a short
 * reference on the current ring. Errors: enum keys_err, 0 = KEYS_OK. */
#ifndef IDPD_KEYS_H
#define IDPD_KEYS_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_txn;

enum keys_err {
    KEYS_OK = 0,
    KEYS_EINVAL, /* bad argument or configuration (unknown alg) */
    KEYS_ENOMEM,
    KEYS_ESTORE,   /* storage failed */
    KEYS_ECRYPTO,  /* OpenSSL failed, or a sealed key does not open under this master key */
    KEYS_EMASTER,  /* master key missing, malformed, or its file is readable by others */
    KEYS_EFORMAT,  /* not a compact JWS, bad base64url or JSON, token too long */
    KEYS_EALG,     /* alg missing, "none", HMAC, or not the alg of the key named by kid */
    KEYS_EKID,     /* kid missing or not in the ring */
    KEYS_ETYP,     /* typ header is not the expected one */
    KEYS_ESIG,     /* signature does not verify */
    KEYS_ETOOSOON, /* rotation refused: the next key has not been published long enough */
};

const char *keys_strerror(int rc);

#define KEYS_MASTER_LEN 32
#define KEYS_KID_MAX 64
#define KEYS_JWT_MAX 8192 /* longest token keys_jwt_verify() looks at */

/* Loads the 32-byte master key that seals private keys at rest. When env_value is non-NULL and
 * non-empty it is the key, as 43 base64url characters or 64 hex digits. Otherwise the key is read
 * from DATA_DIR/master.key (base64url text), which is created with mode 0600 when absent; a file
 * that group or others may read is refused (KEYS_EMASTER), as ssh refuses such private keys. */
int keys_master_load(const char *data_dir, const char *env_value, uint8_t out[KEYS_MASTER_LEN]);

struct keys_options {
    const char *alg;   /* alg for new keys: "ES256" (default when NULL), "RS256", "EdDSA" */
    int64_t token_ttl; /* longest lifetime of a token a key signs; a retired key stays in
                          the JWKS and verifies for this long after it stopped signing */
};

struct keys;

/* Opens the ring stored in st: decrypts and parses every key once and renders the JWKS. When the
 * store holds no active or no next key, generates them (in one write transaction that first
 * re-checks, so a CLI and a server starting together make one set). The master key is copied.
 * KEYS_ECRYPTO when a stored key does not open under master. Free with keys_close(). */
int keys_open(struct store *st, const uint8_t master[KEYS_MASTER_LEN],
              const struct keys_options *opts, struct keys **out);
void keys_close(struct keys *kr);

/* Rotates in one write transaction: the next key becomes active, the active key is retired (it
 * verifies and stays published until now + token_ttl), a new next key is made, and retired keys
 * past their time are deleted. Bumps the ring epoch so other processes reload. Promotes the next
 * key however recently it was published: verifiers holding an older JWKS may not know it yet,
 * so servers use keys_rotate_with() and a min_published; this is for tools and tests. */
int keys_rotate(struct keys *kr, int64_t now);

/* keys_rotate() with two additions.
 * min_published > 0: the next key's created_at is the moment it entered the JWKS, and it is made
 * active only when it has been published for min_published seconds: now - created_at >
 * min_published (created_at and now are whole seconds, so this is at least min_published real
 * seconds). Otherwise KEYS_ETOOSOON, nothing changes (but a missing next key is created, to be
 * published from now), and *ready_at (may be NULL) is the first second the rotation can happen.
 * min_published <= 0 rotates whatever the next key's age (a forced rotation).
 * in_txn (may be NULL) runs as in_txn(txn, active_kid, arg) inside the rotation's write
 * transaction, after the new active key is in place, so what the caller records about the
 * rotation (its audit event) commits with it or not at all. in_txn returns 0 or a STORE_* error;
 * any error aborts the rotation (KEYS_ESTORE). in_txn may run more than once (storage re-runs a
 * transaction after growing its map); it does not run for a refused rotation. */
int keys_rotate_with(struct keys *kr, int64_t now, int64_t min_published, int64_t *ready_at,
                     int (*in_txn)(struct store_txn *txn, const char *active_kid, void *arg),
                     void *arg);

/* Reloads the ring when another process (idpd keys rotate) changed it; cheap when nothing did.
 * *changed (may be NULL) is set to 1 when a new ring was loaded. KEYS_ESTORE when the store
 * cannot be read (its database down): the ring in memory stays and goes on signing. */
int keys_refresh(struct keys *kr, int *changed);

/* Signs claims (a JSON object text) as a compact JWS with the active key:
 * header {"alg":<key alg>,"kid":<kid>,"typ":<typ>}. *out is malloc'd, NUL-terminated, and the
 * caller frees it with free(). */
int keys_jwt_sign(struct keys *kr, const char *typ, const char *claims, size_t claims_len,
                  char **out);

/* Verifies a compact JWS signed by a key of the ring. The token's alg must be the key's alg,
 * typ must equal expect_typ (compared ignoring case; "application/" + expect_typ also accepted),
 * "crit" is refused. Checks no claim: the caller parses the payload and checks exp, iss, etc.
 * On KEYS_OK *payload is the decoded payload, malloc'd and NUL-terminated (free()), *payload_len
 * its length, and kid (may be NULL, KEYS_KID_MAX bytes) the kid that verified. */
int keys_jwt_verify(struct keys *kr, const char *token, size_t len, const char *expect_typ,
                    char **payload, size_t *payload_len, char *kid);

/* ---- tokens of other issuers (foreign.c) ---- */

#define KEYS_FOREIGN_JWT_MAX 16384   /* longest foreign token looked at */
#define KEYS_FOREIGN_JWKS_MAX 262144 /* longest JWK Set document parsed */
#define KEYS_FOREIGN_KEYS_MAX 64     /* keys of one set */

/* The public keys of another issuer's JWK Set. */
struct keys_jwks;
/* Parses a JWK Set ({"keys":[…]}, no duplicate members). Keys idpd cannot use are skipped: an
 * unknown kty, "use" other than "sig", any private member, RSA under 2048 bits, EC other than
 * P-256, an EC point off the curve, an "alg" that does not fit the key type. KEYS_EFORMAT when
 * it is no JWK Set or too large; a set may hold no usable key (keys_jwks_count()). */
int keys_jwks_parse(const char *text, size_t len, struct keys_jwks **out);
void keys_jwks_free(struct keys_jwks *s);
size_t keys_jwks_count(const struct keys_jwks *s);
/* Verifies a compact JWS of another issuer with set s. algs is the allow-list ("RS256,ES256";
 * RS256, PS256, ES256 and EdDSA are known; KEYS_EINVAL for another name). The token's alg must be
 * in it and be the alg of the key's type (RSA: RS256 or PS256, EC P-256: ES256, Ed25519: EdDSA)
 * and the JWK's own alg when it has one; the key is the one kid names, or without kid the only
 * key of the set that fits (KEYS_EKID when there is none, or when two fit); "crit" is refused;
 * typ must equal expect_typ (ignoring case) unless that is NULL. KEYS_EKID when no key has the
 * token's kid: the caller may fetch the set again. Checks no claim: on KEYS_OK *payload is the
 * decoded payload (malloc'd, NUL-terminated, no NUL inside; free()), which the caller parses with
 * duplicates refused, and kid (may be NULL) the kid that verified ("" for none). */
int keys_foreign_verify(const struct keys_jwks *s, const char *token, size_t len, const char *algs,
                        const char *expect_typ, char **payload, size_t *payload_len,
                        char kid[KEYS_KID_MAX]);

/* A copy of the pre-rendered JWKS document ({"keys":[…]}: active, next and retired-but-unexpired
 * public keys; never a private part). *out is malloc'd (free()). */
int keys_jwks_dup(struct keys *kr, char **out, size_t *len);

/* The alg of the active key ("ES256", …); a static string. */
const char *keys_active_alg(struct keys *kr);

struct keys_info {
    char kid[KEYS_KID_MAX];
    char alg[16];
    const char *state; /* "next", "active" or "retired"; static */
    int64_t created_at;
    int64_t activated_at; /* 0 = never */
    int64_t retire_after; /* 0 = not retired */
};

/* Metadata of every key in the ring, newest first. *items is malloc'd (free()). */
int keys_list(struct keys *kr, struct keys_info **items, size_t *n);

#endif
