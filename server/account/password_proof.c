/* A signed-in user proving the current password before a change that needs it (account.h). A
 * wrong password counts toward the same brute-force budgets as a failed login of the user's email
 * (login_guard.c): a stolen access token must not open an online guessing attack on it. */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct find {
    const char *user_id;
    struct srv_password_proof *p;
    int found;
};

static int find_txn(struct store_txn *txn, void *arg)
{
    struct find *f = arg;
    struct store_identity *idns = calloc(STORE_IDENTITIES_MAX, sizeof *idns);
    size_t n = 0;
    if (!idns)
        return STORE_ENOMEM;
    int rc = store_identity_list(txn, f->user_id, idns, STORE_IDENTITIES_MAX, &n);
    f->found = 0;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        if (strcmp(idns[i].provider, "local-userpass") == 0) {
            f->p->identity = idns[i];
            f->found = 1;
        }
    }
    crypto_wipe(idns, STORE_IDENTITIES_MAX * sizeof *idns);
    free(idns);
    return rc;
}

int srv_password_proof_begin(struct srv_request *rq, const char *user_id,
                             struct srv_password_proof *p)
{
    struct find f = {user_id, p, 0};
    int rc = store_read(srv_rq_ctx(rq)->store, find_txn, &f);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        return SRV_ERESPONDED;
    }
    if (!f.found) {
        srv_reply_problem(rq, 409, "the user has no email/password identity; link one first");
        return SRV_ERESPONDED;
    }
    /* Waiting budgets are answered before Argon2 runs, as a login is. */
    srv_login_guard_init(&p->guard, p->identity.provider_id, srv_rq_client_ip(rq));
    int64_t wait = 0;
    if ((rc = srv_login_guard_wait(rq, &p->guard, &wait)) != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the password cannot be checked now");
        return SRV_ERESPONDED;
    }
    if (wait) {
        srv_reply_too_many(rq, wait, "too many wrong passwords; retry later");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

int srv_password_proof_check(struct srv_password_proof *p, const char *password)
{
    p->verified = crypto_password_verify(p->identity.phc, password, strlen(password)) == CRYPTO_OK;
    return p->verified;
}

int srv_password_proof_holds(struct store_txn *txn, const struct srv_password_proof *p)
{
    struct store_identity now;
    int rc = store_identity_find(txn, "local-userpass", p->identity.provider_id, &now);
    if (rc == STORE_OK && strcmp(now.phc, p->identity.phc) != 0)
        rc = STORE_NOTFOUND;
    crypto_wipe(&now, sizeof now);
    return rc;
}

struct failed {
    struct srv_request *rq;
    struct srv_password_proof *p;
    const char *user_id, *type;
};

/* A wrong password: its audit event and its count, in one transaction. */
static int failed_txn(struct store_txn *txn, void *arg)
{
    struct failed *f = arg;
    int rc = srv_audit(txn, f->type, f->user_id, f->user_id, srv_rq_client_ip(f->rq), 0,
                       "wrong current password");
    return rc ? rc : srv_login_guard_failed_txn(txn, f->rq, &f->p->guard, f->user_id);
}

void srv_password_proof_refused(struct srv_request *rq, struct srv_password_proof *p,
                                const char *user_id, const char *type, const char *field)
{
    struct failed f = {rq, p, user_id, type};
    /* answered only once counted, as a login is (password_login.c) */
    int rc = store_write(srv_rq_ctx(rq)->store, failed_txn, &f);
    if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the password cannot be checked now");
    else
        srv_reply_problem(rq, 403, "%s is not the user's password", field);
}
