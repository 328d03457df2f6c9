/* A forgotten password: POST /v1/password/forgot {client_id, email} mails the owner a one-time
 * link, and POST /v1/password/reset {token, password} sets a new password with it (both in
 * signin/recovery.c). forgot answers 202 with the same body whether the address has an account
 * or not (srv_forgot_write says why that holds). */
#define LOG_MODULE "reset"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

void srv_handle_password_forgot(struct srv_request *rq)
{
    static const char *const fields[] = {"client_id", "email", NULL};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    json_t *body = NULL;
    struct srv_forgot f = {rq, NULL, NULL, 0};
    const char *email = NULL;
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
        srv_json_string_or_error(rq, body, "email", 1, STORE_EMAIL_MAX - 1, &email) ||
        !srv_cors_client_or_error(rq, f.client_id))
        goto out;
    /* what is refused here depends on the text alone, never on an account */
    enum srv_email_err erc = srv_email_key(email, key);
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        goto out;
    }
    f.key = key;
    srv_rq_log_client(rq, f.client_id);
    int rc = srv_forgot_write(&f);
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
