/* Server-rendered pages (login, consent, device, logout): a small builder that escapes every
 * piece of text, and the one frame all pages share. The pages need no JavaScript; their headers
 * forbid scripts and framing, and nothing of them is cached. The referrer policy is
 * same-origin, not no-referrer: under no-referrer a browser posts the pages' forms with
 * "Origin: null", which the CORS check rightly refuses; same-origin lets it name idpd's own
 * origin and still tells other sites nothing. */
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "server/http/http.h"

/* First capacity of a page or URL (BUF_FIRST is smaller): the 2048 bytes this writer has always
 * started with; the frame alone takes most of it. */
#define FIRST_CAP 2048

void srv_html_raw(struct srv_html *h, const char *fmt, ...)
{
    va_list ap;
    if (!h->buf.cap)
        buf_reserve(&h->buf, FIRST_CAP - 1);
    va_start(ap, fmt);
    buf_vappendf(&h->buf, fmt, ap);
    va_end(ap);
}

void srv_html_text(struct srv_html *h, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            srv_html_raw(h, "&amp;");
            break;
        case '<':
            srv_html_raw(h, "&lt;");
            break;
        case '>':
            srv_html_raw(h, "&gt;");
            break;
        case '"':
            srv_html_raw(h, "&quot;");
            break;
        case '\'':
            srv_html_raw(h, "&#39;");
            break;
        default:
            srv_html_raw(h, "%c", *s);
        }
    }
}

void srv_html_hidden(struct srv_html *h, const char *name, const char *value)
{
    if (!value)
        return;
    srv_html_raw(h, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    srv_html_text(h, value);
    srv_html_raw(h, "\">\n");
}

void srv_html_error(struct srv_html *h, const char *error)
{
    if (!error)
        return;
    srv_html_raw(h, "<p class=\"error\" role=\"alert\" id=\"error\">");
    srv_html_text(h, error);
    srv_html_raw(h, "</p>\n");
}

void srv_html_free(struct srv_html *h)
{
    buf_free(&h->buf);
    memset(h, 0, sizeof *h);
}

static const char style[] =
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
    "main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.15)}"
    "h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .25rem;font-weight:600}"
    "input[type=email],input[type=password],input[type=text]{width:100%;box-sizing:border-box;"
    "padding:.6rem;font-size:1rem;border:1px solid #8a93a6;border-radius:4px}"
    "input:focus,button:focus{outline:3px solid #2f6fde;outline-offset:1px}"
    "button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;"
    "background:#1f5ed6;color:#fff;cursor:pointer}button.secondary{background:#5b6477}"
    ".error{color:#a4161a;background:#fdecec;padding:.6rem;border-radius:4px}"
    "ul{padding-left:1.2rem}";

void srv_reply_page(struct srv_request *rq, unsigned status, const char *title,
                    struct srv_html *body, const char *const *extra_headers)
{
    struct srv_html page = {0};
    const char *headers[16];
    size_t n = 0;
    srv_html_raw(&page, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>");
    srv_html_text(&page, title);
    srv_html_raw(&page, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>", style);
    srv_html_text(&page, title);
    srv_html_raw(&page, "</h1>\n%s</main>\n</body>\n</html>\n",
                 body && body->buf.data ? body->buf.data : "");
    if (page.buf.failed || (body && body->buf.failed)) {
        srv_html_free(&page);
        srv_html_free(body);
        srv_reply_problem(rq, 500, "the page could not be rendered");
        return;
    }
    static const char *const fixed[] = {
        "Cache-Control",
        "no-store",
        "X-Frame-Options",
        "DENY",
        "Referrer-Policy",
        "same-origin",
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        headers[n++] = fixed[i];
    if (body && body->csrf_cookie[0]) {
        headers[n++] = "Set-Cookie";
        headers[n++] = body->csrf_cookie;
    }
    int retry_after = 0;
    for (size_t i = 0;
         extra_headers && extra_headers[i] && n + 2 < sizeof headers / sizeof *headers; i += 2) {
        retry_after |= strcasecmp(extra_headers[i], "Retry-After") == 0;
        headers[n++] = extra_headers[i];
        headers[n++] = extra_headers[i + 1];
    }
    /* as every 503 of the APIs: a browser or a proxy may retry after it */
    if (status == 503 && !retry_after && n + 2 < sizeof headers / sizeof *headers) {
        headers[n++] = "Retry-After";
        headers[n++] = "1";
    }
    headers[n] = NULL;
    srv_reply(rq, status, "text/html; charset=utf-8", page.buf.data, page.buf.len, headers);
    srv_html_free(&page);
    srv_html_free(body);
}

void srv_reply_page_message(struct srv_request *rq, unsigned status, const char *title,
                            const char *message)
{
    struct srv_html body = {0};
    srv_html_raw(&body, "<p role=\"alert\">");
    srv_html_text(&body, message);
    srv_html_raw(&body, "</p>\n");
    srv_reply_page(rq, status, title, &body, NULL);
}
