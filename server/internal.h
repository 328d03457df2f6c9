/* server/ private definitions shared by its files. Never included outside server/.
 * Only http.c includes microhttpd.h; everything else sees struct srv_request through the
 * accessors declared here. */
#ifndef IDPD_SERVER_INTERNAL_H
#define IDPD_SERVER_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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
    SRV_ENOMEM
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
    char admin_allow[2048]; /* comma-separated CIDRs that may reach /admin/v1; "" = any */
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

/* ---- worker pool (workers.c): Argon2 off the HTTP threads ---- */

struct srv_workers;
struct srv_workers_config {
    unsigned threads, queue_cap;
    unsigned per_source;  /* slots one source (client address) may hold; 0 = queue_cap */
    unsigned per_account; /* slots one account may hold; 0 = queue_cap */
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

/* ---- decoded service accounts for client authentication (client_cache.c) ---- */

/* What client authentication reads about a service account and its matching secret. */
struct srv_client_record {
    struct store_service_account sa; /* owned */
    char secret_id[STORE_ID_MAX];
    char phc[STORE_PHC_MAX];
    int64_t secret_last_used_at;
};
struct srv_client_cache;
int srv_client_cache_new(struct srv_client_cache **out);
void srv_client_cache_free(struct srv_client_cache *c);
/* 1 and a copy in *out (clear out->sa) when the cache holds client_id's record for a secret with
 * this hint, read at exactly this store generation, and the secret is live at now; else 0. */
int srv_client_cache_get(struct srv_client_cache *c, uint64_t generation, const char *client_id,
                         const char *hint, int64_t now, struct srv_client_record *out);
/* Remembers rec (copied) as read at generation, for a secret with this hint and expiry. */
void srv_client_cache_put(struct srv_client_cache *c, uint64_t generation, const char *hint,
                          int64_t secret_expires_at, const struct srv_client_record *rec);

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
    struct srv_secret_cache *secret_cache;
    struct srv_client_cache *client_cache;
    struct srv_rate_limiter *rate_limiter;
    char dummy_phc[CRYPTO_PHC_MAX]; /* verified against when the client is unknown */
    char issuer[1024];              /* cfg->issuer, or http://HOST:PORT once the port is bound */
    uint8_t cursor_key[32];         /* authenticates list cursors; per process */
    struct srv_http *http;
    struct srv_audit_queue *audit_queue; /* NULL: srv_audit_enqueue() writes at once */
};

/* Opens (creating when absent) the data folder: store, master key, signing keys. Used by serve
 * and by every CLI command that takes --data. Prints a clear message and returns SRV_ERUNTIME
 * when the folder cannot be used. */
int srv_ctx_open(struct srv_ctx *ctx, const struct srv_config *cfg);
/* Adds what only the server needs: workers, cache, dummy hash, pre-rendered documents. */
int srv_ctx_start_serving(struct srv_ctx *ctx);
void srv_ctx_close(struct srv_ctx *ctx);

int64_t srv_now(void);   /* unix seconds */
double srv_now_ms(void); /* monotonic milliseconds, for durations */

/* Opaque refresh token: 256 random bits in base64url, NUL included. SSO cookies and CSRF tokens
 * have the same shape. */
#define SRV_REFRESH_LEN 44

/* ---- HTTP requests (http.c owns libmicrohttpd) ---- */

struct srv_request;
typedef void (*srv_handler)(struct srv_request *rq);

/* SRV_AUTH_PAGE: a page a browser navigates to, or whose form it posts (its forms carry CSRF
 * tokens, logout a signed ID token). Navigations are not CORS requests: an RP posts its logout
 * form from its own origin, so the CORS admission does not apply there. */
enum srv_auth { SRV_AUTH_NONE, SRV_AUTH_CLIENT, SRV_AUTH_BEARER, SRV_AUTH_PAGE };

struct srv_route {
    const char *method;
    const char *path; /* "/jwks"; "{x}" segments match one path segment */
    enum srv_auth auth;
    srv_handler handler;
};

/* The static route table (router.c). */
extern const struct srv_route srv_route_table[];
extern const size_t srv_route_count;
/* Finds the route for method and path. *path_known = 1 when some other method matches. */
const struct srv_route *srv_route_find(const char *method, const char *path, int *path_known);
/* Writes the methods routed for path, "GET, POST", into buf (for the Allow header). */
void srv_route_allow(const char *path, char *buf, size_t cap);
/* Copies the n-th "{…}" segment of path (matched against pattern) into out. 0 when there is no
 * such segment or it does not fit. */
int srv_route_param(const char *pattern, const char *path, size_t n, char *out, size_t cap);

struct srv_ctx *srv_rq_ctx(struct srv_request *rq);
const char *srv_rq_method(struct srv_request *rq);
const char *srv_rq_path(struct srv_request *rq);
const char *srv_rq_header(struct srv_request *rq, const char *name); /* borrowed; NULL if absent */
const char *srv_rq_client_ip(struct srv_request *rq);
const char *srv_rq_cookie(struct srv_request *rq, const char *name); /* borrowed; NULL if absent */
/* The collected body (NUL-terminated; may contain NULs) and its length. */
const char *srv_rq_body(struct srv_request *rq, size_t *len);
/* Names the client in the request's log line (copied). Never pass a secret. */
void srv_rq_log_client(struct srv_request *rq, const char *client_id);
/* Per-request state of the handler, released with free_fn when the request ends. */
void *srv_rq_state(struct srv_request *rq);
void srv_rq_set_state(struct srv_request *rq, void *state, void (*free_fn)(void *state));
/* The n-th path parameter of the matched route (see srv_route_param), or "" when absent. */
void srv_rq_param(struct srv_request *rq, size_t n, char *out, size_t cap);
/* 1 when errors of this route are RFC 6749 ({"error":…}), 0 for problem+json. */
int srv_rq_oauth(struct srv_request *rq);

/* Answers to this request carry Access-Control-Allow-Origin: origin (copied; NULL: not). */
void srv_rq_set_cors_origin(struct srv_request *rq, const char *origin);

/* ---- pages (html.c) ---- */

/* A growing HTML text; failed is set when memory ran out (the reply is then a 500). */
struct srv_html {
    char *buf;
    size_t len, cap;
    int failed;
    char csrf_cookie[256]; /* Set-Cookie of a new CSRF token (srv_html_form), or "" */
};
/* Appends markup as it is: literals only, never text from a request. */
void srv_html_raw(struct srv_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text, escaped for element content and quoted attribute values. */
void srv_html_text(struct srv_html *h, const char *s);
/* <input type="hidden" name=name value=value> (nothing when value is NULL). */
void srv_html_hidden(struct srv_html *h, const char *name, const char *value);
/* The error of a form, announced to screen readers (role=alert, id=error); nothing for NULL. */
void srv_html_error(struct srv_html *h, const char *error);
void srv_html_free(struct srv_html *h);
/* Answers a page titled title around body (freed), no-store, with a policy that forbids scripts
 * and framing, and the Set-Cookie of body's new CSRF token if it has one; extra_headers as
 * srv_reply(). */
void srv_reply_page(struct srv_request *rq, unsigned status, const char *title,
                    struct srv_html *body, const char *const *extra_headers);
/* A page with one message, for errors the browser's user must read. */
void srv_reply_page_message(struct srv_request *rq, unsigned status, const char *title,
                            const char *message);

/* ---- authorization requests (authorize.c, login_page.c, consent.c) ---- */

/* An authorization request (RFC 6749 §4.1.1, PKCE, OIDC Core §3.1.2.1) as GET /oauth/authorize
 * takes it and the login and consent forms carry it. The strings are borrowed from the query or
 * form; app is the client's record. */
struct srv_authz {
    const char *client_id, *redirect_uri, *response_type, *scope, *state, *nonce, *code_challenge,
        *code_challenge_method, *prompt, *login_hint, *max_age;
    struct store_application app;
};
/* A source of request parameters: the value of name, NULL when absent, or SRV_PARAM_REPEATED. */
typedef const char *(*srv_param_fn)(struct srv_request *rq, void *src, const char *name);
extern const char srv_param_repeated[];
#define SRV_PARAM_REPEATED srv_param_repeated
/* Reads and checks a request: SRV_OK to go on; SRV_ERESPONDED when it answered, with a page
 * while the client or its redirect URI is not trusted, afterwards with a redirect carrying
 * error, error_description, state and iss. */
int srv_authz_read_or_answer(struct srv_request *rq, struct srv_authz *a, srv_param_fn get,
                             void *src);
/* The start of POST /login and POST /consent: the form, its CSRF token, and the authorization
 * request it carries, read and checked into call->authz. NULL when it answered. */
struct srv_oauth_call *srv_authz_form_begin_or_answer(struct srv_request *rq);
/* 1 when the request's prompt holds value ("none", "login", "consent"). */
int srv_authz_prompt_has(const struct srv_authz *a, const char *value);
/* What a checked request gets next: the login page, the consent page, or a code. */
void srv_authz_continue(struct srv_request *rq, const struct srv_authz *a);
/* Redirects with an error (RFC 6749 §4.1.2.1) / with a new code bound to the browser session. */
void srv_authz_reply_error(struct srv_request *rq, const struct srv_authz *a, const char *error,
                           const char *desc);
void srv_authz_issue_code(struct srv_request *rq, const struct srv_authz *a,
                          const struct store_session *browser);
/* The request as hidden fields of a form; as a /oauth/authorize URL (malloc'd), prompt and
 * max_age left out unless with_prompt. */
void srv_authz_hidden(struct srv_html *h, const struct srv_authz *a);
int srv_authz_url(const struct srv_authz *a, int with_prompt, char **out);
/* Appends s percent-encoded (all but RFC 3986 unreserved characters), for a URL's query. */
void srv_url_escape(struct srv_html *u, const char *s);
/* 303 See Other to location, no-store, with a Set-Cookie value when set_cookie is not NULL. */
void srv_reply_redirect(struct srv_request *rq, const char *location, const char *set_cookie);
/* The login page of the request (login_page.c); error (may be NULL) is shown above the form. */
void srv_reply_login_page(struct srv_request *rq, const struct srv_authz *a, unsigned status,
                          const char *error);
/* The one message every page shows for a wrong email or password. */
extern const char srv_page_bad_credentials[];
/* The consent page of the request (consent.c). */
void srv_reply_consent_page(struct srv_request *rq, const struct srv_authz *a);

/* ---- the browser's single sign-on and the pages' CSRF tokens (browser_session.c) ---- */

/* The SSO cookie's name: __Host-idpd_session on HTTPS, idpd_session on plain HTTP. */
const char *srv_browser_cookie_name(struct srv_request *rq);
/* 1 when the request's SSO cookie names a live browser session of an active user: fills s and u
 * (clear u with store_user_clear()). 0 otherwise (s and u empty). */
int srv_browser_session_get(struct srv_request *rq, struct store_session *s, struct store_user *u);
/* Fills a new browser session of user_id, signed in through client_id with a password, and
 * its cookie's value (the session's "refresh token"). Writes nothing. */
int srv_browser_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                            struct store_session *s, char cookie[SRV_REFRESH_LEN]);
/* A new login (fresh, stored) replaces the browser session the request's cookie still names:
 * that one ends. Another user's takes the sessions made through it along; the same user's
 * (prompt=login) hands them to fresh, so signing in again signs no application out. */
void srv_browser_session_replace(struct srv_request *rq, const struct store_session *fresh);
/* The Set-Cookie value that gives the browser its session secret value, or clears it (NULL). */
void srv_browser_cookie(struct srv_request *rq, const char *value, char *out, size_t cap);
/* Opens <form method="post" action=action> carrying the browser's CSRF token: its cookie's, or
 * a new one whose Set-Cookie goes into h->csrf_cookie for srv_reply_page(). SRV_OK; otherwise
 * it answered a 500 page and freed h. */
int srv_html_form(struct srv_request *rq, struct srv_html *h, const char *action);
/* 1 when form_value equals the browser's CSRF cookie (constant time). */
int srv_csrf_valid(struct srv_request *rq, const char *form_value);

/* ---- cross-origin requests (cors.c) ---- */

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) of a routed path:
 * answers it (204 when some application allows the origin and the route takes the method and
 * headers) and returns 1; 0 for any other request. */
int srv_cors_preflight(struct srv_request *rq);
/* Before the handler: 1 to go on (no Origin, the issuer's own, or one that some application
 * allows, which the answer will name); 0 when it answered a refusal. */
int srv_cors_admit(struct srv_request *rq);
/* Once the request names its client: 1 when it is not cross-origin or client_id's application
 * allows its origin; 0 when it answered a refusal (400 invalid_request on /oauth/, else 403). */
int srv_cors_client_or_error(struct srv_request *rq, const char *client_id);

/* Answers the request. body is copied. extra_headers: NULL-terminated name, value pairs. */
void srv_reply(struct srv_request *rq, unsigned status, const char *content_type, const char *body,
               size_t len, const char *const *extra_headers);
/* Answers JSON (takes a reference to body and releases it). */
void srv_reply_json(struct srv_request *rq, unsigned status, json_t *body,
                    const char *const *extra_headers);
/* RFC 9457 problem+json: {"type":"about:blank","title":<reason>,"status":…,"detail":…}. */
void srv_reply_problem(struct srv_request *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* RFC 6749 §5.2 error: {"error":…,"error_description":…}, Cache-Control: no-store.
 * invalid_client answers 401 with WWW-Authenticate. */
void srv_reply_oauth_error(struct srv_request *rq, unsigned status, const char *error,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* ---- the brute-force defence of password logins (login_guard.c) ----
 * Failures are counted in the store (a restart forgets nothing), in three budgets: per login name
 * and address (the lockout proper), per address across names, and per account across addresses.
 * IPv6 addresses count by their /64. */
#define SRV_LOGIN_KEY_LEN 64 /* hex of SHA-256 */
struct srv_login_guard {
    char pair[SRV_LOGIN_KEY_LEN + 1];    /* (name, address): no name or address in clear */
    char address[SRV_LOGIN_KEY_LEN + 1]; /* the address (its /64) */
    char account[SRV_LOGIN_KEY_LEN + 1]; /* the name */
};
/* The keys of a login as email from ip (the request's client address). */
void srv_login_guard_init(struct srv_login_guard *g, const char *email, const char *ip);
/* The seconds (rounded up) an attempt must still wait before it may be checked: the longest of
 * the pair's wait, the address's, and the account's when this address already failed on it (so
 * the owner elsewhere is never slowed by it). 0 when none applies (also when the store cannot be
 * read, which the next write reports). One read transaction. */
int64_t srv_login_guard_wait(struct srv_request *rq, const struct srv_login_guard *g);
/* In the transaction of a failed attempt: counts it in every budget and, past a threshold, sets
 * the wait (audited as user.lockout with user_id, which may be NULL). */
int srv_login_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                               const struct srv_login_guard *g, const char *user_id);
/* In the transaction of a success: forgets the pair's failures. The address and account budgets
 * are not reset by a success (an attacker would log in to an account of their own between
 * guesses); they forget one failure a minute. */
int srv_login_guard_succeeded_txn(struct store_txn *txn, const struct srv_login_guard *g);
/* The address as counted: IPv4 as is, IPv6 as its /64 ("2001:db8:1:2::/64"). */
void srv_addr_group(const char *ip, char out[64]);

/* Wrong user codes on the device page (RFC 8628 §5.1) count per address and per browser (its
 * CSRF token) like failed logins, and in one total: a device request fails once
 * device_code_guess_max wrong codes were tried anywhere since it began, so no one can search the
 * code space while it waits. */
struct srv_code_guard {
    char address[SRV_LOGIN_KEY_LEN + 1];
    char browser[SRV_LOGIN_KEY_LEN + 1]; /* "" without a CSRF cookie */
    char total[SRV_LOGIN_KEY_LEN + 1];
};
void srv_code_guard_init(struct srv_code_guard *g, const char *ip, const char *browser);
/* The seconds the address or the browser must still wait before a code is looked at; 0 for none. */
int64_t srv_code_guard_wait(struct srv_request *rq, const struct srv_code_guard *g);
/* In the transaction of a wrong code: counts it (address, browser, total) and audits it. */
int srv_code_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                              const struct srv_code_guard *g);
/* The total of wrong codes so far, inside a transaction (0 when none was counted). */
int srv_device_guesses(struct store_txn *txn, uint64_t *total);
/* 1 when d has seen device_code_guess_max wrong codes since it began: it is over. */
int srv_device_guessed_out(const struct srv_config *cfg, const struct store_device_code *d,
                           uint64_t total);

/* ---- per-address rate limits (rate_limit.c) ---- */
enum srv_rate { SRV_RATE_TOKEN = 1, SRV_RATE_INTROSPECT, SRV_RATE_REGISTER, SRV_RATE_KINDS };
struct srv_rate_limiter;
int srv_rate_limiter_new(const struct srv_config *cfg, struct srv_rate_limiter **out);
void srv_rate_limiter_free(struct srv_rate_limiter *l);
/* Takes one token from the caller's bucket for kind; when it is empty answers 429 with
 * Retry-After and returns 1 (the caller stops), else returns 0. */
int srv_rate_limited_reply(struct srv_request *rq, enum srv_rate kind);

/* 429 Too Many Requests with Retry-After (at least 1 s): RFC 6749 shape (temporarily_unavailable)
 * on the OAuth endpoints, problem+json elsewhere. */
void srv_reply_too_many(struct srv_request *rq, int64_t retry_after, const char *why);
/* Answers one of the shared pre-rendered documents (built once, answered many times). */
enum srv_cached { SRV_CACHED_DISCOVERY, SRV_CACHED_JWKS };
void srv_reply_cached(struct srv_request *rq, enum srv_cached which);

/* Runs work(rq) on a worker thread with the connection suspended, then cont(rq) back on an HTTP
 * thread, in the fair turn of the client's address (workers.c). Answers itself 503 + Retry-After
 * when the worker queue is full, and 429 + Retry-After when the address holds its share. */
void srv_defer(struct srv_request *rq, void (*work)(struct srv_request *rq), srv_handler cont);
/* srv_defer() for work about one account (a login name, normalised): the account's share is
 * bounded too, so a storm at one account from many addresses is answered 429. */
void srv_defer_for(struct srv_request *rq, const char *account,
                   void (*work)(struct srv_request *rq), srv_handler cont);

/* The listener. */
struct srv_http;
/* Binds cfg->listen_host:port and starts the thread pool. Prints why on failure. */
int srv_http_start(struct srv_ctx *ctx, struct srv_http **out);
/* The port actually bound (useful with --listen 127.0.0.1:0). */
unsigned srv_http_port(struct srv_http *h);
/* Stops accepting, lets deferred work finish, then stops the threads. */
void srv_http_stop(struct srv_http *h);
/* libmicrohttpd's version string. */
const char *srv_http_version(void);
/* Re-renders the JWKS response from the key ring (after a rotation). */
int srv_http_refresh_jwks(struct srv_http *h);

/* ---- connection guard (conn_guard.c): deadlines and admission for open connections ---- */

struct sockaddr;
struct srv_conn_guard;
struct srv_conn; /* one open connection */

/* Starts the reaper thread, which shuts down connections past their deadline every 250 ms.
 * Free with srv_conn_guard_stop(), only once no connection is open any more. */
int srv_conn_guard_start(const struct srv_config *cfg, struct srv_conn_guard **out);
void srv_conn_guard_stop(struct srv_conn_guard *g); /* NULL is fine */
/* Whether a new connection from sa may be served: always while the table has room; near full,
 * only when its address holds few connections, and then the slowest waiting connection is
 * shut down to make room. */
int srv_conn_guard_admit(struct srv_conn_guard *g, const struct sockaddr *sa);
/* A connection on socket fd opened (its headers deadline starts) or closed. fd must stay open
 * until srv_conn_close() has returned: the reaper may shutdown() it until then. The result
 * (NULL when out of memory: the connection is then not guarded) is freed by srv_conn_close(). */
struct srv_conn *srv_conn_open(struct srv_conn_guard *g, int fd, const struct sockaddr *sa);
void srv_conn_close(struct srv_conn *c);
/* The phases of a connection's requests, from its own HTTP thread; each takes NULL. Headers are
 * in (a body may follow); n more body bytes arrived; the request is being answered (no
 * deadline); the answer went out and the next request's headers are awaited. */
void srv_conn_body_begin(struct srv_conn *c);
void srv_conn_body_received(struct srv_conn *c, size_t n);
void srv_conn_handling(struct srv_conn *c);
void srv_conn_idle(struct srv_conn *c);

/* ---- request parsing (form.c, client_auth.c) ---- */

#define SRV_FORM_MAX_PARAMS 32

struct srv_form {
    size_t n;
    char *names[SRV_FORM_MAX_PARAMS];
    char *values[SRV_FORM_MAX_PARAMS]; /* NUL-terminated, valid UTF-8 */
};

/* Parses an application/x-www-form-urlencoded body into form (empty pairs skipped). SRV_EINVAL
 * with the reason in why on a bad escape, invalid UTF-8 or a NUL, a repeated parameter or more
 * than SRV_FORM_MAX_PARAMS; SRV_ENOMEM. form holds nothing then. */
int srv_form_parse(const char *body, size_t len, struct srv_form *form, char *why, size_t cap);
/* srv_form_parse() of the request's body, which must be of the form type; answers
 * invalid_request itself when it is not. */
int srv_form_parse_or_error(struct srv_request *rq, struct srv_form *form);
/* The credentials of an Authorization header of the Basic scheme (RFC 7617), the part after
 * "Basic ": standard padded base64 of form-encoded id ":" form-encoded secret (RFC 6749
 * §2.3.1). On SRV_OK, *id (UTF-8) and *secret are new NUL-terminated strings (free() them; wipe
 * the secret) of *id_len and *secret_len bytes. SRV_EINVAL when it is malformed, SRV_ENOMEM;
 * nothing is allocated then. */
int srv_basic_parse(const char *credentials, char **id, size_t *id_len, char **secret,
                    size_t *secret_len);
void srv_form_free(struct srv_form *form);
/* The value of name, or NULL when absent or empty (RFC 6749 §3.1: empty = omitted). */
const char *srv_form_get(const struct srv_form *form, const char *name);

/* Percent-decodes s[0..len) ('+' is a space) into a new string; NULL on a bad escape. */
char *srv_urldecode(const char *s, size_t len, size_t *outlen);
/* 1 when s[0..len) is valid UTF-8 without NUL bytes. */
int srv_utf8_valid(const char *s, size_t len);

/* ---- a compact JSON writer for hot paths (json_out.c) ----
 * Start from a zeroed struct; open the top-level object with srv_jw_object(w, NULL). Members
 * take a key inside objects and NULL inside arrays. Any failure (no memory, invalid UTF-8, a
 * NULL string, unbalanced nesting) is remembered and makes srv_jw_finish() return NULL. */
#define SRV_JW_DEPTH 8
struct srv_jw {
    char *buf;
    size_t len, cap;
    unsigned depth;
    unsigned count[SRV_JW_DEPTH]; /* members written so far at each level */
    int failed;
};
void srv_jw_object(struct srv_jw *w, const char *key);
void srv_jw_array(struct srv_jw *w, const char *key);
void srv_jw_close(struct srv_jw *w, char bracket); /* '}' or ']' */
void srv_jw_string(struct srv_jw *w, const char *key, const char *value);
void srv_jw_int(struct srv_jw *w, const char *key, int64_t value);
void srv_jw_bool(struct srv_jw *w, const char *key, int value);
/* The document (malloc'd, NUL-terminated; *len may be NULL), or NULL after any failure. Resets w
 * either way. */
char *srv_jw_finish(struct srv_jw *w, size_t *len);

/* ---- OAuth client authentication (client_auth.c) ---- */

#define SRV_SECRET_PREFIX "idpsec_"
#define SRV_SECRET_MAX 256 /* longest client secret looked at */

enum srv_client_kind { SRV_CLIENT_SERVICE_ACCOUNT = 1, SRV_CLIENT_APPLICATION = 2 };

struct srv_client {
    char id[STORE_ID_MAX];
    char *secret; /* owned, wiped when the call ends; NULL for a public application */
    size_t secret_len;
    char secret_id[STORE_ID_MAX];    /* the record the secret is checked against, "" if none */
    char phc[STORE_PHC_MAX];         /* its hash, or the dummy hash */
    int verified;                    /* Argon2 said yes */
    int64_t secret_last_used_at;     /* the stored last_used_at of secret_id (0 = never) */
    int kind;                        /* enum srv_client_kind, once authenticated */
    struct store_service_account sa; /* kind SERVICE_ACCOUNT */
    struct store_application app;    /* kind APPLICATION */
};

/* What a user grant carries across its Argon2 suspension. */
/* How a password login answers (password_login.c): the token endpoint in JSON, the login page
 * in HTML. */
struct srv_password_ops {
    /* a wrong email or password, or a disabled user (already audited and counted) */
    void (*refused)(struct srv_request *rq);
    /* the (name, address) pair waits wait more seconds: nothing was checked */
    void (*locked)(struct srv_request *rq, int64_t wait);
    /* the store failed */
    void (*unavailable)(struct srv_request *rq);
    /* the password is right: fill the session to make for user_id (SRV_OK), or answer */
    int (*session)(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN]);
    /* the session is stored: answer with it */
    void (*done)(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh);
};

struct srv_login {
    const struct srv_password_ops *ops;
    const char *password;           /* borrowed from the call's form */
    struct store_user user;         /* owned: clear with store_user_clear() */
    struct store_identity identity; /* the local-userpass identity logged in with */
    int found;                      /* identity and user exist */
    int verified;                   /* the password matched */
    char new_phc[STORE_PHC_MAX];    /* a re-hash under the current parameters, or "" */
    struct srv_login_guard guard;   /* its failed-login budgets */
};

/* Logs the user of email in with password, answering through ops; the request's state must be
 * a struct srv_oauth_call (srv_oauth_call_begin_or_error), whose login member it uses. */
void srv_password_login(struct srv_request *rq, const char *email, const char *password,
                        const struct srv_password_ops *ops);

/* One call to an OAuth endpoint: its form and client, kept across the Argon2 suspension. */
struct srv_oauth_call {
    struct srv_form form;
    struct srv_client client;
    srv_handler next;
    struct srv_login login;
    char audience[1024];     /* the aud of the tokens this call issues, checked before any work */
    struct srv_authz *authz; /* the login and consent forms: their authorization request */
    struct store_device_code *device; /* the device page: the request it approves */
};

/* 1 when the caller is an application allowed to use grant; otherwise answers
 * unauthorized_client itself and returns 0. */
int srv_app_allows_or_error(struct srv_request *rq, const struct srv_client *c, const char *grant);

/* Parses the form body into a call owned by rq (srv_rq_state). NULL when it answered an error. */
struct srv_oauth_call *srv_oauth_call_begin_or_error(struct srv_request *rq);
/* Authenticates the caller, then calls next(rq) with call->client filled: a service account or
 * a confidential application by its secret (client_secret_basic or client_secret_post), a public
 * application by its client_id alone (auth method none). Answers invalid_client (401) or
 * invalid_request itself. An unknown client costs the same Argon2 run as a wrong secret. */
void srv_client_authenticate(struct srv_request *rq, srv_handler next);

/* The SHA-256 hint stored beside a secret's hash: 8 hex chars of SHA-256(secret). */
void srv_secret_hint(const char *secret, size_t len, char hint[9]);

/* ---- service-account secrets (secrets.c) ---- */

/* "idpsec_" + base64url of 256 random bits, NUL included. */
#define SRV_SECRET_LEN (sizeof SRV_SECRET_PREFIX - 1 + 43 + 1)
#define SRV_SECRET_HOURS_DEFAULT 2160
#define SRV_SECRET_HOURS_MIN 8
#define SRV_SECRET_HOURS_MAX 8760

/* Makes a new secret for account sa_id: the plain value into secret (shown once, then wiped by
 * the caller) and its record (id, Argon2id hash, hint, mask, times) into rec. Runs Argon2. */
int srv_secret_new(const struct crypto_argon2_params *params, const char *sa_id,
                   int64_t expires_in_hours, struct store_secret *rec, char secret[SRV_SECRET_LEN]);

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
/* 1 when app as a whole may be stored (a valid name, at least one grant type, a redirect URI
 * when it uses authorization_code); 0 and why. */
int srv_app_check(const struct store_application *app, char *why, size_t cap);
/* Makes the secret of confidential application app (whose id is set): the plain value into
 * secret (shown once; the caller wipes it), its hash and hint into app. Runs Argon2. */
int srv_app_secret_new(const struct crypto_argon2_params *params, struct store_application *app,
                       char secret[SRV_SECRET_LEN]);

/* ---- JSON bodies (json_body.c) ---- */

/* Parses a JSON text into an object whose members are all named in fields (a NULL-terminated
 * list); *out is a new reference. SRV_EINVAL with the reason in why when the text nests deeper
 * than depth_max or holds a string longer than string_max (both seen by a scan before parsing),
 * or is malformed JSON, invalid UTF-8, has duplicate members, is not an object, or has unknown
 * members (named). */
int srv_json_parse(const char *body, size_t len, const char *const *fields, size_t depth_max,
                   size_t string_max, json_t **out, char *why, size_t cap);
/* srv_json_parse() of the request's application/json body under json_depth_max and
 * json_string_max. Answers 400/415 problem+json itself. */
int srv_json_parse_or_error(struct srv_request *rq, const char *const *fields, json_t **out);
/* Reads member name as a string of 1..max bytes (valid UTF-8 by construction of jansson).
 * required: 400 when absent. *out is borrowed from obj (NULL when absent and optional). */
int srv_json_string_or_error(struct srv_request *rq, json_t *obj, const char *name, int required,
                             size_t max, const char **out);

/* ---- bearer callers of the self-service API (bearer.c) ---- */

struct srv_user_caller {
    json_t *claims;      /* owned: the verified access-token claims */
    const char *user_id; /* borrowed from claims */
    const char *sid;
    const char *client_id;
};

/* Authenticates "Authorization: Bearer <access token>" as a user whose token, session and
 * account are all still good. Answers 401 (with WWW-Authenticate, RFC 6750) or 403 (a token of
 * a service account) as problem+json itself. Release with srv_user_caller_clear(). */
int srv_bearer_user_or_error(struct srv_request *rq, struct srv_user_caller *out);
/* Answers 401 problem+json with WWW-Authenticate: Bearer realm="idpd"[, error="<error>"]. */
void srv_reply_bearer_challenge(struct srv_request *rq, const char *error, const char *detail);
void srv_user_caller_clear(struct srv_user_caller *c);

/* A user as the API shows it: id, email, name, status, anonymous, created_at, updated_at,
 * metadata, and identities (id, provider, created_at) when idns is not NULL. */
json_t *srv_user_json(const struct store_user *u, const struct store_identity *idns, size_t n);
/* A session as the API shows it; current marks the caller's own. */
json_t *srv_session_json(const struct store_session *s, int current);

/* ---- admin API (admin.c; resources in admin_*.c) ---- */

/* What an admin route needs (DESIGN.md §4): the built-in roles that satisfy each. */
enum srv_admin_need {
    SRV_NEED_READ,        /* idp:admin, idp:user-admin, idp:auditor: read users, teams, SAs… */
    SRV_NEED_USERS_WRITE, /* idp:admin, idp:user-admin: change users, sessions, teams, members */
    SRV_NEED_ADMIN,       /* idp:admin: service accounts, applications, keys */
    SRV_NEED_AUDIT_READ,  /* idp:admin, idp:auditor: the audit log */
};

struct srv_admin_caller {
    char id[STORE_ID_MAX]; /* usr_… or sa_…: the actor of audit events */
    int is_admin;          /* holds idp:admin (may grant idp:* roles) */
};

/* Authenticates a bearer access token of a user or service account and checks, against the
 * roles the principal holds now (not the ones its token was issued with, so a revoked grant
 * takes effect at once), that it may do need. 401 / 403 problem+json otherwise. */
int srv_admin_caller_or_error(struct srv_request *rq, enum srv_admin_need need,
                              struct srv_admin_caller *out);

/* A principal's effective roles: direct grants, plus (users) those of every team it belongs to;
 * sorted, de-duplicated; *roles is malloc'd (free()). */
int srv_effective_roles(struct store_txn *txn, const char *principal_type, const char *id,
                        char (**roles)[STORE_ROLE_MAX], size_t *n);

/* Reads ?limit= (1..500, default 100) and ?after= (an opaque cursor made by srv_cursor_make for
 * the same list and filters: a cursor that was altered or made for other filters is a 400) and
 * refuses query parameters not named in allowed (NULL-terminated; limit and after are always
 * allowed). *after receives the last id of the previous page, or "". */
int srv_list_params_or_error(struct srv_request *rq, const char *const *allowed, size_t *limit,
                             char after[STORE_ID_MAX]);
/* The opaque cursor that continues the list after last_id. Bound to the path and the query
 * filters (allowed, as given to srv_list_params_or_error) of rq, authenticated with a
 * per-process key. Returns a malloc'd string. */
char *srv_cursor_make(struct srv_request *rq, const char *const *allowed, const char *last_id);
/* {"items": items, "next": cursor or null}; takes ownership of items. */
json_t *srv_list_json(json_t *items, char *next);

/* A query parameter's value (borrowed), or NULL. */
const char *srv_rq_query(struct srv_request *rq, const char *name);
/* Writes the first query parameter not in allowed into unknown; 0 when all are allowed. */
/* How many times the query names name (RFC 6749 §3.1: at most once). */
size_t srv_rq_query_count(struct srv_request *rq, const char *name);
int srv_rq_query_unknown(struct srv_request *rq, const char *const *allowed, char *unknown,
                         size_t cap);

/* Reads arr, a JSON array of role strings (validated, at most STORE_ROLES_MAX, de-duplicated,
 * sorted), as a member "roles" of a larger body. When caller is not NULL, only an idp:admin
 * caller may name idp:* roles (403); with NULL the caller checks that itself (a PUT of roles
 * compares the idp:* roles before and after). Answers 400/403 itself. *roles is malloc'd. */
int srv_roles_json_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                            json_t *arr, char (**roles)[STORE_ROLE_MAX], size_t *n);
/* Parses {"roles":[…]} (validated role strings, at most STORE_ROLES_MAX, de-duplicated).
 * Only an idp:admin caller may grant idp:* roles. *roles is malloc'd (free()). */
int srv_roles_parse_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                             char (**roles)[STORE_ROLE_MAX], size_t *n);
/* 404 problem when rc is STORE_NOTFOUND, 409 when STORE_EXISTS, 400 when STORE_EINVAL, 403 when
 * SRV_TXN_FORBIDDEN, otherwise 503; what names the resource in the detail. */
void srv_reply_store_error(struct srv_request *rq, int rc, const char *what);

/* What a transaction callback returns when the caller may not make the change: store_write()
 * aborts and passes it on, so nothing is written. Distinct from every STORE_* code. */
#define SRV_TXN_FORBIDDEN 1000

/* Privilege guard, inside a transaction: a caller without idp:admin may not act on a user who
 * holds an idp:* role (directly or through a team), nor change a team that grants one, so an
 * idp:user-admin cannot take over or lock out an admin (reset its password, disable it, put
 * itself in an admin team). STORE_OK when allowed or when the principal does not exist (the
 * caller's own code answers 404), SRV_TXN_FORBIDDEN when not. */
int srv_admin_guard_user(struct store_txn *txn, const struct srv_admin_caller *caller,
                         const char *user_id);
int srv_admin_guard_team(const struct srv_admin_caller *caller, const struct store_team *team);

/* The signing keys as the admin API and `idpd keys rotate` show them (admin_keys.c): an array
 * of {"kid","alg","state","created_at","activated_at","retire_after"}, null for a time that is
 * 0. Returns a new reference. */
json_t *srv_keys_json(const struct keys_info *items, size_t n);
/* The kid (and activated_at, may be NULL) of the ring's active key. KEYS_EKID when none. */
int srv_keys_active(struct keys *kr, char kid[KEYS_KID_MAX], int64_t *activated_at);
/* Seconds the next key must have been published before a rotation may make it sign:
 * jwks_max_age (a verifier may hold the JWKS it fetched just before the key appeared that long)
 * plus keys_refresh_interval (a process other than the one that made the key, another node or
 * the server beside `idpd keys rotate`, publishes it only at its next check). */
int64_t srv_keys_min_published(const struct srv_config *cfg);
/* Rotates the keys with the audit event of type (target: the new active kid) in the rotation's
 * own write transaction. actor, client_ip and detail may be "" or NULL. Returns enum keys_err:
 * KEYS_ETOOSOON (nothing rotated, *ready_at = the first second it may) when the next key has
 * been published for less than srv_keys_min_published() and force is 0. With force such a
 * rotation happens anyway and its audit detail says "forced" and how young the key was; a
 * forced rotation of a key published long enough is an ordinary one. */
int srv_keys_rotate_audited(struct srv_ctx *ctx, const char *type, const char *actor,
                            const char *client_ip, const char *detail, int force,
                            int64_t *ready_at);

/* ---- users (accounts.c) ---- */

#define SRV_PASSWORD_MIN 8
#define SRV_PASSWORD_MAX 1024

/* 1 when email looks like local@domain: 3..320 bytes of UTF-8, one '@' with text on both sides,
 * no spaces or control characters. Deliverability is not idpd's to judge. */
int srv_email_valid(const char *email);

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
/* Writes every queued event in one write transaction (the main loop calls it each second).
 * Events that cannot be written are logged and dropped. */
void srv_audit_flush(struct srv_ctx *ctx);

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

/* ---- user sessions (sessions.c) ---- */

/* The scope values a user grant may ask for. */
int srv_user_scope_valid_or_error(struct srv_request *rq, const char *scope);
/* The same check without an answer: SRV_EINVAL with the reason in why. */
int srv_user_scope_check(const char *scope, char *why, size_t cap);

/* Fills a new session for user_id logged in through client_id (ids, times from the configured
 * lifetimes, client IP and user agent of rq) and makes its refresh token. Writes nothing. */
int srv_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                    const char *amr, const char *scope, struct store_session *s,
                    char refresh[SRV_REFRESH_LEN]);

/* Signs the tokens of a user session and answers them: access token, refresh token, ID token
 * when the session's scope has openid. Answers server_error itself on failure. */
void srv_reply_session_tokens(struct srv_request *rq, const struct store_user *u,
                              const struct store_session *s, const char *refresh,
                              const char *nonce);

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

/* Role strings: NAME or NAME@scope, printable ASCII, no spaces, 1..128 bytes. */
int srv_role_valid(const char *role);

/* ---- route handlers ---- */

void srv_handle_healthz(struct srv_request *rq);
void srv_handle_readyz(struct srv_request *rq);
void srv_handle_discovery(struct srv_request *rq);
void srv_handle_jwks(struct srv_request *rq);
void srv_handle_token(struct srv_request *rq);
void srv_handle_introspect(struct srv_request *rq);
void srv_handle_revoke(struct srv_request *rq);
void srv_grant_password(struct srv_request *rq);
void srv_grant_code(struct srv_request *rq);
void srv_grant_device(struct srv_request *rq);
void srv_handle_device_authorization(struct srv_request *rq);
void srv_handle_device_page(struct srv_request *rq);
void srv_handle_device_form(struct srv_request *rq);
void srv_handle_authorize(struct srv_request *rq);
void srv_handle_login(struct srv_request *rq);
void srv_handle_consent(struct srv_request *rq);
void srv_handle_logout(struct srv_request *rq);
void srv_handle_register(struct srv_request *rq);
void srv_handle_userinfo(struct srv_request *rq);
void srv_handle_me(struct srv_request *rq);
void srv_handle_me_sessions(struct srv_request *rq);
void srv_handle_me_session_delete(struct srv_request *rq);
void srv_handle_me_password(struct srv_request *rq);
void srv_handle_me_link(struct srv_request *rq);
void srv_handle_me_unlink(struct srv_request *rq);

/* admin_users.c, admin_roles.c, admin_teams.c, admin_service_accounts.c, admin_applications.c,
 * admin_keys.c, admin_audit.c */
void srv_admin_apps_create(struct srv_request *rq);
void srv_admin_apps_delete(struct srv_request *rq);
void srv_admin_apps_get(struct srv_request *rq);
void srv_admin_apps_list(struct srv_request *rq);
void srv_admin_apps_patch(struct srv_request *rq);
void srv_admin_audit_list(struct srv_request *rq);
void srv_admin_keys_list(struct srv_request *rq);
void srv_admin_keys_rotate(struct srv_request *rq);
void srv_admin_roles_get(struct srv_request *rq);
void srv_admin_roles_put(struct srv_request *rq);
void srv_admin_sa_acl_get(struct srv_request *rq);
void srv_admin_sa_acl_put(struct srv_request *rq);
void srv_admin_sa_create(struct srv_request *rq);
void srv_admin_sa_delete(struct srv_request *rq);
void srv_admin_sa_get(struct srv_request *rq);
void srv_admin_sa_list(struct srv_request *rq);
void srv_admin_sa_patch(struct srv_request *rq);
void srv_admin_sa_secret_create(struct srv_request *rq);
void srv_admin_sa_secret_delete(struct srv_request *rq);
void srv_admin_sa_secrets(struct srv_request *rq);
void srv_admin_session_delete(struct srv_request *rq);
void srv_admin_teams_create(struct srv_request *rq);
void srv_admin_teams_delete(struct srv_request *rq);
void srv_admin_teams_get(struct srv_request *rq);
void srv_admin_teams_list(struct srv_request *rq);
void srv_admin_teams_member_delete(struct srv_request *rq);
void srv_admin_teams_member_put(struct srv_request *rq);
void srv_admin_teams_members(struct srv_request *rq);
void srv_admin_teams_patch(struct srv_request *rq);
void srv_admin_users_create(struct srv_request *rq);
void srv_admin_users_delete(struct srv_request *rq);
void srv_admin_users_disable(struct srv_request *rq);
void srv_admin_users_enable(struct srv_request *rq);
void srv_admin_users_get(struct srv_request *rq);
void srv_admin_users_list(struct srv_request *rq);
void srv_admin_users_patch(struct srv_request *rq);
void srv_admin_users_sessions(struct srv_request *rq);
void srv_admin_users_sessions_delete(struct srv_request *rq);
void srv_grant_anonymous(struct srv_request *rq);
void srv_grant_refresh(struct srv_request *rq);

/* Renders the OpenID/OAuth metadata document (discovery.c). */
char *srv_discovery_render(const char *issuer, const char *alg, size_t *len);

/* ---- CLI (cli_*.c) ---- */

int srv_cmd_serve(int argc, char **argv);
int srv_cmd_service_account(int argc, char **argv);
int srv_cmd_application(int argc, char **argv);
int srv_cmd_bootstrap_admin(int argc, char **argv);
int srv_cmd_keys(int argc, char **argv);
int srv_cmd_backup(int argc, char **argv);

/* Exit codes of every command (DESIGN.md §9). */
enum srv_exit { SRV_EXIT_OK = 0, SRV_EXIT_RUNTIME = 1, SRV_EXIT_USAGE = 2 };

/* 1 when name is 1..256 bytes of UTF-8 without control characters. */
int srv_name_valid(const char *name);

#endif
