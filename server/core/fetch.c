/* Outbound HTTPS, with libcurl: what idpd asks of other servers (an upstream provider's
 * discovery document, its JWKS, a code exchange). Every request is bounded, so an upstream that
 * is slow, huge or hostile costs a worker at most the timeout and the body cap:
 *  - HTTPS only, the server's certificate checked; plain HTTP only to a loopback host and only
 *    when the operator allowed it (the tests' upstreams);
 *  - no proxy from the environment (an operator's http_proxy must not see tokens by accident);
 *  - one deadline for the whole exchange, redirects included;
 *  - the body capped: past the cap the transfer is abandoned;
 *  - redirects are not followed by libcurl: a GET follows one to the same scheme, host and port
 *    (at most three), anything else is an error, so an upstream cannot send idpd elsewhere.
 * Blocking: run it on a worker (srv_defer), never on an HTTP thread. */
#define LOG_MODULE "fetch"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/core/core.h"

#define REDIRECTS_MAX 3

int srv_host_loopback(const char *host)
{
    return host && (strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                    strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0);
}

struct origin {
    char *scheme, *host, *port;
};

static void origin_clear(struct origin *o)
{
    curl_free(o->scheme);
    curl_free(o->host);
    curl_free(o->port);
    memset(o, 0, sizeof *o);
}

/* The scheme, host and port of url (the port made explicit). SRV_EINVAL when it is not an
 * absolute http(s) URL. */
static int origin_of(const char *url, struct origin *o)
{
    CURLU *u = curl_url();
    int rc = SRV_EINVAL;
    memset(o, 0, sizeof *o);
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &o->host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        (strcmp(o->scheme, "https") == 0 || strcmp(o->scheme, "http") == 0))
        rc = SRV_OK;
    curl_url_cleanup(u);
    if (rc != SRV_OK)
        origin_clear(o);
    return rc;
}

static int same_origin(const struct origin *a, const struct origin *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcasecmp(a->host, b->host) == 0 &&
           strcmp(a->port, b->port) == 0;
}

/* SRV_OK when url may be asked at all, with why otherwise. */
static int url_allowed(const struct srv_fetch_opts *o, const struct origin *at, const char **why)
{
    if (strcmp(at->scheme, "https") == 0)
        return SRV_OK;
    if (o->plain_loopback && srv_host_loopback(at->host))
        return SRV_OK;
    *why = "only https:// URLs are fetched";
    return SRV_EINVAL;
}

int srv_fetch_url_valid(const struct srv_fetch_opts *o, const char *url, const char **why)
{
    struct origin at;
    *why = "not an absolute https:// URL";
    if (!url || strlen(url) >= STORE_URI_MAX || strchr(url, '#') || origin_of(url, &at) != SRV_OK)
        return SRV_EINVAL;
    int rc = url_allowed(o, &at, why);
    origin_clear(&at);
    return rc;
}

struct srv_fetch_opts srv_fetch_opts_of(const struct srv_config *cfg)
{
    return (struct srv_fetch_opts){.plain_loopback = (int)cfg->outbound_plain_loopback,
                                   .timeout_ms = (long)cfg->outbound_timeout * 1000,
                                   .max_body = (size_t)cfg->outbound_max_body};
}

struct sink {
    struct buf buf;
    size_t cap;
    int over;
};

static size_t write_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->buf.len + len > s->cap) {
        s->over = 1;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&s->buf, data, len);
    return s->buf.failed ? 0 : len;
}

struct head {
    char content_type[128];
    char cache_control[256];
};

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0)
        return;
    line += nlen;
    len -= nlen;
    while (len && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    snprintf(out, cap, "%.*s", (int)len, line);
}

static size_t write_header(char *data, size_t size, size_t n, void *arg)
{
    struct head *h = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        memset(h, 0, sizeof *h); /* a new answer (after a 100 Continue) */
    header_value(data, len, "content-type:", h->content_type, sizeof h->content_type);
    header_value(data, len, "cache-control:", h->cache_control, sizeof h->cache_control);
    return len;
}

int64_t srv_cache_max_age(const char *cache_control)
{
    int64_t age = 0;
    for (const char *p = cache_control; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        if ((len >= 8 && strncasecmp(p, "no-store", 8) == 0) ||
            (len >= 8 && strncasecmp(p, "no-cache", 8) == 0))
            return 0;
        if (len > 8 && strncasecmp(p, "max-age=", 8) == 0) {
            int64_t v = 0;
            size_t i = 8;
            for (; i < len && p[i] >= '0' && p[i] <= '9' && v < 100000000; i++)
                v = v * 10 + (p[i] - '0');
            if (i > 8)
                age = v;
        }
        p += len;
    }
    return age;
}

void srv_fetch_result_clear(struct srv_fetch_result *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* One exchange with the deadline left; *redirect gets the Location of a 3xx (curl_free). */
static int exchange(const struct srv_fetch_opts *o, const char *url, const char *const *headers,
                    const char *form, long timeout_ms, struct srv_fetch_result *out,
                    char **redirect, char *why, size_t cap)
{
    char err[CURL_ERROR_SIZE] = "";
    struct sink body = {.cap = o->max_body};
    struct head head = {.content_type = ""};
    struct curl_slist *list = NULL;
    CURL *c = curl_easy_init();
    int rc = SRV_ENOMEM;
    *redirect = NULL;
    if (!c)
        goto out;
    for (size_t i = 0; headers && headers[i]; i++)
        if (!(list = curl_slist_append(list, headers[i])))
            goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o->plain_loopback ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "idpd");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    if (list)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
    }
    CURLcode cc = curl_easy_perform(c);
    if (body.over || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, cap, "the answer is larger than %zu bytes", o->max_body);
        rc = SRV_ERUNTIME;
        goto out;
    }
    if (cc != CURLE_OK || body.buf.failed) {
        snprintf(why, cap, "%s",
                 body.buf.failed ? "out of memory"
                 : err[0]        ? err
                                 : curl_easy_strerror(cc));
        rc = body.buf.failed ? SRV_ENOMEM : SRV_ERUNTIME;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status >= 300 && out->status < 400) {
        char *loc = NULL;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        if (loc)
            *redirect = strdup(loc);
    }
    buf_reserve(&body.buf, 1); /* an empty answer still gets its (empty) text */
    if (!(out->body = buf_take(&body.buf, &out->len))) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    snprintf(out->content_type, sizeof out->content_type, "%s", head.content_type);
    out->max_age = srv_cache_max_age(head.cache_control);
    rc = SRV_OK;
out:
    buf_free(&body.buf);
    curl_slist_free_all(list);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

int srv_fetch(const struct srv_fetch_opts *o, const char *url, const char *const *headers,
              const char *form, struct srv_fetch_result *out, char *why, size_t cap)
{
    struct origin first = {0}, next = {0};
    const char *bad = NULL;
    char *target = NULL, *redirect = NULL;
    int rc = SRV_EINVAL;
    double deadline = srv_now_ms() + o->timeout_ms;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (origin_of(url, &first) != SRV_OK) {
        bad = "not an http(s) URL";
        goto out;
    }
    if (url_allowed(o, &first, &bad) != SRV_OK)
        goto out;
    if (!(target = strdup(url))) {
        rc = SRV_ENOMEM;
        goto out;
    }
    for (int hops = 0;; hops++) {
        long left = (long)(deadline - srv_now_ms());
        if (left <= 0) {
            bad = "the upstream took too long";
            rc = SRV_ERUNTIME;
            goto out;
        }
        srv_fetch_result_clear(out);
        rc = exchange(o, target, headers, form, left, out, &redirect, why, cap);
        if (rc != SRV_OK || !redirect)
            goto out;
        /* a POST is never redirected (it would resend a code or a secret); a GET stays on the
         * origin it was sent to */
        rc = SRV_ERUNTIME;
        if (form || hops == REDIRECTS_MAX) {
            bad = form ? "the upstream redirected a POST" : "too many redirects";
            goto out;
        }
        if (origin_of(redirect, &next) != SRV_OK || !same_origin(&first, &next)) {
            bad = "the upstream redirected to another origin";
            goto out;
        }
        origin_clear(&next);
        free(target);
        target = redirect;
        redirect = NULL;
    }
out:
    if (bad)
        snprintf(why, cap, "%s", bad);
    if (rc != SRV_OK)
        srv_fetch_result_clear(out);
    origin_clear(&first);
    origin_clear(&next);
    free(target);
    free(redirect);
    return rc;
}
