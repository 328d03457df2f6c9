/* POST /v1/me/password {"current_password","new_password"}: the user proves the current
 * password (Argon2 on a worker, which also hashes the new one), then the new hash is stored,
 * every other session of the user ends and the owner is told by mail, in one write transaction.
 * A wrong current password counts as a failed login of the user's email (password_proof.c). */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct change {
    struct srv_user_caller caller;
    json_t *body;
    const char *current, *next;
    struct srv_password_proof proof;
    char new_phc[STORE_PHC_MAX];
    int hashed;
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
    const struct crypto_argon2_params *params = &srv_rq_ctx(rq)->cfg->argon2;
    c->hashed = srv_password_proof_check(&c->proof, c->current) &&
                crypto_password_hash(params, c->next, strlen(c->next), c->new_phc,
                                     sizeof c->new_phc) == CRYPTO_OK;
}

struct store_args {
    struct srv_request *rq;
    struct change *c;
    int stale, mailed;
};

static int store_txn(struct store_txn *txn, void *arg)
{
    struct store_args *a = arg;
    struct srv_ctx *ctx = srv_rq_ctx(a->rq);
    struct store_identity now = a->c->proof.identity;
    struct store_user u = {0};
    a->stale = a->mailed = 0;
    int rc = srv_password_proof_holds(txn, &a->c->proof);
    if (rc == STORE_NOTFOUND) {
        a->stale = 1; /* changed or unlinked while Argon2 ran: the proof no longer holds */
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    memcpy(now.phc, a->c->new_phc, sizeof now.phc);
    if ((rc = store_identity_update(txn, &now)) != STORE_OK ||
        (rc = srv_login_guard_succeeded_txn(txn, &a->c->proof.guard)) != STORE_OK ||
        (rc = store_session_delete_user(txn, a->c->caller.user_id, a->c->caller.sid, NULL)) !=
            STORE_OK ||
        (rc = srv_audit(txn, "user.password_change", a->c->caller.user_id, a->c->caller.user_id,
                        srv_rq_client_ip(a->rq), 1, "other sessions ended")) != STORE_OK)
        goto out;
    /* the owner hears of it, in case it was not the owner */
    if (ctx->cfg->smtp_url[0] && (rc = store_user_get(txn, a->c->caller.user_id, &u)) == STORE_OK &&
        u.email[0]) {
        struct srv_mail_vars v = {.email = u.email};
        rc = srv_mail_enqueue(txn, ctx, SRV_MAIL_PASSWORD_CHANGED, u.email, &v);
        a->mailed = rc == STORE_OK;
    }
out:
    crypto_wipe(&now, sizeof now);
    store_user_clear(&u);
    return rc;
}

static void after_verify(struct srv_request *rq)
{
    struct change *c = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_args a = {rq, c, 0, 0};
    if (!c->proof.verified) {
        srv_password_proof_refused(rq, &c->proof, c->caller.user_id, "user.password_change",
                                   "current_password");
        return;
    }
    if (!c->hashed) {
        srv_reply_problem(rq, 500, "the password could not be hashed");
        return;
    }
    int rc = store_write(ctx->store, store_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the password could not be saved");
    } else if (a.stale) {
        srv_reply_problem(rq, 409, "the password changed meanwhile; try again");
    } else {
        if (a.mailed)
            srv_mailer_wake(ctx);
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
    if (srv_password_proof_begin(rq, c->caller.user_id, &c->proof) != SRV_OK)
        return;
    srv_defer_for(rq, c->proof.guard.account, verify_work, after_verify);
}
