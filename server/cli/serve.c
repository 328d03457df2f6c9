/* idpd serve: opens the data folder, starts the listener, and on the main thread waits for
 * SIGINT/SIGTERM while doing the periodic chores: writing queued audit events, the expiry sweep,
 * picking up keys rotated by another process, automatic key rotation and audit retention. */
#define LOG_MODULE "server"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

#define AUDIT_QUEUE_CAP 4096 /* queued audit events (two buffers of about 2 MiB) */

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: idpd serve [options]\n");
    srv_config_usage(out, SRV_CFG_SERVE);
}

/* key_rotation_interval: rotates when the active key has signed for that long. Another process
 * may have rotated already; the caller refreshed the ring just before, so this sees it. Never
 * forced: a next key published too recently (after a forced rotation, say) waits its time, and
 * this retries at each keys_refresh_interval. */
static void auto_rotate(struct srv_ctx *ctx, int64_t now)
{
    char kid[KEYS_KID_MAX];
    int64_t activated_at = 0;
    if (ctx->cfg->key_rotation_interval <= 0 ||
        srv_keys_active(ctx->keys, kid, &activated_at) != KEYS_OK ||
        now - activated_at < ctx->cfg->key_rotation_interval)
        return;
    int64_t ready_at = 0;
    int rc = srv_keys_rotate_audited(ctx, "keys.rotate", "", "", "automatic", 0, &ready_at);
    if (rc == KEYS_ETOOSOON) {
        LOG(SRV_LOG_DEBUG, "automatic key rotation waits %lld s for the next key to be published",
            (long long)(ready_at - now));
        return;
    }
    if (rc == KEYS_OK)
        rc = srv_keys_active(ctx->keys, kid, NULL);
    if (rc != KEYS_OK) {
        LOG(SRV_LOG_ERROR, "automatic key rotation failed: %s", keys_strerror(rc));
        return;
    }
    srv_keys_changed(ctx);
    LOG(SRV_LOG_INFO, "signing keys rotated automatically; active kid %s", kid);
}

/* When each chore runs next, and how it went (each logs once when it starts failing, as during
 * a database outage, and once when it works again; the JWKS and discovery documents go on being
 * served from memory meanwhile). */
struct chores {
    int64_t next_sweep, next_keys, next_expire;
    struct srv_chore sweep, keys, retention;
};

/* audit_retention_days: deletes older events, once an hour; after a failure at the next sweep's
 * turn, so an outage does not put it off for an hour. */
static void audit_retention(struct srv_ctx *ctx, int64_t now, struct chores *c)
{
    size_t removed = 0;
    if (now < c->next_expire)
        return;
    int rc = store_audit_expire(ctx->store, now - ctx->cfg->audit_retention_days * 86400, &removed);
    if (srv_chore_done(&c->retention, rc == STORE_OK, store_strerror(rc)))
        LOG(SRV_LOG_INFO, "audit retention removed %zu events older than %lld days", removed,
            (long long)ctx->cfg->audit_retention_days);
    c->next_expire = now + (rc == STORE_OK ? 3600 : ctx->cfg->sweep_interval);
}

static void chores(struct srv_ctx *ctx, int64_t now, struct chores *c)
{
    srv_audit_flush(ctx);
    if (now >= c->next_sweep) {
        size_t removed = 0;
        int rc = store_sweep(ctx->store, now, &removed);
        if (srv_chore_done(&c->sweep, rc == STORE_OK, store_strerror(rc)) && removed)
            LOG(SRV_LOG_INFO, "expiry sweep removed %zu records", removed);
        c->next_sweep = now + ctx->cfg->sweep_interval;
    }
    if (now >= c->next_keys) {
        int changed = 0, krc = keys_refresh(ctx->keys, &changed);
        /* the ring in memory goes on signing meanwhile; a rotation would need the store too */
        if (srv_chore_done(&c->keys, krc == KEYS_OK, keys_strerror(krc))) {
            if (changed) {
                srv_keys_changed(ctx);
                LOG(SRV_LOG_INFO, "signing keys changed on disk; JWKS reloaded");
            }
            auto_rotate(ctx, now);
        }
        c->next_keys = now + ctx->cfg->keys_refresh_interval;
    }
    audit_retention(ctx, now, c);
}

int srv_cmd_serve(int argc, char **argv)
{
    struct srv_config cfg;
    struct srv_ctx ctx = {0};
    sigset_t stop;
    int rc = SRV_EXIT_RUNTIME;
    if (srv_config_load(&cfg, SRV_CFG_SERVE, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0) {
            serve_usage(stdout);
            return SRV_EXIT_OK;
        }
        fprintf(stderr, "idpd serve: unexpected argument \"%s\"\n", argv[1]);
        serve_usage(stderr);
        return SRV_EXIT_USAGE;
    }
    /* Block the stop signals before any thread starts, so only sigtimedwait() below sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The core first, then what each room owns, then the listener and its documents. */
    if (srv_ctx_open(&ctx, &cfg) != SRV_OK || srv_ctx_start_serving(&ctx) != SRV_OK)
        goto out;
    if (srv_client_cache_new(&ctx.client_cache) != SRV_OK ||
        srv_rate_limiter_new(&cfg, &ctx.rate_limiter) != SRV_OK) {
        fprintf(stderr, "idpd: out of memory\n");
        goto out;
    }
    if (srv_audit_queue_start(&ctx, AUDIT_QUEUE_CAP) != SRV_OK) {
        fprintf(stderr, "idpd: cannot start the audit queue\n");
        goto out;
    }
    /* before the listener: requests wake the sender through ctx.mailer, set once here */
    if (srv_mailer_start(&ctx) != SRV_OK) {
        fprintf(stderr, "idpd: cannot start the mail sender\n");
        goto out;
    }
    if (srv_http_start(&ctx, &ctx.http) != SRV_OK)
        goto out;
    ctx.keys_changed = srv_jwks_publish;
    if (srv_jwks_publish(&ctx) != SRV_OK || srv_discovery_publish(&ctx) != SRV_OK) {
        fprintf(stderr, "idpd: cannot render the JWKS or the discovery document\n");
        goto out;
    }
    json_t *f = json_pack("{s:s, s:i, s:s, s:s, s:s}", "address", cfg.listen_host, "port",
                          (int)srv_http_port(ctx.http), "issuer", ctx.issuer, "data", cfg.data_dir,
                          "signing_alg", keys_active_alg(ctx.keys));
    srv_log_json(SRV_LOG_NOTICE, LOG_MODULE, "listening", f);
    json_decref(f);

    struct chores c = {
        .next_keys = srv_now() + cfg.keys_refresh_interval,
        .sweep = {LOG_MODULE, "expiry sweep", 0},
        .keys = {LOG_MODULE, "signing-key refresh", 0},
        .retention = {LOG_MODULE, "audit retention", 0},
    };
    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&stop, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            LOG(SRV_LOG_INFO, "signal %d: stopping", sig);
            break;
        }
        chores(&ctx, srv_now(), &c);
    }
    rc = SRV_EXIT_OK;
out:
    srv_http_stop(ctx.http);
    ctx.http = NULL;
    srv_mailer_stop(&ctx);
    srv_audit_flush(&ctx); /* no request can queue an event any more */
    srv_audit_queue_stop(&ctx);
    srv_client_cache_free(ctx.client_cache);
    srv_rate_limiter_free(ctx.rate_limiter);
    srv_ctx_close(&ctx);
    if (rc == SRV_EXIT_OK)
        LOG(SRV_LOG_NOTICE, "stopped");
    return rc;
}
