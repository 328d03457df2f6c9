/* The consent page: an application that is not first-party shows its user what it asks for
 * before it gets a code. The answer is not remembered: each sign-in through such an application
 * asks again (and prompt=none answers consent_required). Its form posts to POST /consent with
 * the authorization request in hidden fields and a CSRF token; the browser must still be signed
 * in then. */
#include <string.h>
#include <stdlib.h>

#include "server/pages/pages.h"

static const struct {
    const char *scope, *text;
} meanings[] = {
    {"openid", "Confirm who you are"},
    {"profile", "See your name"},
    {"email", "See your email address"},
    {"offline_access", "Keep you signed in"},
};

void srv_reply_consent_page(struct srv_request *rq, const struct srv_authz *a)
{
    struct srv_html h = {0};
    srv_html_raw(&h, "<p><strong>");
    srv_html_text(&h, a->app.name);
    srv_html_raw(&h, "</strong> asks to:</p>\n<ul>\n<li>Sign you in</li>\n");
    for (size_t i = 0; i < sizeof meanings / sizeof meanings[0]; i++) {
        const char *scope = a->scope ? a->scope : "";
        size_t n = strlen(meanings[i].scope);
        for (const char *p = scope; *p;) {
            p += strspn(p, " ");
            size_t len = strcspn(p, " ");
            if (len == n && strncmp(p, meanings[i].scope, n) == 0) {
                srv_html_raw(&h, "<li>");
                srv_html_text(&h, meanings[i].text);
                srv_html_raw(&h, "</li>\n");
                break;
            }
            p += len;
        }
    }
    srv_html_raw(&h, "</ul>\n");
    if (srv_html_form(rq, &h, "/consent") != SRV_OK)
        return;
    srv_authz_hidden(&h, a);
    srv_html_raw(&h, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
                     "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                     "class=\"secondary\">Deny</button>\n</form>\n");
    srv_reply_page(rq, 200, "Allow access?", &h, NULL);
}

void srv_handle_consent(struct srv_request *rq)
{
    struct srv_page_call *call = srv_authz_form_begin_or_answer(rq);
    struct store_session browser;
    struct store_user user = {0};
    if (!call)
        return;
    const char *decision = srv_form_get(&call->form, "decision");
    if (!decision || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0)) {
        srv_reply_page_message(rq, 400, "This form is not valid", "Choose Allow or Deny.");
        return;
    }
    if (strcmp(decision, "deny") == 0) {
        srv_authz_reply_error(rq, call->authz, "access_denied", "the user denied access");
        return;
    }
    int signed_in = 0, rc = srv_browser_session_get(rq, &browser, &user, &signed_in);
    store_user_clear(&user);
    if (rc != STORE_OK) {
        srv_authz_reply_error(rq, call->authz, "temporarily_unavailable",
                              "the sign-in cannot be checked now");
        return;
    }
    if (!signed_in) { /* signed out in another tab meanwhile */
        srv_reply_login_page(rq, call->authz, 200, NULL);
        return;
    }
    srv_authz_issue_code(rq, call->authz, &browser);
}
