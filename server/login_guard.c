/* The brute-force defence of password logins (issue 6). Failed logins are counted per login name
 * and client address in the store. From login_lockout_threshold failures on, every further
 * attempt from that address for that name must wait (login_lockout_base seconds, doubling per
 * failure up to login_lockout_max) and is answered 429 with Retry-After without running Argon2.
 * The right password after the wait still logs in and clears the count, so an attacker can slow
 * an account down from their own addresses but never lock its owner out. Unknown names are
 * counted alike, so the answers tell no one which names exist. */
#define LOG_MODULE "login"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

/* Waits are kept in milliseconds: with whole seconds a one-second wait could end at once. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_login_key(const char *email, const char *ip, char key[SRV_LOGIN_KEY_LEN + 1])
{
    char norm[STORE_EMAIL_MAX + 64];
    uint8_t digest[CRYPTO_SHA256_LEN];
    /* Counted under the email's key, so "ALICE@…" or fullwidth "ａlice@…" are no extra guesses
     * at alice@…; a name with no key (refused, or not an address) counts as typed. */
    if (srv_email_key(email, norm) != SRV_EMAIL_OK)
        srv_email_key_legacy(email, norm);
    size_t n = strlen(norm);
    /* NUL-separated: no (name, address) pair reads as another */
    snprintf(norm + n + 1, sizeof norm - n - 1, "%s", ip ? ip : "");
    crypto_sha256(norm, n + 1 + strlen(norm + n + 1), digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(key + 2 * i, 3, "%02x", digest[i]);
}

struct peek {
    const char *key;
    struct store_login_failures f;
};

static int peek_txn(struct store_txn *txn, void *arg)
{
    struct peek *p = arg;
    int rc = store_login_failures_get(txn, p->key, &p->f);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int64_t srv_login_locked_for(struct srv_request *rq, const char *key)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct peek p = {.key = key};
    if (!ctx->cfg->login_lockout_threshold)
        return 0;
    int rc = store_read(ctx->store, peek_txn, &p);
    if (rc != STORE_OK) {
        LOG(SRV_LOG_ERROR, "failed-login lookup failed: %s", store_strerror(rc));
        return 0;
    }
    int64_t left_ms = p.f.locked_until - now_ms();
    return left_ms <= 0 ? 0 : (left_ms + 999) / 1000; /* whole seconds, rounded up */
}

int srv_login_failed_txn(struct store_txn *txn, struct srv_request *rq, const char *key,
                         const char *user_id)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    struct store_login_failures f;
    int64_t now = now_ms();
    if (!cfg->login_lockout_threshold)
        return STORE_OK;
    int rc = store_login_failures_get(txn, key, &f);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return rc;
    f.count++;
    f.last_failure_at = now;
    int64_t wait = 0;
    if (f.count >= (uint64_t)cfg->login_lockout_threshold) {
        uint64_t doublings = f.count - (uint64_t)cfg->login_lockout_threshold;
        wait = cfg->login_lockout_base;
        for (uint64_t i = 0; i < doublings && wait < cfg->login_lockout_max; i++)
            wait *= 2;
        if (wait > cfg->login_lockout_max)
            wait = cfg->login_lockout_max;
        f.locked_until = now + wait * 1000;
    }
    f.expires_at = (f.locked_until > now ? f.locked_until : now) / 1000 + cfg->login_failure_ttl;
    if ((rc = store_login_failures_put(txn, key, &f)) != STORE_OK || !wait)
        return rc;
    char detail[96];
    snprintf(detail, sizeof detail, "%llu failed logins; next attempt waits %lld s",
             (unsigned long long)f.count, (long long)wait);
    return srv_audit(txn, "user.lockout", NULL, user_id, srv_rq_client_ip(rq), 1, detail);
}

int srv_login_succeeded_txn(struct store_txn *txn, const char *key)
{
    return store_login_failures_delete(txn, key);
}
