/* The device page of device authorization (RFC 8628): the command-line tool got its codes from
 * POST /oauth/device_authorization (oauth/device_authorization.c) and polls the token endpoint
 * (oauth/grant_device.c); the user opens /device in a browser, signs in if needed, enters the
 * code and approves or denies. The page's forms carry a CSRF token. */
#define LOG_MODULE "device"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pages/pages.h"

/* ---- the /device page ---- */

/* Lives on the stack of each POST /device: the page shows the application's name and needs
 * nothing else of its record (38 KB, which stays in storage/). */
struct lookup {
    const char *user_code;
    struct store_device_code *d;
    char app_name[STORE_NAME_MAX];
    uint64_t guesses; /* wrong user codes tried so far, anywhere */
};

static int lookup_txn(struct store_txn *txn, void *arg)
{
    struct lookup *l = arg;
    int rc = store_device_find(txn, l->user_code, l->d);
    if (!rc)
        rc = srv_device_guesses(txn, &l->guesses);
    return rc ? rc : store_app_name_get(txn, l->d->client_id, l->app_name);
}

/* The code form: the user code, and email and password when nobody is signed in. */
static void code_page(struct srv_request *rq, unsigned status, const char *user_code, int signed_in,
                      const char *email, const char *error)
{
    struct srv_html h = {0};
    srv_html_raw(&h, "<p>Enter the code your device shows.</p>\n");
    srv_html_error(&h, error);
    if (srv_html_form(rq, &h, "/device") != SRV_OK)
        return;
    srv_html_raw(&h, "<label for=\"user_code\">Code</label>\n<input id=\"user_code\" "
                     "name=\"user_code\" type=\"text\" autocomplete=\"off\" autocapitalize="
                     "\"characters\" required autofocus value=\"");
    srv_html_text(&h, user_code ? user_code : "");
    srv_html_raw(&h, "\">\n");
    if (!signed_in) {
        srv_html_raw(&h, "<label for=\"email\">Email</label>\n<input id=\"email\" name=\"email\" "
                         "type=\"email\" autocomplete=\"username\" required value=\"");
        srv_html_text(&h, email ? email : "");
        srv_html_raw(&h, "\">\n<label for=\"password\">Password</label>\n<input id=\"password\" "
                         "name=\"password\" type=\"password\" autocomplete=\"current-password\" "
                         "required>\n");
    }
    srv_html_raw(&h, "<button type=\"submit\">Continue</button>\n</form>\n");
    srv_reply_page(rq, status, "Connect a device", &h, NULL);
}

/* Allow or deny, for the signed-in user. set_cookie: the SSO cookie of a login just made. */
static void confirm_page(struct srv_request *rq, const struct lookup *l, const char *set_cookie)
{
    struct srv_html h = {0};
    char shown[SRV_USER_CODE_LEN + 2];
    srv_user_code_display(l->d->user_code, shown);
    srv_html_raw(&h, "<p>Let <strong>");
    srv_html_text(&h, l->app_name);
    srv_html_raw(&h, "</strong> on your device sign you in? Only allow it if your device shows "
                     "<strong>");
    srv_html_text(&h, shown);
    srv_html_raw(&h, "</strong>.</p>\n");
    if (srv_html_form(rq, &h, "/device") != SRV_OK)
        return;
    srv_html_hidden(&h, "user_code", shown);
    srv_html_raw(&h, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
                     "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                     "class=\"secondary\">Deny</button>\n</form>\n");
    const char *headers[] = {"Set-Cookie", set_cookie, NULL};
    srv_reply_page(rq, 200, "Connect a device", &h, set_cookie ? headers : NULL);
}

void srv_handle_device_page(struct srv_request *rq)
{
    struct store_session browser;
    struct store_user user = {0};
    int signed_in = 0, rc = srv_browser_session_get(rq, &browser, &user, &signed_in);
    store_user_clear(&user);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the session cannot be read now");
        return;
    }
    code_page(rq, 200, srv_rq_query(rq, "user_code"), signed_in, NULL, NULL);
}

/* ---- POST /device ---- */

static const char bad_code[] = "That code is not valid or has expired.";

/* The request of the user code with its application: *pending = 1 when it is pending, unexpired
 * and not guessed out. STORE_OK (also when there is no such code), or the store's error: then
 * the code is neither good nor wrong. */
static int find_pending(struct srv_request *rq, struct lookup *l, int *pending)
{
    int rc = store_read(srv_rq_ctx(rq)->store, lookup_txn, l);
    *pending = rc == STORE_OK && l->d->status == STORE_DEVICE_PENDING &&
               l->d->expires_at > srv_now() &&
               !srv_device_guessed_out(srv_rq_ctx(rq)->cfg, l->d, l->guesses);
    return rc == STORE_NOTFOUND || rc == STORE_EINVAL ? STORE_OK : rc;
}

struct wrong_code {
    struct srv_request *rq;
    const struct srv_code_guard *guard;
};

static int wrong_code_txn(struct store_txn *txn, void *arg)
{
    struct wrong_code *w = arg;
    return srv_code_guard_failed_txn(txn, w->rq, w->guard);
}

static void shown_code_page(struct srv_request *rq, unsigned status, const char *error)
{
    struct srv_page_call *call = srv_rq_state(rq);
    char shown[SRV_USER_CODE_LEN + 2];
    srv_user_code_display(call->device->user_code, shown);
    code_page(rq, status, shown, 0, srv_form_get(&call->form, "email"), error);
}

static void refused(struct srv_request *rq)
{
    shown_code_page(rq, 401, srv_page_bad_credentials);
}

static void locked(struct srv_request *rq, int64_t wait)
{
    char why[128];
    snprintf(why, sizeof why, "Too many failed sign-ins. Try again in %lld seconds.",
             (long long)wait);
    shown_code_page(rq, 429, why);
}

static void unavailable(struct srv_request *rq)
{
    shown_code_page(rq, 503, "Signing in is not possible right now. Try again shortly.");
}

static void unverified(struct srv_request *rq)
{
    shown_code_page(rq, 403,
                    "Your email address is not verified yet. Follow the link we mailed "
                    "to it, then sign in.");
}

static int session(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN])
{
    struct srv_page_call *call = srv_rq_state(rq);
    if (srv_browser_session_new(rq, user_id, call->device->client_id, s, refresh) == SRV_OK)
        return SRV_OK;
    unavailable(rq);
    return SRV_ERESPONDED;
}

/* Signed in on the page: the cookie, and the question at once. */
static void done(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh)
{
    struct srv_page_call *call = srv_rq_state(rq);
    char code[STORE_USER_CODE_MAX], cookie[256];
    snprintf(code, sizeof code, "%s", call->device->user_code); /* the lookup clears *device */
    struct lookup l = {.user_code = code, .d = call->device};
    int pending = 0, rc;
    srv_browser_cookie(rq, refresh, cookie, sizeof cookie);
    /* signed in either way: the page that says what went wrong keeps the new cookie */
    if ((rc = find_pending(rq, &l, &pending)) != STORE_OK || !pending) {
        const char *headers[] = {"Set-Cookie", cookie, NULL};
        struct srv_html h = {0};
        if (rc != STORE_OK)
            LOG_STORE(rc, "device request lookup failed");
        srv_html_raw(&h, "<p role=\"alert\">%s</p>\n",
                     rc != STORE_OK ? "The code cannot be checked right now. Try again shortly."
                                    : bad_code);
        srv_reply_page(rq, rc != STORE_OK ? 503 : 400, "Connect a device", &h, headers);
        return;
    }
    confirm_page(rq, &l, cookie);
}

static const struct srv_password_ops ops = {
    .refused = refused,
    .locked = locked,
    .unavailable = unavailable,
    .unverified = unverified,
    .session = session,
    .done = done,
};

struct decide {
    struct srv_request *rq;
    struct store_device_code *d;
    const struct store_session *browser;
    int allow, stale;
};

static int decide_txn(struct store_txn *txn, void *arg)
{
    struct decide *x = arg;
    struct store_device_code now;
    uint64_t guesses = 0;
    int rc = store_device_get(txn, x->d->hash, &now);
    if (rc == STORE_OK)
        rc = srv_device_guesses(txn, &guesses);
    if (rc == STORE_NOTFOUND ||
        (rc == STORE_OK && (now.status != STORE_DEVICE_PENDING || now.expires_at <= srv_now() ||
                            srv_device_guessed_out(srv_rq_ctx(x->rq)->cfg, &now, guesses)))) {
        x->stale = 1;
        return STORE_OK;
    }
    if (rc)
        return rc;
    now.status = x->allow ? STORE_DEVICE_APPROVED : STORE_DEVICE_DENIED;
    snprintf(now.user_id, sizeof now.user_id, "%s", x->browser->user_id);
    now.auth_time = x->browser->created_at;
    rc = store_device_update(txn, &now);
    return rc ? rc
              : srv_audit(txn, x->allow ? "device.approve" : "device.deny", now.user_id,
                          now.client_id, srv_rq_client_ip(x->rq), 1, "device authorization");
}

void srv_handle_device_form(struct srv_request *rq)
{
    struct srv_page_call *call = NULL;
    struct store_session browser;
    struct store_user user = {0};
    char code[STORE_USER_CODE_MAX];
    /* a login or a guess at a user code: the token endpoint's bucket per address guards it */
    if (srv_rate_limited_reply(rq, SRV_RATE_TOKEN) || !(call = srv_page_call_begin_or_error(rq)))
        return;
    if (!srv_csrf_valid(rq, srv_form_get(&call->form, "csrf"))) {
        srv_reply_page_message(rq, 403, "This form has expired", "Open the page again.");
        return;
    }
    int signed_in = 0, pending = 0, rc = srv_browser_session_get(rq, &browser, &user, &signed_in);
    store_user_clear(&user);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the session cannot be read now");
        return;
    }
    const char *typed = srv_form_get(&call->form, "user_code");
    struct lookup l = {.user_code = code};
    if (!(call->device = l.d = calloc(1, sizeof *call->device))) {
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
        return;
    }
    /* Wrong codes wait per address and per browser before any is looked up (RFC 8628 §5.1). */
    struct srv_code_guard guard;
    srv_code_guard_init(&guard, srv_rq_client_ip(rq), srv_form_get(&call->form, "csrf"));
    int64_t wait = 0;
    if ((rc = srv_code_guard_wait(rq, &guard, &wait)) != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the code cannot be checked now");
        return;
    }
    if (wait) {
        char why[128];
        snprintf(why, sizeof why, "Too many wrong codes. Try again in %lld seconds.",
                 (long long)wait);
        code_page(rq, 429, typed, signed_in, srv_form_get(&call->form, "email"), why);
        return;
    }
    if (srv_user_code_normalise(typed, code) && (rc = find_pending(rq, &l, &pending)) != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the code cannot be checked now");
        return;
    }
    if (!pending) {
        /* a wrong code is answered only once counted, as a failed login is */
        struct wrong_code w = {rq, &guard};
        if ((rc = store_write(srv_rq_ctx(rq)->store, wrong_code_txn, &w)) != STORE_OK)
            srv_reply_store_failure(rq, rc, "the code cannot be checked now");
        else
            code_page(rq, 400, typed, signed_in, srv_form_get(&call->form, "email"), bad_code);
        return;
    }
    if (!signed_in) {
        const char *email = srv_form_get(&call->form, "email");
        const char *password = srv_form_get(&call->form, "password");
        if (!email || !password) {
            shown_code_page(rq, 400, "Enter your email and your password.");
            return;
        }
        srv_password_login(rq, &call->login, email, password, &ops);
        return;
    }
    const char *decision = srv_form_get(&call->form, "decision");
    if (!decision) {
        confirm_page(rq, &l, NULL);
        return;
    }
    struct decide x = {rq, l.d, &browser, strcmp(decision, "allow") == 0, 0};
    if (!x.allow && strcmp(decision, "deny") != 0) {
        srv_reply_page_message(rq, 400, "This form is not valid", "Choose Allow or Deny.");
        return;
    }
    rc = store_write(srv_rq_ctx(rq)->store, decide_txn, &x);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "device decision not stored");
        srv_reply_page_message(rq, 503, "That did not work", "Try again shortly.");
    } else if (x.stale) {
        srv_reply_page_message(rq, 400, "Connect a device", bad_code);
    } else if (x.allow) {
        srv_reply_page_message(rq, 200, "Device connected", "You can return to your device.");
    } else {
        srv_reply_page_message(rq, 200, "Device not connected",
                               "The device was not allowed to sign you in.");
    }
}
