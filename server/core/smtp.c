/* One message through SMTP, with libcurl: the outbox sender's transport. TLS is required: an
 * smtp:// URL must upgrade with STARTTLS and an smtps:// URL starts in TLS, both with the
 * server's certificate checked; plain SMTP is allowed only to a loopback address and only when
 * the operator said so (a local relay, the tests' sink). */
#define LOG_MODULE "mail"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"

struct body {
    const char *data;
    size_t len, at;
};

static size_t read_body(char *dst, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t want = size * n, left = b->len - b->at;
    if (want > left)
        want = left;
    memcpy(dst, b->data + b->at, want);
    b->at += want;
    return want;
}

/* The URL's scheme and host, checked: smtp:// or smtps://, a host. SRV_EINVAL with *why. */
static int url_parts(const char *url, int *tls_from_start, int *loopback, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = SRV_EINVAL;
    *why = "smtp_url is not a URL";
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    *why = "smtp_url must be smtp:// or smtps://";
    if (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)
        goto out;
    *tls_from_start = strcmp(scheme, "smtps") == 0;
    *loopback = srv_host_loopback(host);
    rc = SRV_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int srv_smtp_send(const struct srv_smtp *s, const char *to, const char *message, size_t len,
                  char *why, size_t why_cap)
{
    char err[CURL_ERROR_SIZE] = "", from[STORE_EMAIL_MAX + 2], rcpt[STORE_EMAIL_MAX + 2];
    struct body b = {message, len, 0};
    struct curl_slist *rcpts = NULL;
    const char *bad = NULL;
    int tls_from_start = 0, loopback = 0, rc = SRV_EINVAL;
    CURL *c = NULL;
    CURLcode cc;

    if (!s || !s->url || !s->from || !to || !message || !why || !why_cap)
        return SRV_EINVAL;
    why[0] = '\0';
    if (url_parts(s->url, &tls_from_start, &loopback, &bad) != SRV_OK)
        goto out;
    bad = NULL;
    snprintf(from, sizeof from, "<%s>", s->from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    c = curl_easy_init();
    rcpts = curl_slist_append(NULL, rcpt);
    if (!c || !rcpts) {
        bad = "out of memory";
        rc = SRV_ENOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, &b);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    /* STARTTLS or nothing, unless the operator allowed plain SMTP to a loopback relay */
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     (long)(s->plain_loopback && loopback ? CURLUSESSL_NONE : CURLUSESSL_ALL));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (s->user && s->user[0]) {
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        rc = SRV_OK;
    } else {
        /* libcurl's text names the server's answer or the failure, never the password */
        snprintf(why, why_cap, "%s", err[0] ? err : curl_easy_strerror(cc));
        rc = SRV_ERUNTIME;
    }
out:
    if (bad)
        snprintf(why, why_cap, "%s", bad);
    curl_slist_free_all(rcpts);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}
