/* server/appservices/: the client authentication API of Atlas App Services
 * (/api/client/v2.0/…), so the apps of that retired platform sign in against idpd through their
 * Realm / Atlas Device SDKs unchanged: locations, logins per provider (anonymous, email/password,
 * user API keys) with account linking, sessions whose refresh tokens do not rotate, the profile,
 * registration with its confirmation and reset mails, user API keys. Its errors are App Services'
 * own ({"error","error_code"}, srv_reply_app_error). Includes signin, http and core. */
#ifndef IDPD_SERVER_APPSERVICES_H
#define IDPD_SERVER_APPSERVICES_H

#include "server/signin/signin.h"

/* ---- what the room offers the others: its routes (server/routes.c) ---- */

void srv_as_location(struct srv_request *rq);
void srv_as_login(struct srv_request *rq);
void srv_as_session_new(struct srv_request *rq);
void srv_as_session_delete(struct srv_request *rq);
void srv_as_profile(struct srv_request *rq);
void srv_as_delete_user(struct srv_request *rq);
void srv_as_register(struct srv_request *rq);
void srv_as_confirm(struct srv_request *rq);
void srv_as_confirm_send(struct srv_request *rq);
void srv_as_reset(struct srv_request *rq);
void srv_as_reset_send(struct srv_request *rq);
void srv_as_function_call(struct srv_request *rq);
void srv_as_api_keys_list(struct srv_request *rq);
void srv_as_api_keys_create(struct srv_request *rq);
void srv_as_api_key_get(struct srv_request *rq);
void srv_as_api_key_delete(struct srv_request *rq);
void srv_as_api_key_enable(struct srv_request *rq);
void srv_as_api_key_disable(struct srv_request *rq);

/* ---- inside the room: the application a call is for (app.c) ---- */

/* The application of the path's {app_id}: its App Services id, or its idpd id. Reads it into
 * *app (malloc'd; free()) and admits a cross-origin caller by its origins. Answers 404
 * (AppNotFound) or 503 itself. */
int srv_as_app_or_error(struct srv_request *rq, struct store_application **app);
/* 1 when app lets its users sign in with provider ("anon-user", "local-userpass", "api-key"):
 * the idpd grant type it maps to is among the application's grants. */
int srv_as_provider_enabled(const struct store_application *app, const char *provider);

/* The body of a call: an empty one is {}; one with text must be application/json (with or
 * without parameters) and an object whose members are among fields (NULL-terminated). The
 * members "options" (an object, the SDKs' device description, read only for its device id) and
 * "provider" (which native SDKs add) are always accepted. Answers 400 (BadRequest) or 415. */
int srv_as_body_or_error(struct srv_request *rq, const char *const *fields, json_t **out);
/* The device of a login: options.device.deviceId's {"$oid"} when it is a device id the SDK kept
 * from an earlier login, else a new one. */
int srv_as_device_id(const json_t *body, char out[STORE_DEVICE_ID_MAX]);

/* ---- inside the room: linking (link.c) ---- */

/* ?link=true of an email/password login: the identity of email (a registration waiting for its
 * first login) joins the caller of the request's access token, which must be app's. The state it
 * keeps across Argon2 goes into *holder, which the request's state owns (free with
 * srv_as_link_free). Answers. */
struct srv_as_link;
void srv_as_link_password(struct srv_request *rq, const struct store_application *app,
                          const char *email, const char *password, struct srv_as_link **holder);
void srv_as_link_free(struct srv_as_link *k);

/* ---- inside the room: tokens (tokens.c) ---- */

/* The login answer: an access token with the SDKs' claims (user_data, baas_device_id) and,
 * unless link, the session's refresh token as a JWT carrying refresh; {user_id, access_token,
 * refresh_token, device_id}. Reads no store. */
void srv_as_reply_tokens(struct srv_request *rq, const struct store_user *u,
                         const struct store_session *s, const char *refresh,
                         const struct srv_session_roles *roles, int link);
/* A new access token of session s for u (its roles read by the caller): into *out (free()). */
int srv_as_access_token(struct srv_ctx *ctx, const struct store_user *u,
                        const struct store_session *s, const struct srv_session_roles *roles,
                        char **out);

/* A user's call with an access token (profile, delete, linking): the token must verify, name
 * idpd's issuer, be a user's, and its session and user be good; else 401 InvalidSession, which
 * makes the SDKs refresh and retry. Release with srv_as_caller_clear. */
struct srv_as_caller {
    json_t *claims; /* owned */
    const char *user_id, *sid, *client_id;
};
int srv_as_access_or_error(struct srv_request *rq, struct srv_as_caller *out);
void srv_as_caller_clear(struct srv_as_caller *c);

/* A call with a refresh token (the session, API keys): the bearer must be a refresh token of
 * this API whose session is live and whose user is active; else 401 InvalidSession with "invalid
 * session: failed to find refresh token" (the SDKs drop the user's tokens then, and realm-web's
 * logout takes that text as "already gone"). Reads *s and *u (clear u). */
int srv_as_refresh_or_error(struct srv_request *rq, struct store_session *s, struct store_user *u);

#endif
