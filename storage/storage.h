/* storage — idpd's records, in LMDB (embedded, the default) or in PostgreSQL (several nodes).
 *
 * This header is the module's whole API; it depends on no other idpd module and exposes no type
 * of either backend. Records are plain value structs; every getter copies the record into the
 * caller's struct, so nothing returned here points into the backend's memory.
 *
 * Transactions are callbacks: store_read() and store_write() run a function inside one
 * transaction. store_write() commits only when the function returns 0, so every state change is
 * all or nothing, and it runs the function again from the start when the backend must retry the
 * transaction (LMDB's map full: the map grows; PostgreSQL's serialisation failure or deadlock).
 * A callback must therefore have no effects outside the transaction, and must pass any STORE_*
 * error it receives up unchanged. A transaction never outlives its callback and never crosses
 * threads.
 *
 * Beneath the record files (users.c, sessions.c, …) lies one ordered key-value interface
 * (kv.h) with two implementations, lmdb.c and postgres.c; records and indexes are written once.
 *
 * Errors: enum store_err, 0 = STORE_OK. Functions are safe to call from several threads; LMDB
 * lets several processes (the server and the CLI) share one data folder, PostgreSQL lets several
 * servers on several machines share one database. */
#ifndef IDPD_STORAGE_H
#define IDPD_STORAGE_H

#include <stddef.h>
#include <stdint.h>

enum store_err {
    STORE_OK = 0,
    STORE_NOTFOUND, /* no such record */
    STORE_EXISTS,   /* insert of an id or unique key that is taken */
    STORE_EINVAL,   /* bad argument: NULL, string too long, too many roles */
    STORE_ENOMEM,
    STORE_EIO,      /* LMDB or the file system failed; details are logged once by storage */
    STORE_ECORRUPT, /* a stored record cannot be decoded */
    STORE_EVERSION, /* the data folder was written by a newer schema than this binary knows */
    /* The database cannot be reached (PostgreSQL down, restarting, or slower than the store's
     * timeout); nothing was written. Worth a retry later: the server answers 503. */
    STORE_EUNAVAILABLE,
    STORE_ERERUN, /* internal: store_write() runs the callback again; never returned */
};

const char *store_strerror(int rc);

/* Schema version this binary writes; kept in the meta database. Upgrades are forward-only. */
#define STORE_SCHEMA_VERSION 8

#define STORE_ID_MAX 48     /* ids: "sa_01h…", incl. NUL (= CRYPTO_ID_MAX) */
#define STORE_NAME_MAX 257  /* names: at most 256 bytes of UTF-8, incl. NUL */
#define STORE_TEXT_MAX 1025 /* descriptions: at most 1024 bytes, incl. NUL */
#define STORE_ROLE_MAX 129  /* one role string, at most 128 bytes, incl. NUL */
#define STORE_ROLES_MAX 100 /* role grants per principal */
#define STORE_PHC_MAX 128   /* Argon2id PHC string, incl. NUL (= CRYPTO_PHC_MAX) */
#define STORE_KID_MAX 64    /* RFC 7638 thumbprint in base64url is 43 chars */

struct store;     /* one open environment; opaque */
struct store_txn; /* one transaction, valid only inside its callback; opaque */

struct store_options {
    /* LMDB */
    size_t map_size;     /* initial map size in bytes; 0 = 64 MiB */
    size_t map_size_max; /* growth stops here (STORE_EIO after); 0 = 64 GiB */
    /* PostgreSQL */
    unsigned connections; /* pool size: the threads that may hold a transaction at once; 0 = 8 */
    unsigned timeout_ms;  /* the longest a call waits for the database; 0 = 5000 */
};

/* Opens the store at `where` and writes or checks its schema version, creating what is absent:
 *   - a directory, or "lmdb:" and a directory: the LMDB environment in that existing directory;
 *   - "postgres://…" or "postgresql://…": a libpq connection URI (the password, in the URI or
 *     PGPASSFILE, is never logged); idpd's tables live in the schema "idpd" of that database.
 * opts may be NULL for the defaults. STORE_EVERSION when the data is newer than this binary;
 * STORE_EIO when the directory is missing or not writable; STORE_EUNAVAILABLE when PostgreSQL
 * cannot be reached within the timeout. The caller closes *out with store_close(). */
int store_open(const char *where, const struct store_options *opts, struct store **out);
void store_close(struct store *st);
/* "lmdb" or "postgres". */
const char *store_backend(const struct store *st);
/* STORE_OK while the store answers, STORE_EUNAVAILABLE while its database cannot be reached. */
int store_ready(struct store *st);

/* Runs fn(txn, arg) in a read-only transaction (a consistent snapshot) and returns what fn
 * returns. Inside a callback, store_read() and store_write() of the same store answer
 * STORE_EINVAL (the transaction would wait for itself); another store's may nest. */
int store_read(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg);

/* Records a transaction names to read them ahead. */
enum store_record {
    STORE_REC_DENYLIST, /* by jti */
    STORE_REC_SERVICE_ACCOUNT,
    STORE_REC_USER,
    STORE_REC_SESSION,
};
struct store_record_ref {
    enum store_record kind;
    const char *id; /* NULL or "": skipped */
};
/* A hint for a transaction about to read these records (token introspection reads three or
 * four, none depending on another): PostgreSQL reads them in one round trip, and the
 * store_*_get() calls that follow answer from memory. LMDB reads from memory anyway and ignores
 * it. Errors are left to the reads that follow; at most 8 records are read ahead. */
void store_read_ahead(struct store_txn *txn, const struct store_record_ref *refs, size_t n);

/* Runs fn(txn, arg) in one write transaction. fn returns 0 to commit; any other value aborts
 * the transaction and is returned unchanged. fn runs again from the start when the backend
 * retries the transaction, so fn must be re-runnable. On PostgreSQL the transaction runs at
 * REPEATABLE READ, and every store_* function that decides on what it read also writes what it
 * decided on (storage/kv.h: kv_update, kv_touch), so concurrent writers see the effects of one
 * running after the other; a callback that combines calls keeps that only if each decision it
 * makes rests on a record it writes. */
int store_write(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg);
/* On LMDB, concurrent store_write() calls share one durable commit (group commit): each callback
 * runs in its own nested transaction, so it still commits or aborts alone, possibly on another
 * thread than its caller's; each call returns after the commit that holds its change. */

/* ---- failed logins (the brute-force defence) ----
 * Keyed by an opaque key the server derives from the login name and the client address (storage
 * sees neither), so known and unknown accounts are counted alike. */
#define STORE_LOGIN_KEY_MAX 128 /* bytes, excluding NUL */
struct store_login_failures {
    uint64_t count;          /* failures since the last success */
    int64_t last_failure_at; /* unix milliseconds */
    int64_t locked_until;    /* unix milliseconds; no attempt is checked before; 0 = not locked */
    int64_t expires_at;      /* unix seconds; the sweep forgets the record after this */
};
/* STORE_NOTFOUND (and *out zeroed) when the key has no record. */
int store_login_failures_get(struct store_txn *txn, const char *key,
                             struct store_login_failures *out);
/* Creates or replaces the record. */
int store_login_failures_put(struct store_txn *txn, const char *key,
                             const struct store_login_failures *f);
/* Forgets the record (after a successful login); STORE_OK when there was none. */
int store_login_failures_delete(struct store_txn *txn, const char *key);

/* Writes a compacted copy of the whole environment to a new file at path (mode 0600), while
 * other threads and processes go on reading and writing: the copy is one consistent snapshot.
 * The file is a complete data.mdb: put it into an empty folder to restore. STORE_EXISTS when
 * path exists (nothing is overwritten); on any failure the partial file is removed. Signing keys
 * in it stay sealed: a restore also needs the master key, which is kept apart on purpose.
 * STORE_EINVAL on PostgreSQL, whose tool for this is pg_dump (or store_copy() into LMDB). */
int store_backup(struct store *st, const char *path);

/* Copies every entry of `from` into `to`: each record, index and audit event, and the meta
 * counters (the key ring's epoch, the schema version). The stores may have either backend.
 * `from` is read in one read transaction, so the copy is one consistent snapshot however long
 * it takes, while other threads and processes go on writing to `from`; `to` is written in write
 * transactions of at most 1000 entries each, so neither a large LMDB map nor a long
 * PostgreSQL transaction is needed.
 *
 * `to` must be empty. store_open() wrote its schema version into meta, and nothing else:
 * the first write transaction checks that every other table is empty and that meta holds only
 * that version, equal to from's (both are STORE_SCHEMA_VERSION, since this binary opened both),
 * and the copy then overwrites it with from's meta entries. STORE_EXISTS, and nothing written,
 * when `to` holds anything else, such as a store already copied or served from; also when
 * `from` and `to` are one store (the same PostgreSQL database, say) that holds any record.
 * Two handles on one LMDB folder must not exist in one process at all (LMDB's rule), so the
 * caller makes sure the folders differ. Nothing else may write to `to` while the copy runs.
 *
 * On any other error (a storage error of either store, logged as usual) the copy stops and
 * `to` keeps the transactions committed so far: empty it before the next try. *entries (may be
 * NULL) receives how many entries were written and committed, meta included. Signing keys stay
 * sealed with the master key: a server on `to` needs the same master key as one on `from`.
 * STORE_EINVAL when either store is NULL or both are the same handle, or when called inside a
 * callback of either store. */
int store_copy(struct store *from, struct store *to, uint64_t *entries);

/* The generation of the data: the id of the last committed write transaction, by any process
 * (LMDB's meta page, read under the shared map lock; no system call), or 0 on failure. Data
 * read in a transaction whose store_txn_generation() equals the current store_generation() is
 * still exactly what is stored, which lets the server cache a decoded record and know for
 * certain when it went stale. */
uint64_t store_generation(struct store *st);
uint64_t store_txn_generation(const struct store_txn *txn);
/* The generation of one kind of record alone, for caches that hold only those: it changes with
 * every commit, by any node or process, that may have changed such a record, and may change
 * with others too (on LMDB it is store_generation()). On PostgreSQL a commit of another node
 * reaches this node by notification (LISTEN/NOTIFY), within milliseconds; while notifications
 * may have been lost (the listener reconnects, or cannot reach the database) every generation
 * moves on, so no cache outlives that. */
enum store_scope {
    STORE_SCOPE_ALL,     /* every record: store_generation() */
    STORE_SCOPE_CLIENTS, /* service accounts with their secrets, applications */
};
uint64_t store_scope_generation(struct store *st, enum store_scope scope);
uint64_t store_txn_scope_generation(const struct store_txn *txn, enum store_scope scope);

/* How many store_write() calls this process made, and how many LMDB transactions served them. */
void store_write_stats(struct store *st, uint64_t *writes, uint64_t *batches);

/* Current map size in bytes (for tests and /readyz). */
size_t store_map_size(struct store *st);

/* Removes denylist entries whose expiry is <= now (unix seconds) and sessions whose idle or
 * absolute expiry is <= now (with their refresh hashes), and the failed-login records,
 * authorization and device codes, email tokens, mail budgets and pending registrations whose
 * expiry is <= now, in one write transaction. *removed (may be NULL) receives how many records
 * went. */
int store_sweep(struct store *st, int64_t now, size_t *removed);

/* ---- meta: small named counters (schema version, key-ring epoch) ---- */

int store_meta_get(struct store_txn *txn, const char *name, uint64_t *value); /* STORE_NOTFOUND */
int store_meta_put(struct store_txn *txn, const char *name, uint64_t value);

/* ---- service accounts ---- */

#define STORE_ACL_MAX 64  /* access-list entries per service account */
#define STORE_CIDR_MAX 50 /* "ffff:…/128" as text, incl. NUL; the server checks the syntax */

/* cidr: 1..STORE_CIDR_MAX-1 bytes of printable ASCII other than space; comment: UTF-8, may be
 * empty. store_sa_insert() and store_sa_update() answer STORE_EINVAL otherwise. */
struct store_acl_entry {
    char cidr[STORE_CIDR_MAX];
    char comment[STORE_NAME_MAX];
};

struct store_service_account {
    char id[STORE_ID_MAX]; /* "sa_…", also the OAuth client_id */
    char name[STORE_NAME_MAX];
    char description[STORE_TEXT_MAX];
    int disabled;       /* 0 or 1 */
    int64_t created_at; /* unix seconds */
    int64_t updated_at;
    size_t nroles;                 /* direct role grants, at most STORE_ROLES_MAX */
    char (*roles)[STORE_ROLE_MAX]; /* owned; freed by store_service_account_clear() */
    size_t nacl;                   /* access list; empty = any address */
    struct store_acl_entry *acl;   /* owned; at most STORE_ACL_MAX */
};

/* Frees what a getter put into sa and zeroes it. Safe on a zeroed struct. */
void store_service_account_clear(struct store_service_account *sa);

/* Stores a new account (roles copied). STORE_EXISTS when the id is taken. */
int store_sa_insert(struct store_txn *txn, const struct store_service_account *sa);
/* Replaces an existing account. STORE_NOTFOUND when absent. */
int store_sa_update(struct store_txn *txn, const struct store_service_account *sa);
/* Copies the account into *out (clear it with store_service_account_clear()). */
int store_sa_get(struct store_txn *txn, const char *id, struct store_service_account *out);
/* Deletes the account, its secrets and federated credentials. STORE_NOTFOUND when absent. */
int store_sa_delete(struct store_txn *txn, const char *id);
/* Up to limit accounts with id > after (after may be NULL or ""), in id (= creation) order.
 * *items is an array of *n accounts the caller frees with store_sa_list_free(). */
int store_sa_list(struct store_txn *txn, const char *after, size_t limit,
                  struct store_service_account **items, size_t *n);
void store_sa_list_free(struct store_service_account *items, size_t n);

/* ---- service-account secrets ---- */

#define STORE_SECRETS_MAX 16 /* secrets one account may hold, live or expired */

struct store_secret {
    char id[STORE_ID_MAX];    /* "sec_…" */
    char sa_id[STORE_ID_MAX]; /* owning account */
    char phc[STORE_PHC_MAX];  /* Argon2id of the secret; the secret itself is never stored */
    char hint[9];             /* 8 hex chars of SHA-256(secret): picks the record to verify */
    char masked[24];          /* "idpsec_…abcd", shown in listings */
    int64_t created_at;
    int64_t expires_at;
    int64_t last_used_at; /* 0 = never */
};

/* STORE_EXISTS when the id is taken; STORE_NOTFOUND when the account does not exist;
 * STORE_EINVAL when the account already holds STORE_SECRETS_MAX secrets. */
int store_secret_insert(struct store_txn *txn, const struct store_secret *sec);
/* Copies the account's secrets, oldest first, into out[0..cap); *n receives how many. */
int store_secret_list(struct store_txn *txn, const char *sa_id, struct store_secret *out,
                      size_t cap, size_t *n);
/* STORE_NOTFOUND when the account holds no such secret. */
int store_secret_delete(struct store_txn *txn, const char *sa_id, const char *secret_id);
/* Rewrites last_used_at of one secret. STORE_NOTFOUND when absent. */
int store_secret_touch(struct store_txn *txn, const char *sa_id, const char *secret_id,
                       int64_t when);

/* ---- access-token denylist (revoked jti until the token expires) ---- */

/* Adds (or keeps) jti, to be forgotten after exp. jti is at most 64 bytes. */
int store_deny_add(struct store_txn *txn, const char *jti, int64_t exp);
/* *denied = 1 when jti is on the list. */
int store_deny_has(struct store_txn *txn, const char *jti, int *denied);
/* Adds jti until exp unless it is on the list: STORE_EXISTS (nothing written) when it is. The
 * single use of a one-time id, such as another issuer's assertion, whose server-made key shares
 * the list with revoked tokens: both are ids refused until they expire. */
int store_deny_claim(struct store_txn *txn, const char *jti, int64_t exp);

/* ---- signing keys (keys/ owns their meaning; storage keeps the sealed bytes) ---- */

enum store_key_state { STORE_KEY_NEXT = 0, STORE_KEY_ACTIVE = 1, STORE_KEY_RETIRED = 2 };

struct store_signing_key {
    char kid[STORE_KID_MAX];
    char alg[16]; /* "ES256", "RS256", "EdDSA" */
    int state;    /* enum store_key_state */
    int64_t created_at;
    int64_t activated_at; /* 0 until active */
    int64_t retire_after; /* 0 unless retired: drop from the JWKS after this time */
    uint8_t *sealed;      /* AES-256-GCM sealed private key (PKCS#8 DER); owned */
    size_t sealed_len;
};

/* Inserts or replaces the key with this kid. */
int store_key_put(struct store_txn *txn, const struct store_signing_key *key);
/* All stored keys, oldest first; free with store_key_list_free(). */
int store_key_list(struct store_txn *txn, struct store_signing_key **items, size_t *n);
void store_key_list_free(struct store_signing_key *items, size_t n);
int store_key_delete(struct store_txn *txn, const char *kid);

/* ---- applications: OAuth clients of SDKs and apps ---- */

#define STORE_GRANTS_MAX 8 /* grant types one application may use */
#define STORE_GRANT_MAX 64 /* "urn:idpd:grant-type:anonymous", incl. NUL */
#define STORE_URIS_MAX 16  /* redirect URIs, allowed origins */
#define STORE_URI_MAX 1025 /* one URI, at most 1024 bytes, incl. NUL */
/* One allowed origin, at most 300 bytes, incl. NUL: scheme "://" host [":" port] with a DNS name
 * of at most 253 bytes fits, and the origin index keeps it in one LMDB key. */
#define STORE_ORIGIN_MAX 301

enum store_app_type { STORE_APP_PUBLIC = 0, STORE_APP_CONFIDENTIAL = 1 };

#define STORE_APP_SERVICES_ID_MAX 65 /* "myapp-abcde", at most 64 bytes, incl. NUL */
#define STORE_APP_IDPS_MAX 8         /* identity providers one application accepts */
#define STORE_IDP_NAME_MAX 65        /* an identity provider's name, at most 64 bytes, incl. NUL */

struct store_application {
    char id[STORE_ID_MAX]; /* "app_…", also the OAuth client_id */
    char name[STORE_NAME_MAX];
    int type;                /* enum store_app_type */
    char phc[STORE_PHC_MAX]; /* confidential: Argon2id of its secret; "" when public */
    char hint[9];            /* confidential: SHA-256 hint of its secret (see secrets) */
    size_t ngrants;
    char grants[STORE_GRANTS_MAX][STORE_GRANT_MAX];
    size_t nredirect_uris;
    char redirect_uris[STORE_URIS_MAX][STORE_URI_MAX];
    size_t norigins;
    char origins[STORE_URIS_MAX][STORE_ORIGIN_MAX];
    int first_party; /* the platform's own: its users are not asked for consent */
    /* The id its Atlas App Services SDKs call it by (the App Services client API), unique among
     * applications; "" for none. The server checks its syntax. */
    char app_services_id[STORE_APP_SERVICES_ID_MAX];
    size_t npost_logout_uris;
    char post_logout_uris[STORE_URIS_MAX][STORE_URI_MAX]; /* where logout may send the browser */
    /* The identity providers (by name) its users may sign in with, beside its grants. */
    size_t nidps;
    char idps[STORE_APP_IDPS_MAX][STORE_IDP_NAME_MAX];
    int64_t created_at;
    int64_t updated_at;
};

/* STORE_EXISTS when the id or the app_services_id is taken. STORE_EINVAL when a public
 * application has a phc or hint, a confidential one has no phc, or a grant type, redirect URI or
 * origin is empty. */
int store_app_insert(struct store_txn *txn, const struct store_application *app);
/* STORE_NOTFOUND when absent; STORE_EXISTS when the app_services_id is another's. */
int store_app_update(struct store_txn *txn, const struct store_application *app);
int store_app_get(struct store_txn *txn, const char *id, struct store_application *out);
/* The application's name alone, into the caller's buffer: for callers that show it and need
 * nothing else, so that they hold no struct store_application (tens of KB). Answers as
 * store_app_get() does, STORE_ECORRUPT too (the record is still decoded and checked whole, in a
 * copy it allocates and frees itself), and STORE_ENOMEM; name is "" on any error. */
int store_app_name_get(struct store_txn *txn, const char *id, char name[STORE_NAME_MAX]);
/* Deletes the application. Its sessions stay until they expire but can no longer refresh,
 * since refreshing checks the application. */
int store_app_delete(struct store_txn *txn, const char *id);
/* Like store_sa_list(); free with free(). */
int store_app_list(struct store_txn *txn, const char *after, size_t limit,
                   struct store_application **items, size_t *n);
/* The id of the application whose app_services_id is services_id. STORE_NOTFOUND when none. */
int store_app_find_services_id(struct store_txn *txn, const char *services_id,
                               char app_id[STORE_ID_MAX]);
/* Whether a browser may call from origin (compared with ASCII letters lower-cased): with app_id,
 * when that application lists it in its allowed origins; with app_id NULL, when any application
 * does. STORE_OK when allowed, STORE_NOTFOUND when not (also for a string that cannot be an
 * origin). Reads an index kept in the transactions that write applications. */
int store_origin_allowed(struct store_txn *txn, const char *origin, const char *app_id);

/* ---- users ---- */

#define STORE_EMAIL_MAX 321      /* at most 320 bytes, incl. NUL */
#define STORE_METADATA_MAX 16384 /* custom metadata: JSON object text, at most this many bytes */

enum store_user_status { STORE_USER_ACTIVE = 0, STORE_USER_DISABLED = 1 };

struct store_user {
    char id[STORE_ID_MAX];       /* "usr_…" */
    char email[STORE_EMAIL_MAX]; /* as the user typed it; "" for an anonymous user */
    /* What email is unique under, as server/ computes it (NFKC_Casefold); set it with email.
     * "" = email with ASCII letters lower-cased, as records made before it was kept. */
    char email_key[STORE_EMAIL_MAX];
    char name[STORE_NAME_MAX];
    int status;    /* enum store_user_status */
    int anonymous; /* 1 while the user's only identities are anon-user */
    /* 1 once the user proved they receive mail at email (a verification link); 0 for records
     * made before it was kept. Set and kept by the caller like the other fields: storage does
     * not reset it when email changes. */
    int email_verified;
    int64_t created_at;
    int64_t updated_at;
    char *metadata;                /* JSON object text, owned; NULL means {} */
    size_t nroles;                 /* direct role grants */
    char (*roles)[STORE_ROLE_MAX]; /* owned */
};

/* Frees what a getter put into u and zeroes it. Safe on a zeroed struct. */
void store_user_clear(struct store_user *u);

/* Stores a new user and its email index entry (under email_key). STORE_EXISTS when the id or
 * the email's key is taken. */
int store_user_insert(struct store_txn *txn, const struct store_user *u);
/* Replaces a user and moves its email index entry when the email changed. STORE_NOTFOUND when
 * absent; STORE_EXISTS when the new email belongs to another user. */
int store_user_update(struct store_txn *txn, const struct store_user *u);
/* Copies the user into *out (clear it with store_user_clear()); out->metadata is always set, as
 * compact JSON ("{}" when empty). */
int store_user_get(struct store_txn *txn, const char *id, struct store_user *out);
/* The id of the user whose email has the key email_key (ASCII letters are lower-cased first, so
 * an ASCII email may be given as typed). STORE_NOTFOUND when none. */
int store_user_find_email(struct store_txn *txn, const char *email, char user_id[STORE_ID_MAX]);
/* Deletes the user with its email index entry, identities, sessions, team memberships, mailed
 * links and API keys (all in txn). */
int store_user_delete(struct store_txn *txn, const char *id);
/* Like store_sa_list(); free with store_user_list_free(). */
int store_user_list(struct store_txn *txn, const char *after, size_t limit,
                    struct store_user **items, size_t *n);
void store_user_list_free(struct store_user *items, size_t n);

struct store_user_filter {
    const char *email_prefix; /* NULL or "" = any; compared ignoring ASCII case */
    int status;               /* -1 = any, else enum store_user_status */
};

/* Up to limit users with id > after that match filter (NULL = every user), in id order. At most
 * scan_max users are looked at (0 = no bound); *scanned_to (may be NULL) receives the id of the
 * last user looked at ("" when none), so a caller can page on through a sparse match without
 * rescanning. STORE_EINVAL for a status other than -1 and the enum, or a prefix longer than an
 * email. Free with store_user_list_free(). */
int store_user_search(struct store_txn *txn, const struct store_user_filter *filter,
                      const char *after, size_t limit, size_t scan_max, struct store_user **items,
                      size_t *n, char scanned_to[STORE_ID_MAX]);

/* ---- identities: how a user signs in ---- */

#define STORE_IDENTITIES_MAX 16 /* per user */
#define STORE_PROVIDER_MAX 80   /* "custom-jwt:" and a provider name of 64 bytes, incl. NUL */

struct store_identity {
    char id[STORE_ID_MAX]; /* "idn_…" */
    char user_id[STORE_ID_MAX];
    char provider[STORE_PROVIDER_MAX]; /* "local-userpass", "anon-user", "oidc:corp" */
    char provider_id[STORE_EMAIL_MAX]; /* lower-cased email, or a random id (anon-user) */
    char phc[STORE_PHC_MAX];           /* local-userpass: Argon2id of the password */
    int64_t created_at;
};

/* Stores an identity with its indexes. STORE_NOTFOUND when the user does not exist;
 * STORE_EXISTS when (provider, provider_id) or the id is taken; STORE_EINVAL when the user holds
 * STORE_IDENTITIES_MAX identities. */
int store_identity_insert(struct store_txn *txn, const struct store_identity *idn);
/* Replaces the identity's phc (password change, re-hash); only idn's user_id, id and phc are
 * read, the other fields stay as stored. STORE_NOTFOUND when the user holds no such identity. */
int store_identity_update(struct store_txn *txn, const struct store_identity *idn);
/* The identity of (provider, provider_id), matched exactly (callers lower-case emails).
 * STORE_NOTFOUND when none. */
int store_identity_find(struct store_txn *txn, const char *provider, const char *provider_id,
                        struct store_identity *out);
/* The user's identities, oldest first, into out[0..cap); *n receives how many. */
int store_identity_list(struct store_txn *txn, const char *user_id, struct store_identity *out,
                        size_t cap, size_t *n);
/* STORE_NOTFOUND when the user holds no such identity. */
int store_identity_delete(struct store_txn *txn, const char *user_id, const char *id);

/* ---- sessions and their refresh tokens ---- */

#define STORE_IP_MAX 46  /* textual IPv6, incl. NUL */
#define STORE_UA_MAX 257 /* user agent, truncated by the caller to 256 bytes */
#define STORE_REFRESH_HASH_LEN 32
#define STORE_SCOPE_MAX 257    /* space-separated scope values, incl. NUL */
#define STORE_DEVICE_ID_MAX 25 /* 24 hex digits, incl. NUL */

struct store_session {
    char id[STORE_ID_MAX]; /* "ses_…", the sid claim */
    char user_id[STORE_ID_MAX];
    char client_id[STORE_ID_MAX]; /* the application that logged in */
    char amr[16];                 /* "pwd", "anon" */
    char scope[STORE_SCOPE_MAX];  /* granted at login; refreshes keep it */
    int64_t created_at;           /* = auth_time */
    int64_t last_used_at;
    int64_t idle_expires_at;     /* last refresh + idle lifetime */
    int64_t absolute_expires_at; /* created + absolute lifetime */
    char client_ip[STORE_IP_MAX];
    char user_agent[STORE_UA_MAX];
    uint8_t refresh_hash[STORE_REFRESH_HASH_LEN]; /* SHA-256 of the current refresh token */
    /* A browser session is the single sign-on of one browser: its "refresh hash" is the
     * SHA-256 of its cookie, and it issues no tokens itself. The sessions of applications that
     * logged in through it name it as parent and end with it. */
    int browser;
    char parent_id[STORE_ID_MAX]; /* "" for a session without one */
    /* A session of the App Services client API: the device it was opened for (24 lower-case
     * hex digits, the SDKs' ObjectId). Its refresh token does not rotate (store_session_touch);
     * "" for every other session. */
    char device_id[STORE_DEVICE_ID_MAX];
};

/* Stores a new session and indexes its refresh hash and its user. STORE_EXISTS when the id or
 * the hash is taken; STORE_NOTFOUND when the user does not exist. */
int store_session_insert(struct store_txn *txn, const struct store_session *s);
int store_session_get(struct store_txn *txn, const char *id, struct store_session *out);
/* The user's sessions, oldest first; free with free(). */
int store_session_list(struct store_txn *txn, const char *user_id, struct store_session **items,
                       size_t *n);
/* Rotation: new_hash becomes the session's refresh hash, the old one is kept as superseded (so
 * presenting it again is recognised as reuse) until the session ends; last_used_at = now and the
 * idle expiry are rewritten. STORE_NOTFOUND when the session is gone; STORE_EXISTS when new_hash
 * was already issued (to any session). */
int store_session_rotate(struct store_txn *txn, const char *id,
                         const uint8_t new_hash[STORE_REFRESH_HASH_LEN], int64_t now,
                         int64_t idle_expires_at);
/* A use of a session whose refresh token does not rotate: last_used_at = now and the idle
 * expiry are rewritten, the refresh hash stays. STORE_NOTFOUND when the session is gone. */
int store_session_touch(struct store_txn *txn, const char *id, int64_t now,
                        int64_t idle_expires_at);
/* Which session a refresh hash belongs to, and whether it was superseded. STORE_NOTFOUND when
 * it belongs to none (never issued, or its session ended). */
int store_session_find_refresh(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                               char session_id[STORE_ID_MAX], int *superseded);
/* Ends a session: the record, its refresh hashes (current and superseded) and index entries,
 * and, for a browser session, every session that names it as parent. STORE_NOTFOUND when
 * absent. */
int store_session_delete(struct store_txn *txn, const char *id);
/* The sessions of user_id whose parent is from take to as their parent (a browser session
 * replaced by a new login of the same user). STORE_EINVAL when to is not a browser session of
 * that user. */
int store_session_reparent(struct store_txn *txn, const char *user_id, const char *from,
                           const char *to);
/* Ends every session of the user, except keep (may be NULL). *n (may be NULL) = how many. */
int store_session_delete_user(struct store_txn *txn, const char *user_id, const char *keep,
                              size_t *n);

/* ---- authorization codes (RFC 6749 §4.1, with PKCE) ----
 * Kept by the SHA-256 of the code; the code itself is never stored. An expiry index lets the
 * sweep remove them; until then an exchanged code stays, so a replay is recognised. */

#define STORE_NONCE_MAX 257     /* OIDC nonce, at most 256 bytes, incl. NUL */
#define STORE_CHALLENGE_MAX 129 /* PKCE code_challenge (S256: 43 characters), incl. NUL */

struct store_auth_code {
    uint8_t hash[STORE_REFRESH_HASH_LEN]; /* SHA-256 of the code */
    char client_id[STORE_ID_MAX];
    char redirect_uri[STORE_URI_MAX];
    char user_id[STORE_ID_MAX];
    char browser_session[STORE_ID_MAX]; /* the browser session it was issued under */
    char scope[STORE_SCOPE_MAX];
    char nonce[STORE_NONCE_MAX];              /* "" when the request had none */
    char code_challenge[STORE_CHALLENGE_MAX]; /* S256 */
    int64_t auth_time;
    int64_t expires_at;
    char session_id[STORE_ID_MAX]; /* "" until exchanged; then the session of its tokens */
};

/* STORE_EXISTS when the hash is taken. */
int store_code_insert(struct store_txn *txn, const struct store_auth_code *code);
/* STORE_NOTFOUND when no code has that hash (never issued, or swept after expiry). */
int store_code_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                   struct store_auth_code *out);
/* Records the exchange: session_id is the session its tokens belong to. STORE_EXISTS when the
 * code was exchanged already; STORE_NOTFOUND when absent. */
int store_code_mark_used(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                         const char *session_id);

/* ---- device authorization (RFC 8628) ----
 * Kept by the SHA-256 of the device code, findable by the user code, swept after expiry. */

#define STORE_USER_CODE_MAX 17 /* the user code as stored (no dash), incl. NUL */

enum store_device_status { STORE_DEVICE_PENDING, STORE_DEVICE_APPROVED, STORE_DEVICE_DENIED };

struct store_device_code {
    uint8_t hash[STORE_REFRESH_HASH_LEN]; /* SHA-256 of the device code */
    char user_code[STORE_USER_CODE_MAX];
    char client_id[STORE_ID_MAX];
    char scope[STORE_SCOPE_MAX];
    int status;                 /* enum store_device_status */
    char user_id[STORE_ID_MAX]; /* approved or denied: by whom */
    int64_t auth_time;          /* approved: when that user signed in */
    int64_t expires_at;
    int64_t interval;          /* seconds the device must wait between polls (slow_down adds 5) */
    int64_t last_poll_ms;      /* unix milliseconds of the last poll, 0 before the first */
    uint64_t guesses_at_start; /* the server's count of wrong user codes when it began */
};

/* STORE_EXISTS when the hash or the user code is taken. */
int store_device_insert(struct store_txn *txn, const struct store_device_code *d);
/* By the hash of the device code / by the user code. STORE_NOTFOUND when none. */
int store_device_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                     struct store_device_code *out);
int store_device_find(struct store_txn *txn, const char *user_code, struct store_device_code *out);
/* Rewrites the record of d->hash (status, user, poll times); its user code and expiry stay.
 * STORE_NOTFOUND when absent. */
int store_device_update(struct store_txn *txn, const struct store_device_code *d);
/* Removes it (its tokens were issued). STORE_NOTFOUND when absent. */
int store_device_delete(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN]);

/* ---- audit events ---- */

#define STORE_EVENT_TYPE_MAX 64
#define STORE_DETAIL_MAX 257

struct store_audit_event {
    char id[STORE_ID_MAX];           /* "evt_…": time-sortable, so ids order events */
    int64_t time;                    /* unix seconds */
    char type[STORE_EVENT_TYPE_MAX]; /* "user.login", "session.refresh_reuse", … */
    char actor[STORE_ID_MAX];        /* who acted: usr_, sa_, app_ id, or "" */
    char target[STORE_ID_MAX];       /* what it acted on, or "" */
    char client_ip[STORE_IP_MAX];
    char result[16];               /* "success" or "failure" */
    char detail[STORE_DETAIL_MAX]; /* free text; never a secret, password or token */
};

/* Appends an event. STORE_EXISTS when the id is taken. */
int store_audit_append(struct store_txn *txn, const struct store_audit_event *ev);
/* Appends n events at once (one statement on PostgreSQL). STORE_EXISTS when an id is taken:
 * some may be written then, so return the error and let the transaction end with nothing. */
int store_audit_append_many(struct store_txn *txn, const struct store_audit_event *ev, size_t n);
/* Up to limit events with id < before (NULL or "" = from the newest), newest first;
 * free with free(). */
int store_audit_list(struct store_txn *txn, const char *before, size_t limit,
                     struct store_audit_event **items, size_t *n);

struct store_audit_filter {
    const char *type;   /* NULL = any; exact match */
    const char *actor;  /* NULL = any; exact match */
    const char *target; /* NULL = any; exact match */
    int64_t since;      /* 0 = any; only events with time >= since */
};

/* Like store_audit_list(), keeping only events that match filter (NULL = every event); the walk
 * stops at the first event older than filter->since. At most scan_max events are looked at
 * (0 = no bound); *scanned_to (may be NULL) receives the id of the last event looked at ("" when
 * none). */
int store_audit_search(struct store_txn *txn, const struct store_audit_filter *filter,
                       const char *before, size_t limit, size_t scan_max,
                       struct store_audit_event **items, size_t *n, char scanned_to[STORE_ID_MAX]);
/* Deletes events older than before (unix seconds) in one write transaction, walking from the
 * oldest (event ids are time-ordered). *removed (may be NULL) receives how many went. */
int store_audit_expire(struct store *st, int64_t before, size_t *removed);

/* ---- teams and memberships ---- */

#define STORE_TEAMS_PER_USER_MAX 256

struct store_team {
    char id[STORE_ID_MAX];      /* "team_…" */
    char name[STORE_NAME_MAX];  /* unique within scope, ignoring ASCII case */
    char scope[STORE_NAME_MAX]; /* where the name is unique: "" (global) or e.g. "org_acme" */
    char description[STORE_TEXT_MAX];
    int64_t created_at;
    int64_t updated_at;
    size_t nroles;                 /* role grants every member receives */
    char (*roles)[STORE_ROLE_MAX]; /* owned */
};

void store_team_clear(struct store_team *t);

/* STORE_EXISTS when the id or (scope, name ignoring ASCII case) is taken. */
int store_team_insert(struct store_txn *txn, const struct store_team *t);
/* Replaces a team, moving its name index entry. STORE_NOTFOUND when absent; STORE_EXISTS when
 * the new (scope, name) belongs to another team. */
int store_team_update(struct store_txn *txn, const struct store_team *t);
int store_team_get(struct store_txn *txn, const char *id, struct store_team *out);
/* Deletes the team and every membership in it. */
int store_team_delete(struct store_txn *txn, const char *id);
/* Like store_sa_list(); free with store_team_list_free(). */
int store_team_list(struct store_txn *txn, const char *after, size_t limit,
                    struct store_team **items, size_t *n);
void store_team_list_free(struct store_team *items, size_t n);

/* Makes user_id a member of team_id; already a member is STORE_OK (idempotent, like PUT).
 * STORE_NOTFOUND when the team or the user does not exist; STORE_EINVAL when the user is in
 * STORE_TEAMS_PER_USER_MAX teams. */
int store_member_add(struct store_txn *txn, const char *team_id, const char *user_id);
/* STORE_NOTFOUND when user_id is not a member of team_id. */
int store_member_remove(struct store_txn *txn, const char *team_id, const char *user_id);
/* Up to limit member user ids of team_id with id > after, in id order; *ids is malloc'd
 * (free()). STORE_NOTFOUND when the team does not exist. */
int store_member_list(struct store_txn *txn, const char *team_id, const char *after, size_t limit,
                      char (**ids)[STORE_ID_MAX], size_t *n);
/* The ids of every team user_id belongs to, in id order; *ids is malloc'd (free()). A user who
 * does not exist belongs to no team (STORE_OK, *n = 0). */
int store_user_teams(struct store_txn *txn, const char *user_id, char (**ids)[STORE_ID_MAX],
                     size_t *n);

/* ---- the mail outbox (outbox.c) ----
 *
 * A message waits here from the write transaction of the change that causes it (a sign-up, a
 * reset request) until a sender delivered it or gave up on it. A sender claims the earliest due
 * message for a lease in a transaction of its own, sends it outside any transaction, then
 * deletes it or puts it back due later; while the lease runs no other sender (another node's)
 * takes it. A sender that dies between sending and deleting leaves it to be claimed again when
 * the lease ends: delivery is at least once. */

#define STORE_MAIL_KIND_MAX 32               /* [a-z_-]+, incl. NUL */
#define STORE_MAIL_MESSAGE_MAX (256u * 1024) /* bytes of one stored message */

struct store_mail {
    char id[STORE_ID_MAX];          /* time-sortable: the older message first at equal due times */
    char kind[STORE_MAIL_KIND_MAX]; /* "verify-email", "password-reset", … */
    char to[STORE_EMAIL_MAX];       /* the address it goes to */
    uint8_t *message;               /* opaque (the server seals it); owned: store_mail_clear() */
    size_t message_len;
    int64_t created_at;
    int64_t next_at;                   /* due then; while claimed, the end of the lease */
    uint32_t attempts;                 /* claims so far */
    char last_error[STORE_DETAIL_MAX]; /* why the last try failed; never a secret */
};

/* Frees m->message (wiped first) and zeroes m. NULL is fine. */
void store_mail_clear(struct store_mail *m);
/* Stores m, due at m->next_at. STORE_EXISTS when its id is taken. */
int store_mail_insert(struct store_txn *txn, const struct store_mail *m);
/* The message of id into *out (clear it with store_mail_clear()). */
int store_mail_get(struct store_txn *txn, const char *id, struct store_mail *out);
/* Claims the earliest message due at now (next_at <= now): its next_at becomes now + lease and
 * attempts counts one more; *out is the message as claimed. STORE_NOTFOUND when none is due. */
int store_mail_claim(struct store_txn *txn, int64_t now, int64_t lease, struct store_mail *out);
/* When the earliest message is due (in the past when one waits now), so a sender can sleep until
 * then without a write transaction. STORE_NOTFOUND when the outbox is empty. */
int store_mail_next_due(struct store_txn *txn, int64_t *next_at);
/* After a failed try: due again at next_at, with error (NULL: none; never a secret). */
int store_mail_retry(struct store_txn *txn, const char *id, int64_t next_at, const char *error);
/* Delivered, or given up: gone. STORE_NOTFOUND when it is not there. */
int store_mail_delete(struct store_txn *txn, const char *id);

/* ---- one-time email tokens (email_tokens.c) ----
 *
 * The links of verification, password-reset and email-change mails: kept by the SHA-256 of the
 * token, with the user and address it was sent for, until used (deleted) or swept after expiry.
 * A user's tokens can be deleted together (a new link replaces the old ones, a finished reset
 * ends the others). */

#define STORE_EMAIL_PURPOSE_MAX 24 /* [a-z-]+, incl. NUL */

struct store_email_token {
    uint8_t hash[STORE_REFRESH_HASH_LEN]; /* SHA-256 of the token; the token is never stored */
    /* "verify-email", "password-reset", "email-change", "confirm-registration" */
    char purpose[STORE_EMAIL_PURPOSE_MAX];
    char user_id[STORE_ID_MAX];  /* the user; for confirm-registration, the registration */
    char email[STORE_EMAIL_MAX]; /* the address the link went to (for a change: the new one) */
    int64_t created_at;
    int64_t expires_at; /* unix seconds */
};

/* STORE_EXISTS when the hash is taken; STORE_EINVAL for a bad record (purpose not [a-z-]+,
 * user_id not an id, empty email, a negative time). The user is not checked. */
int store_email_token_insert(struct store_txn *txn, const struct store_email_token *t);
/* STORE_NOTFOUND when no token has that hash (never issued, used, or swept). Expired tokens are
 * still returned until swept: the caller compares expires_at. */
int store_email_token_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                          struct store_email_token *out);
/* Uses the token up: deletes it with its index entries. STORE_NOTFOUND when absent. On
 * PostgreSQL two transactions using the same token collide (one reruns and finds it gone). */
int store_email_token_delete(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN]);
/* Deletes every token of user_id whose purpose is purpose (NULL: every purpose); *n (may be
 * NULL) = how many. A user without tokens is STORE_OK with *n = 0; STORE_EINVAL for an invalid
 * user id or purpose. On PostgreSQL a token another transaction inserts meanwhile is not seen
 * and stays, as if inserted just after (email_tokens.c says when that matters). */
int store_email_tokens_delete_user(struct store_txn *txn, const char *user_id, const char *purpose,
                                   size_t *n);

/* ---- mail budgets (mail_counts.c) ----
 * How many messages (or requests) one address sent or received in a fixed window, so the
 * server can refuse more: per destination address and per client address, one hour a window.
 * Keyed, like failed logins, by an opaque key the server derives (storage sees no address): at
 * most STORE_LOGIN_KEY_MAX bytes. The sweep forgets a record after its expires_at. */

struct store_mail_count {
    uint64_t count;       /* messages (or requests) counted in the window; at most INT64_MAX */
    int64_t window_start; /* unix seconds */
    int64_t expires_at;   /* unix seconds; the sweep forgets the record after this */
};

/* STORE_NOTFOUND (and *out zeroed) when the key has no record. STORE_EINVAL for a key that is
 * empty or too long. */
int store_mail_count_get(struct store_txn *txn, const char *key, struct store_mail_count *out);
/* Creates or replaces the record (moving its expiry index entry). STORE_EINVAL for a bad key,
 * a negative time or a count over INT64_MAX. On PostgreSQL two transactions that read one key's
 * count and put it collide: one reruns and reads the other's. */
int store_mail_count_put(struct store_txn *txn, const char *key, const struct store_mail_count *c);

/* ---- user API keys (api_keys.c) ----
 * A user's long-lived credentials for programs (Atlas App Services' user API keys): each key
 * signs in as its user. Kept per user, at most STORE_API_KEYS_MAX, findable by id alone; the key
 * itself is never stored, only its Argon2id hash. */

#define STORE_API_KEYS_MAX 20
#define STORE_API_KEY_ID_MAX 25 /* 24 lower-case hex digits (an ObjectId), incl. NUL */

struct store_api_key {
    char id[STORE_API_KEY_ID_MAX];
    char user_id[STORE_ID_MAX];
    char name[STORE_NAME_MAX]; /* unique among the user's keys, byte for byte */
    char phc[STORE_PHC_MAX];   /* Argon2id of the key */
    int disabled;
    int64_t created_at;
    int64_t last_used_at; /* 0 = never */
};

/* STORE_EXISTS when the id or the user's name is taken; STORE_NOTFOUND when the user does not
 * exist; STORE_EINVAL for a bad record or when the user holds STORE_API_KEYS_MAX keys. */
int store_api_key_insert(struct store_txn *txn, const struct store_api_key *k);
/* The key of id, whoever holds it. STORE_NOTFOUND when none. */
int store_api_key_get(struct store_txn *txn, const char *id, struct store_api_key *out);
/* The user's keys, oldest first, into out[0..cap); *n receives how many. */
int store_api_key_list(struct store_txn *txn, const char *user_id, struct store_api_key *out,
                       size_t cap, size_t *n);
/* Rewrites disabled and last_used_at of the user's key k->id (the rest stays as stored).
 * STORE_NOTFOUND when the user holds no such key. */
int store_api_key_update(struct store_txn *txn, const struct store_api_key *k);
/* STORE_NOTFOUND when the user holds no such key. */
int store_api_key_delete(struct store_txn *txn, const char *user_id, const char *id);

/* ---- registrations waiting for their first login (pending_users.c) ----
 * The App Services client API registers an email/password identity without a user (App
 * Services' "pending users"): the user is made at the identity's first login, or the identity
 * joins the user who links it, so registering and then linking an anonymous user never makes a
 * second user. Kept by the key the email is unique under; swept after expiry. */

struct store_pending_user {
    char email_key[STORE_EMAIL_MAX]; /* the record's key */
    char id[STORE_ID_MAX];           /* "pnd_…": new with every registration of the address */
    char email[STORE_EMAIL_MAX];     /* as typed */
    char phc[STORE_PHC_MAX];         /* Argon2id of the password */
    char client_id[STORE_ID_MAX];    /* the application it registered through */
    int confirmed;      /* it may log in: confirmed by its link, or it needed no confirmation */
    int email_verified; /* confirmed by a mailed link: the address is proven */
    int64_t created_at;
    int64_t expires_at; /* unix seconds; 0 = kept until its first login */
};

/* Creates or replaces the record of p->email_key (moving its expiry entry). STORE_EINVAL for a
 * bad record. */
int store_pending_put(struct store_txn *txn, const struct store_pending_user *p);
/* STORE_NOTFOUND when the address has none. Expired records are returned until swept: the
 * caller compares expires_at. */
int store_pending_get(struct store_txn *txn, const char *email_key, struct store_pending_user *out);
/* STORE_NOTFOUND when the address has none. */
int store_pending_delete(struct store_txn *txn, const char *email_key);

/* ---- identity providers (identity_providers.c, schema 8) ----
 * Other issuers whose users sign in to idpd: an OpenID provider users are sent to, or an issuer
 * whose JWTs an application exchanges for idpd's tokens. storage keeps the name unique and the
 * sealed client secret as bytes; what the configuration holds is server/'s to say (one parser
 * there checks it on the way in and reads it back). */

#define STORE_IDP_CONFIG_MAX 65536 /* bytes of configuration text (an inline JWK Set included) */
#define STORE_IDP_SEALED_MAX 1100  /* a sealed client secret: 1024 bytes and the seal's overhead */

struct store_identity_provider {
    char id[STORE_ID_MAX];         /* "idp_…" */
    char name[STORE_IDP_NAME_MAX]; /* unique; the server keeps it lower-case [a-z0-9-] */
    char type[8];                  /* "oidc" or "jwt" */
    char *config;                  /* owned: a JSON object's text */
    size_t sealed_len;             /* 0: no client secret */
    uint8_t sealed_secret[STORE_IDP_SEALED_MAX];
    int64_t created_at;
    int64_t updated_at;
};

/* Frees config and zeroes p. Safe on a zeroed struct. */
void store_identity_provider_clear(struct store_identity_provider *p);
/* STORE_EXISTS when the id or the name is taken; STORE_EINVAL when config is not a JSON object
 * of at most STORE_IDP_CONFIG_MAX bytes or a field does not fit. */
int store_idp_insert(struct store_txn *txn, const struct store_identity_provider *p);
/* Replaces the record with p->id; the name cannot change (STORE_EINVAL). STORE_NOTFOUND when
 * absent. */
int store_idp_update(struct store_txn *txn, const struct store_identity_provider *p);
/* Copies the record into *out (clear it). */
int store_idp_get(struct store_txn *txn, const char *id, struct store_identity_provider *out);
/* The id of the provider named name. STORE_NOTFOUND when none. */
int store_idp_find_name(struct store_txn *txn, const char *name, char id[STORE_ID_MAX]);
/* STORE_NOTFOUND when absent. */
int store_idp_delete(struct store_txn *txn, const char *id);
/* Up to limit providers with id > after, in id order; free with store_idp_list_free(). */
int store_idp_list(struct store_txn *txn, const char *after, size_t limit,
                   struct store_identity_provider **items, size_t *n);
void store_idp_list_free(struct store_identity_provider *items, size_t n);
/* *used = 1 when some user holds an identity of provider (a full provider string such as
 * "oidc:corp"): one index lookup. */
int store_identity_provider_used(struct store_txn *txn, const char *provider, int *used);

/* ---- federated credentials of service accounts (federated_credentials.c, schema 8) ----
 * Workloads an account trusts instead of a secret: another issuer's tokens with a given subject
 * and audience. As with providers, the configuration's meaning is server/'s. */

#define STORE_FEDERATED_MAX 20 /* federated credentials one account may hold */

struct store_federated_credential {
    char id[STORE_ID_MAX];    /* "fic_…" */
    char sa_id[STORE_ID_MAX]; /* owning account */
    char *config;             /* owned: a JSON object's text, at most STORE_IDP_CONFIG_MAX */
    int64_t created_at;
};

void store_federated_credential_clear(struct store_federated_credential *f);
/* STORE_EXISTS when the id is taken; STORE_NOTFOUND when the account does not exist;
 * STORE_EINVAL when it already holds STORE_FEDERATED_MAX or config is not a JSON object. */
int store_federated_insert(struct store_txn *txn, const struct store_federated_credential *f);
/* The account's credentials, oldest first, into a calloc'd array; free with
 * store_federated_list_free(). */
int store_federated_list(struct store_txn *txn, const char *sa_id,
                         struct store_federated_credential **items, size_t *n);
void store_federated_list_free(struct store_federated_credential *items, size_t n);
/* STORE_NOTFOUND when the account holds no such credential. */
int store_federated_delete(struct store_txn *txn, const char *sa_id, const char *id);

#endif
