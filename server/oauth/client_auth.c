/* Client authentication at the OAuth endpoints (RFC 6749 §2.3.1): service accounts and
 * confidential applications by secret, public applications by client_id alone.
 *
 * A secret is checked by Argon2id on a worker thread while the connection is suspended. Which of
 * the account's (at most two) live secrets to check is picked by an 8-hex-digit SHA-256 hint, so
 * one request costs one Argon2 run whatever the account holds; an unknown client, a disabled
 * account or no matching secret costs the same run against a dummy hash, so timing does not tell
 * which client ids exist. A pair verified in the last secret_cache_ttl seconds skips Argon2.
 *
 * Once authenticated, a service account must call from inside its access list (when it has
 * one), and the secret's last_used_at is rewritten when it is more than a minute old: the hot
 * path stays read-only but for one small write per secret and minute. */
#define LOG_MODULE "oauth"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/oauth/oauth.h"

static void call_free(void *state)
{
    struct srv_oauth_call *call = state;
    if (!call)
        return;
    srv_form_free(&call->form);
    if (call->client.secret) {
        crypto_wipe(call->client.secret, call->client.secret_len);
        free(call->client.secret);
    }
    store_service_account_clear(&call->client.sa);
    crypto_wipe(&call->client.phc, sizeof call->client.phc);
    srv_login_clear(&call->login);
    srv_key_login_clear(&call->key_login);
    srv_jwt_grant_free(call->jwt);
    free(call);
}

struct srv_oauth_call *srv_oauth_call_begin_or_error(struct srv_request *rq)
{
    struct srv_oauth_call *call = calloc(1, sizeof *call);
    if (!call) {
        srv_reply_oauth_error(rq, 500, "server_error", "out of memory");
        return NULL;
    }
    srv_rq_set_state(rq, call, call_free);
    if (srv_form_parse_or_error(rq, &call->form) != SRV_OK)
        return NULL;
    return call;
}

/* Reads the client's id and secret from the Authorization header or the form. */
static int extract_credentials_or_error(struct srv_request *rq, struct srv_oauth_call *call)
{
    const char *auth = srv_rq_header(rq, "Authorization");
    const char *form_id = srv_form_get(&call->form, "client_id");
    const char *form_secret = srv_form_get(&call->form, "client_secret");
    struct srv_client *c = &call->client;
    char *id = NULL;
    size_t idlen = 0;
    int rc = SRV_ERESPONDED;

    if (auth) {
        if (strncasecmp(auth, "Basic ", 6) != 0) {
            srv_reply_oauth_error(rq, 401, "invalid_client",
                                  "client authentication must use the Basic scheme");
            goto out;
        }
        if (form_secret) {
            srv_reply_oauth_error(rq, 400, "invalid_request",
                                  "use one client authentication method, not Basic and "
                                  "client_secret together");
            goto out;
        }
        const char *b = auth + 6;
        while (*b == ' ')
            b++;
        if (srv_basic_parse(b, &id, &idlen, &c->secret, &c->secret_len) != SRV_OK) {
            srv_reply_oauth_error(rq, 401, "invalid_client", "malformed Basic credentials");
            goto out;
        }
        if (form_id && strcmp(form_id, id) != 0) {
            srv_reply_oauth_error(rq, 400, "invalid_request",
                                  "client_id differs from the Basic credentials");
            goto out;
        }
    } else {
        if (!form_id) {
            srv_reply_oauth_error(rq, 401, "invalid_client", "client authentication is required");
            goto out;
        }
        id = strdup(form_id);
        idlen = strlen(form_id);
        if (form_secret) {
            c->secret = strdup(form_secret);
            c->secret_len = strlen(form_secret);
        }
        if (!id || (form_secret && !c->secret)) {
            srv_reply_oauth_error(rq, 500, "server_error", "out of memory");
            goto out;
        }
    }
    /* The id is not secret: it names the log line even when authentication fails. */
    snprintf(c->id, sizeof c->id, "%.*s", (int)(idlen < sizeof c->id ? idlen : 0), id);
    srv_rq_log_client(rq, c->id);
    if (c->secret && c->secret_len == 0) { /* "id:" in Basic: no secret at all */
        free(c->secret);
        c->secret = NULL;
    }
    rc = SRV_OK;
out:
    free(id);
    return rc;
}

struct lookup {
    struct srv_client *c;
    int64_t now;
    uint64_t generation;       /* of the data read */
    int64_t secret_expires_at; /* of the secret found */
};

/* Fills c->sa or c->app and, when the secret's hint matches a live secret, c->secret_id and
 * c->phc. Applications have one secret; its record id is the application's id. */
static int lookup_txn(struct store_txn *txn, void *arg)
{
    struct lookup *l = arg;
    struct srv_client *c = l->c;
    struct store_secret secs[STORE_SECRETS_MAX];
    size_t n = 0;
    char hint[9] = "";
    int rc;
    store_service_account_clear(&c->sa);
    memset(&c->app, 0, sizeof c->app);
    c->secret_id[0] = '\0';
    c->secret_last_used_at = 0;
    c->kind = 0;
    l->generation = store_txn_scope_generation(txn, STORE_SCOPE_CLIENTS);
    if (c->secret)
        srv_secret_hint(c->secret, c->secret_len, hint);
    if (strncmp(c->id, "app_", 4) == 0) {
        rc = store_app_get(txn, c->id, &c->app);
        if (rc != STORE_OK)
            return rc;
        c->kind = SRV_CLIENT_APPLICATION;
        if (c->app.type == STORE_APP_CONFIDENTIAL && c->secret && c->app.phc[0] &&
            strcmp(c->app.hint, hint) == 0) {
            memcpy(c->secret_id, c->app.id, sizeof c->secret_id);
            memcpy(c->phc, c->app.phc, sizeof c->phc);
        }
        return STORE_OK;
    }
    rc = store_sa_get(txn, c->id, &c->sa);
    if (rc != STORE_OK)
        return rc;
    c->kind = SRV_CLIENT_SERVICE_ACCOUNT;
    if (!c->secret)
        return STORE_OK;
    rc = store_secret_list(txn, c->id, secs, STORE_SECRETS_MAX, &n);
    if (rc != STORE_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (secs[i].expires_at > l->now && strcmp(secs[i].hint, hint) == 0) {
            memcpy(c->secret_id, secs[i].id, sizeof c->secret_id);
            memcpy(c->phc, secs[i].phc, sizeof c->phc);
            c->secret_last_used_at = secs[i].last_used_at;
            l->secret_expires_at = secs[i].expires_at;
            break;
        }
    }
    crypto_wipe(secs, sizeof secs);
    return STORE_OK;
}

/* A service account with a secret: its record from the client cache, when nothing has been
 * committed since it was read. 1 on a hit. */
static int cached_account(struct srv_ctx *ctx, struct srv_client *c, int64_t now)
{
    struct srv_client_record rec;
    char hint[9];
    if (!c->secret || strncmp(c->id, "sa_", 3) != 0)
        return 0;
    srv_secret_hint(c->secret, c->secret_len, hint);
    if (!srv_client_cache_get(ctx->client_cache,
                              store_scope_generation(ctx->store, STORE_SCOPE_CLIENTS), c->id, hint,
                              now, &rec))
        return 0;
    store_service_account_clear(&c->sa);
    memset(&c->app, 0, sizeof c->app);
    c->sa = rec.sa; /* ownership moves to c */
    memcpy(c->secret_id, rec.secret_id, sizeof c->secret_id);
    memcpy(c->phc, rec.phc, sizeof c->phc);
    c->secret_last_used_at = rec.secret_last_used_at;
    c->kind = SRV_CLIENT_SERVICE_ACCOUNT;
    crypto_wipe(rec.phc, sizeof rec.phc);
    return 1;
}

static void remember_account(struct srv_ctx *ctx, const struct srv_client *c,
                             const struct lookup *l)
{
    char hint[9];
    struct srv_client_record rec = {.sa = c->sa, .secret_last_used_at = c->secret_last_used_at};
    srv_secret_hint(c->secret, c->secret_len, hint);
    memcpy(rec.secret_id, c->secret_id, sizeof rec.secret_id);
    memcpy(rec.phc, c->phc, sizeof rec.phc);
    srv_client_cache_put(ctx->client_cache, l->generation, hint, l->secret_expires_at, &rec);
    crypto_wipe(rec.phc, sizeof rec.phc);
}

/* Reads the client into c: c->kind 0 when there is no such client. *candidate = 1 when a secret
 * should be checked against c->phc: the client exists, is enabled and holds a live secret
 * matching the hint. Served from the client cache only while the store is unchanged, so a secret
 * deleted or an account disabled, by this process or another (the CLI), takes effect at once,
 * cache or not. STORE_OK, or the store's error when it could not be read: then nothing is known
 * of the client, which must not be answered as an unknown one. */
static int find_candidate(struct srv_request *rq, struct srv_client *c, int *candidate)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct lookup l = {c, srv_now(), 0, 0};
    *candidate = 0;
    if (strlen(c->id) == 0 || c->secret_len > SRV_SECRET_MAX) {
        c->kind = 0;
        return STORE_OK;
    }
    if (cached_account(ctx, c, l.now)) {
        *candidate = !c->sa.disabled;
        return STORE_OK;
    }
    int rc = store_read(ctx->store, lookup_txn, &l);
    if (rc != STORE_OK)
        c->kind = 0;
    if (rc == STORE_NOTFOUND || rc == STORE_EINVAL) /* EINVAL: an id that cannot exist */
        return STORE_OK;
    if (rc != STORE_OK)
        return rc;
    if (c->kind == SRV_CLIENT_SERVICE_ACCOUNT && c->secret_id[0])
        remember_account(ctx, c, &l);
    *candidate = c->secret_id[0] && !(c->kind == SRV_CLIENT_SERVICE_ACCOUNT && c->sa.disabled);
    return STORE_OK;
}

static void verify_work(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_client *c = &call->client;
    const char *phc = c->secret_id[0] ? c->phc : srv_rq_ctx(rq)->dummy_phc;
    size_t len = c->secret_len > SRV_SECRET_MAX ? SRV_SECRET_MAX : c->secret_len;
    c->verified = crypto_password_verify(phc, c->secret, len) == CRYPTO_OK && c->secret_id[0];
}

#define TOUCH_INTERVAL 60        /* seconds between two writes of one secret's last_used_at */
#define TOUCH_FRESH STORE_EXISTS /* touch_txn: another request wrote it already; abort */

struct touch {
    const char *sa_id, *secret_id;
    int64_t now;
};

/* Rewrites last_used_at unless a concurrent request did so since our read (then aborts with
 * TOUCH_FRESH, which writes nothing). Re-runnable. */
static int touch_txn(struct store_txn *txn, void *arg)
{
    struct touch *t = arg;
    struct store_secret secs[STORE_SECRETS_MAX];
    size_t n = 0;
    int rc = store_secret_list(txn, t->sa_id, secs, STORE_SECRETS_MAX, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        if (strcmp(secs[i].id, t->secret_id) == 0) {
            rc = secs[i].last_used_at > t->now - TOUCH_INTERVAL
                     ? TOUCH_FRESH
                     : store_secret_touch(txn, t->sa_id, t->secret_id, t->now);
            crypto_wipe(secs, sizeof secs);
            return rc;
        }
    crypto_wipe(secs, sizeof secs);
    return rc == STORE_OK ? STORE_NOTFOUND : rc;
}

/* Best effort: the client proved its secret, so a store that fails here costs only the
 * timestamp. */
static void touch_secret(struct srv_request *rq, const struct srv_client *c)
{
    struct touch t = {c->id, c->secret_id, srv_now()};
    if (c->secret_last_used_at > t.now - TOUCH_INTERVAL)
        return;
    int rc = store_write(srv_rq_ctx(rq)->store, touch_txn, &t);
    if (rc != STORE_OK && rc != TOUCH_FRESH && rc != STORE_NOTFOUND)
        LOG_STORE(rc, "last_used_at of %s not written", c->secret_id);
}

/* 1 when the account's access list is empty or holds the caller's address. */
static int acl_allows(const struct store_service_account *sa, const char *ip)
{
    if (sa->nacl == 0)
        return 1;
    for (size_t i = 0; i < sa->nacl; i++) {
        struct srv_cidr cidr;
        const char *why;
        if (srv_cidr_parse(sa->acl[i].cidr, &cidr, &why) && srv_cidr_contains(&cidr, ip))
            return 1;
    }
    return 0;
}

/* The client proved its secret: record the use, check where a service account calls from, go
 * on. */
static void authenticated(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_client *c = &call->client;
    if (c->kind == SRV_CLIENT_SERVICE_ACCOUNT) {
        const char *ip = srv_rq_client_ip(rq);
        touch_secret(rq, c);
        if (!acl_allows(&c->sa, ip)) {
            char detail[128];
            snprintf(detail, sizeof detail, "outside the access list: %s %s", srv_rq_method(rq),
                     srv_rq_path(rq));
            srv_audit_enqueue(srv_rq_ctx(rq), "token.refused", c->id, c->id, ip, 0, detail);
            srv_reply_oauth_error(rq, 400, "unauthorized_client",
                                  "the request comes from outside this service account's access "
                                  "list");
            return;
        }
    }
    call->next(rq);
}

static void after_verify(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_client *c = &call->client;
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    char verified_id[STORE_ID_MAX];
    int candidate = 0, rc = STORE_OK;
    memcpy(verified_id, c->secret_id, sizeof verified_id);
    /* Look again: the account or secret may have gone while Argon2 ran. */
    if (c->verified && (rc = find_candidate(rq, c, &candidate)) != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the client cannot be checked now; retry shortly");
        return;
    }
    if (!c->verified || !candidate || strcmp(verified_id, c->secret_id) != 0) {
        srv_reply_oauth_error(rq, 401, "invalid_client", "client authentication failed");
        return;
    }
    srv_secret_cache_put(ctx->secret_cache, c->id, c->secret, c->secret_len, c->secret_id,
                         srv_now());
    authenticated(rq);
}

void srv_client_authenticate(struct srv_request *rq, srv_handler next)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_client *c = &call->client;
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    if (extract_credentials_or_error(rq, call) != SRV_OK)
        return;
    call->next = next;
    int candidate = 0, rc = find_candidate(rq, c, &candidate);
    if (rc != STORE_OK) { /* before Argon2: an outage must not cost a hash per request */
        srv_reply_store_failure(rq, rc, "the client cannot be checked now; retry shortly");
        return;
    }
    if (c->kind && !srv_cors_client_or_error(rq, c->id))
        return;
    if (!c->secret) {
        /* Only a public application names itself without a secret (auth method none). */
        if (c->kind == SRV_CLIENT_APPLICATION && c->app.type == STORE_APP_PUBLIC) {
            next(rq);
            return;
        }
        srv_reply_oauth_error(rq, 401, "invalid_client", "client authentication failed");
        return;
    }
    if (c->kind == SRV_CLIENT_APPLICATION && c->app.type == STORE_APP_PUBLIC) {
        srv_reply_oauth_error(rq, 401, "invalid_client",
                              "a public application has no secret; send client_id alone");
        return;
    }
    if (candidate && srv_secret_cache_check(ctx->secret_cache, c->id, c->secret, c->secret_len,
                                            c->secret_id, srv_now())) {
        authenticated(rq);
        return;
    }
    srv_defer(rq, verify_work, after_verify);
}

int srv_app_allows_or_error(struct srv_request *rq, const struct srv_client *c, const char *grant)
{
    if (c->kind == SRV_CLIENT_APPLICATION)
        for (size_t i = 0; i < c->app.ngrants; i++)
            if (strcmp(c->app.grants[i], grant) == 0)
                return 1;
    srv_reply_oauth_error(rq, 400, "unauthorized_client", "this client may not use grant %s",
                          grant);
    return 0;
}
