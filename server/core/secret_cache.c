/* Remembers, for at most ttl seconds, that a (client_id, secret) pair passed Argon2 against a
 * given secret record, so repeated client-credentials requests skip the hash (DESIGN.md §8).
 * Entries are keyed by HMAC-SHA-256 under a random per-process key: the cache never holds the
 * secret, and its contents are useless outside this process. The table is direct-mapped and
 * fixed in size: a collision evicts, which costs one Argon2 run, never a wrong answer, since the
 * whole 32-byte key is compared. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

#define SLOTS 4096

struct slot {
    uint8_t key[CRYPTO_SHA256_LEN];
    char client_id[STORE_ID_MAX];
    char secret_id[STORE_ID_MAX];
    int64_t expires;
};

struct srv_secret_cache {
    pthread_mutex_t lock;
    uint8_t hmac_key[32];
    int64_t ttl;
    struct slot slots[SLOTS];
};

int srv_secret_cache_new(int64_t ttl, struct srv_secret_cache **out)
{
    struct srv_secret_cache *c = calloc(1, sizeof *c);
    if (!c || crypto_random(c->hmac_key, sizeof c->hmac_key) != CRYPTO_OK) {
        free(c);
        return SRV_ERUNTIME;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->ttl = ttl;
    *out = c;
    return SRV_OK;
}

void srv_secret_cache_free(struct srv_secret_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    crypto_wipe(c, sizeof *c);
    free(c);
}

/* key = HMAC(k, client_id || 0x00 || secret): the NUL keeps ("ab","c") apart from ("a","bc"). */
static int derive(struct srv_secret_cache *c, const char *client_id, const char *secret,
                  size_t secret_len, uint8_t key[CRYPTO_SHA256_LEN])
{
    size_t idlen = strlen(client_id);
    uint8_t buf[STORE_ID_MAX + 1 + 256];
    if (idlen >= STORE_ID_MAX || secret_len > 256)
        return 0;
    memcpy(buf, client_id, idlen + 1);
    memcpy(buf + idlen + 1, secret, secret_len);
    int ok = crypto_hmac_sha256(c->hmac_key, sizeof c->hmac_key, buf, idlen + 1 + secret_len,
                                key) == CRYPTO_OK;
    crypto_wipe(buf, sizeof buf);
    return ok;
}

static size_t slot_of(const uint8_t key[CRYPTO_SHA256_LEN])
{
    size_t i;
    memcpy(&i, key, sizeof i);
    return i % SLOTS;
}

int srv_secret_cache_check(struct srv_secret_cache *c, const char *client_id, const char *secret,
                           size_t secret_len, const char *secret_id, int64_t now)
{
    uint8_t key[CRYPTO_SHA256_LEN];
    int hit = 0;
    if (c->ttl <= 0 || !derive(c, client_id, secret, secret_len, key))
        return 0;
    pthread_mutex_lock(&c->lock);
    struct slot *s = &c->slots[slot_of(key)];
    hit = s->expires > now && crypto_memeq(s->key, key, sizeof key) &&
          strcmp(s->secret_id, secret_id) == 0;
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void srv_secret_cache_put(struct srv_secret_cache *c, const char *client_id, const char *secret,
                          size_t secret_len, const char *secret_id, int64_t now)
{
    uint8_t key[CRYPTO_SHA256_LEN];
    if (c->ttl <= 0 || !derive(c, client_id, secret, secret_len, key))
        return;
    pthread_mutex_lock(&c->lock);
    struct slot *s = &c->slots[slot_of(key)];
    memcpy(s->key, key, sizeof key);
    snprintf(s->client_id, sizeof s->client_id, "%s", client_id);
    snprintf(s->secret_id, sizeof s->secret_id, "%s", secret_id);
    s->expires = now + c->ttl;
    pthread_mutex_unlock(&c->lock);
}

void srv_secret_cache_forget(struct srv_secret_cache *c, const char *client_id)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < SLOTS; i++)
        if (strcmp(c->slots[i].client_id, client_id) == 0)
            memset(&c->slots[i], 0, sizeof c->slots[i]);
    pthread_mutex_unlock(&c->lock);
}
