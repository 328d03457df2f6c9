/* buf — a growable byte buffer, the one that the JSON writer and HTML pages of server/ and the
 * JWKS text of keys/ append to.
 *
 * This header is the module's whole API. It depends on no other idpd module, so that keys/ and
 * server/ can both use it.
 *
 * Zero-initialise it (struct buf b = {0}), append, check b.failed once at the end, then take the
 * text (buf_take) or free it (buf_free). Invariants, after every call:
 * - data is NULL (nothing appended yet) or holds len bytes followed by a NUL: the text can be
 *   read as a C string, even after a failure;
 * - a failure (out of memory, a length that would overflow, a bad format) sets failed and leaves
 *   the text as it was; every later append is then a no-op. Nothing is ever cut short.
 * Growth doubles the capacity, from BUF_FIRST bytes on the first allocation; a caller that knows
 * its usual size asks for it once with buf_reserve() before appending.
 *
 * A struct buf is not safe to share between threads without a lock. */
#ifndef IDPD_BUF_H
#define IDPD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

enum buf_err {
    BUF_OK = 0,
    BUF_ENOMEM,  /* allocation failed, or the size would overflow size_t */
    BUF_EFORMAT, /* vsnprintf failed (an invalid conversion) */
};

/* A static string describing rc; never NULL. */
const char *buf_strerror(int rc);

/* Capacity of the first allocation, unless buf_reserve() asks for more. */
#define BUF_FIRST 256

struct buf {
    char *data;      /* owned by the buffer until buf_take(); NULL until the first append */
    size_t len, cap; /* len bytes of text; cap bytes allocated, the NUL included */
    int failed;      /* 0, or the buf_err of the first failure; sticky until buf_free/take */
};

/* Makes room for more bytes plus the NUL, so that appending them allocates nothing. BUF_OK, or
 * BUF_ENOMEM (recorded in b->failed); a buffer that has already failed answers its failure. */
int buf_reserve(struct buf *b, size_t more);

/* Appends n bytes of s (which need not be NUL-terminated and may contain NULs). Inline because
 * it is on the token-minting path: the room check and copy are all it costs when the room is
 * there. */
static inline void buf_append(struct buf *b, const void *s, size_t n)
{
    if (b->failed || (b->cap - b->len <= n && buf_reserve(b, n) != BUF_OK))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends the NUL-terminated string s. */
static inline void buf_appends(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* Appends printf-style text: formatted once into the spare room, and once more after growing
 * when it did not fit. */
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Hands the text over and resets b to empty: returns data (malloc'd, NUL-terminated; the caller
 * frees it with free()) and, when len is not NULL, its length in *len. NULL, with *len left
 * alone, when b has failed (its text is freed) or nothing was ever appended. */
char *buf_take(struct buf *b, size_t *len);

/* Frees the text and resets b to empty; b itself is the caller's. */
void buf_free(struct buf *b);

#endif
