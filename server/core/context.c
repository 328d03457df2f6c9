/* Opening a data folder (shared by serve and every CLI command that takes --data) and the parts
 * only a running server needs. */
#define LOG_MODULE "server"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/core/core.h"

int64_t srv_now(void)
{
    return (int64_t)time(NULL);
}

double srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The folder is created when it is missing and its parent exists, as DESIGN.md §9 asks; a folder
 * that cannot be created or used is a clear message and exit code 1. */
static int prepare_data_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "idpd: data folder %s is not a directory\n", dir);
            return SRV_ERUNTIME;
        }
        return SRV_OK;
    }
    if (errno != ENOENT || mkdir(dir, 0700) != 0) {
        fprintf(stderr, "idpd: data folder %s is missing and cannot be created: %s\n", dir,
                strerror(errno));
        return SRV_ERUNTIME;
    }
    return SRV_OK;
}

int srv_ctx_open(struct srv_ctx *ctx, const struct srv_config *cfg)
{
    uint8_t master[KEYS_MASTER_LEN];
    int rc = SRV_ERUNTIME, krc;
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    if (prepare_data_dir(cfg->data_dir) != SRV_OK)
        goto out;
    struct store_options so = {
        .timeout_ms = (unsigned)cfg->store_timeout_ms,
        /* every thread that may hold a transaction at once: HTTP threads, Argon2 workers, and
         * the sweeper, key refresher and audit writer */
        .connections = cfg->store_connections ? (unsigned)cfg->store_connections
                                              : cfg->http_threads + cfg->workers + 4,
    };
    int src = store_open(cfg->store[0] ? cfg->store : cfg->data_dir, &so, &ctx->store);
    if (src != STORE_OK) {
        /* never the URI: it may hold a password */
        fprintf(stderr, "idpd: cannot open the store %s%s: %s\n",
                cfg->store[0] ? "on PostgreSQL" : "in ", cfg->store[0] ? "" : cfg->data_dir,
                store_strerror(src));
        goto out;
    }
    krc = keys_master_load(cfg->data_dir, cfg->master_key[0] ? cfg->master_key : NULL, master);
    if (krc != KEYS_OK) {
        fprintf(stderr, "idpd: cannot load the master key (%s): %s\n",
                cfg->master_key[0] ? "IDPD_MASTER_KEY" : "master.key in the data folder",
                keys_strerror(krc));
        goto out;
    }
    /* The outbox is sealed under a key of its own, derived here since the master key is wiped
     * once the key ring is open; another purpose string makes another key. */
    static const char mail_purpose[] = "idpd mail v1";
    if (crypto_hmac_sha256(master, sizeof master, mail_purpose, sizeof mail_purpose - 1,
                           ctx->mail_key) != CRYPTO_OK) {
        fprintf(stderr, "idpd: cannot derive the mail key\n");
        goto out;
    }
    static const char idp_purpose[] = "idpd idp v1"; /* identity providers' client secrets */
    if (crypto_hmac_sha256(master, sizeof master, idp_purpose, sizeof idp_purpose - 1,
                           ctx->idp_key) != CRYPTO_OK) {
        fprintf(stderr, "idpd: cannot derive the identity provider key\n");
        goto out;
    }
    struct keys_options ko = {.alg = cfg->signing_alg, .token_ttl = cfg->access_token_ttl};
    krc = keys_open(ctx->store, master, &ko, &ctx->keys);
    if (krc != KEYS_OK) {
        fprintf(stderr, "idpd: cannot open the signing keys in %s: %s\n", cfg->data_dir,
                keys_strerror(krc));
        goto out;
    }
    rc = SRV_OK;
out:
    crypto_wipe(master, sizeof master);
    if (rc != SRV_OK)
        srv_ctx_close(ctx);
    return rc;
}

int srv_ctx_start_serving(struct srv_ctx *ctx)
{
    const struct srv_config *cfg = ctx->cfg;
    uint8_t random_secret[32];
    int rc = SRV_ERUNTIME;
    /* Unknown clients are verified against this hash so they cost what a wrong secret costs. */
    if (crypto_random(random_secret, sizeof random_secret) != CRYPTO_OK ||
        crypto_password_hash(&cfg->argon2, random_secret, sizeof random_secret, ctx->dummy_phc,
                             sizeof ctx->dummy_phc) != CRYPTO_OK) {
        fprintf(stderr, "idpd: cannot compute Argon2id with the configured parameters\n");
        goto out;
    }
    const struct srv_workers_config wcfg = {
        .threads = cfg->workers,
        .queue_cap = cfg->worker_queue,
        .per_source = cfg->worker_queue_per_address,
        .per_account = cfg->worker_queue_per_account,
        .idle = (int)cfg->worker_idle,
        .nice = cfg->worker_nice,
    };
    /* Fetch workers only wait for upstreams: as many as configured, at normal priority, each
     * client address holding a few; a hung upstream holds them, never an Argon2 worker. */
    const struct srv_workers_config fcfg = {
        .threads = (unsigned)cfg->fetch_workers,
        .queue_cap = (unsigned)cfg->fetch_workers * 16,
        .per_source = 4,
    };
    if (crypto_random(ctx->cursor_key, sizeof ctx->cursor_key) != CRYPTO_OK ||
        srv_workers_start(&wcfg, &ctx->workers) != SRV_OK ||
        srv_workers_start(&fcfg, &ctx->fetchers) != SRV_OK ||
        srv_key_sources_new(&ctx->key_sources) != SRV_OK ||
        srv_secret_cache_new(cfg->secret_cache_ttl, &ctx->secret_cache) != SRV_OK) {
        fprintf(stderr, "idpd: cannot start worker threads\n");
        goto out;
    }
    char why[512] = "";
    if (srv_mail_templates_load(cfg->mail_templates, &ctx->mail_templates, why, sizeof why) !=
        SRV_OK) {
        fprintf(stderr, "idpd: mail_templates: %s\n", why);
        goto out;
    }
    rc = SRV_OK;
out:
    crypto_wipe(random_secret, sizeof random_secret);
    return rc;
}

void srv_ctx_close(struct srv_ctx *ctx)
{
    srv_workers_stop(ctx->workers);
    srv_workers_stop(ctx->fetchers);
    srv_key_sources_free(ctx->key_sources);
    srv_secret_cache_free(ctx->secret_cache);
    srv_mail_templates_free(ctx->mail_templates);
    keys_close(ctx->keys);
    store_close(ctx->store);
    crypto_wipe(ctx, sizeof *ctx);
}
