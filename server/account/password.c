/* POST /v1/me/password {"current_password","new_password"}: the user proves the current
 * password (Argon2 on a worker, which also hashes the new one), then the new hash is stored and
 * every other session of the user ends, in one write transaction. A wrong current password counts
 * toward the same brute-force budgets as a failed login of the user's email (login_guard.c): a
 * stolen access token must not open an online guessing attack on the password. */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct change {
    struct srv_user_caller caller;
    json_t *body;
    const char *current, *next;
    struct store_identity identity; /* the user's local-userpass identity */
    int has_password;
    int verified;
    char new_phc[STORE_PHC_MAX];
    struct srv_login_guard guard; /* the budgets of the identity's email */
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

static int find_txn(struct store_txn *txn, void *arg)
{
    struct change *c = arg;
    struct store_identity idns[STORE_IDENTITIES_MAX];
    size_t n = 0;
    int rc = store_identity_list(txn, c->caller.user_id, idns, STORE_IDENTITIES_MAX, &n);
    c->has_password = 0;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        if (strcmp(idns[i].provider, "local-userpass") == 0) {
            c->identity = idns[i];
            c->has_password = 1;
        }
    }
    crypto_wipe(idns, sizeof idns);
    return rc;
}

static void verify_work(struct srv_request *rq)
{
    struct change *c = srv_rq_state(rq);
    const struct crypto_argon2_params *params = &srv_rq_ctx(rq)->cfg->argon2;
    c->verified =
        crypto_password_verify(c->identity.phc, c->current, strlen(c->current)) == CRYPTO_OK &&
        crypto_password_hash(params, c->next, strlen(c->next), c->new_phc, sizeof c->new_phc) ==
            CRYPTO_OK;
}

struct store_args {
    struct srv_request *rq;
    struct change *c;
    int stale;
};

static int store_txn(struct store_txn *txn, void *arg)
{
    struct store_args *a = arg;
    struct store_identity now;
    int rc = store_identity_find(txn, "local-userpass", a->c->identity.provider_id, &now);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && strcmp(now.phc, a->c->identity.phc) != 0)) {
        a->stale = 1; /* changed or unlinked while Argon2 ran: the proof no longer holds */
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    memcpy(now.phc, a->c->new_phc, sizeof now.phc);
    if ((rc = store_identity_update(txn, &now)) != STORE_OK ||
        (rc = srv_login_guard_succeeded_txn(txn, &a->c->guard)) != STORE_OK ||
        (rc = store_session_delete_user(txn, a->c->caller.user_id, a->c->caller.sid, NULL)) !=
            STORE_OK)
        return rc;
    return srv_audit(txn, "user.password_change", a->c->caller.user_id, a->c->caller.user_id,
                     srv_rq_client_ip(a->rq), 1, "other sessions ended");
}

/* A wrong current password: its audit event and its count, in one transaction. */
static int failed_txn(struct store_txn *txn, void *arg)
{
    struct store_args *a = arg;
    int rc = srv_audit(txn, "user.password_change", a->c->caller.user_id, a->c->caller.user_id,
                       srv_rq_client_ip(a->rq), 0, "wrong current password");
    return rc ? rc : srv_login_guard_failed_txn(txn, a->rq, &a->c->guard, a->c->caller.user_id);
}

static void after_verify(struct srv_request *rq)
{
    struct change *c = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_args a = {rq, c, 0};
    int rc;
    if (!c->verified) {
        /* answered only once counted, as a login is (password_login.c) */
        if ((rc = store_write(ctx->store, failed_txn, &a)) != STORE_OK)
            srv_reply_store_failure(rq, rc, "the password cannot be checked now");
        else
            srv_reply_problem(rq, 403, "current_password is not the user's password");
        return;
    }
    rc = store_write(ctx->store, store_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the password could not be saved");
    } else if (a.stale) {
        srv_reply_problem(rq, 409, "the password changed meanwhile; try again");
    } else {
        srv_reply(rq, 204, NULL, "", 0, NULL);
    }
}

void srv_handle_me_password(struct srv_request *rq)
{
    static const char *const fields[] = {"current_password", "new_password", NULL};
    struct change *c = calloc(1, sizeof *c);
    if (!c) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, c, change_free);
    if (srv_bearer_user_or_error(rq, &c->caller) != SRV_OK ||
        srv_json_parse_or_error(rq, fields, &c->body) != SRV_OK ||
        srv_json_string_or_error(rq, c->body, "current_password", 1, SRV_PASSWORD_MAX,
                                 &c->current) ||
        srv_json_string_or_error(rq, c->body, "new_password", 1, SRV_PASSWORD_MAX, &c->next))
        return;
    if (!srv_password_valid(c->next)) {
        srv_reply_problem(rq, 400, "new_password must be %d to %d bytes of UTF-8", SRV_PASSWORD_MIN,
                          SRV_PASSWORD_MAX);
        return;
    }
    int rc = store_read(srv_rq_ctx(rq)->store, find_txn, c);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        return;
    }
    if (!c->has_password) {
        srv_reply_problem(rq, 409, "the user has no email/password identity; link one first");
        return;
    }
    /* Waiting budgets are answered before Argon2 runs, as a login is. */
    srv_login_guard_init(&c->guard, c->identity.provider_id, srv_rq_client_ip(rq));
    int64_t wait = 0;
    if ((rc = srv_login_guard_wait(rq, &c->guard, &wait)) != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the password cannot be checked now");
        return;
    }
    if (wait) {
        srv_reply_too_many(rq, wait, "too many wrong passwords; retry later");
        return;
    }
    srv_defer_for(rq, c->guard.account, verify_work, after_verify);
}
