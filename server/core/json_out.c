/* A compact JSON writer for the documents idpd renders on its hot paths (token claims, token
 * answers): one growing buffer, no tree of allocations as jansson builds. Values are escaped as
 * RFC 8259 requires; a string that is not valid UTF-8 fails the document, as jansson's
 * json_string() would. Objects and arrays nest up to SRV_JW_DEPTH levels. */
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"

/* First capacity of a document (BUF_FIRST is smaller): the 512 bytes this writer has always
 * started with, so the token path allocates no more often than before. */
#define FIRST_CAP 512

static void put(struct srv_jw *w, const char *s, size_t n)
{
    buf_append(&w->buf, s, n);
}

static void put_string(struct srv_jw *w, const char *s)
{
    size_t n = strlen(s);
    if (!srv_utf8_valid(s, n)) {
        w->failed = 1;
        return;
    }
    put(w, "\"", 1);
    size_t run = 0; /* bytes that need no escape, written in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, s + run, i - run);
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        put(w, esc, strlen(esc));
        run = i + 1;
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

/* The separator before a member or element, and the member's name. */
static void begin_value(struct srv_jw *w, const char *key)
{
    if (w->depth == 0 || w->depth > SRV_JW_DEPTH) {
        w->failed = 1;
        return;
    }
    if (w->count[w->depth - 1]++)
        put(w, ",", 1);
    if (key) {
        put_string(w, key);
        put(w, ":", 1);
    }
}

static void open_container(struct srv_jw *w, const char *key, char c)
{
    if (w->depth)
        begin_value(w, key);
    else
        buf_reserve(&w->buf, FIRST_CAP - 1); /* the document begins: room for it and its NUL */
    if (w->depth >= SRV_JW_DEPTH) {
        w->failed = 1;
        return;
    }
    w->count[w->depth++] = 0;
    put(w, &c, 1);
}

void srv_jw_object(struct srv_jw *w, const char *key)
{
    open_container(w, key, '{');
}

void srv_jw_array(struct srv_jw *w, const char *key)
{
    open_container(w, key, '[');
}

void srv_jw_close(struct srv_jw *w, char c)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put(w, &c, 1);
}

void srv_jw_string(struct srv_jw *w, const char *key, const char *value)
{
    begin_value(w, key);
    if (!value)
        w->failed = 1;
    else
        put_string(w, value);
}

void srv_jw_int(struct srv_jw *w, const char *key, int64_t value)
{
    char num[24];
    begin_value(w, key);
    put(w, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)value));
}

void srv_jw_bool(struct srv_jw *w, const char *key, int value)
{
    begin_value(w, key);
    put(w, value ? "true" : "false", value ? 4 : 5);
}

void srv_jw_object_text(struct srv_jw *w, const char *key, const char *json)
{
    size_t n = json ? strlen(json) : 0;
    if (n < 2 || json[0] != '{' || json[n - 1] != '}' || !srv_utf8_valid(json, n)) {
        w->failed = 1;
        return;
    }
    begin_value(w, key);
    put(w, json, n);
}

char *srv_jw_finish(struct srv_jw *w, size_t *len)
{
    char *out = NULL;
    if (!w->failed && w->depth == 0)
        out = buf_take(&w->buf, len);
    buf_free(&w->buf);
    memset(w, 0, sizeof *w);
    return out;
}
