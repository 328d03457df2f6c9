/* Base64 without padding, in two alphabets: URL-safe (RFC 4648 §5) for the public API and
 * standard (§4) for PHC strings. Character mapping is branch-free and table-free, since the
 * decoder also reads keys and salts and must not leak them through timing or cache lines. */
#include "crypto/internal.h"

#include <stdint.h>

struct alphabet {
    unsigned c62, c63;
};

static const struct alphabet url = {'-', '_'};
static const struct alphabet std = {'+', '/'};

/* Masks for x, y < 256: 0xff when the relation holds, else 0. */
static unsigned ct_lt(unsigned x, unsigned y)
{
    return ((x - y) >> 8) & 0xff;
}

static unsigned ct_ge(unsigned x, unsigned y)
{
    return ct_lt(x, y) ^ 0xff;
}

static unsigned ct_eq(unsigned x, unsigned y)
{
    return (((0U - (x ^ y)) >> 8) & 0xff) ^ 0xff;
}

static char encode_char(const struct alphabet *a, unsigned v)
{
    unsigned c = (ct_lt(v, 26) & (v + 'A')) | (ct_ge(v, 26) & ct_lt(v, 52) & (v + 'a' - 26)) |
                 (ct_ge(v, 52) & ct_lt(v, 62) & (v + '0' - 52)) | (ct_eq(v, 62) & a->c62) |
                 (ct_eq(v, 63) & a->c63);
    return (char)c;
}

/* 0..63, or 0xff for a character outside the alphabet. */
static unsigned decode_char(const struct alphabet *a, unsigned c)
{
    unsigned v = (ct_ge(c, 'A') & ct_lt(c, 'Z' + 1) & (c - 'A')) |
                 (ct_ge(c, 'a') & ct_lt(c, 'z' + 1) & (c - 'a' + 26)) |
                 (ct_ge(c, '0') & ct_lt(c, '9' + 1) & (c - '0' + 52)) | (ct_eq(c, a->c62) & 62) |
                 (ct_eq(c, a->c63) & 63);
    /* v == 0 is either 'A' or no match at all. */
    return v | (ct_eq(v, 0) & (ct_eq(c, 'A') ^ 0xff));
}

size_t crypto_b64url_len(size_t n)
{
    /* Saturate rather than wrap, so the encoder can refuse absurd lengths. */
    if (n / 3 > (SIZE_MAX - 4) / 4)
        return SIZE_MAX;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int encode(const struct alphabet *a, const void *in, size_t len, char *out, size_t cap,
                  size_t *outlen)
{
    if ((!in && len) || !out)
        return CRYPTO_EINVAL;
    size_t need = crypto_b64url_len(len);
    if (need == SIZE_MAX)
        return CRYPTO_EINVAL;
    if (cap <= need)
        return CRYPTO_ESPACE;

    const uint8_t *p = in;
    char *o = out;
    size_t i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = encode_char(a, v >> 18);
        *o++ = encode_char(a, v >> 12 & 63);
        *o++ = encode_char(a, v >> 6 & 63);
        *o++ = encode_char(a, v & 63);
    }
    if (len - i == 1) {
        uint32_t v = p[i];
        *o++ = encode_char(a, v >> 2);
        *o++ = encode_char(a, (v & 3) << 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
        *o++ = encode_char(a, v >> 10);
        *o++ = encode_char(a, v >> 4 & 63);
        *o++ = encode_char(a, (v & 15) << 2);
    }
    *o = '\0';
    if (outlen)
        *outlen = need;
    return CRYPTO_OK;
}

static int decode(const struct alphabet *a, const char *in, size_t len, void *out, size_t cap,
                  size_t *outlen)
{
    if ((!in && len) || (!out && len))
        return CRYPTO_EINVAL;
    if (len % 4 == 1)
        return CRYPTO_EFORMAT;
    size_t need = len / 4 * 3 + len % 4 * 3 / 4;
    if (cap < need)
        return CRYPTO_ESPACE;

    uint8_t *o = out;
    size_t n = 0;
    uint32_t acc = 0; /* holds at most 12 pending bits */
    unsigned bits = 0, bad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v = decode_char(a, (unsigned char)in[i]);
        bad |= v & 0xc0;
        acc = (acc << 6 | (v & 63)) & 0xfff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* Canonical encodings leave the bits below the last whole byte zero; anything else is a
     * second spelling of the same bytes. */
    if (bad || (acc & ((1U << bits) - 1))) {
        crypto_wipe(o, n);
        return CRYPTO_EFORMAT;
    }
    if (outlen)
        *outlen = n;
    return CRYPTO_OK;
}

int crypto_b64url_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen)
{
    return encode(&url, in, len, out, cap, outlen);
}

int crypto_b64url_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen)
{
    return decode(&url, in, len, out, cap, outlen);
}

int crypto_b64std_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen)
{
    return encode(&std, in, len, out, cap, outlen);
}

int crypto_b64std_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen)
{
    return decode(&std, in, len, out, cap, outlen);
}
