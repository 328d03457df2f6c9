/* The pages mailed links open: /verify-email (an address verified, or changed) and
 * /reset-password (a new password). What a link does is recovery.c's, shared with the API.
 *
 * Opening a link changes nothing: the page asks for one click (or the new password) and the
 * change happens on the POST, with the page's CSRF token. Mail scanners and link previews fetch
 * links on their own; a GET that used the link up would spend it before its owner clicked. */
#define LOG_MODULE "pages"

#include <stdlib.h>
#include <string.h>

#include "server/pages/pages.h"

static const char bad_link[] =
    "This link is not valid any more: it was used, it expired, or a newer one was sent.";

/* The token of a link as sent: one shape, so nothing else is echoed into a page. */
static const char *token_of(const char *t)
{
    return t && strlen(t) == SRV_REFRESH_LEN - 1 &&
                   strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                       SRV_REFRESH_LEN - 1
               ? t
               : NULL;
}

/* A form that posts the token to action with a button, and fields when with_password. */
static void link_form(struct srv_request *rq, unsigned status, const char *title, const char *lead,
                      const char *action, const char *token, int with_password, const char *error)
{
    struct srv_html h = {0};
    srv_html_raw(&h, "<p>");
    srv_html_text(&h, lead);
    srv_html_raw(&h, "</p>\n");
    srv_html_error(&h, error);
    if (srv_html_form(rq, &h, action) != SRV_OK)
        return;
    srv_html_hidden(&h, "token", token);
    if (with_password)
        srv_html_raw(&h, "<label for=\"password\">New password</label>\n<input id=\"password\" "
                         "name=\"password\" type=\"password\" autocomplete=\"new-password\" "
                         "minlength=\"8\" required autofocus>\n<label for=\"confirm\">The same "
                         "password again</label>\n<input id=\"confirm\" name=\"confirm\" "
                         "type=\"password\" autocomplete=\"new-password\" minlength=\"8\" "
                         "required>\n<button type=\"submit\">Set the new password</button>\n");
    else
        srv_html_raw(&h, "<button type=\"submit\">Confirm my address</button>\n");
    srv_html_raw(&h, "</form>\n");
    srv_reply_page(rq, status, title, &h, NULL);
}

/* ---- /verify-email ---- */

void srv_handle_verify_email_page(struct srv_request *rq)
{
    const char *token = token_of(srv_rq_query(rq, "token"));
    if (!token) {
        srv_reply_page_message(rq, 400, "Confirm your email address", bad_link);
        return;
    }
    link_form(rq, 200, "Confirm your email address",
              "Confirm that this address is yours to finish.", "/verify-email", token, 0, NULL);
}

struct follow {
    struct srv_request *rq;
    const char *token;
};

static int follow_txn(struct store_txn *txn, void *arg)
{
    struct follow *f = arg;
    return srv_verify_apply_txn(txn, f->rq, f->token);
}

void srv_handle_verify_email_form(struct srv_request *rq)
{
    struct srv_form form = {0};
    if (srv_form_parse_or_error(rq, &form) != SRV_OK)
        return;
    if (!srv_csrf_valid(rq, srv_form_get(&form, "csrf"))) {
        srv_reply_page_message(rq, 403, "This form has expired", "Open the link again.");
        goto out;
    }
    struct follow f = {rq, token_of(srv_form_get(&form, "token"))};
    int rc = f.token ? store_write(srv_rq_ctx(rq)->store, follow_txn, &f) : STORE_NOTFOUND;
    if (rc == STORE_OK) {
        srv_mailer_wake(srv_rq_ctx(rq));
        srv_reply_page_message(rq, 200, "Address confirmed",
                               "Thank you: your email address is confirmed.");
    } else if (rc == STORE_NOTFOUND) {
        srv_reply_page_message(rq, 400, "Confirm your email address", bad_link);
    } else if (rc == STORE_EXISTS) {
        srv_reply_page_message(rq, 409, "Confirm your email address",
                               "This address belongs to another account by now; nothing changed.");
    } else {
        srv_reply_store_failure(rq, rc, "the address cannot be confirmed now");
    }
out:
    srv_form_free(&form);
}

/* ---- /reset-password ---- */

static const char reset_title[] = "Choose a new password";
static const char reset_lead[] = "Choose a new password for your account. Every device signed in "
                                 "to it will be signed out.";

/* Answers a link that cannot be used, or a store that cannot say: 1 when it answered. */
static int bad_reset_link(struct srv_request *rq, const char *token)
{
    int rc = token ? srv_reset_link_check(rq, token) : STORE_NOTFOUND;
    if (rc == STORE_OK)
        return 0;
    if (rc == STORE_NOTFOUND)
        srv_reply_page_message(rq, 400, reset_title, bad_link);
    else
        srv_reply_store_failure(rq, rc, "the link cannot be checked now");
    return 1;
}

void srv_handle_reset_password_page(struct srv_request *rq)
{
    const char *token = token_of(srv_rq_query(rq, "token"));
    if (bad_reset_link(rq, token))
        return;
    link_form(rq, 200, reset_title, reset_lead, "/reset-password", token, 1, NULL);
}

struct reset {
    struct srv_form form;
    struct srv_reset reset;
};

static void reset_free(void *state)
{
    struct reset *r = state;
    if (!r)
        return;
    srv_form_free(&r->form);
    crypto_wipe(r, sizeof *r);
    free(r);
}

static void hash_work(struct srv_request *rq)
{
    struct reset *r = srv_rq_state(rq);
    srv_reset_hash(rq, &r->reset);
}

static void after_hash(struct srv_request *rq)
{
    struct reset *r = srv_rq_state(rq);
    int rc = srv_reset_apply(rq, &r->reset);
    if (rc == STORE_OK)
        srv_reply_page_message(rq, 200, "Password changed",
                               "Your password was changed and every device signed out. Sign in "
                               "with the new password.");
    else if (rc == STORE_NOTFOUND)
        srv_reply_page_message(rq, 400, reset_title, bad_link);
    else
        srv_reply_store_failure(rq, rc, "the password cannot be saved now");
}

void srv_handle_reset_password_form(struct srv_request *rq)
{
    struct reset *r = calloc(1, sizeof *r);
    if (!r) {
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
        return;
    }
    srv_rq_set_state(rq, r, reset_free);
    if (srv_form_parse_or_error(rq, &r->form) != SRV_OK)
        return;
    if (!srv_csrf_valid(rq, srv_form_get(&r->form, "csrf"))) {
        srv_reply_page_message(rq, 403, "This form has expired", "Open the link again.");
        return;
    }
    r->reset.token = token_of(srv_form_get(&r->form, "token"));
    r->reset.password = srv_form_get(&r->form, "password");
    const char *confirm = srv_form_get(&r->form, "confirm");
    if (bad_reset_link(rq, r->reset.token))
        return;
    /* the rules of registration (NIST SP 800-63B: length, no composition rules) */
    const char *error = NULL;
    if (!r->reset.password || !srv_password_valid(r->reset.password))
        error = "The password must be at least 8 characters long (and at most 1024 bytes).";
    else if (!confirm || strcmp(confirm, r->reset.password) != 0)
        error = "The two passwords are not the same.";
    if (error) {
        link_form(rq, 400, reset_title, reset_lead, "/reset-password", r->reset.token, 1, error);
        return;
    }
    srv_defer(rq, hash_work, after_hash);
}
