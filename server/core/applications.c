/* Applications (OAuth clients of SDKs and apps): what a valid one holds, checked in one place
 * for the admin API (admin_applications.c) and the command line (cli_application.c). */
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"

const char *const srv_app_grant_types[] = {"authorization_code",
                                           "urn:ietf:params:oauth:grant-type:device_code",
                                           "password",
                                           "refresh_token",
                                           "urn:idpd:grant-type:anonymous",
                                           "urn:idpd:grant-type:api-key",
                                           "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                           NULL};

int srv_app_services_id_valid(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n < STORE_APP_SERVICES_ID_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int grant_known(const char *v)
{
    for (size_t k = 0; srv_app_grant_types[k]; k++)
        if (strcmp(srv_app_grant_types[k], v) == 0)
            return 1;
    return 0;
}

/* Printable ASCII without spaces: what a URI is (RFC 3986 §2; IRIs go percent-encoded). */
static int uri_chars(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}

/* Length of the RFC 3986 scheme at the start of v ("https"), 0 when there is none. */
static size_t scheme_len(const char *v)
{
    size_t i = 0;
    if (!((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z')))
        return 0;
    while ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
           (v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '-' || v[i] == '.')
        i++;
    return v[i] == ':' ? i : 0;
}

int srv_uri_port_valid(const char *uri)
{
    size_t s = scheme_len(uri);
    if (!s || strncmp(uri + s, "://", 3) != 0)
        return 1;
    const char *host = uri + s + 3;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', auth_len);
    if (at) { /* userinfo may hold ':' too */
        auth_len -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    const char *end = host + auth_len, *p = host;
    if (*p == '[') { /* an IPv6 literal holds ':' of its own */
        const char *close = memchr(p, ']', auth_len);
        if (!close)
            return 0;
        p = close + 1;
    } else {
        const char *colon = memchr(p, ':', auth_len);
        p = colon ? colon : end;
    }
    if (p == end)
        return 1;
    if (*p != ':')
        return 0;
    /* RFC 3986 allows an empty port and any number of digits; a port a socket can listen on
     * is 1..65535, and anything else cannot be the address the client means */
    size_t digits = (size_t)(end - p - 1);
    if (digits == 0 || digits > 5 || strspn(p + 1, "0123456789") < digits)
        return 0;
    unsigned port = 0;
    for (size_t i = 1; i <= digits; i++)
        port = port * 10 + (unsigned)(p[i] - '0');
    return port >= 1 && port <= 65535;
}

/* RFC 6749 §3.1.2: an absolute URI without a fragment (custom schemes of native apps allowed),
 * with a port that can exist. */
static int redirect_uri_valid(const char *v)
{
    return uri_chars(v) && scheme_len(v) && !strchr(v, '#') && v[scheme_len(v) + 1] != '\0' &&
           srv_uri_port_valid(v);
}

/* RFC 6454 §6.1 serialisation of an origin, as browsers send it in Origin: scheme "://" host
 * [":" port], scheme and host in lower case, no port when it is the scheme's default. Writes it
 * into out (cap bytes); 0 when v is not scheme://host[:port] or does not fit. */
static int origin_canonical(const char *v, char *out, size_t cap)
{
    size_t s = scheme_len(v), len = strlen(v);
    if (!uri_chars(v) || !s || strncmp(v + s, "://", 3) != 0 || !v[s + 3] ||
        strpbrk(v + s + 3, "/?#@") || len >= cap || !srv_uri_port_valid(v))
        return 0;
    for (size_t i = 0; i <= len; i++)
        out[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
    const char *colon = strrchr(out + s + 3, ':');
    if (colon && !strchr(colon, ']') &&
        ((s == 5 && strncmp(out, "https", 5) == 0 && strcmp(colon, ":443") == 0) ||
         (s == 4 && strncmp(out, "http", 4) == 0 && strcmp(colon, ":80") == 0)))
        out[colon - out] = '\0';
    return 1;
}

int srv_app_add(struct store_application *app, enum srv_app_list list, const char *v, char *why,
                size_t cap)
{
    static const char *const what[] = {"grant type", "redirect URI", "origin",
                                       "post-logout redirect URI"};
    char origin[STORE_ORIGIN_MAX];
    int uris = list == SRV_APP_REDIRECT_URIS || list == SRV_APP_POST_LOGOUT_URIS;
    char *items = list == SRV_APP_GRANTS          ? app->grants[0]
                  : list == SRV_APP_REDIRECT_URIS ? app->redirect_uris[0]
                  : list == SRV_APP_ORIGINS       ? app->origins[0]
                                                  : app->post_logout_uris[0];
    size_t stride = list == SRV_APP_GRANTS ? STORE_GRANT_MAX
                    : uris                 ? STORE_URI_MAX
                                           : STORE_ORIGIN_MAX;
    size_t *n = list == SRV_APP_GRANTS          ? &app->ngrants
                : list == SRV_APP_REDIRECT_URIS ? &app->nredirect_uris
                : list == SRV_APP_ORIGINS       ? &app->norigins
                                                : &app->npost_logout_uris;
    size_t max = list == SRV_APP_GRANTS ? STORE_GRANTS_MAX : STORE_URIS_MAX;
    int ok;
    if (list == SRV_APP_GRANTS) {
        ok = grant_known(v);
    } else if (uris) {
        ok = strlen(v) < STORE_URI_MAX && redirect_uri_valid(v);
    } else {
        ok = origin_canonical(v, origin, sizeof origin);
        v = origin;
    }
    if (!ok) {
        if (list == SRV_APP_GRANTS) {
            size_t used = (size_t)snprintf(why, cap, "not a known grant type (");
            for (size_t k = 0; srv_app_grant_types[k] && used < cap; k++)
                used += (size_t)snprintf(why + used, cap - used, "%s%s", k ? ", " : "",
                                         srv_app_grant_types[k]);
            if (used < cap)
                snprintf(why + used, cap - used, ")");
        } else {
            snprintf(why, cap, "not %s: %s, printable ASCII, at most %d bytes",
                     uris ? "a URI" : "an origin",
                     uris ? "an absolute URI without a fragment, any port 1 to 65535"
                          : "scheme://host[:port], port 1 to 65535",
                     (int)stride - 1);
        }
        return 0;
    }
    for (size_t i = 0; i < *n; i++)
        if (strcmp(items + i * stride, v) == 0)
            return 1;
    if (*n == max) {
        snprintf(why, cap, "at most %zu %ss", max, what[list]);
        return 0;
    }
    memcpy(items + *n * stride, v, strlen(v) + 1);
    (*n)++;
    return 1;
}

int srv_app_check(const struct store_application *app, char *why, size_t cap)
{
    if (!srv_name_valid(app->name)) {
        snprintf(why, cap, "name must be 1 to 256 bytes of text");
        return 0;
    }
    if (app->ngrants == 0) {
        snprintf(why, cap, "an application needs at least one grant type");
        return 0;
    }
    for (size_t i = 0; i < app->ngrants; i++)
        if (strcmp(app->grants[i], "authorization_code") == 0 && app->nredirect_uris == 0) {
            snprintf(why, cap, "authorization_code needs at least one redirect URI");
            return 0;
        }
    return 1;
}

int srv_app_secret_new(const struct crypto_argon2_params *params, struct store_application *app,
                       char secret[SRV_SECRET_LEN])
{
    struct store_secret rec;
    /* Same shape and hashing as a service account's secret; an application has one, which does
     * not expire (the expiry srv_secret_new computes is not kept). */
    int rc = srv_secret_new(params, app->id, SRV_SECRET_HOURS_MAX, &rec, secret);
    if (rc == SRV_OK) {
        memcpy(app->phc, rec.phc, sizeof app->phc);
        memcpy(app->hint, rec.hint, sizeof app->hint);
    }
    crypto_wipe(&rec, sizeof rec);
    return rc;
}
