/* Support for the black-box HTTP tests: start the real idpd binary ($IDPD_BIN) on 127.0.0.1 with
 * a random port and a fresh data folder, run its CLI, drive it with libcurl, decode and verify its
 * tokens, and forge bad ones.
 *
 * Ownership: everything a ts_ function returns (servers, responses, strings, JSON values) belongs
 * to the current test case and is released when the case ends (th_defer), also when a CHECK
 * failed. Servers still running then are stopped; one that does not exit with status 0 fails the
 * case, and the log of every server of a failed case is printed. */
#ifndef IDPD_TESTS_HTTP_SUPPORT_H
#define IDPD_TESTS_HTTP_SUPPORT_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

struct keys;

/* Call first in main(): th_init(), libcurl, and a check that IDPD_BIN is set. */
void ts_init(int argc, char **argv);
/* Call last: th_done(). */
int ts_done(void);

/* ---- case-owned memory ---- */

void *ts_keep(void *p);          /* frees p (free()) when the case ends; returns p */
json_t *ts_keep_json(json_t *j); /* json_decref(j) when the case ends; returns j */
char *ts_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* th_tmpdir()/name, unique within the case ("data" → ".../data", then ".../data-2", …); not
 * created. */
const char *ts_path(const char *name);

/* ---- the server ---- */

struct ts_server {
    pid_t pid;
    unsigned port;
    char url[64];      /* http://127.0.0.1:PORT */
    char issuer[1024]; /* from the "listening" log line */
    char data[1024];
    int running;
    int status; /* exit status once stopped: 0..255, or 128 + signal */
    /* private: everything the server writes to stdout and stderr */
    int fd;
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *log;
    size_t log_len, log_cap;
    int eof;
};

struct ts_opts {
    const char *data;        /* data folder; NULL = a fresh one under th_tmpdir() */
    const char *const *env;  /* "NAME=VALUE" entries added to the environment; NULL-terminated */
    const char *const *args; /* more arguments after the defaults (later flags win) */
};

/* Starts `$IDPD_BIN serve --listen 127.0.0.1:0 --data DIR [args]` and waits for its "listening"
 * log line. Every IDPD_* variable of the test's own environment is removed first. o may be
 * NULL. NULL (and a message) when the server does not come up. */
struct ts_server *ts_start(const struct ts_opts *o);
/* SIGTERM, then waits (SIGKILL after 30 s). Returns the exit status (see status above). */
int ts_stop(struct ts_server *s);
/* All the server wrote so far (NUL-terminated). */
const char *ts_log(struct ts_server *s);
/* Waits up to timeout_ms for needle to appear in the log; 1 when it did. */
int ts_log_wait(struct ts_server *s, const char *needle, int timeout_ms);
/* The "request" log lines so far, parsed, in order. */
json_t *ts_log_requests(struct ts_server *s);

/* ---- the command line ---- */

struct ts_cmd {
    int status; /* exit status, or 128 + signal */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr */
};

/* Runs `$IDPD_BIN args…` in th_tmpdir() with env added (IDPD_* of the test removed). */
struct ts_cmd *ts_run(const char *const *args, const char *const *env);
/* ts_run() with input (NULL: none) written to the command's stdin, which is then closed. */
struct ts_cmd *ts_run_input(const char *const *args, const char *const *env, const char *input);
/* The environment ts_run() and ts_start() give idpd (argv[0] is the binary): the test's own
 * without IDPD_*, then extra, then on PostgreSQL IDPD_STORE for argv's data folder. */
char **ts_child_env(char **argv, const char *const *extra);

struct ts_account {
    char id[64];
    char secret[128];
};

/* `idpd service-account create --data DIR --name NAME [--role R]…`; fills *out on success.
 * Returns the exit status (or -1 when the output is not the expected JSON). */
int ts_sa_create(const char *data, const char *name, const char *const *roles,
                 const char *const *env, struct ts_account *out);

/* `idpd application create --data DIR --name NAME --grant G… [--type TYPE]` (type NULL: the
 * default, public); fills *out: id = client_id, secret = client_secret or "". Returns the exit
 * status (or -1 when the output is not the expected JSON). */
int ts_app_create(const char *data, const char *name, const char *const *grants, const char *type,
                  struct ts_account *out);

/* `idpd application create --data DIR` with more arguments (NULL-terminated); fills out->id
 * with the client_id (secret ""). 1 on success. */
int ts_app_create_with(const char *data, const char *const *more, struct ts_account *out);

/* ---- HTTP ---- */

struct ts_req {
    const char *method;         /* default "GET" ("POST" when body is set) */
    const char *path;           /* "/jwks" */
    const char *const *headers; /* "Name: value" lines; NULL-terminated */
    const char *body;           /* NULL = none */
    size_t body_len;            /* 0 = strlen(body) */
    const char *content_type;   /* NULL = form type when there is a body; "" = no header */
    int chunked;                /* send the body with Transfer-Encoding: chunked */
};

struct ts_resp {
    CURLcode curl; /* CURLE_OK unless the transfer failed (then status is 0) */
    long status;
    char *headers; /* the final response's header block */
    char *body;    /* NUL-terminated */
    size_t len;
    json_t *json; /* the parsed body, or NULL when it is not JSON */
    /* private */
    size_t hcap, bcap;
    struct curl_slist *slist;
    const char *upload;
    size_t upload_len, upload_pos;
};

struct ts_resp *ts_do(struct ts_server *s, const struct ts_req *r);
struct ts_resp *ts_get(struct ts_server *s, const char *path);
/* POST of a form body (application/x-www-form-urlencoded) with extra headers (may be NULL). */
struct ts_resp *ts_post(struct ts_server *s, const char *path, const char *const *headers,
                        const char *form);
/* The value of the response header name (case-insensitive, first one), or NULL. */
const char *ts_header(const struct ts_resp *r, const char *name);

/* For curl multi: an easy handle that fills *out when ts_easy_done() is called on it. */
CURL *ts_easy(struct ts_server *s, const struct ts_req *r, struct ts_resp **out);
void ts_easy_done(CURL *e, struct ts_resp *r, CURLcode result);
/* Runs n requests at once on one curl multi handle until all are done, then fills each resps[i].
 * order (may be NULL) receives the indexes in the order the transfers completed. */
void ts_multi_run(CURL **easies, struct ts_resp **resps, size_t n, size_t *order);

/* A browser: requests that keep the cookies the server sets (libcurl's cookie engine, shared
 * between its requests). Redirects are not followed, so each step can be looked at. Freed when
 * the case ends. */
struct ts_browser;
struct ts_browser *ts_browser_new(void);
struct ts_resp *ts_browser_do(struct ts_server *s, struct ts_browser *b, const struct ts_req *rq);
/* The value of the cookie name the browser holds, or NULL (also for a cookie emptied by a
 * Max-Age=0 answer, which libcurl keeps with an empty value). */
const char *ts_browser_cookie(struct ts_browser *b, const char *name);
/* The value of the form field name (an <input name="name" value="…">) in html, entities
 * decoded, or NULL. */
const char *ts_html_field(const char *html, const char *name);
/* The value of query parameter name in url, percent-decoded, or NULL. */
const char *ts_url_param(const char *url, const char *name);

/* "Authorization: Basic base64(pair)" */
const char *ts_basic_header(const char *pair);
/* ts_basic_header(id ":" secret) */
const char *ts_basic(const struct ts_account *a);
/* Sends method path (with one extra header line and a form body, each may be NULL) from the
 * local address from: another loopback address, such as 127.0.0.2, is a second client. The
 * status, 0 on a transfer failure. */
long ts_status_from(struct ts_server *s, const char *from, const char *method, const char *path,
                    const char *header, const char *body);
/* client_credentials with client_secret_basic; extra ("scope=x") is appended when not NULL. */
struct ts_resp *ts_token(struct ts_server *s, const struct ts_account *a, const char *extra);
/* The access_token of a successful ts_token(), or NULL. */
const char *ts_token_str(struct ts_server *s, const struct ts_account *a);
struct ts_resp *ts_introspect(struct ts_server *s, const struct ts_account *caller,
                              const char *token);
struct ts_resp *ts_revoke(struct ts_server *s, const struct ts_account *caller, const char *token);

/* s form-encoded (every byte but unreserved ones percent-escaped). */
const char *ts_form_escape(const char *s);

/* ---- users (applications' clients; bearer is a user's access token, NULL for none) ---- */

/* method path with "Authorization: Bearer bearer" and, when json is not NULL, that body as
 * application/json. */
struct ts_resp *ts_bearer(struct ts_server *s, const char *method, const char *path,
                          const char *bearer, const char *json);
/* POST /v1/register {"client_id","email","password"} (the values JSON-escaped). */
struct ts_resp *ts_register(struct ts_server *s, const char *client_id, const char *email,
                            const char *password);
/* grant_type=password with client_id in the form (a public application); extra ("scope=openid")
 * is appended when not NULL. */
struct ts_resp *ts_login(struct ts_server *s, const char *client_id, const char *email,
                         const char *password, const char *extra);
/* grant_type=refresh_token with client_id in the form; extra appended when not NULL. */
struct ts_resp *ts_refresh(struct ts_server *s, const char *client_id, const char *refresh_token,
                           const char *extra);
/* grant_type=urn:idpd:grant-type:anonymous with client_id in the form. */
struct ts_resp *ts_anonymous(struct ts_server *s, const char *client_id);
/* POST /oauth/revoke token=… with client_id in the form (a public application). */
struct ts_resp *ts_revoke_public(struct ts_server *s, const char *client_id, const char *token);

/* ---- JSON ---- */

const char *ts_jstr(json_t *o, const char *key); /* string member or NULL */
long long ts_jint(json_t *o, const char *key);   /* integer member or LLONG_MIN */
int ts_jarray_has(json_t *arr, const char *s);   /* 1 when the array holds the string */
/* The roles-like string array as "a,b,c" (NULL when not an array of strings). */
const char *ts_jarray_join(json_t *arr);

/* ---- JWT ---- */

char *ts_b64url_encode(const void *p, size_t len);
/* NULL on bad input. The result is NUL-terminated. */
char *ts_b64url_decode(const char *s, size_t len, size_t *outlen);
/* Decodes the header and payload of a compact JWS; 0 when both are JSON objects. */
int ts_jwt_decode(const char *token, json_t **header, json_t **payload);
/* The key named kid in a JWKS document, or NULL. */
json_t *ts_jwks_key(json_t *jwks, const char *kid);
/* 1 when token's ES256 signature verifies under the EC public key jwk (x, y), with OpenSSL. */
int ts_es256_verify(const char *token, json_t *jwk);
/* RFC 7638 thumbprint of an EC public JWK. */
const char *ts_jwk_thumbprint(json_t *jwk);

/* b64url(header) "." b64url(payload) "." b64url(signature) with the signature made by:
 * nothing (alg none), HMAC-SHA-256 under key, or ES256 under a fresh P-256 key that is in no
 * key ring. */
const char *ts_jws_unsigned(const char *header, const char *payload);
const char *ts_jws_hs256(const char *header, const char *payload, const void *key, size_t keylen);
const char *ts_jws_es256_foreign(const char *header, const char *payload);

/* Opens the key ring of a data folder in this process through libidp (store_open,
 * keys_master_load, keys_open), creating the folder and its keys when absent; closed when the
 * case ends. LMDB lets this run beside a server using the same folder. */
struct keys *ts_keys_open(const char *data);
/* keys_jwt_sign() of the claims (a JSON text) with typ. */
const char *ts_keys_sign(struct keys *kr, const char *typ, const char *claims);
/* store_sa_delete() of an account in a data folder (the server may be running on it). */
int ts_store_sa_delete(const char *data, const char *id);
/* The PHC string of the local-userpass identity of email (lower-case) in a data folder, read
 * beside a running server; NULL when there is none. */
const char *ts_store_password_phc(const char *data, const char *email);

/* ---- assertions ---- */

/* An RFC 6749 §5.2 error: status, JSON {"error","error_description"} and no-store. */
#define CHECK_OAUTH_ERROR(resp, st, err)                                                           \
    do {                                                                                           \
        const struct ts_resp *ts_r_ = (resp);                                                      \
        CHECK(ts_r_ != NULL);                                                                      \
        CHECK_MSG(ts_r_->status == (st), "status %ld, expected %d; body %s", ts_r_->status,        \
                  (int)(st), ts_r_->body ? ts_r_->body : "");                                      \
        CHECK_STR(ts_header(ts_r_, "Content-Type"), "application/json");                           \
        CHECK_STR(ts_jstr(ts_r_->json, "error"), (err));                                           \
        CHECK(ts_jstr(ts_r_->json, "error_description") != NULL);                                  \
        CHECK_INT(json_object_size(ts_r_->json), 2);                                               \
        CHECK_STR(ts_header(ts_r_, "Cache-Control"), "no-store");                                  \
    } while (0)

/* An RFC 9457 problem: status, application/problem+json, type, title, status, detail. */
#define CHECK_PROBLEM(resp, st)                                                                    \
    do {                                                                                           \
        const struct ts_resp *ts_r_ = (resp);                                                      \
        CHECK(ts_r_ != NULL);                                                                      \
        CHECK_MSG(ts_r_->status == (st), "status %ld, expected %d; body %s", ts_r_->status,        \
                  (int)(st), ts_r_->body ? ts_r_->body : "");                                      \
        CHECK_STR(ts_header(ts_r_, "Content-Type"), "application/problem+json");                   \
        CHECK_STR(ts_jstr(ts_r_->json, "type"), "about:blank");                                    \
        CHECK_INT(ts_jint(ts_r_->json, "status"), (st));                                           \
        CHECK(ts_jstr(ts_r_->json, "title") && ts_jstr(ts_r_->json, "title")[0]);                  \
        CHECK(ts_jstr(ts_r_->json, "detail") != NULL);                                             \
    } while (0)

/* A 200 answer whose JSON body is {"active":false} and nothing else. */
#define CHECK_INACTIVE(resp)                                                                       \
    do {                                                                                           \
        const struct ts_resp *ts_r_ = (resp);                                                      \
        CHECK(ts_r_ != NULL);                                                                      \
        CHECK_MSG(ts_r_->status == 200, "status %ld; body %s", ts_r_->status,                      \
                  ts_r_->body ? ts_r_->body : "");                                                 \
        CHECK_STR(ts_header(ts_r_, "Content-Type"), "application/json");                           \
        CHECK_STR(ts_r_->body, "{\"active\":false}");                                              \
        CHECK_STR(ts_header(ts_r_, "Cache-Control"), "no-store");                                  \
    } while (0)

/* A bearer challenge (RFC 6750 §3): 401, problem+json and WWW-Authenticate: Bearer
 * realm="idpd" followed by err_attr (e.g. ", error=\"invalid_token\"", or "" for none). */
#define CHECK_BEARER_401(resp, err_attr)                                                           \
    do {                                                                                           \
        const struct ts_resp *ts_b_ = (resp);                                                      \
        CHECK_PROBLEM(ts_b_, 401);                                                                 \
        CHECK_STR(ts_header(ts_b_, "WWW-Authenticate"), "Bearer realm=\"idpd\"" err_attr);         \
    } while (0)

#endif
