/* Other issuers' keys and metadata, kept in memory per process: JWK Sets by URL (an inline set
 * by the hash of its text) and discovery documents by issuer.
 *
 * An entry lives for its Cache-Control max-age, at least a minute and at most a day. A token
 * whose kid the set lacks asks for a fresh set, at most once a minute per set, so a stream of
 * made-up kids costs one fetch a minute, not one per token. A source that failed is not asked
 * again for ten seconds; meanwhile the set it gave before, if any, stays in use. Fetches run on
 * a fetch worker (SRV_MAY_FETCH), outside the lock; an HTTP thread asks with SRV_MEMORY_ONLY
 * and gets SRV_EAGAIN when only a fetch would do. Sets are shared by reference counts: a set
 * replaced while a verification holds it is freed by the last holder. */
#define LOG_MODULE "federation"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

#define SOURCES_MAX 256     /* entries kept; the least recently used goes first */
#define REFRESH_MIN 60      /* seconds between two fetches of a set for an unknown kid */
#define RETRY_AFTER_FAIL 10 /* seconds a failed source is left alone */
#define KEEP_MIN 60         /* seconds an answer is kept at least (no-store included) */
#define KEEP_MAX 86400      /* and at most */
#define LEEWAY 60           /* seconds of clock skew allowed in exp, nbf, iat */
#define KEY_MAX (STORE_URI_MAX + 16)

struct keyset {
    struct keys_jwks *jwks;
    unsigned refs; /* under the sources' lock */
};

struct source {
    char key[KEY_MAX]; /* "jwks <url>", "inline <sha-256 hex>" or "meta <issuer>" */
    struct keyset *set;
    struct srv_upstream_meta meta;
    int has_meta;
    int64_t fetched_at, expires_at, failed_at;
    char failure[160];
    struct source *prev, *next; /* most recently used first */
};

struct srv_key_sources {
    pthread_mutex_t lock;
    struct source *head, *tail;
    size_t n;
};

int srv_key_sources_new(struct srv_key_sources **out)
{
    struct srv_key_sources *ks = calloc(1, sizeof *ks);
    if (!ks || pthread_mutex_init(&ks->lock, NULL) != 0) {
        free(ks);
        return SRV_ENOMEM;
    }
    *out = ks;
    return SRV_OK;
}

/* Under the lock. */
static void set_release(struct keyset *s)
{
    if (s && --s->refs == 0) {
        keys_jwks_free(s->jwks);
        free(s);
    }
}

static void unlink_source(struct srv_key_sources *ks, struct source *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        ks->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        ks->tail = s->prev;
    s->prev = s->next = NULL;
}

static void push_front(struct srv_key_sources *ks, struct source *s)
{
    s->next = ks->head;
    if (ks->head)
        ks->head->prev = s;
    ks->head = s;
    if (!ks->tail)
        ks->tail = s;
}

void srv_key_sources_free(struct srv_key_sources *ks)
{
    if (!ks)
        return;
    while (ks->head) {
        struct source *s = ks->head;
        unlink_source(ks, s);
        set_release(s->set);
        free(s);
    }
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

/* The entry of key, made (and the oldest dropped) when absent; moved to the front. Under the
 * lock. NULL without memory. */
static struct source *source_at(struct srv_key_sources *ks, const char *key)
{
    struct source *s;
    for (s = ks->head; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            break;
    if (!s) {
        if (ks->n >= SOURCES_MAX) {
            struct source *old = ks->tail;
            unlink_source(ks, old);
            set_release(old->set);
            free(old);
            ks->n--;
        }
        if (!(s = calloc(1, sizeof *s)))
            return NULL;
        snprintf(s->key, sizeof s->key, "%s", key);
        ks->n++;
    } else {
        unlink_source(ks, s);
    }
    push_front(ks, s);
    return s;
}

static int64_t keep_for(int64_t max_age)
{
    return max_age < KEEP_MIN ? KEEP_MIN : max_age > KEEP_MAX ? KEEP_MAX : max_age;
}

/* GET url for a JSON document: SRV_OK with the answer (clear it), else why. */
static int fetch_json(struct srv_ctx *ctx, const char *url, struct srv_fetch_result *r, char *why,
                      size_t cap)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct srv_fetch_opts o = srv_fetch_opts_of(ctx->cfg);
    char line[256] = "";
    int rc = srv_fetch(&o, url, headers, NULL, r, line, sizeof line);
    if (rc == SRV_OK && r->status != 200) {
        snprintf(line, sizeof line, "answered HTTP %ld", r->status);
        rc = SRV_ERUNTIME;
    }
    if (rc != SRV_OK) {
        snprintf(why, cap, "%s: %s", url, line);
        srv_fetch_result_clear(r);
        return SRV_ERUNTIME;
    }
    return SRV_OK;
}

/* Reads a discovery document of issuer from text. */
static int meta_parse(struct srv_ctx *ctx, const char *issuer, const char *text, size_t len,
                      struct srv_upstream_meta *m, char *why, size_t cap)
{
    struct srv_fetch_opts o = srv_fetch_opts_of(ctx->cfg);
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *methods;
    static const char *const urls[] = {"authorization_endpoint", "token_endpoint", "jwks_uri"};
    char *dst[] = {m->authorization_endpoint, m->token_endpoint, m->jwks_uri};
    int rc = SRV_ERUNTIME;
    memset(m, 0, sizeof *m);
    if (!json_is_object(doc)) {
        snprintf(why, cap, "the discovery document of %s is not a JSON object", issuer);
        goto out;
    }
    /* OpenID Connect Discovery §4.3: the issuer must be exactly the one asked for */
    if (!json_is_string(json_object_get(doc, "issuer")) ||
        strcmp(json_string_value(json_object_get(doc, "issuer")), issuer) != 0) {
        snprintf(why, cap, "the discovery document of %s names another issuer", issuer);
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        const char *u = json_string_value(json_object_get(doc, urls[i])), *bad;
        if (u && srv_fetch_url_valid(&o, u, &bad) != SRV_OK) {
            snprintf(why, cap, "the discovery document of %s: %s: %s", issuer, urls[i], bad);
            goto out;
        }
        snprintf(dst[i], STORE_URI_MAX, "%s", u ? u : "");
    }
    if (!m->jwks_uri[0]) {
        snprintf(why, cap, "the discovery document of %s has no jwks_uri", issuer);
        goto out;
    }
    snprintf(m->issuer, sizeof m->issuer, "%s", issuer);
    /* absent, the default is client_secret_basic (OpenID Connect Discovery §3) */
    methods = json_object_get(doc, "token_endpoint_auth_methods_supported");
    m->basic_auth = !json_is_array(methods);
    for (size_t i = 0; json_is_array(methods) && i < json_array_size(methods); i++)
        if (json_is_string(json_array_get(methods, i)) &&
            strcmp(json_string_value(json_array_get(methods, i)), "client_secret_basic") == 0)
            m->basic_auth = 1;
    rc = SRV_OK;
out:
    json_decref(doc);
    return rc;
}

int srv_upstream_meta(struct srv_ctx *ctx, const char *issuer, enum srv_fetch_mode mode,
                      struct srv_upstream_meta *out, char *why, size_t cap)
{
    struct srv_key_sources *ks = ctx->key_sources;
    struct srv_fetch_result r = {0};
    struct source *s;
    char key[KEY_MAX], url[STORE_URI_MAX + 40];
    int64_t now = srv_now();
    int rc = SRV_ENOMEM;
    size_t n = strlen(issuer);
    snprintf(key, sizeof key, "meta %s", issuer);
    pthread_mutex_lock(&ks->lock);
    s = source_at(ks, key);
    int resting = s && now - s->failed_at < RETRY_AFTER_FAIL; /* failed lately: not asked */
    if (s && s->has_meta && (now < s->expires_at || resting)) {
        *out = s->meta; /* live, or the one it gave before it failed */
        rc = SRV_OK;
    } else if (resting) {
        snprintf(why, cap, "%s", s->failure);
        rc = SRV_ERUNTIME;
    } else if (s) {
        rc = SRV_EAGAIN;
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc != SRV_EAGAIN || mode == SRV_MEMORY_ONLY)
        return rc;

    /* OpenID Connect Discovery §4: the path appended to the issuer, a trailing '/' dropped */
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
             (int)(n && issuer[n - 1] == '/' ? n - 1 : n), issuer);
    rc = fetch_json(ctx, url, &r, why, cap);
    if (rc == SRV_OK)
        rc = meta_parse(ctx, issuer, r.body, r.len, out, why, cap);
    pthread_mutex_lock(&ks->lock);
    if ((s = source_at(ks, key))) {
        if (rc == SRV_OK) {
            s->meta = *out;
            s->has_meta = 1;
            s->fetched_at = now;
            s->expires_at = now + keep_for(r.max_age);
        } else {
            s->failed_at = now;
            snprintf(s->failure, sizeof s->failure, "%s", why);
            if (s->has_meta) { /* the document it gave before stays in use */
                *out = s->meta;
                rc = SRV_OK;
            }
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc != SRV_OK)
        LOG(SRV_LOG_WARN, "%s", why);
    srv_fetch_result_clear(&r);
    return rc;
}

/* The key set of t, held (release it with keyset_put). refresh: the caller met an unknown kid. */
static int keyset_get(struct srv_ctx *ctx, const struct srv_trust *t, int refresh,
                      enum srv_fetch_mode mode, struct keyset **out, char *why, size_t cap)
{
    struct srv_key_sources *ks = ctx->key_sources;
    struct srv_fetch_result r = {0};
    struct keys_jwks *jwks = NULL;
    struct keyset *fresh = NULL;
    struct source *s;
    char key[KEY_MAX];
    const char *url = t->jwks_uri;
    struct srv_upstream_meta meta;
    int64_t now = srv_now();
    int rc;
    *out = NULL;
    if (t->jwks) {
        uint8_t h[CRYPTO_SHA256_LEN];
        crypto_sha256(t->jwks, strlen(t->jwks), h);
        memcpy(key, "inline ", 7);
        for (size_t i = 0; i < sizeof h; i++)
            snprintf(key + 7 + 2 * i, 3, "%02x", h[i]);
        refresh = 0; /* nothing to fetch: an unknown kid is unknown */
    } else {
        if (!url[0]) {
            rc = srv_upstream_meta(ctx, t->issuer, mode, &meta, why, cap);
            if (rc != SRV_OK)
                return rc;
            url = meta.jwks_uri;
        }
        snprintf(key, sizeof key, "jwks %s", url);
    }

    pthread_mutex_lock(&ks->lock);
    rc = SRV_ENOMEM;
    if ((s = source_at(ks, key))) {
        int live = s->set && (t->jwks || now < s->expires_at);
        int may_refresh = !t->jwks && refresh && now - s->fetched_at >= REFRESH_MIN;
        if (live && !may_refresh) {
            rc = SRV_OK;
        } else if (!t->jwks && now - s->failed_at < RETRY_AFTER_FAIL) {
            snprintf(why, cap, "%s", s->failure);
            rc = s->set ? SRV_OK : SRV_ERUNTIME;
        } else {
            rc = SRV_EAGAIN;
        }
        if (rc == SRV_OK) {
            s->set->refs++;
            *out = s->set;
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc != SRV_EAGAIN || (mode == SRV_MEMORY_ONLY && !t->jwks))
        return rc;

    if (t->jwks) {
        rc = keys_jwks_parse(t->jwks, strlen(t->jwks), &jwks) == KEYS_OK ? SRV_OK : SRV_ERUNTIME;
        if (rc != SRV_OK)
            snprintf(why, cap, "the inline JWK Set cannot be read");
    } else {
        rc = fetch_json(ctx, url, &r, why, cap);
        if (rc == SRV_OK && keys_jwks_parse(r.body, r.len, &jwks) != KEYS_OK) {
            snprintf(why, cap, "%s: not a JWK Set", url);
            rc = SRV_ERUNTIME;
        }
    }
    if (rc == SRV_OK && !(fresh = calloc(1, sizeof *fresh))) {
        keys_jwks_free(jwks);
        rc = SRV_ENOMEM;
    }
    if (fresh) {
        fresh->jwks = jwks;
        fresh->refs = 1; /* the caller's */
    }
    pthread_mutex_lock(&ks->lock);
    if ((s = source_at(ks, key))) {
        if (rc == SRV_OK) {
            set_release(s->set);
            s->set = fresh;
            fresh->refs++; /* the entry's */
            s->fetched_at = now;
            s->expires_at = now + keep_for(r.max_age);
            s->failed_at = 0;
        } else {
            s->failed_at = now;
            snprintf(s->failure, sizeof s->failure, "%s", why);
            if (s->set) { /* the set it gave before stays in use */
                s->set->refs++;
                fresh = s->set;
                rc = SRV_OK;
            }
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc != SRV_OK)
        LOG(SRV_LOG_WARN, "keys of %s: %s", t->issuer, why);
    srv_fetch_result_clear(&r);
    *out = rc == SRV_OK ? fresh : NULL;
    if (rc != SRV_OK && fresh) {
        keys_jwks_free(fresh->jwks);
        free(fresh);
    }
    return rc;
}

static void keyset_put(struct srv_ctx *ctx, struct keyset *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&ctx->key_sources->lock);
    set_release(s);
    pthread_mutex_unlock(&ctx->key_sources->lock);
}

void srv_assertion_clear(struct srv_assertion *a)
{
    json_decref(a->claims);
    memset(a, 0, sizeof *a);
}

/* A NumericDate member: 1 with *v when present and a number, 0 when absent, -1 otherwise. */
static int numeric_date(json_t *claims, const char *name, int64_t *v)
{
    json_t *j = json_object_get(claims, name);
    if (!j)
        return 0;
    if (!json_is_number(j) || json_number_value(j) < 0 || json_number_value(j) > 1e12)
        return -1;
    *v = (int64_t)json_number_value(j);
    return 1;
}

static int audience_holds(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++)
        if (json_is_string(json_array_get(aud, i)) &&
            strcmp(json_string_value(json_array_get(aud, i)), want) == 0)
            return 1;
    return 0;
}

/* The claims' checks; SRV_EINVAL with why. */
static int claims_check(const struct srv_trust *t, const char *audience, struct srv_assertion *a,
                        char *why, size_t cap)
{
    json_t *c = a->claims, *iss = json_object_get(c, "iss"), *sub, *jti;
    int64_t now = srv_now(), nbf = 0, from;
    int has_iat, has_nbf;
    if (!json_is_string(iss) || strcmp(json_string_value(iss), t->issuer) != 0)
        return snprintf(why, cap, "the token's issuer is not the one trusted"), SRV_EINVAL;
    if (!audience || !*audience || !audience_holds(json_object_get(c, "aud"), audience))
        return snprintf(why, cap, "the token's audience is not this one"), SRV_EINVAL;
    if (numeric_date(c, "exp", &a->exp) != 1)
        return snprintf(why, cap, "the token has no valid exp"), SRV_EINVAL;
    if (a->exp + LEEWAY <= now)
        return snprintf(why, cap, "the token has expired"), SRV_EINVAL;
    if ((has_iat = numeric_date(c, "iat", &a->iat)) < 0 || (has_iat && a->iat > now + LEEWAY))
        return snprintf(why, cap, "the token's iat is invalid or in the future"), SRV_EINVAL;
    if ((has_nbf = numeric_date(c, "nbf", &nbf)) < 0 || (has_nbf && nbf > now + LEEWAY))
        return snprintf(why, cap, "the token is not valid yet (nbf)"), SRV_EINVAL;
    from = has_iat ? a->iat : now;
    if (a->exp - from > SRV_ASSERTION_TTL_MAX)
        return snprintf(why, cap, "the token lives longer than %d seconds", SRV_ASSERTION_TTL_MAX),
               SRV_EINVAL;
    sub = json_object_get(c, "sub");
    if (sub && (!json_is_string(sub) || json_string_length(sub) == 0 ||
                json_string_length(sub) >= STORE_EMAIL_MAX ||
                strlen(json_string_value(sub)) != json_string_length(sub)))
        return snprintf(why, cap, "the token's sub is not a usable string"), SRV_EINVAL;
    jti = json_object_get(c, "jti");
    if (jti &&
        (!json_is_string(jti) || json_string_length(jti) == 0 || json_string_length(jti) > 256))
        return snprintf(why, cap, "the token's jti is not a usable string"), SRV_EINVAL;
    a->sub = sub ? json_string_value(sub) : NULL;
    a->jti = jti ? json_string_value(jti) : NULL;
    return SRV_OK;
}

int srv_assertion_verify(struct srv_ctx *ctx, const struct srv_trust *t, const char *audience,
                         const char *token, enum srv_fetch_mode mode, struct srv_assertion *out,
                         char *why, size_t cap)
{
    struct keyset *set = NULL;
    char *payload = NULL;
    size_t len = token ? strnlen(token, KEYS_FOREIGN_JWT_MAX + 1) : 0, plen = 0;
    int rc, krc = KEYS_EKID;
    memset(out, 0, sizeof *out);
    if (len == 0 || len > KEYS_FOREIGN_JWT_MAX)
        return snprintf(why, cap, "the token is empty or longer than %d bytes",
                        KEYS_FOREIGN_JWT_MAX),
               SRV_EINVAL;
    for (int refresh = 0; refresh < 2 && krc == KEYS_EKID; refresh++) {
        keyset_put(ctx, set);
        set = NULL;
        rc = keyset_get(ctx, t, refresh, mode, &set, why, cap);
        if (rc != SRV_OK)
            goto out;
        krc = keys_foreign_verify(set->jwks, token, len, t->algorithms, NULL, &payload, &plen,
                                  out->kid);
    }
    if (krc != KEYS_OK) {
        snprintf(why, cap, "the token's signature does not verify with the issuer's keys (%s)",
                 keys_strerror(krc));
        rc = SRV_EINVAL;
        goto out;
    }
    out->claims = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(out->claims)) {
        snprintf(why, cap, "the token's claims are not one JSON object");
        rc = SRV_EINVAL;
        goto out;
    }
    rc = claims_check(t, audience ? audience : t->audience, out, why, cap);
out:
    keyset_put(ctx, set);
    free(payload);
    if (rc != SRV_OK)
        srv_assertion_clear(out);
    return rc;
}

void srv_assertion_jti_key(const struct srv_assertion *a, const char *issuer,
                           char out[SRV_JTI_KEY_MAX])
{
    uint8_t h[CRYPTO_SHA256_LEN];
    size_t ilen = strlen(issuer), jlen = a->jti ? strlen(a->jti) : 0;
    char *buf = a->jti ? malloc(ilen + 1 + jlen) : NULL;
    out[0] = '\0';
    if (!buf)
        return;
    memcpy(buf, issuer, ilen + 1);
    memcpy(buf + ilen + 1, a->jti, jlen);
    crypto_sha256(buf, ilen + 1 + jlen, h);
    free(buf);
    memcpy(out, "asr:", 4);
    crypto_b64url_encode(h, sizeof h, out + 4, SRV_JTI_KEY_MAX - 4, NULL);
}
