/* grant_type=password: an application logs a user in with email and password. The login itself
 * (Argon2 on a worker, the same answer for an unknown email, the lockout) is password_login.c;
 * this file answers it as the token endpoint does. */
#include <stdio.h>
#include <string.h>

#include "server/oauth/oauth.h"

static const char bad_credentials[] = "invalid username or password";

static void refused(struct srv_request *rq)
{
    srv_reply_oauth_error(rq, 400, "invalid_grant", bad_credentials);
}

static void locked(struct srv_request *rq, int64_t wait)
{
    char why[96];
    snprintf(why, sizeof why, "too many failed logins; try again in %lld s", (long long)wait);
    srv_reply_too_many(rq, wait, why);
}

static void unavailable(struct srv_request *rq)
{
    srv_reply_oauth_error(rq, 503, "temporarily_unavailable", "the login could not be checked");
}

static void unverified(struct srv_request *rq)
{
    srv_reply_oauth_error(rq, 400, "invalid_grant",
                          "the email address is not verified yet: follow the link mailed to it");
}

static int session(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN])
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    if (srv_session_new(rq, user_id, call->client.id, "pwd", srv_form_get(&call->form, "scope"), s,
                        refresh) == SRV_OK)
        return SRV_OK;
    srv_reply_oauth_error(rq, 500, "server_error", "no session could be made");
    return SRV_ERESPONDED;
}

static void done(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    srv_reply_session_tokens(rq, u, s, refresh, srv_form_get(&call->form, "nonce"),
                             &call->login.roles);
}

static const struct srv_password_ops ops = {
    .refused = refused,
    .locked = locked,
    .unavailable = unavailable,
    .unverified = unverified,
    .session = session,
    .done = done,
};

void srv_grant_password(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    const char *email = srv_form_get(&call->form, "username");
    const char *pw = srv_form_get(&call->form, "password");
    if (!srv_app_allows_or_error(rq, &call->client, "password"))
        return;
    if (!email || !pw) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "username and password are required");
        return;
    }
    if (srv_user_scope_valid_or_error(rq, srv_form_get(&call->form, "scope")) != SRV_OK)
        return;
    srv_password_login(rq, &call->login, email, pw, &ops);
}
