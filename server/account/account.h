/* server/account/: the self-service API of a signed-in user (/v1): registration, the profile
 * and OIDC userinfo, sessions, the password, linked identities. Includes signin, http and core. */
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

#endif
