/* Decoded service-account records for client authentication, so a client-credentials request
 * that names a known account skips the store read and the JSON decoding of the account and its
 * secrets (about a tenth of its CPU time on LMDB, a round trip on PostgreSQL). An entry is used
 * only while the store's generation of clients (store_scope_generation(STORE_SCOPE_CLIENTS):
 * every commit that may have changed a service account, a secret or an application) is the one
 * it was read at, so a disabled account, a deleted secret or a changed access list is seen at
 * once from this server, the CLI or another process on LMDB, and within the notification delay
 * from another node on PostgreSQL (README "Running several nodes"); a write of other records
 * (users, sessions, audit events) keeps the entries. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

#define SLOTS 1024

struct slot {
    pthread_mutex_t lock;
    uint64_t generation; /* 0: empty */
    char hint[9];        /* srv_secret_hint() of the secret the entry was read for */
    int64_t secret_expires_at;
    struct srv_client_record rec; /* owns rec.sa's arrays */
};

struct srv_client_cache {
    struct slot slots[SLOTS];
};

int srv_client_cache_new(struct srv_client_cache **out)
{
    struct srv_client_cache *c = calloc(1, sizeof *c);
    if (!c)
        return SRV_ERUNTIME;
    for (size_t i = 0; i < SLOTS; i++)
        pthread_mutex_init(&c->slots[i].lock, NULL);
    *out = c;
    return SRV_OK;
}

void srv_client_cache_free(struct srv_client_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SLOTS; i++) {
        store_service_account_clear(&c->slots[i].rec.sa);
        crypto_wipe(&c->slots[i].rec, sizeof c->slots[i].rec);
        pthread_mutex_destroy(&c->slots[i].lock);
    }
    free(c);
}

static struct slot *slot_for(struct srv_client_cache *c, const char *client_id)
{
    uint32_t h = 2166136261u; /* FNV-1a: ids are random, any spread will do */
    for (const char *p = client_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->slots[h % SLOTS];
}

/* A deep copy of an account (its roles and access list are arrays of their own). */
static int copy_sa(struct store_service_account *dst, const struct store_service_account *src)
{
    *dst = *src;
    dst->roles = NULL;
    dst->acl = NULL;
    if (src->nroles && !(dst->roles = malloc(src->nroles * sizeof *src->roles)))
        goto fail;
    if (src->nacl && !(dst->acl = malloc(src->nacl * sizeof *src->acl)))
        goto fail;
    if (src->nroles)
        memcpy(dst->roles, src->roles, src->nroles * sizeof *src->roles);
    if (src->nacl)
        memcpy(dst->acl, src->acl, src->nacl * sizeof *src->acl);
    return SRV_OK;
fail:
    store_service_account_clear(dst);
    return SRV_ERUNTIME;
}

int srv_client_cache_get(struct srv_client_cache *c, uint64_t generation, const char *client_id,
                         const char *hint, int64_t now, struct srv_client_record *out)
{
    struct slot *s = slot_for(c, client_id);
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    if (generation && s->generation == generation && strcmp(s->rec.sa.id, client_id) == 0 &&
        strcmp(s->hint, hint) == 0 && s->secret_expires_at > now) {
        hit = copy_sa(&out->sa, &s->rec.sa) == SRV_OK;
        if (hit) {
            memcpy(out->secret_id, s->rec.secret_id, sizeof out->secret_id);
            memcpy(out->phc, s->rec.phc, sizeof out->phc);
            out->secret_last_used_at = s->rec.secret_last_used_at;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void srv_client_cache_put(struct srv_client_cache *c, uint64_t generation, const char *hint,
                          int64_t secret_expires_at, const struct srv_client_record *rec)
{
    struct slot *s = slot_for(c, rec->sa.id);
    struct store_service_account copy;
    if (!generation || copy_sa(&copy, &rec->sa) != SRV_OK)
        return;
    pthread_mutex_lock(&s->lock);
    store_service_account_clear(&s->rec.sa);
    s->rec = *rec;
    s->rec.sa = copy;
    snprintf(s->hint, sizeof s->hint, "%s", hint);
    s->secret_expires_at = secret_expires_at;
    s->generation = generation;
    pthread_mutex_unlock(&s->lock);
}
