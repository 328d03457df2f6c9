/* grant_type=urn:idpd:grant-type:api-key with api_key=<key>: an application logs a user in
 * with one of the user's API keys (signin/api_key_login.c: one record, one Argon2 run on a
 * worker, an unknown key costs what a wrong one does). Answered as every user grant: access
 * token, refresh token, and an ID token with scope openid. */
#include <stdio.h>
#include <string.h>

#include "server/oauth/oauth.h"

static void refused(struct srv_request *rq)
{
    srv_reply_oauth_error(rq, 400, "invalid_grant", "invalid API key");
}

static void unavailable(struct srv_request *rq)
{
    srv_reply_oauth_error(rq, 503, "temporarily_unavailable", "the login could not be checked");
}

static int session(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN])
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    if (srv_session_new(rq, user_id, call->client.id, "api-key", srv_form_get(&call->form, "scope"),
                        s, refresh) == SRV_OK)
        return SRV_OK;
    srv_reply_oauth_error(rq, 500, "server_error", "no session could be made");
    return SRV_ERESPONDED;
}

static void done(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    srv_reply_session_tokens(rq, u, s, refresh, srv_form_get(&call->form, "nonce"),
                             &call->key_login.roles);
}

static const struct srv_password_ops ops = {
    .refused = refused,
    .unavailable = unavailable,
    .session = session,
    .done = done,
};

void srv_grant_api_key(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    const char *key = srv_form_get(&call->form, "api_key");
    if (!srv_app_allows_or_error(rq, &call->client, "urn:idpd:grant-type:api-key"))
        return;
    if (!key) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "api_key is required");
        return;
    }
    if (srv_user_scope_valid_or_error(rq, srv_form_get(&call->form, "scope")) != SRV_OK)
        return;
    srv_api_key_login(rq, &call->key_login, key, &ops);
}
