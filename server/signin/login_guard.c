/* The brute-force defence of password logins (issues 6 and 12). Failed logins are counted in the
 * store, in three budgets, each with its own key:
 *   pair     (name, address): from login_lockout_threshold failures on, every further attempt of
 *            that name from that address waits login_lockout_base seconds, doubling per failure
 *            up to login_lockout_max. A success clears it.
 *   address  (any names): from login_address_threshold failures on, every attempt from the
 *            address waits alike, so one address cannot try one password on many names.
 *   account  (any addresses): from login_account_threshold failures on, an address that already
 *            failed on the account waits, doubling up to login_account_max, so many addresses
 *            cannot guess one account fast; an address that never failed on it (its owner's)
 *            is not slowed by it, so the budget slows a botnet without locking the owner out.
 * Address and account budgets forget one failure a minute instead of being cleared by a success:
 * an attacker could log in to an account of their own between guesses otherwise. A waiting
 * attempt is answered 429 with Retry-After without running Argon2. Unknown names are counted
 * alike, so the answers tell no one which names exist. IPv6 addresses count by their /64, which
 * one host usually holds whole. */
#define LOG_MODULE "login"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/signin/signin.h"

#define DECAY_MS 60000 /* address and account budgets forget one failure a minute */

enum budget { PAIR, ADDRESS, ACCOUNT, BUDGETS };

/* Waits are kept in milliseconds: with whole seconds a one-second wait could end at once. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SHA-256 of tag NUL a NUL b, in hex: the tags keep the budgets' keys apart, the NULs keep any
 * two (name, address) pairs apart. */
static void make_key(char tag, const char *a, const char *b, char key[SRV_LOGIN_KEY_LEN + 1])
{
    char buf[2 + STORE_EMAIL_MAX + 1 + 64 + 1];
    uint8_t digest[CRYPTO_SHA256_LEN];
    size_t la = strlen(a), lb = strlen(b);
    buf[0] = tag;
    buf[1] = '\0';
    memcpy(buf + 2, a, la + 1);
    memcpy(buf + 3 + la, b, lb);
    crypto_sha256(buf, 3 + la + lb, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(key + 2 * i, 3, "%02x", digest[i]);
}

void srv_login_guard_init(struct srv_login_guard *g, const char *email, const char *ip)
{
    char norm[STORE_EMAIL_MAX], group[64];
    /* Counted under the email's key, so "ALICE@…" or fullwidth "ａlice@…" are no extra guesses
     * at alice@…; a name with no key (refused, or not an address) counts as typed. */
    if (srv_email_key(email, norm) != SRV_EMAIL_OK)
        srv_email_key_legacy(email, norm);
    srv_addr_group(ip, group);
    make_key('p', norm, group, g->pair);
    make_key('a', "", group, g->address);
    make_key('n', norm, "", g->account);
}

static const char *key_of(const struct srv_login_guard *g, enum budget b)
{
    return b == PAIR ? g->pair : b == ADDRESS ? g->address : g->account;
}

/* The failures still counted at now: with decay, one is forgotten a minute. */
static uint64_t counted(const struct store_login_failures *f, int decays, int64_t now)
{
    if (!decays || f->count == 0)
        return f->count;
    int64_t since = now - f->last_failure_at;
    uint64_t forgotten = since > 0 ? (uint64_t)(since / DECAY_MS) : 0;
    return forgotten >= f->count ? 0 : f->count - forgotten;
}

/* How one budget counts: from threshold failures on (0 = never), each sets a wait of
 * login_lockout_base doubling per further failure up to max seconds. */
struct rule {
    int64_t threshold, max;
    int decays;
    int counts; /* recorded even with no threshold: another budget reads the count */
};

static struct rule rule_of(const struct srv_config *cfg, enum budget b)
{
    /* The account's budget binds only addresses that failed on the account, which the pair's
     * count tells: it is kept while the account's budget is on, its own lockout or not. */
    if (b == PAIR)
        return (struct rule){cfg->login_lockout_threshold, cfg->login_lockout_max, 0,
                             cfg->login_account_threshold != 0};
    if (b == ADDRESS)
        return (struct rule){cfg->login_address_threshold, cfg->login_lockout_max, 1, 0};
    return (struct rule){cfg->login_account_threshold, cfg->login_account_max, 1, 0};
}

struct peek {
    const struct srv_login_guard *g;
    struct store_login_failures f[BUDGETS];
};

static int peek_txn(struct store_txn *txn, void *arg)
{
    struct peek *p = arg;
    for (int b = 0; b < BUDGETS; b++) {
        int rc = store_login_failures_get(txn, key_of(p->g, b), &p->f[b]);
        if (rc == STORE_NOTFOUND)
            memset(&p->f[b], 0, sizeof p->f[b]);
        else if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

int srv_login_guard_wait(struct srv_request *rq, const struct srv_login_guard *g, int64_t *wait)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    struct peek p = {.g = g};
    *wait = 0;
    if (!cfg->login_lockout_threshold && !cfg->login_address_threshold &&
        !cfg->login_account_threshold)
        return STORE_OK;
    int rc = store_read(srv_rq_ctx(rq)->store, peek_txn, &p);
    if (rc != STORE_OK)
        return rc;
    int64_t until = 0, now = now_ms();
    for (int b = 0; b < BUDGETS; b++) {
        if (!rule_of(cfg, b).threshold || (b == ACCOUNT && p.f[PAIR].count == 0))
            continue; /* the account's budget binds only addresses that failed on it */
        if (p.f[b].locked_until > until)
            until = p.f[b].locked_until;
    }
    int64_t left_ms = until - now;
    *wait = left_ms <= 0 ? 0 : (left_ms + 999) / 1000; /* whole seconds, rounded up */
    return STORE_OK;
}

/* Counts one failure under rule r; *wait receives the seconds it now imposes (0 for none). */
static int count_failure(struct store_txn *txn, const struct srv_config *cfg, const char *key,
                         struct rule r, int64_t now, int64_t *wait)
{
    struct store_login_failures f;
    *wait = 0;
    if (!r.threshold && !r.counts)
        return STORE_OK;
    int rc = store_login_failures_get(txn, key, &f);
    if (rc == STORE_NOTFOUND)
        memset(&f, 0, sizeof f);
    else if (rc != STORE_OK)
        return rc;
    f.count = counted(&f, r.decays, now) + 1;
    f.last_failure_at = now;
    if (r.threshold && f.count >= (uint64_t)r.threshold) {
        uint64_t doublings = f.count - (uint64_t)r.threshold;
        int64_t w = cfg->login_lockout_base;
        for (uint64_t i = 0; i < doublings && w < r.max; i++)
            w *= 2;
        *wait = w > r.max ? r.max : w;
        f.locked_until = now + *wait * 1000;
    }
    f.expires_at = (f.locked_until > now ? f.locked_until : now) / 1000 + cfg->login_failure_ttl;
    return store_login_failures_put(txn, key, &f);
}

int srv_login_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                               const struct srv_login_guard *g, const char *user_id)
{
    static const char *const names[] = {"this address for this name", "this address",
                                        "this account"};
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    int64_t now = now_ms();
    for (int b = 0; b < BUDGETS; b++) {
        int64_t wait;
        int rc = count_failure(txn, cfg, key_of(g, b), rule_of(cfg, b), now, &wait);
        if (rc != STORE_OK)
            return rc;
        if (!wait)
            continue;
        char detail[96];
        snprintf(detail, sizeof detail, "failed logins of %s; next attempt waits %lld s", names[b],
                 (long long)wait);
        if ((rc = srv_audit(txn, "user.lockout", NULL, user_id, srv_rq_client_ip(rq), 1, detail)) !=
            STORE_OK)
            return rc;
    }
    return STORE_OK;
}

int srv_login_guard_succeeded_txn(struct store_txn *txn, const struct srv_login_guard *g)
{
    int rc = store_login_failures_delete(txn, g->pair);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- wrong device user codes (RFC 8628 §5.1) ---- */

void srv_code_guard_init(struct srv_code_guard *g, const char *ip, const char *browser)
{
    char group[64];
    srv_addr_group(ip, group);
    make_key('c', "", group, g->address);
    g->browser[0] = '\0';
    if (browser && browser[0])
        make_key('b', browser, "", g->browser);
    make_key('t', "device user codes", "", g->total);
}

/* Codes count like the address budget of logins: from login_lockout_threshold wrong ones, each
 * further try waits, and one is forgotten a minute. */
static struct rule code_rule(const struct srv_config *cfg)
{
    return (struct rule){cfg->login_lockout_threshold, cfg->login_lockout_max, 1, 0};
}

struct code_peek {
    const struct srv_code_guard *g;
    int64_t until;
};

static int code_peek_txn(struct store_txn *txn, void *arg)
{
    struct code_peek *p = arg;
    const char *keys[] = {p->g->address, p->g->browser};
    for (int i = 0; i < 2; i++) {
        struct store_login_failures f;
        if (!keys[i][0])
            continue;
        int rc = store_login_failures_get(txn, keys[i], &f);
        if (rc == STORE_NOTFOUND)
            continue;
        if (rc != STORE_OK)
            return rc;
        if (f.locked_until > p->until)
            p->until = f.locked_until;
    }
    return STORE_OK;
}

int srv_code_guard_wait(struct srv_request *rq, const struct srv_code_guard *g, int64_t *wait)
{
    struct code_peek p = {g, 0};
    *wait = 0;
    if (!srv_rq_ctx(rq)->cfg->login_lockout_threshold)
        return STORE_OK;
    int rc = store_read(srv_rq_ctx(rq)->store, code_peek_txn, &p);
    if (rc != STORE_OK)
        return rc;
    int64_t left_ms = p.until - now_ms();
    *wait = left_ms <= 0 ? 0 : (left_ms + 999) / 1000;
    return STORE_OK;
}

int srv_code_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                              const struct srv_code_guard *g)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    int64_t now = now_ms(), wait = 0;
    int rc = count_failure(txn, cfg, g->address, code_rule(cfg), now, &wait);
    if (rc == STORE_OK && g->browser[0])
        rc = count_failure(txn, cfg, g->browser, code_rule(cfg), now, &wait);
    if (rc != STORE_OK)
        return rc;
    /* The total never waits, never decays and is never swept: requests compare it with its
     * value at their start (srv_device_guesses), and a total that began again at 0 while one
     * waits would give that request its guesses anew. */
    struct store_login_failures t;
    rc = store_login_failures_get(txn, g->total, &t);
    if (rc == STORE_NOTFOUND)
        memset(&t, 0, sizeof t);
    else if (rc != STORE_OK)
        return rc;
    t.count++;
    t.last_failure_at = now;
    t.expires_at = INT64_C(1) << 62;
    if ((rc = store_login_failures_put(txn, g->total, &t)) != STORE_OK)
        return rc;
    return srv_audit(txn, "device.wrong_code", NULL, NULL, srv_rq_client_ip(rq), 0,
                     "a user code that names no pending request");
}

int srv_device_guesses(struct store_txn *txn, uint64_t *total)
{
    struct srv_code_guard g;
    struct store_login_failures t;
    srv_code_guard_init(&g, "", NULL);
    int rc = store_login_failures_get(txn, g.total, &t);
    *total = rc == STORE_OK ? t.count : 0;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int srv_device_guessed_out(const struct srv_config *cfg, const struct store_device_code *d,
                           uint64_t total)
{
    if (!cfg->device_code_guess_max)
        return 0;
    /* a total below the start means the counter was forgotten and began again: count from 0 */
    uint64_t since = total >= d->guesses_at_start ? total - d->guesses_at_start : total;
    return since >= (uint64_t)cfg->device_code_guess_max;
}
