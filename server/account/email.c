/* The user's address: POST /v1/email/verify {token} follows a verification or email-change link,
 * POST /v1/email/verify/send mails the signed-in user a new verification link, and POST
 * /v1/me/email {email, password} asks for a change, which happens only when the link mailed to
 * the new address is followed (recovery.c). */
#define LOG_MODULE "email"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct follow {
    struct srv_request *rq;
    const char *token;
};

static int follow_txn(struct store_txn *txn, void *arg)
{
    struct follow *f = arg;
    return srv_verify_apply_txn(txn, f->rq, f->token);
}

/* Answers a link followed through the API or a page alike (rc from store_write). */
static void reply_followed(struct srv_request *rq, int rc)
{
    if (rc == STORE_OK) {
        srv_mailer_wake(srv_rq_ctx(rq)); /* an email change tells the old address */
        srv_reply(rq, 204, NULL, "", 0, NULL);
    } else if (rc == STORE_NOTFOUND) {
        srv_reply_problem(rq, 400,
                          "the link is not valid: it was used, it expired, or it was "
                          "never sent");
    } else if (rc == STORE_EXISTS) {
        srv_reply_problem(rq, 409, "the new address belongs to another account by now");
    } else {
        srv_reply_store_failure(rq, rc, "the address could not be verified");
    }
}

void srv_handle_email_verify(struct srv_request *rq)
{
    static const char *const fields[] = {"token", NULL};
    json_t *body = NULL;
    const char *token = NULL;
    if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK ||
        srv_json_string_or_error(rq, body, "token", 1, 256, &token))
        goto out;
    struct follow f = {rq, token};
    reply_followed(rq, store_write(srv_rq_ctx(rq)->store, follow_txn, &f));
out:
    json_decref(body);
}

struct resend {
    struct srv_request *rq;
    struct srv_user_caller *caller;
    int verified, has_email, sent;
};

static int resend_txn(struct store_txn *txn, void *arg)
{
    struct resend *r = arg;
    struct srv_ctx *ctx = srv_rq_ctx(r->rq);
    struct store_user u = {0};
    char app[STORE_NAME_MAX];
    int allowed = 0;
    r->sent = 0;
    int rc = store_user_get(txn, r->caller->user_id, &u);
    if (rc != STORE_OK)
        goto out;
    r->has_email = u.email[0] != '\0';
    r->verified = u.email_verified;
    if (!r->has_email || r->verified)
        goto out;
    char key[STORE_EMAIL_MAX];
    srv_user_email_key(&u, key);
    rc = srv_mail_budget_txn(txn, ctx, key, srv_rq_client_ip(r->rq), &allowed);
    if (rc != STORE_OK || !allowed)
        goto out;
    srv_app_mail_name(txn, r->caller->client_id, app);
    /* the links sent before die: the newest is the one the user will look for */
    rc = store_email_tokens_delete_user(txn, u.id, srv_link_purpose_name(SRV_LINK_VERIFY), NULL);
    if (rc == STORE_OK)
        rc = srv_link_send_txn(txn, ctx, SRV_LINK_VERIFY, u.id, u.email, app);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.email_verification_sent", u.id, u.id, srv_rq_client_ip(r->rq), 1,
                       NULL);
    r->sent = rc == STORE_OK;
out:
    store_user_clear(&u);
    return rc;
}

void srv_handle_email_verify_send(struct srv_request *rq)
{
    struct srv_user_caller caller = {0};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    if (srv_bearer_user_or_error(rq, &caller) != SRV_OK)
        return;
    if (!ctx->cfg->smtp_url[0]) {
        srv_reply_problem(rq, 501, "idpd sends no mail here (smtp_url is not set)");
        goto out;
    }
    static const char *const none[] = {NULL};
    json_t *body = NULL;
    if (srv_json_optional_or_error(rq, none, &body) != SRV_OK)
        goto out;
    json_decref(body);
    struct resend r = {rq, &caller, 0, 0, 0};
    int rc = store_write(ctx->store, resend_txn, &r);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "no link could be sent");
    } else if (!r.has_email) {
        srv_reply_problem(rq, 409, "the user has no email address");
    } else if (r.verified) {
        srv_reply_problem(rq, 409, "the address is verified already");
    } else {
        /* the same answer when the budget held the message back: it is the caller's own address */
        if (r.sent)
            srv_mailer_wake(ctx);
        srv_reply_json(rq, 202, json_pack("{s:s}", "status", "sent"), NULL);
    }
out:
    srv_user_caller_clear(&caller);
}

/* ---- POST /v1/me/email ---- */

struct change {
    struct srv_user_caller caller;
    json_t *body;
    const char *email, *password;
    char key[STORE_EMAIL_MAX];
    struct srv_password_proof proof;
    int stale, sent;
};

static void change_free(void *state)
{
    struct change *c = state;
    if (!c)
        return;
    srv_user_caller_clear(&c->caller);
    json_decref(c->body);
    crypto_wipe(c, sizeof *c);
    free(c);
}

static void verify_work(struct srv_request *rq)
{
    struct change *c = srv_rq_state(rq);
    srv_password_proof_check(&c->proof, c->password);
}

static int change_txn(struct store_txn *txn, void *arg)
{
    struct srv_request *rq = arg;
    struct change *c = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_user u = {0};
    char app[STORE_NAME_MAX], other[STORE_ID_MAX];
    int allowed = 0;
    c->stale = c->sent = 0;
    int rc = srv_password_proof_holds(txn, &c->proof);
    if (rc == STORE_NOTFOUND) {
        c->stale = 1;
        return STORE_OK;
    }
    if (rc != STORE_OK || (rc = store_user_get(txn, c->caller.user_id, &u)) != STORE_OK)
        goto out;
    rc = srv_mail_budget_txn(txn, ctx, c->key, srv_rq_client_ip(rq), &allowed);
    if (rc != STORE_OK || !allowed)
        goto out;
    /* An address that is someone else's gets no link, but its owner is told someone tried it:
     * the answer is the same, so the API tells nobody which addresses have accounts. */
    rc = store_user_find_email(txn, c->key, other);
    if (rc == STORE_OK) {
        struct srv_mail_vars v = {.email = c->email};
        rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_REGISTER_TAKEN, c->email, &v);
    } else if (rc == STORE_NOTFOUND) {
        srv_app_mail_name(txn, c->caller.client_id, app);
        rc =
            store_email_tokens_delete_user(txn, u.id, srv_link_purpose_name(SRV_LINK_CHANGE), NULL);
        if (rc == STORE_OK)
            rc = srv_link_send_txn(txn, ctx, SRV_LINK_CHANGE, u.id, c->email, app);
    }
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.email_change_requested", u.id, u.id, srv_rq_client_ip(rq), 1,
                       NULL);
    c->sent = rc == STORE_OK;
out:
    store_user_clear(&u);
    return rc;
}

static void after_verify(struct srv_request *rq)
{
    struct change *c = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    if (!c->proof.verified) {
        srv_password_proof_refused(rq, &c->proof, c->caller.user_id, "user.email_change_requested",
                                   "password");
        return;
    }
    int rc = store_write(ctx->store, change_txn, rq);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the change could not be asked for");
    } else if (c->stale) {
        srv_reply_problem(rq, 409, "the password changed meanwhile; try again");
    } else {
        if (c->sent)
            srv_mailer_wake(ctx);
        srv_reply_json(rq, 202, json_pack("{s:s}", "status", "sent"), NULL);
    }
}

void srv_handle_me_email(struct srv_request *rq)
{
    static const char *const fields[] = {"email", "password", NULL};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, c, change_free);
    if (srv_bearer_user_or_error(rq, &c->caller) != SRV_OK)
        return;
    if (!ctx->cfg->smtp_url[0]) {
        srv_reply_problem(rq, 501,
                          "idpd sends no mail here (smtp_url is not set), so it cannot "
                          "verify a new address");
        return;
    }
    if (srv_json_parse_or_error(rq, fields, &c->body) != SRV_OK ||
        srv_json_string_or_error(rq, c->body, "email", 1, STORE_EMAIL_MAX - 1, &c->email) ||
        srv_json_string_or_error(rq, c->body, "password", 1, SRV_PASSWORD_MAX, &c->password))
        return;
    enum srv_email_err erc = srv_email_key(c->email, c->key);
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        return;
    }
    if (srv_password_proof_begin(rq, c->caller.user_id, &c->proof) != SRV_OK)
        return;
    srv_defer_for(rq, c->proof.guard.account, verify_work, after_verify);
}
