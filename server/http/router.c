/* The router: finds the route of a request in the one static table (server/routes.c). */
#include <string.h>

#include "server/http/http.h"

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
