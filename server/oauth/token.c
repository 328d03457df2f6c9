/* POST /oauth/token (RFC 6749 §4.4 client credentials; RFC 9068 access tokens). */
#define LOG_MODULE "oauth"

#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

/* The requested audience (resource or audience parameter, RFC 8707) must be one of the configured
 * ones or the issuer, which names idpd's own API (/v1, /userinfo, /admin/v1) and is always
 * served; without one the tokens name the first configured (the issuer when none is). Checked for
 * every grant before any work, so a bad one changes nothing. Writes it into aud. */
static int pick_audience_or_error(struct srv_request *rq, const struct srv_form *form, char *aud,
                                  size_t cap)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *list = ctx->cfg->audience[0] ? ctx->cfg->audience : ctx->issuer;
    const char *want = srv_form_get(form, "resource");
    const char *alt = srv_form_get(form, "audience");
    if (want && alt && strcmp(want, alt) != 0) {
        srv_reply_oauth_error(rq, 400, "invalid_target", "resource and audience differ");
        return SRV_ERESPONDED;
    }
    if (!want)
        want = alt;
    if (want && strcmp(want, ctx->issuer) == 0 && strlen(want) < cap) {
        memcpy(aud, want, strlen(want) + 1);
        return SRV_OK;
    }
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && len < cap && (!want || (strlen(want) == len && !strncmp(want, p, len)))) {
            memcpy(aud, p, len);
            aud[len] = '\0';
            return SRV_OK;
        }
        p += len + (comma ? 1 : 0);
    }
    srv_reply_oauth_error(rq, 400, "invalid_target", "the requested audience is not served");
    return SRV_ERESPONDED;
}

/* A scope narrows the token: every requested value must be a role the account holds, and the
 * token then carries only those roles (least privilege for the caller that asks). The scope is
 * normalised: values de-duplicated, in request order, single spaces. */
static int narrow_roles_or_error(struct srv_request *rq, const char *scope,
                                 const struct store_service_account *sa,
                                 char (**roles)[STORE_ROLE_MAX], size_t *nroles, char **normalised)
{
    *roles = NULL;
    *nroles = 0;
    *normalised = NULL;
    if (!scope)
        return SRV_OK;
    *roles = calloc(STORE_ROLES_MAX, sizeof **roles);
    *normalised = calloc(1, strlen(scope) + 1);
    if (!*roles || !*normalised) {
        srv_reply_oauth_error(rq, 500, "server_error", "out of memory");
        goto fail;
    }
    for (const char *p = scope; *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " "), i = 0, k = 0;
        if (len == 0)
            break;
        for (; i < sa->nroles; i++)
            if (strlen(sa->roles[i]) == len && strncmp(sa->roles[i], p, len) == 0)
                break;
        if (i == sa->nroles) {
            srv_reply_oauth_error(rq, 400, "invalid_scope", "scope %.*s is not granted",
                                  (int)(len > 128 ? 128 : len), p);
            goto fail;
        }
        for (; k < *nroles; k++)
            if (strcmp((*roles)[k], sa->roles[i]) == 0)
                break;
        if (k == *nroles) { /* distinct granted roles: at most STORE_ROLES_MAX */
            memcpy((*roles)[(*nroles)++], sa->roles[i], STORE_ROLE_MAX);
            if (**normalised)
                strncat(*normalised, " ", strlen(scope) - strlen(*normalised));
            strncat(*normalised, sa->roles[i], strlen(scope) - strlen(*normalised));
        }
        p += len;
    }
    if (*nroles == 0) { /* only spaces: as if omitted */
        free(*roles);
        free(*normalised);
        *roles = NULL;
        *normalised = NULL;
    }
    return SRV_OK;
fail:
    free(*roles);
    free(*normalised);
    *roles = NULL;
    *normalised = NULL;
    return SRV_ERESPONDED;
}

static void issue_client_credentials(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const struct store_service_account *sa = &call->client.sa;
    char *scope = NULL;
    if (call->client.kind != SRV_CLIENT_SERVICE_ACCOUNT) {
        srv_reply_oauth_error(rq, 400, "unauthorized_client",
                              "client_credentials is for service accounts");
        return;
    }
    char(*narrowed)[STORE_ROLE_MAX] = NULL;
    size_t nnarrowed = 0;
    struct srv_issued_token tok = {0};
    if (narrow_roles_or_error(rq, srv_form_get(&call->form, "scope"), sa, &narrowed, &nnarrowed,
                              &scope) != SRV_OK)
        goto out;
    struct srv_principal p = {
        .sub = sa->id,
        .principal_type = "service_account",
        .client_id = sa->id,
        .scope = scope,
        .audience = call->audience,
        .roles = scope ? narrowed : sa->roles,
        .nroles = scope ? nnarrowed : sa->nroles,
    };
    if (srv_token_issue(ctx, &p, &tok) != SRV_OK) {
        srv_reply_oauth_error(rq, 500, "server_error", "the token could not be signed");
        goto out;
    }
    /* Counted, not written here: an event per token would cost a write each (audit_tally.c). */
    srv_audit_token_issued(ctx, sa->id, srv_rq_client_ip(rq), tok.jti);
    struct srv_jw w = {0};
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "access_token", tok.access_token);
    srv_jw_string(&w, "token_type", "Bearer");
    srv_jw_int(&w, "expires_in", tok.exp - tok.iat);
    if (scope)
        srv_jw_string(&w, "scope", scope);
    srv_jw_close(&w, '}');
    size_t len = 0;
    char *text = srv_jw_finish(&w, &len);
    if (text)
        srv_reply(rq, 200, "application/json", text, len, no_store);
    else
        srv_reply_oauth_error(rq, 500, "server_error", "the answer could not be rendered");
    free(text);
out:
    free(scope);
    free(narrowed);
    free(tok.access_token);
}

void srv_handle_token(struct srv_request *rq)
{
    static const struct {
        const char *grant;
        srv_handler issue;
    } grants[] = {
        {"client_credentials", issue_client_credentials},
        {"authorization_code", srv_grant_code},
        {"urn:ietf:params:oauth:grant-type:device_code", srv_grant_device},
        {"password", srv_grant_password},
        {"refresh_token", srv_grant_refresh},
        {"urn:idpd:grant-type:anonymous", srv_grant_anonymous},
        {"urn:idpd:grant-type:api-key", srv_grant_api_key},
        {"urn:ietf:params:oauth:grant-type:jwt-bearer", srv_grant_jwt_bearer},
    };
    if (srv_rate_limited_reply(rq, SRV_RATE_TOKEN))
        return;
    struct srv_oauth_call *call = srv_oauth_call_begin_or_error(rq);
    if (!call)
        return;
    const char *grant = srv_form_get(&call->form, "grant_type");
    if (!grant) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "grant_type is required");
        return;
    }
    for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++) {
        if (strcmp(grant, grants[i].grant) == 0) {
            if (pick_audience_or_error(rq, &call->form, call->audience, sizeof call->audience) !=
                SRV_OK)
                return;
            srv_client_authenticate(rq, grants[i].issue);
            return;
        }
    }
    srv_reply_oauth_error(rq, 400, "unsupported_grant_type", "grant_type %.64s is not supported",
                          grant);
}
