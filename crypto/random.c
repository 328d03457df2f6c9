#include "crypto/internal.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define ID_PREFIX_MAX 16
#define ID_BODY_LEN 26 /* 10 chars of time, 16 of randomness */
#define ID_RAND_BYTES 10

/* Crockford base32 in lower case: no i, l, o, u, so ids survive being read aloud or retyped. */
static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* ---- small requests from a per-thread pool ----
 * OpenSSL 3's RAND_bytes costs about a microsecond of locking, fork checks (a getpid system
 * call) and DRBG bookkeeping whatever the length, and a token request asks for a few small
 * values (jti, ids). Each thread therefore draws POOL_BYTES at a time and hands them out once,
 * wiping each byte as it goes. A forked child must not repeat its parent's bytes: the atfork
 * handler empties the pool of the thread that forks, the only thread a child has. */
#define POOL_BYTES 512
#define POOL_MAX_REQUEST 64

static __thread unsigned char pool[POOL_BYTES];
static __thread size_t pool_left;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    OPENSSL_cleanse(pool, sizeof pool);
    pool_left = 0;
}

static void pool_register(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static int pool_take(unsigned char *out, size_t len)
{
    pthread_once(&pool_once, pool_register);
    if (pool_left < len) {
        if (RAND_bytes(pool, sizeof pool) != 1) {
            pool_forget();
            return crypto_ossl_fail();
        }
        pool_left = sizeof pool;
    }
    unsigned char *src = pool + (sizeof pool - pool_left);
    memcpy(out, src, len);
    OPENSSL_cleanse(src, len);
    pool_left -= len;
    return CRYPTO_OK;
}

int crypto_random(void *out, size_t len)
{
    if (!out && len)
        return CRYPTO_EINVAL;
    if (len == 0)
        return CRYPTO_OK;
    if (len <= POOL_MAX_REQUEST)
        return pool_take(out, len);
    unsigned char *p = out;
    /* RAND_bytes takes an int length. */
    while (len) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, n) != 1)
            return crypto_ossl_fail();
        p += n;
        len -= (size_t)n;
    }
    return CRYPTO_OK;
}

static size_t prefix_len(const char *prefix)
{
    size_t n = 0;
    while (n <= ID_PREFIX_MAX && prefix[n] >= 'a' && prefix[n] <= 'z')
        n++;
    if (n == 0 || n > ID_PREFIX_MAX || prefix[n] != '\0')
        return 0;
    return n;
}

/* Five bits per character from the most significant end, so lexical order equals numeric
 * order. */
static void put_base32(char *out, size_t nchars, uint64_t v)
{
    for (size_t i = nchars; i-- > 0;) {
        out[i] = crockford[v & 31];
        v >>= 5;
    }
}

int crypto_id_new(const char *prefix, char *out, size_t cap)
{
    if (!prefix || !out)
        return CRYPTO_EINVAL;
    size_t plen = prefix_len(prefix);
    if (!plen)
        return CRYPTO_EINVAL;
    if (cap < plen + 1 + ID_BODY_LEN + 1)
        return CRYPTO_ESPACE;

    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return CRYPTO_EINTERNAL;
    uint64_t ms =
        ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) & ((UINT64_C(1) << 48) - 1);

    uint8_t r[ID_RAND_BYTES];
    int rc = crypto_random(r, sizeof r);
    if (rc != CRYPTO_OK)
        return rc;
    /* 80 random bits split into two 40-bit halves, each exactly eight characters. */
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 5; i++) {
        hi = hi << 8 | r[i];
        lo = lo << 8 | r[i + 5];
    }

    memcpy(out, prefix, plen);
    char *body = out + plen;
    *body++ = '_';
    put_base32(body, 10, ms);
    put_base32(body + 10, 8, hi);
    put_base32(body + 18, 8, lo);
    body[ID_BODY_LEN] = '\0';
    return CRYPTO_OK;
}
