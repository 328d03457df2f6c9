/* One-time links sent by mail, and the budgets that keep idpd from being used to flood an inbox
 * (core.h, "one-time links and mail budgets"). */
#define LOG_MODULE "mail"

#include <string.h>

#include "server/core/core.h"

#define HOUR 3600

static const char *const purposes[] = {
    [SRV_LINK_VERIFY] = "verify-email",
    [SRV_LINK_RESET] = "password-reset",
    [SRV_LINK_CHANGE] = "email-change",
    [SRV_LINK_CONFIRM] = "confirm-registration",
};

const char *srv_link_purpose_name(enum srv_link_purpose p)
{
    return (unsigned)p < sizeof purposes / sizeof purposes[0] ? purposes[p] : NULL;
}

int srv_link_send_txn(struct store_txn *txn, struct srv_ctx *ctx, enum srv_link_purpose p,
                      const char *owner_id, const char *to, const char *app)
{
    const struct srv_config *cfg = ctx->cfg;
    struct store_email_token t = {0};
    char token[SRV_REFRESH_LEN], link[2048];
    int rc = STORE_EINVAL;
    const char *purpose = srv_link_purpose_name(p);
    if (!purpose)
        goto out;
    int64_t ttl = p == SRV_LINK_RESET ? cfg->password_reset_ttl : cfg->email_verify_ttl;
    if (srv_opaque_new(token, t.hash) != SRV_OK) {
        rc = STORE_ENOMEM;
        goto out;
    }
    snprintf(t.purpose, sizeof t.purpose, "%s", purpose);
    snprintf(t.user_id, sizeof t.user_id, "%s", owner_id);
    snprintf(t.email, sizeof t.email, "%s", to);
    t.created_at = srv_now();
    t.expires_at = t.created_at + ttl;
    /* the page for each purpose; an email change and a registration are verified like an
     * address. A registration's link names it as tokenId too: App Services' confirmation links
     * carried token and tokenId, and an app's own page hands both to the SDK's confirmUser. */
    snprintf(link, sizeof link, "%s/%s?token=%s%s%s", ctx->issuer,
             p == SRV_LINK_RESET ? "reset-password" : "verify-email", token,
             p == SRV_LINK_CONFIRM ? "&tokenId=" : "", p == SRV_LINK_CONFIRM ? owner_id : "");
    struct srv_mail_vars v = {
        .app = app,
        .issuer = ctx->issuer,
        .link = link,
        .email = to,
        .new_email = p == SRV_LINK_CHANGE ? to : NULL,
        .hours = (ttl + HOUR - 1) / HOUR,
    };
    enum srv_mail_kind kind = p == SRV_LINK_RESET    ? SRV_MAIL_PASSWORD_RESET
                              : p == SRV_LINK_CHANGE ? SRV_MAIL_EMAIL_CHANGE
                                                     : SRV_MAIL_VERIFY_EMAIL;
    rc = store_email_token_insert(txn, &t);
    if (rc == STORE_OK)
        rc = srv_mail_enqueue(txn, ctx, kind, to, &v);
out:
    crypto_wipe(token, sizeof token);
    crypto_wipe(link, sizeof link);
    return rc;
}

int srv_link_use_txn(struct store_txn *txn, const char *token, enum srv_link_purpose p,
                     struct store_email_token *out, struct store_user *user)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    char key[STORE_EMAIL_MAX];
    const char *purpose = srv_link_purpose_name(p);
    memset(out, 0, sizeof *out);
    store_user_clear(user);
    /* a token has one shape; anything else is no link (and no store read) */
    if (!purpose || !token || strlen(token) != SRV_REFRESH_LEN - 1)
        return STORE_NOTFOUND;
    crypto_sha256(token, strlen(token), hash);
    int rc = store_email_token_get(txn, hash, out);
    if (rc != STORE_OK)
        return rc;
    rc = STORE_NOTFOUND;
    if (strcmp(out->purpose, purpose) != 0 || out->expires_at <= srv_now())
        goto out;
    rc = store_user_get(txn, out->user_id, user);
    if (rc != STORE_OK)
        goto out;
    /* A link that went to an address the user no longer has proves nothing about the account. An
     * email change's link went to the new address, which the user does not have yet. */
    if (p != SRV_LINK_CHANGE) {
        char have[STORE_EMAIL_MAX];
        if (srv_email_key(out->email, key) != SRV_EMAIL_OK)
            srv_email_key_legacy(out->email, key);
        srv_user_email_key(user, have);
        if (strcmp(key, have) != 0) {
            rc = STORE_NOTFOUND;
            goto out;
        }
    }
    rc = store_email_token_delete(txn, hash);
out:
    if (rc != STORE_OK) {
        store_user_clear(user);
        if (rc == STORE_NOTFOUND)
            memset(out, 0, sizeof *out);
    }
    return rc;
}

/* Counts one in the hour window of key; *over = 1 when that went past limit (0 = none). */
static int count_one(struct store_txn *txn, const char *key, int64_t limit, int *over)
{
    struct store_mail_count c;
    int64_t now = srv_now();
    int rc = store_mail_count_get(txn, key, &c);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return rc;
    if (rc == STORE_NOTFOUND || c.window_start + HOUR <= now)
        c = (struct store_mail_count){.count = 0, .window_start = now};
    c.count++;
    c.expires_at = c.window_start + HOUR;
    if (limit && c.count > (uint64_t)limit)
        *over = 1;
    return store_mail_count_put(txn, key, &c);
}

/* "tag:" and the hex SHA-256 of s: no address in the store in clear. */
static void budget_key(const char *tag, const char *s, char *out, size_t cap)
{
    uint8_t d[CRYPTO_SHA256_LEN];
    crypto_sha256(s, strlen(s), d);
    size_t n = (size_t)snprintf(out, cap, "%s:", tag);
    for (size_t i = 0; i < sizeof d && n + 2 < cap; i++, n += 2)
        snprintf(out + n, cap - n, "%02x", d[i]);
}

int srv_mail_budget_txn(struct store_txn *txn, struct srv_ctx *ctx, const char *email_key,
                        const char *client_ip, int *allowed)
{
    char key[80], group[64];
    int over = 0;
    budget_key("mail-to", email_key, key, sizeof key);
    int rc = count_one(txn, key, ctx->cfg->mail_per_address, &over);
    if (rc == STORE_OK && client_ip) {
        srv_addr_group(client_ip, group);
        budget_key("mail-from", group, key, sizeof key);
        rc = count_one(txn, key, ctx->cfg->mail_per_client, &over);
    }
    *allowed = rc == STORE_OK && !over;
    return rc;
}
