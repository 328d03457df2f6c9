/* server/pages/: the browser's pages: /oauth/authorize with its login and consent pages,
 * logout, the device page, the browser's single sign-on session and the pages' CSRF tokens.
 * Includes signin, http and core. */
#ifndef IDPD_SERVER_PAGES_H
#define IDPD_SERVER_PAGES_H

#include "server/signin/signin.h"

/* ---- what the room offers the others: its routes (server/routes.c) ---- */

void srv_handle_authorize(struct srv_request *rq);
void srv_handle_login(struct srv_request *rq);
void srv_handle_consent(struct srv_request *rq);
void srv_handle_logout(struct srv_request *rq);
void srv_handle_device_page(struct srv_request *rq);
void srv_handle_device_form(struct srv_request *rq);
void srv_handle_verify_email_page(struct srv_request *rq);
void srv_handle_verify_email_form(struct srv_request *rq);
void srv_handle_reset_password_page(struct srv_request *rq);
void srv_handle_reset_password_form(struct srv_request *rq);

/* ---- inside the room ---- */

/* One posted page form, kept across the Argon2 suspension of a sign-in: the form, the sign-in,
 * and the request the page acts for. */
struct srv_page_call {
    struct srv_form form;
    struct srv_login login;
    struct srv_authz *authz;          /* the login and consent forms: their authorization request */
    struct store_device_code *device; /* the device page: the request it approves */
};
/* Parses the posted form into a call owned by rq (srv_rq_state). NULL when it answered an error
 * (as the token endpoint would: invalid_request). */
struct srv_page_call *srv_page_call_begin_or_error(struct srv_request *rq);

/* ---- authorization requests (authorize.c, login_page.c, consent.c) ---- */

/* An authorization request (RFC 6749 §4.1.1, PKCE, OIDC Core §3.1.2.1) as GET /oauth/authorize
 * takes it and the login and consent forms carry it. The strings are borrowed from the query or
 * form; app is the client's record. */
struct srv_authz {
    const char *client_id, *redirect_uri, *response_type, *scope, *state, *nonce, *code_challenge,
        *code_challenge_method, *prompt, *login_hint, *max_age;
    struct store_application app;
};
/* A source of request parameters: the value of name, NULL when absent, or SRV_PARAM_REPEATED. */
typedef const char *(*srv_param_fn)(struct srv_request *rq, void *src, const char *name);
extern const char srv_param_repeated[];
#define SRV_PARAM_REPEATED srv_param_repeated
/* Reads and checks a request: SRV_OK to go on; SRV_ERESPONDED when it answered, with a page
 * while the client or its redirect URI is not trusted, afterwards with a redirect carrying
 * error, error_description, state and iss. */
int srv_authz_read_or_answer(struct srv_request *rq, struct srv_authz *a, srv_param_fn get,
                             void *src);
/* The start of POST /login and POST /consent: the form, its CSRF token, and the authorization
 * request it carries, read and checked into call->authz. NULL when it answered. */
struct srv_page_call *srv_authz_form_begin_or_answer(struct srv_request *rq);
/* 1 when the request's prompt holds value ("none", "login", "consent"). */
int srv_authz_prompt_has(const struct srv_authz *a, const char *value);
/* What a checked request gets next: the login page, the consent page, or a code. */
void srv_authz_continue(struct srv_request *rq, const struct srv_authz *a);
/* Redirects with an error (RFC 6749 §4.1.2.1) / with a new code bound to the browser session. */
void srv_authz_reply_error(struct srv_request *rq, const struct srv_authz *a, const char *error,
                           const char *desc);
void srv_authz_issue_code(struct srv_request *rq, const struct srv_authz *a,
                          const struct store_session *browser);
/* The request as hidden fields of a form; as a /oauth/authorize URL (malloc'd), prompt and
 * max_age left out unless with_prompt. */
void srv_authz_hidden(struct srv_html *h, const struct srv_authz *a);
int srv_authz_url(const struct srv_authz *a, int with_prompt, char **out);
/* Appends s percent-encoded (all but RFC 3986 unreserved characters), for a URL's query. */
void srv_url_escape(struct srv_html *u, const char *s);
/* 303 See Other to location, no-store, with a Set-Cookie value when set_cookie is not NULL. */
void srv_reply_redirect(struct srv_request *rq, const char *location, const char *set_cookie);
/* The login page of the request (login_page.c); error (may be NULL) is shown above the form. */
void srv_reply_login_page(struct srv_request *rq, const struct srv_authz *a, unsigned status,
                          const char *error);
/* The one message every page shows for a wrong email or password. */
extern const char srv_page_bad_credentials[];
/* The consent page of the request (consent.c). */
void srv_reply_consent_page(struct srv_request *rq, const struct srv_authz *a);

/* ---- the browser's single sign-on and the pages' CSRF tokens (browser_session.c) ---- */

/* The SSO cookie's name: __Host-idpd_session on HTTPS, idpd_session on plain HTTP. */
const char *srv_browser_cookie_name(struct srv_request *rq);
/* *signed_in = 1 when the request's SSO cookie names a live browser session of an active user:
 * fills s and u (clear u with store_user_clear()); 0 otherwise (s and u empty). STORE_OK, or the
 * store's error when the session could not be read: nothing is known then, which a page must not
 * take for signed out (it answers 503, or redirects with temporarily_unavailable). */
int srv_browser_session_get(struct srv_request *rq, struct store_session *s, struct store_user *u,
                            int *signed_in);
/* Fills a new browser session of user_id, signed in through client_id with a password, and
 * its cookie's value (the session's "refresh token"). Writes nothing. */
int srv_browser_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                            struct store_session *s, char cookie[SRV_REFRESH_LEN]);
/* A new login (fresh, stored) replaces the browser session the request's cookie still names:
 * that one ends. Another user's takes the sessions made through it along; the same user's
 * (prompt=login) hands them to fresh, so signing in again signs no application out. */
void srv_browser_session_replace(struct srv_request *rq, const struct store_session *fresh);
/* The Set-Cookie value that gives the browser its session secret value, or clears it (NULL). */
void srv_browser_cookie(struct srv_request *rq, const char *value, char *out, size_t cap);
/* Opens <form method="post" action=action> carrying the browser's CSRF token: its cookie's, or
 * a new one whose Set-Cookie goes into h->csrf_cookie for srv_reply_page(). SRV_OK; otherwise
 * it answered a 500 page and freed h. */
int srv_html_form(struct srv_request *rq, struct srv_html *h, const char *action);
/* 1 when form_value equals the browser's CSRF cookie (constant time). */
int srv_csrf_valid(struct srv_request *rq, const char *form_value);

#endif
