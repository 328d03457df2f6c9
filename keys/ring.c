/* keys/ring.c — the key ring: loading the stored keys once into parsed EVP_PKEYs and a rendered
 * JWKS, generating the first keys race-safely, rotation, reloading when another process
 * rotated, and the reference-counted snapshot that signing and verification read. */
#include "keys/internal.h"

#include <openssl/err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPOCH_NAME "keys_epoch"
#define DEFAULT_TOKEN_TTL 3600
#define MAX_TOKEN_TTL (10LL * 366 * 24 * 3600) /* keeps now + ttl far from overflow */
#define CB_AGAIN (KEYS_CB_BASE + 1)            /* the write needs more generated keys */
#define WRITE_ATTEMPTS 4

/* ---- snapshots ---- */

static void ring_free(struct ring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nkeys; i++)
        keys_ring_key_clear(&r->keys[i]);
    free(r->keys);
    free(r->jwks);
    free(r);
}

struct ring *keys_ring_acquire(struct keys *kr)
{
    struct ring *r;

    pthread_mutex_lock(&kr->mutex);
    r = kr->ring;
    if (r)
        r->refs++;
    pthread_mutex_unlock(&kr->mutex);
    return r;
}

void keys_ring_release(struct keys *kr, struct ring *r)
{
    unsigned left;

    if (!r)
        return;
    pthread_mutex_lock(&kr->mutex);
    left = --r->refs;
    pthread_mutex_unlock(&kr->mutex);
    if (left == 0)
        ring_free(r); /* nobody can reach it any more: kr->ring no longer points to it */
}

const struct ring_key *keys_ring_find(const struct ring *r, const char *kid)
{
    for (size_t i = 0; i < r->nkeys; i++)
        if (strcmp(r->keys[i].kid, kid) == 0)
            return &r->keys[i];
    return NULL;
}

/* Makes nr (refs = 1, the ring's own reference) current. A ring read under an older epoch than
 * the current one lost a race with a newer load and is dropped, unless force (the store's epoch
 * went backwards, e.g. a restored backup). *installed (may be NULL) = 1 when nr went in. */
static void ring_install(struct keys *kr, struct ring *nr, int force, int *installed)
{
    struct ring *old = NULL;
    int in = 0;

    nr->refs = 1;
    pthread_mutex_lock(&kr->mutex);
    if (!kr->ring || force || nr->epoch >= kr->ring->epoch) {
        old = kr->ring;
        kr->ring = nr;
        in = 1;
    }
    pthread_mutex_unlock(&kr->mutex);
    if (in)
        keys_ring_release(kr, old);
    else
        ring_free(nr);
    if (installed)
        *installed = in;
}

/* ---- loading ---- */

struct load_arg {
    struct store_signing_key *items;
    size_t n;
    uint64_t epoch;
};

static int read_epoch(struct store_txn *txn, uint64_t *epoch)
{
    int rc = store_meta_get(txn, EPOCH_NAME, epoch);
    if (rc == STORE_NOTFOUND) {
        *epoch = 0;
        rc = STORE_OK;
    }
    return rc;
}

static int load_cb(struct store_txn *txn, void *arg)
{
    struct load_arg *a = arg;
    int rc;

    store_key_list_free(a->items, a->n); /* re-runnable */
    a->items = NULL;
    a->n = 0;
    rc = store_key_list(txn, &a->items, &a->n);
    if (rc != STORE_OK)
        return rc;
    return read_epoch(txn, &a->epoch);
}

static int state_rank(int state)
{
    return state == STORE_KEY_NEXT ? 0 : state == STORE_KEY_ACTIVE ? 1 : 2;
}

struct loaded {
    struct ring_key k;
    struct keys_jwk j;
};

/* keys_list order: newest first; at equal creation time next before active before retired. */
static int newest_first(const void *pa, const void *pb)
{
    const struct ring_key *a = &((const struct loaded *)pa)->k;
    const struct ring_key *b = &((const struct loaded *)pb)->k;

    if (a->created_at != b->created_at)
        return a->created_at > b->created_at ? -1 : 1;
    if (state_rank(a->state) != state_rank(b->state))
        return state_rank(a->state) - state_rank(b->state);
    if (a->activated_at != b->activated_at)
        return a->activated_at > b->activated_at ? -1 : 1;
    return strcmp(a->kid, b->kid);
}

/* Opens and parses one stored key and checks that it is the key its kid names. */
static int load_key(struct keys *kr, const struct store_signing_key *sk, struct loaded *l)
{
    int rc, alg = keys_alg_parse(sk->alg);
    char kid[KEYS_KID_MAX];

    if (alg < 0 || sk->state < STORE_KEY_NEXT || sk->state > STORE_KEY_RETIRED ||
        memchr(sk->kid, '\0', sizeof sk->kid) == NULL)
        return KEYS_ESTORE;
    snprintf(l->k.kid, sizeof l->k.kid, "%s", sk->kid);
    l->k.alg = (enum keys_alg)alg;
    l->k.state = sk->state;
    l->k.created_at = sk->created_at;
    l->k.activated_at = sk->activated_at;
    l->k.retire_after = sk->retire_after;
    rc = keys_pkey_unseal(sk->sealed, sk->sealed_len, kr->master, sk->kid, sk->alg, &l->k.pkey);
    if (rc != KEYS_OK)
        return rc;
    rc = keys_jwk_from_pkey(l->k.pkey, l->k.alg, &l->j);
    if (rc != KEYS_OK)
        return rc;
    rc = keys_jwk_thumbprint(&l->j, kid);
    if (rc != KEYS_OK)
        return rc;
    if (strcmp(kid, sk->kid) != 0)
        return KEYS_ECRYPTO;
    return keys_ring_key_prepare(&l->k);
}

/* JWKS order: the active key, the next key(s), then retired keys still within their time. */
static int jwks_pass(const struct ring *r, const struct ring_key *k, int pass)
{
    switch (pass) {
    case 0:
        return k == r->active;
    case 1:
        return k->state == STORE_KEY_NEXT;
    case 2:
        return k->state == STORE_KEY_ACTIVE && k != r->active;
    default:
        return k->state == STORE_KEY_RETIRED;
    }
}

/* Builds a ring from the stored keys: each one opened and parsed once, retired keys past
 * retire_after left out, the JWKS rendered once. */
static int ring_build(struct keys *kr, const struct load_arg *la, int64_t now, struct ring **out)
{
    int rc = KEYS_ENOMEM;
    struct ring *r = NULL;
    struct loaded *l = NULL;
    struct buf b = {0};
    size_t m = 0;

    r = calloc(1, sizeof *r);
    l = calloc(la->n ? la->n : 1, sizeof *l);
    if (!r || !l)
        goto out;
    r->epoch = la->epoch;
    for (size_t i = 0; i < la->n; i++) {
        const struct store_signing_key *sk = &la->items[i];
        if (sk->state == STORE_KEY_RETIRED && sk->retire_after <= now)
            continue; /* no unexpired token can carry its signature */
        rc = load_key(kr, sk, &l[m]);
        m++; /* l[m - 1] holds what load_key() allocated, even on failure */
        if (rc != KEYS_OK)
            goto out;
    }
    qsort(l, m, sizeof *l, newest_first);
    r->keys = calloc(m ? m : 1, sizeof *r->keys);
    if (!r->keys) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m; i++) {
        r->keys[i] = l[i].k;
        memset(&l[i].k, 0, sizeof l[i].k); /* the ring owns its pkey and templates now */
        if (r->keys[i].state == STORE_KEY_RETIRED &&
            (!r->expires_at || r->keys[i].retire_after < r->expires_at))
            r->expires_at = r->keys[i].retire_after;
        if (r->keys[i].state == STORE_KEY_ACTIVE &&
            (!r->active || r->keys[i].activated_at > r->active->activated_at))
            r->active = &r->keys[i];
    }
    r->nkeys = m;

    buf_appends(&b, "{\"keys\":[");
    for (int pass = 0, first = 1; pass < 4; pass++) {
        for (size_t i = 0; i < m; i++) {
            if (!jwks_pass(r, &r->keys[i], pass))
                continue;
            if (!first)
                buf_appends(&b, ",");
            first = 0;
            keys_jwk_render(&l[i].j, r->keys[i].kid, keys_alg_name(r->keys[i].alg), &b);
        }
    }
    buf_appends(&b, "]}");
    if (b.failed) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    r->jwks = buf_take(&b, &r->jwks_len); /* the ring's now */
    *out = r;
    r = NULL;
    rc = KEYS_OK;
out:
    if (l) {
        for (size_t i = 0; i < m; i++) {
            keys_ring_key_clear(&l[i].k);
            keys_jwk_clear(&l[i].j);
        }
        free(l);
    }
    buf_free(&b);
    ring_free(r);
    return rc;
}

/* Reads the stored keys and installs them as the current ring. */
static int ring_reload(struct keys *kr, int force, int *installed)
{
    int rc;
    struct load_arg la = {0};
    struct ring *r = NULL;

    rc = store_read(kr->st, load_cb, &la);
    if (rc != STORE_OK) {
        rc = keys_from_store(rc);
        goto out;
    }
    rc = ring_build(kr, &la, (int64_t)time(NULL), &r);
    if (rc != KEYS_OK)
        goto out;
    if (!r->active) {
        /* someone removed the keys under us: keep signing with the ring we have */
        ring_free(r);
        rc = KEYS_ESTORE;
        goto out;
    }
    ring_install(kr, r, force, installed);
out:
    store_key_list_free(la.items, la.n);
    return rc;
}

/* ---- writing: first keys and rotation ---- */

struct new_key {
    char kid[KEYS_KID_MAX];
    uint8_t *sealed;
    size_t sealed_len;
};

struct write_arg {
    struct keys *kr;
    int rotate; /* 0: only add what is missing (keys_open) */
    int64_t now;
    struct new_key pool[2]; /* generated outside the transaction: RSA takes ~0.1 s */
    size_t npool;
    size_t need; /* set by plan(): keys the write uses from pool */
    int changed;
    /* keys_rotate_with(): the next key must have been published this long (0 = any age); when
     * it has not, the write only adds what is missing and sets too_soon and ready_at */
    int64_t min_published;
    int too_soon;
    int64_t ready_at;
    /* keys_rotate_with(): runs in the rotation's transaction with the new active kid */
    int (*in_txn)(struct store_txn *txn, const char *active_kid, void *arg);
    void *in_txn_arg;
    char active_kid[KEYS_KID_MAX];
};

/* Which stored key is the active one (newest activation) and which the next one (newest). */
static void pick(const struct store_signing_key *items, size_t n, long *active, long *next)
{
    *active = *next = -1;
    for (size_t i = 0; i < n; i++) {
        if (items[i].state == STORE_KEY_ACTIVE &&
            (*active < 0 || items[i].activated_at > items[*active].activated_at))
            *active = (long)i;
        if (items[i].state == STORE_KEY_NEXT &&
            (*next < 0 || items[i].created_at > items[*next].created_at))
            *next = (long)i;
    }
}

/* Whether a rotation asked for in a may happen now: 1, or 0 with a->too_soon and a->ready_at set
 * (the next key, pick()'s index next, has not been published min_published seconds yet). No next
 * key at all is published from now on: the write makes one. */
static int rotation_due(struct write_arg *a, const struct store_signing_key *items, long next)
{
    int64_t since = next >= 0 ? items[next].created_at : a->now;

    a->too_soon = 0;
    a->ready_at = 0;
    if (!a->rotate || a->min_published <= 0)
        return a->rotate;
    /* created_at was truncated to the second: + 1 makes the wait whole */
    a->ready_at =
        since > INT64_MAX - a->min_published - 1 ? INT64_MAX : since + a->min_published + 1;
    if (next >= 0 && a->now >= a->ready_at)
        return 1;
    a->too_soon = 1;
    return 0;
}

/* How many fresh keys the write will need: a new next key whenever the next key is promoted or
 * missing, and a new active key too when there is no next key to promote. */
static size_t plan(const struct store_signing_key *items, size_t n, int rotate)
{
    long active, next;

    pick(items, n, &active, &next);
    if (rotate || active < 0)
        return next < 0 ? 2 : 1;
    return next < 0 ? 1 : 0;
}

static int plan_cb(struct store_txn *txn, void *arg)
{
    struct write_arg *a = arg;
    struct store_signing_key *items = NULL;
    size_t n = 0;
    int rc = store_key_list(txn, &items, &n);
    long active, next;

    if (rc == STORE_OK) {
        pick(items, n, &active, &next);
        a->need = plan(items, n, rotation_due(a, items, next));
    }
    store_key_list_free(items, n);
    return rc;
}

static int put_new(struct store_txn *txn, struct write_arg *a, size_t *used, int state)
{
    struct store_signing_key sk;
    const struct new_key *nk = &a->pool[(*used)++];

    memset(&sk, 0, sizeof sk);
    snprintf(sk.kid, sizeof sk.kid, "%s", nk->kid);
    snprintf(sk.alg, sizeof sk.alg, "%s", keys_alg_name(a->kr->alg));
    sk.state = state;
    sk.created_at = a->now;
    sk.activated_at = state == STORE_KEY_ACTIVE ? a->now : 0;
    sk.sealed = nk->sealed;
    sk.sealed_len = nk->sealed_len;
    return store_key_put(txn, &sk);
}

/* The write transaction. Re-reads the keys first, so it acts on what is stored now, not on what
 * plan_cb() saw: of two processes adding the first keys, the second finds them and adds none.
 * Runs again from the start on MDB_MAP_FULL, so it changes nothing outside the transaction
 * (a->changed and a->need are reset). */
static int write_cb(struct store_txn *txn, void *arg)
{
    struct write_arg *a = arg;
    struct store_signing_key *items = NULL;
    size_t n = 0, used = 0;
    long active, next;
    uint64_t epoch = 0;
    int rc, rotate;

    a->changed = 0;
    rc = store_key_list(txn, &items, &n);
    if (rc != STORE_OK)
        goto out;
    pick(items, n, &active, &next);
    /* decided on what is stored now: of two quick rotations racing, the second finds the next
     * key the first just made and is refused */
    rotate = rotation_due(a, items, next);
    a->need = plan(items, n, rotate);
    if (a->need == 0)
        goto out;
    if (a->need > a->npool) {
        rc = CB_AGAIN;
        goto out;
    }
    if (rotate || active < 0) {
        if (rotate) {
            /* every active key (normally one) stops signing and verifies until the tokens it
             * signed have expired */
            for (size_t i = 0; i < n; i++) {
                if (items[i].state != STORE_KEY_ACTIVE)
                    continue;
                items[i].state = STORE_KEY_RETIRED;
                items[i].retire_after = a->now + a->kr->token_ttl + KEYS_RETIRE_LEEWAY;
                rc = store_key_put(txn, &items[i]);
                if (rc != STORE_OK)
                    goto out;
            }
        }
        if (next >= 0) {
            /* already published in the JWKS, so verifiers know it before it signs */
            items[next].state = STORE_KEY_ACTIVE;
            items[next].activated_at = a->now;
            rc = store_key_put(txn, &items[next]);
            snprintf(a->active_kid, sizeof a->active_kid, "%s", items[next].kid);
        } else {
            snprintf(a->active_kid, sizeof a->active_kid, "%s", a->pool[used].kid);
            rc = put_new(txn, a, &used, STORE_KEY_ACTIVE);
        }
        if (rc != STORE_OK)
            goto out;
        next = -1;
    }
    if (next < 0) {
        rc = put_new(txn, a, &used, STORE_KEY_NEXT);
        if (rc != STORE_OK)
            goto out;
    }
    if (rotate) {
        for (size_t i = 0; i < n; i++) {
            if (items[i].state != STORE_KEY_RETIRED || items[i].retire_after > a->now)
                continue;
            rc = store_key_delete(txn, items[i].kid);
            if (rc != STORE_OK && rc != STORE_NOTFOUND)
                goto out;
        }
    }
    if (rotate && a->in_txn) {
        rc = a->in_txn(txn, a->active_kid, a->in_txn_arg);
        if (rc != STORE_OK)
            goto out;
    }
    rc = read_epoch(txn, &epoch);
    if (rc != STORE_OK)
        goto out;
    rc = store_meta_put(txn, EPOCH_NAME, epoch + 1); /* other processes reload */
    if (rc != STORE_OK)
        goto out;
    a->changed = 1;
out:
    store_key_list_free(items, n);
    return rc;
}

static int new_key_make(struct keys *kr, struct new_key *nk)
{
    int rc;
    EVP_PKEY *pk = NULL;
    struct keys_jwk j;

    memset(nk, 0, sizeof *nk);
    memset(&j, 0, sizeof j);
    rc = keys_pkey_generate(kr->alg, &pk);
    if (rc != KEYS_OK)
        goto out;
    rc = keys_jwk_from_pkey(pk, kr->alg, &j);
    if (rc != KEYS_OK)
        goto out;
    rc = keys_jwk_thumbprint(&j, nk->kid);
    if (rc != KEYS_OK)
        goto out;
    rc = keys_pkey_seal(pk, kr->master, nk->kid, keys_alg_name(kr->alg), &nk->sealed,
                        &nk->sealed_len);
out:
    keys_jwk_clear(&j);
    EVP_PKEY_free(pk);
    return rc;
}

/* Adds what is missing (rotate = 0) or rotates, in one write transaction, with the fresh keys
 * generated beforehand. *changed = 1 when it wrote. A rotation refused by min_published is
 * KEYS_ETOOSOON with *ready_at set (it may still have written a missing next key). */
static int write_keys(struct keys *kr, int rotate, int64_t now, int64_t min_published,
                      int64_t *ready_at, int (*in_txn)(struct store_txn *, const char *, void *),
                      void *in_txn_arg, int *changed)
{
    int rc;
    struct write_arg a;

    memset(&a, 0, sizeof a);
    a.kr = kr;
    a.rotate = rotate;
    a.now = now;
    a.in_txn = in_txn;
    a.in_txn_arg = in_txn_arg;
    a.min_published = min_published;
    *changed = 0;
    rc = store_read(kr->st, plan_cb, &a);
    if (rc != STORE_OK) {
        rc = keys_from_store(rc);
        goto out;
    }
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        if (a.need == 0 && (!rotate || a.too_soon)) {
            /* the common start: nothing missing; or a rotation that must wait: no write lock */
            rc = KEYS_OK;
            break;
        }
        while (a.npool < a.need && a.npool < sizeof a.pool / sizeof a.pool[0]) {
            rc = new_key_make(kr, &a.pool[a.npool]);
            if (rc != KEYS_OK)
                goto out;
            a.npool++;
        }
        rc = store_write(kr->st, write_cb, &a);
        if (rc != CB_AGAIN)
            break;
        /* someone changed the keys since plan_cb(): a.need is what the write saw */
    }
    if (rc == CB_AGAIN)
        rc = KEYS_ESTORE;
    else if (rc != KEYS_OK)
        rc = keys_from_store(rc);
    *changed = a.changed;
    if (rc == KEYS_OK && a.too_soon) {
        rc = KEYS_ETOOSOON;
        if (ready_at)
            *ready_at = a.ready_at;
    }
out:
    for (size_t i = 0; i < a.npool; i++)
        free(a.pool[i].sealed);
    return rc;
}

/* ---- public API ---- */

int keys_open(struct store *st, const uint8_t master[KEYS_MASTER_LEN],
              const struct keys_options *opts, struct keys **out)
{
    int rc = KEYS_EINVAL, alg = KEYS_ALG_ES256, changed = 0;
    int64_t ttl = DEFAULT_TOKEN_TTL;
    struct keys *kr = NULL;

    if (!st || !master || !out)
        goto out;
    if (opts && opts->alg) {
        alg = keys_alg_parse(opts->alg);
        if (alg < 0)
            goto out;
    }
    if (opts && opts->token_ttl != 0)
        ttl = opts->token_ttl;
    if (ttl < 0 || ttl > MAX_TOKEN_TTL)
        goto out;
    kr = calloc(1, sizeof *kr);
    if (!kr) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    kr->st = st;
    memcpy(kr->master, master, KEYS_MASTER_LEN);
    kr->alg = (enum keys_alg)alg;
    kr->token_ttl = ttl;
    if (pthread_mutex_init(&kr->mutex, NULL) != 0) {
        crypto_wipe(kr->master, sizeof kr->master);
        free(kr);
        kr = NULL;
        rc = KEYS_ENOMEM;
        goto out;
    }
    rc = write_keys(kr, 0, (int64_t)time(NULL), 0, NULL, NULL, NULL, &changed);
    if (rc != KEYS_OK)
        goto out;
    rc = ring_reload(kr, 1, NULL); /* KEYS_ESTORE when the keys went meanwhile */
    if (rc != KEYS_OK)
        goto out;
    *out = kr;
    kr = NULL;
out:
    keys_close(kr);
    ERR_clear_error();
    return rc;
}

void keys_close(struct keys *kr)
{
    if (!kr)
        return;
    keys_ring_release(kr, kr->ring);
    crypto_wipe(kr->master, sizeof kr->master);
    pthread_mutex_destroy(&kr->mutex);
    free(kr);
}

int keys_rotate_with(struct keys *kr, int64_t now, int64_t min_published, int64_t *ready_at,
                     int (*in_txn)(struct store_txn *txn, const char *active_kid, void *arg),
                     void *arg)
{
    int rc, reload_rc, changed = 0;

    if (!kr)
        return KEYS_EINVAL;
    rc = write_keys(kr, 1, now, min_published, ready_at, in_txn, arg, &changed);
    if (rc == KEYS_OK || (rc == KEYS_ETOOSOON && changed)) {
        reload_rc = ring_reload(kr, 0, NULL);
        if (reload_rc != KEYS_OK)
            rc = reload_rc;
    }
    return rc;
}

int keys_rotate(struct keys *kr, int64_t now)
{
    return keys_rotate_with(kr, now, 0, NULL, NULL, NULL);
}

static int epoch_cb(struct store_txn *txn, void *arg)
{
    return read_epoch(txn, arg);
}

int keys_refresh(struct keys *kr, int *changed)
{
    int rc, installed = 0, expired;
    uint64_t epoch = 0, current;
    struct ring *r;

    if (changed)
        *changed = 0;
    if (!kr)
        return KEYS_EINVAL;
    rc = store_read(kr->st, epoch_cb, &epoch);
    if (rc != STORE_OK)
        return keys_from_store(rc);
    r = keys_ring_acquire(kr);
    current = r->epoch;
    expired = r->expires_at && r->expires_at <= (int64_t)time(NULL);
    keys_ring_release(kr, r);
    if (epoch == current && !expired)
        return KEYS_OK;
    rc = ring_reload(kr, epoch < current, &installed);
    if (rc == KEYS_OK && changed)
        *changed = installed;
    return rc;
}

int keys_jwks_dup(struct keys *kr, char **out, size_t *len)
{
    int rc = KEYS_EINVAL;
    struct ring *r = NULL;
    char *p;

    if (!kr || !out)
        goto out;
    r = keys_ring_acquire(kr);
    p = malloc(r->jwks_len + 1);
    if (!p) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    memcpy(p, r->jwks, r->jwks_len + 1);
    *out = p;
    if (len)
        *len = r->jwks_len;
    rc = KEYS_OK;
out:
    keys_ring_release(kr, r);
    return rc;
}

const char *keys_active_alg(struct keys *kr)
{
    const char *name;
    struct ring *r;

    if (!kr)
        return NULL;
    r = keys_ring_acquire(kr);
    name = keys_alg_name(r->active->alg);
    keys_ring_release(kr, r);
    return name;
}

static const char *state_name(int state)
{
    switch (state) {
    case STORE_KEY_NEXT:
        return "next";
    case STORE_KEY_ACTIVE:
        return "active";
    default:
        return "retired";
    }
}

int keys_list(struct keys *kr, struct keys_info **items, size_t *n)
{
    int rc = KEYS_EINVAL;
    struct ring *r = NULL;
    struct keys_info *v;

    if (!kr || !items || !n)
        goto out;
    r = keys_ring_acquire(kr);
    v = calloc(r->nkeys ? r->nkeys : 1, sizeof *v);
    if (!v) {
        rc = KEYS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->nkeys; i++) {
        const struct ring_key *k = &r->keys[i];
        snprintf(v[i].kid, sizeof v[i].kid, "%s", k->kid);
        snprintf(v[i].alg, sizeof v[i].alg, "%s", keys_alg_name(k->alg));
        v[i].state = state_name(k->state);
        v[i].created_at = k->created_at;
        v[i].activated_at = k->activated_at;
        v[i].retire_after = k->retire_after;
    }
    *items = v;
    *n = r->nkeys;
    rc = KEYS_OK;
out:
    keys_ring_release(kr, r);
    return rc;
}
