/* Cross-origin requests from browser SDKs (the Fetch standard's CORS protocol). A browser names
 * the page's origin in Origin; idpd answers it only when an application lists that origin in its
 * allowed_origins, in two steps:
 *  - before the handler (srv_cors_admit): the origin must be one that some application allows,
 *    since a preflight and the public documents name no client. A preflight is answered here.
 *  - once the request names its client (srv_cors_client_or_error): the origin must be one that
 *    this application allows. Service accounts have no origins: their secrets do not belong in a
 *    browser.
 * Requests without Origin (servers, CLIs) and from the issuer's own origin are not cross-origin
 * and pass untouched. Everything else is refused before it does anything, and a refusal carries
 * no Access-Control-Allow-Origin, so the page cannot read it. No credentials mode: tokens travel
 * in Authorization, never in cookies, so Access-Control-Allow-Credentials is never sent. */
#define LOG_MODULE "cors"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/http/http.h"

/* Request headers a page may set beyond the CORS-safelisted ones (Fetch §3.2.2). */
static const char *const allowed_headers[] = {"authorization",   "content-type",     "accept",
                                              "accept-language", "content-language", NULL};
#define ALLOWED_HEADERS "Authorization, Content-Type, Accept, Accept-Language, Content-Language"
/* How long a browser may reuse a preflight answer (Chromium caps it at 2 hours). */
#define PREFLIGHT_MAX_AGE "600"

/* 1 when origin is the issuer's own: scheme://host[:port] of the issuer, whole. */
static int same_origin(struct srv_request *rq, const char *origin)
{
    const char *issuer = srv_rq_ctx(rq)->issuer, *host = strstr(issuer, "://");
    if (!host)
        return 0;
    size_t len = strcspn(host + 3, "/") + (size_t)(host + 3 - issuer);
    return strlen(origin) == len && strncasecmp(origin, issuer, len) == 0;
}

/* The request's Origin when the request is cross-origin, else NULL. */
static const char *cross_origin(struct srv_request *rq)
{
    const char *origin = srv_rq_header(rq, "Origin");
    return origin && !same_origin(rq, origin) ? origin : NULL;
}

struct lookup {
    const char *origin, *app_id;
};

static int lookup_txn(struct store_txn *txn, void *arg)
{
    struct lookup *l = arg;
    return store_origin_allowed(txn, l->origin, l->app_id);
}

/* SRV_OK when allowed; STORE_NOTFOUND when not; another code when the store failed. */
static int origin_allowed(struct srv_request *rq, const char *origin, const char *app_id)
{
    struct lookup l = {origin, app_id};
    if (app_id && strncmp(app_id, "app_", 4) != 0)
        return STORE_NOTFOUND;
    int rc = store_read(srv_rq_ctx(rq)->store, lookup_txn, &l);
    return rc == STORE_EINVAL ? STORE_NOTFOUND : rc;
}

/* Answers a refused cross-origin request, in the route's error shape: 503 when the store could
 * not say whether the origin is allowed. */
static void refuse(struct srv_request *rq, int rc, const char *why)
{
    srv_rq_set_cors_origin(rq, NULL);
    if (rc != STORE_NOTFOUND) {
        srv_reply_store_failure(rq, rc, "the origin cannot be checked now; retry shortly");
    } else if (srv_rq_oauth(rq)) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "%s", why);
    } else {
        srv_reply_problem(rq, 403, "%s", why);
    }
}

/* 1 when every name of the comma-separated list is one a page may send. */
static int headers_allowed(const char *list)
{
    while (list && *list) {
        list += strspn(list, " \t,");
        size_t len = strcspn(list, " \t,");
        if (len == 0)
            break;
        int known = 0;
        for (size_t i = 0; allowed_headers[i] && !known; i++)
            known = strlen(allowed_headers[i]) == len &&
                    strncasecmp(allowed_headers[i], list, len) == 0;
        if (!known)
            return 0;
        list += len;
    }
    return 1;
}

/* OPTIONS with Access-Control-Request-Method: may the page send that request? */
static void preflight(struct srv_request *rq, const char *origin, const char *method)
{
    int known = 0;
    char methods[64];
    if (!srv_route_find(method, srv_rq_path(rq), &known)) {
        refuse(rq, STORE_NOTFOUND, "this method is not allowed on this path");
        return;
    }
    if (!headers_allowed(srv_rq_header(rq, "Access-Control-Request-Headers"))) {
        refuse(rq, STORE_NOTFOUND,
               "a requested header is not allowed (allowed: " ALLOWED_HEADERS ")");
        return;
    }
    int rc = origin ? origin_allowed(rq, origin, NULL) : STORE_OK;
    if (rc != STORE_OK) {
        refuse(rq, rc, "no application allows this origin");
        return;
    }
    srv_route_allow(srv_rq_path(rq), methods, sizeof methods);
    const char *headers[] = {
        "Access-Control-Allow-Methods",
        methods,
        "Access-Control-Allow-Headers",
        ALLOWED_HEADERS,
        "Access-Control-Max-Age",
        PREFLIGHT_MAX_AGE,
        "Vary",
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        NULL};
    srv_rq_set_cors_origin(rq, srv_rq_header(rq, "Origin"));
    srv_reply(rq, 204, NULL, "", 0, headers);
}

int srv_cors_preflight(struct srv_request *rq)
{
    const char *method = srv_rq_header(rq, "Access-Control-Request-Method");
    if (strcmp(srv_rq_method(rq), "OPTIONS") != 0 || !srv_rq_header(rq, "Origin") || !method)
        return 0;
    preflight(rq, cross_origin(rq), method);
    return 1;
}

int srv_cors_admit(struct srv_request *rq)
{
    const char *origin = cross_origin(rq);
    if (!origin)
        return 1;
    int rc = origin_allowed(rq, origin, NULL);
    if (rc != STORE_OK) {
        refuse(rq, rc, "no application allows this origin");
        return 0;
    }
    srv_rq_set_cors_origin(rq, origin);
    return 1;
}

int srv_cors_client_or_error(struct srv_request *rq, const char *client_id)
{
    const char *origin = cross_origin(rq);
    if (!origin)
        return 1;
    int rc = origin_allowed(rq, origin, client_id ? client_id : "");
    if (rc != STORE_OK) {
        refuse(rq, rc, "this client does not allow this origin");
        return 0;
    }
    return 1;
}
