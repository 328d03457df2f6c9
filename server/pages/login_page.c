/* The login page: server-rendered HTML, no JavaScript. GET /oauth/authorize shows it; its form
 * posts to POST /login with the authorization request in hidden fields and a CSRF token. A good
 * email and password start a browser session (the SSO cookie) and send the browser back to
 * /oauth/authorize, which then issues the code; a bad one shows the form again with one generic
 * message. The password check is the password grant's (password_login.c): same Argon2 cost for
 * unknown emails, same lockout. */
#define LOG_MODULE "login"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pages/pages.h"

const char srv_page_bad_credentials[] = "The email or password is not right.";

void srv_reply_login_page(struct srv_request *rq, const struct srv_authz *a, unsigned status,
                          const char *error)
{
    struct srv_html h = {0};
    srv_html_raw(&h, "<p>to continue to <strong>");
    srv_html_text(&h, a->app.name);
    srv_html_raw(&h, "</strong></p>\n");
    srv_html_error(&h, error);
    if (srv_html_form(rq, &h, "/login") != SRV_OK)
        return;
    srv_authz_hidden(&h, a);
    srv_html_raw(&h,
                 "<label for=\"email\">Email</label>\n"
                 "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" "
                 "required autofocus%s value=\"",
                 error ? " aria-describedby=\"error\"" : "");
    srv_html_text(&h, a->login_hint ? a->login_hint : "");
    srv_html_raw(&h, "\">\n<label for=\"password\">Password</label>\n"
                     "<input id=\"password\" name=\"password\" type=\"password\" "
                     "autocomplete=\"current-password\" required>\n"
                     "<button type=\"submit\">Sign in</button>\n</form>\n");
    srv_reply_page(rq, status, "Sign in", &h, NULL);
}

/* ---- POST /login ---- */

/* The form's parameters, with the authorization request among them. */

static struct srv_authz *authz_of(struct srv_request *rq)
{
    return ((struct srv_page_call *)srv_rq_state(rq))->authz;
}

static void refused(struct srv_request *rq)
{
    srv_reply_login_page(rq, authz_of(rq), 401, srv_page_bad_credentials);
}

static void locked(struct srv_request *rq, int64_t wait)
{
    char why[128];
    snprintf(why, sizeof why, "Too many failed sign-ins. Try again in %lld seconds.",
             (long long)wait);
    srv_reply_login_page(rq, authz_of(rq), 429, why);
}

static void unavailable(struct srv_request *rq)
{
    srv_reply_login_page(rq, authz_of(rq), 503,
                         "Signing in is not possible right now. Try again shortly.");
}

static void unverified(struct srv_request *rq)
{
    srv_reply_login_page(rq, authz_of(rq), 403,
                         "Your email address is not verified yet. Follow the link we mailed to "
                         "it, then sign in.");
}

/* A browser session: its "refresh token" is the cookie's value. */
static int session(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN])
{
    struct srv_authz *a = authz_of(rq);
    if (srv_browser_session_new(rq, user_id, a->client_id, s, refresh) == SRV_OK)
        return SRV_OK;
    unavailable(rq);
    return SRV_ERESPONDED;
}

/* Signed in: the cookie, and back to /oauth/authorize, which issues the code (or asks for
 * consent). prompt is dropped: the login it may have asked for just happened. */
static void done(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh)
{
    char cookie[256], *url = NULL;
    srv_browser_session_replace(rq, s);
    srv_browser_cookie(rq, refresh, cookie, sizeof cookie);
    if (srv_authz_url(authz_of(rq), 0, &url) != SRV_OK) {
        unavailable(rq);
        return;
    }
    srv_reply_redirect(rq, url, cookie);
    free(url);
}

static const struct srv_password_ops ops = {
    .refused = refused,
    .locked = locked,
    .unavailable = unavailable,
    .unverified = unverified,
    .session = session,
    .done = done,
};

void srv_handle_login(struct srv_request *rq)
{
    struct srv_page_call *call = srv_authz_form_begin_or_answer(rq);
    if (!call)
        return;
    const char *email = srv_form_get(&call->form, "email");
    const char *password = srv_form_get(&call->form, "password");
    if (email && strlen(email) < STORE_EMAIL_MAX)
        call->authz->login_hint = email; /* a page shown again keeps what was typed */
    if (!email || !password) {
        srv_reply_login_page(rq, call->authz, 400, "Enter your email and your password.");
        return;
    }
    srv_password_login(rq, &call->login, email, password, &ops);
}
