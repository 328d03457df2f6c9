/* Account linking (Atlas App Services' model): a user attaches an email/password identity to
 * itself, so an anonymous user can upgrade and keep its id and everything attached to it.
 * An identity that belongs to another user is a conflict, never a silent merge: merging by
 * email would hand one account to whoever controls the other. Unlinking the last identity is
 * refused, since the user could never log in again. Each is one write transaction with its
 * audit event. */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct link {
    struct srv_user_caller caller;
    json_t *body;
    const char *provider, *email, *password;
    struct store_identity identity;
    int hashed;
};

static void link_free(void *state)
{
    struct link *l = state;
    if (!l)
        return;
    srv_user_caller_clear(&l->caller);
    json_decref(l->body);
    crypto_wipe(l, sizeof *l);
    free(l);
}

enum conflict { NONE, HAS_PASSWORD, IDENTITY_TAKEN, EMAIL_TAKEN };

/* Why the link cannot happen, checked before Argon2 and again in the write transaction. */
static int conflict_of(struct store_txn *txn, struct link *l, enum conflict *why)
{
    struct store_identity idns[STORE_IDENTITIES_MAX], found;
    char holder[STORE_ID_MAX];
    size_t n = 0;
    int rc = store_identity_list(txn, l->caller.user_id, idns, STORE_IDENTITIES_MAX, &n);
    *why = NONE;
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        if (strcmp(idns[i].provider, "local-userpass") == 0)
            *why = HAS_PASSWORD;
    crypto_wipe(idns, sizeof idns);
    if (rc != STORE_OK || *why != NONE)
        return rc;
    rc = store_identity_find(txn, "local-userpass", l->identity.provider_id, &found);
    crypto_wipe(&found, sizeof found);
    if (rc == STORE_OK) {
        *why = IDENTITY_TAKEN;
        return STORE_OK;
    }
    if (rc != STORE_NOTFOUND)
        return rc;
    rc = store_user_find_email(txn, l->identity.provider_id, holder);
    if (rc == STORE_OK && strcmp(holder, l->caller.user_id) != 0)
        *why = EMAIL_TAKEN;
    return rc == STORE_NOTFOUND || rc == STORE_OK ? STORE_OK : rc;
}

static int reply_conflict_or_ok(struct srv_request *rq, enum conflict why)
{
    switch (why) {
    case HAS_PASSWORD:
        srv_reply_problem(rq, 409, "the user already has an email/password identity");
        return SRV_ERESPONDED;
    case IDENTITY_TAKEN:
    case EMAIL_TAKEN:
        srv_reply_problem(rq, 409, "the email belongs to another user; nothing was linked");
        return SRV_ERESPONDED;
    default:
        return SRV_OK;
    }
}

struct precheck {
    struct link *l;
    enum conflict why;
};

static int precheck_txn(struct store_txn *txn, void *arg)
{
    struct precheck *p = arg;
    return conflict_of(txn, p->l, &p->why);
}

static void hash_work(struct srv_request *rq)
{
    struct link *l = srv_rq_state(rq);
    l->hashed = crypto_password_hash(&srv_rq_ctx(rq)->cfg->argon2, l->password, strlen(l->password),
                                     l->identity.phc, sizeof l->identity.phc) == CRYPTO_OK;
}

struct link_args {
    struct srv_request *rq;
    struct link *l;
    enum conflict why;
};

/* The verification link of a newly linked address, within its budget. */
static int send_verification_txn(struct store_txn *txn, struct srv_request *rq,
                                 const struct store_user *u, const char *client_id)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    char app[STORE_NAME_MAX];
    int allowed = 0;
    int rc = srv_mail_budget_txn(txn, ctx, u->email_key, srv_rq_client_ip(rq), &allowed);
    if (rc != STORE_OK || !allowed)
        return rc;
    srv_app_mail_name(txn, client_id, app);
    return srv_link_send_txn(txn, ctx, SRV_LINK_VERIFY, u->id, u->email, app);
}

static int link_txn(struct store_txn *txn, void *arg)
{
    struct link_args *a = arg;
    struct store_user u = {0};
    int rc = conflict_of(txn, a->l, &a->why);
    if (rc != STORE_OK || a->why != NONE)
        return rc;
    rc = store_user_get(txn, a->l->caller.user_id, &u);
    if (rc == STORE_OK) {
        snprintf(u.email, sizeof u.email, "%s", a->l->email);
        memcpy(u.email_key, a->l->identity.provider_id, sizeof u.email_key);
        u.anonymous = 0;
        u.email_verified = 0; /* a new address, not verified until its link is followed */
        u.updated_at = srv_now();
        rc = store_user_update(txn, &u);
    }
    if (rc == STORE_OK)
        rc = store_identity_insert(txn, &a->l->identity);
    if (rc == STORE_OK && srv_rq_ctx(a->rq)->cfg->smtp_url[0])
        rc = send_verification_txn(txn, a->rq, &u, a->l->caller.client_id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "identity.link", u.id, a->l->identity.id, srv_rq_client_ip(a->rq), 1,
                       "local-userpass");
    store_user_clear(&u);
    return rc;
}

static void after_hash(struct srv_request *rq)
{
    struct link *l = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct link_args a = {rq, l, NONE};
    if (!l->hashed) {
        srv_reply_problem(rq, 500, "the password could not be hashed");
        return;
    }
    int rc = store_write(ctx->store, link_txn, &a);
    if (rc == STORE_OK && a.why != NONE) {
        srv_audit_now(ctx, "identity.link", l->caller.user_id, NULL, srv_rq_client_ip(rq), 0,
                      "conflict: the identity or email is taken");
        reply_conflict_or_ok(rq, a.why);
        return;
    }
    if (rc == STORE_EXISTS) {
        srv_reply_problem(rq, 409, "the email belongs to another user; nothing was linked");
        return;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the identity could not be saved");
        return;
    }
    srv_mailer_wake(ctx);
    srv_reply_json(rq, 201,
                   json_pack("{s:s, s:s, s:I}", "id", l->identity.id, "provider",
                             l->identity.provider, "created_at",
                             (json_int_t)l->identity.created_at),
                   NULL);
}

void srv_handle_me_link(struct srv_request *rq)
{
    static const char *const fields[] = {"provider", "email", "password", NULL};
    struct link *l = calloc(1, sizeof *l);
    if (!l) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, l, link_free);
    if (srv_bearer_user_or_error(rq, &l->caller) != SRV_OK ||
        srv_json_parse_or_error(rq, fields, &l->body) != SRV_OK ||
        srv_json_string_or_error(rq, l->body, "provider", 1, STORE_PROVIDER_MAX - 1,
                                 &l->provider) ||
        srv_json_string_or_error(rq, l->body, "email", 1, STORE_EMAIL_MAX - 1, &l->email) ||
        srv_json_string_or_error(rq, l->body, "password", 1, SRV_PASSWORD_MAX, &l->password))
        return;
    if (strcmp(l->provider, "local-userpass") != 0) {
        srv_reply_problem(rq, 400, "provider must be local-userpass");
        return;
    }
    snprintf(l->identity.provider, sizeof l->identity.provider, "local-userpass");
    enum srv_email_err erc = srv_email_key(l->email, l->identity.provider_id);
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        return;
    }
    if (!srv_password_valid(l->password)) {
        srv_reply_problem(rq, 400, "password must be %d to %d bytes of UTF-8", SRV_PASSWORD_MIN,
                          SRV_PASSWORD_MAX);
        return;
    }
    snprintf(l->identity.user_id, sizeof l->identity.user_id, "%s", l->caller.user_id);
    l->identity.created_at = srv_now();
    if (crypto_id_new("idn", l->identity.id, sizeof l->identity.id) != CRYPTO_OK) {
        srv_reply_problem(rq, 500, "no id could be made");
        return;
    }
    struct precheck p = {l, NONE};
    int rc = store_read(srv_rq_ctx(rq)->store, precheck_txn, &p);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        return;
    }
    if (reply_conflict_or_ok(rq, p.why) != SRV_OK)
        return;
    srv_defer(rq, hash_work, after_hash);
}

struct unlink_args {
    struct srv_request *rq;
    const char *user_id;
    const char *identity_id;
    int found, last;
};

static int unlink_txn(struct store_txn *txn, void *arg)
{
    struct unlink_args *a = arg;
    struct store_identity idns[STORE_IDENTITIES_MAX];
    struct store_user u = {0};
    size_t n = 0, at = STORE_IDENTITIES_MAX;
    int rc = store_identity_list(txn, a->user_id, idns, STORE_IDENTITIES_MAX, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        if (strcmp(idns[i].id, a->identity_id) == 0)
            at = i;
    a->found = at < n;
    a->last = n == 1;
    if (rc != STORE_OK || !a->found || a->last)
        goto out;
    if ((rc = store_identity_delete(txn, a->user_id, a->identity_id)) != STORE_OK)
        goto out;
    if (strcmp(idns[at].provider, "local-userpass") == 0) {
        /* The email leaves with its identity and becomes free for others. */
        rc = store_user_get(txn, a->user_id, &u);
        if (rc == STORE_OK) {
            int anon_only = 1;
            for (size_t i = 0; i < n; i++)
                if (i != at && strcmp(idns[i].provider, "anon-user") != 0)
                    anon_only = 0;
            u.email[0] = u.email_key[0] = '\0';
            u.anonymous = anon_only;
            u.updated_at = srv_now();
            rc = store_user_update(txn, &u);
        }
    }
    if (rc == STORE_OK)
        rc = srv_audit(txn, "identity.unlink", a->user_id, a->identity_id, srv_rq_client_ip(a->rq),
                       1, idns[at].provider);
out:
    store_user_clear(&u);
    crypto_wipe(idns, sizeof idns);
    return rc;
}

void srv_handle_me_unlink(struct srv_request *rq)
{
    struct srv_user_caller caller;
    char id[STORE_ID_MAX];
    if (srv_bearer_user_or_error(rq, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct unlink_args a = {rq, caller.user_id, id, 0, 0};
    int rc = store_write(srv_rq_ctx(rq)->store, unlink_txn, &a);
    if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the identity could not be removed");
    else if (!a.found)
        srv_reply_problem(rq, 404, "no such identity");
    else if (a.last)
        srv_reply_problem(rq, 409,
                          "the last identity cannot be unlinked: the user could not "
                          "log in again");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
    srv_user_caller_clear(&caller);
}
