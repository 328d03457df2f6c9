/* storage/internal.h — what the storage files share; never included outside storage/.
 *
 * jansson types appear only here and in the .c files of storage/; each backend's own types only in
 * its file (lmdb.c, postgres.c). */
#ifndef IDPD_STORAGE_INTERNAL_H
#define IDPD_STORAGE_INTERNAL_H

#include "storage/storage.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

/* Named databases, opened once by store_open(). The environment allows STORE_MAX_DBS so later
 * records (teams, memberships, …) need no new limit. */
enum store_db {
    DB_META,             /* name -> 8-byte big-endian uint64 */
    DB_SERVICE_ACCOUNTS, /* id -> JSON record */
    DB_SECRETS,          /* "<sa_id>/<sec_id>" -> JSON record: an account's secrets are a range */
    DB_DENYLIST,         /* jti -> 8-byte big-endian exp */
    DB_DENYLIST_BY_EXP,  /* 8-byte big-endian exp || jti -> empty: the sweep walks only expired */
    DB_SIGNING_KEYS,     /* kid -> JSON record */
    DB_APPLICATIONS,     /* id -> JSON record */
    DB_USERS,            /* id -> JSON record, roles and metadata inside */
    DB_USERS_BY_EMAIL,   /* email, ASCII lower-cased -> user id; "" (anonymous) not indexed */
    /* "<user_id>/<identity_id>" -> JSON record: a user's identities are a range */
    DB_IDENTITIES,
    DB_IDENTITIES_BY_ID, /* identity id -> user id */
    /* "<provider>\0<provider_id>" -> "<user_id>/<identity_id>" */
    DB_IDENTITIES_BY_PROVIDER,
    DB_SESSIONS,         /* id -> JSON record */
    DB_SESSIONS_BY_USER, /* "<user_id>/<session_id>" -> empty */
    /* 8-byte big-endian min(idle expiry, absolute expiry) || session id -> empty */
    DB_SESSIONS_BY_EXP,
    DB_REFRESH,         /* 32-byte hash -> state byte (0 current, 1 superseded) || session id */
    DB_SESSION_REFRESH, /* "<session_id>/" || hex of a hash -> empty: every hash it issued */
    DB_AUDIT,           /* event id (time-sortable) -> JSON record */
    DB_TEAMS,           /* id -> JSON record, roles inside */
    DB_TEAM_MEMBERS,    /* "<team_id>/<user_id>" -> empty: a team's members are a range */
    DB_USER_TEAMS,      /* "<user_id>/<team_id>" -> empty: a user's teams are a range */
    /* schema 2 */
    DB_LOGIN_FAILURES,        /* opaque key -> count, last failure, lock end, expiry (4 x BE64) */
    DB_LOGIN_FAILURES_BY_EXP, /* BE64 expiry || key -> empty: the sweep walks only expired */
    /* schema 3 */
    DB_APP_ORIGINS, /* lower(origin) || "\0" || application id -> empty: who allows an origin */
    /* schema 4 */
    DB_AUTH_CODES,          /* 32-byte SHA-256 of the code -> JSON record */
    DB_AUTH_CODES_BY_EXP,   /* be64 expiry || hash -> empty (expiry.c) */
    DB_DEVICE_CODES,        /* 32-byte SHA-256 of the device code -> JSON record */
    DB_DEVICE_CODES_BY_EXP, /* be64 expiry || hash -> empty (expiry.c) */
    DB_USER_CODES,          /* user code -> 32-byte hash of its device code */
    /* schema 5 */
    /* SHA-256(scope || "\0" || ASCII-lower-cased name) -> team id: a name is unique within its
     * scope. Hashed because scope and name may each be 256 bytes and an LMDB key ends at 511. */
    DB_TEAM_NAMES,
    /* schema 6 */
    DB_OUTBOX,               /* mail id (time-sortable) -> JSON record (outbox.c) */
    DB_OUTBOX_DUE,           /* be64(next_at) || mail id -> "": the sender reads the earliest */
    DB_EMAIL_TOKENS,         /* 32-byte SHA-256 of the token -> JSON record (email_tokens.c) */
    DB_EMAIL_TOKENS_BY_EXP,  /* be64 expiry || hash -> empty (expiry.c) */
    DB_EMAIL_TOKENS_BY_USER, /* "<user_id>/" || hash -> empty: a user's tokens are a range */
    DB_MAIL_COUNTS,          /* opaque key -> JSON record (mail_counts.c) */
    DB_MAIL_COUNTS_BY_EXP,   /* be64 expiry || key -> empty (expiry.c) */
    /* schema 7 */
    DB_APP_SERVICES_IDS,     /* app_services_id -> application id (applications.c) */
    DB_API_KEYS,             /* "<user_id>/<key_id>" -> JSON record (api_keys.c) */
    DB_API_KEYS_BY_ID,       /* key id -> user id */
    DB_PENDING_USERS,        /* email key -> JSON record (pending_users.c) */
    DB_PENDING_USERS_BY_EXP, /* be64 expiry || email key -> empty (expiry.c) */
    /* schema 8 */
    DB_IDPS,      /* identity provider id -> JSON record (identity_providers.c) */
    DB_IDP_NAMES, /* identity provider name -> id */
    DB_FEDERATED, /* "<sa_id>/<fic_id>" -> JSON record (federated_credentials.c) */
    DB_COUNT
};

#define STORE_MAX_DBS 64
#define STORE_JTI_MAX 64                  /* bytes, excluding NUL */
#define STORE_META_NAME_MAX 64            /* bytes, excluding NUL */
#define STORE_SCHEMA_KEY "schema_version" /* the meta counter of the schema version */
#define STORE_SEALED_MAX 65536 /* sealed signing key bytes; an RSA-4096 PKCS#8 is ~2.4 KB */
#define STORE_PAIR_KEY_MAX (2 * STORE_ID_MAX) /* "<owner_id>/<id>" incl. NUL */

extern const char *const store_db_names[DB_COUNT];

/* A key or value: bytes in the transaction's memory (kv.h says how long they live). */
struct kv_val {
    const void *data;
    size_t len;
};
struct kv_cursor;

struct kv_backend;

/* Every backend's store starts with this (backend.h). */
struct store {
    const struct kv_backend *be;
};

struct store_txn {
    struct store *st;
    void *impl; /* the backend's transaction */
    int write;  /* 1 inside store_write() */
    /* The backend doomed the transaction (LMDB's map full, a PostgreSQL serialisation failure):
     * store_write() runs the callback again whatever the callback returned. */
    int rerun;
};

/* Logs which record failed to decode and returns STORE_ECORRUPT. */
int store_corrupt(enum store_db db, const void *key, size_t key_len);

/* Expiry indexes (expiry.c): be64(expires_at) || key -> "" in the index database. expiry_del
 * of an entry that is not there is STORE_OK. expiry_sweep walks the entries that expire at or
 * before now, earliest first: drop(txn, key, len, arg) removes the record (STORE_NOTFOUND when
 * it is gone already, which is fine), the entry is then deleted, and *removed (may be NULL)
 * counts the records dropped. */
int expiry_put(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len);
int expiry_del(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len);
/* The record kept under a 32-byte hash (authorization and device codes, email tokens) into key
 * and val. */
int hashed_get(struct store_txn *txn, enum store_db db, const uint8_t *hash, struct kv_val *key,
               struct kv_val *val);
/* The two ends of such a record's decode. hashed_load: copies the key into hash and parses val
 * into *obj (codec_load()); STORE_ECORRUPT when the key is not 32 bytes. hashed_done: releases
 * obj and returns rc; on an error it zeroes out[0..size) and reports a STORE_ECORRUPT record
 * without its key, which is the hash of a secret. */
int hashed_load(const struct kv_val *key, const struct kv_val *val, uint8_t *hash, json_t **obj);
int hashed_done(enum store_db db, int rc, json_t *obj, void *out, size_t size);
int expiry_sweep(struct store_txn *txn, enum store_db index, int64_t now,
                 int (*drop)(struct store_txn *txn, const void *key, size_t len, void *arg),
                 void *arg, size_t *removed);

/* STORE_EINVAL unless txn is a write transaction. */
int store_txn_writable(const struct store_txn *txn);

/* Writes the origin index entries of every stored application (the schema 3 upgrade). */
int store_app_origins_index_all(struct store_txn *txn);
/* Writes the name index entry of every stored team (the schema 5 upgrade). */
int store_team_names_index_all(struct store_txn *txn);

/* Deletes every secret of sa_id. (secrets.c) */
int store_secrets_delete_all(struct store_txn *txn, const char *sa_id);

/* STORE_OK when the user exists, STORE_NOTFOUND when not. (users.c) */
int store_user_exists(struct store_txn *txn, const char *user_id);
/* Writes the user's record unchanged (kv_touch()): STORE_NOTFOUND when there is none. Whatever
 * adds or removes what hangs off a user (sessions, identities, memberships) touches it first,
 * so on PostgreSQL two such transactions collide instead of each missing the other's rows. */
int store_user_touch(struct store_txn *txn, const char *user_id);

/* Deletes every API key of user_id with its index entries. (api_keys.c) */
int store_api_keys_delete_all(struct store_txn *txn, const char *user_id);

/* Deletes every federated credential of sa_id. (federated_credentials.c) */
int store_federated_delete_all(struct store_txn *txn, const char *sa_id);

/* A JSON object's text of 2..STORE_IDP_CONFIG_MAX bytes, parsed into *obj (new reference):
 * the configuration of providers and federated credentials. STORE_EINVAL when it is none.
 * (identity_providers.c) */
int config_load(const char *text, json_t **obj);

/* Deletes every identity of user_id with its index entries. (identities.c) */
int store_identities_delete_all(struct store_txn *txn, const char *user_id);

/* Deletes every membership of user_id, in both directions. (teams.c) */
int store_user_teams_delete_all(struct store_txn *txn, const char *user_id);

/* The sweep's parts (store_sweep() in sweep.c runs them in one write transaction): each
 * removes what expired at or before now and adds how many records went to *removed.
 * (denylist.c, sessions.c, login_failures.c, auth_codes.c, device_codes.c, email_tokens.c,
 * mail_counts.c, pending_users.c) */
int store_codes_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_devices_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_login_failures_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_deny_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_sessions_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_email_tokens_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_pending_sweep(struct store_txn *txn, int64_t now, size_t *removed);
int store_mail_counts_sweep(struct store_txn *txn, int64_t now, size_t *removed);

/* ---- codec.c: argument checks, byte order, JSON records, base64 ---- */

/* 1 when s is non-NULL and NUL-terminated within cap bytes (so at most cap - 1 bytes long). */
int str_fits(const char *s, size_t cap);
/* str_fits() and not empty. */
int str_fits_nonempty(const char *s, size_t cap);
/* An id usable as a key and as a key prefix: 1..STORE_ID_MAX-1 bytes, no '/'. */
int id_valid(const char *id);
/* A name of a kind (a mail's kind, a token's purpose): str_fits_nonempty() and every byte an
 * ASCII lower-case letter or one of punct. */
int word_valid(const char *s, size_t cap, const char *punct);
/* The key of a record kept under a key the server derives (failed logins, mail budgets) into
 * *out: STORE_EINVAL unless it is 1..STORE_LOGIN_KEY_MAX bytes. */
int opaque_key(const char *key, struct kv_val *out);

/* Keys of records that belong to another: "<owner>/<id>", so one owner's records are exactly the
 * keys starting with "<owner>/" (ids hold no '/'). */
struct pair_key {
    char buf[STORE_PAIR_KEY_MAX];
    struct kv_val val;
};
/* "<owner>/<id>", or with id NULL the prefix "<owner>/". STORE_EINVAL unless the ids are valid. */
int pair_key(const char *owner, const char *id, struct pair_key *k);
/* 1 when key starts with prefix (built with id NULL) and is longer. */
int pair_has_prefix(const struct kv_val *key, const struct pair_key *prefix);
/* Splits a stored "<owner>/<id>" into two ids; -1 when it is not one. */
int pair_split(const void *data, size_t len, char owner[STORE_ID_MAX], char id[STORE_ID_MAX]);

/* Moves cur to the first key after `after` in byte order (the first key when after is NULL or
 * ""), as kv_move() answers. For lists paged by id. */
int cursor_first_after(struct kv_cursor *cur, const char *after, struct kv_val *key,
                       struct kv_val *val);

/* Makes room in *items (an array of *cap items of size bytes, realloc'd, new items zeroed) for
 * item number count, growing by doubling up to limit (0: no limit). STORE_ENOMEM on failure,
 * *items unchanged. (list.c) */
int list_room(void *items, size_t *cap, size_t count, size_t size, size_t limit);

/* How store_list_records() handles one record type. */
struct store_list_kind {
    size_t size; /* of one item */
    int (*decode)(const struct kv_val *key, const struct kv_val *val, void *out);
    void (*clear)(void *item); /* releases what decode allocated; NULL when nothing */
    const char *what;          /* names the list in error lines */
};

/* Up to limit records of db with key > after (NULL: from the first), in key (id) order, into a
 * calloc'd array of *n items. On error nothing is returned and nothing leaks. (list.c) */
int store_list_records(struct store_txn *txn, enum store_db db, const char *after, size_t limit,
                       const struct store_list_kind *kind, void **items, size_t *n);

/* How store_list_owned() handles one record type kept under "<owner>/<id>" keys. The records
 * must own no memory: they are copied out with memcpy. */
struct store_owned_kind {
    size_t size; /* of one record */
    int (*decode)(const struct kv_val *key, size_t prefix_len, const struct kv_val *val, void *out);
    int (*older)(const void *a, const void *b); /* qsort order: oldest first */
    const char *what;                           /* names the list in error lines */
};

/* Every record of owner in db, sorted by kind->older, copied into out[0..cap); *n receives how
 * many were copied. (list.c) */
int store_list_owned(struct store_txn *txn, enum store_db db, const char *owner,
                     const struct store_owned_kind *kind, void *out, size_t cap, size_t *n);

void be64_put(uint8_t out[8], uint64_t v);
uint64_t be64_get(const uint8_t in[8]);

/* Serialises obj as compact JSON into a malloc'd buffer (*len bytes, not NUL-terminated
 * for LMDB's purposes; free() it). STORE_ENOMEM on failure. */
int codec_dump(const json_t *obj, char **out, size_t *len);
/* Parses a stored record; STORE_ECORRUPT unless it is one JSON object. *out is a new
 * reference the caller json_decref()s. */
int codec_load(const void *data, size_t len, json_t **out);

/* Setters return STORE_EINVAL when the value cannot be encoded (a string that is not UTF-8),
 * STORE_ENOMEM when jansson fails to allocate. */
int codec_set_str(json_t *obj, const char *key, const char *s);
int codec_set_int(json_t *obj, const char *key, int64_t v);
int codec_set_bool(json_t *obj, const char *key, int v);
int codec_set_b64(json_t *obj, const char *key, const uint8_t *data, size_t len);

/* Getters: STORE_ECORRUPT when the field is missing, has the wrong type, does not fit or holds
 * a NUL byte. codec_get_b64 malloc()s *data (free() it) and refuses more than max bytes. */
int codec_get_str(const json_t *obj, const char *key, char *dst, size_t cap);
int codec_get_int(const json_t *obj, const char *key, int64_t *v);
int codec_get_bool(const json_t *obj, const char *key, int *v);
int codec_get_b64(const json_t *obj, const char *key, size_t max, uint8_t **data, size_t *len);
/* Members added after records of their kind were first written: absent means the zero value
 * ("", 0), present is checked as above. */
int codec_get_str_opt(const json_t *obj, const char *key, char *dst, size_t cap);
int codec_get_bool_opt(const json_t *obj, const char *key, int *v);
int codec_get_strv_opt(const json_t *obj, const char *key, char *items, size_t stride, size_t max,
                       size_t *n);

/* String lists kept in fixed-size slots: n slots of stride bytes each, starting at items (role
 * grants, grant types, URIs). Every element is a non-empty string.
 * strv_valid: 1 when n <= max and every slot holds a non-empty string shorter than stride.
 * codec_set_strv: a JSON array of the n strings (STORE_EINVAL when one is not UTF-8).
 * codec_get_strv: copies the array into items (max slots); STORE_ECORRUPT when it is not an
 * array of at most max non-empty strings that fit a slot. */
int strv_valid(const char *items, size_t stride, size_t n, size_t max);
int codec_set_strv(json_t *obj, const char *key, const char *items, size_t stride, size_t n);
int codec_get_strv(const json_t *obj, const char *key, char *items, size_t stride, size_t max,
                   size_t *n);
/* Role grants: at most STORE_ROLES_MAX in an owned array. roles_valid() as strv_valid();
 * codec_get_roles() calloc()s *roles (NULL when there are none; free() it). */
int roles_valid(char (*roles)[STORE_ROLE_MAX], size_t n);
int codec_set_roles(json_t *obj, const char *key, char (*roles)[STORE_ROLE_MAX], size_t n);
int codec_get_roles(const json_t *obj, const char *key, char (**roles)[STORE_ROLE_MAX], size_t *n);

/* Standard base64 with padding. b64_encode writes b64_encoded_len(len) + 1 bytes (NUL-
 * terminated). b64_decode is strict (no whitespace, canonical padding) and returns -1 on bad
 * input; out must hold b64_decoded_max(len) bytes. */
size_t b64_encoded_len(size_t len);
void b64_encode(const uint8_t *in, size_t len, char *out);
size_t b64_decoded_max(size_t len);
int b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len);

#endif
