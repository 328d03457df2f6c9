/* server/account/: the self-service API of a signed-in user (/v1): registration, the profile
 * and OIDC userinfo, sessions, the password, linked identities, API keys. Includes signin, http and
 * core. */
#ifndef IDPD_SERVER_ACCOUNT_H
#define IDPD_SERVER_ACCOUNT_H

#include "server/signin/signin.h"

/* ---- what the room offers the others: its routes (server/routes.c) ---- */

void srv_handle_register(struct srv_request *rq);
void srv_handle_userinfo(struct srv_request *rq);
void srv_handle_me(struct srv_request *rq);
void srv_handle_me_sessions(struct srv_request *rq);
void srv_handle_me_session_delete(struct srv_request *rq);
void srv_handle_me_password(struct srv_request *rq);
void srv_handle_me_link(struct srv_request *rq);
void srv_handle_me_unlink(struct srv_request *rq);
void srv_handle_me_email(struct srv_request *rq);
void srv_handle_email_verify(struct srv_request *rq);
void srv_handle_email_verify_send(struct srv_request *rq);
void srv_handle_password_forgot(struct srv_request *rq);
void srv_handle_password_reset(struct srv_request *rq);
void srv_handle_me_api_keys(struct srv_request *rq);
void srv_handle_me_api_keys_create(struct srv_request *rq);
void srv_handle_me_api_key_get(struct srv_request *rq);
void srv_handle_me_api_key_patch(struct srv_request *rq);
void srv_handle_me_api_key_delete(struct srv_request *rq);

/* ---- inside the room: bearer callers of the self-service API (bearer.c) ---- */

struct srv_user_caller {
    json_t *claims;      /* owned: the verified access-token claims */
    const char *user_id; /* borrowed from claims */
    const char *sid;
    const char *client_id;
};

/* Authenticates "Authorization: Bearer <access token>" as a user whose token, session and
 * account are all still good. Answers 401 (with WWW-Authenticate, RFC 6750) or 403 (a token of
 * a service account) as problem+json itself. Release with srv_user_caller_clear(). */
int srv_bearer_user_or_error(struct srv_request *rq, struct srv_user_caller *out);
void srv_user_caller_clear(struct srv_user_caller *c);

/* ---- inside the room: proving the current password (password_proof.c) ----
 * POST /v1/me/password and POST /v1/me/email ask for it. A wrong one counts toward the login
 * budgets of the identity's email. */
struct srv_password_proof {
    struct store_identity identity; /* the caller's email/password identity */
    struct srv_login_guard guard;   /* its budgets */
    int verified;
};
/* Reads user_id's email/password identity and its budgets: SRV_OK to go on (run
 * srv_password_proof_check on a worker, srv_defer_for(rq, p->guard.account, …)); otherwise the
 * request is answered (409 without a password, 429 while the budgets wait, 503). */
int srv_password_proof_begin(struct srv_request *rq, const char *user_id,
                             struct srv_password_proof *p);
/* On the worker: 1 when password is the identity's. */
int srv_password_proof_check(struct srv_password_proof *p, const char *password);
/* In the transaction that acts on the proof: STORE_OK when the identity still has the password
 * that was checked; STORE_NOTFOUND when it changed or went while Argon2 ran. */
int srv_password_proof_holds(struct store_txn *txn, const struct srv_password_proof *p);
/* After a wrong password: audited as type (a failure) and counted, then 403 naming field. */
void srv_password_proof_refused(struct srv_request *rq, struct srv_password_proof *p,
                                const char *user_id, const char *type, const char *field);

#endif
