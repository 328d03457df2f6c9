/* The shared core of server/: what every room may use, and nothing that knows HTTP. The
 * configuration table, logging, the Argon2 workers, the running context, audit events, token
 * minting and checking, and the rules of what users and admins type (emails, names, roles,
 * secrets, applications). Never included outside server/.
 *
 * Rooms (DESIGN.md §2, README "Layout"): core ← http ← signin ← oauth, pages, account,
 * appservices, admin ← cli and routes.c. A room includes the headers of the rooms below it, never
 * above or beside. */
#ifndef IDPD_SERVER_CORE_H
#define IDPD_SERVER_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "buf/buf.h"
#include "crypto/crypto.h"
#include "keys/keys.h"
#include "server/server.h"
#include "storage/storage.h"

enum srv_err {
    SRV_OK = 0,
    SRV_EUSAGE,     /* bad command line or configuration */
    SRV_ERUNTIME,   /* could not open the data folder, bind, … */
    SRV_ERESPONDED, /* an _or_error helper answered the client already; the caller stops */
    SRV_EINVAL,     /* a parser was given input it refuses (the reason goes to a why buffer) */
    SRV_ENOMEM,
    SRV_EAGAIN /* needs what may not be done here (a fetch on an HTTP thread): try on a worker */
};

/* ---- configuration (config.c): one declarative table, read once ---- */

/* A network (cidr.c parses and matches it). */
struct srv_cidr {
    int family; /* 4 or 6 */
    uint8_t addr[16];
    unsigned prefix; /* 0..32 or 0..128 */
};

#define SRV_ADMIN_ALLOW_MAX 32

struct srv_config {
    char listen_host[256];
    unsigned listen_port;
    char data_dir[4096];
    char store[4096];          /* "" = LMDB in data_dir; else a PostgreSQL URI (never logged) */
    int64_t store_timeout_ms;  /* PostgreSQL: a call's longest wait */
    int64_t store_connections; /* PostgreSQL: pool size; 0 = derived from the thread counts */
    char issuer[1024];
    char audience[1024]; /* comma-separated allowed audiences; the first is the default */
    char signing_alg[16];
    char log_level[16];
    char master_key[128]; /* IDPD_MASTER_KEY only; never a flag (ps would show it) */
    int64_t access_token_ttl;
    struct crypto_argon2_params argon2;
    size_t body_limit;
    uint32_t max_connections;
    uint32_t max_connections_per_ip; /* 0 = no limit */
    uint32_t connection_timeout;     /* seconds */
    int64_t header_timeout;          /* seconds for a request line and headers */
    int64_t body_timeout;            /* seconds for a body, before body_min_rate extends it */
    int64_t body_min_rate;           /* bytes per second that earn a body one more second */
    int64_t body_timeout_max;        /* seconds a body may take at most */
    int64_t hsts_max_age;            /* Strict-Transport-Security over TLS; 0 = not sent */
    int64_t header_limit;            /* bytes: libmicrohttpd's per-connection memory */
    int64_t json_depth_max;
    int64_t json_string_max;
    unsigned http_threads;
    unsigned workers;
    unsigned worker_queue;
    unsigned worker_queue_per_address; /* slots one client address may hold */
    unsigned worker_queue_per_account; /* slots one login name may hold */
    unsigned worker_nice;              /* Linux nice value of the worker threads, when not idle */
    int64_t worker_idle;               /* 1: the workers run under SCHED_IDLE */
    int64_t secret_cache_ttl;
    int64_t jwks_max_age;
    int64_t sweep_interval;
    int64_t keys_refresh_interval;
    int64_t allow_registration; /* 0 or 1 */
    int64_t session_idle_ttl;
    int64_t session_absolute_ttl;
    int64_t code_ttl;             /* seconds an authorization code lives */
    int64_t device_code_ttl;      /* seconds a device authorization request lives */
    int64_t device_poll_interval; /* seconds a device waits between polls */
    int64_t audit_retention_days;
    int64_t audit_token_interval;    /* seconds; 0 = one audit event per token */
    int64_t key_rotation_interval;   /* seconds; 0 = no automatic rotation */
    int64_t login_lockout_threshold; /* 0 = no lockout */
    int64_t login_lockout_base;
    int64_t login_lockout_max;
    int64_t login_failure_ttl;
    int64_t login_address_threshold; /* 0 = no budget per address */
    int64_t login_account_threshold; /* 0 = no budget per account */
    int64_t login_account_max;
    int64_t device_code_guess_max; /* 0 = no limit */
    int64_t rate_limit_token;      /* requests per second per address; 0 = unlimited */
    int64_t rate_limit_introspect; /* the same for /oauth/introspect */
    int64_t rate_limit_register;   /* the same for /v1/register */
    char tls_cert[4096];           /* PEM file; "" = plain HTTP */
    char tls_key[4096];
    char smtp_url[1024]; /* smtp:// (STARTTLS required) or smtps://; "" = idpd sends no mail */
    char smtp_from[STORE_EMAIL_MAX];
    char smtp_user[256];
    char smtp_password[256];     /* IDPD_SMTP_PASSWORD only; never a flag, never logged */
    int64_t smtp_plain_loopback; /* 1: plain SMTP to a loopback relay is allowed */
    int64_t smtp_timeout;        /* seconds one delivery may take */
    int64_t smtp_max_attempts;   /* tries before a message is dropped (audited) */
    int64_t smtp_retry_base;     /* seconds before the first retry; doubles, capped at an hour */
    char mail_templates[4096];   /* folder of templates that replace the built-in ones; "" = none */
    int64_t email_verify_ttl;    /* seconds a verification or email-change link lives */
    int64_t password_reset_ttl;  /* seconds a reset link lives */
    int64_t require_verified_email;  /* 1: a password login of an unverified address is refused */
    int64_t registration_verify;     /* 1: /v1/register answers 202 and mails; resolved from -1 */
    int64_t mail_per_address;        /* messages an hour to one address; 0 = no limit */
    int64_t mail_per_client;         /* mail-sending requests an hour from one client address */
    int64_t outbound_plain_loopback; /* 1: http:// to a loopback upstream is allowed (tests) */
    int64_t outbound_timeout;        /* seconds one request to an upstream may take */
    int64_t outbound_max_body;       /* bytes of an upstream's answer at most */
    int64_t fetch_workers;           /* threads that wait for upstreams, beside the workers */
    char admin_allow[2048];          /* comma-separated CIDRs that may reach /admin/v1; "" = any */
    struct srv_cidr admin_allow_cidrs[SRV_ADMIN_ALLOW_MAX]; /* admin_allow, parsed */
    size_t admin_allow_n;
};

/* Which settings a command accepts as flags. */
enum srv_config_scope { SRV_CFG_SERVE = 1, SRV_CFG_DATA = 2 };

/* Fills cfg from defaults, then --config FILE (JSON), then IDPD_* variables, then the flags in
 * argv (getopt_long; consumed flags are removed and the remaining arguments left in argv).
 * Prints a message and returns SRV_EUSAGE on any bad value. */
int srv_config_load(struct srv_config *cfg, int scope, int *argc, char **argv);
void srv_config_usage(FILE *out, int scope);

/* ---- logging (log.c): one JSON object per line on stderr ---- */

/* NOTICE marks lifecycle lines (listening, stopped) and is written whatever the level, since
 * tools read the port from the listening line. */
enum srv_log_level { SRV_LOG_DEBUG, SRV_LOG_INFO, SRV_LOG_WARN, SRV_LOG_ERROR, SRV_LOG_NOTICE };
extern enum srv_log_level srv_log_min;
int srv_log_set_level(const char *name);
/* Writes {"ts","level","module","msg", …fields}. fields (may be NULL) is borrowed. */
void srv_log_json(enum srv_log_level lvl, const char *module, const char *msg, json_t *fields);
void srv_log_fmt(enum srv_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* LOG checks the level before evaluating its arguments. */
#define LOG(lvl, ...)                                                                              \
    do {                                                                                           \
        if ((lvl) >= srv_log_min)                                                                  \
            srv_log_fmt((lvl), LOG_MODULE, __VA_ARGS__);                                           \
    } while (0)

/* A store call that failed, logged once where it is answered, with ": <store_strerror(rc)>"
 * appended. A database that cannot be reached (STORE_EUNAVAILABLE) is an outage: storage says so
 * when it begins, /readyz shows it and every request meanwhile answers 503, so each such request
 * is only a debug line. Any other failure is an error. */
void srv_log_store(const char *module, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define LOG_STORE(rc, ...) srv_log_store(LOG_MODULE, (rc), __VA_ARGS__)

/* ---- background chores (chores.c) ----
 * The main loop's chores (the audit flush, the expiry sweep, the key-ring refresh) run every tick
 * or so; while the database is down every run fails alike. Each chore logs one line when it
 * starts failing and one when it works again, never one a tick, and simply runs again at its next
 * turn: nothing has to be restarted once the database is back. */
struct srv_chore {
    const char *module; /* of its log lines */
    const char *name;   /* "expiry sweep" */
    uint64_t failures;  /* runs that failed since it last worked */
};
/* Records one run of c: ok, or failed because of why (static or copied at once). Logs the first
 * failure of a row (a warning) and the first success after one (info, with how many runs
 * failed). The caller runs c on one thread at a time. Returns ok. */
int srv_chore_done(struct srv_chore *c, int ok, const char *why);

/* ---- worker pool (workers.c): Argon2 off the HTTP threads ---- */

struct srv_workers;
struct srv_workers_config {
    unsigned threads, queue_cap;
    unsigned per_source;  /* waiting jobs one source (client address) may hold; 0 = queue_cap */
    unsigned per_account; /* waiting jobs one account may hold; 0 = queue_cap */
    int idle;             /* SCHED_IDLE */
    unsigned nice;        /* else this nice value */
};
int srv_workers_start(const struct srv_workers_config *cfg, struct srv_workers **out);
/* Runs every reserved job and ends the threads; from then on srv_workers_reserve() answers
 * SRV_WORKERS_FULL, but w stays valid for callers until srv_workers_stop(). */
void srv_workers_drain(struct srv_workers *w);
/* Drains (when not yet done) and frees. */
void srv_workers_stop(struct srv_workers *w);
enum srv_workers_admit {
    SRV_WORKERS_OK = 0,
    SRV_WORKERS_FULL, /* the queue is full or draining: answer 503 */
    SRV_WORKERS_SHARE /* the source or the account holds its share: answer 429 */
};
/* A reserved slot; opaque to callers. */
struct srv_work_slot {
    struct share *source, *account;
};
/* Reserves a slot for a job of source (the client's address group, srv_addr_group) and account
 * (a login name or client id; NULL for none). */
enum srv_workers_admit srv_workers_reserve(struct srv_workers *w, const char *source,
                                           const char *account, struct srv_work_slot *slot);
/* Runs fn(arg) on a worker in the slot's turn; needs a slot from srv_workers_reserve(), so it
 * cannot fail. */
void srv_workers_submit(struct srv_workers *w, const struct srv_work_slot *slot,
                        void (*fn)(void *arg), void *arg);

/* ---- verified-secret cache (secret_cache.c) ---- */

struct srv_secret_cache;
int srv_secret_cache_new(int64_t ttl, struct srv_secret_cache **out);
void srv_secret_cache_free(struct srv_secret_cache *c);
/* 1 when (client_id, secret) was verified against secret_id less than ttl seconds ago. */
int srv_secret_cache_check(struct srv_secret_cache *c, const char *client_id, const char *secret,
                           size_t secret_len, const char *secret_id, int64_t now);
void srv_secret_cache_put(struct srv_secret_cache *c, const char *client_id, const char *secret,
                          size_t secret_len, const char *secret_id, int64_t now);
/* Forgets every entry of one account (disable, delete, secret removal). */
void srv_secret_cache_forget(struct srv_secret_cache *c, const char *client_id);

/* ---- the running service (context.c) ---- */

struct srv_ctx {
    const struct srv_config *cfg;
    struct store *store;
    struct keys *keys;
    struct srv_workers *workers;
    struct srv_workers *fetchers;        /* wait for upstreams (srv_defer_fetch) */
    struct srv_key_sources *key_sources; /* other issuers' keys and metadata (key_sources.c) */
    uint8_t idp_key[32]; /* seals identity providers' client secrets; derived from the master key */
    struct srv_secret_cache *secret_cache;
    struct srv_client_cache *client_cache; /* oauth/, made by cli/serve.c */
    struct srv_rate_limiter *rate_limiter; /* http/, made by cli/serve.c */
    char dummy_phc[CRYPTO_PHC_MAX];        /* verified against when the client is unknown */
    char issuer[1024];      /* cfg->issuer, or http://HOST:PORT once the port is bound */
    uint8_t cursor_key[32]; /* authenticates list cursors; per process */
    struct srv_http *http;
    struct srv_audit_queue *audit_queue; /* NULL: srv_audit_enqueue() writes at once */
    struct srv_audit_tally *audit_tally; /* NULL: one event per token issued */
    struct srv_mailer *mailer;           /* NULL: no smtp_url, or a command that sends nothing */
    struct srv_mail_templates *mail_templates; /* made by srv_ctx_start_serving */
    uint8_t mail_key[32]; /* seals the outbox: derived from the master key, which is wiped */
    /* Called when the key ring changed (srv_keys_changed): re-publishes the JWKS. Set by
     * cli/serve.c to oauth/'s publisher; NULL in commands that serve nothing. */
    int (*keys_changed)(struct srv_ctx *ctx);
};

/* The key ring changed (a rotation here, or a kid another process made): tells whoever
 * publishes it (ctx->keys_changed), if anyone does. */
void srv_keys_changed(struct srv_ctx *ctx);

/* Opens (creating when absent) the data folder: store, master key, signing keys. Used by serve
 * and by every CLI command that takes --data. Prints a clear message and returns SRV_ERUNTIME
 * when the folder cannot be used. */
int srv_ctx_open(struct srv_ctx *ctx, const struct srv_config *cfg);
/* Adds what only the server needs: workers, the verified-secret cache, the dummy hash. The
 * rooms' own parts (client cache, rate limiter, documents) are made by cli/serve.c. */
int srv_ctx_start_serving(struct srv_ctx *ctx);
void srv_ctx_close(struct srv_ctx *ctx);

int64_t srv_now(void);   /* unix seconds */
double srv_now_ms(void); /* monotonic milliseconds, for durations */

/* Opaque refresh token: 256 random bits in base64url, NUL included. SSO cookies and CSRF tokens
 * have the same shape. */
#define SRV_REFRESH_LEN 44
/* A new opaque token of that shape in out, and the SHA-256 of its text, which is all a store
 * keeps of it (refresh tokens, codes, device codes, SSO cookies, email links). */
int srv_opaque_new(char out[SRV_REFRESH_LEN], uint8_t hash[CRYPTO_SHA256_LEN]);

/* ---- a compact JSON writer for hot paths (json_out.c) ----
 * Start from a zeroed struct; open the top-level object with srv_jw_object(w, NULL). Members
 * take a key inside objects and NULL inside arrays. Any failure (no memory, invalid UTF-8, a
 * NULL string, unbalanced nesting) is remembered and makes srv_jw_finish() return NULL. */
#define SRV_JW_DEPTH 8
struct srv_jw {
    struct buf buf; /* the text; its failed is memory running out */
    unsigned depth;
    unsigned count[SRV_JW_DEPTH]; /* members written so far at each level */
    int failed;                   /* a document JSON cannot carry: bad nesting, not UTF-8 */
};
void srv_jw_object(struct srv_jw *w, const char *key);
void srv_jw_array(struct srv_jw *w, const char *key);
void srv_jw_close(struct srv_jw *w, char bracket); /* '}' or ']' */
void srv_jw_string(struct srv_jw *w, const char *key, const char *value);
void srv_jw_int(struct srv_jw *w, const char *key, int64_t value);
void srv_jw_bool(struct srv_jw *w, const char *key, int value);
/* A JSON object given as compact text that is known to be one (a stored record's metadata, which
 * storage keeps as a checked object): copied as it is. Fails unless it is braced UTF-8. */
void srv_jw_object_text(struct srv_jw *w, const char *key, const char *json);
/* The document (malloc'd, NUL-terminated; *len may be NULL), or NULL after any failure. Resets w
 * either way. */
char *srv_jw_finish(struct srv_jw *w, size_t *len);

/* ---- service-account secrets (secrets.c) ---- */

#define SRV_SECRET_PREFIX "idpsec_"
#define SRV_SECRET_MAX 256 /* longest client secret looked at */

/* "idpsec_" + base64url of 256 random bits, NUL included. */
#define SRV_SECRET_LEN (sizeof SRV_SECRET_PREFIX - 1 + 43 + 1)
#define SRV_SECRET_HOURS_DEFAULT 2160
#define SRV_SECRET_HOURS_MIN 8
#define SRV_SECRET_HOURS_MAX 8760

/* Makes a new secret for account sa_id: the plain value into secret (shown once, then wiped by
 * the caller) and its record (id, Argon2id hash, hint, mask, times) into rec. Runs Argon2. */
int srv_secret_new(const struct crypto_argon2_params *params, const char *sa_id,
                   int64_t expires_in_hours, struct store_secret *rec, char secret[SRV_SECRET_LEN]);

/* The SHA-256 hint stored beside a secret's hash: 8 hex chars of SHA-256(secret). */
void srv_secret_hint(const char *secret, size_t len, char hint[9]);

/* ---- user API keys and device ids (api_keys.c) ---- */

#define SRV_API_KEY_PREFIX "idpkey_"
/* "idpkey_" + 24 hex digits (the record's id) + "_" + base64url of 256 random bits, NUL
 * included. */
#define SRV_API_KEY_LEN (sizeof SRV_API_KEY_PREFIX - 1 + 24 + 1 + 43 + 1)
/* Makes a key for rec (whose user_id and name the caller sets): its id, the plain key into key
 * (shown once; the caller wipes it), its Argon2id hash and created_at into rec. Runs Argon2. */
int srv_api_key_new(const struct crypto_argon2_params *params, struct store_api_key *rec,
                    char key[SRV_API_KEY_LEN]);
/* 1 and the record's id when key has the shape of a key; 0 when it cannot be one. */
int srv_api_key_id(const char *key, char id[STORE_API_KEY_ID_MAX]);
/* A new device id of the App Services client API: 24 lower-case hex digits (an ObjectId's
 * length) of random bits. */
int srv_device_id_new(char out[STORE_DEVICE_ID_MAX]);
/* 1 when s is 24 hex digits and not all zeros (the SDKs' "no device"). */
int srv_device_id_valid(const char *s);

/* 1 when name is 1..256 bytes of UTF-8 without control characters. */
int srv_name_valid(const char *name);

/* ---- applications (applications.c): shared by the admin API and the CLI ---- */

/* The grant types an application may be given; NULL-terminated. */
extern const char *const srv_app_grant_types[];

enum srv_app_list {
    SRV_APP_GRANTS,
    SRV_APP_REDIRECT_URIS,
    SRV_APP_ORIGINS,
    SRV_APP_POST_LOGOUT_URIS
};

/* 1 when the URI's authority (after "scheme://", if it has one) has no port, or a port of 1 to 5
 * digits from 1 to 65535; 0 for ":0", ":99999", ":-1", ":8o" or an empty port ("host:/cb"). A URI
 * without an authority (a native app's "com.example.app:/cb") has no port and passes. */
int srv_uri_port_valid(const char *uri);
/* Adds v to one of app's lists (a repeat is ignored) after checking it: a known grant type; a
 * redirect URI or post-logout redirect URI (absolute, no fragment, printable ASCII, at most
 * 1024 bytes, a valid port: srv_uri_port_valid); an origin
 * (scheme://host[:port], at most 300 bytes), kept as browsers serialise it: lower case, without
 * the scheme's default port. 1 when done; 0 with the reason written into why (cap bytes) when v is
 * not valid or the list is full. */
int srv_app_add(struct store_application *app, enum srv_app_list list, const char *v, char *why,
                size_t cap);
/* 1 when id may be an application's app_services_id (the App Services client API's app id, e.g.
 * "myapp-abcde"): 1..64 bytes of ASCII letters, digits, '-', '_' and '.'. */
int srv_app_services_id_valid(const char *id);
/* 1 when app as a whole may be stored (a valid name, at least one grant type, a redirect URI
 * when it uses authorization_code); 0 and why. */
int srv_app_check(const struct store_application *app, char *why, size_t cap);
/* Makes the secret of confidential application app (whose id is set): the plain value into
 * secret (shown once; the caller wipes it), its hash and hint into app. Runs Argon2. */
int srv_app_secret_new(const struct crypto_argon2_params *params, struct store_application *app,
                       char secret[SRV_SECRET_LEN]);

/* ---- users (accounts.c) ---- */

#define SRV_PASSWORD_MIN 8
#define SRV_PASSWORD_MAX 1024

/* 1 when email looks like local@domain: 3..320 bytes of UTF-8, one '@' with text on both sides,
 * no spaces or control characters. Deliverability is not idpd's to judge. */
int srv_email_valid(const char *email);
/* 1 when s[0..len) is valid UTF-8 without NUL bytes. */
int srv_utf8_valid(const char *s, size_t len);

/* ---- the key an email is unique under (email_text.c, the one file that uses ICU) ---- */

enum srv_email_err {
    SRV_EMAIL_OK = 0,
    SRV_EMAIL_EINVALID,   /* not local@domain (srv_email_valid), before or after normalising */
    SRV_EMAIL_ETOOLONG,   /* over 320 bytes once normalised */
    SRV_EMAIL_EMIXED,     /* a part mixes scripts beyond UTS #39 "highly restrictive" */
    SRV_EMAIL_ELOOKALIKE, /* a part has non-ASCII whose confusable skeleton is all ASCII */
    SRV_EMAIL_EINTERNAL   /* ICU could not be set up */
};

/* Writes into key (the caller's buffer) the form an email is unique under: NFKC_Casefold
 * (Unicode normalisation with case folding), so "ALICE@EXAMPLE.COM" and fullwidth
 * "ａlice@example.com" share the key "alice@example.com". An ASCII address only has its letters
 * lower-cased, as stores have always keyed it. A part (local or domain) with non-ASCII
 * characters is refused when it mixes scripts (EMIXED) or only imitates ASCII (ELOOKALIKE:
 * "alıce"). On any error key is "". Thread-safe; ICU is set up on the first call. */
enum srv_email_err srv_email_key(const char *email, char key[STORE_EMAIL_MAX]);
/* A static English sentence for err, fit for a 400 answer's detail. */
const char *srv_email_strerror(enum srv_email_err err);
/* The key stores made before NFKC_Casefold (accounts.c): ASCII letters lower-cased, other bytes
 * as typed. Only logins use it, to find an identity made then under a key the new form misses. */
void srv_email_key_legacy(const char *email, char out[STORE_EMAIL_MAX]);
/* The key u's address is unique under: its email_key, or for records made before that was kept,
 * the legacy key of its email. "" for a user without an address. */
void srv_user_email_key(const struct store_user *u, char out[STORE_EMAIL_MAX]);
/* Passwords: 8..1024 bytes of UTF-8, no composition rules (NIST SP 800-63B). */
int srv_password_valid(const char *pw);

/* ---- audit events (audit.c) ---- */

/* Fills ev (a fresh time-ordered id, now) from the parts; NULL parts are "". */
int srv_audit_event_fill(struct store_audit_event *ev, const char *type, const char *actor,
                         const char *target, const char *client_ip, int success,
                         const char *detail);
/* Appends one event in txn. actor, target and detail may be NULL; detail never holds a secret. */
int srv_audit(struct store_txn *txn, const char *type, const char *actor, const char *target,
              const char *client_ip, int success, const char *detail);
/* The same in its own write transaction (for failures, which change nothing else). */
void srv_audit_now(struct srv_ctx *ctx, const char *type, const char *actor, const char *target,
                   const char *client_ip, int success, const char *detail);

/* ---- batched audit events (audit_queue.c) ---- */

/* Hot-path events (a token issued to a service account) are queued in memory and written in one
 * write transaction per batch, so issuing a token costs no fsync. The queue is bounded (cap
 * events): a flusher thread writes it as soon as it is half full, and an event that finds it full
 * is written at once. */
struct srv_audit_queue;
/* Makes ctx->audit_queue and starts its flusher thread. SRV_ERUNTIME when out of memory. */
int srv_audit_queue_start(struct srv_ctx *ctx, size_t cap);
/* Stops the flusher, writes what is still queued, frees the queue (ctx->audit_queue = NULL).
 * Call once no request can enqueue any more. Safe without a queue. */
void srv_audit_queue_stop(struct srv_ctx *ctx);
/* Builds the event now (id and time) and copies it into ctx->audit_queue, or writes it at once
 * when there is no queue (CLI commands, tests) or it is full. Arguments as srv_audit(); all but
 * type may be NULL. */
void srv_audit_enqueue(struct srv_ctx *ctx, const char *type, const char *actor, const char *target,
                       const char *client_ip, int success, const char *detail);
/* Token issuance counted per principal and client address (audit_tally.c): one "token.issue"
 * event per audit_token_interval seconds with the count and the first and last time, instead
 * of one per token. srv_audit_queue_start() makes ctx->audit_tally (NULL when the interval is
 * 0), srv_audit_flush() emits the counts that are due, srv_audit_queue_stop() all of them. */
struct srv_audit_tally;
int srv_audit_tally_new(int64_t interval_s, struct srv_audit_tally **out);
void srv_audit_tally_free(struct srv_audit_tally *t);
/* A token issued to principal from client_ip (NULL: none): counted, or one event of its own
 * (detail: the jti) when there is no tally or no room in it. */
void srv_audit_token_issued(struct srv_ctx *ctx, const char *principal, const char *client_ip,
                            const char *jti);
/* Queues one event per count whose interval has passed (every count when all != 0). */
void srv_audit_tally_emit(struct srv_ctx *ctx, int all);
/* Writes every queued event in one write transaction (the main loop calls it each second).
 * Events the database could not take because it cannot be reached stay queued for the next
 * flush; events that cannot be written for another reason are logged and dropped. */
void srv_audit_flush(struct srv_ctx *ctx);

/* ---- SMTP (smtp.c) ---- */

struct srv_smtp {
    const char *url;      /* smtp://host[:port] (STARTTLS required) or smtps://host[:port] */
    const char *from;     /* the envelope sender */
    const char *user;     /* NULL or "": no authentication */
    const char *password; /* IDPD_SMTP_PASSWORD only; never logged */
    int plain_loopback;   /* allow plain SMTP when the host is a loopback address */
    unsigned timeout_ms;  /* the whole exchange */
};
/* Sends message (RFC 5322 text, CRLF line ends) to one recipient. SRV_OK; SRV_EINVAL for a URL
 * that is not smtp:// or smtps://; SRV_ERUNTIME when the server could not be reached or refused
 * (TLS included); *why gets one line (the server's answer or the failure, never the password). */
int srv_smtp_send(const struct srv_smtp *s, const char *to, const char *message, size_t len,
                  char *why, size_t why_cap);

/* ---- outbound HTTPS (fetch.c) ---- */

struct srv_fetch_opts {
    int plain_loopback; /* allow http:// to a loopback host (tests); else https:// only */
    long timeout_ms;    /* the whole exchange, redirects included */
    size_t max_body;    /* bytes of the answer's body at most */
};
struct srv_fetch_result {
    long status;
    char *body; /* malloc'd, NUL-terminated (free with srv_fetch_result_clear) */
    size_t len;
    char content_type[128];
    int64_t max_age; /* seconds its Cache-Control allows keeping it (0: none) */
};
/* GET url, or POST form (application/x-www-form-urlencoded unless headers say otherwise) with
 * headers ("Name: value", NULL-terminated; may be NULL). SRV_OK with any HTTP status in *out;
 * SRV_EINVAL for a URL that is not https:// (or http:// to loopback when allowed); SRV_ERUNTIME
 * for an upstream that could not be reached, took longer than the timeout, answered more than
 * max_body bytes or redirected elsewhere (a GET follows at most three redirects on its own
 * origin, a POST none); SRV_ENOMEM. why gets one line for a log or a page. Blocks: run it on a
 * worker. */
int srv_fetch(const struct srv_fetch_opts *o, const char *url, const char *const *headers,
              const char *form, struct srv_fetch_result *out, char *why, size_t cap);
void srv_fetch_result_clear(struct srv_fetch_result *r);
/* SRV_OK when url is one srv_fetch() would ask (absolute, https or an allowed loopback http, no
 * fragment, shorter than STORE_URI_MAX); SRV_EINVAL with why otherwise. */
int srv_fetch_url_valid(const struct srv_fetch_opts *o, const char *url, const char **why);
/* The options the outbound_* settings give. */
struct srv_fetch_opts srv_fetch_opts_of(const struct srv_config *cfg);
/* The max-age of a Cache-Control value in seconds: 0 for no-store, no-cache or none. */
int64_t srv_cache_max_age(const char *cache_control);
/* 1 for "localhost", 127.x.y.z and ::1. */
int srv_host_loopback(const char *host);

/* ---- other issuers: identity providers and federated credentials (idp_config.c) ----
 * Both are stored with a configuration object storage/ keeps as JSON; this one parser checks it
 * on the way in (the admin API) and reads it back, so what is stored is what was checked. */

#define SRV_CLAIM_MAX 64           /* a claim name, incl. NUL */
#define SRV_IDP_LIST_MAX 16        /* scopes, allowed domains, metadata claims */
#define SRV_DOMAIN_MAX 254         /* a DNS name, incl. NUL */
#define SRV_ASSERTION_TTL_MAX 3600 /* seconds: the longest-lived assertion taken */
#define SRV_ALGS_DEFAULT "RS256,ES256"

/* Whose tokens are taken and how they are checked. */
struct srv_trust {
    char issuer[STORE_URI_MAX];   /* exactly as the tokens' iss; discovery under it */
    char audience[STORE_URI_MAX]; /* the aud a token must hold ("": the caller checks its own) */
    char jwks_uri[STORE_URI_MAX]; /* "" with jwks NULL: from the issuer's discovery */
    char *jwks;                   /* an inline JWK Set's text (owned), or NULL */
    char algorithms[40];          /* the allow-list, comma-separated: "RS256,ES256" */
};

struct srv_idp {
    char id[STORE_ID_MAX];
    char name[STORE_IDP_NAME_MAX];
    char type[8]; /* "oidc" or "jwt" */
    struct srv_trust trust;
    /* oidc: idpd is this provider's client */
    char client_id[STORE_NAME_MAX];
    int has_secret;
    size_t nscopes;
    char scopes[SRV_IDP_LIST_MAX][SRV_CLAIM_MAX];
    char email_claim[SRV_CLAIM_MAX];
    char name_claim[SRV_CLAIM_MAX];
    size_t ndomains; /* users' email domains allowed; none: any */
    char domains[SRV_IDP_LIST_MAX][SRV_DOMAIN_MAX];
    int trust_verified_email; /* its email_verified lets a first sign-in link by email */
    int create_users;         /* a first sign-in creates the user; else the user must exist */
    /* jwt: an application exchanges this issuer's tokens (RFC 7523) */
    char subject_claim[SRV_CLAIM_MAX];
    size_t nmetadata; /* claims copied into the user's metadata */
    char metadata_claims[SRV_IDP_LIST_MAX][SRV_CLAIM_MAX];
    int64_t created_at, updated_at;
};

/* A workload a service account trusts instead of a secret. */
struct srv_federated {
    char id[STORE_ID_MAX];
    char sa_id[STORE_ID_MAX];
    struct srv_trust trust;
    char subject[STORE_NAME_MAX]; /* the sub, exactly, or a prefix ending in '*' */
    char description[STORE_NAME_MAX];
    int64_t created_at;
};

void srv_idp_clear(struct srv_idp *p);
void srv_federated_clear(struct srv_federated *f);
/* The members the admin API takes (NULL-terminated), for srv_json_parse(). */
extern const char *const srv_idp_fields[];
extern const char *const srv_federated_fields[];
/* Reads an admin body into *out: with base NULL a new provider (name, type, issuer and the
 * type's required members needed; the defaults filled in), else a change of base (the members
 * given replace base's; name, type and issuer cannot change). *secret borrows the body's
 * client_secret (NULL when absent). SRV_EINVAL with one line in why. */
int srv_idp_parse(const struct srv_config *cfg, json_t *body, const struct srv_idp *base,
                  struct srv_idp *out, const char **secret, char *why, size_t cap);
int srv_federated_parse(const struct srv_config *cfg, json_t *body, struct srv_federated *out,
                        char *why, size_t cap);
/* The configuration object to store (malloc'd text; NULL without memory). */
char *srv_idp_config(const struct srv_idp *p);
char *srv_federated_config(const struct srv_federated *f);
/* Reads stored records back. SRV_EINVAL (logged) when the configuration is not one this parser
 * takes: it was written by another version, or changed by hand. */
int srv_idp_load(const struct store_identity_provider *rec, struct srv_idp *out);
int srv_federated_load(const struct store_federated_credential *rec, struct srv_federated *out);
/* The identity provider string of the users' identities of a provider of type ("oidc" or
 * "jwt") and name: "oidc:<name>" or "custom-jwt:<name>". */
void srv_idp_provider(const char *type, const char *name, char out[STORE_PROVIDER_MAX]);
/* 1 when sub matches pattern: equal, or pattern ends in '*' and sub starts with what precedes. */
int srv_subject_matches(const char *pattern, const char *sub);

/* ---- other issuers' keys and metadata (key_sources.c) ----
 * In memory, per process: JWK Sets by URL (or by the hash of an inline set) and discovery
 * documents by issuer, each kept for its Cache-Control max-age (at least a minute, at most a
 * day). A token whose kid the set lacks refetches it, at most once a minute per set; a source
 * that failed is not asked again for ten seconds. */

struct srv_key_sources;
int srv_key_sources_new(struct srv_key_sources **out);
void srv_key_sources_free(struct srv_key_sources *ks);

/* What idpd reads from an OpenID provider's discovery document. */
struct srv_upstream_meta {
    char issuer[STORE_URI_MAX];
    char authorization_endpoint[STORE_URI_MAX];
    char token_endpoint[STORE_URI_MAX];
    char jwks_uri[STORE_URI_MAX];
    int basic_auth; /* client_secret_basic supported (else client_secret_post) */
};
/* How far a lookup may go: from memory only (an HTTP thread), or fetching when it must (a
 * fetch worker). SRV_EAGAIN from a memory-only lookup that needed a fetch. */
enum srv_fetch_mode { SRV_MEMORY_ONLY = 0, SRV_MAY_FETCH = 1 };
/* The issuer's discovery document. SRV_ERUNTIME (why says what) when it cannot be had or its
 * issuer is not exactly t's. */
int srv_upstream_meta(struct srv_ctx *ctx, const char *issuer, enum srv_fetch_mode mode,
                      struct srv_upstream_meta *out, char *why, size_t cap);

/* What a verified token of another issuer says. */
struct srv_assertion {
    json_t *claims;        /* the payload (owned) */
    const char *sub, *jti; /* borrowed from claims; jti NULL when absent */
    int64_t exp, iat;
    char kid[KEYS_KID_MAX];
};
void srv_assertion_clear(struct srv_assertion *a);
/* The denylist key that makes a's jti single-use: "asr:" and the base64url SHA-256 of the
 * issuer, a NUL and the jti (never one of idpd's own jtis). "" when a has no jti. */
#define SRV_JTI_KEY_MAX 48
void srv_assertion_jti_key(const struct srv_assertion *a, const char *issuer,
                           char out[SRV_JTI_KEY_MAX]);
/* Verifies token against t: the signature with t's keys (refetched once for an unknown kid), an
 * algorithm of t's list, iss exactly t->issuer, aud holding audience (t->audience when NULL),
 * exp in the future and at most SRV_ASSERTION_TTL_MAX past iat (or now), nbf and iat not ahead
 * (60 s of leeway each way), sub a non-empty string. SRV_EINVAL with why for a token that fails
 * (a client's fault), SRV_ERUNTIME when t's keys cannot be had, SRV_EAGAIN as above. */
int srv_assertion_verify(struct srv_ctx *ctx, const struct srv_trust *t, const char *audience,
                         const char *token, enum srv_fetch_mode mode, struct srv_assertion *out,
                         char *why, size_t cap);

/* ---- mail messages (mail_templates.c, mail_message.c) ---- */

/* The messages idpd sends. Each kind has a subject, a plain-text and an HTML body. */
enum srv_mail_kind {
    SRV_MAIL_VERIFY_EMAIL,     /* "verify-email": confirm your address: {{link}}, {{hours}} h */
    SRV_MAIL_PASSWORD_RESET,   /* "password-reset": reset link {{link}}, {{hours}} h */
    SRV_MAIL_PASSWORD_CHANGED, /* "password-changed": every session ended; admin if not you */
    SRV_MAIL_EMAIL_CHANGE,     /* "email-change": to the NEW address: confirm {{new_email}} */
    SRV_MAIL_EMAIL_CHANGED,    /* "email-changed": to the OLD address: it is now {{new_email}} */
    SRV_MAIL_REGISTER_TAKEN,   /* "register-taken": someone tried to register with your address */
    SRV_MAIL_KINDS
};
/* "verify-email", …: the outbox kind and the template file names. NULL for a bad kind. */
const char *srv_mail_kind_name(enum srv_mail_kind k);

/* What a template may name as {{app}}, {{issuer}}, {{link}}, {{email}}, {{new_email}},
 * {{hours}} (exactly so: no spaces inside the braces). NULL strings render as "". The strings
 * are borrowed for the call. */
struct srv_mail_vars {
    const char *app;       /* the application's name (or the issuer's host when none) */
    const char *issuer;    /* idpd's issuer URL */
    const char *link;      /* the one-time link, when the kind has one */
    const char *email;     /* the address the message goes to */
    const char *new_email; /* email changes */
    int64_t hours;         /* how long the link lives */
};

/* Longest template file read; a larger one is an error. */
#define SRV_MAIL_TEMPLATE_MAX 65536

struct srv_mail_templates;
/* The built-in templates (in the binary), each replaced by dir/<kind>.subject, dir/<kind>.txt
 * and dir/<kind>.html when dir is not NULL or "" and the file exists (each of the three
 * independently). A file that exists but cannot be read or is not a regular file, is over
 * SRV_MAIL_TEMPLATE_MAX bytes, is not UTF-8 (or holds a NUL), names an unknown {{var}} or leaves
 * a "{{" unclosed, or (a .subject) has more than one line, is an error: SRV_EUSAGE with why
 * naming the file, so a typo stops the start instead of mailing a broken text. A .subject's
 * trailing line end and blanks are dropped. SRV_ENOMEM. Read once, at start: *out (free with
 * srv_mail_templates_free) is read-only afterwards, so threads may render with it at once. */
int srv_mail_templates_load(const char *dir, struct srv_mail_templates **out, char *why,
                            size_t cap);
void srv_mail_templates_free(struct srv_mail_templates *t);
/* Renders one message: *subject (one line: CR and LF in values become spaces), *text (values as
 * they are), *html (values HTML-escaped: & < > " '). All three malloc'd; free() them. SRV_OK,
 * SRV_ENOMEM, or SRV_EINVAL (a bad kind, a NULL argument); on an error all three are NULL. */
int srv_mail_render(const struct srv_mail_templates *t, enum srv_mail_kind k,
                    const struct srv_mail_vars *v, char **subject, char **text, char **html);

/* An RFC 5322 message with MIME (RFC 2045/2046), ready for srv_smtp_send(): From, To, Subject
 * (RFC 2047 encoded-words, UTF-8 base64, folded, when it is not printable ASCII or too long for
 * one line), Date (from unix seconds date, UTC), Message-ID <message_id> (the caller passes
 * "local@host" without brackets), MIME-Version: 1.0, Auto-Submitted: auto-generated, and a
 * multipart/alternative body of text/plain then text/html, both charset=utf-8 and
 * quoted-printable (lines of at most 76 characters). A line end in text or html ("\n" or
 * "\r\n") is a line end of the part; CRLF line ends throughout; the boundary is random and
 * cannot occur in the encoded parts.
 * from and to: 1..320 bytes of UTF-8, no CR, LF, NUL or other control character, no space, and
 * none of < > , ; " ( ) (SRV_EINVAL: header injection). subject, text and html: UTF-8
 * (SRV_EINVAL). message_id: 1..255 bytes of printable ASCII without spaces, < or > (SRV_EINVAL).
 * date: 0 to 253402300799 (year 9999; SRV_EINVAL). SRV_ENOMEM, SRV_ERUNTIME (no randomness).
 * *out malloc'd (free()), NUL-terminated, *len its length; NULL and 0 on an error. */
int srv_mail_compose(const char *from, const char *to, const char *subject, const char *text,
                     const char *html, const char *message_id, int64_t date, char **out,
                     size_t *len);

/* ---- mail through the outbox (mailer.c) ----
 * A message is composed, sealed and stored in the write transaction of the change that causes
 * it (srv_mail_enqueue), so both commit or neither does. One sender thread per node delivers
 * what is due: it claims a message for a lease, sends it with srv_smtp_send outside any
 * transaction, then deletes it, or puts it back due after smtp_retry_base·2^n seconds (an hour
 * at most) until smtp_max_attempts tries failed, when it is dropped and audited (mail.dropped).
 * A lease keeps other nodes off a message while it is sent. A sender that dies between the
 * server's "250 OK" and the delete sends the message again once its lease ends: delivery is at
 * least once, and a resend carries the same Message-ID (<outbox id@issuer host>), by which mail
 * clients show it once. */
struct srv_mailer;
/* Starts ctx->mailer when smtp_url is set; without it nothing (ctx->mailer stays NULL). */
int srv_mailer_start(struct srv_ctx *ctx);
/* Stops the thread after the message in hand and frees it. Safe without a mailer. */
void srv_mailer_stop(struct srv_ctx *ctx);
/* A message was committed: the sender looks at once instead of at its next poll. Safe without. */
void srv_mailer_wake(struct srv_ctx *ctx);
/* In txn: renders kind for vars from ctx->mail_templates, composes it to to, seals it under
 * ctx->mail_key (the outbox id as associated data) and stores it due now. SRV_OK, or a STORE_*
 * code from the insert, or SRV_ENOMEM-like failures as STORE_ENOMEM (the transaction aborts). */
int srv_mail_enqueue(struct store_txn *txn, struct srv_ctx *ctx, enum srv_mail_kind kind,
                     const char *to, const struct srv_mail_vars *vars);
/* The host of the issuer URL, without port (Message-IDs, the app name when there is none). */
void srv_issuer_host(const char *issuer, char *out, size_t cap);

/* ---- one-time links and mail budgets (mail_links.c) ----
 * A link carries 256 random bits; only their SHA-256 is stored, with the purpose it was made
 * for, its user, the address it went to and its end. Using a link deletes it in the transaction
 * of the change it makes, so it works once; a link of one purpose is no link for another. */
/* SRV_LINK_CONFIRM confirms a registration of the App Services client API (storage's pending
 * users), which has no user yet: its owner is the registration's id. */
enum srv_link_purpose { SRV_LINK_VERIFY, SRV_LINK_RESET, SRV_LINK_CHANGE, SRV_LINK_CONFIRM };
/* "verify-email", "password-reset", "email-change", "confirm-registration": the stored
 * purpose. */
const char *srv_link_purpose_name(enum srv_link_purpose p);
/* In txn: makes a link of purpose p for owner_id (a user's id; a registration's for
 * SRV_LINK_CONFIRM) going to to (the user's email, or the new address of a change), stores its
 * hash and enqueues its message (app: the application's name for the message, NULL for the
 * issuer's host). */
int srv_link_send_txn(struct store_txn *txn, struct srv_ctx *ctx, enum srv_link_purpose p,
                      const char *owner_id, const char *to, const char *app);
/* In txn: the link token (as the user brought it) of purpose p, still in time, whose user still
 * exists (into *user; clear it with store_user_clear) and, for verification and reset, still
 * has the address the link went to; it is used up (deleted). STORE_NOTFOUND for any link that
 * does not qualify, with nothing said about why; other STORE_* codes are the store's. */
int srv_link_use_txn(struct store_txn *txn, const char *token, enum srv_link_purpose p,
                     struct store_email_token *out, struct store_user *user);
/* In txn: counts a message to the address whose key is email_key and, when client_ip is not
 * NULL, a mail-sending request from that client address (its /64 for IPv6), each in fixed hour
 * windows; *allowed = 0 when either is over its budget (mail_per_address, mail_per_client).
 * Called the same way whether the address has an account or not, so both cost the same write. */
int srv_mail_budget_txn(struct store_txn *txn, struct srv_ctx *ctx, const char *email_key,
                        const char *client_ip, int *allowed);

/* ---- access-list CIDRs (cidr.c) ---- */

/* Parses "a.b.c.d/len", an IPv6 address "/len", or a bare address (/32, /128). The host bits
 * must be zero ("10.0.0.0/8", not "10.1.2.3/8"). An IPv4-mapped IPv6 network of /96 or longer
 * (::ffff:a.b.c.d/len) is read as its IPv4 network. Returns 1, or 0 with *why (static text). */
int srv_cidr_parse(const char *text, struct srv_cidr *out, const char **why);
/* The canonical text: "10.0.0.0/8", "2001:db8::/32" (fits STORE_CIDR_MAX). */
void srv_cidr_format(const struct srv_cidr *c, char out[STORE_CIDR_MAX]);
/* 1 when the textual address ip is inside c; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * compared as IPv4. */
int srv_cidr_contains(const struct srv_cidr *c, const char *ip);
/* The address as counted by per-address budgets and shares: IPv4 as is, IPv6 as its /64
 * ("2001:db8:1:2::/64"), which one host usually holds whole. */
void srv_addr_group(const char *ip, char out[64]);

/* ---- tokens (tokens.c, token_verify.c) ---- */

struct srv_principal {
    const char *sub;            /* user or service-account id */
    const char *principal_type; /* "user" | "service_account" */
    const char *client_id;
    const char *scope; /* NULL when none */
    const char *audience;
    char (*roles)[STORE_ROLE_MAX];
    size_t nroles;
    /* users only */
    const char *sid;
    int64_t auth_time;
    const char *amr; /* "pwd", "anon" */
    /* the App Services client API's claims (NULL in every other token): user_data, the user's
     * metadata as a JSON object text, and baas_device_id */
    const char *user_data;
    const char *device_id;
};

struct srv_issued_token {
    char *access_token; /* malloc'd */
    char jti[64];
    int64_t iat;
    int64_t exp;
};

/* Mints and signs an RFC 9068 access token. */
int srv_token_issue(struct srv_ctx *ctx, const struct srv_principal *p,
                    struct srv_issued_token *out);
/* Mints an OIDC ID token (typ JWT) for u, audience client_id. *out is malloc'd. */
int srv_id_token_issue(struct srv_ctx *ctx, const struct store_user *u, const char *client_id,
                       const char *sid, int64_t auth_time, const char *nonce, char **out);

enum srv_token_state {
    SRV_TOKEN_ACTIVE = 0,
    SRV_TOKEN_INVALID, /* not ours: bad format, alg, kid, signature, typ, issuer */
    SRV_TOKEN_EXPIRED,
    SRV_TOKEN_REVOKED,      /* jti on the denylist */
    SRV_TOKEN_NO_PRINCIPAL, /* principal deleted or disabled, or its session ended */
    SRV_TOKEN_UNAVAILABLE,  /* the store could not be read: answer 503, decide nothing */
    SRV_TOKEN_AUDIENCE      /* good, but minted for another resource server than the one asked */
};

/* Verifies an access token idpd issued and checks it is still good: signature and alg by keys/,
 * typ at+jwt, iss, exp, denylist, and that its principal still exists and is enabled.
 * audience, when not NULL, is the one `aud` the caller serves (idpd's own API passes the issuer):
 * a token minted for another resource server is SRV_TOKEN_AUDIENCE, checked before the store is
 * read. Introspection and revocation pass NULL: they answer for every audience idpd serves.
 * On SRV_TOKEN_ACTIVE and SRV_TOKEN_REVOKED/EXPIRED *claims (may be NULL) receives the claims
 * (json_decref). */
enum srv_token_state srv_token_check(struct srv_ctx *ctx, const char *token, size_t len,
                                     const char *audience, json_t **claims);

/* ---- roles (roles.c) ---- */

/* Role strings: NAME or NAME@scope, printable ASCII, no spaces, 1..128 bytes. */
int srv_role_valid(const char *role);
/* Sorts roles in byte order (de-duplication is the caller's). */
void srv_roles_sort(char (*roles)[STORE_ROLE_MAX], size_t n);
/* A principal's effective roles: direct grants, plus (users) those of every team it belongs to;
 * sorted, de-duplicated; *roles is malloc'd (free()). */
int srv_effective_roles(struct store_txn *txn, const char *principal_type, const char *id,
                        char (**roles)[STORE_ROLE_MAX], size_t *n);

/* ---- users and sessions as the APIs show them (views.c) ---- */

/* A user as the API shows it: id, email, name, status, anonymous, created_at, updated_at,
 * metadata, and identities (id, provider, created_at) when idns is not NULL. */
json_t *srv_user_json(const struct store_user *u, const struct store_identity *idns, size_t n);
/* A session as the API shows it; current marks the caller's own. */
json_t *srv_session_json(const struct store_session *s, int current);

#endif
