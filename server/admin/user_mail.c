/* POST /admin/v1/users/{id}/password-reset and POST /admin/v1/users/{id}/verification: an admin
 * has idpd mail a user a reset or verification link. The link goes to the user's own address
 * only, and the admin never sees it; the audit event names the admin. Admins are not held to the
 * mail budgets, which keep strangers from flooding an inbox. */
#define LOG_MODULE "admin"

#include <string.h>

#include "server/admin/admin.h"

enum refusal { NONE, NO_EMAIL, NO_PASSWORD, VERIFIED };

struct send_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
    enum srv_link_purpose purpose;
    enum refusal refusal;
};

static int send_txn(struct store_txn *txn, void *arg)
{
    struct send_args *a = arg;
    struct srv_ctx *ctx = srv_rq_ctx(a->rq);
    struct store_user u = {0};
    struct store_identity idn;
    a->refusal = NONE;
    int rc = srv_admin_guard_user(txn, a->caller, a->id);
    if (rc == STORE_OK)
        rc = store_user_get(txn, a->id, &u);
    if (rc != STORE_OK)
        goto out;
    if (!u.email[0]) {
        a->refusal = NO_EMAIL;
        goto out;
    }
    if (a->purpose == SRV_LINK_VERIFY && u.email_verified) {
        a->refusal = VERIFIED;
        goto out;
    }
    if (a->purpose == SRV_LINK_RESET) {
        char key[STORE_EMAIL_MAX];
        srv_user_email_key(&u, key);
        rc = store_identity_find(txn, "local-userpass", key, &idn);
        int theirs = rc == STORE_OK && strcmp(idn.user_id, u.id) == 0;
        crypto_wipe(&idn, sizeof idn);
        if (rc == STORE_NOTFOUND || (rc == STORE_OK && !theirs)) {
            a->refusal = NO_PASSWORD;
            rc = STORE_OK;
            goto out;
        }
        if (rc != STORE_OK)
            goto out;
    }
    rc = store_email_tokens_delete_user(txn, u.id, srv_link_purpose_name(a->purpose), NULL);
    if (rc == STORE_OK)
        rc = srv_link_send_txn(txn, ctx, a->purpose, u.id, u.email, NULL);
    if (rc == STORE_OK)
        rc = srv_audit(txn,
                       a->purpose == SRV_LINK_RESET ? "admin.user.password_reset_sent"
                                                    : "admin.user.verification_sent",
                       a->caller->id, u.id, srv_rq_client_ip(a->rq), 1, NULL);
out:
    store_user_clear(&u);
    return rc;
}

static void send_link(struct srv_request *rq, enum srv_link_purpose purpose)
{
    static const char *const none[] = {NULL};
    struct srv_admin_caller caller;
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    json_t *body = NULL;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_USERS_WRITE, &caller) != SRV_OK)
        return;
    if (!ctx->cfg->smtp_url[0]) {
        srv_reply_problem(rq, 501, "idpd sends no mail here (smtp_url is not set)");
        return;
    }
    if (srv_json_optional_or_error(rq, none, &body) != SRV_OK)
        return;
    json_decref(body);
    srv_rq_param(rq, 0, id, sizeof id);
    struct send_args a = {rq, &caller, id, purpose, NONE};
    if (srv_admin_write_or_error(rq, "user", send_txn, &a) != SRV_OK)
        return;
    switch (a.refusal) {
    case NO_EMAIL:
        srv_reply_problem(rq, 409, "the user has no email address");
        return;
    case NO_PASSWORD:
        srv_reply_problem(rq, 409, "the user has no email/password identity to reset");
        return;
    case VERIFIED:
        srv_reply_problem(rq, 409, "the user's address is verified already");
        return;
    case NONE:
        break;
    }
    srv_mailer_wake(ctx);
    srv_reply_json(rq, 202, json_pack("{s:s}", "status", "sent"), NULL);
}

void srv_admin_users_password_reset(struct srv_request *rq)
{
    send_link(rq, SRV_LINK_RESET);
}

void srv_admin_users_verification(struct srv_request *rq)
{
    send_link(rq, SRV_LINK_VERIFY);
}
