/* buf/buf.c — growth and formatting of struct buf (buf/buf.h). */
#include "buf/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *buf_strerror(int rc)
{
    static const char *const text[] = {
        [BUF_OK] = "success", [BUF_ENOMEM] = "out of memory", [BUF_EFORMAT] = "bad format"};
    if (rc < 0 || (size_t)rc >= sizeof text / sizeof *text)
        return "unknown buf error";
    return text[rc];
}

int buf_reserve(struct buf *b, size_t more)
{
    int rc = BUF_OK;
    size_t cap;
    char *p;

    if (b->failed) {
        rc = b->failed;
        goto out;
    }
    if (b->cap - b->len > more)
        goto out;
    /* Doubling keeps appends amortised O(1); the checks keep len + more + 1 and each doubling
     * from wrapping around, which would allocate less than the text needs. */
    if (more >= SIZE_MAX - b->len) {
        rc = BUF_ENOMEM;
        goto out;
    }
    cap = b->cap ? b->cap : BUF_FIRST;
    while (cap - b->len <= more) {
        if (cap > SIZE_MAX / 2) {
            rc = BUF_ENOMEM;
            goto out;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (!p) {
        rc = BUF_ENOMEM;
        goto out;
    }
    if (!b->data)
        p[0] = '\0'; /* a fresh buffer is the empty string until something is appended */
    b->data = p;
    b->cap = cap;
out:
    if (rc != BUF_OK)
        b->failed = rc;
    return rc;
}

void buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    va_list again;
    size_t room;
    int n;

    if (b->failed)
        return;
    /* Into the spare room first: most appends fit, and then the text is formatted once. */
    va_copy(again, ap);
    room = b->cap - b->len;
    n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0)
        b->failed = BUF_EFORMAT;
    else if ((size_t)n >= room && buf_reserve(b, (size_t)n) == BUF_OK)
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    if (!b->failed)
        b->len += (size_t)n;
    else if (b->data)
        b->data[b->len] = '\0'; /* the first try may have written past the text */
    va_end(again);
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(b, fmt, ap);
    va_end(ap);
}

char *buf_take(struct buf *b, size_t *len)
{
    char *out = NULL;

    if (!b->failed && b->data) {
        out = b->data;
        if (len)
            *len = b->len;
        b->data = NULL; /* the caller's now */
    }
    buf_free(b);
    return out;
}

void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
