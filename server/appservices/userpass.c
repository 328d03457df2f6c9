/* The email/password provider's own routes (POST …/auth/providers/local-userpass/…).
 *
 * register {email, password}: as App Services does it, registering makes no user: it stores a
 * registration (storage's pending users) that becomes a user at its first login, or joins the
 * user who links it (link.c), so the documented upgrade of an anonymous user never makes a second
 * user.
 *  - With registration_verify (the default once idpd sends mail) the registration waits for its
 *    mailed link (confirm, or idpd's /verify-email page) and answers the same 201 whether the
 *    address was free or taken, after the same Argon2 run and one write transaction: the owner of
 *    a taken address is told by mail instead ("register-taken"), as /v1/register does. A second
 *    registration of an address still unconfirmed replaces the first (the last one wins; the
 *    earlier link dies), so no one can hold an address they cannot confirm.
 *  - Without it the registration may log in at once, and a taken address answers 409
 *    AccountNameInUse, as /v1/register does then.
 * confirm {token, tokenId} uses the link; confirm/send {email} mails a new one to an unconfirmed
 * registration; reset/send {email} mails a password reset link and reset {token, tokenId,
 * password} uses it (signin/recovery.c, shared with /v1/password/…). The sending routes answer
 * 204 whether the address is known or not. reset/call and confirm/call ran App Services
 * functions, which idpd does not have: they answer 400 FunctionNotFound. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

static const char invalid_token[] = "invalid token data: the link was used, expired or replaced";

struct registration {
    struct store_application *app;
    json_t *body;
    const char *password;
    struct store_pending_user pending;
    int hashed, taken;
    struct srv_reset reset; /* reset */
};

static void registration_free(void *state)
{
    struct registration *r = state;
    if (!r)
        return;
    free(r->app);
    json_decref(r->body);
    crypto_wipe(r, sizeof *r);
    free(r);
}

/* The call's state, application and body (fields as srv_as_body_or_error), with the email
 * member (when email is not NULL) checked and its key in r->pending.email_key. NULL when it
 * answered. */
static struct registration *begin_or_error(struct srv_request *rq, const char *const *fields,
                                           const char **email)
{
    struct registration *r = calloc(1, sizeof *r);
    if (!r) {
        srv_reply_app_error(rq, 500, "InternalServerError", "out of memory");
        return NULL;
    }
    srv_rq_set_state(rq, r, registration_free);
    if (srv_as_app_or_error(rq, &r->app) != SRV_OK)
        return NULL;
    if (!srv_as_provider_enabled(r->app, "local-userpass")) {
        srv_reply_app_error(rq, 400, "AuthProviderNotFound",
                            "authentication via 'local-userpass' is unsupported");
        return NULL;
    }
    if (srv_as_body_or_error(rq, fields, &r->body) != SRV_OK)
        return NULL;
    if (!email)
        return r;
    *email = json_string_value(json_object_get(r->body, "email"));
    enum srv_email_err erc =
        *email ? srv_email_key(*email, r->pending.email_key) : SRV_EMAIL_EINVALID;
    if (erc != SRV_EMAIL_OK) {
        srv_reply_app_error(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "BadRequest", "email: %s",
                            srv_email_strerror(erc));
        return NULL;
    }
    return r;
}

/* A string member of the body, 1..max bytes; NULL (and answered) when it is not one. */
static const char *string_or_error(struct srv_request *rq, json_t *body, const char *name,
                                   size_t max)
{
    json_t *v = json_object_get(body, name);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(s) != json_string_length(v)) {
        srv_reply_app_error(rq, 400, "BadRequest", "%s must be a non-empty string", name);
        return NULL;
    }
    return s;
}

/* In txn: *taken = 1 when the address has a user or a registration that may log in; *waiting =
 * 1 when it has a registration that waits for its confirmation (into *p). */
static int taken_txn(struct store_txn *txn, const char *email_key, int *taken, int *waiting,
                     struct store_pending_user *p)
{
    char holder[STORE_ID_MAX];
    int rc = store_user_find_email(txn, email_key, holder);
    *taken = rc == STORE_OK;
    *waiting = 0;
    if (rc == STORE_NOTFOUND) {
        rc = store_pending_get(txn, email_key, p);
        *taken = rc == STORE_OK && p->confirmed;
        *waiting = rc == STORE_OK && !p->confirmed;
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void hash_work(struct srv_request *rq)
{
    struct registration *r = srv_rq_state(rq);
    r->hashed = crypto_password_hash(&srv_rq_ctx(rq)->cfg->argon2, r->password, strlen(r->password),
                                     r->pending.phc, sizeof r->pending.phc) == CRYPTO_OK;
}

struct register_args {
    struct srv_request *rq;
    struct registration *r;
};

static int register_txn(struct store_txn *txn, void *arg)
{
    struct register_args *a = arg;
    struct registration *r = a->r;
    struct srv_ctx *ctx = srv_rq_ctx(a->rq);
    struct store_pending_user old;
    const char *ip = srv_rq_client_ip(a->rq);
    int verify = ctx->cfg->registration_verify != 0, waiting = 0, allowed = 1, rc = STORE_OK;
    if (verify)
        rc = srv_mail_budget_txn(txn, ctx, r->pending.email_key, ip, &allowed);
    if (rc == STORE_OK)
        rc = taken_txn(txn, r->pending.email_key, &r->taken, &waiting, &old);
    crypto_wipe(&old, sizeof old);
    if (rc != STORE_OK || (r->taken && !verify))
        return rc;
    if (r->taken) { /* the owner hears of it; the caller learns nothing */
        struct srv_mail_vars v = {.app = r->app->name, .email = r->pending.email};
        if (allowed)
            rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_REGISTER_TAKEN, r->pending.email, &v);
        return rc ? rc
                  : srv_audit(txn, "user.register", NULL, r->app->id, ip, 0,
                              "address taken: its owner was told");
    }
    if (verify)
        rc = allowed ? srv_registration_mail_txn(txn, a->rq, &r->pending, r->app->name)
                     : store_pending_put(txn, &r->pending);
    else
        rc = store_pending_put(txn, &r->pending);
    return rc ? rc
              : srv_audit(txn, "user.register", NULL, r->pending.id, ip, 1,
                          verify ? "local-userpass: a registration waiting for its confirmation"
                                 : "local-userpass: a registration waiting for its first login");
}

static void after_hash(struct srv_request *rq)
{
    struct registration *r = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct register_args a = {rq, r};
    if (!r->hashed) {
        srv_reply_app_error(rq, 500, "InternalServerError", "the password could not be hashed");
        return;
    }
    int rc = store_write(ctx->store, register_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the registration could not be saved");
    } else if (r->taken && !ctx->cfg->registration_verify) {
        srv_reply_app_error(rq, 409, "AccountNameInUse", "name already in use");
    } else {
        srv_mailer_wake(ctx);
        srv_reply(rq, 201, NULL, "", 0, NULL);
    }
}

struct precheck {
    struct registration *r;
    int waiting;
    struct store_pending_user old;
};

static int precheck_txn(struct store_txn *txn, void *arg)
{
    struct precheck *p = arg;
    return taken_txn(txn, p->r->pending.email_key, &p->r->taken, &p->waiting, &p->old);
}

void srv_as_register(struct srv_request *rq)
{
    static const char *const fields[] = {"email", "password", NULL};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *email = NULL;
    if (srv_rate_limited_reply(rq, SRV_RATE_REGISTER))
        return;
    struct registration *r = begin_or_error(rq, fields, &email);
    if (!r)
        return;
    if (!ctx->cfg->allow_registration) {
        srv_reply_app_error(rq, 403, "Forbidden", "registration is turned off");
        return;
    }
    r->password = json_string_value(json_object_get(r->body, "password"));
    if (!r->password || !srv_password_valid(r->password)) {
        srv_reply_app_error(rq, 400, "BadRequest", "password must be %d to %d bytes of UTF-8",
                            SRV_PASSWORD_MIN, SRV_PASSWORD_MAX);
        return;
    }
    snprintf(r->pending.email, sizeof r->pending.email, "%s", email);
    memcpy(r->pending.client_id, r->app->id, sizeof r->pending.client_id);
    r->pending.confirmed = !ctx->cfg->registration_verify;
    r->pending.created_at = srv_now();
    if (crypto_id_new("pnd", r->pending.id, sizeof r->pending.id) != CRYPTO_OK) {
        srv_reply_app_error(rq, 500, "InternalServerError", "no id could be made");
        return;
    }
    if (!ctx->cfg->registration_verify) {
        /* nothing to hide without mail: a taken address is answered before Argon2 */
        struct precheck p = {.r = r};
        int rc = store_read(ctx->store, precheck_txn, &p);
        crypto_wipe(&p.old, sizeof p.old);
        if (rc != STORE_OK) {
            srv_reply_store_failure(rq, rc, "the registration cannot be checked now");
            return;
        }
        if (r->taken) {
            srv_reply_app_error(rq, 409, "AccountNameInUse", "name already in use");
            return;
        }
    }
    srv_defer_for(rq, r->pending.email_key, hash_work, after_hash);
}

/* ---- confirm, confirm/send ---- */

struct confirm_args {
    struct srv_request *rq;
    const char *token, *token_id;
};

static int confirm_txn(struct store_txn *txn, void *arg)
{
    struct confirm_args *a = arg;
    return srv_registration_confirm_txn(txn, a->rq, a->token, a->token_id);
}

void srv_as_confirm(struct srv_request *rq)
{
    static const char *const fields[] = {"token", "tokenId", NULL};
    struct registration *r = begin_or_error(rq, fields, NULL);
    struct confirm_args a = {rq, NULL, NULL};
    if (!r || !(a.token = string_or_error(rq, r->body, "token", 256)) ||
        !(a.token_id = string_or_error(rq, r->body, "tokenId", STORE_ID_MAX - 1)))
        return;
    int rc = store_write(srv_rq_ctx(rq)->store, confirm_txn, &a);
    if (rc == STORE_NOTFOUND)
        srv_reply_app_error(rq, 400, "UserpassTokenInvalid", "%s", invalid_token);
    else if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the confirmation could not be saved");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
}

static int resend_txn(struct store_txn *txn, void *arg)
{
    struct register_args *a = arg;
    struct registration *r = a->r;
    struct store_pending_user p;
    int allowed = 0, taken = 0, waiting = 0;
    const char *ip = srv_rq_client_ip(a->rq);
    int rc = srv_mail_budget_txn(txn, srv_rq_ctx(a->rq), r->pending.email_key, ip, &allowed);
    if (rc == STORE_OK)
        rc = taken_txn(txn, r->pending.email_key, &taken, &waiting, &p);
    if (rc == STORE_OK && waiting && allowed)
        rc = srv_registration_mail_txn(txn, a->rq, &p, r->app->name);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.register_resend", NULL, waiting ? p.id : NULL, ip,
                       waiting && allowed,
                       !waiting   ? "no registration waits for this address"
                       : !allowed ? "mail budget spent"
                                  : "sent");
    crypto_wipe(&p, sizeof p);
    return rc;
}

/* Mail is needed for the sending routes. */
static int mail_or_error(struct srv_request *rq)
{
    if (srv_rq_ctx(rq)->cfg->smtp_url[0])
        return SRV_OK;
    srv_reply_app_error(rq, 400, "BadRequest",
                        "idpd sends no mail here (smtp_url is not set); an admin can help");
    return SRV_ERESPONDED;
}

void srv_as_confirm_send(struct srv_request *rq)
{
    static const char *const fields[] = {"email", NULL};
    const char *email = NULL;
    if (srv_rate_limited_reply(rq, SRV_RATE_REGISTER) || mail_or_error(rq) != SRV_OK)
        return;
    struct registration *r = begin_or_error(rq, fields, &email);
    if (!r)
        return;
    struct register_args a = {rq, r};
    int rc = store_write(srv_rq_ctx(rq)->store, resend_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the request could not be taken");
        return;
    }
    srv_mailer_wake(srv_rq_ctx(rq)); /* whether or not there is a message: the same either way */
    srv_reply(rq, 204, NULL, "", 0, NULL);
}

/* ---- reset/send, reset ---- */

void srv_as_reset_send(struct srv_request *rq)
{
    static const char *const fields[] = {"email", NULL};
    const char *email = NULL;
    if (srv_rate_limited_reply(rq, SRV_RATE_REGISTER) || mail_or_error(rq) != SRV_OK)
        return;
    struct registration *r = begin_or_error(rq, fields, &email);
    if (!r)
        return;
    struct srv_forgot f = {rq, r->app->id, r->pending.email_key, 0};
    int rc = srv_forgot_write(&f);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the request could not be taken");
        return;
    }
    srv_mailer_wake(srv_rq_ctx(rq));
    srv_reply(rq, 204, NULL, "", 0, NULL);
}

static void reset_hash_work(struct srv_request *rq)
{
    struct registration *r = srv_rq_state(rq);
    srv_reset_hash(rq, &r->reset);
}

static void after_reset_hash(struct srv_request *rq)
{
    struct registration *r = srv_rq_state(rq);
    int rc = srv_reset_apply(rq, &r->reset);
    if (rc == STORE_OK)
        srv_reply(rq, 204, NULL, "", 0, NULL);
    else if (rc == STORE_NOTFOUND)
        srv_reply_app_error(rq, 400, "UserpassTokenInvalid", "%s", invalid_token);
    else if (rc == STORE_ENOMEM)
        srv_reply_app_error(rq, 500, "InternalServerError", "the password could not be hashed");
    else
        srv_reply_store_failure(rq, rc, "the password could not be saved");
}

void srv_as_reset(struct srv_request *rq)
{
    /* tokenId is read for App Services' shape and not needed: the token alone names its link */
    static const char *const fields[] = {"token", "tokenId", "password", NULL};
    struct registration *r = begin_or_error(rq, fields, NULL);
    if (!r || !(r->reset.token = string_or_error(rq, r->body, "token", 256)) ||
        !(r->reset.password = string_or_error(rq, r->body, "password", SRV_PASSWORD_MAX)))
        return;
    if (!srv_password_valid(r->reset.password)) {
        srv_reply_app_error(rq, 400, "InvalidPassword", "password must be %d to %d bytes of UTF-8",
                            SRV_PASSWORD_MIN, SRV_PASSWORD_MAX);
        return;
    }
    int rc = srv_reset_link_check(rq, r->reset.token);
    if (rc == STORE_NOTFOUND) {
        srv_reply_app_error(rq, 400, "UserpassTokenInvalid", "%s", invalid_token);
        return;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the link cannot be checked now");
        return;
    }
    srv_defer(rq, reset_hash_work, after_reset_hash);
}

void srv_as_function_call(struct srv_request *rq)
{
    struct store_application *app = NULL;
    if (srv_as_app_or_error(rq, &app) != SRV_OK)
        return;
    free(app);
    srv_reply_app_error(rq, 400, "FunctionNotFound",
                        "idpd runs no App Services functions: confirmation and password reset "
                        "by function are not supported; use the mailed links");
}
