/* A forgotten password: POST /v1/password/forgot {client_id, email} mails the owner a one-time
 * link, and POST /v1/password/reset {token, password} sets a new password with it (recovery.c).
 *
 * forgot answers 202 with the same body whether the address has an account or not, whether a
 * budget held the message back or not, and does the same work either way: one write transaction
 * that counts the address's budget and writes an audit event. Only the outbox differs, and no
 * one outside sees the outbox. */
#define LOG_MODULE "reset"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct forgot {
    struct srv_request *rq;
    const char *client_id, *email, *key;
    int app_found;
};

static int forgot_txn(struct store_txn *txn, void *arg)
{
    struct forgot *f = arg;
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
            rc = srv_link_send_txn(txn, ctx, SRV_LINK_RESET, &u, u.email, app);
    }
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.password_reset_requested", NULL, uid, srv_rq_client_ip(f->rq),
                       strcmp(outcome, "sent") == 0, outcome);
out:
    store_user_clear(&u);
    return rc;
}

void srv_handle_password_forgot(struct srv_request *rq)
{
    static const char *const fields[] = {"client_id", "email", NULL};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    json_t *body = NULL;
    struct forgot f = {rq, NULL, NULL, NULL, 0};
    char key[STORE_EMAIL_MAX];
    if (srv_rate_limited_reply(rq, SRV_RATE_REGISTER))
        return;
    if (!ctx->cfg->smtp_url[0]) {
        srv_reply_problem(rq, 501,
                          "idpd sends no mail here (smtp_url is not set); an admin "
                          "can set a new password");
        return;
    }
    if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK ||
        srv_json_string_or_error(rq, body, "client_id", 1, STORE_ID_MAX - 1, &f.client_id) ||
        srv_json_string_or_error(rq, body, "email", 1, STORE_EMAIL_MAX - 1, &f.email) ||
        !srv_cors_client_or_error(rq, f.client_id))
        goto out;
    /* what is refused here depends on the text alone, never on an account */
    enum srv_email_err erc = srv_email_key(f.email, key);
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        goto out;
    }
    f.key = key;
    srv_rq_log_client(rq, f.client_id);
    int rc = store_write(ctx->store, forgot_txn, &f);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the request could not be taken");
    } else if (!f.app_found) {
        srv_reply_problem(rq, 400, "client_id does not name an application");
    } else {
        srv_mailer_wake(ctx); /* whether or not there is a message: the same work either way */
        srv_reply_json(rq, 202, json_pack("{s:s}", "status", "sent"), NULL);
    }
out:
    json_decref(body);
}

/* ---- POST /v1/password/reset ---- */

struct reset {
    json_t *body;
    struct srv_reset reset;
};

static void reset_free(void *state)
{
    struct reset *r = state;
    if (!r)
        return;
    json_decref(r->body);
    crypto_wipe(r, sizeof *r);
    free(r);
}

static void hash_work(struct srv_request *rq)
{
    struct reset *r = srv_rq_state(rq);
    srv_reset_hash(rq, &r->reset);
}

static const char invalid_link[] =
    "the link is not valid: it was used, it expired, or it was never sent";

static void after_hash(struct srv_request *rq)
{
    struct reset *r = srv_rq_state(rq);
    int rc = srv_reset_apply(rq, &r->reset);
    if (rc == STORE_OK)
        srv_reply(rq, 204, NULL, "", 0, NULL);
    else if (rc == STORE_NOTFOUND)
        srv_reply_problem(rq, 400, "%s", invalid_link);
    else if (rc == STORE_ENOMEM)
        srv_reply_problem(rq, 500, "the password could not be hashed");
    else
        srv_reply_store_failure(rq, rc, "the password could not be saved");
}

void srv_handle_password_reset(struct srv_request *rq)
{
    static const char *const fields[] = {"token", "password", NULL};
    struct reset *r = calloc(1, sizeof *r);
    if (!r) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, r, reset_free);
    if (srv_json_parse_or_error(rq, fields, &r->body) != SRV_OK ||
        srv_json_string_or_error(rq, r->body, "token", 1, 256, &r->reset.token) ||
        srv_json_string_or_error(rq, r->body, "password", 1, SRV_PASSWORD_MAX, &r->reset.password))
        return;
    if (!srv_password_valid(r->reset.password)) {
        srv_reply_problem(rq, 400, "password must be %d to %d bytes of UTF-8", SRV_PASSWORD_MIN,
                          SRV_PASSWORD_MAX);
        return;
    }
    int rc = srv_reset_link_check(rq, r->reset.token);
    if (rc == STORE_NOTFOUND) {
        srv_reply_problem(rq, 400, "%s", invalid_link);
        return;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the link cannot be checked now");
        return;
    }
    srv_defer(rq, hash_work, after_hash);
}
