/* Argon2id password hashing with PHC strings. libargon2 computes; the PHC encoding and parsing
 * are ours so the accepted grammar is exactly what idpd writes (and what the reference
 * implementation writes for argon2id v=19), nothing looser. */
#include "crypto/internal.h"

#include <argon2.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LANES 16
#define MAX_M_KIB (UINT32_C(4) * 1024 * 1024) /* 4 GiB */
#define SALT_LEN 16
#define TAG_LEN 32
#define PHC_SALT_MIN 8
#define PHC_SALT_MAX 64
#define PHC_HASH_MIN 16
#define PHC_HASH_MAX 64
#define RAW_OUT_MIN 4

/* ---- per-thread Argon2 memory (DESIGN.md §8) ----
 * A fresh multi-MiB buffer per hash costs more in page faults than the hash itself once the
 * allocator hands out mmap'd chunks, so each thread keeps its largest buffer for the next hash.
 * libargon2 wipes the blocks before calling free_cbk, so nothing secret is left in it. */

static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static pthread_key_t arena_key;
static int arena_key_ok;
static __thread uint8_t *arena_mem;
static __thread size_t arena_size;

static void arena_destroy(void *mem)
{
    free(mem);
}

static void arena_key_create(void)
{
    /* The key exists only for its destructor: it frees the buffer when the thread exits. */
    arena_key_ok = pthread_key_create(&arena_key, arena_destroy) == 0;
}

static int arena_alloc(uint8_t **memory, size_t bytes)
{
    if (bytes > arena_size) {
        void *p = NULL;
        /* Argon2 blocks are 1 KiB; cache-line alignment keeps each on whole lines. */
        if (posix_memalign(&p, 64, bytes) != 0) {
            *memory = NULL; /* libargon2 ignores our return value and checks the pointer */
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        }
        free(arena_mem);
        arena_mem = p;
        arena_size = bytes;
        if (arena_key_ok)
            pthread_setspecific(arena_key, arena_mem);
    }
    *memory = arena_mem;
    return ARGON2_OK;
}

static void arena_release(uint8_t *memory, size_t bytes)
{
    (void)memory, (void)bytes; /* kept for the thread's next hash */
}

size_t crypto_argon2_thread_buffer_size(void)
{
    return arena_size;
}

/* ---- raw Argon2id ---- */

int crypto_argon2_params_check(const struct crypto_argon2_params *p)
{
    if (!p || p->t_cost < 1 || p->p_lanes < 1 || p->p_lanes > MAX_LANES ||
        p->m_kib < 8 * p->p_lanes || p->m_kib > MAX_M_KIB)
        return CRYPTO_EINVAL;
    return CRYPTO_OK;
}

int crypto_argon2id_raw(const struct crypto_argon2_params *p, const void *pw, size_t pwlen,
                        const void *salt, size_t saltlen, const void *secret, size_t secretlen,
                        const void *ad, size_t adlen, uint8_t *out, size_t outlen)
{
    if (crypto_argon2_params_check(p) != CRYPTO_OK || (!pw && pwlen) || !salt ||
        saltlen < PHC_SALT_MIN || saltlen > PHC_SALT_MAX || (!secret && secretlen) ||
        (!ad && adlen) || pwlen > UINT32_MAX || secretlen > UINT32_MAX || adlen > UINT32_MAX ||
        !out || outlen < RAW_OUT_MIN || outlen > PHC_HASH_MAX)
        return CRYPTO_EINVAL;
    pthread_once(&arena_once, arena_key_create);

    /* The casts drop const only because argon2_context has no const members; with
     * ARGON2_DEFAULT_FLAGS libargon2 does not write to pwd or secret. */
    argon2_context ctx = {
        .out = out,
        .outlen = (uint32_t)outlen,
        .pwd = (uint8_t *)pw,
        .pwdlen = (uint32_t)pwlen,
        .salt = (uint8_t *)salt,
        .saltlen = (uint32_t)saltlen,
        .secret = (uint8_t *)secret,
        .secretlen = (uint32_t)secretlen,
        .ad = (uint8_t *)ad,
        .adlen = (uint32_t)adlen,
        .t_cost = p->t_cost,
        .m_cost = p->m_kib,
        .lanes = p->p_lanes,
        .threads = p->p_lanes,
        .version = ARGON2_VERSION_13,
        .allocate_cbk = arena_alloc,
        .free_cbk = arena_release,
        .flags = ARGON2_DEFAULT_FLAGS,
    };
    int arc = argon2_ctx(&ctx, Argon2_id);
    if (arc == ARGON2_OK)
        return CRYPTO_OK;
    /* libargon2 wipes its blocks only on success (in finalize); a failed run may leave
     * password-derived blocks in the kept buffer. */
    crypto_wipe(arena_mem, arena_size);
    crypto_wipe(out, outlen);
    return arc == ARGON2_MEMORY_ALLOCATION_ERROR ? CRYPTO_ENOMEM : CRYPTO_EINTERNAL;
}

/* ---- PHC strings ---- */

struct phc {
    struct crypto_argon2_params params;
    uint8_t salt[PHC_SALT_MAX];
    size_t saltlen;
    uint8_t hash[PHC_HASH_MAX];
    size_t hashlen;
};

static int skip_literal(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0)
        return 0;
    *s += n;
    return 1;
}

/* Decimal without sign or leading zeros (the reference encoder never writes them), so each value
 * has one spelling; at most UINT32_MAX. */
static int parse_u32(const char **s, uint32_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    size_t n = 0;
    while (p[n] >= '0' && p[n] <= '9') {
        if (n == 10)
            return 0;
        x = x * 10 + (uint64_t)(p[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && p[0] == '0') || x > UINT32_MAX)
        return 0;
    *v = (uint32_t)x;
    *s = p + n;
    return 1;
}

/* Decodes the base64 field that runs from *s up to the next end (a '$' or the terminating NUL)
 * and leaves *s on that character. */
static int parse_b64(const char **s, char end, uint8_t *out, size_t min, size_t max, size_t *len)
{
    const char *stop = end ? strchr(*s, end) : *s + strlen(*s);
    if (!stop)
        return 0;
    if (crypto_b64std_decode(*s, (size_t)(stop - *s), out, max, len) != CRYPTO_OK || *len < min)
        return 0;
    *s = stop;
    return 1;
}

static int phc_parse(const char *s, struct phc *ph)
{
    struct crypto_argon2_params *p = &ph->params;
    if (!skip_literal(&s, "$argon2id$v=19$m=") || !parse_u32(&s, &p->m_kib) ||
        !skip_literal(&s, ",t=") || !parse_u32(&s, &p->t_cost) || !skip_literal(&s, ",p=") ||
        !parse_u32(&s, &p->p_lanes) || !skip_literal(&s, "$") ||
        !parse_b64(&s, '$', ph->salt, PHC_SALT_MIN, PHC_SALT_MAX, &ph->saltlen) ||
        !skip_literal(&s, "$") ||
        !parse_b64(&s, '\0', ph->hash, PHC_HASH_MIN, PHC_HASH_MAX, &ph->hashlen))
        return CRYPTO_EFORMAT;
    /* Parameters outside what idpd would ever use (4 GiB, 17 lanes) are a corrupt or hostile
     * string, not a hash to spend resources on. */
    if (crypto_argon2_params_check(p) != CRYPTO_OK)
        return CRYPTO_EFORMAT;
    return CRYPTO_OK;
}

int crypto_password_hash(const struct crypto_argon2_params *params, const void *pw, size_t pwlen,
                         char *out, size_t cap)
{
    if (!params || (!pw && pwlen) || !out)
        return CRYPTO_EINVAL;
    int rc = crypto_argon2_params_check(params);
    if (rc != CRYPTO_OK)
        return rc;

    uint8_t salt[SALT_LEN], tag[TAG_LEN];
    char salt64[32], tag64[48], buf[CRYPTO_PHC_MAX];
    int n;
    rc = crypto_random(salt, sizeof salt);
    if (rc != CRYPTO_OK)
        goto out;
    rc = crypto_argon2id_raw(params, pw, pwlen, salt, sizeof salt, NULL, 0, NULL, 0, tag,
                             sizeof tag);
    if (rc != CRYPTO_OK)
        goto out;
    if ((rc = crypto_b64std_encode(salt, sizeof salt, salt64, sizeof salt64, NULL)) != CRYPTO_OK ||
        (rc = crypto_b64std_encode(tag, sizeof tag, tag64, sizeof tag64, NULL)) != CRYPTO_OK)
        goto out;
    n = snprintf(buf, sizeof buf, "$argon2id$v=19$m=%" PRIu32 ",t=%" PRIu32 ",p=%" PRIu32 "$%s$%s",
                 params->m_kib, params->t_cost, params->p_lanes, salt64, tag64);
    if (n < 0 || (size_t)n >= sizeof buf) {
        rc = CRYPTO_EINTERNAL;
        goto out;
    }
    if ((size_t)n >= cap) {
        rc = CRYPTO_ESPACE;
        goto out;
    }
    memcpy(out, buf, (size_t)n + 1);
    rc = CRYPTO_OK;
out:
    crypto_wipe(tag, sizeof tag);
    crypto_wipe(tag64, sizeof tag64);
    crypto_wipe(buf, sizeof buf);
    return rc;
}

int crypto_password_verify(const char *phc, const void *pw, size_t pwlen)
{
    if (!phc || (!pw && pwlen))
        return CRYPTO_EINVAL;
    struct phc ph;
    uint8_t tag[PHC_HASH_MAX];
    int rc = phc_parse(phc, &ph);
    if (rc != CRYPTO_OK)
        goto out;
    rc = crypto_argon2id_raw(&ph.params, pw, pwlen, ph.salt, ph.saltlen, NULL, 0, NULL, 0, tag,
                             ph.hashlen);
    if (rc != CRYPTO_OK)
        goto out;
    rc = crypto_memeq(tag, ph.hash, ph.hashlen) ? CRYPTO_OK : CRYPTO_EMISMATCH;
out:
    crypto_wipe(tag, sizeof tag);
    crypto_wipe(&ph, sizeof ph);
    return rc;
}

int crypto_password_needs_rehash(const char *phc, const struct crypto_argon2_params *params)
{
    if (!phc || !params)
        return 1;
    struct phc ph;
    int rehash = 1;
    if (phc_parse(phc, &ph) != CRYPTO_OK)
        goto out;
    /* Salt and tag sizes count as parameters too: a short salt or a tag other than the one we
     * write is upgraded like an old cost setting. */
    rehash = ph.params.m_kib != params->m_kib || ph.params.t_cost != params->t_cost ||
             ph.params.p_lanes != params->p_lanes || ph.saltlen < SALT_LEN || ph.hashlen != TAG_LEN;
out:
    crypto_wipe(&ph, sizeof ph);
    return rehash;
}
