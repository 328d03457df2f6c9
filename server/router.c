/* The static route table. tests/unit/test_server.c checks it against openapi/openapi.yaml. */
#include <string.h>

#include "server/internal.h"

const struct srv_route srv_route_table[] = {
    {"GET", "/.well-known/openid-configuration", SRV_AUTH_NONE, srv_handle_discovery},
    {"GET", "/.well-known/oauth-authorization-server", SRV_AUTH_NONE, srv_handle_discovery},
    {"GET", "/jwks", SRV_AUTH_NONE, srv_handle_jwks},
    {"GET", "/healthz", SRV_AUTH_NONE, srv_handle_healthz},
    {"GET", "/readyz", SRV_AUTH_NONE, srv_handle_readyz},
    {"GET", "/oauth/authorize", SRV_AUTH_PAGE, srv_handle_authorize},
    {"POST", "/login", SRV_AUTH_PAGE, srv_handle_login},
    {"POST", "/consent", SRV_AUTH_PAGE, srv_handle_consent},
    {"GET", "/oauth/logout", SRV_AUTH_PAGE, srv_handle_logout},
    {"POST", "/oauth/logout", SRV_AUTH_PAGE, srv_handle_logout},
    {"POST", "/oauth/token", SRV_AUTH_CLIENT, srv_handle_token},
    {"POST", "/oauth/device_authorization", SRV_AUTH_CLIENT, srv_handle_device_authorization},
    {"GET", "/device", SRV_AUTH_PAGE, srv_handle_device_page},
    {"POST", "/device", SRV_AUTH_PAGE, srv_handle_device_form},
    {"POST", "/oauth/introspect", SRV_AUTH_CLIENT, srv_handle_introspect},
    {"POST", "/oauth/revoke", SRV_AUTH_CLIENT, srv_handle_revoke},
    {"GET", "/userinfo", SRV_AUTH_BEARER, srv_handle_userinfo},
    {"POST", "/userinfo", SRV_AUTH_BEARER, srv_handle_userinfo},
    {"POST", "/v1/register", SRV_AUTH_NONE, srv_handle_register},
    {"GET", "/v1/me", SRV_AUTH_BEARER, srv_handle_me},
    {"GET", "/v1/me/sessions", SRV_AUTH_BEARER, srv_handle_me_sessions},
    {"DELETE", "/v1/me/sessions/{sid}", SRV_AUTH_BEARER, srv_handle_me_session_delete},
    {"POST", "/v1/me/password", SRV_AUTH_BEARER, srv_handle_me_password},
    {"POST", "/v1/me/identities", SRV_AUTH_BEARER, srv_handle_me_link},
    {"DELETE", "/v1/me/identities/{id}", SRV_AUTH_BEARER, srv_handle_me_unlink},
    {"GET", "/admin/v1/users", SRV_AUTH_BEARER, srv_admin_users_list},
    {"POST", "/admin/v1/users", SRV_AUTH_BEARER, srv_admin_users_create},
    {"GET", "/admin/v1/users/{id}", SRV_AUTH_BEARER, srv_admin_users_get},
    {"PATCH", "/admin/v1/users/{id}", SRV_AUTH_BEARER, srv_admin_users_patch},
    {"DELETE", "/admin/v1/users/{id}", SRV_AUTH_BEARER, srv_admin_users_delete},
    {"POST", "/admin/v1/users/{id}/disable", SRV_AUTH_BEARER, srv_admin_users_disable},
    {"POST", "/admin/v1/users/{id}/enable", SRV_AUTH_BEARER, srv_admin_users_enable},
    {"GET", "/admin/v1/users/{id}/sessions", SRV_AUTH_BEARER, srv_admin_users_sessions},
    {"DELETE", "/admin/v1/users/{id}/sessions", SRV_AUTH_BEARER, srv_admin_users_sessions_delete},
    {"GET", "/admin/v1/users/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_get},
    {"PUT", "/admin/v1/users/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_put},
    {"DELETE", "/admin/v1/sessions/{sid}", SRV_AUTH_BEARER, srv_admin_session_delete},
    {"GET", "/admin/v1/teams", SRV_AUTH_BEARER, srv_admin_teams_list},
    {"POST", "/admin/v1/teams", SRV_AUTH_BEARER, srv_admin_teams_create},
    {"GET", "/admin/v1/teams/{id}", SRV_AUTH_BEARER, srv_admin_teams_get},
    {"PATCH", "/admin/v1/teams/{id}", SRV_AUTH_BEARER, srv_admin_teams_patch},
    {"DELETE", "/admin/v1/teams/{id}", SRV_AUTH_BEARER, srv_admin_teams_delete},
    {"GET", "/admin/v1/teams/{id}/members", SRV_AUTH_BEARER, srv_admin_teams_members},
    {"PUT", "/admin/v1/teams/{id}/members/{user_id}", SRV_AUTH_BEARER, srv_admin_teams_member_put},
    {"DELETE", "/admin/v1/teams/{id}/members/{user_id}", SRV_AUTH_BEARER,
     srv_admin_teams_member_delete},
    {"GET", "/admin/v1/teams/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_get},
    {"PUT", "/admin/v1/teams/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_put},
    {"GET", "/admin/v1/service-accounts", SRV_AUTH_BEARER, srv_admin_sa_list},
    {"POST", "/admin/v1/service-accounts", SRV_AUTH_BEARER, srv_admin_sa_create},
    {"GET", "/admin/v1/service-accounts/{id}", SRV_AUTH_BEARER, srv_admin_sa_get},
    {"PATCH", "/admin/v1/service-accounts/{id}", SRV_AUTH_BEARER, srv_admin_sa_patch},
    {"DELETE", "/admin/v1/service-accounts/{id}", SRV_AUTH_BEARER, srv_admin_sa_delete},
    {"GET", "/admin/v1/service-accounts/{id}/secrets", SRV_AUTH_BEARER, srv_admin_sa_secrets},
    {"POST", "/admin/v1/service-accounts/{id}/secrets", SRV_AUTH_BEARER,
     srv_admin_sa_secret_create},
    {"DELETE", "/admin/v1/service-accounts/{id}/secrets/{secret_id}", SRV_AUTH_BEARER,
     srv_admin_sa_secret_delete},
    {"GET", "/admin/v1/service-accounts/{id}/access-list", SRV_AUTH_BEARER, srv_admin_sa_acl_get},
    {"PUT", "/admin/v1/service-accounts/{id}/access-list", SRV_AUTH_BEARER, srv_admin_sa_acl_put},
    {"GET", "/admin/v1/service-accounts/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_get},
    {"PUT", "/admin/v1/service-accounts/{id}/roles", SRV_AUTH_BEARER, srv_admin_roles_put},
    {"GET", "/admin/v1/applications", SRV_AUTH_BEARER, srv_admin_apps_list},
    {"POST", "/admin/v1/applications", SRV_AUTH_BEARER, srv_admin_apps_create},
    {"GET", "/admin/v1/applications/{id}", SRV_AUTH_BEARER, srv_admin_apps_get},
    {"PATCH", "/admin/v1/applications/{id}", SRV_AUTH_BEARER, srv_admin_apps_patch},
    {"DELETE", "/admin/v1/applications/{id}", SRV_AUTH_BEARER, srv_admin_apps_delete},
    {"GET", "/admin/v1/keys", SRV_AUTH_BEARER, srv_admin_keys_list},
    {"POST", "/admin/v1/keys/rotate", SRV_AUTH_BEARER, srv_admin_keys_rotate},
    {"GET", "/admin/v1/audit-events", SRV_AUTH_BEARER, srv_admin_audit_list},
};
const size_t srv_route_count = sizeof srv_route_table / sizeof srv_route_table[0];

/* A "{name}" segment of the pattern matches one non-empty path segment. */
static int path_matches(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            if (!close || *path == '/')
                return 0;
            while (*path && *path != '/')
                path++;
            pattern = close + 1;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

/* HEAD is answered wherever GET is (libmicrohttpd leaves the body out). */
const struct srv_route *srv_route_find(const char *method, const char *path, int *path_known)
{
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    *path_known = 0;
    for (size_t i = 0; i < srv_route_count; i++) {
        if (!path_matches(srv_route_table[i].path, path))
            continue;
        if (strcmp(srv_route_table[i].method, method) == 0)
            return &srv_route_table[i];
        *path_known = 1;
    }
    return NULL;
}

void srv_route_allow(const char *path, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < srv_route_count; i++) {
        if (!path_matches(srv_route_table[i].path, path))
            continue;
        const char *m = srv_route_table[i].method;
        int n = snprintf(buf + used, cap - used, "%s%s%s", used ? ", " : "", m,
                         strcmp(m, "GET") == 0 ? ", HEAD" : "");
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}

int srv_route_at(size_t i, const char **method, const char **path)
{
    if (i >= srv_route_count)
        return 0;
    *method = srv_route_table[i].method;
    *path = srv_route_table[i].path;
    return 1;
}

int srv_route_param(const char *pattern, const char *path, size_t n, char *out, size_t cap)
{
    size_t seen = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            size_t len = strcspn(path, "/");
            if (!close)
                return 0;
            if (seen++ == n) {
                if (len == 0 || len >= cap)
                    return 0;
                memcpy(out, path, len);
                out[len] = '\0';
                return 1;
            }
            path += len;
            pattern = close + 1;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return 0;
}
