/* POST /v1/register: an application's user signs up with email and password, when the operator
 * turned allow_registration on. The user, its local-userpass identity, the audit event and (with
 * mail) the verification link are one write transaction; the password is hashed on a worker.
 *
 * With registration_verify (the default once idpd sends mail) the answer is 202 whether the
 * address was free or taken: the same Argon2 run, the same one write transaction, the same body.
 * Only the outbox differs: a verification link for a new account, a "someone tried to register
 * with your address" notice for a taken one. Without it a taken address answers 409 at once. */
#define LOG_MODULE "register"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct reg {
    json_t *body;
    const char *client_id, *email, *password, *name;
    char key[STORE_EMAIL_MAX]; /* the email's key (srv_email_key) */
    struct store_user user;
    struct store_identity identity;
    int hashed;
    int taken; /* registration_verify: the address had an account */
};

static void reg_free(void *state)
{
    struct reg *r = state;
    if (!r)
        return;
    json_decref(r->body); /* jansson keeps the password; it goes with the request */
    crypto_wipe(&r->identity, sizeof r->identity);
    free(r);
}

/* Whether the address has an account, by the user index or the identity (older stores). */
static int taken_txn(struct store_txn *txn, const char *key, int *taken)
{
    struct store_identity idn;
    char uid[STORE_ID_MAX];
    int rc = store_user_find_email(txn, key, uid);
    if (rc == STORE_NOTFOUND || rc == STORE_EINVAL)
        rc = store_identity_find(txn, "local-userpass", key, &idn);
    crypto_wipe(&idn, sizeof idn);
    *taken = rc == STORE_OK;
    return rc == STORE_NOTFOUND || rc == STORE_EINVAL ? STORE_OK : rc;
}

struct check {
    const char *client_id, *key;
    int app_found, email_taken;
};

static int check_txn(struct store_txn *txn, void *arg)
{
    struct check *c = arg;
    struct store_application *app = malloc(sizeof *app);
    if (!app)
        return STORE_ENOMEM;
    int rc = store_app_get(txn, c->client_id, app);
    free(app);
    c->app_found = rc == STORE_OK;
    if (rc != STORE_OK && rc != STORE_NOTFOUND && rc != STORE_EINVAL)
        return rc;
    return taken_txn(txn, c->key, &c->email_taken);
}

static void hash_work(struct srv_request *rq)
{
    struct reg *r = srv_rq_state(rq);
    r->hashed = crypto_password_hash(&srv_rq_ctx(rq)->cfg->argon2, r->password, strlen(r->password),
                                     r->identity.phc, sizeof r->identity.phc) == CRYPTO_OK;
}

struct create {
    struct srv_request *rq;
    struct reg *r;
};

static int create_txn(struct store_txn *txn, void *arg)
{
    struct create *c = arg;
    struct srv_ctx *ctx = srv_rq_ctx(c->rq);
    const char *ip = srv_rq_client_ip(c->rq);
    char app[STORE_NAME_MAX] = "";
    int allowed = 1, rc = STORE_OK;
    c->r->taken = 0;
    if (ctx->cfg->smtp_url[0]) {
        srv_app_mail_name(txn, c->r->client_id, app);
        rc = srv_mail_budget_txn(txn, ctx, c->r->key, ip, &allowed);
    }
    if (rc == STORE_OK && ctx->cfg->registration_verify)
        rc = taken_txn(txn, c->r->key, &c->r->taken);
    if (rc != STORE_OK)
        return rc;
    if (c->r->taken) {
        /* the owner hears of it; the caller learns nothing */
        struct srv_mail_vars v = {.app = app, .email = c->r->user.email};
        if (allowed)
            rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_REGISTER_TAKEN, c->r->user.email, &v);
        return rc ? rc
                  : srv_audit(txn, "user.register", NULL, c->r->client_id, ip, 0,
                              "address taken: its owner was told");
    }
    rc = store_user_insert(txn, &c->r->user);
    if (rc == STORE_OK)
        rc = store_identity_insert(txn, &c->r->identity);
    if (rc == STORE_OK && ctx->cfg->smtp_url[0] && allowed)
        rc = srv_link_send_txn(txn, ctx, SRV_LINK_VERIFY, c->r->user.id, c->r->user.email, app);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.register", c->r->user.id, c->r->client_id, ip, 1,
                       "local-userpass");
    return rc;
}

static void after_hash(struct srv_request *rq)
{
    struct reg *r = srv_rq_state(rq);
    if (!r->hashed) {
        srv_reply_problem(rq, 500, "the password could not be hashed");
        return;
    }
    struct create c = {rq, r};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    int rc = store_write(ctx->store, create_txn, &c);
    if (rc == STORE_EXISTS && ctx->cfg->registration_verify) {
        /* taken between the look and the insert by a concurrent registration: answered alike */
        rc = STORE_OK;
    } else if (rc == STORE_EXISTS) {
        srv_reply_problem(rq, 409, "the email is already registered");
        return;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the user could not be saved");
        return;
    }
    srv_mailer_wake(ctx);
    if (ctx->cfg->registration_verify)
        srv_reply_json(rq, 202, json_pack("{s:s}", "status", "check your email"), NULL);
    else
        srv_reply_json(rq, 201, srv_user_json(&r->user, &r->identity, 1), NULL);
}

void srv_handle_register(struct srv_request *rq)
{
    static const char *const fields[] = {"client_id", "email", "password", "name", NULL};
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct reg *r;
    if (srv_rate_limited_reply(rq, SRV_RATE_REGISTER))
        return;
    if (!ctx->cfg->allow_registration) {
        srv_reply_problem(rq, 403, "registration is turned off (allow_registration)");
        return;
    }
    if (!(r = calloc(1, sizeof *r))) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, r, reg_free);
    if (srv_json_parse_or_error(rq, fields, &r->body) != SRV_OK ||
        srv_json_string_or_error(rq, r->body, "client_id", 1, STORE_ID_MAX - 1, &r->client_id) ||
        srv_json_string_or_error(rq, r->body, "email", 1, STORE_EMAIL_MAX - 1, &r->email) ||
        srv_json_string_or_error(rq, r->body, "password", 1, SRV_PASSWORD_MAX, &r->password) ||
        srv_json_string_or_error(rq, r->body, "name", 0, STORE_NAME_MAX - 1, &r->name) ||
        !srv_cors_client_or_error(rq, r->client_id))
        return;
    enum srv_email_err erc = srv_email_key(r->email, r->key);
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        return;
    }
    if (!srv_password_valid(r->password)) {
        srv_reply_problem(rq, 400, "password must be %d to %d bytes of UTF-8", SRV_PASSWORD_MIN,
                          SRV_PASSWORD_MAX);
        return;
    }
    if (r->name && !srv_name_valid(r->name)) {
        srv_reply_problem(rq, 400, "name must be 1 to 256 bytes of text");
        return;
    }
    srv_rq_log_client(rq, r->client_id);
    struct check c = {r->client_id, r->key, 0, 0};
    int rc = store_read(ctx->store, check_txn, &c);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        return;
    }
    if (!c.app_found) {
        srv_reply_problem(rq, 400, "client_id does not name an application");
        return;
    }
    if (c.email_taken && !ctx->cfg->registration_verify) {
        srv_reply_problem(rq, 409, "the email is already registered");
        return;
    }
    r->user.created_at = r->user.updated_at = r->identity.created_at = srv_now();
    /* the address as typed is what the user sees; the key is what makes it unique */
    snprintf(r->user.email, sizeof r->user.email, "%s", r->email);
    memcpy(r->user.email_key, r->key, sizeof r->user.email_key);
    snprintf(r->user.name, sizeof r->user.name, "%s", r->name ? r->name : "");
    snprintf(r->identity.provider, sizeof r->identity.provider, "local-userpass");
    memcpy(r->identity.provider_id, r->key, sizeof r->identity.provider_id);
    if (crypto_id_new("usr", r->user.id, sizeof r->user.id) != CRYPTO_OK ||
        crypto_id_new("idn", r->identity.id, sizeof r->identity.id) != CRYPTO_OK) {
        srv_reply_problem(rq, 500, "no id could be made");
        return;
    }
    memcpy(r->identity.user_id, r->user.id, sizeof r->identity.user_id);
    srv_defer(rq, hash_work, after_hash);
}
