/* Authorization requests (RFC 6749 §4.1, PKCE RFC 7636, OIDC Core §3.1.2): reading and checking
 * them, the answers they get (a page while the redirect URI is not trusted, a redirect after),
 * and the codes they end in. GET /oauth/authorize is here; the login and consent forms carry
 * the request along in hidden fields (login_page.c, consent.c). */
#define LOG_MODULE "authorize"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pages/pages.h"

const char srv_param_repeated[] = "(repeated)";

#define STATE_MAX 1024   /* bytes of state the client may round-trip */
#define CHALLENGE_LEN 43 /* base64url of a SHA-256 */

static const char *const params[] = {
    "client_id",      "redirect_uri",          "response_type", "scope",      "state",  "nonce",
    "code_challenge", "code_challenge_method", "prompt",        "login_hint", "max_age"};

void srv_url_escape(struct srv_html *u, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            srv_html_raw(u, "%c", *p);
        else
            srv_html_raw(u, "%%%02X", *p);
    }
}

static void url_param(struct srv_html *u, const char *name, const char *value, int *first)
{
    if (!value)
        return;
    srv_html_raw(u, "%c%s=", *first ? '?' : '&', name);
    srv_url_escape(u, value);
    *first = 0;
}

void srv_reply_redirect(struct srv_request *rq, const char *location, const char *set_cookie)
{
    const char *headers[] = {
        "Location", location, "Cache-Control", "no-store", set_cookie ? "Set-Cookie" : NULL,
        set_cookie, NULL};
    srv_reply(rq, 303, "text/plain; charset=utf-8", "", 0, headers);
}

/* The redirect URI with the answer's params added (after its own query, when it has one). */
static void redirect_with(struct srv_request *rq, const struct srv_authz *a, const char *code,
                          const char *error, const char *desc)
{
    struct srv_html u = {0};
    int first = strchr(a->redirect_uri, '?') == NULL;
    srv_html_raw(&u, "%s", a->redirect_uri);
    url_param(&u, "code", code, &first);
    url_param(&u, "error", error, &first);
    url_param(&u, "error_description", desc, &first);
    url_param(&u, "state", a->state, &first);
    url_param(&u, "iss", srv_rq_ctx(rq)->issuer, &first); /* RFC 9207 */
    if (u.buf.failed)
        srv_reply_page_message(rq, 500, "Something went wrong", "The answer could not be made.");
    else
        srv_reply_redirect(rq, u.buf.data, NULL);
    srv_html_free(&u);
}

void srv_authz_reply_error(struct srv_request *rq, const struct srv_authz *a, const char *error,
                           const char *desc)
{
    redirect_with(rq, a, NULL, error, desc);
}

int srv_authz_url(const struct srv_authz *a, int with_prompt, char **out)
{
    struct srv_html u = {0};
    int first = 1;
    srv_html_raw(&u, "/oauth/authorize");
    const char *values[] = {a->client_id,
                            a->redirect_uri,
                            a->response_type,
                            a->scope,
                            a->state,
                            a->nonce,
                            a->code_challenge,
                            a->code_challenge_method,
                            with_prompt ? a->prompt : NULL,
                            a->login_hint,
                            with_prompt ? a->max_age : NULL};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        url_param(&u, params[i], values[i], &first);
    if (u.buf.failed) {
        srv_html_free(&u);
        return SRV_ERUNTIME;
    }
    *out = buf_take(&u.buf, NULL); /* the caller's now */
    return SRV_OK;
}

void srv_authz_hidden(struct srv_html *h, const struct srv_authz *a)
{
    const char *values[] = {
        a->client_id, a->redirect_uri, a->response_type,  a->scope,
        a->state,     a->nonce,        a->code_challenge, a->code_challenge_method,
        a->prompt,    a->login_hint,   a->max_age};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        srv_html_hidden(h, params[i], values[i]);
}

/* RFC 8252 §7.3: a loopback redirect URI matches whatever port the native app listens on. */
static int loopback_rest(const char *uri, const char **rest)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://[::1]", "http://localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(uri, hosts[i], n) != 0 || (uri[n] != ':' && uri[n] != '/' && uri[n] != '\0'))
            continue;
        const char *p = uri + n;
        if (*p == ':')
            p += 1 + strspn(p + 1, "0123456789");
        *rest = p;
        return (int)i + 1;
    }
    return 0;
}

static int redirect_registered(const struct store_application *app, const char *uri)
{
    const char *want_rest, *have_rest;
    int want_host = loopback_rest(uri, &want_rest);
    for (size_t i = 0; i < app->nredirect_uris; i++) {
        if (strcmp(app->redirect_uris[i], uri) == 0)
            return 1;
        if (want_host && loopback_rest(app->redirect_uris[i], &have_rest) == want_host &&
            strcmp(want_rest, have_rest) == 0)
            return 1;
    }
    return 0;
}

static int app_txn(struct store_txn *txn, void *arg)
{
    struct srv_authz *a = arg;
    return store_app_get(txn, a->client_id, &a->app);
}

static int b64url_chars(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* prompt: space-separated none, login, consent; none stands alone (OIDC Core §3.1.2.1). */
static int prompt_valid(const char *prompt)
{
    int n = 0, none = 0;
    for (const char *p = prompt; *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (!len)
            break;
        if (len == 4 && strncmp(p, "none", 4) == 0)
            none = 1;
        else if (!(len == 5 && strncmp(p, "login", 5) == 0) &&
                 !(len == 7 && strncmp(p, "consent", 7) == 0))
            return 0;
        n++;
        p += len;
    }
    return !(none && n > 1);
}

int srv_authz_prompt_has(const struct srv_authz *a, const char *value)
{
    size_t want = strlen(value);
    for (const char *p = a->prompt ? a->prompt : ""; *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == want && strncmp(p, value, len) == 0)
            return 1;
        p += len;
    }
    return 0;
}

int srv_authz_read_or_answer(struct srv_request *rq, struct srv_authz *a, srv_param_fn get,
                             void *src)
{
    const char **fields[] = {
        &a->client_id, &a->redirect_uri, &a->response_type,  &a->scope,
        &a->state,     &a->nonce,        &a->code_challenge, &a->code_challenge_method,
        &a->prompt,    &a->login_hint,   &a->max_age};
    char why[128];
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        const char *v = get(rq, src, params[i]);
        *fields[i] = v && *v ? v : NULL; /* empty = omitted (RFC 6749 §3.1) */
        if (v == SRV_PARAM_REPEATED) {
            srv_reply_page_message(rq, 400, "This sign-in link is not valid",
                                   "A parameter of the request is repeated.");
            return SRV_ERESPONDED;
        }
    }
    /* Until the client and its redirect URI are known good, errors are told here, not sent
     * anywhere (RFC 6749 §4.1.2.1). */
    int rc = STORE_NOTFOUND;
    if (a->client_id && strlen(a->client_id) < STORE_ID_MAX &&
        strncmp(a->client_id, "app_", 4) == 0)
        rc = store_read(srv_rq_ctx(rq)->store, app_txn, a);
    if (rc != STORE_OK && rc != STORE_NOTFOUND && rc != STORE_EINVAL) {
        srv_reply_store_failure(rq, rc, "the application cannot be read now");
        return SRV_ERESPONDED;
    }
    if (rc != STORE_OK) {
        srv_reply_page_message(rq, 400, "This sign-in link is not valid",
                               "The application that sent you here is not known.");
        return SRV_ERESPONDED;
    }
    /* A port that cannot exist (":0", ":99999", an empty one) matches nothing, not even a
     * loopback redirect URI, whose port is otherwise the native app's choice. */
    if (!a->redirect_uri || !srv_uri_port_valid(a->redirect_uri) ||
        !redirect_registered(&a->app, a->redirect_uri)) {
        srv_reply_page_message(rq, 400, "This sign-in link is not valid",
                               "The address to return to is not registered for this application.");
        return SRV_ERESPONDED;
    }
    int grant = 0;
    for (size_t i = 0; i < a->app.ngrants; i++)
        grant |= strcmp(a->app.grants[i], "authorization_code") == 0;
    if (!grant) {
        srv_authz_reply_error(rq, a, "unauthorized_client",
                              "this application may not use the authorization code flow");
        return SRV_ERESPONDED;
    }
    if (!a->response_type || strcmp(a->response_type, "code") != 0) {
        srv_authz_reply_error(rq, a, "unsupported_response_type", "response_type must be code");
        return SRV_ERESPONDED;
    }
    /* Parameters idpd does not implement are refused, never ignored: a client that sent them
     * expects what they mean (a signed request, an answer in a fragment or a POSTed form).
     * request and request_uri have their own errors (RFC 9101 §6.3, OIDC Core §6.1 and §6.2);
     * a response_mode other than query is invalid_request (OAuth 2.0 Multiple Response Type
     * Encoding Practices §2.1). These are not carried in the pages' hidden fields, so only
     * GET /oauth/authorize (or a forged form) can hold them. An empty value counts as omitted
     * (RFC 6749 §3.1). */
    const char *request = get(rq, src, "request"), *request_uri = get(rq, src, "request_uri");
    const char *mode = get(rq, src, "response_mode");
    if (request && *request) {
        srv_authz_reply_error(rq, a, "request_not_supported",
                              "request objects are not supported; send the parameters as such");
        return SRV_ERESPONDED;
    }
    if (request_uri && *request_uri) {
        srv_authz_reply_error(rq, a, "request_uri_not_supported", "request_uri is not supported");
        return SRV_ERESPONDED;
    }
    if (mode && *mode && (mode == SRV_PARAM_REPEATED || strcmp(mode, "query") != 0)) {
        srv_authz_reply_error(rq, a, "invalid_request", "response_mode must be query");
        return SRV_ERESPONDED;
    }
    if (srv_user_scope_check(a->scope, why, sizeof why) != SRV_OK) {
        srv_authz_reply_error(rq, a, "invalid_scope", why);
        return SRV_ERESPONDED;
    }
    if (!a->code_challenge) {
        srv_authz_reply_error(rq, a, "invalid_request", "code_challenge is required (PKCE, S256)");
        return SRV_ERESPONDED;
    }
    if (!a->code_challenge_method || strcmp(a->code_challenge_method, "S256") != 0) {
        srv_authz_reply_error(rq, a, "invalid_request", "code_challenge_method must be S256");
        return SRV_ERESPONDED;
    }
    if (strlen(a->code_challenge) != CHALLENGE_LEN || !b64url_chars(a->code_challenge)) {
        srv_authz_reply_error(rq, a, "invalid_request",
                              "code_challenge must be the base64url SHA-256 of the verifier");
        return SRV_ERESPONDED;
    }
    if ((a->state && strlen(a->state) > STATE_MAX) ||
        (a->nonce && strlen(a->nonce) >= STORE_NONCE_MAX) ||
        (a->login_hint && strlen(a->login_hint) >= STORE_EMAIL_MAX)) {
        srv_authz_reply_error(rq, a, "invalid_request", "state, nonce or login_hint is too long");
        return SRV_ERESPONDED;
    }
    if (a->max_age &&
        (strlen(a->max_age) > 9 || strspn(a->max_age, "0123456789") != strlen(a->max_age))) {
        srv_authz_reply_error(rq, a, "invalid_request", "max_age must be a number of seconds");
        return SRV_ERESPONDED;
    }
    if (a->prompt && !prompt_valid(a->prompt)) {
        srv_authz_reply_error(rq, a, "invalid_request",
                              "prompt must be none, or login and/or consent");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

struct code_args {
    struct store_auth_code code;
};

static int code_txn(struct store_txn *txn, void *arg)
{
    return store_code_insert(txn, &((struct code_args *)arg)->code);
}

void srv_authz_issue_code(struct srv_request *rq, const struct srv_authz *a,
                          const struct store_session *browser)
{
    struct code_args *c = calloc(1, sizeof *c);
    uint8_t raw[32];
    char code[SRV_REFRESH_LEN];
    if (!c || crypto_random(raw, sizeof raw) != CRYPTO_OK ||
        crypto_b64url_encode(raw, sizeof raw, code, sizeof code, NULL) != CRYPTO_OK) {
        free(c);
        srv_authz_reply_error(rq, a, "server_error", "no code could be made");
        return;
    }
    crypto_sha256(code, strlen(code), c->code.hash);
    snprintf(c->code.client_id, sizeof c->code.client_id, "%s", a->client_id);
    snprintf(c->code.redirect_uri, sizeof c->code.redirect_uri, "%s", a->redirect_uri);
    snprintf(c->code.user_id, sizeof c->code.user_id, "%s", browser->user_id);
    snprintf(c->code.browser_session, sizeof c->code.browser_session, "%s", browser->id);
    snprintf(c->code.scope, sizeof c->code.scope, "%s", a->scope ? a->scope : "");
    snprintf(c->code.nonce, sizeof c->code.nonce, "%s", a->nonce ? a->nonce : "");
    snprintf(c->code.code_challenge, sizeof c->code.code_challenge, "%s", a->code_challenge);
    c->code.auth_time = browser->created_at;
    c->code.expires_at = srv_now() + srv_rq_ctx(rq)->cfg->code_ttl;
    int rc = store_write(srv_rq_ctx(rq)->store, code_txn, c);
    free(c);
    crypto_wipe(raw, sizeof raw);
    if (rc != STORE_OK) {
        LOG_STORE(rc, "authorization code not stored");
        srv_authz_reply_error(rq, a, "temporarily_unavailable", "the code could not be stored");
    } else {
        redirect_with(rq, a, code, NULL, NULL);
    }
    crypto_wipe(code, sizeof code);
}

/* ---- the pages' forms ---- */

static const char *form_param(struct srv_request *rq, void *src, const char *name)
{
    return srv_form_get(src, name);
}

struct srv_page_call *srv_authz_form_begin_or_answer(struct srv_request *rq)
{
    /* a login runs Argon2: the token endpoint's bucket per address guards it alike */
    if (srv_rate_limited_reply(rq, SRV_RATE_TOKEN))
        return NULL;
    struct srv_page_call *call = srv_page_call_begin_or_error(rq);
    if (!call)
        return NULL;
    if (!srv_csrf_valid(rq, srv_form_get(&call->form, "csrf"))) {
        srv_reply_page_message(rq, 403, "This form has expired",
                               "Go back to the application and sign in again.");
        return NULL;
    }
    if (!(call->authz = calloc(1, sizeof *call->authz))) {
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
        return NULL;
    }
    if (srv_authz_read_or_answer(rq, call->authz, form_param, &call->form) != SRV_OK)
        return NULL;
    return call;
}

/* ---- GET /oauth/authorize ---- */

static const char *query_param(struct srv_request *rq, void *src, const char *name)
{
    return srv_rq_query_count(rq, name) > 1 ? SRV_PARAM_REPEATED : srv_rq_query(rq, name);
}

static void authz_free(void *state)
{
    struct srv_authz *a = state;
    crypto_wipe(&a->app, sizeof a->app);
    free(a);
}

void srv_authz_continue(struct srv_request *rq, const struct srv_authz *a)
{
    struct store_session browser;
    struct store_user user = {0};
    int signed_in = 0, rc = STORE_OK;
    if (!srv_authz_prompt_has(a, "login"))
        rc = srv_browser_session_get(rq, &browser, &user, &signed_in);
    store_user_clear(&user);
    /* not signed out but unknown: neither the login page nor login_required is the answer */
    if (rc != STORE_OK) {
        LOG_STORE(rc, "browser session lookup failed");
        srv_authz_reply_error(rq, a, "temporarily_unavailable",
                              "the sign-in cannot be checked now");
        return;
    }
    /* OIDC max_age: a login older than that must be made again (the redirect after it drops
     * max_age, as it drops prompt, so the fresh login is not judged again) */
    if (signed_in && a->max_age && srv_now() - browser.created_at > atoll(a->max_age))
        signed_in = 0;
    if (!signed_in) {
        if (srv_authz_prompt_has(a, "none"))
            srv_authz_reply_error(rq, a, "login_required", "no one is signed in");
        else
            srv_reply_login_page(rq, a, 200, NULL);
        return;
    }
    if (a->app.first_party && !srv_authz_prompt_has(a, "consent")) {
        srv_authz_issue_code(rq, a, &browser);
        return;
    }
    if (srv_authz_prompt_has(a, "none")) {
        srv_authz_reply_error(rq, a, "consent_required", "the user must approve this application");
        return;
    }
    srv_reply_consent_page(rq, a);
}

void srv_handle_authorize(struct srv_request *rq)
{
    struct srv_authz *a = calloc(1, sizeof *a);
    if (!a) {
        srv_reply_page_message(rq, 500, "Something went wrong", "Out of memory.");
        return;
    }
    srv_rq_set_state(rq, a, authz_free);
    if (srv_authz_read_or_answer(rq, a, query_param, NULL) != SRV_OK)
        return;
    srv_authz_continue(rq, a);
}
