/* The browser's single sign-on: after a login on the login page the browser holds a cookie whose
 * SHA-256 is the refresh hash of a browser session (store_session.browser), so the sessions
 * index finds it and no cookie value is stored. The cookie is HttpOnly, SameSite=Lax, and on
 * HTTPS Secure with the __Host- prefix (no Domain, Path=/). The forms of the pages carry a CSRF
 * token that must equal a second cookie of the same browser (SameSite=Strict), so another site
 * cannot post them. */
#define LOG_MODULE "browser"

#include <stdio.h>
#include <string.h>

#include "server/pages/pages.h"

static int https(struct srv_request *rq)
{
    return strncmp(srv_rq_ctx(rq)->issuer, "https://", 8) == 0;
}

const char *srv_browser_cookie_name(struct srv_request *rq)
{
    return https(rq) ? "__Host-idpd_session" : "idpd_session";
}

static const char *csrf_cookie_name(struct srv_request *rq)
{
    return https(rq) ? "__Host-idpd_csrf" : "idpd_csrf";
}

/* A Set-Cookie value: name=value with the attributes above; max_age 0 clears it. */
static void cookie(struct srv_request *rq, const char *name, const char *value, int64_t max_age,
                   const char *same_site, char *out, size_t cap)
{
    snprintf(out, cap, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=%s%s", name, value,
             (long long)max_age, same_site, https(rq) ? "; Secure" : "");
}

void srv_browser_cookie(struct srv_request *rq, const char *value, char *out, size_t cap)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    cookie(rq, srv_browser_cookie_name(rq), value ? value : "",
           value ? cfg->session_absolute_ttl : 0, "Lax", out, cap);
}

struct find {
    const char *value;
    struct store_session *s;
    struct store_user *u;
    int64_t now;
    int live;
};

static int find_txn(struct store_txn *txn, void *arg)
{
    struct find *f = arg;
    uint8_t hash[CRYPTO_SHA256_LEN];
    char id[STORE_ID_MAX];
    int superseded = 0;
    crypto_sha256(f->value, strlen(f->value), hash);
    f->live = 0;
    store_user_clear(f->u);
    int rc = store_session_find_refresh(txn, hash, id, &superseded);
    if (rc == STORE_OK && !superseded)
        rc = store_session_get(txn, id, f->s);
    if (rc == STORE_OK && !superseded && f->s->browser && f->s->idle_expires_at > f->now &&
        f->s->absolute_expires_at > f->now) {
        rc = store_user_get(txn, f->s->user_id, f->u);
        f->live = rc == STORE_OK && f->u->status == STORE_USER_ACTIVE;
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int srv_browser_session_get(struct srv_request *rq, struct store_session *s, struct store_user *u,
                            int *signed_in)
{
    const char *value = srv_rq_cookie(rq, srv_browser_cookie_name(rq));
    struct find f = {value, s, u, srv_now(), 0};
    int rc = STORE_OK;
    memset(s, 0, sizeof *s);
    *signed_in = 0;
    if (!value || !*value || strlen(value) >= SRV_REFRESH_LEN)
        return STORE_OK;
    rc = store_read(srv_rq_ctx(rq)->store, find_txn, &f);
    if (rc != STORE_OK || !f.live) {
        store_user_clear(u);
        memset(s, 0, sizeof *s);
        return rc;
    }
    *signed_in = 1;
    return STORE_OK;
}

int srv_browser_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                            struct store_session *s, char cookie[SRV_REFRESH_LEN])
{
    int rc = srv_session_new(rq, user_id, client_id, "pwd", NULL, s, cookie);
    s->browser = 1;
    return rc;
}

struct end_old {
    struct srv_request *rq;
    const struct store_session *old;
    const char *new_id; /* the same user's new browser session, or NULL */
};

static int end_old_txn(struct store_txn *txn, void *arg)
{
    struct end_old *e = arg;
    const struct store_session *s = e->old;
    int rc = STORE_OK;
    if (e->new_id) /* the applications' sessions move to the new login */
        rc = store_session_reparent(txn, s->user_id, s->id, e->new_id);
    if (!rc)
        rc = store_session_delete(txn, s->id);
    if (!rc)
        rc = srv_audit(txn, "session.end", s->user_id, s->id, srv_rq_client_ip(e->rq), 1,
                       "replaced by a new login in the same browser");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

void srv_browser_session_replace(struct srv_request *rq, const struct store_session *fresh)
{
    struct store_session s;
    struct store_user u = {0};
    int live = 0, rc = srv_browser_session_get(rq, &s, &u, &live);
    store_user_clear(&u);
    if (rc != STORE_OK || !live || strcmp(s.id, fresh->id) == 0) {
        if (rc != STORE_OK) /* it stays until it expires or its browser signs out */
            LOG_STORE(rc, "the previous browser session could not be read");
        return;
    }
    struct end_old e = {rq, &s, strcmp(s.user_id, fresh->user_id) == 0 ? fresh->id : NULL};
    rc = store_write(srv_rq_ctx(rq)->store, end_old_txn, &e);
    if (rc != STORE_OK)
        LOG_STORE(rc, "the previous browser session was not ended");
}

/* The browser's CSRF token: its cookie's, or a new one whose Set-Cookie goes into set_cookie
 * ("" when none is needed). */
static int csrf_token(struct srv_request *rq, char token[SRV_REFRESH_LEN], char *set_cookie,
                      size_t cap)
{
    const char *have = srv_rq_cookie(rq, csrf_cookie_name(rq));
    uint8_t raw[32];
    set_cookie[0] = '\0';
    if (have && strlen(have) == SRV_REFRESH_LEN - 1) {
        memcpy(token, have, SRV_REFRESH_LEN);
        return SRV_OK;
    }
    if (crypto_random(raw, sizeof raw) != CRYPTO_OK ||
        crypto_b64url_encode(raw, sizeof raw, token, SRV_REFRESH_LEN, NULL) != CRYPTO_OK)
        return SRV_ERUNTIME;
    /* a day: a form left open overnight still posts */
    cookie(rq, csrf_cookie_name(rq), token, 86400, "Strict", set_cookie, cap);
    return SRV_OK;
}

int srv_html_form(struct srv_request *rq, struct srv_html *h, const char *action)
{
    char token[SRV_REFRESH_LEN];
    if (csrf_token(rq, token, h->csrf_cookie, sizeof h->csrf_cookie) != SRV_OK) {
        srv_html_free(h);
        srv_reply_page_message(rq, 500, "Something went wrong", "No form could be made.");
        return SRV_ERUNTIME;
    }
    srv_html_raw(h, "<form method=\"post\" action=\"%s\">\n", action);
    srv_html_hidden(h, "csrf", token);
    return SRV_OK;
}

int srv_csrf_valid(struct srv_request *rq, const char *form_value)
{
    const char *have = srv_rq_cookie(rq, csrf_cookie_name(rq));
    return have && form_value && strlen(have) == SRV_REFRESH_LEN - 1 &&
           strlen(form_value) == SRV_REFRESH_LEN - 1 &&
           crypto_memeq(have, form_value, SRV_REFRESH_LEN - 1);
}
