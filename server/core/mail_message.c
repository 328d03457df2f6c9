/* A rendered message made into the text SMTP carries: RFC 5322 headers and a MIME
 * multipart/alternative body (RFC 2045, 2046), a plain-text part and an HTML part.
 *
 * Why quoted-printable rather than base64 for the parts: the texts are mostly ASCII, so the
 * message stays readable as it is (in the outbox, a relay's queue, a test's sink) and about as
 * long as the text, where base64 adds a third and hides everything. It also makes the boundary
 * safe by construction: quoted-printable writes '=' only before two hex digits or a line end, so
 * a boundary that starts with "=_" cannot occur inside an encoded part (RFC 2045 §6.7's own
 * hint); its random tail is only there so that no two messages share it.
 *
 * Every header is written from checked parts: addresses cannot carry a line end or a second
 * address, the subject is either plain printable ASCII or encoded-words, and the Message-ID is
 * printable ASCII. */
#define LOG_MODULE "mail"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/core.h"

#define ID_MAX 255              /* longest Message-ID taken (a header line holds 998) */
#define DATE_MAX 253402300799LL /* 9999-12-31T23:59:59Z: RFC 5322 years have four digits */
#define QP_LINE 76              /* RFC 2045 §6.7 (5): encoded lines at most 76 characters */
#define HEADER_LINE 78          /* RFC 5322 §2.1.1: lines SHOULD be at most 78 characters */
/* Subject bytes per encoded-word: 56 base64 characters, so that "Subject: =?UTF-8?B?…?=" and
 * each folded line after it stay within HEADER_LINE. */
#define WORD_BYTES 42

/* An address as a header may hold it: one addr-spec that can neither end the header nor name
 * a second recipient (or a display name, a comment, a group). */
static int address_ok(const char *a)
{
    size_t n = a ? strlen(a) : 0;
    if (n == 0 || n >= STORE_EMAIL_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("<>,;\"()", *p))
            return 0;
    return srv_utf8_valid(a, n);
}

static int message_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > ID_MAX)
        return 0;
    for (const char *p = id; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '<' || *p == '>')
            return 0;
    return 1;
}

static int utf8_ok(const char *s)
{
    return s && srv_utf8_valid(s, strlen(s));
}

/* RFC 5322 §3.3, in English whatever the locale: "Thu, 01 Jan 2026 09:05:00 +0000". */
static int put_date(struct buf *b, int64_t date)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)date;
    struct tm tm;
    if (date < 0 || date > DATE_MAX || !gmtime_r(&t, &tm))
        return 0;
    buf_appendf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 1;
}

/* n bytes of s as padded standard base64 (RFC 4648 §4), which RFC 2047's "B" encoding is:
 * crypto/ offers only the URL-safe alphabet unpadded, so its output is mapped and padded. */
static void put_base64(struct buf *b, const char *s, size_t n)
{
    char out[WORD_BYTES / 3 * 4 + 8];
    size_t len = 0;
    if (crypto_b64url_encode(s, n, out, sizeof out, &len) != CRYPTO_OK) {
        b->failed = BUF_ENOMEM; /* cannot happen for n <= WORD_BYTES */
        return;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '-' ? '+' : out[i] == '_' ? '/' : out[i];
    while (len % 4)
        out[len++] = '=';
    buf_append(b, out, len);
}

/* The Subject header: as it is when it is printable ASCII that fits one line and could not be
 * read as an encoded-word; else RFC 2047 encoded-words of whole UTF-8 characters, one a line. */
static void put_subject(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    int plain = sizeof "Subject: " - 1 + n <= HEADER_LINE && !strstr(s, "=?");
    for (size_t i = 0; plain && i < n; i++)
        plain = s[i] >= ' ' && s[i] <= '~';
    if (plain) {
        buf_appendf(b, "Subject: %s\r\n", s);
        return;
    }
    buf_appends(b, "Subject:");
    for (size_t at = 0; at < n;) { /* n > 0: an empty subject is plain */
        size_t take = n - at > WORD_BYTES ? WORD_BYTES : n - at;
        /* an encoded-word holds whole characters (RFC 2047 §5 (3)): back off a split one */
        while (at + take < n && take > 0 && ((unsigned char)s[at + take] & 0xc0) == 0x80)
            take--;
        buf_appends(b, at ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
        put_base64(b, s + at, take);
        buf_appends(b, "?=");
        at += take;
    }
    buf_appends(b, "\r\n");
}

/* s as quoted-printable (RFC 2045 §6.7): "\n" and "\r\n" are line ends (CRLF); '=', bytes
 * outside printable ASCII (a lone CR, UTF-8) and blanks before a line end are =XX; lines are
 * broken with a soft "=" before QP_LINE, never inside an =XX. */
static void put_qp(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
            p += *p == '\r';
            buf_appends(b, "\r\n");
            col = 0;
            continue;
        }
        int at_end = p[1] == '\0' || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n');
        int literal =
            (*p > ' ' && *p <= '~' && *p != '=') || ((*p == ' ' || *p == '\t') && !at_end);
        char tok[3] = {(char)*p, hex[*p >> 4], hex[*p & 15]};
        size_t len = literal ? 1 : 3;
        if (!literal)
            tok[0] = '=';
        /* room for the token and a soft break's '=' */
        if (col + len > QP_LINE - 1) {
            buf_appends(b, "=\r\n");
            col = 0;
        }
        buf_append(b, tok, len);
        col += len;
    }
}

static void put_part(struct buf *b, const char *boundary, const char *type, const char *body)
{
    buf_appendf(b,
                "--%s\r\nContent-Type: %s; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                boundary, type);
    put_qp(b, body);
    buf_appends(b, "\r\n"); /* this CRLF belongs to the delimiter (RFC 2046 §5.1.1) */
}

int srv_mail_compose(const char *from, const char *to, const char *subject, const char *text,
                     const char *html, const char *message_id, int64_t date, char **out,
                     size_t *len)
{
    struct buf b = {0};
    unsigned char rnd[16];
    char boundary[2 + 2 * sizeof rnd + 1] = "=_";
    int rc = SRV_EINVAL;

    if (!out || !len)
        return SRV_EINVAL;
    *out = NULL;
    *len = 0;
    if (!address_ok(from) || !address_ok(to) || !utf8_ok(subject) || !utf8_ok(text) ||
        !utf8_ok(html) || !message_id_ok(message_id))
        goto out;
    if (crypto_random(rnd, sizeof rnd) != CRYPTO_OK) {
        rc = SRV_ERUNTIME;
        goto out;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(boundary + 2 + 2 * i, 3, "%02x", rnd[i]);

    buf_reserve(&b, strlen(text) + strlen(html) + 1024);
    buf_appendf(&b, "From: %s\r\nTo: %s\r\n", from, to);
    put_subject(&b, subject);
    if (!put_date(&b, date))
        goto out;
    buf_appendf(&b,
                "Message-ID: <%s>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
                "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
                message_id, boundary);
    put_part(&b, boundary, "text/plain", text);
    put_part(&b, boundary, "text/html", html);
    buf_appendf(&b, "--%s--\r\n", boundary);
    rc = (*out = buf_take(&b, len)) ? SRV_OK : SRV_ENOMEM;
out:
    buf_free(&b);
    return rc;
}
