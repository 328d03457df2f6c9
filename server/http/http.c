/* The only file that knows libmicrohttpd: the listener and its thread pool, request bodies
 * collected under a cap, suspend/resume around work deferred to the worker pool, responses, the
 * shared pre-rendered documents and the access log line. */
#define LOG_MODULE "http"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sys/stat.h>

#include "server/http/http.h"

/* A body above the limit whose announced size is no larger than this is read and thrown away so
 * the client gets its 413 on a connection that stays usable; beyond it the connection closes. */
#define DISCARD_MAX (1024 * 1024)

/* More query parameters than this are refused rather than checked pairwise for repeats. */
#define QUERY_MAX_PARAMS 64

enum phase { PH_RECEIVING, PH_DISPATCHED, PH_SUSPENDED, PH_RESUMED };

struct srv_request {
    struct MHD_Connection *conn;
    struct srv_http *http;
    const struct srv_route *route;
    const char *method; /* owned by MHD for the request's life */
    const char *path;
    double start_ms;
    char *body;
    size_t body_len;
    size_t body_cap;
    size_t discarded;
    int too_big;
    int must_close;      /* the answer says Connection: close, and libmicrohttpd closes after it */
    struct srv_conn *sc; /* the connection's deadlines (conn_guard.c); NULL when unguarded */
    /* Set by srv_defer() on the HTTP thread: the handler handed the request to a worker, which
     * may already be writing phase, so the HTTP thread must not read phase again until the
     * connection is resumed. Only HTTP threads touch this flag. */
    int deferred;
    enum phase phase;
    void (*work)(struct srv_request *rq);
    srv_handler cont;
    void *defer_arg;                 /* given to srv_defer_with() */
    struct srv_request *tarpit_next; /* in h->tarpit while its answer is held back */
    double tarpit_due_ms;
    unsigned status;
    char client_id[STORE_ID_MAX];
    char client_ip[INET6_ADDRSTRLEN];
    char cors_origin[STORE_URI_MAX]; /* answers carry Access-Control-Allow-Origin: this */
    void *state;
    void (*state_free)(void *state);
};

struct srv_http {
    struct srv_ctx *ctx;
    struct MHD_Daemon *daemon;
    int listen_fd;
    unsigned port;
    pthread_mutex_t lock; /* guards docs */
    /* The pre-rendered documents (enum srv_cached), published by the room that owns them. */
    struct document {
        struct MHD_Response *resp; /* NULL until published */
        /* The same body, for answers to cross-origin requests, which name their origin. */
        char *body;
        size_t len;
        char cache_control[64];
    } docs[2];
    char *tls_cert, *tls_key; /* PEM, kept until MHD stops; the key is wiped */
    size_t tls_key_len;
    char hsts[48]; /* Strict-Transport-Security value; "" over plain HTTP or when off */
    struct srv_conn_guard *guard;
    /* Requests whose refusal is held back (defer_delay), oldest first, and the thread that
     * resumes them when due. */
    struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct srv_request *head, *tail;
        size_t n;
        int stopping, started;
        pthread_t thread;
    } tarpit;
};

/* ---- accessors ---- */

struct srv_ctx *srv_rq_ctx(struct srv_request *rq)
{
    return rq->http->ctx;
}

const char *srv_rq_method(struct srv_request *rq)
{
    return rq->method;
}

const char *srv_rq_path(struct srv_request *rq)
{
    return rq->path;
}

const char *srv_rq_header(struct srv_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *srv_rq_cookie(struct srv_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, name);
}

const char *srv_rq_client_ip(struct srv_request *rq)
{
    if (rq->client_ip[0])
        return rq->client_ip;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, rq->client_ip,
                  sizeof rq->client_ip);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, rq->client_ip,
                  sizeof rq->client_ip);
    return rq->client_ip;
}

const char *srv_rq_body(struct srv_request *rq, size_t *len)
{
    *len = rq->body_len;
    return rq->body ? rq->body : "";
}

void srv_rq_log_client(struct srv_request *rq, const char *client_id)
{
    snprintf(rq->client_id, sizeof rq->client_id, "%s", client_id ? client_id : "");
}

void *srv_rq_state(struct srv_request *rq)
{
    return rq->state;
}

void srv_rq_set_state(struct srv_request *rq, void *state, void (*free_fn)(void *state))
{
    rq->state = state;
    rq->state_free = free_fn;
}

const char *srv_rq_query(struct srv_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct unknown_query {
    const char *const *allowed;
    char *out;
    size_t cap;
};

static enum MHD_Result find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct unknown_query *u = cls;
    for (size_t i = 0; u->allowed[i]; i++)
        if (strcmp(u->allowed[i], key) == 0)
            return MHD_YES;
    snprintf(u->out, u->cap, "%s", key);
    return MHD_NO; /* stop at the first */
}

struct count_query {
    const char *name;
    size_t n;
};

static enum MHD_Result count_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct count_query *c = cls;
    if (strcmp(c->name, key) == 0)
        c->n++;
    return MHD_YES;
}

size_t srv_rq_query_count(struct srv_request *rq, const char *name)
{
    struct count_query c = {name, 0};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, count_value, &c);
    return c.n;
}

int srv_rq_query_unknown(struct srv_request *rq, const char *const *allowed, char *unknown,
                         size_t cap)
{
    struct unknown_query u = {allowed, unknown, cap};
    unknown[0] = '\0';
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, find_unknown, &u);
    return unknown[0] != '\0';
}

void srv_rq_param(struct srv_request *rq, size_t n, char *out, size_t cap)
{
    if (!rq->route || !srv_route_param(rq->route->path, rq->path, n, out, cap))
        out[0] = '\0';
}

int srv_rq_oauth(struct srv_request *rq)
{
    return strncmp(rq->path, "/oauth/", 7) == 0;
}

int srv_rq_app_services(struct srv_request *rq)
{
    return strncmp(rq->path, "/api/client/", 12) == 0;
}

void srv_rq_set_cors_origin(struct srv_request *rq, const char *origin)
{
    snprintf(rq->cors_origin, sizeof rq->cors_origin, "%s", origin ? origin : "");
}

/* ---- responses ---- */

static void add_common_headers(struct srv_http *h, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (h->hsts[0])
        MHD_add_response_header(resp, "Strict-Transport-Security", h->hsts);
}

/* rq->status records what was queued; it stays 0 when MHD refused the response. */
static void queue(struct srv_request *rq, unsigned status, struct MHD_Response *resp)
{
    if (MHD_queue_response(rq->conn, status, resp) == MHD_YES)
        rq->status = status;
    else
        LOG(SRV_LOG_WARN, "could not queue a %u response for %s", status, rq->path);
}

void srv_reply(struct srv_request *rq, unsigned status, const char *content_type, const char *body,
               size_t len, const char *const *extra_headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        LOG(SRV_LOG_ERROR, "out of memory creating a response");
        return;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_common_headers(rq->http, resp);
    if (rq->must_close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rq->cors_origin[0]) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", rq->cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "WWW-Authenticate, Retry-After, Location");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (size_t i = 0; extra_headers && extra_headers[i]; i += 2)
        MHD_add_response_header(resp, extra_headers[i], extra_headers[i + 1]);
    queue(rq, status, resp);
    MHD_destroy_response(resp);
}

void srv_reply_json(struct srv_request *rq, unsigned status, json_t *body,
                    const char *const *extra_headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        srv_reply_problem(rq, 500, "the answer could not be rendered");
        return;
    }
    srv_reply(rq, status, "application/json", text, strlen(text), extra_headers);
    free(text);
}

static const char *reason(unsigned status)
{
    const char *r = MHD_get_reason_phrase_for(status);
    return r && *r ? r : "Error";
}

/* The error_code of an App Services answer that only has a status (the refusals of this file,
 * the router's and CORS's): the codes the SDKs know where there is one. Never InvalidSession:
 * the SDKs refresh or log out on it, which only a token's handler may decide. */
static const char *app_code(unsigned status)
{
    switch (status) {
    case 400:
    case 413:
    case 415:
        return "BadRequest";
    case 401:
        return "AuthError";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 429:
        return "TooManyRequests";
    case 503:
        return "ServiceUnavailable";
    default:
        return "InternalServerError";
    }
}

/* {"error","error_code"}, Content-Type exactly application/json (realm-core reads the body of an
 * error only with exactly that type). */
static void reply_app_error(struct srv_request *rq, unsigned status, const char *code,
                            const char *error, const char *const *extra)
{
    json_t *body = json_pack("{s:s, s:s}", "error", error, "error_code", code);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    srv_reply(rq, status, "application/json", text ? text : "{}", text ? strlen(text) : 2, extra);
    free(text);
}

void srv_reply_app_error(struct srv_request *rq, unsigned status, const char *code, const char *fmt,
                         ...)
{
    char error[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, sizeof error, fmt, ap);
    va_end(ap);
    const char *retry[] = {"Retry-After", "1", NULL};
    reply_app_error(rq, status, code, error, status == 503 ? retry : NULL);
}

void srv_reply_problem(struct srv_request *rq, unsigned status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char methods[64];
    const char *retry[] = {"Retry-After", "1", NULL};
    const char *allow[] = {"Allow", methods, NULL};
    const char *const *extra = NULL;
    if (status == 503)
        extra = retry;
    if (status == 405) {
        srv_route_allow(rq->path, methods, sizeof methods);
        extra = allow;
    }
    if (srv_rq_app_services(rq)) {
        reply_app_error(rq, status, app_code(status), detail, extra);
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", reason(status),
                             "status", (int)status, "detail", detail);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    srv_reply(rq, status, "application/problem+json", text ? text : "{}", text ? strlen(text) : 2,
              extra);
    free(text);
}

void srv_reply_too_many(struct srv_request *rq, int64_t retry_after, const char *why)
{
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", (long long)(retry_after < 1 ? 1 : retry_after));
    const char *extra[] = {"Cache-Control", "no-store", "Retry-After", secs, NULL};
    if (srv_rq_app_services(rq)) {
        reply_app_error(rq, 429, app_code(429), why, extra);
        return;
    }
    json_t *body = srv_rq_oauth(rq) ? json_pack("{s:s, s:s}", "error", "temporarily_unavailable",
                                                "error_description", why)
                                    : json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank",
                                                "title", reason(429), "status", 429, "detail", why);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    srv_reply(rq, 429, srv_rq_oauth(rq) ? "application/json" : "application/problem+json",
              text ? text : "{}", text ? strlen(text) : 2, extra);
    free(text);
}

void srv_reply_oauth_error(struct srv_request *rq, unsigned status, const char *error,
                           const char *fmt, ...)
{
    char desc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *basic[] = {"Cache-Control",
                           "no-store",
                           "Pragma",
                           "no-cache",
                           "WWW-Authenticate",
                           "Basic realm=\"idpd\", charset=\"UTF-8\"",
                           NULL};
    const char *plain[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};
    const char *retry[] = {"Cache-Control", "no-store", "Retry-After", "1", NULL};
    char methods[64];
    const char *allow[] = {"Cache-Control", "no-store", "Allow", methods, NULL};
    const char *const *extra = status == 401 ? basic : status == 503 ? retry : plain;
    if (status == 405) {
        srv_route_allow(rq->path, methods, sizeof methods);
        extra = allow;
    }
    srv_reply(rq, status, "application/json", text ? text : "{}", text ? strlen(text) : 2, extra);
    free(text);
}

static struct MHD_Response *cached_new(struct srv_http *h, const char *body, size_t len,
                                       const char *cache_control)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    /* a cache must not hand this answer to a page: those get one naming their origin */
    MHD_add_response_header(r, "Vary", "Origin");
    add_common_headers(h, r);
    return r;
}

void srv_reply_cached(struct srv_request *rq, enum srv_cached which)
{
    struct srv_http *h = rq->http;
    struct document *d = &h->docs[which];
    /* The lock keeps the response alive until MHD has taken its own reference. */
    pthread_mutex_lock(&h->lock);
    if (!d->resp) {
        pthread_mutex_unlock(&h->lock);
        srv_reply_problem(rq, 503, "the document is not published yet; retry shortly");
        return;
    }
    if (!rq->cors_origin[0]) {
        queue(rq, 200, d->resp);
        pthread_mutex_unlock(&h->lock);
        return;
    }
    const char *headers[] = {MHD_HTTP_HEADER_CACHE_CONTROL, d->cache_control, NULL};
    srv_reply(rq, 200, "application/json", d->body, d->len, headers);
    pthread_mutex_unlock(&h->lock);
}

int srv_http_set_document(struct srv_http *h, enum srv_cached which, char *body, size_t len,
                          const char *cache_control)
{
    struct MHD_Response *fresh = body ? cached_new(h, body, len, cache_control) : NULL;
    if (!fresh) {
        free(body);
        return SRV_ERUNTIME;
    }
    struct document *d = &h->docs[which];
    pthread_mutex_lock(&h->lock);
    struct MHD_Response *old = d->resp;
    char *old_body = d->body;
    d->resp = fresh;
    d->body = body;
    d->len = len;
    snprintf(d->cache_control, sizeof d->cache_control, "%s", cache_control);
    pthread_mutex_unlock(&h->lock);
    free(old_body);
    if (old)
        MHD_destroy_response(old); /* connections still sending it hold their own reference */
    return SRV_OK;
}

/* ---- deferred work ---- */

static void run_deferred(void *arg)
{
    struct srv_request *rq = arg;
    rq->work(rq);
    rq->phase = PH_RESUMED;
    MHD_resume_connection(rq->conn);
}

/* ---- held-back refusals ---- */

/* A refusal that a client gets at once, it asks again at once: a closed-loop flood (a fixed number
 * of connections, each sending its next request when the last is answered, as the review's storm
 * did) then spins the HTTP threads on cheap 429s, and the Argon2 workers, which yield to them,
 * starve. Holding the refusal back TARPIT_MS costs nothing but a suspended connection, and such a
 * flood then sends one request per connection and TARPIT_MS; the per-address connection cap bounds
 * how many connections it may hold. */
#define TARPIT_MS 1000.0

static void *tarpit_main(void *arg)
{
    struct srv_http *h = arg;
    pthread_mutex_lock(&h->tarpit.lock);
    for (;;) {
        while (!h->tarpit.head && !h->tarpit.stopping)
            pthread_cond_wait(&h->tarpit.cond, &h->tarpit.lock);
        struct srv_request *rq = h->tarpit.head;
        if (!rq) /* stopping, and nothing is held */
            break;
        double wait_ms = rq->tarpit_due_ms - srv_now_ms();
        if (wait_ms > 0 && !h->tarpit.stopping) {
            struct timespec until; /* the cond waits on CLOCK_MONOTONIC, as srv_now_ms() */
            clock_gettime(CLOCK_MONOTONIC, &until);
            long long ns = until.tv_nsec + (long long)(wait_ms * 1e6);
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&h->tarpit.cond, &h->tarpit.lock, &until);
            continue;
        }
        h->tarpit.head = rq->tarpit_next;
        if (!h->tarpit.head)
            h->tarpit.tail = NULL;
        h->tarpit.n--;
        pthread_mutex_unlock(&h->tarpit.lock);
        rq->phase = PH_RESUMED;
        MHD_resume_connection(rq->conn);
        pthread_mutex_lock(&h->tarpit.lock);
    }
    pthread_mutex_unlock(&h->tarpit.lock);
    return NULL;
}

/* Answers through cont(rq) TARPIT_MS from now, the connection suspended meanwhile; at once when
 * the server is stopping or already holds as many as it has connection slots. */
static void defer_delay(struct srv_request *rq, srv_handler cont)
{
    struct srv_http *h = rq->http;
    pthread_mutex_lock(&h->tarpit.lock);
    if (!h->tarpit.started || h->tarpit.stopping || h->tarpit.n >= h->ctx->cfg->max_connections) {
        pthread_mutex_unlock(&h->tarpit.lock);
        cont(rq);
        return;
    }
    rq->cont = cont;
    rq->deferred = 1;
    rq->phase = PH_SUSPENDED;
    MHD_suspend_connection(rq->conn);
    rq->tarpit_next = NULL;
    rq->tarpit_due_ms = srv_now_ms() + TARPIT_MS;
    if (h->tarpit.tail)
        h->tarpit.tail->tarpit_next = rq;
    else
        h->tarpit.head = rq;
    h->tarpit.tail = rq;
    h->tarpit.n++;
    pthread_cond_signal(&h->tarpit.cond);
    pthread_mutex_unlock(&h->tarpit.lock);
}

/* Answers everything held at once and ends the thread: MHD stops only once no connection is
 * suspended. */
static void tarpit_stop(struct srv_http *h)
{
    pthread_mutex_lock(&h->tarpit.lock);
    h->tarpit.stopping = 1;
    pthread_cond_broadcast(&h->tarpit.cond);
    int started = h->tarpit.started;
    h->tarpit.started = 0;
    pthread_mutex_unlock(&h->tarpit.lock);
    if (started)
        pthread_join(h->tarpit.thread, NULL);
}

static int is_page(const struct srv_request *rq)
{
    return rq->route && rq->route->auth == SRV_AUTH_PAGE;
}

void srv_reply_unavailable(struct srv_request *rq, const char *why, const char *page)
{
    if (is_page(rq)) /* srv_reply_page adds Retry-After to a 503 */
        srv_reply_page_message(rq, 503, "Try again shortly", page);
    else if (srv_rq_oauth(rq))
        srv_reply_oauth_error(rq, 503, "temporarily_unavailable", "%s", why);
    else
        srv_reply_problem(rq, 503, "%s", why);
}

void srv_reply_store_failure(struct srv_request *rq, int rc, const char *what)
{
    LOG_STORE(rc, "%s %s: %s", rq->method, rq->path, what);
    srv_reply_unavailable(rq, what, "This cannot be done right now.");
}

/* A browser's form gets a page, an API client its JSON. */
static void reply_over_share(struct srv_request *rq)
{
    if (is_page(rq)) {
        const char *headers[] = {"Retry-After", "1", NULL};
        struct srv_html h = {0};
        srv_html_raw(&h, "<p role=\"alert\">Too many sign-ins from here are being checked. Try "
                         "again in a moment.</p>\n");
        srv_reply_page(rq, 429, "Try again in a moment", &h, headers);
        return;
    }
    srv_reply_too_many(rq, 1, "too many requests of this client are being checked; retry shortly");
}

void srv_defer_for(struct srv_request *rq, const char *account,
                   void (*work)(struct srv_request *rq), srv_handler cont)
{
    srv_defer_with(rq, account, NULL, work, cont);
}

void *srv_rq_defer_arg(struct srv_request *rq)
{
    return rq->defer_arg;
}

/* srv_defer_with() on pool: the Argon2 workers or the fetch workers. */
static void defer_on(struct srv_workers *pool, struct srv_request *rq, const char *account,
                     void *arg, void (*work)(struct srv_request *rq), srv_handler cont)
{
    struct srv_work_slot slot;
    char source[64];
    srv_addr_group(srv_rq_client_ip(rq), source);
    enum srv_workers_admit admit = srv_workers_reserve(pool, source, account, &slot);
    if (admit == SRV_WORKERS_SHARE) {
        /* over its fair share: refused without hashing, so a storm from a few addresses (or at
         * one account) cannot queue ahead of everyone else, and held back, so it cannot spin */
        defer_delay(rq, reply_over_share);
        return;
    }
    if (admit != SRV_WORKERS_OK) {
        srv_reply_unavailable(rq, "the server is busy; retry shortly", "The server is busy.");
        return;
    }
    rq->work = work;
    rq->cont = cont;
    rq->defer_arg = arg;
    rq->deferred = 1;
    rq->phase = PH_SUSPENDED;
    MHD_suspend_connection(rq->conn);
    srv_workers_submit(pool, &slot, run_deferred, rq);
}

void srv_defer_with(struct srv_request *rq, const char *account, void *arg,
                    void (*work)(struct srv_request *rq), srv_handler cont)
{
    defer_on(rq->http->ctx->workers, rq, account, arg, work, cont);
}

void srv_defer_fetch(struct srv_request *rq, void (*work)(struct srv_request *rq), srv_handler cont)
{
    defer_on(rq->http->ctx->fetchers, rq, NULL, NULL, work, cont);
}

void srv_defer(struct srv_request *rq, void (*work)(struct srv_request *rq), srv_handler cont)
{
    srv_defer_for(rq, NULL, work, cont);
}

/* ---- the request cycle ---- */

/* admin_allow: /admin/v1 answers only the listed networks, before any token is looked at. */
static int admin_reachable(struct srv_request *rq)
{
    const struct srv_config *cfg = rq->http->ctx->cfg;
    if (cfg->admin_allow_n == 0 || strncmp(rq->path, "/admin/", 7) != 0)
        return 1;
    const char *ip = srv_rq_client_ip(rq);
    for (size_t i = 0; i < cfg->admin_allow_n; i++)
        if (srv_cidr_contains(&cfg->admin_allow_cidrs[i], ip))
            return 1;
    return 0;
}

/* A 400 in the shape of the endpoint: a page for the browser's pages, RFC 6749's invalid_request
 * on the other /oauth/ endpoints, a problem everywhere else. */
static void reply_bad_request(struct srv_request *rq, const struct srv_route *route, int path_known,
                              const char *why)
{
    if (route && route->auth == SRV_AUTH_PAGE)
        srv_reply_page_message(rq, 400, "This link is not valid", why);
    else if ((route || path_known) && srv_rq_oauth(rq))
        srv_reply_oauth_error(rq, 400, "invalid_request", "%s", why);
    else
        srv_reply_problem(rq, 400, "%s", why);
}

struct query_check {
    const char *keys[QUERY_MAX_PARAMS];
    size_t n;
    const char *why;
};

static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                       size_t key_size, const char *value, size_t value_size)
{
    struct query_check *q = cls;
    /* libmicrohttpd decodes %00 into the value and hands out C strings, which would end there */
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        q->why = "a query parameter holds a NUL byte (%00)";
        return MHD_NO;
    }
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->keys[i], key) == 0) {
            q->why = "a query parameter is repeated";
            return MHD_NO;
        }
    if (q->n == QUERY_MAX_PARAMS) {
        q->why = "the query has too many parameters";
        return MHD_NO;
    }
    q->keys[q->n++] = key;
    return MHD_YES;
}

/* Every handler reads the query through srv_rq_query(), which sees one C string per name: a
 * value cut at a NUL, or one of two values, would be checked as something else than was sent.
 * NULL when the query is clean, else why not. */
static const char *query_unclean(struct srv_request *rq)
{
    struct query_check q = {.n = 0};
    MHD_get_connection_values_n(rq->conn, MHD_GET_ARGUMENT_KIND, check_query_arg, &q);
    return q.why;
}

static void dispatch(struct srv_request *rq)
{
    int path_known = 0;
    const struct srv_route *route = srv_route_find(rq->method, rq->path, &path_known);
    /* The OAuth endpoints answer every error in RFC 6749's shape, these two included. */
    int oauth = (route || path_known) && srv_rq_oauth(rq);
    const char *why = NULL;
    if (!srv_utf8_valid(rq->path, strlen(rq->path))) {
        srv_reply_problem(rq, 400, "the path is not valid UTF-8");
        return;
    }
    if ((why = query_unclean(rq))) {
        reply_bad_request(rq, route, path_known, why);
        return;
    }
    if (rq->too_big) {
        size_t limit = rq->http->ctx->cfg->body_limit;
        if (oauth)
            srv_reply_oauth_error(rq, 413, "invalid_request", "the request body exceeds %zu bytes",
                                  limit);
        else
            srv_reply_problem(rq, 413, "the request body exceeds %zu bytes", limit);
        return;
    }
    if ((route || path_known) && !admin_reachable(rq)) {
        srv_reply_problem(rq, 403, "the admin API is not open to this address");
        return;
    }
    if (path_known && srv_cors_preflight(rq))
        return;
    if (!route && path_known) {
        if (oauth)
            srv_reply_oauth_error(rq, 405, "invalid_request", "%s is not allowed on %s", rq->method,
                                  rq->path);
        else
            srv_reply_problem(rq, 405, "%s is not allowed on %s", rq->method, rq->path);
        return;
    }
    if (!route) {
        srv_reply_problem(rq, 404, "no such resource: %s", rq->path);
        return;
    }
    if (route->auth != SRV_AUTH_PAGE && !srv_cors_admit(rq))
        return;
    rq->route = route;
    route->handler(rq);
}

static int append_body(struct srv_request *rq, const char *data, size_t len)
{
    size_t limit = rq->http->ctx->cfg->body_limit;
    if (rq->too_big || rq->body_len + len > limit) {
        rq->too_big = 1;
        free(rq->body);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        rq->discarded += len;
        return rq->discarded <= DISCARD_MAX;
    }
    if (rq->body_len + len + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 1024;
        while (cap < rq->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(rq->body, cap);
        if (!nb)
            return 0;
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, len);
    rq->body_len += len;
    rq->body[rq->body_len] = '\0';
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv_request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->conn = conn;
        rq->http = cls;
        rq->method = method;
        rq->path = url;
        rq->start_ms = srv_now_ms();
        *con_cls = rq;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->sc = ci ? ci->socket_context : NULL;
        srv_conn_body_begin(rq->sc);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        /* RFC 9112 §6.1: a message with both may be framed one way here and another way by a
         * proxy in front (request smuggling). libmicrohttpd would follow Transfer-Encoding. */
        if (cl && MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding")) {
            int path_known = 0;
            const struct srv_route *route = srv_route_find(method, url, &path_known);
            rq->phase = PH_DISPATCHED;
            rq->must_close = 1;
            reply_bad_request(rq, route, path_known,
                              "the request has both Content-Length and Transfer-Encoding");
            return MHD_YES;
        }
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && *end == '\0' && n > rq->http->ctx->cfg->body_limit) {
                rq->too_big = 1;
                if (n > DISCARD_MAX) { /* answer now; MHD closes the connection after it */
                    rq->phase = PH_DISPATCHED;
                    dispatch(rq);
                }
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        srv_conn_body_received(rq->sc, *upload_data_size);
        int keep = append_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* libmicrohttpd 0.9.75 cannot queue a response in the middle of a body, so a chunked
         * body that runs DISCARD_MAX past the limit ends the connection unanswered. */
        return keep ? MHD_YES : MHD_NO;
    }
    srv_conn_handling(rq->sc);
    rq->deferred = 0;
    switch (rq->phase) {
    case PH_RECEIVING:
        rq->phase = PH_DISPATCHED;
        dispatch(rq);
        break;
    case PH_RESUMED: {
        srv_handler cont = rq->cont;
        rq->phase = PH_DISPATCHED;
        rq->cont = NULL;
        cont(rq);
        break;
    }
    default:
        break;
    }
    if (!rq->deferred && rq->status == 0) {
        LOG(SRV_LOG_ERROR, "handler for %s %s answered nothing", rq->method, rq->path);
        srv_reply_problem(rq, 500, "internal error");
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv_request *rq = *con_cls;
    if (!rq)
        return;
    srv_conn_idle(rq->sc); /* the next request's headers are due from now */
    if (SRV_LOG_INFO >= srv_log_min) {
        /* A path that is not UTF-8 (answered 400) cannot go into a JSON line as it is. */
        const char *path = srv_utf8_valid(rq->path, strlen(rq->path)) ? rq->path : "(not UTF-8)";
        json_t *f = json_pack("{s:s, s:s, s:i, s:f}", "method", rq->method, "path", path, "status",
                              (int)rq->status, "duration_ms", srv_now_ms() - rq->start_ms);
        if (f && rq->client_id[0])
            json_object_set_new(f, "client_id", json_string(rq->client_id));
        if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            json_object_set_new(f, "terminated", json_integer(toe));
        srv_log_json(SRV_LOG_INFO, LOG_MODULE, "request", f);
        json_decref(f);
    }
    if (rq->state_free)
        rq->state_free(rq->state);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* Connections are counted here, in all and per address, across the whole thread pool: MHD gives
 * each pool thread max_connections / http_threads slots, but a thread with no room left stops
 * accepting, so any free slot in the pool serves a newcomer. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct srv_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context =
            srv_conn_open(h->guard, fd ? fd->connect_fd : -1, addr ? addr->client_addr : NULL);
    } else {
        /* MHD closes the socket only after this returns (MHD_cleanup_connections in 0.9.75) */
        srv_conn_close(*socket_context);
        *socket_context = NULL;
    }
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct srv_http *h = cls;
    return srv_conn_guard_admit(h->guard, addr) ? MHD_YES : MHD_NO;
}

/* fmt comes from libmicrohttpd; the attribute tells the compiler it is a format. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    LOG(SRV_LOG_WARN, "libmicrohttpd: %s", msg);
}

/* Binds the listening socket ourselves: getaddrinfo() resolves names and IPv6 literals, and
 * getsockname() tells the port when 0 was asked for. */
static int bind_listener(const char *host, unsigned port, int *fd_out, unsigned *port_out)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    char portstr[16];
    int fd = -1, rc = SRV_ERUNTIME, one = 1, gai;
    snprintf(portstr, sizeof portstr, "%u", port);
    if ((gai = getaddrinfo(host, portstr, &hints, &res)) != 0) {
        fprintf(stderr, "idpd: cannot resolve listen address %s: %s\n", host, gai_strerror(gai));
        goto out;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        fprintf(stderr, "idpd: cannot listen on %s:%u: %s\n", host, port, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    rc = SRV_OK;
out:
    if (res)
        freeaddrinfo(res);
    return rc;
}

/* Reads a PEM file whole (at most 1 MiB). A private key that others may read is refused, as
 * master.key is; group-readable stays allowed for Debian's ssl-cert group convention. */
static char *read_pem(const char *path, int is_key, size_t *len)
{
    struct stat sb;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        sb.st_size > (1 << 20)) {
        fprintf(stderr, "idpd: cannot read %s %s: %s\n", is_key ? "TLS key" : "TLS certificate",
                path, f ? "not a regular file of up to 1 MiB" : strerror(errno));
        goto out;
    }
    if (is_key && (sb.st_mode & S_IROTH)) {
        fprintf(stderr, "idpd: TLS key %s can be read by others (mode %03o); chmod o-r it\n", path,
                (unsigned)(sb.st_mode & 0777));
        goto out;
    }
    if (!(buf = malloc((size_t)sb.st_size + 1)) ||
        fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        fprintf(stderr, "idpd: cannot read %s\n", path);
        if (buf)
            crypto_wipe(buf, (size_t)sb.st_size);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[sb.st_size] = '\0';
    *len = (size_t)sb.st_size;
out:
    if (f)
        fclose(f);
    return buf;
}

int srv_http_start(struct srv_ctx *ctx, struct srv_http **out)
{
    const struct srv_config *cfg = ctx->cfg;
    struct srv_http *h = calloc(1, sizeof *h);
    int rc = SRV_ERUNTIME;
    if (!h)
        goto out;
    h->ctx = ctx;
    h->listen_fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->tarpit.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* a wall-clock step holds nothing back */
    pthread_cond_init(&h->tarpit.cond, &ca);
    pthread_condattr_destroy(&ca);
    ctx->http = h;
    if (bind_listener(cfg->listen_host, cfg->listen_port, &h->listen_fd, &h->port) != SRV_OK)
        goto out;
    int tls = cfg->tls_cert[0] != '\0';
    size_t cert_len = 0;
    if (tls && (!(h->tls_cert = read_pem(cfg->tls_cert, 0, &cert_len)) ||
                !(h->tls_key = read_pem(cfg->tls_key, 1, &h->tls_key_len))))
        goto out;
    /* Never over plain HTTP: a browser ignores it there, and it would only mislead. */
    if (tls && cfg->hsts_max_age)
        snprintf(h->hsts, sizeof h->hsts, "max-age=%lld", (long long)cfg->hsts_max_age);
    if (cfg->issuer[0])
        snprintf(ctx->issuer, sizeof ctx->issuer, "%s", cfg->issuer);
    else
        snprintf(ctx->issuer, sizeof ctx->issuer,
                 strchr(cfg->listen_host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
                 tls ? "https" : "http", cfg->listen_host, h->port);
    if (srv_conn_guard_start(cfg, &h->guard) != SRV_OK)
        goto out;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0);
    /* GnuTLS priorities: TLS 1.3 and 1.2 only; 1.3 wins whenever the client offers it. */
    static const char tls_priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    /* The logger goes first so MHD routes every message of its own start-up through it. */
    h->daemon = MHD_start_daemon(
        flags, 0, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->header_limit,
        /* With TLS off these three are skipped: MHD_OPTION_END ends the list there. */
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
        h->tls_key, MHD_OPTION_HTTPS_PRIORITIES, tls_priorities, MHD_OPTION_END);
    if (!h->daemon) {
        fprintf(stderr, "idpd: cannot start the HTTP listener on %s:%u\n", cfg->listen_host,
                h->port);
        goto out;
    }
    int tarpit = pthread_create(&h->tarpit.thread, NULL, tarpit_main, h) == 0;
    pthread_mutex_lock(&h->tarpit.lock); /* the HTTP threads already read it */
    h->tarpit.started = tarpit;          /* without it refusals are answered at once */
    pthread_mutex_unlock(&h->tarpit.lock);
    *out = h;
    h = NULL;
    rc = SRV_OK;
out:
    if (h) {
        ctx->http = NULL;
        srv_http_stop(h);
    }
    return rc;
}

const char *srv_http_version(void)
{
    return MHD_get_version();
}

unsigned srv_http_port(struct srv_http *h)
{
    return h->port;
}

void srv_http_stop(struct srv_http *h)
{
    if (!h)
        return;
    if (h->daemon) {
        /* Deferred work resumes its connections first: MHD refuses to stop while any is still
         * suspended. Once drained, the pool takes no more work, so a request that reaches
         * srv_defer() from now on answers 503 rather than suspending. The pool is freed only
         * after MHD has stopped, which also closes the listening socket it was given.
         * (MHD_quiesce_daemon() is not used: in 0.9.75 with a thread pool on epoll it can
         * panic with "Failed to remove listen FD from epoll set".) */
        srv_workers_drain(h->ctx->workers);
        srv_workers_drain(h->ctx->fetchers);
        tarpit_stop(h);
        MHD_stop_daemon(h->daemon);
        srv_workers_stop(h->ctx->workers);
        h->ctx->workers = NULL;
        srv_workers_stop(h->ctx->fetchers);
        h->ctx->fetchers = NULL;
    } else if (h->listen_fd >= 0) {
        close(h->listen_fd);
    }
    srv_conn_guard_stop(h->guard); /* MHD has reported every connection closed */
    for (size_t i = 0; i < sizeof h->docs / sizeof h->docs[0]; i++) {
        if (h->docs[i].resp)
            MHD_destroy_response(h->docs[i].resp);
        free(h->docs[i].body);
    }
    if (h->tls_key)
        crypto_wipe(h->tls_key, h->tls_key_len);
    free(h->tls_key);
    free(h->tls_cert);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->tarpit.lock);
    pthread_cond_destroy(&h->tarpit.cond);
    free(h);
}

void srv_reply_bearer_challenge(struct srv_request *rq, const char *error, const char *detail)
{
    char www[160];
    snprintf(www, sizeof www, "Bearer realm=\"idpd\"%s%s%s", error ? ", error=\"" : "",
             error ? error : "", error ? "\"" : "");
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", "Unauthorized",
                             "status", 401, "detail", detail);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *headers[] = {"WWW-Authenticate", www, "Cache-Control", "no-store", NULL};
    srv_reply(rq, 401, "application/problem+json", text ? text : "{}", text ? strlen(text) : 2,
              headers);
    free(text);
}
