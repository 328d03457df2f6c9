/* Email and password logins, shared by the password grant (grant_password.c) and the login page
 * (login_page.c), which differ only in how they answer (struct srv_password_ops).
 *
 * The password is checked by Argon2id on a worker. An unknown email is checked against the dummy
 * hash, so it costs what a wrong password costs and gets the same answer. A hash made with other
 * parameters than the current ones is re-made on the worker and stored with the session.
 * Failures count toward the brute-force lockout of login_guard.c, which is checked before any of
 * this.
 *
 * Where ops->pending is set (the App Services client API), an email with no identity may have a
 * registration waiting for its first login (storage: pending users): its password is checked the
 * same way, and the right one makes the user, its identity and the session in one transaction. */
#define LOG_MODULE "login"

#include <string.h>

#include "server/signin/signin.h"

struct find_args {
    const char *email;
    struct srv_login *login;
};

static int find_txn(struct store_txn *txn, void *arg)
{
    struct find_args *a = arg;
    struct srv_login *l = a->login;
    char key[STORE_EMAIL_MAX], legacy[STORE_EMAIL_MAX];
    store_user_clear(&l->user);
    l->found = 0;
    /* An email srv_email_key refuses (a look-alike, mixed scripts, not an address) is simply
     * not found: it gets the dummy hash and the answer of a wrong password, as before. An
     * identity made before NFKC_Casefold keys may be under the old key (srv_email_key_legacy);
     * it is looked up there when the new key finds nothing, so its user can still log in. */
    int rc = srv_email_key(a->email, key) == SRV_EMAIL_OK
                 ? store_identity_find(txn, "local-userpass", key, &l->identity)
                 : STORE_NOTFOUND;
    srv_email_key_legacy(a->email, legacy);
    if (rc == STORE_NOTFOUND && strcmp(legacy, key) != 0)
        rc = store_identity_find(txn, "local-userpass", legacy, &l->identity);
    if (rc == STORE_OK)
        rc = store_user_get(txn, l->identity.user_id, &l->user);
    if (rc == STORE_OK)
        l->found = 1;
    l->pending_found = 0;
    if (rc == STORE_NOTFOUND && l->ops->pending && key[0]) {
        rc = store_pending_get(txn, key, &l->pending);
        l->pending_found =
            rc == STORE_OK && (l->pending.expires_at == 0 || l->pending.expires_at > srv_now());
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void verify_work(struct srv_request *rq)
{
    struct srv_login *l = srv_rq_defer_arg(rq);
    const struct crypto_argon2_params *params = &srv_rq_ctx(rq)->cfg->argon2;
    const char *pw = l->password;
    const char *phc = l->found           ? l->identity.phc
                      : l->pending_found ? l->pending.phc
                                         : srv_rq_ctx(rq)->dummy_phc;
    l->verified =
        crypto_password_verify(phc, pw, strlen(pw)) == CRYPTO_OK && (l->found || l->pending_found);
    l->new_phc[0] = '\0';
    if (l->verified && crypto_password_needs_rehash(phc, params) &&
        crypto_password_hash(params, pw, strlen(pw), l->new_phc, sizeof l->new_phc) != CRYPTO_OK)
        l->new_phc[0] = '\0'; /* keep the old hash; the login still succeeds */
}

struct login_args {
    struct srv_request *rq;
    struct srv_login *login;
    struct store_session *session;
    int gone; /* the user or identity went away, or was disabled, while Argon2 ran */
};

/* The session, the re-hash and the audit event: one write transaction. */
static int login_txn(struct store_txn *txn, void *arg)
{
    struct login_args *a = arg;
    struct srv_login *l = a->login;
    struct store_identity now_idn;
    store_user_clear(&l->user);
    int rc = store_identity_find(txn, "local-userpass", l->identity.provider_id, &now_idn);
    if (rc == STORE_OK)
        rc = store_user_get(txn, l->identity.user_id, &l->user);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && (l->user.status != STORE_USER_ACTIVE ||
                                                    strcmp(now_idn.id, l->identity.id) != 0 ||
                                                    strcmp(now_idn.phc, l->identity.phc) != 0))) {
        a->gone = 1; /* the password changed or the user went: the check above is stale */
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    if (l->new_phc[0]) {
        memcpy(now_idn.phc, l->new_phc, sizeof now_idn.phc);
        if ((rc = store_identity_update(txn, &now_idn)) != STORE_OK)
            return rc;
    }
    if ((rc = store_session_insert(txn, a->session)) != STORE_OK ||
        (rc = srv_login_guard_succeeded_txn(txn, &l->guard)) != STORE_OK ||
        (rc = srv_audit(txn, "user.login", l->user.id, a->session->id, srv_rq_client_ip(a->rq), 1,
                        a->session->browser ? "local-userpass, login page" : "local-userpass")) !=
            STORE_OK)
        return rc;
    return srv_session_roles_txn(txn, l->user.id, &l->roles);
}

struct failed_args {
    struct srv_request *rq;
    struct srv_login *login;
    const char *why;
};

/* A refused login: its audit event and its count toward a lockout, in one transaction. */
static int failed_txn(struct store_txn *txn, void *arg)
{
    struct failed_args *a = arg;
    const char *user_id = a->login->found ? a->login->user.id : NULL;
    int rc = srv_audit(txn, "user.login", user_id, NULL, srv_rq_client_ip(a->rq), 0, a->why);
    return rc ? rc : srv_login_guard_failed_txn(txn, a->rq, &a->login->guard, user_id);
}

/* A refusal is answered only once it is counted: one the store could not record is answered as
 * the store failing, so an outage neither tells a guesser that a password was wrong nor lets its
 * guesses go uncounted. */
static void refuse(struct srv_request *rq, struct srv_login *l, const char *why,
                   void (*answer)(struct srv_request *rq))
{
    struct failed_args a = {rq, l, why};
    int rc = store_write(srv_rq_ctx(rq)->store, failed_txn, &a);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "failed login not recorded");
        l->ops->unavailable(rq);
        return;
    }
    answer(rq);
}

/* The first login of a registration: the user with its email/password identity (the address
 * counts as verified when the registration was confirmed by a mailed link), the session, and
 * the registration's end, in one transaction; gone when the registration changed meanwhile. */
static int adopt_txn(struct store_txn *txn, void *arg)
{
    struct login_args *a = arg;
    struct srv_login *l = a->login;
    struct store_pending_user now_p;
    struct store_identity idn = {0};
    char holder[STORE_ID_MAX];
    int rc = store_pending_get(txn, l->pending.email_key, &now_p);
    a->gone = 0;
    if (rc == STORE_OK && (strcmp(now_p.id, l->pending.id) != 0 || !now_p.confirmed))
        rc = STORE_NOTFOUND;
    /* someone took the address meanwhile (idpd's own registration, an email change) */
    if (rc == STORE_OK && store_user_find_email(txn, now_p.email_key, holder) == STORE_OK)
        rc = STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        a->gone = 1;
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    memcpy(idn.user_id, l->user.id, sizeof idn.user_id);
    memcpy(idn.id, l->identity.id, sizeof idn.id);
    snprintf(idn.provider, sizeof idn.provider, "local-userpass");
    memcpy(idn.provider_id, now_p.email_key, sizeof idn.provider_id);
    memcpy(idn.phc, l->new_phc[0] ? l->new_phc : now_p.phc, sizeof idn.phc);
    idn.created_at = l->user.created_at;
    if ((rc = store_pending_delete(txn, now_p.email_key)) != STORE_OK ||
        (rc = store_user_insert(txn, &l->user)) != STORE_OK ||
        (rc = store_identity_insert(txn, &idn)) != STORE_OK ||
        (rc = store_session_insert(txn, a->session)) != STORE_OK ||
        (rc = srv_login_guard_succeeded_txn(txn, &l->guard)) != STORE_OK ||
        (rc = srv_audit(txn, "user.create", l->user.id, l->user.id, srv_rq_client_ip(a->rq), 1,
                        "local-userpass: the first login of a registration")) != STORE_OK ||
        (rc = srv_audit(txn, "user.login", l->user.id, a->session->id, srv_rq_client_ip(a->rq), 1,
                        "local-userpass")) != STORE_OK)
        return rc;
    return srv_session_roles_txn(txn, l->user.id, &l->roles);
}

/* The user a registration becomes, before its transaction (which may run again). */
static int adopt_prepare(struct srv_login *l)
{
    struct store_user *u = &l->user;
    store_user_clear(u);
    if (crypto_id_new("usr", u->id, sizeof u->id) != CRYPTO_OK ||
        crypto_id_new("idn", l->identity.id, sizeof l->identity.id) != CRYPTO_OK)
        return SRV_ERUNTIME;
    snprintf(u->email, sizeof u->email, "%s", l->pending.email);
    memcpy(u->email_key, l->pending.email_key, sizeof u->email_key);
    u->email_verified = l->pending.email_verified;
    u->created_at = u->updated_at = srv_now();
    return SRV_OK;
}

static void after_verify(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct srv_login *l = srv_rq_defer_arg(rq);
    struct store_session session;
    char refresh[SRV_REFRESH_LEN];
    if (!l->verified) {
        refuse(rq, l, l->found || l->pending_found ? "wrong password" : "unknown email",
               l->ops->refused);
        return;
    }
    if (!l->found) { /* a registration's first login */
        if (!l->pending.confirmed) {
            srv_audit_now(ctx, "user.login", NULL, NULL, srv_rq_client_ip(rq), 0,
                          "local-userpass: the registration is not confirmed");
            l->ops->unverified(rq);
            return;
        }
        if (adopt_prepare(l) != SRV_OK) {
            l->ops->unavailable(rq);
            return;
        }
    }
    if (l->user.status != STORE_USER_ACTIVE) {
        /* The same answer as a wrong password, and it counts as one: telling a disabled
         * account's right password apart would make this an oracle for guessing it. The audit
         * event says why. The App Services client API answers UserDisabled, as its SDKs expect
         * (ops->disabled), still counted, and only after the right password, so it tells only
         * someone who holds that password. */
        refuse(rq, l, "user disabled", l->ops->disabled ? l->ops->disabled : l->ops->refused);
        return;
    }
    if (ctx->cfg->require_verified_email && !l->user.email_verified) {
        /* not a failed guess: nothing is counted, the event says why */
        srv_audit_now(ctx, "user.login", l->user.id, NULL, srv_rq_client_ip(rq), 0,
                      "email not verified");
        l->ops->unverified(rq);
        return;
    }
    if (l->ops->session(rq, l->user.id, &session, refresh) != SRV_OK)
        return;
    struct login_args a = {rq, l, &session, 0};
    int rc = store_write(ctx->store, l->found ? login_txn : adopt_txn, &a);
    if (rc == STORE_EXISTS && !l->found) {
        l->ops->refused(rq); /* the address or identity was taken while Argon2 ran */
    } else if (rc != STORE_OK) {
        LOG_STORE(rc, "login write failed");
        l->ops->unavailable(rq);
    } else if (a.gone) {
        l->ops->refused(rq);
    } else {
        l->ops->done(rq, &l->user, &session, refresh);
    }
    crypto_wipe(refresh, sizeof refresh);
}

void srv_login_clear(struct srv_login *l)
{
    store_user_clear(&l->user);
    srv_session_roles_clear(&l->roles);
    crypto_wipe(l, sizeof *l);
}

void srv_password_login(struct srv_request *rq, struct srv_login *l, const char *email,
                        const char *password, const struct srv_password_ops *ops)
{
    l->ops = ops;
    l->password = password;
    if (strlen(password) > SRV_PASSWORD_MAX || strlen(email) >= STORE_EMAIL_MAX) {
        /* No stored password is that long: no Argon2 run on a megabyte of input. */
        ops->refused(rq);
        return;
    }
    /* A waiting name, address or account is answered before any work, Argon2 above all. */
    srv_login_guard_init(&l->guard, email, srv_rq_client_ip(rq));
    int64_t wait = 0;
    int rc = srv_login_guard_wait(rq, &l->guard, &wait);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "failed-login lookup failed");
        ops->unavailable(rq);
        return;
    }
    if (wait) {
        ops->locked(rq, wait);
        return;
    }
    struct find_args fa = {email, l};
    rc = store_read(srv_rq_ctx(rq)->store, find_txn, &fa);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "login lookup failed");
        ops->unavailable(rq);
        return;
    }
    srv_defer_with(rq, l->guard.account, l, verify_work, after_verify);
}
