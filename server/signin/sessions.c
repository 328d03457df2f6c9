/* User sessions: what a login creates and what a refresh rotates. A session holds the SHA-256 of
 * its current refresh token only; the token itself exists once, in the answer. */
#define LOG_MODULE "sessions"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/signin/signin.h"

/* openid asks for an ID token; profile, email and offline_access are accepted and recorded
 * (every login gets a refresh token, as the SDKs expect). */
int srv_user_scope_check(const char *scope, char *why, size_t cap)
{
    static const char *const known[] = {"openid", "profile", "email", "offline_access"};
    if (!scope)
        return SRV_OK;
    if (strlen(scope) >= STORE_SCOPE_MAX) {
        snprintf(why, cap, "scope is too long");
        return SRV_EINVAL;
    }
    for (const char *p = scope; *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " "), i = 0;
        if (len == 0)
            break;
        for (; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i]) == len && strncmp(known[i], p, len) == 0)
                break;
        if (i == sizeof known / sizeof known[0]) {
            snprintf(why, cap, "scope %.*s is not supported", (int)(len > 64 ? 64 : len), p);
            return SRV_EINVAL;
        }
        p += len;
    }
    return SRV_OK;
}

int srv_user_scope_valid_or_error(struct srv_request *rq, const char *scope)
{
    char why[128];
    if (srv_user_scope_check(scope, why, sizeof why) == SRV_OK)
        return SRV_OK;
    srv_reply_oauth_error(rq, 400, "invalid_scope", "%s", why);
    return SRV_ERESPONDED;
}

int srv_scope_has(const char *scope, const char *value)
{
    size_t vlen = strlen(value);
    for (const char *p = scope; p && *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == vlen && strncmp(p, value, len) == 0)
            return 1;
        p += len;
    }
    return 0;
}

int srv_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                    const char *amr, const char *scope, struct store_session *s,
                    char refresh[SRV_REFRESH_LEN])
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    uint8_t raw[32];
    const char *ua = srv_rq_header(rq, "User-Agent");
    int rc = SRV_ERUNTIME;
    memset(s, 0, sizeof *s);
    if (crypto_id_new("ses", s->id, sizeof s->id) != CRYPTO_OK ||
        crypto_random(raw, sizeof raw) != CRYPTO_OK ||
        crypto_b64url_encode(raw, sizeof raw, refresh, SRV_REFRESH_LEN, NULL) != CRYPTO_OK)
        goto out;
    crypto_sha256(refresh, strlen(refresh), s->refresh_hash);
    snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
    snprintf(s->client_id, sizeof s->client_id, "%s", client_id);
    snprintf(s->amr, sizeof s->amr, "%s", amr);
    /* Stored normalised: each value once, single spaces, as it goes into tokens and answers. */
    for (const char *p = scope ? scope : ""; *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " "), used = strlen(s->scope);
        char value[STORE_SCOPE_MAX];
        snprintf(value, sizeof value, "%.*s", (int)len, p);
        if (len && !srv_scope_has(s->scope, value) && used + len + 2 <= sizeof s->scope)
            snprintf(s->scope + used, sizeof s->scope - used, "%s%s", used ? " " : "", value);
        p += len;
    }
    s->created_at = s->last_used_at = srv_now();
    s->idle_expires_at = s->created_at + cfg->session_idle_ttl;
    s->absolute_expires_at = s->created_at + cfg->session_absolute_ttl;
    if (s->idle_expires_at > s->absolute_expires_at)
        s->idle_expires_at = s->absolute_expires_at;
    snprintf(s->client_ip, sizeof s->client_ip, "%s", srv_rq_client_ip(rq));
    /* A user agent is the client's to say; keep 256 bytes of it if it is text. */
    if (ua && srv_utf8_valid(ua, strlen(ua)))
        snprintf(s->user_agent, sizeof s->user_agent, "%.256s", ua);
    if (!srv_utf8_valid(s->user_agent, strlen(s->user_agent)))
        s->user_agent[0] = '\0'; /* the cut fell inside a character */
    rc = SRV_OK;
out:
    crypto_wipe(raw, sizeof raw);
    return rc;
}

int srv_session_roles_txn(struct store_txn *txn, const char *user_id, struct srv_session_roles *r)
{
    srv_session_roles_clear(r); /* an earlier run of the transaction may have read them */
    return srv_effective_roles(txn, "user", user_id, &r->roles, &r->n);
}

void srv_session_roles_clear(struct srv_session_roles *r)
{
    free(r->roles);
    r->roles = NULL;
    r->n = 0;
}
