/* grant_type=urn:idpd:grant-type:anonymous: an application starts a user with no credentials
 * (Atlas App Services' anonymous provider; signin/anonymous.c makes it). The user can later link
 * an email/password identity and keep its id and everything attached to it. */
#define LOG_MODULE "oauth"

#include "server/oauth/oauth.h"

void srv_grant_anonymous(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_anonymous a;
    const char *scope = srv_form_get(&call->form, "scope");
    if (!srv_app_allows_or_error(rq, &call->client, "urn:idpd:grant-type:anonymous") ||
        srv_user_scope_valid_or_error(rq, scope) != SRV_OK)
        return;
    int rc = srv_anonymous_login(rq, call->client.id, scope, NULL, &a);
    if (rc == STORE_ENOMEM)
        srv_reply_oauth_error(rq, 500, "server_error", "no user could be made");
    else if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the user could not be saved");
    else
        srv_reply_session_tokens(rq, &a.user, &a.session, a.refresh,
                                 srv_form_get(&call->form, "nonce"), &a.roles);
    srv_anonymous_clear(&a);
}
