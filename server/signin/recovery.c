/* What following a mailed link changes (signin.h, "what a mailed link does"): a password reset,
 * an address verified, an address changed. The API (account/) and the pages (pages/) answer in
 * their own way around the same transactions, so a link works alike from both. */
#define LOG_MODULE "recovery"

#include <stdlib.h>
#include <string.h>

#include "server/signin/signin.h"

void srv_app_mail_name(struct store_txn *txn, const char *client_id, char name[STORE_NAME_MAX])
{
    name[0] = '\0';
    if (client_id && client_id[0] && store_app_name_get(txn, client_id, name) != STORE_OK)
        name[0] = '\0';
}

/* The user's email/password identity into *out; STORE_NOTFOUND when it has none. */
static int local_identity(struct store_txn *txn, const char *user_id, struct store_identity *out)
{
    struct store_identity *idns = calloc(STORE_IDENTITIES_MAX, sizeof *idns);
    size_t n = 0;
    if (!idns)
        return STORE_ENOMEM;
    int rc = store_identity_list(txn, user_id, idns, STORE_IDENTITIES_MAX, &n);
    if (rc == STORE_OK)
        rc = STORE_NOTFOUND;
    for (size_t i = 0; i < n && rc == STORE_NOTFOUND; i++)
        if (strcmp(idns[i].provider, "local-userpass") == 0) {
            *out = idns[i];
            rc = STORE_OK;
        }
    crypto_wipe(idns, STORE_IDENTITIES_MAX * sizeof *idns);
    free(idns);
    return rc;
}

/* The variables of a notice to u's address (no link). */
static struct srv_mail_vars notice_vars(struct srv_ctx *ctx, const char *app, const char *to,
                                        const char *new_email)
{
    return (struct srv_mail_vars){
        .app = app, .issuer = ctx->issuer, .email = to, .new_email = new_email};
}

struct probe {
    const char *token;
};

static int probe_txn(struct store_txn *txn, void *arg)
{
    const struct probe *p = arg;
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct store_email_token t;
    if (!p->token || strlen(p->token) != SRV_REFRESH_LEN - 1)
        return STORE_NOTFOUND;
    crypto_sha256(p->token, strlen(p->token), hash);
    int rc = store_email_token_get(txn, hash, &t);
    if (rc == STORE_OK && (strcmp(t.purpose, srv_link_purpose_name(SRV_LINK_RESET)) != 0 ||
                           t.expires_at <= srv_now()))
        rc = STORE_NOTFOUND;
    return rc;
}

int srv_reset_link_check(struct srv_request *rq, const char *token)
{
    struct probe p = {token};
    return store_read(srv_rq_ctx(rq)->store, probe_txn, &p);
}

void srv_reset_hash(struct srv_request *rq, struct srv_reset *r)
{
    r->hashed = crypto_password_hash(&srv_rq_ctx(rq)->cfg->argon2, r->password, strlen(r->password),
                                     r->phc, sizeof r->phc) == CRYPTO_OK;
}

static int reset_txn(struct store_txn *txn, struct srv_request *rq, const char *token,
                     const char *new_phc)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_email_token t;
    struct store_user u = {0};
    struct store_identity idn = {0};
    int rc = srv_link_use_txn(txn, token, SRV_LINK_RESET, &t, &u);
    if (rc != STORE_OK)
        goto out;
    /* a user who has no password (anonymous, or only other identities) never got a reset link;
     * one who unlinked it since has nothing to reset */
    if ((rc = local_identity(txn, u.id, &idn)) != STORE_OK)
        goto out;
    snprintf(idn.phc, sizeof idn.phc, "%s", new_phc);
    if ((rc = store_identity_update(txn, &idn)) != STORE_OK ||
        (rc = store_session_delete_user(txn, u.id, NULL, NULL)) != STORE_OK ||
        (rc = store_email_tokens_delete_user(txn, u.id, srv_link_purpose_name(SRV_LINK_RESET),
                                             NULL)) != STORE_OK)
        goto out;
    if (!u.email_verified) {
        u.email_verified = 1;
        u.updated_at = srv_now();
        if ((rc = store_user_update(txn, &u)) != STORE_OK)
            goto out;
    }
    struct srv_mail_vars v = notice_vars(ctx, NULL, u.email, NULL);
    if ((rc = srv_audit(txn, "user.password_reset", u.id, u.id, srv_rq_client_ip(rq), 1,
                        "every session ended")) != STORE_OK ||
        (rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_PASSWORD_CHANGED, u.email, &v)) != STORE_OK)
        goto out;
out:
    crypto_wipe(&idn, sizeof idn);
    store_user_clear(&u);
    return rc;
}

struct apply {
    struct srv_request *rq;
    struct srv_reset *r;
};

static int apply_txn(struct store_txn *txn, void *arg)
{
    struct apply *a = arg;
    return reset_txn(txn, a->rq, a->r->token, a->r->phc);
}

int srv_reset_apply(struct srv_request *rq, struct srv_reset *r)
{
    struct apply a = {rq, r};
    if (!r->hashed)
        return STORE_ENOMEM;
    int rc = store_write(srv_rq_ctx(rq)->store, apply_txn, &a);
    if (rc == STORE_OK)
        srv_mailer_wake(srv_rq_ctx(rq));
    return rc;
}

/* The address of u becomes to (verified): the user record, its email/password identity (the
 * login name), and the old address is told. STORE_EXISTS when to is another user's by now. */
static int change_address(struct store_txn *txn, struct srv_request *rq, struct store_user *u,
                          const char *to)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    char key[STORE_EMAIL_MAX], old[STORE_EMAIL_MAX], other[STORE_ID_MAX];
    struct store_identity idn;
    if (srv_email_key(to, key) != SRV_EMAIL_OK)
        return STORE_NOTFOUND; /* checked when the change was asked for; rules may have changed */
    int rc = store_user_find_email(txn, key, other);
    if (rc == STORE_OK && strcmp(other, u->id) != 0)
        return STORE_EXISTS;
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return rc;
    snprintf(old, sizeof old, "%s", u->email);
    snprintf(u->email, sizeof u->email, "%s", to);
    memcpy(u->email_key, key, sizeof u->email_key);
    u->email_verified = 1;
    u->updated_at = srv_now();
    if ((rc = store_user_update(txn, u)) != STORE_OK)
        return rc;
    /* The login name follows the address: the identity is stored again under the new key, with
     * its id, password and age. */
    rc = local_identity(txn, u->id, &idn);
    if (rc == STORE_OK) {
        rc = store_identity_delete(txn, u->id, idn.id);
        memcpy(idn.provider_id, key, sizeof idn.provider_id);
        if (rc == STORE_OK)
            rc = store_identity_insert(txn, &idn);
    } else if (rc == STORE_NOTFOUND) {
        rc = STORE_OK;
    }
    crypto_wipe(&idn, sizeof idn);
    if (rc == STORE_OK)
        rc = store_email_tokens_delete_user(txn, u->id, NULL, NULL);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.email_change", u->id, u->id, srv_rq_client_ip(rq), 1, NULL);
    if (rc == STORE_OK && old[0]) {
        struct srv_mail_vars v = notice_vars(ctx, NULL, old, to);
        rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_EMAIL_CHANGED, old, &v);
    }
    return rc;
}

int srv_verify_apply_txn(struct store_txn *txn, struct srv_request *rq, const char *token)
{
    struct store_email_token t;
    struct store_user u = {0};
    int rc = srv_link_use_txn(txn, token, SRV_LINK_VERIFY, &t, &u);
    if (rc == STORE_OK) {
        if (!u.email_verified) {
            u.email_verified = 1;
            u.updated_at = srv_now();
            rc = store_user_update(txn, &u);
        }
        if (rc == STORE_OK)
            rc = srv_audit(txn, "user.email_verified", u.id, u.id, srv_rq_client_ip(rq), 1, NULL);
    } else if (rc == STORE_NOTFOUND) {
        rc = srv_link_use_txn(txn, token, SRV_LINK_CHANGE, &t, &u);
        if (rc == STORE_OK)
            rc = change_address(txn, rq, &u, t.email);
    }
    if (rc == STORE_NOTFOUND) /* a registration of the App Services client API */
        rc = srv_registration_confirm_txn(txn, rq, token, NULL);
    store_user_clear(&u);
    return rc;
}

/* ---- a forgotten password: the reset link ---- */

static int forgot_txn(struct store_txn *txn, void *arg)
{
    struct srv_forgot *f = arg;
    struct srv_ctx *ctx = srv_rq_ctx(f->rq);
    struct store_user u = {0};
    struct store_identity idn;
    char app[STORE_NAME_MAX] = "", uid[STORE_ID_MAX] = "";
    int allowed = 0;
    int rc = store_app_name_get(txn, f->client_id, app);
    f->app_found = rc == STORE_OK;
    if (!f->app_found)
        return rc == STORE_NOTFOUND || rc == STORE_EINVAL ? STORE_OK : rc;
    if ((rc = srv_mail_budget_txn(txn, ctx, f->key, srv_rq_client_ip(f->rq), &allowed)) != STORE_OK)
        return rc;
    /* the account is the one whose password login this address is */
    rc = store_identity_find(txn, "local-userpass", f->key, &idn);
    if (rc == STORE_OK && (rc = store_user_get(txn, idn.user_id, &u)) == STORE_OK)
        snprintf(uid, sizeof uid, "%s", u.id);
    crypto_wipe(&idn, sizeof idn);
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    if (rc != STORE_OK)
        goto out;
    /* a disabled user, or one the budget holds back, gets nothing */
    const char *outcome = !uid[0]                         ? "no such account"
                          : u.status != STORE_USER_ACTIVE ? "user disabled"
                          : !allowed                      ? "mail budget spent"
                                                          : "sent";
    if (strcmp(outcome, "sent") == 0) {
        rc = store_email_tokens_delete_user(txn, u.id, srv_link_purpose_name(SRV_LINK_RESET), NULL);
        if (rc == STORE_OK)
            rc = srv_link_send_txn(txn, ctx, SRV_LINK_RESET, u.id, u.email, app);
    }
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.password_reset_requested", NULL, uid, srv_rq_client_ip(f->rq),
                       strcmp(outcome, "sent") == 0, outcome);
out:
    store_user_clear(&u);
    return rc;
}

int srv_forgot_write(struct srv_forgot *f)
{
    return store_write(srv_rq_ctx(f->rq)->store, forgot_txn, f);
}
