/* The outbox and its sender (core.h, "mail through the outbox"). Requests only store messages;
 * this thread is the only one that talks to the SMTP server, so a slow or absent server never
 * holds an HTTP thread, and a message outlives a crash because it is on disk before anyone
 * promised it. */
#define LOG_MODULE "mail"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/core.h"

/* Seconds the sender sleeps at most without being woken: messages another node stored (on
 * PostgreSQL) and retries that came due are found within this. */
#define POLL_S 5
/* The longest wait between two tries of one message. */
#define RETRY_MAX_S 3600

struct srv_mailer {
    struct srv_ctx *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping, woken;
    struct srv_chore chore; /* one line when delivery starts failing, one when it works again */
};

void srv_issuer_host(const char *issuer, char *out, size_t cap)
{
    const char *h = strstr(issuer, "://");
    h = h ? h + 3 : issuer;
    size_t n = strcspn(h, ":/");
    if (h[0] == '[') /* an IPv6 literal keeps its brackets, without the port */
        n = strcspn(h, "]") + (strchr(h, ']') ? 1 : 0);
    snprintf(out, cap, "%.*s", (int)n, h);
    if (!out[0])
        snprintf(out, cap, "localhost");
}

int srv_mail_enqueue(struct store_txn *txn, struct srv_ctx *ctx, enum srv_mail_kind kind,
                     const char *to, const struct srv_mail_vars *vars)
{
    const struct srv_config *cfg = ctx->cfg;
    struct store_mail m = {0};
    char *subject = NULL, *text = NULL, *html = NULL, *msg = NULL;
    char host[256], mid[STORE_ID_MAX + 256];
    size_t len = 0;
    int rc = STORE_ENOMEM;

    const char *name = srv_mail_kind_name(kind);
    if (!name || !ctx->mail_templates) {
        rc = STORE_EINVAL;
        goto out;
    }
    if (crypto_id_new("msg", m.id, sizeof m.id) != CRYPTO_OK)
        goto out;
    srv_issuer_host(ctx->issuer, host, sizeof host);
    snprintf(mid, sizeof mid, "%s@%s", m.id, host);
    struct srv_mail_vars v = *vars;
    if (!v.app || !v.app[0]) /* an application without a name, or a notice of no application */
        v.app = host;
    if (!v.issuer)
        v.issuer = ctx->issuer;
    if (srv_mail_render(ctx->mail_templates, kind, &v, &subject, &text, &html) != SRV_OK)
        goto out;
    int crc = srv_mail_compose(cfg->smtp_from, to, subject, text, html, mid, srv_now(), &msg, &len);
    if (crc != SRV_OK) {
        rc = crc == SRV_EINVAL ? STORE_EINVAL : STORE_ENOMEM;
        goto out;
    }
    /* sealed: a stored reset message is a live key to an account */
    if (!(m.message = malloc(len + CRYPTO_AEAD_OVERHEAD)))
        goto out;
    if (crypto_aead_seal(ctx->mail_key, m.id, strlen(m.id), msg, len, m.message,
                         len + CRYPTO_AEAD_OVERHEAD, &m.message_len) != CRYPTO_OK)
        goto out;
    snprintf(m.kind, sizeof m.kind, "%s", name);
    snprintf(m.to, sizeof m.to, "%s", to);
    m.created_at = m.next_at = srv_now();
    rc = store_mail_insert(txn, &m);
out:
    if (msg)
        crypto_wipe(msg, len);
    if (text)
        crypto_wipe(text, strlen(text));
    if (html)
        crypto_wipe(html, strlen(html));
    free(msg);
    free(subject);
    free(text);
    free(html);
    store_mail_clear(&m);
    return rc;
}

struct claim {
    int64_t now, lease;
    struct store_mail m;
};

static int claim_txn(struct store_txn *txn, void *arg)
{
    struct claim *c = arg;
    store_mail_clear(&c->m); /* a rerun starts again */
    return store_mail_claim(txn, c->now, c->lease, &c->m);
}

struct settle {
    const char *id;
    int64_t next_at; /* 0: delete */
    const char *error;
};

static int delete_txn(struct store_txn *txn, void *arg)
{
    const struct settle *s = arg;
    int rc = store_mail_delete(txn, s->id);
    return rc == STORE_NOTFOUND ? STORE_OK : rc; /* another sender settled it after our lease */
}

static int retry_txn(struct store_txn *txn, void *arg)
{
    const struct settle *s = arg;
    int rc = store_mail_retry(txn, s->id, s->next_at, s->error);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* When the message that failed its n-th try is due again. */
static int64_t retry_at(const struct srv_config *cfg, uint32_t n, int64_t now)
{
    int64_t wait = cfg->smtp_retry_base;
    for (uint32_t i = 1; i < n && wait < RETRY_MAX_S; i++)
        wait *= 2;
    return now + (wait < RETRY_MAX_S ? wait : RETRY_MAX_S);
}

/* Claims the earliest due message and tries it once. 1 when there was one (look again at once),
 * 0 when none was due or the store failed (sleep). */
static int deliver_one(struct srv_mailer *ml)
{
    struct srv_ctx *ctx = ml->ctx;
    const struct srv_config *cfg = ctx->cfg;
    struct claim c = {.now = srv_now(), .lease = 2 * cfg->smtp_timeout + 10};
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char why[STORE_DETAIL_MAX] = "";
    int sent = 0;

    int rc = store_write(ctx->store, claim_txn, &c);
    if (rc == STORE_NOTFOUND) /* another node's sender was quicker */
        return 0;
    if (rc != STORE_OK) {
        srv_chore_done(&ml->chore, 0, store_strerror(rc));
        return 0;
    }
    if (c.m.message_len > CRYPTO_AEAD_OVERHEAD &&
        (plain = malloc(c.m.message_len - CRYPTO_AEAD_OVERHEAD)) &&
        crypto_aead_open(ctx->mail_key, c.m.id, strlen(c.m.id), c.m.message, c.m.message_len, plain,
                         c.m.message_len - CRYPTO_AEAD_OVERHEAD, &plain_len) == CRYPTO_OK) {
        struct srv_smtp s = {
            .url = cfg->smtp_url,
            .from = cfg->smtp_from,
            .user = cfg->smtp_user,
            .password = cfg->smtp_password,
            .plain_loopback = (int)cfg->smtp_plain_loopback,
            .timeout_ms = (unsigned)cfg->smtp_timeout * 1000u,
        };
        sent = srv_smtp_send(&s, c.m.to, (const char *)plain, plain_len, why, sizeof why) == SRV_OK;
    } else {
        /* sealed under another master key, or damaged: no try will ever open it */
        snprintf(why, sizeof why, "the stored message cannot be opened");
        c.m.attempts = (uint32_t)cfg->smtp_max_attempts;
    }
    if (plain)
        crypto_wipe(plain, plain_len);
    free(plain);

    struct settle st = {c.m.id, 0, why};
    if (sent) {
        rc = store_write(ctx->store, delete_txn, &st);
        LOG(SRV_LOG_INFO, "sent %s message %s (try %u)", c.m.kind, c.m.id, c.m.attempts);
    } else if (c.m.attempts >= (uint32_t)cfg->smtp_max_attempts) {
        rc = store_write(ctx->store, delete_txn, &st);
        LOG(SRV_LOG_WARN, "dropped %s message %s after %u tries: %s", c.m.kind, c.m.id,
            c.m.attempts, why);
        char detail[STORE_DETAIL_MAX];
        snprintf(detail, sizeof detail, "%s after %u tries: %.180s", c.m.kind, c.m.attempts, why);
        srv_audit_enqueue(ctx, "mail.dropped", NULL, c.m.id, NULL, 0, detail);
    } else {
        st.next_at = retry_at(cfg, c.m.attempts, srv_now());
        rc = store_write(ctx->store, retry_txn, &st);
        LOG(SRV_LOG_DEBUG, "%s message %s failed try %u: %s", c.m.kind, c.m.id, c.m.attempts, why);
    }
    /* a settle that failed leaves the lease to run out: the message is tried again then */
    srv_chore_done(&ml->chore, sent && rc == STORE_OK,
                   sent ? (rc == STORE_OK ? "" : store_strerror(rc)) : why);
    store_mail_clear(&c.m);
    return 1;
}

struct peek {
    int64_t next_at;
};

static int peek_txn(struct store_txn *txn, void *arg)
{
    return store_mail_next_due(txn, &((struct peek *)arg)->next_at);
}

static void *sender(void *arg)
{
    struct srv_mailer *ml = arg;
    pthread_mutex_lock(&ml->lock);
    while (!ml->stopping) {
        pthread_mutex_unlock(&ml->lock);
        struct peek p = {0};
        int64_t wait = POLL_S;
        int rc = store_read(ml->ctx->store, peek_txn, &p);
        if (rc == STORE_OK && p.next_at <= srv_now() && deliver_one(ml)) {
            pthread_mutex_lock(&ml->lock);
            continue;
        }
        if (rc == STORE_OK && p.next_at > srv_now() && p.next_at - srv_now() < wait)
            wait = p.next_at - srv_now();
        pthread_mutex_lock(&ml->lock);
        if (!ml->woken && !ml->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += wait;
            while (!ml->woken && !ml->stopping &&
                   pthread_cond_timedwait(&ml->cond, &ml->lock, &until) != ETIMEDOUT)
                ;
        }
        ml->woken = 0;
    }
    pthread_mutex_unlock(&ml->lock);
    return NULL;
}

int srv_mailer_start(struct srv_ctx *ctx)
{
    if (!ctx->cfg->smtp_url[0])
        return SRV_OK;
    struct srv_mailer *ml = calloc(1, sizeof *ml);
    if (!ml)
        return SRV_ERUNTIME;
    ml->ctx = ctx;
    ml->chore = (struct srv_chore){.module = LOG_MODULE, .name = "mail delivery"};
    pthread_mutex_init(&ml->lock, NULL);
    pthread_cond_init(&ml->cond, NULL);
    if (pthread_create(&ml->thread, NULL, sender, ml) != 0) {
        pthread_cond_destroy(&ml->cond);
        pthread_mutex_destroy(&ml->lock);
        free(ml);
        return SRV_ERUNTIME;
    }
    ctx->mailer = ml;
    return SRV_OK;
}

void srv_mailer_wake(struct srv_ctx *ctx)
{
    struct srv_mailer *ml = ctx->mailer;
    if (!ml)
        return;
    pthread_mutex_lock(&ml->lock);
    ml->woken = 1;
    pthread_cond_signal(&ml->cond);
    pthread_mutex_unlock(&ml->lock);
}

void srv_mailer_stop(struct srv_ctx *ctx)
{
    struct srv_mailer *ml = ctx->mailer;
    if (!ml)
        return;
    pthread_mutex_lock(&ml->lock);
    ml->stopping = 1;
    pthread_cond_signal(&ml->cond);
    pthread_mutex_unlock(&ml->lock);
    pthread_join(ml->thread, NULL);
    pthread_cond_destroy(&ml->cond);
    pthread_mutex_destroy(&ml->lock);
    free(ml);
    ctx->mailer = NULL;
}
