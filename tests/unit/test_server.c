/* Unit tests for server/: the route table against openapi/openapi.yaml (both directions), then
 * the pure helpers of the rooms of server/ (routing, form decoding, UTF-8, role and name rules). */
#include "server/server.h"
#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"
#include "harness.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the OpenAPI scanner ---- */

#define MAX_OPS 256

struct op {
    char method[8]; /* "GET" */
    char path[256];
};

struct spec {
    size_t n;
    struct op ops[MAX_OPS];
    int paths_seen; /* a "paths:" line was found */
    char error[256];
};

/* The repository root, from this file's path as the compiler saw it: CMake passes an absolute
 * source path, so ".../tests/unit/test_server.c" minus its tail is the checkout. */
static void spec_path(char *out, size_t cap)
{
    static const char tail[] = "tests/unit/test_server.c";
    const char *file = __FILE__;
    size_t len = strlen(file), tl = sizeof tail - 1;
    size_t root = len >= tl && strcmp(file + len - tl, tail) == 0 ? len - tl : 0;
    snprintf(out, cap, "%.*sopenapi/openapi.yaml", (int)root, file);
}

static int is_http_method(const char *m)
{
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i]) == 0)
            return 1;
    return 0;
}

/* Leading spaces of a line; -1 when it holds a tab in its indentation (YAML forbids them). */
static int indent_of(const char *line)
{
    int n = 0;
    while (line[n] == ' ')
        n++;
    return line[n] == '\t' ? -1 : n;
}

/* Copies the mapping key of s (after the indentation) into key: plain or quoted, up to the ':'
 * that ends it. Returns 0 when the line is not "key:" followed by nothing, a space or a comment. */
static int mapping_key(const char *s, char *key, size_t cap)
{
    size_t n = 0;
    const char *end;
    if (*s == '\'' || *s == '"') {
        char q = *s++;
        end = strchr(s, q);
        if (!end || end[1] != ':')
            return 0;
        n = (size_t)(end - s);
        end++;
    } else {
        end = strchr(s, ':');
        if (!end)
            return 0;
        n = (size_t)(end - s);
    }
    if (end[1] != '\0' && end[1] != ' ' && end[1] != '\n' && end[1] != '\r')
        return 0;
    if (n == 0 || n >= cap)
        return 0;
    memcpy(key, s, n);
    key[n] = '\0';
    return 1;
}

/* A line-based reading of the "paths:" section: path keys at 2-space indentation, operations at
 * 4-space indentation under them. Everything else (descriptions, schemas, block scalars) is at a
 * deeper indentation or in another top-level section. Returns 0 on success. */
static int spec_scan(FILE *f, struct spec *sp)
{
    char line[4096], key[256], current[256] = "";
    int in_paths = 0;
    memset(sp, 0, sizeof *sp);
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        int ind = indent_of(line);
        const char *s = line + (ind > 0 ? ind : 0);
        if (*s == '\0' || *s == '#')
            continue;
        if (ind < 0) {
            snprintf(sp->error, sizeof sp->error, "tab in indentation: %.200s", line);
            return -1;
        }
        if (ind == 0) {
            in_paths = strncmp(line, "paths:", 6) == 0 && (line[6] == '\0' || line[6] == ' ');
            sp->paths_seen |= in_paths;
            current[0] = '\0';
            continue;
        }
        if (!in_paths)
            continue;
        if (ind == 2) {
            if (!mapping_key(s, key, sizeof key) || key[0] != '/') {
                snprintf(sp->error, sizeof sp->error, "not a path key under paths: %.200s", line);
                return -1;
            }
            snprintf(current, sizeof current, "%s", key);
        } else if (ind == 4 && mapping_key(s, key, sizeof key) && is_http_method(key)) {
            if (!current[0] || sp->n == MAX_OPS) {
                snprintf(sp->error, sizeof sp->error, "operation outside a path: %.200s", line);
                return -1;
            }
            struct op *o = &sp->ops[sp->n++];
            for (size_t i = 0; key[i] && i + 1 < sizeof o->method; i++) {
                o->method[i] = (char)toupper((unsigned char)key[i]);
                o->method[i + 1] = '\0';
            }
            snprintf(o->path, sizeof o->path, "%s", current);
        }
    }
    if (!sp->paths_seen) {
        snprintf(sp->error, sizeof sp->error, "no top-level paths: section");
        return -1;
    }
    return 0;
}

static int spec_scan_text(const char *text, struct spec *sp)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f)
        return -1;
    int rc = spec_scan(f, sp);
    fclose(f);
    return rc;
}

static int spec_has(const struct spec *sp, const char *method, const char *path)
{
    for (size_t i = 0; i < sp->n; i++)
        if (strcmp(sp->ops[i].method, method) == 0 && strcmp(sp->ops[i].path, path) == 0)
            return 1;
    return 0;
}

static int table_has(const char *method, const char *path)
{
    const char *m, *p;
    for (size_t i = 0; srv_route_at(i, &m, &p); i++)
        if (strcmp(m, method) == 0 && strcmp(p, path) == 0)
            return 1;
    return 0;
}

/* ---- route table <-> openapi/openapi.yaml ---- */

TEST(test_scanner_reads_paths_and_methods)
{
    static const char text[] = "openapi: 3.1.0\n"
                               "info:\n"
                               "  title: x\n"
                               "  description: |\n"
                               "    get: not an operation\n"
                               "paths:\n"
                               "  /a:\n"
                               "    summary: shared\n"
                               "    get:\n"
                               "      description: |\n"
                               "        post: inside a block scalar\n"
                               "    post:\n"
                               "      responses: {}\n"
                               "\n"
                               "  # a comment\n"
                               "  '/b/{id}':\n"
                               "    delete: {}\n"
                               "  \"/c\":\n"
                               "    put:\n"
                               "components:\n"
                               "  /d:\n"
                               "    get: {}\n";
    struct spec sp;
    CHECK_MSG(spec_scan_text(text, &sp) == 0, "%s", sp.error);
    CHECK_INT(sp.n, 4);
    CHECK(spec_has(&sp, "GET", "/a"));
    CHECK(spec_has(&sp, "POST", "/a"));
    CHECK(spec_has(&sp, "DELETE", "/b/{id}"));
    CHECK(spec_has(&sp, "PUT", "/c"));
    CHECK(!spec_has(&sp, "GET", "/d"));
}

TEST(test_scanner_refuses_what_it_cannot_read)
{
    struct spec sp;
    CHECK(spec_scan_text("openapi: 3.1.0\ninfo:\n  title: x\n", &sp) != 0); /* no paths */
    CHECK(spec_scan_text("paths:\n  a:\n    get: {}\n", &sp) != 0);         /* key not a path */
    CHECK(spec_scan_text("paths:\n\t/a:\n", &sp) != 0);                     /* tab indentation */
    CHECK(spec_scan_text("paths:\n    get: {}\n", &sp) != 0);               /* no path above */
    CHECK(spec_scan_text("paths: {}\n", &sp) == 0);
    CHECK_INT(sp.n, 0);
}

TEST(test_route_table_matches_openapi)
{
    char path[4096];
    struct spec *sp = calloc(1, sizeof *sp);
    const char *m, *p;
    size_t routes = 0, missing = 0, extra = 0;
    CHECK(sp);
    spec_path(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        free(sp);
    CHECK_MSG(f, "cannot open %s", path);
    int rc = spec_scan(f, sp);
    fclose(f);
    if (rc != 0)
        fprintf(stderr, "  %s: %s\n", path, sp->error);
    for (size_t i = 0; rc == 0 && srv_route_at(i, &m, &p); i++, routes++) {
        if (!spec_has(sp, m, p)) {
            fprintf(stderr, "  route %s %s (server/routes.c) is missing from %s\n", m, p, path);
            missing++;
        }
        for (size_t k = 0; k < i; k++) {
            const char *m2, *p2;
            srv_route_at(k, &m2, &p2);
            if (strcmp(m, m2) == 0 && strcmp(p, p2) == 0) {
                fprintf(stderr, "  route %s %s appears twice in server/routes.c\n", m, p);
                missing++;
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < sp->n; i++) {
        if (!table_has(sp->ops[i].method, sp->ops[i].path)) {
            fprintf(stderr, "  %s %s in %s is not routed by server/routes.c\n", sp->ops[i].method,
                    sp->ops[i].path, path);
            extra++;
        }
    }
    size_t nspec = sp->n;
    free(sp);
    CHECK_INT(rc, 0);
    CHECK(routes > 0);
    CHECK_INT(missing, 0);
    CHECK_INT(extra, 0);
    CHECK_INT(nspec, routes);
}

TEST(test_route_at_bounds)
{
    const char *m = "unchanged", *p = "unchanged";
    CHECK_INT(srv_route_at(srv_route_count, &m, &p), 0);
    CHECK_INT(srv_route_at((size_t)-1, &m, &p), 0);
    CHECK_STR(m, "unchanged");
    CHECK_INT(srv_route_at(0, &m, &p), 1);
    CHECK_STR(m, srv_route_table[0].method);
    CHECK_STR(p, srv_route_table[0].path);
}

/* ---- routing ---- */

/* A concrete path for a pattern: every "{x}" segment replaced by seg. */
static void instantiate(const char *pattern, const char *seg, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < cap;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            for (const char *s = seg; *s && o + 1 < cap; s++)
                out[o++] = *s;
            p = close ? close + 1 : p + strlen(p);
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

TEST(test_route_find_every_route)
{
    for (size_t i = 0; i < srv_route_count; i++) {
        const struct srv_route *r = &srv_route_table[i];
        char concrete[512];
        int known = -1;
        CHECK(r->handler != NULL);
        instantiate(r->path, "abc_123", concrete, sizeof concrete);
        CHECK_MSG(srv_route_find(r->method, concrete, &known) == r, "%s %s", r->method, concrete);
        /* path_known matters only when no route is found: it may be set by an earlier route
         * of the same path with another method (GET and POST /userinfo) */
        CHECK(known == 0 || known == 1);
        if (strchr(r->path, '{')) {
            /* a parameter matches exactly one non-empty segment */
            instantiate(r->path, "", concrete, sizeof concrete);
            CHECK_MSG(srv_route_find(r->method, concrete, &known) != r, "%s", concrete);
            instantiate(r->path, "a/b", concrete, sizeof concrete);
            CHECK_MSG(srv_route_find(r->method, concrete, &known) != r, "%s", concrete);
        }
        /* OAuth endpoints authenticate clients, except the pages a browser visits; userinfo, the
         * self-service, the admin endpoints and the App Services API's session, profile and key
         * routes take a bearer token; registration, logins of the App Services API, the mailed
         * links' API and the public documents need nothing */
        int page = strcmp(r->path, "/oauth/authorize") == 0 ||
                   strcmp(r->path, "/oauth/logout") == 0 || strcmp(r->path, "/login") == 0 ||
                   strcmp(r->path, "/consent") == 0 || strcmp(r->path, "/device") == 0 ||
                   strcmp(r->path, "/verify-email") == 0 || strcmp(r->path, "/reset-password") == 0;
        if (page)
            CHECK_MSG(r->auth == SRV_AUTH_PAGE, "%s %s", r->method, r->path);
        else if (strncmp(r->path, "/oauth/", 7) == 0)
            CHECK_INT(r->auth, SRV_AUTH_CLIENT);
        else if (strcmp(r->path, "/userinfo") == 0 || strcmp(r->path, "/v1/me") == 0 ||
                 strncmp(r->path, "/v1/me/", 7) == 0 || strncmp(r->path, "/admin/", 7) == 0 ||
                 strcmp(r->path, "/v1/email/verify/send") == 0 ||     /* the caller's own address */
                 strncmp(r->path, "/api/client/v2.0/auth/", 22) == 0) /* App Services' tokens */
            CHECK_MSG(r->auth == SRV_AUTH_BEARER, "%s %s", r->method, r->path);
        else
            CHECK_MSG(r->auth == SRV_AUTH_NONE, "%s %s", r->method, r->path);
    }
}

TEST(test_route_find_known_paths)
{
    int known = -1;
    const struct srv_route *r = srv_route_find("GET", "/jwks", &known);
    CHECK(r && r->handler == srv_handle_jwks);
    CHECK_INT(known, 0);
    r = srv_route_find("GET", "/.well-known/openid-configuration", &known);
    CHECK(r && r->handler == srv_handle_discovery);
    r = srv_route_find("GET", "/.well-known/oauth-authorization-server", &known);
    CHECK(r && r->handler == srv_handle_discovery);
    r = srv_route_find("POST", "/oauth/token", &known);
    CHECK(r && r->handler == srv_handle_token);
    r = srv_route_find("POST", "/oauth/introspect", &known);
    CHECK(r && r->handler == srv_handle_introspect);
    r = srv_route_find("POST", "/oauth/revoke", &known);
    CHECK(r && r->handler == srv_handle_revoke);
    r = srv_route_find("GET", "/healthz", &known);
    CHECK(r && r->handler == srv_handle_healthz);
    r = srv_route_find("GET", "/readyz", &known);
    CHECK(r && r->handler == srv_handle_readyz);
    r = srv_route_find("GET", "/userinfo", &known);
    CHECK(r && r->handler == srv_handle_userinfo);
    r = srv_route_find("POST", "/userinfo", &known);
    CHECK(r && r->handler == srv_handle_userinfo);
    r = srv_route_find("HEAD", "/userinfo", &known);
    CHECK(r && r->handler == srv_handle_userinfo);
    r = srv_route_find("POST", "/v1/register", &known);
    CHECK(r && r->handler == srv_handle_register);
    r = srv_route_find("GET", "/v1/me", &known);
    CHECK(r && r->handler == srv_handle_me);
    r = srv_route_find("GET", "/v1/me/sessions", &known);
    CHECK(r && r->handler == srv_handle_me_sessions);
    r = srv_route_find("DELETE", "/v1/me/sessions/ses_01m81fbj8v3ca4e5fv3n6tydqw", &known);
    CHECK(r && r->handler == srv_handle_me_session_delete);
    r = srv_route_find("POST", "/v1/me/password", &known);
    CHECK(r && r->handler == srv_handle_me_password);
    r = srv_route_find("POST", "/v1/me/identities", &known);
    CHECK(r && r->handler == srv_handle_me_link);
    r = srv_route_find("DELETE", "/v1/me/identities/idn_01m81fbjtytysdzvvpk8m7002v", &known);
    CHECK(r && r->handler == srv_handle_me_unlink);
    CHECK_INT(known, 0);
    /* the parameter takes one segment: no route below it, and GET is not routed on it */
    CHECK(srv_route_find("DELETE", "/v1/me/sessions/ses_1/x", &known) == NULL);
    CHECK_INT(known, 0);
    CHECK(srv_route_find("GET", "/v1/me/sessions/ses_1", &known) == NULL);
    CHECK_INT(known, 1);
}

TEST(test_route_find_405_and_404)
{
    int known = -1;
    /* known path, other method: 405 */
    CHECK(srv_route_find("POST", "/jwks", &known) == NULL);
    CHECK_INT(known, 1);
    known = -1;
    CHECK(srv_route_find("GET", "/oauth/token", &known) == NULL);
    CHECK_INT(known, 1);
    known = -1;
    CHECK(srv_route_find("DELETE", "/healthz", &known) == NULL);
    CHECK_INT(known, 1);
    /* methods are case-sensitive (RFC 9110 §9.1) */
    known = -1;
    CHECK(srv_route_find("get", "/jwks", &known) == NULL);
    CHECK_INT(known, 1);
    /* unknown paths: 404 */
    static const char *const unknown[] = {
        "/nope",  "/jwks/", "/jwk",   "/jwksx",         "",           "/",
        "//jwks", "/JWKS",  "/oauth", "/oauth/token/x", "/oauth/tok", "/readyz?x"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        known = -1;
        CHECK_MSG(srv_route_find("GET", unknown[i], &known) == NULL, "%s", unknown[i]);
        CHECK_MSG(known == 0, "%s: path_known = %d", unknown[i], known);
        known = -1;
        CHECK_MSG(srv_route_find("POST", unknown[i], &known) == NULL, "%s", unknown[i]);
        CHECK_MSG(known == 0, "%s: path_known = %d", unknown[i], known);
    }
}

TEST(test_route_allow)
{
    char buf[64];
    srv_route_allow("/jwks", buf, sizeof buf);
    CHECK_STR(buf, "GET, HEAD"); /* HEAD is answered wherever GET is */
    srv_route_allow("/oauth/token", buf, sizeof buf);
    CHECK_STR(buf, "POST");
    srv_route_allow("/.well-known/openid-configuration", buf, sizeof buf);
    CHECK_STR(buf, "GET, HEAD");
    srv_route_allow("/userinfo", buf, sizeof buf);
    CHECK_STR(buf, "GET, HEAD, POST");
    srv_route_allow("/v1/me/identities/idn_1", buf, sizeof buf);
    CHECK_STR(buf, "DELETE");
    snprintf(buf, sizeof buf, "%s", "garbage");
    srv_route_allow("/nope", buf, sizeof buf);
    CHECK_STR(buf, "");
    /* every routed path lists its own method, and the list holds only routed methods */
    for (size_t i = 0; i < srv_route_count; i++) {
        const struct srv_route *r = &srv_route_table[i];
        char concrete[512], list[256];
        instantiate(r->path, "x", concrete, sizeof concrete);
        srv_route_allow(concrete, list, sizeof list);
        CHECK_MSG(strstr(list, r->method) != NULL, "%s: Allow %s", concrete, list);
        char *save = NULL;
        for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
            int known = 0;
            CHECK_MSG(srv_route_find(tok, concrete, &known) != NULL, "%s %s", tok, concrete);
        }
    }
    /* a small buffer is never overrun and stays terminated */
    char tiny[3] = {'x', 'x', 'x'};
    srv_route_allow("/jwks", tiny, sizeof tiny);
    CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
}

/* ---- form decoding ---- */

static int decodes_to(const char *in, const char *want, size_t want_len)
{
    size_t outlen = (size_t)-1;
    char *out = srv_urldecode(in, strlen(in), &outlen);
    int ok = out && outlen == want_len && memcmp(out, want, want_len) == 0 && out[outlen] == '\0';
    if (!ok)
        fprintf(stderr, "  srv_urldecode(\"%s\") = \"%s\" (%zu)\n", in, out ? out : "(null)",
                out ? outlen : 0);
    free(out);
    return ok;
}

static int refused(const char *in)
{
    size_t outlen = 0;
    char *out = srv_urldecode(in, strlen(in), &outlen);
    free(out);
    return out == NULL;
}

TEST(test_urldecode)
{
    CHECK(decodes_to("", "", 0));
    CHECK(decodes_to("abc", "abc", 3));
    CHECK(decodes_to("a+b", "a b", 3));
    CHECK(decodes_to("+++", "   ", 3));
    CHECK(decodes_to("%41", "A", 1));
    CHECK(decodes_to("%4a%4A", "JJ", 2));
    CHECK(decodes_to("%2B", "+", 1));
    CHECK(decodes_to("100%25", "100%", 4));
    CHECK(decodes_to("%2541", "%41", 3)); /* decoded once, never twice */
    CHECK(decodes_to("%C3%A9", "\xc3\xa9", 2));
    CHECK(decodes_to("a%00b", "a\0b", 3)); /* NUL decodes; srv_utf8_valid refuses it later */
    CHECK(decodes_to("client_id%3Asecret", "client_id:secret", 16));
    CHECK(refused("%"));
    CHECK(refused("%4"));
    CHECK(refused("abc%"));
    CHECK(refused("abc%4"));
    CHECK(refused("%4g"));
    CHECK(refused("%g4"));
    CHECK(refused("%%41"));
    CHECK(refused("% 41"));
    CHECK(refused("%-1"));
    /* the length bounds the input: a terminator beyond it is not read */
    size_t outlen = 0;
    char *out = srv_urldecode("%41%4", 3, &outlen);
    CHECK(out != NULL);
    int ok = outlen == 1 && out[0] == 'A';
    free(out);
    CHECK(ok);
    CHECK(srv_urldecode("%41", 2, &outlen) == NULL); /* "%4" */
    /* outlen may be NULL */
    out = srv_urldecode("x+y", 3, NULL);
    CHECK(out != NULL);
    ok = strcmp(out, "x y") == 0;
    free(out);
    CHECK(ok);
}

#define UTF8_OK(lit) srv_utf8_valid(lit, sizeof(lit) - 1)

TEST(test_utf8_valid)
{
    CHECK(srv_utf8_valid("", 0));
    CHECK(UTF8_OK("plain ascii ~"));
    CHECK(UTF8_OK("\x7f"));
    CHECK(UTF8_OK("\xc2\x80"));         /* U+0080, smallest 2-byte */
    CHECK(UTF8_OK("\xc3\xa9"));         /* é */
    CHECK(UTF8_OK("\xdf\xbf"));         /* U+07FF */
    CHECK(UTF8_OK("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    CHECK(UTF8_OK("\xe2\x82\xac"));     /* € */
    CHECK(UTF8_OK("\xed\x9f\xbf"));     /* U+D7FF, just below the surrogates */
    CHECK(UTF8_OK("\xee\x80\x80"));     /* U+E000, just above */
    CHECK(UTF8_OK("\xef\xbf\xbf"));     /* U+FFFF */
    CHECK(UTF8_OK("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    CHECK(UTF8_OK("\xf0\x9f\x98\x80")); /* 😀 */
    CHECK(UTF8_OK("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */
    CHECK(UTF8_OK("Zo\xc3\xab \xe2\x82\xac 1"));

    /* NUL */
    CHECK(!UTF8_OK("\0"));
    CHECK(!UTF8_OK("a\0b"));
    /* overlong forms */
    CHECK(!UTF8_OK("\xc0\x80")); /* NUL as two bytes */
    CHECK(!UTF8_OK("\xc0\xaf")); /* '/' */
    CHECK(!UTF8_OK("\xc1\xbf"));
    CHECK(!UTF8_OK("\xe0\x80\x80"));
    CHECK(!UTF8_OK("\xe0\x9f\xbf")); /* U+07FF in three bytes */
    CHECK(!UTF8_OK("\xf0\x80\x80\x80"));
    CHECK(!UTF8_OK("\xf0\x8f\xbf\xbf")); /* U+FFFF in four bytes */
    /* UTF-16 surrogates */
    CHECK(!UTF8_OK("\xed\xa0\x80")); /* U+D800 */
    CHECK(!UTF8_OK("\xed\xbf\xbf")); /* U+DFFF */
    CHECK(!UTF8_OK("\xed\xa0\xbd\xed\xb8\x80"));
    /* beyond U+10FFFF */
    CHECK(!UTF8_OK("\xf4\x90\x80\x80"));
    CHECK(!UTF8_OK("\xf5\x80\x80\x80"));
    CHECK(!UTF8_OK("\xf7\xbf\xbf\xbf"));
    CHECK(!UTF8_OK("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    CHECK(!UTF8_OK("\xfc\x84\x80\x80\x80\x80"));
    CHECK(!UTF8_OK("\xfe"));
    CHECK(!UTF8_OK("\xff"));
    /* truncated sequences and stray continuation bytes */
    CHECK(!UTF8_OK("\xc3"));
    CHECK(!UTF8_OK("a\xc3"));
    CHECK(!UTF8_OK("\xe2\x82"));
    CHECK(!UTF8_OK("\xf0\x9f\x98"));
    CHECK(!UTF8_OK("\xc3"
                   "a"));
    CHECK(!UTF8_OK("\xe2\x82"
                   "a"));
    CHECK(!UTF8_OK("\xf0\x9f\x98"
                   "a"));
    CHECK(!UTF8_OK("\x80"));
    CHECK(!UTF8_OK("a\xbf"));
    CHECK(!UTF8_OK("\xc3\xa9\xa9"));
    /* the length bounds the check: a valid sequence cut by len is truncated */
    CHECK(!srv_utf8_valid("\xc3\xa9", 1));
    CHECK(!srv_utf8_valid("\xf0\x9f\x98\x80", 3));
    CHECK(srv_utf8_valid("ab\xff", 2));
}

/* ---- names and roles ---- */

TEST(test_role_valid)
{
    char role[STORE_ROLE_MAX + 8];
    CHECK(srv_role_valid("idp:admin"));
    CHECK(srv_role_valid("idp:introspect"));
    CHECK(srv_role_valid("PROJECT_OWNER"));
    CHECK(srv_role_valid("PROJECT_OWNER@proj_prod"));
    CHECK(srv_role_valid("readWrite@ecommerce"));
    CHECK(srv_role_valid("a"));
    CHECK(srv_role_valid("a@b"));
    CHECK(srv_role_valid("~!#$%^&*()_+={}[]|\\;'\",.<>/?`"));
    CHECK(!srv_role_valid(""));
    CHECK(!srv_role_valid("read write"));
    CHECK(!srv_role_valid(" admin"));
    CHECK(!srv_role_valid("admin\t"));
    CHECK(!srv_role_valid("admin\n"));
    CHECK(!srv_role_valid("a\x7f"));
    CHECK(!srv_role_valid("r\xc3\xb4le")); /* printable ASCII only */
    CHECK(!srv_role_valid("@scope"));
    CHECK(!srv_role_valid("name@"));
    CHECK(!srv_role_valid("@"));
    CHECK(!srv_role_valid("a@b@c"));
    CHECK(!srv_role_valid("a@@b"));
    /* 1..128 bytes */
    memset(role, 'r', sizeof role);
    role[STORE_ROLE_MAX - 1] = '\0';
    CHECK_INT(strlen(role), 128);
    CHECK(srv_role_valid(role));
    role[STORE_ROLE_MAX - 1] = 'r';
    role[STORE_ROLE_MAX] = '\0';
    CHECK(!srv_role_valid(role));
}

TEST(test_name_valid)
{
    char name[300];
    CHECK(srv_name_valid("ci"));
    CHECK(srv_name_valid("CI / CD deployer #1"));
    CHECK(srv_name_valid("Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK(!srv_name_valid(""));
    CHECK(!srv_name_valid("tab\there"));
    CHECK(!srv_name_valid("line\nbreak"));
    CHECK(!srv_name_valid("\x1b[31mred"));
    CHECK(!srv_name_valid("del\x7f"));
    CHECK(!srv_name_valid("bad \xc3"));
    CHECK(!srv_name_valid("\xc0\xaf"));
    CHECK(!srv_name_valid("\xed\xa0\x80"));
    /* at most 256 bytes */
    memset(name, 'n', sizeof name);
    name[256] = '\0';
    CHECK(srv_name_valid(name));
    name[256] = 'n';
    name[257] = '\0';
    CHECK(!srv_name_valid(name));
    /* 256 bytes of multi-byte characters: the limit is bytes, not characters */
    for (int i = 0; i < 128; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[256] = '\0';
    CHECK(srv_name_valid(name));
    memcpy(name + 256, "\xc3\xa9", 3);
    CHECK(!srv_name_valid(name));
}

TEST(test_json_writer)
{
    struct srv_jw w = {0};
    size_t len = 0;
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "s", "a\"b\\c\n\t\x01\x1f/\xc3\xa9");
    srv_jw_int(&w, "n", -9007199254740993LL);
    srv_jw_bool(&w, "t", 1);
    srv_jw_bool(&w, "f", 0);
    srv_jw_array(&w, "a");
    srv_jw_string(&w, NULL, "x");
    srv_jw_object(&w, NULL);
    srv_jw_close(&w, '}');
    srv_jw_array(&w, NULL);
    srv_jw_close(&w, ']');
    srv_jw_close(&w, ']');
    srv_jw_object(&w, "o");
    srv_jw_close(&w, '}');
    srv_jw_close(&w, '}');
    char *out = srv_jw_finish(&w, &len);
    const char *want =
        "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/\xc3\xa9\",\"n\":-9007199254740993,"
        "\"t\":true,\"f\":false,\"a\":[\"x\",{},[]],\"o\":{}}";
    CHECK_STR(out, want);
    CHECK_INT(len, strlen(want));
    /* jansson reads back what it wrote */
    json_error_t err;
    json_t *back = out ? json_loads(out, 0, &err) : NULL;
    CHECK(back != NULL);
    CHECK_STR(json_string_value(json_object_get(back, "s")), "a\"b\\c\n\t\x01\x1f/\xc3\xa9");
    json_decref(back);
    free(out);

    /* failures: invalid UTF-8, a NULL string, unbalanced nesting, a member outside an object */
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "bad", "\xc3");
    srv_jw_close(&w, '}');
    CHECK(srv_jw_finish(&w, NULL) == NULL);
    srv_jw_object(&w, NULL);
    srv_jw_string(&w, "null", NULL);
    srv_jw_close(&w, '}');
    CHECK(srv_jw_finish(&w, NULL) == NULL);
    srv_jw_object(&w, NULL);
    CHECK(srv_jw_finish(&w, NULL) == NULL);
    srv_jw_close(&w, '}');
    CHECK(srv_jw_finish(&w, NULL) == NULL);
    srv_jw_int(&w, "k", 1);
    CHECK(srv_jw_finish(&w, NULL) == NULL);
    for (int i = 0; i <= SRV_JW_DEPTH; i++)
        srv_jw_array(&w, NULL);
    CHECK(srv_jw_finish(&w, NULL) == NULL);
}

/* ---- the fair worker queue (issue 12, finding 3) ---- */

struct fair_run {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;    /* the gate job may finish */
    int running; /* the gate job has started */
    char order[64];
    size_t n;
};

struct fair_job {
    struct fair_run *run;
    char name;
};

static void gate_job(void *arg)
{
    struct fair_run *r = arg;
    pthread_mutex_lock(&r->lock);
    r->running = 1;
    pthread_cond_broadcast(&r->cond);
    while (!r->open)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

static void record_job(void *arg)
{
    struct fair_job *j = arg;
    pthread_mutex_lock(&j->run->lock);
    j->run->order[j->run->n++] = j->name;
    pthread_cond_broadcast(&j->run->cond);
    pthread_mutex_unlock(&j->run->lock);
}

static int submit(struct srv_workers *w, const char *source, const char *account,
                  void (*fn)(void *), void *arg)
{
    struct srv_work_slot slot;
    enum srv_workers_admit a = srv_workers_reserve(w, source, account, &slot);
    if (a == SRV_WORKERS_OK)
        srv_workers_submit(w, &slot, fn, arg);
    return a;
}

/* A source holds at most its share, an account likewise, and jobs are taken round-robin over the
 * sources: a quiet source's job runs after one job of each busy source, not after all of them. */
TEST(test_workers_share_fairly)
{
    struct srv_workers_config cfg = {
        .threads = 1, .queue_cap = 16, .per_source = 4, .per_account = 2, .idle = 0};
    struct srv_workers *w = NULL;
    struct fair_run run = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct fair_job jobs[16];
    CHECK_INT(srv_workers_start(&cfg, &w), SRV_OK);
    CHECK_INT(submit(w, "10.0.0.9", NULL, gate_job, &run), SRV_WORKERS_OK); /* holds the worker */
    /* the storm: a source of 4 jobs, its fifth refused at once */
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct fair_job){&run, 'A'};
        CHECK_INT(submit(w, "10.0.0.1", NULL, record_job, &jobs[i]), SRV_WORKERS_OK);
    }
    CHECK_INT(submit(w, "10.0.0.1", NULL, record_job, &jobs[15]), SRV_WORKERS_SHARE);
    /* an account's share spans sources: two jobs at "victim", the third refused */
    jobs[4] = (struct fair_job){&run, 'B'};
    jobs[5] = (struct fair_job){&run, 'C'};
    CHECK_INT(submit(w, "10.0.0.2", "victim", record_job, &jobs[4]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.3", "victim", record_job, &jobs[5]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.4", "victim", record_job, &jobs[15]), SRV_WORKERS_SHARE);
    /* a second job of B's source, and the quiet client last of all */
    jobs[6] = (struct fair_job){&run, 'B'};
    jobs[7] = (struct fair_job){&run, 'Q'};
    CHECK_INT(submit(w, "10.0.0.2", NULL, record_job, &jobs[6]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.5", "quiet", record_job, &jobs[7]), SRV_WORKERS_OK);
    pthread_mutex_lock(&run.lock);
    run.open = 1;
    pthread_cond_broadcast(&run.cond);
    while (run.n < 8)
        pthread_cond_wait(&run.cond, &run.lock);
    pthread_mutex_unlock(&run.lock);
    run.order[run.n] = '\0';
    /* round-robin in the order the sources arrived: A B C Q, then what is left */
    CHECK_STR(run.order, "ABCQABAA");
    srv_workers_drain(w);
    /* the shares were given back as the jobs ended: a drained pool refuses as full, not share */
    CHECK_INT(submit(w, "10.0.0.1", NULL, record_job, &jobs[15]), SRV_WORKERS_FULL);
    srv_workers_stop(w);
}

/* The queue's capacity holds whatever the shares: beyond it, full (503). It counts waiting jobs;
 * a running one holds no slot. */
TEST(test_workers_full)
{
    struct srv_workers_config cfg = {
        .threads = 1, .queue_cap = 3, .per_source = 0, .per_account = 0, .idle = 0};
    struct srv_workers *w = NULL;
    struct fair_run run = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct fair_job jobs[4] = {{&run, 'a'}, {&run, 'b'}, {&run, 'c'}, {&run, 'x'}};
    CHECK_INT(srv_workers_start(&cfg, &w), SRV_OK);
    CHECK_INT(submit(w, "10.0.0.9", NULL, gate_job, &run), SRV_WORKERS_OK);
    /* once the worker runs the gate, it holds no slot: three jobs wait, the fourth is refused */
    pthread_mutex_lock(&run.lock);
    while (!run.running)
        pthread_cond_wait(&run.cond, &run.lock);
    pthread_mutex_unlock(&run.lock);
    CHECK_INT(submit(w, "10.0.0.1", NULL, record_job, &jobs[0]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.2", NULL, record_job, &jobs[1]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.3", NULL, record_job, &jobs[2]), SRV_WORKERS_OK);
    CHECK_INT(submit(w, "10.0.0.4", NULL, record_job, &jobs[3]), SRV_WORKERS_FULL);
    pthread_mutex_lock(&run.lock);
    run.open = 1;
    pthread_cond_broadcast(&run.cond);
    while (run.n < 3)
        pthread_cond_wait(&run.cond, &run.lock);
    pthread_mutex_unlock(&run.lock);
    /* the slots came back as the jobs started: the same source is admitted again */
    jobs[0].name = 'd';
    CHECK_INT(submit(w, "10.0.0.1", NULL, record_job, &jobs[0]), SRV_WORKERS_OK);
    srv_workers_drain(w);
    CHECK_INT(run.n, 4);
    srv_workers_stop(w);
}

/* IPv6 addresses count by their /64; IPv4 as they are. */
TEST(test_addr_group)
{
    char g[64];
    srv_addr_group("192.0.2.7", g);
    CHECK_STR(g, "192.0.2.7");
    srv_addr_group("2001:db8:1:2:aaaa:bbbb:cccc:dddd", g);
    CHECK_STR(g, "2001:db8:1:2::/64");
    srv_addr_group("2001:db8:1:2::1", g);
    CHECK_STR(g, "2001:db8:1:2::/64");
    srv_addr_group("::1", g);
    CHECK_STR(g, "::/64");
}

/* The key an email is unique under (email_text.c, issue 12 finding 10): NFKC_Casefold, and
 * UTS #39 refusals for parts that mix scripts or only imitate ASCII. */
TEST(test_email_key)
{
    char key[STORE_EMAIL_MAX];
    /* ASCII: lower-cased, nothing else, and never judged by look ("dan" is not "clan") */
    CHECK_INT(srv_email_key("Alice@Example.COM", key), SRV_EMAIL_OK);
    CHECK_STR(key, "alice@example.com");
    CHECK_INT(srv_email_key("dan@example.com", key), SRV_EMAIL_OK);
    CHECK_STR(key, "dan@example.com");
    CHECK_INT(srv_email_key("clan@example.com", key), SRV_EMAIL_OK);
    CHECK_STR(key, "clan@example.com");
    CHECK_INT(srv_email_key("rn1l0@exarnple.com", key), SRV_EMAIL_OK);
    CHECK_STR(key, "rn1l0@exarnple.com");
    /* fullwidth letters and at sign fold to the ASCII address */
    CHECK_INT(srv_email_key("\xef\xbd\x81lice@example.com", key), SRV_EMAIL_OK);
    CHECK_STR(key, "alice@example.com");
    CHECK_INT(srv_email_key("\xef\xbc\xa1LICE\xef\xbc\xa0"
                            "EXAMPLE.COM",
                            key),
              SRV_EMAIL_OK);
    CHECK_STR(key, "alice@example.com");
    /* single-script non-ASCII stays, case-folded: MÜLLER (decomposed Ü) is müller */
    CHECK_INT(srv_email_key("M\xc3\x9cller@example.de", key), SRV_EMAIL_OK);
    CHECK_STR(key, "m\xc3\xbcller@example.de");
    CHECK_INT(srv_email_key("MU\xcc\x88LLER@EXAMPLE.DE", key), SRV_EMAIL_OK);
    CHECK_STR(key, "m\xc3\xbcller@example.de");
    /* 用户@例子.广告: Han, one script per part */
    const char *han = "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
                      "\xe5\xb9\xbf\xe5\x91\x8a";
    CHECK_INT(srv_email_key(han, key), SRV_EMAIL_OK);
    CHECK_STR(key, han);
    /* Greek, one script: σ and final ς fold alike */
    CHECK_INT(srv_email_key("\xce\xa3\xce\xbf\xcf\x86\xce\xb9\xce\xb1@example.gr", key),
              SRV_EMAIL_OK);
    CHECK_STR(key, "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1@example.gr");
    /* Cyrillic а among Latin letters: mixed scripts, in the local part or the domain */
    CHECK_INT(srv_email_key("\xd0\xb0lice@example.com", key), SRV_EMAIL_EMIXED);
    CHECK_STR(key, "");
    CHECK_INT(srv_email_key("alice@ex\xd0\xb0mple.com", key), SRV_EMAIL_EMIXED);
    /* Latin only, but dotless ı looks like i: alıce can only pass for alice */
    CHECK_INT(srv_email_key("al\xc4\xb1"
                            "ce@example.com",
                            key),
              SRV_EMAIL_ELOOKALIKE);
    /* all-Cyrillic аре looks all-ASCII ("ape") */
    CHECK_INT(srv_email_key("\xd0\xb0\xd1\x80\xd0\xb5@example.com", key), SRV_EMAIL_ELOOKALIKE);
    /* all-Cyrillic that does not look ASCII stays (имя: и, м, я have no ASCII twin) */
    CHECK_INT(srv_email_key("\xd0\xb8\xd0\xbc\xd1\x8f@example.ru", key), SRV_EMAIL_OK);
    /* shapes: no @, two @ once folded (fullwidth ＠), a space from NFKC (no-break space) */
    CHECK_INT(srv_email_key("alice.example.com", key), SRV_EMAIL_EINVALID);
    CHECK_INT(srv_email_key("a\xef\xbc\xa0"
                            "b@example.com",
                            key),
              SRV_EMAIL_EINVALID);
    CHECK_INT(srv_email_key("a\xc2\xa0"
                            "b@example.com",
                            key),
              SRV_EMAIL_EINVALID);
    CHECK_INT(srv_email_key("\xff@example.com", key), SRV_EMAIL_EINVALID);
    /* NFKC may lengthen: 100 x U+FDFA (3 bytes) is 300 bytes typed and far more folded */
    char longer[STORE_EMAIL_MAX];
    size_t n = 0;
    for (int i = 0; i < 100; i++, n += 3)
        memcpy(longer + n, "\xef\xb7\xba", 3);
    memcpy(longer + n, "@x.ar", 6);
    CHECK_INT(srv_email_key(longer, key), SRV_EMAIL_ETOOLONG);
    /* the old key: ASCII lower-cased, other bytes as typed */
    srv_email_key_legacy("M\xc3\x9cLLER@X.DE", key);
    CHECK_STR(key, "m\xc3\x9cller@x.de");
    CHECK(strcmp(srv_email_strerror(SRV_EMAIL_EMIXED), srv_email_strerror(SRV_EMAIL_OK)) != 0);
}

/* Ports of redirect URIs and origins (issue 12, finding 13): 1..65535, digits, not empty. */
TEST(test_uri_port_valid)
{
    static const char *const good[] = {
        "http://127.0.0.1/cb",    "http://127.0.0.1:1/cb",    "http://127.0.0.1:65535/cb",
        "https://a.example",      "https://a.example:443",    "http://[::1]:8080/cb",
        "http://[::1]/cb",        "com.example.app:/cb",      "https://u:p@a.example:8443/x?y#z",
        "https://a.example?x=:0", "urn:ietf:wg:oauth:2.0:oob"};
    static const char *const bad[] = {"http://127.0.0.1:0/cb",   "http://127.0.0.1:99999/cb",
                                      "http://127.0.0.1:/cb",    "http://127.0.0.1:",
                                      "http://127.0.0.1:65536",  "http://127.0.0.1:123456/cb",
                                      "http://127.0.0.1:-1/cb",  "http://127.0.0.1:8o/cb",
                                      "http://[::1]:/cb",        "http://[::1]:0",
                                      "http://[::1/cb",          "http://[::1]x/cb",
                                      "https://u:p@a.example:/", "http://a:1:2/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_MSG(srv_uri_port_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!srv_uri_port_valid(bad[i]), "%s", bad[i]);
}

/* ---- SMTP (server/core/smtp.c) against a real server: Debian's aiosmtpd as a sink ---- */

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "mail_sink.h"

TEST(test_smtp_sends_through_a_real_server)
{
    static const char msg[] =
        "From: idpd <idpd@example.org>\r\nTo: <ada@example.org>\r\n"
        "Subject: Verify your email\r\n\r\nhttps://id.example/verify?token=x\r\n";
    char url[64], why[256], *text = NULL;
    struct th_sink *sink = th_sink_start(0);
    CHECK(sink != NULL);
    struct srv_smtp s = {
        .url = sink->url, .from = "idpd@example.org", .plain_loopback = 1, .timeout_ms = 10000};

    CHECK_MSG(srv_smtp_send(&s, "ada@example.org", msg, sizeof msg - 1, why, sizeof why) == SRV_OK,
              "%s", why);
    CHECK_INT(th_sink_count(sink, NULL, 1, 0, &text), 1);
    CHECK(strstr(text, "Subject: Verify your email") && strstr(text, "verify?token=x"));
    free(text);

    /* without smtp_plain_loopback the sink (no STARTTLS) is refused, and nothing is sent */
    s.plain_loopback = 0;
    CHECK_INT(srv_smtp_send(&s, "ada@example.org", msg, sizeof msg - 1, why, sizeof why),
              SRV_ERUNTIME);
    CHECK(why[0] != '\0');
    /* smtps:// to a server that speaks no TLS */
    snprintf(url, sizeof url, "smtps://127.0.0.1:%u", sink->port);
    s.url = url;
    CHECK_INT(srv_smtp_send(&s, "ada@example.org", msg, sizeof msg - 1, why, sizeof why),
              SRV_ERUNTIME);
    CHECK_INT(th_sink_count(sink, NULL, 0, 0, NULL), 1);
    /* nobody there */
    snprintf(url, sizeof url, "smtp://127.0.0.1:%u", th_free_port());
    s.plain_loopback = 1;
    CHECK_INT(srv_smtp_send(&s, "ada@example.org", msg, sizeof msg - 1, why, sizeof why),
              SRV_ERUNTIME);
    CHECK(why[0] != '\0');
    /* not an SMTP URL */
    s.url = "https://mail.example.org";
    CHECK_INT(srv_smtp_send(&s, "ada@example.org", msg, sizeof msg - 1, why, sizeof why),
              SRV_EINVAL);
    CHECK(strstr(why, "smtp://") != NULL);
    CHECK_INT(th_sink_count(sink, NULL, 0, 0, NULL), 1);
}

/* ---- mail messages (server/core/mail_templates.c, mail_message.c) ---- */

#include <sys/stat.h>

/* Writes n bytes of data to dir/name; 1 when done. */
static int put_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

/* A fresh folder dir/name in the case's temporary folder; its path into out. */
static int sub_dir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", th_tmpdir(), name);
    return mkdir(out, 0700) == 0;
}

static void free_templates(void *t)
{
    srv_mail_templates_free(t);
}

static void free3(char *a, char *b, char *c)
{
    free(a);
    free(b);
    free(c);
}

static const struct srv_mail_vars mail_vars = {
    .app = "<script>&\"'",
    .issuer = "https://id.example",
    .link = "https://id.example/v1/email/verify?token=a-b_c&x=1",
    .email = "ada@example.org",
    .new_email = "ada.new@example.org",
    .hours = 24,
};

TEST(test_mail_render_every_kind)
{
    static const char esc_app[] = "&lt;script&gt;&amp;&quot;&#39;";
    static const char esc_link[] = "https://id.example/v1/email/verify?token=a-b_c&amp;x=1";
    struct srv_mail_templates *t = NULL;
    char why[512], *subject, *text, *html;
    CHECK_MSG(srv_mail_templates_load(NULL, &t, why, sizeof why) == SRV_OK, "%s", why);
    th_defer(free_templates, t);

    for (int k = 0; k < SRV_MAIL_KINDS; k++) {
        const char *name = srv_mail_kind_name(k);
        int has_link = k == SRV_MAIL_VERIFY_EMAIL || k == SRV_MAIL_PASSWORD_RESET ||
                       k == SRV_MAIL_EMAIL_CHANGE;
        CHECK(name != NULL);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(name, srv_mail_kind_name(j)) != 0);
        CHECK_INT(srv_mail_render(t, k, &mail_vars, &subject, &text, &html), SRV_OK);
        /* the text shows values as they are; the HTML escapes them; the subject is not HTML */
        int ok = strstr(text, mail_vars.app) && strstr(html, esc_app) && !strstr(html, "<script") &&
                 strstr(subject, mail_vars.app) && !strstr(text, "&lt;") && !strstr(text, "{{") &&
                 !strstr(html, "{{") && !strstr(subject, "{{") && !strpbrk(subject, "\r\n") &&
                 !strstr(html, "<img");
        if (has_link)
            ok = ok && strstr(text, mail_vars.link) && strstr(text, "24 h") &&
                 strstr(html, "24 h") && strstr(html, esc_link) &&
                 strstr(strstr(html, esc_link) + 1, esc_link) &&
                 strstr(html, ">https://id.example/v1/email/verify?token=a-b_c&amp;x=1</a>") &&
                 !strstr(html, mail_vars.link);
        if (k == SRV_MAIL_EMAIL_CHANGE || k == SRV_MAIL_EMAIL_CHANGED)
            ok = ok && strstr(text, mail_vars.new_email) && strstr(html, mail_vars.new_email);
        free3(subject, text, html);
        CHECK_MSG(ok, "%s", name);
    }
    CHECK(srv_mail_kind_name(SRV_MAIL_KINDS) == NULL);
    CHECK(srv_mail_kind_name((enum srv_mail_kind) - 1) == NULL);
    subject = text = html = (char *)"x";
    CHECK_INT(srv_mail_render(t, SRV_MAIL_KINDS, &mail_vars, &subject, &text, &html), SRV_EINVAL);
    CHECK(!subject && !text && !html);
    /* NULL values render as nothing */
    struct srv_mail_vars none = {0};
    CHECK_INT(srv_mail_render(t, SRV_MAIL_PASSWORD_CHANGED, &none, &subject, &text, &html), SRV_OK);
    CHECK(!strstr(text, "{{") && !strstr(text, "(null)"));
    free3(subject, text, html);
}

TEST(test_mail_subject_stays_one_line)
{
    struct srv_mail_templates *t = NULL;
    struct srv_mail_vars v = mail_vars;
    char why[512], *subject, *text, *html;
    CHECK_MSG(srv_mail_templates_load("", &t, why, sizeof why) == SRV_OK, "%s", why);
    th_defer(free_templates, t);
    v.app = "Evil\r\nBcc: mallory@example.org\n";
    CHECK_INT(srv_mail_render(t, SRV_MAIL_PASSWORD_RESET, &v, &subject, &text, &html), SRV_OK);
    int one_line = !strpbrk(subject, "\r\n") && strstr(subject, "Evil  Bcc: mallory@example.org ");
    int text_as_is = strstr(text, v.app) != NULL;
    free3(subject, text, html);
    CHECK_MSG(one_line, "the subject keeps a line end");
    CHECK(text_as_is);
}

TEST(test_mail_templates_from_a_folder)
{
    static const char mine[] = "Hi {{email}}, confirm at {{link}} ({{app}}, {{hours}} h)\n";
    struct srv_mail_templates *t = NULL, *builtin = NULL;
    char dir[1024], why[512], *s1, *t1, *h1, *s2, *t2, *h2;
    CHECK(sub_dir("mail", dir, sizeof dir));
    CHECK(put_file(dir, "verify-email.txt", mine, sizeof mine - 1));
    CHECK(put_file(dir, "unrelated.txt", "{{nope}}", 8)); /* not a template name: not read */
    CHECK_MSG(srv_mail_templates_load(dir, &t, why, sizeof why) == SRV_OK, "%s", why);
    th_defer(free_templates, t);
    CHECK_MSG(srv_mail_templates_load(NULL, &builtin, why, sizeof why) == SRV_OK, "%s", why);
    th_defer(free_templates, builtin);

    for (int k = 0; k < SRV_MAIL_KINDS; k++) {
        CHECK_INT(srv_mail_render(t, k, &mail_vars, &s1, &t1, &h1), SRV_OK);
        CHECK_INT(srv_mail_render(builtin, k, &mail_vars, &s2, &t2, &h2), SRV_OK);
        /* only verify-email's text is the folder's; its subject and HTML, and every other kind,
         * stay built-in */
        int same = strcmp(s1, s2) == 0 && strcmp(h1, h2) == 0 &&
                   (k == SRV_MAIL_VERIFY_EMAIL ? strcmp(t1, t2) != 0 : strcmp(t1, t2) == 0);
        int mine_ok = k != SRV_MAIL_VERIFY_EMAIL ||
                      strcmp(t1, "Hi ada@example.org, confirm at "
                                 "https://id.example/v1/email/verify?token=a-b_c&x=1 "
                                 "(<script>&\"', 24 h)\n") == 0;
        free3(s1, t1, h1);
        free3(s2, t2, h2);
        CHECK_MSG(same && mine_ok, "%s", srv_mail_kind_name(k));
    }

    /* a subject file: its line end is dropped */
    struct srv_mail_templates *again = NULL;
    CHECK(put_file(dir, "password-reset.subject", "New password for {{app}}\r\n", 26));
    CHECK_MSG(srv_mail_templates_load(dir, &again, why, sizeof why) == SRV_OK, "%s", why);
    th_defer(free_templates, again);
    CHECK_INT(srv_mail_render(again, SRV_MAIL_PASSWORD_RESET, &mail_vars, &s1, &t1, &h1), SRV_OK);
    int subject_ok = strcmp(s1, "New password for <script>&\"'") == 0;
    free3(s1, t1, h1);
    CHECK(subject_ok);
}

/* Loading from a folder holding one file name = data (or a folder of that name when data is
 * NULL) fails with SRV_EUSAGE and a why that names the file and says want. */
static int load_refuses(const char *name, const char *data, size_t n, const char *want)
{
    static int round;
    struct srv_mail_templates *t = (struct srv_mail_templates *)1;
    char dir[1024], sub[32], path[1100], why[512] = "";
    snprintf(sub, sizeof sub, "bad%d", round++);
    if (!sub_dir(sub, dir, sizeof dir))
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (data ? !put_file(dir, name, data, n) : mkdir(path, 0700) != 0)
        return 0;
    int rc = srv_mail_templates_load(dir, &t, why, sizeof why);
    if (rc != SRV_EUSAGE || t || !strstr(why, path) || !strstr(why, want)) {
        fprintf(stderr, "  %s: rc %d, why \"%s\"\n", name, rc, why);
        srv_mail_templates_free(rc == SRV_OK ? t : NULL);
        return 0;
    }
    return 1;
}

TEST(test_mail_templates_refuse_bad_files)
{
    static char big[SRV_MAIL_TEMPLATE_MAX + 1];
    memset(big, 'a', sizeof big);
    CHECK(load_refuses("password-reset.html", "<p>{{nope}}</p>", 15, "\"{{nope}}\""));
    CHECK(load_refuses("email-change.txt", "open {{link", 11, "{{link"));
    CHECK(load_refuses("verify-email.txt", big, sizeof big, "over 65536 bytes"));
    CHECK(load_refuses("register-taken.txt",
                       "Gr\xfc\xdf"
                       "e",
                       5, "not UTF-8"));
    CHECK(load_refuses("email-changed.txt", "a\0b", 3, "not UTF-8"));
    CHECK(load_refuses("verify-email.subject", "Hello\nBcc: x@example.org", 24, "one line"));
    /* one that cannot be read: a folder (chmod 000 would not stop root, who runs CI) */
    CHECK(load_refuses("password-changed.html", NULL, 0, "not a regular file"));

    /* exactly the limit is fine */
    struct srv_mail_templates *t = NULL;
    char dir[1024], why[512];
    CHECK(sub_dir("limit", dir, sizeof dir));
    CHECK(put_file(dir, "verify-email.html", big, sizeof big - 1));
    CHECK_MSG(srv_mail_templates_load(dir, &t, why, sizeof why) == SRV_OK, "%s", why);
    srv_mail_templates_free(t);
    if (geteuid() != 0) {
        CHECK(put_file(dir, "verify-email.txt", "x", 1));
        snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/verify-email.txt");
        CHECK(chmod(dir, 0) == 0);
        dir[strlen(dir) - sizeof "/verify-email.txt" + 1] = '\0';
        CHECK_INT(srv_mail_templates_load(dir, &t, why, sizeof why), SRV_EUSAGE);
        CHECK(strstr(why, "verify-email.txt") != NULL);
    }
}

/* Each line of the message: CRLF ended (no bare CR or LF), at most 998 octets; header lines at
 * most 78 and the encoded parts' lines at most 76. 1, or 0 with the line number in *bad. */
static int lines_ok(const char *m, size_t len, int *bad)
{
    int line = 1, in_body = 0;
    for (size_t at = 0; at < len; line++) {
        const char *end = memchr(m + at, '\n', len - at);
        size_t n = end ? (size_t)(end - (m + at)) : len - at;
        *bad = line;
        if (!end || n == 0 || m[at + n - 1] != '\r' || memchr(m + at, '\r', n - 1))
            return 0;
        n--; /* without the CR */
        if (n > 998 || n > (size_t)(in_body ? 76 : 78))
            return 0;
        if (n == 0)
            in_body = 1;
        at += n + 2;
    }
    return 1;
}

TEST(test_mail_compose_headers_and_lines)
{
    static const char subject[] = "Bestätigen Sie Ihre E-Mail-Adresse — ✓ für <script>&\"'";
    static const char text[] = "Grüße — ✓\nTrailing blank \nTab\tand = sign\n";
    char html[512], *m = NULL, *m2 = NULL;
    size_t len = 0, len2 = 0;
    int bad = 0;
    snprintf(html, sizeof html, "<p>%0150d</p>\r\n<p>✓</p>", 7);
    CHECK_INT(srv_mail_compose("idpd@example.org", "ada@example.org", subject, text, html,
                               "0123.abc@id.example", 1767225600, &m, &len),
              SRV_OK);
    th_defer(free, m);
    CHECK_INT(strlen(m), len);
    static const char head[] = "From: idpd@example.org\r\nTo: ada@example.org\r\nSubject: ";
    CHECK(strncmp(m, head, sizeof head - 1) == 0);
    CHECK(strstr(m, "\r\nSubject: =?UTF-8?B?") != NULL);
    CHECK(strstr(m, "\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n") != NULL);
    CHECK(strstr(m, "\r\nMessage-ID: <0123.abc@id.example>\r\n") != NULL);
    CHECK(strstr(m, "\r\nMIME-Version: 1.0\r\n") != NULL);
    CHECK(strstr(m, "\r\nAuto-Submitted: auto-generated\r\n") != NULL);
    CHECK(strstr(m, "\r\nContent-Type: multipart/alternative;\r\n boundary=\"=_") != NULL);
    CHECK(strstr(m, "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe =E2=80=94 "
                    "=E2=9C=93\r\nTrailing blank=20\r\nTab\tand =3D sign\r\n\r\n--=_") != NULL);
    CHECK(strstr(m, "\r\nContent-Type: text/html; charset=utf-8\r\n") != NULL);
    CHECK_MSG(lines_ok(m, len, &bad), "line %d", bad);
    /* the boundary is new each time */
    CHECK_INT(srv_mail_compose("idpd@example.org", "ada@example.org", subject, text, html,
                               "0124.abc@id.example", 1767225600, &m2, &len2),
              SRV_OK);
    th_defer(free, m2);
    const char *b1 = strstr(m, "boundary=\""), *b2 = strstr(m2, "boundary=\"");
    CHECK(b1 && b2 && strncmp(b1, b2, 44) != 0);

    /* printable ASCII that fits stays as it is; a long one is encoded and folded */
    char *m3 = NULL, long_subject[200];
    memset(long_subject, 'x', sizeof long_subject - 1);
    long_subject[sizeof long_subject - 1] = '\0';
    CHECK_INT(srv_mail_compose("a@example.org", "b@example.org", "Reset your password", "t", "h",
                               "1@x", 0, &m3, &len),
              SRV_OK);
    int plain = strstr(m3, "\r\nSubject: Reset your password\r\nDate: Thu, 01 Jan 1970") != NULL;
    free(m3);
    CHECK(plain);
    CHECK_INT(srv_mail_compose("a@example.org", "b@example.org", long_subject, "t", "h", "1@x", 0,
                               &m3, &len),
              SRV_OK);
    int folded = strstr(m3, "\r\nSubject: =?UTF-8?B?eHh4") && strstr(m3, "?=\r\n =?UTF-8?B?");
    int short_lines = lines_ok(m3, len, &bad);
    free(m3);
    CHECK(folded);
    CHECK_MSG(short_lines, "line %d", bad);
}

TEST(test_mail_compose_refuses_injection)
{
    static const char *const bad_addr[] = {"ada@example.org\r\nBcc: x@example.org",
                                           "ada@example.org\nBcc: x@example.org",
                                           "Ada <ada@example.org>",
                                           "ada@example.org, eve@example.org",
                                           "ada@example.org;",
                                           "ada@example.org (eve)",
                                           "ada @example.org",
                                           "",
                                           "a\x7f@example.org",
                                           "\xff@example.org"};
    char *m = (char *)"x";
    size_t len = 1;
    for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
        CHECK_MSG(srv_mail_compose("idpd@example.org", bad_addr[i], "s", "t", "h", "1@x", 0, &m,
                                   &len) == SRV_EINVAL &&
                      !m && !len,
                  "to %zu", i);
        CHECK_MSG(srv_mail_compose(bad_addr[i], "ada@example.org", "s", "t", "h", "1@x", 0, &m,
                                   &len) == SRV_EINVAL,
                  "from %zu", i);
    }
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s", "t", "h", "1@x>\r\nBcc: c@x", 0, &m, &len),
              SRV_EINVAL);
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s", "t", "h", "", 0, &m, &len), SRV_EINVAL);
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s\xff", "t", "h", "1@x", 0, &m, &len), SRV_EINVAL);
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s", "t\xc3", "h", "1@x", 0, &m, &len), SRV_EINVAL);
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s", "t", NULL, "1@x", 0, &m, &len), SRV_EINVAL);
    CHECK_INT(srv_mail_compose("a@x", "b@x", "s", "t", "h", "1@x", -1, &m, &len), SRV_EINVAL);
    /* a line end in the subject is no header of its own: it is inside an encoded-word */
    CHECK_INT(srv_mail_compose("a@x", "b@x", "Hi\r\nBcc: c@x", "t", "h", "1@x", 0, &m, &len),
              SRV_OK);
    int contained = !strstr(m, "\nBcc:") && strstr(m, "\r\nSubject: =?UTF-8?B?");
    free(m);
    CHECK(contained);
}

/* Runs Debian's python3 (its email package) on argv; 1 when it exits 0. */
static int python_ok(const char *script, const char *a1, const char *a2, const char *a3,
                     const char *a4)
{
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", "-c", script, a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

/* Another parser's reading of a composed message: Python's email package (policy default) finds
 * the two parts and decodes subject, text and HTML back to what was composed. Line ends are
 * compared as "\n": a line end of a text part is CRLF on the wire (RFC 2046 §4.1.1). */
static const char py_check[] =
    "import sys, email, email.policy\n"
    "msg, want_text, want_html, want_subject = (open(p, 'rb').read() for p in sys.argv[1:5])\n"
    "m = email.message_from_bytes(msg, policy=email.policy.default)\n"
    "def fail(why):\n"
    "    sys.stderr.write('  python: ' + why + '\\n'); sys.exit(1)\n"
    "if m.defects: fail('defects %r' % m.defects)\n"
    "if m.get_content_type() != 'multipart/alternative': fail(m.get_content_type())\n"
    "if str(m['subject']) != want_subject.decode(): fail('subject %r' % str(m['subject']))\n"
    "if m['to'].addresses[0].addr_spec != 'ada@example.org': fail('to')\n"
    "if m['date'].datetime.timestamp() != 1767225600: fail('date')\n"
    "parts = list(m.iter_parts())\n"
    "if [p.get_content_type() for p in parts] != ['text/plain', 'text/html']: fail('parts')\n"
    "for p, want in zip(parts, (want_text, want_html)):\n"
    "    if p.defects: fail('part defects %r' % p.defects)\n"
    "    got = p.get_content().replace('\\r\\n', '\\n')\n"
    "    if got != want.decode(): fail('%s: %r' % (p.get_content_type(), got))\n";

TEST(test_mail_compose_read_by_python)
{
    char text[1024], html[1024], subject[256], long_line[121], *m = NULL;
    char p_msg[1024], p_text[1024], p_html[1024], p_subject[1024];
    size_t len = 0;
    const char *dir = th_tmpdir();
    memset(long_line, 'w', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    long_line[60] = ' ';
    snprintf(text, sizeof text,
             "Grüße — ✓\n\nA line of 120: %s\n=3D is no escape here\n.\nTrailing blanks \t\n"
             "Last line without a line end",
             long_line);
    snprintf(html, sizeof html,
             "<!DOCTYPE html>\n<p>Grüße — ✓</p>\n<p style=\"color:#1f6feb\">%s%s</p>\n", long_line,
             long_line);
    snprintf(subject, sizeof subject, "Grüße — ✓ %s", long_line);
    CHECK_INT(srv_mail_compose("idpd@example.org", "ada@example.org", subject, text, html,
                               "1@id.example", 1767225600, &m, &len),
              SRV_OK);
    th_defer(free, m);
    snprintf(p_msg, sizeof p_msg, "%s/message.eml", dir);
    snprintf(p_text, sizeof p_text, "%s/text", dir);
    snprintf(p_html, sizeof p_html, "%s/html", dir);
    snprintf(p_subject, sizeof p_subject, "%s/subject", dir);
    CHECK(put_file(dir, "message.eml", m, len) && put_file(dir, "text", text, strlen(text)) &&
          put_file(dir, "html", html, strlen(html)) &&
          put_file(dir, "subject", subject, strlen(subject)));
    CHECK(python_ok(py_check, p_msg, p_text, p_html, p_subject));
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(test_scanner_reads_paths_and_methods);
    RUN(test_scanner_refuses_what_it_cannot_read);
    RUN(test_route_table_matches_openapi);
    RUN(test_route_at_bounds);
    RUN(test_route_find_every_route);
    RUN(test_route_find_known_paths);
    RUN(test_route_find_405_and_404);
    RUN(test_route_allow);
    RUN(test_urldecode);
    RUN(test_utf8_valid);
    RUN(test_role_valid);
    RUN(test_name_valid);
    RUN(test_json_writer);
    RUN(test_workers_share_fairly);
    RUN(test_workers_full);
    RUN(test_addr_group);
    RUN(test_email_key);
    RUN(test_uri_port_valid);
    RUN(test_smtp_sends_through_a_real_server);
    RUN(test_mail_render_every_kind);
    RUN(test_mail_subject_stays_one_line);
    RUN(test_mail_templates_from_a_folder);
    RUN(test_mail_templates_refuse_bad_files);
    RUN(test_mail_compose_headers_and_lines);
    RUN(test_mail_compose_refuses_injection);
    RUN(test_mail_compose_read_by_python);
    return th_done();
}
