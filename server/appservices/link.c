/* Linking through the login route (?link=true with the linking user's access token), as the SDKs'
 * linkCredentials() does it. Only an email/password identity links, and the same rules hold as
 * for /v1/me/identities: never a merge. The identity to link is a registration waiting for its
 * first login (App Services' documented upgrade of an anonymous user: registerUser, then
 * linkCredentials), which then joins the linking user instead of becoming a user of its own, so
 * no second user ever exists; an identity that already belongs to the linking user answers as
 * linked; one of another user is a conflict. The password is checked first, with the login
 * budgets, so a link attempt is no oracle and no way around them. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

struct srv_as_link {
    struct srv_as_caller caller;
    const char *password; /* borrowed from the request's body */
    char email_key[STORE_EMAIL_MAX];
    struct srv_login_guard guard;
    struct store_identity identity; /* found: the identity of the email */
    struct store_pending_user pending;
    int found, pending_found, verified;
    /* the answer */
    struct store_user user;
    struct store_session session;
    struct srv_session_roles roles;
    int outcome;
};

enum outcome { LINKED, CONFLICT, HAS_PASSWORD, GONE, CALLER_GONE };

void srv_as_link_free(struct srv_as_link *k)
{
    if (!k)
        return;
    srv_as_caller_clear(&k->caller);
    store_user_clear(&k->user);
    srv_session_roles_clear(&k->roles);
    crypto_wipe(k, sizeof *k);
    free(k);
}

static int find_txn(struct store_txn *txn, void *arg)
{
    struct srv_as_link *k = arg;
    int rc = store_identity_find(txn, "local-userpass", k->email_key, &k->identity);
    k->found = rc == STORE_OK;
    k->pending_found = 0;
    if (rc == STORE_NOTFOUND) {
        rc = store_pending_get(txn, k->email_key, &k->pending);
        k->pending_found =
            rc == STORE_OK && (k->pending.expires_at == 0 || k->pending.expires_at > srv_now());
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void verify_work(struct srv_request *rq)
{
    struct srv_as_link *k = srv_rq_defer_arg(rq);
    const char *phc = k->found           ? k->identity.phc
                      : k->pending_found ? k->pending.phc
                                         : srv_rq_ctx(rq)->dummy_phc;
    k->verified = crypto_password_verify(phc, k->password, strlen(k->password)) == CRYPTO_OK &&
                  (k->found || k->pending_found);
}

struct failed_args {
    struct srv_request *rq;
    struct srv_as_link *k;
};

static int failed_txn(struct store_txn *txn, void *arg)
{
    struct failed_args *f = arg;
    int rc = srv_audit(txn, "identity.link", f->k->caller.user_id, NULL, srv_rq_client_ip(f->rq), 0,
                       "local-userpass: wrong password");
    return rc ? rc : srv_login_guard_failed_txn(txn, f->rq, &f->k->guard, NULL);
}

/* In txn: the caller's session and user, and the roles of its new access token; outcome
 * CALLER_GONE when the session ended or the user went or was disabled since the token was
 * checked. */
static int answer_txn(struct store_txn *txn, struct srv_as_link *k)
{
    store_user_clear(&k->user);
    int rc = k->caller.sid ? store_session_get(txn, k->caller.sid, &k->session) : STORE_NOTFOUND;
    if (rc == STORE_OK)
        rc = store_user_get(txn, k->caller.user_id, &k->user);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && k->user.status != STORE_USER_ACTIVE)) {
        k->outcome = CALLER_GONE;
        return STORE_OK;
    }
    return rc ? rc : srv_session_roles_txn(txn, k->user.id, &k->roles);
}

struct link_args {
    struct srv_request *rq;
    struct srv_as_link *k;
};

static int link_txn(struct store_txn *txn, void *arg)
{
    struct link_args *x = arg;
    struct srv_as_link *k = x->k;
    struct store_identity idns[STORE_IDENTITIES_MAX], idn = {0};
    struct store_pending_user now_p;
    char holder[STORE_ID_MAX];
    size_t n = 0;
    int rc, has_password = 0;
    if (k->found) { /* the password is right: ours already, or another user's */
        k->outcome = strcmp(k->identity.user_id, k->caller.user_id) == 0 ? LINKED : CONFLICT;
        return k->outcome == LINKED ? answer_txn(txn, k) : STORE_OK;
    }
    rc = store_pending_get(txn, k->email_key, &now_p);
    if (rc == STORE_OK && strcmp(now_p.id, k->pending.id) != 0)
        rc = STORE_NOTFOUND; /* registered again meanwhile: another password */
    if (rc == STORE_OK && store_user_find_email(txn, k->email_key, holder) == STORE_OK &&
        strcmp(holder, k->caller.user_id) != 0)
        rc = STORE_EXISTS; /* the address became another user's */
    if (rc == STORE_OK)
        rc = store_identity_list(txn, k->caller.user_id, idns, STORE_IDENTITIES_MAX, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        has_password |= strcmp(idns[i].provider, "local-userpass") == 0;
    crypto_wipe(idns, sizeof idns);
    if (rc == STORE_NOTFOUND || rc == STORE_EXISTS || has_password) {
        k->outcome = rc == STORE_NOTFOUND ? GONE : rc == STORE_EXISTS ? CONFLICT : HAS_PASSWORD;
        return STORE_OK;
    }
    k->outcome = LINKED;
    if (rc == STORE_OK)
        rc = answer_txn(txn, k);
    if (rc != STORE_OK || k->outcome != LINKED)
        return rc;
    snprintf(k->user.email, sizeof k->user.email, "%s", now_p.email);
    memcpy(k->user.email_key, now_p.email_key, sizeof k->user.email_key);
    k->user.anonymous = 0;
    k->user.email_verified = now_p.email_verified;
    k->user.updated_at = srv_now();
    memcpy(idn.user_id, k->user.id, sizeof idn.user_id);
    snprintf(idn.provider, sizeof idn.provider, "local-userpass");
    memcpy(idn.provider_id, now_p.email_key, sizeof idn.provider_id);
    memcpy(idn.phc, now_p.phc, sizeof idn.phc);
    idn.created_at = k->user.updated_at;
    if (crypto_id_new("idn", idn.id, sizeof idn.id) != CRYPTO_OK)
        return STORE_ENOMEM;
    if ((rc = store_pending_delete(txn, now_p.email_key)) != STORE_OK ||
        (rc = store_user_update(txn, &k->user)) != STORE_OK ||
        (rc = store_identity_insert(txn, &idn)) != STORE_OK ||
        (rc = srv_login_guard_succeeded_txn(txn, &k->guard)) != STORE_OK)
        return rc;
    return srv_audit(txn, "identity.link", k->user.id, idn.id, srv_rq_client_ip(x->rq), 1,
                     "local-userpass: a registration joins the user (App Services client API)");
}

static void after_verify(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct srv_as_link *k = srv_rq_defer_arg(rq);
    if (!k->verified) {
        struct failed_args f = {rq, k};
        int rc = store_write(ctx->store, failed_txn, &f);
        if (rc != STORE_OK)
            srv_reply_store_failure(rq, rc, "the link could not be checked");
        else
            srv_reply_app_error(rq, 401, "InvalidPassword", "invalid username/password");
        return;
    }
    if (k->pending_found && !k->pending.confirmed) {
        srv_reply_app_error(rq, 401, "AuthError", "confirmation required");
        return;
    }
    struct link_args x = {rq, k};
    int rc = store_write(ctx->store, link_txn, &x);
    if (rc == STORE_EXISTS) {
        k->outcome = CONFLICT;
    } else if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the identity could not be linked");
        return;
    }
    switch (k->outcome) {
    case LINKED:
        srv_as_reply_tokens(rq, &k->user, &k->session, NULL, &k->roles, 1);
        break;
    case CONFLICT:
        srv_audit_now(ctx, "identity.link", k->caller.user_id, NULL, srv_rq_client_ip(rq), 0,
                      "conflict: the identity or email belongs to another user");
        srv_reply_app_error(rq, 409, "AccountNameInUse",
                            "the identity belongs to another user; nothing was linked");
        break;
    case CALLER_GONE:
        srv_reply_app_error(rq, 401, "InvalidSession",
                            "invalid session: the session has ended or the user is disabled or "
                            "deleted");
        break;
    case HAS_PASSWORD:
        srv_reply_app_error(rq, 409, "AccountNameInUse",
                            "the user already has an email/password identity");
        break;
    default:
        srv_reply_app_error(rq, 401, "InvalidPassword", "invalid username/password");
        break;
    }
}

void srv_as_link_password(struct srv_request *rq, const struct store_application *app,
                          const char *email, const char *password, struct srv_as_link **holder)
{
    struct srv_as_link *k = calloc(1, sizeof *k);
    int64_t wait = 0;
    if (!(*holder = k)) {
        srv_reply_app_error(rq, 500, "InternalServerError", "out of memory");
        return;
    }
    if (srv_as_access_or_error(rq, &k->caller) != SRV_OK)
        return;
    if (!k->caller.client_id || strcmp(k->caller.client_id, app->id) != 0) {
        /* not a 401: the SDK would refresh and retry with a token of the same application */
        srv_reply_app_error(rq, 403, "Forbidden",
                            "the access token is another application's: link through it");
        return;
    }
    k->password = password;
    if (strlen(password) > SRV_PASSWORD_MAX || srv_email_key(email, k->email_key) != SRV_EMAIL_OK) {
        srv_reply_app_error(rq, 401, "InvalidPassword", "invalid username/password");
        return;
    }
    srv_login_guard_init(&k->guard, email, srv_rq_client_ip(rq));
    int rc = srv_login_guard_wait(rq, &k->guard, &wait);
    if (rc == STORE_OK && wait) {
        char why[96];
        snprintf(why, sizeof why, "too many failed logins: try again in %lld s", (long long)wait);
        srv_reply_too_many(rq, wait, why);
        return;
    }
    if (rc == STORE_OK)
        rc = store_read(srv_rq_ctx(rq)->store, find_txn, k);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the link cannot be checked now");
        return;
    }
    srv_defer_with(rq, k->guard.account, k, verify_work, after_verify);
}
