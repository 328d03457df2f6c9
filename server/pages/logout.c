/* GET|POST /oauth/logout: OpenID Connect RP-initiated logout 1.0. Ends the browser's session
 * (its SSO cookie) and with it the sessions of the applications that signed in through it, and
 * the session an id_token_hint names; clears the cookie; then sends the browser to a
 * post_logout_redirect_uri the application registered (with state), or shows a page.
 *
 * An id_token_hint is an ID token idpd signed (its expiry does not matter: it only says who
 * asks). Without one, or when it names another user than the browser's, the user confirms on a
 * page first (a form with a CSRF token), so a link on another site cannot sign anyone out. */
#define LOG_MODULE "logout"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pages/pages.h"

struct logout {
    const char *hint, *redirect, *state, *client_id;
    json_t *claims;       /* of the hint, when it verified */
    struct srv_form form; /* POST */
    struct store_application app;
};

static void logout_free(void *state)
{
    struct logout *l = state;
    json_decref(l->claims);
    srv_form_free(&l->form);
    free(l);
}

static const char *param(struct srv_request *rq, struct logout *l, const char *name)
{
    const char *v = strcmp(srv_rq_method(rq), "POST") == 0 ? srv_form_get(&l->form, name)
                                                           : srv_rq_query(rq, name);
    return v && *v ? v : NULL;
}

/* The hint's claims when it is an ID token idpd signed for this issuer, else NULL. */
static json_t *hint_claims(struct srv_ctx *ctx, const char *hint)
{
    char *payload = NULL;
    size_t plen = 0;
    json_t *claims = NULL;
    if (keys_jwt_verify(ctx->keys, hint, strlen(hint), "JWT", &payload, &plen, NULL) == KEYS_OK)
        claims = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    free(payload);
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!json_is_object(claims) || !iss || strcmp(iss, ctx->issuer) != 0 ||
        !json_is_string(json_object_get(claims, "sub")) ||
        !json_is_string(json_object_get(claims, "aud"))) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

static int app_txn(struct store_txn *txn, void *arg)
{
    struct logout *l = arg;
    return store_app_get(txn, l->client_id, &l->app);
}

struct end {
    struct srv_request *rq;
    const char *browser, *sid, *sub;
    size_t ended;
};

static int end_txn(struct store_txn *txn, void *arg)
{
    struct end *e = arg;
    const char *ids[] = {e->browser, e->sid};
    e->ended = 0;
    for (size_t i = 0; i < 2; i++) {
        struct store_session s;
        if (!ids[i] || store_session_get(txn, ids[i], &s) != STORE_OK ||
            (i == 1 && strcmp(s.user_id, e->sub) != 0))
            continue; /* gone already, or not the hint's user's */
        int rc = store_session_delete(txn, s.id);
        if (rc == STORE_OK)
            rc = srv_audit(txn, "session.end", s.user_id, s.id, srv_rq_client_ip(e->rq), 1,
                           "logout");
        if (rc)
            return rc;
        e->ended++;
    }
    return STORE_OK;
}

static void confirm_page(struct srv_request *rq, struct logout *l)
{
    struct srv_html h = {0};
    srv_html_raw(&h, "<p>Do you want to sign out?</p>\n");
    if (srv_html_form(rq, &h, "/oauth/logout") != SRV_OK)
        return;
    srv_html_hidden(&h, "post_logout_redirect_uri", l->redirect);
    srv_html_hidden(&h, "state", l->state);
    srv_html_hidden(&h, "client_id", l->client_id);
    srv_html_raw(&h, "<button type=\"submit\" name=\"confirm\" value=\"yes\">Sign out</button>\n"
                     "</form>\n");
    srv_reply_page(rq, 200, "Sign out", &h, NULL);
}

void srv_handle_logout(struct srv_request *rq)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct logout *l = calloc(1, sizeof *l);
    struct store_session browser;
    struct store_user user = {0};
    char why[128];
    if (!l) {
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
        return;
    }
    srv_rq_set_state(rq, l, logout_free);
    if (strcmp(srv_rq_method(rq), "POST") == 0) {
        size_t len;
        const char *body = srv_rq_body(rq, &len);
        if (srv_form_parse(body, len, &l->form, why, sizeof why) != SRV_OK) {
            srv_reply_page_message(rq, 400, "This sign-out request is not valid", why);
            return;
        }
    }
    l->hint = param(rq, l, "id_token_hint");
    l->redirect = param(rq, l, "post_logout_redirect_uri");
    l->state = param(rq, l, "state");
    l->client_id = param(rq, l, "client_id");
    if (l->hint && !(l->claims = hint_claims(ctx, l->hint))) {
        srv_reply_page_message(rq, 400, "This sign-out link is not valid",
                               "Its id_token_hint is not an ID token of this server.");
        return;
    }
    const char *aud = json_string_value(json_object_get(l->claims, "aud"));
    if (aud && l->client_id && strcmp(aud, l->client_id) != 0) {
        srv_reply_page_message(rq, 400, "This sign-out link is not valid",
                               "client_id and id_token_hint name different applications.");
        return;
    }
    if (aud)
        l->client_id = aud;
    if (l->redirect) {
        int known = 0, rc = STORE_NOTFOUND;
        if (l->client_id && strlen(l->client_id) < STORE_ID_MAX &&
            strncmp(l->client_id, "app_", 4) == 0)
            rc = store_read(ctx->store, app_txn, l);
        if (rc != STORE_OK && rc != STORE_NOTFOUND && rc != STORE_EINVAL) {
            srv_reply_store_failure(rq, rc, "the application cannot be read now");
            return;
        }
        for (size_t i = 0; rc == STORE_OK && i < l->app.npost_logout_uris; i++)
            known |= strcmp(l->app.post_logout_uris[i], l->redirect) == 0;
        if (!known) {
            srv_reply_page_message(rq, 400, "This sign-out link is not valid",
                                   "The address to return to is not registered for the "
                                   "application.");
            return;
        }
    }
    int signed_in = 0, src = srv_browser_session_get(rq, &browser, &user, &signed_in);
    if (src != STORE_OK) { /* whose session the cookie names is unknown: end nothing yet */
        srv_reply_store_failure(rq, src, "the session cannot be read now");
        return;
    }
    const char *sub = json_string_value(json_object_get(l->claims, "sub"));
    int confirmed = strcmp(srv_rq_method(rq), "POST") == 0 &&
                    srv_csrf_valid(rq, srv_form_get(&l->form, "csrf")) &&
                    srv_form_get(&l->form, "confirm");
    int same_user = sub && (!signed_in || strcmp(sub, user.id) == 0);
    store_user_clear(&user);
    if (!confirmed && !same_user && signed_in) {
        confirm_page(rq, l);
        return;
    }
    struct end e = {rq, signed_in ? browser.id : NULL,
                    json_string_value(json_object_get(l->claims, "sid")), sub, 0};
    int rc = store_write(ctx->store, end_txn, &e);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "logout failed");
        srv_reply_page_message(rq, 503, "Signing out did not work", "Try again shortly.");
        return;
    }
    char cookie[256];
    srv_browser_cookie(rq, NULL, cookie, sizeof cookie);
    if (!l->redirect) {
        const char *headers[] = {"Set-Cookie", cookie, NULL};
        struct srv_html h = {0};
        srv_html_raw(&h, "<p role=\"status\">You are signed out.</p>\n");
        srv_reply_page(rq, 200, "Signed out", &h, headers);
        return;
    }
    struct srv_html u = {0};
    srv_html_raw(&u, "%s", l->redirect);
    if (l->state) {
        srv_html_raw(&u, "%cstate=", strchr(l->redirect, '?') ? '&' : '?');
        srv_url_escape(&u, l->state);
    }
    if (u.buf.failed)
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
    else
        srv_reply_redirect(rq, u.buf.data, cookie);
    srv_html_free(&u);
}
