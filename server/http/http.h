/* server/http/: everything that touches libmicrohttpd or raw HTTP, for the rooms above it: the
 * listener and its connection guard, requests and replies, the router over the one route table
 * (defined in server/routes.c), form, Basic, query and JSON parsing, the HTML writer, CORS, rate
 * limits, bearer tokens, the Argon2 hand-off, and the pre-rendered documents. Only http.c includes
 * microhttpd.h. Includes the core only. */
#ifndef IDPD_SERVER_HTTP_H
#define IDPD_SERVER_HTTP_H

#include "server/core/core.h"

struct srv_http;

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

/* The static route table: defined by server/routes.c, which alone knows every room's handlers;
 * router.c only reads it. */
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
/* 1 for the App Services client API (/api/client/…), whose errors are App Services' own
 * (srv_reply_app_error): srv_reply_problem() answers in that shape there. */
int srv_rq_app_services(struct srv_request *rq);

/* Answers to this request carry Access-Control-Allow-Origin: origin (copied; NULL: not). */
void srv_rq_set_cors_origin(struct srv_request *rq, const char *origin);

/* A query parameter's value (borrowed), or NULL. */
const char *srv_rq_query(struct srv_request *rq, const char *name);
/* How many times the query names name (RFC 6749 §3.1: at most once). */
size_t srv_rq_query_count(struct srv_request *rq, const char *name);
/* Writes the first query parameter not in allowed into unknown; 0 when all are allowed. */
int srv_rq_query_unknown(struct srv_request *rq, const char *const *allowed, char *unknown,
                         size_t cap);

/* Liveness and readiness (ops.c). */
void srv_handle_healthz(struct srv_request *rq);
void srv_handle_readyz(struct srv_request *rq);

/* ---- HTML pages (html.c) ---- */

/* A growing HTML text; buf.failed is set when memory ran out (the reply is then a 500). */
struct srv_html {
    struct buf buf;
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

/* ---- replies (http.c) ---- */

/* Answers the request. body is copied. extra_headers: NULL-terminated name, value pairs. */
void srv_reply(struct srv_request *rq, unsigned status, const char *content_type, const char *body,
               size_t len, const char *const *extra_headers);
/* Answers JSON (takes a reference to body and releases it). */
void srv_reply_json(struct srv_request *rq, unsigned status, json_t *body,
                    const char *const *extra_headers);
/* RFC 9457 problem+json: {"type":"about:blank","title":<reason>,"status":…,"detail":…}. */
void srv_reply_problem(struct srv_request *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error of the App Services client API: {"error":<text>,"error_code":<code>} with
 * Content-Type exactly application/json; 503 adds Retry-After. */
void srv_reply_app_error(struct srv_request *rq, unsigned status, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
/* RFC 6749 §5.2 error: {"error":…,"error_description":…}, Cache-Control: no-store.
 * invalid_client answers 401 with WWW-Authenticate. */
void srv_reply_oauth_error(struct srv_request *rq, unsigned status, const char *error,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answers 401 problem+json with WWW-Authenticate: Bearer realm="idpd"[, error="<error>"]
 * (RFC 6750 §3). */
void srv_reply_bearer_challenge(struct srv_request *rq, const char *error, const char *detail);
/* 503 Service Unavailable with Retry-After: 1, in the route's shape: a page telling its user
 * page (a sentence) on the browser's pages, {"error":"temporarily_unavailable"} with why as the
 * description on the other OAuth endpoints, problem+json with why as the detail elsewhere. */
void srv_reply_unavailable(struct srv_request *rq, const char *why, const char *page);
/* Answers a store call that failed (rc is not STORE_OK) for no fault of the request: the
 * database cannot be reached (STORE_EUNAVAILABLE) or storage failed otherwise. Nothing was
 * changed and a retry may work: 503 with Retry-After (srv_reply_unavailable), what ("the login
 * could not be checked") as the detail. Never a 401, 404 or 400: a lookup that could not be made
 * says nothing about the credential or the resource. Logs rc once (srv_log_store). */
void srv_reply_store_failure(struct srv_request *rq, int rc, const char *what);

/* ---- bearer tokens of idpd's own APIs (bearer.c) ---- */

/* How an API words the detail of its 401 invalid_token answer for each refused token state
 * (enum srv_token_state); a state left NULL is worded as invalid. */
struct srv_bearer_refusals {
    const char *invalid; /* SRV_TOKEN_INVALID, and each state below left NULL */
    const char *expired, *revoked, *no_principal, *audience;
};

/* Reads "Authorization: Bearer <access token>", checks the token with srv_token_check for
 * audience, then admits the client it names (srv_cors_client_or_error). SRV_OK: *claims receives
 * the verified claims (the caller's: json_decref). Otherwise *claims is NULL and the answer is
 * given: 401 with a bare challenge without a bearer token, 503 when the token cannot be checked
 * now, 401 invalid_token worded by words for a refused token, or the CORS refusal. */
int srv_bearer_token_or_error(struct srv_request *rq, const char *audience,
                              const struct srv_bearer_refusals *words, json_t **claims);

/* ---- per-address rate limits (rate_limit.c) ---- */
enum srv_rate { SRV_RATE_TOKEN = 1, SRV_RATE_INTROSPECT, SRV_RATE_REGISTER, SRV_RATE_KINDS };
struct srv_rate_limiter;
int srv_rate_limiter_new(const struct srv_config *cfg, struct srv_rate_limiter **out);
void srv_rate_limiter_free(struct srv_rate_limiter *l);
/* Takes one token from the caller's bucket for kind; when it is empty answers 429 with
 * Retry-After and returns 1 (the caller stops), else returns 0. */
int srv_rate_limited_reply(struct srv_request *rq, enum srv_rate kind);

/* ---- refusals, shared documents, the Argon2 hand-off and the listener (http.c) ---- */

/* 429 Too Many Requests with Retry-After (at least 1 s): RFC 6749 shape (temporarily_unavailable)
 * on the OAuth endpoints, problem+json elsewhere. */
void srv_reply_too_many(struct srv_request *rq, int64_t retry_after, const char *why);
/* Answers one of the shared pre-rendered documents (built once, answered many times). */
enum srv_cached { SRV_CACHED_DISCOVERY, SRV_CACHED_JWKS };
void srv_reply_cached(struct srv_request *rq, enum srv_cached which);
/* Publishes the document which: body (malloc'd; taken over, also on failure) answered with
 * Cache-Control cache_control (copied) until the next call. The room that owns the route
 * renders it (oauth/discovery.c); requests already answering the old one keep it. */
int srv_http_set_document(struct srv_http *h, enum srv_cached which, char *body, size_t len,
                          const char *cache_control);

/* Runs work(rq) on a worker thread with the connection suspended, then cont(rq) back on an HTTP
 * thread, in the fair turn of the client's address (workers.c). Answers itself 503 + Retry-After
 * when the worker queue is full, and 429 + Retry-After when the address holds its share. */
void srv_defer(struct srv_request *rq, void (*work)(struct srv_request *rq), srv_handler cont);
/* srv_defer() for work about one account (a login name, normalised): the account's share is
 * bounded too, so a storm at one account from many addresses is answered 429. */
void srv_defer_for(struct srv_request *rq, const char *account,
                   void (*work)(struct srv_request *rq), srv_handler cont);
/* srv_defer_for() with arg, which work and cont read back with srv_rq_defer_arg(): for flows
 * shared by rooms whose request states differ (signin/password_login.c). */
void srv_defer_with(struct srv_request *rq, const char *account, void *arg,
                    void (*work)(struct srv_request *rq), srv_handler cont);
void *srv_rq_defer_arg(struct srv_request *rq);
/* srv_defer() on the fetch workers, for work that waits for an upstream (outbound_timeout at
 * most) rather than computes: the Argon2 workers stay free for sign-ins. */
void srv_defer_fetch(struct srv_request *rq, void (*work)(struct srv_request *rq),
                     srv_handler cont);

/* The listener. */
/* Binds cfg->listen_host:port and starts the thread pool. Prints why on failure. Until its
 * documents are published (srv_http_set_document) they answer 503. */
int srv_http_start(struct srv_ctx *ctx, struct srv_http **out);
/* The port actually bound (useful with --listen 127.0.0.1:0). */
unsigned srv_http_port(struct srv_http *h);
/* Stops accepting, lets deferred work finish, then stops the threads. */
void srv_http_stop(struct srv_http *h);
/* libmicrohttpd's version string. */
const char *srv_http_version(void);

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

/* ---- request parsing (form.c, basic_auth.c) ---- */

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
/* The same for a body that may be left out: no body at all gives *out = NULL and SRV_OK (a POST
 * that only acts, with every field optional). */
int srv_json_optional_or_error(struct srv_request *rq, const char *const *fields, json_t **out);
/* Reads member name as a string of 1..max bytes (valid UTF-8 by construction of jansson).
 * required: 400 when absent. *out is borrowed from obj (NULL when absent and optional). */
int srv_json_string_or_error(struct srv_request *rq, json_t *obj, const char *name, int required,
                             size_t max, const char **out);

#endif
