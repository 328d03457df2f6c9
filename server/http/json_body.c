/* application/json request bodies of the self-service and admin APIs: strict, so a typo in a
 * member name is an error that names it rather than a silently ignored field. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/http/http.h"

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}

/* The nesting depth and the longest string (as sent, escapes included) of a JSON text, measured
 * before parsing, so a deep or bloated body costs one linear scan and never a tree. */
static void json_shape(const char *p, size_t len, size_t *depth, size_t *longest)
{
    size_t d = 0, run = 0;
    int in_string = 0, escaped = 0;
    *depth = *longest = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"') {
                in_string = 0;
                if (run > *longest)
                    *longest = run;
                continue;
            }
            run++;
        } else if (c == '"') {
            in_string = 1;
            run = 0;
        } else if (c == '[' || c == '{') {
            if (++d > *depth)
                *depth = d;
        } else if ((c == ']' || c == '}') && d) {
            d--;
        }
    }
    if (in_string && run > *longest)
        *longest = run;
}

int srv_json_parse(const char *body, size_t len, const char *const *fields, size_t depth_max,
                   size_t string_max, json_t **out, char *why, size_t cap)
{
    json_error_t err;
    const char *key;
    json_t *v, *obj;
    char unknown[256] = "";
    size_t depth, longest;
    *out = NULL;
    json_shape(body, len, &depth, &longest);
    if (depth > depth_max) {
        snprintf(why, cap, "the body nests deeper than %zu levels (json_depth_max)", depth_max);
        return SRV_EINVAL;
    }
    if (longest > string_max) {
        snprintf(why, cap, "a string in the body is longer than %zu bytes (json_string_max)",
                 string_max);
        return SRV_EINVAL;
    }
    /* jansson refuses invalid UTF-8 and, with this flag, duplicate members. */
    obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!obj) {
        snprintf(why, cap, "the body is not valid JSON: %s (at byte %d)", err.text, err.position);
        return SRV_EINVAL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        snprintf(why, cap, "the body must be a JSON object");
        return SRV_EINVAL;
    }
    size_t nunknown = 0;
    json_object_foreach(obj, key, v)
    {
        int known = 0;
        for (size_t i = 0; fields[i] && !known; i++)
            known = strcmp(fields[i], key) == 0;
        if (known)
            continue;
        /* counted apart from the names shown: "" is a member name too */
        const char *shown = key[0] ? key : "\"\"";
        if (strlen(unknown) + strlen(shown) + 3 < sizeof unknown) {
            if (nunknown)
                strncat(unknown, ", ", sizeof unknown - strlen(unknown) - 1);
            strncat(unknown, shown, sizeof unknown - strlen(unknown) - 1);
        } else if (!nunknown) {
            strncat(unknown, "(a long name)", sizeof unknown - 1);
        }
        nunknown++;
    }
    if (nunknown) {
        json_decref(obj);
        snprintf(why, cap, "unknown member(s): %s", unknown);
        return SRV_EINVAL;
    }
    *out = obj;
    return SRV_OK;
}

int srv_json_parse_or_error(struct srv_request *rq, const char *const *fields, json_t **out)
{
    size_t len;
    const char *body = srv_rq_body(rq, &len);
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    char why[512];
    *out = NULL;
    if (!is_json_type(srv_rq_header(rq, "Content-Type"))) {
        srv_reply_problem(rq, 415, "the body must be application/json");
        return SRV_ERESPONDED;
    }
    if (srv_json_parse(body, len, fields, (size_t)cfg->json_depth_max, (size_t)cfg->json_string_max,
                       out, why, sizeof why) != SRV_OK) {
        srv_reply_problem(rq, 400, "%s", why);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

int srv_json_optional_or_error(struct srv_request *rq, const char *const *fields, json_t **out)
{
    size_t len = 0;
    *out = NULL;
    srv_rq_body(rq, &len);
    return len == 0 ? SRV_OK : srv_json_parse_or_error(rq, fields, out);
}

int srv_json_string_or_error(struct srv_request *rq, json_t *obj, const char *name, int required,
                             size_t max, const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return SRV_OK;
        srv_reply_problem(rq, 400, "%s is required", name);
        return SRV_ERESPONDED;
    }
    if (!json_is_string(v)) {
        srv_reply_problem(rq, 400, "%s must be a string", name);
        return SRV_ERESPONDED;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len > max || strlen(json_string_value(v)) != len) { /* embedded NUL */
        srv_reply_problem(rq, 400, "%s must be 1 to %zu bytes of text", name, max);
        return SRV_ERESPONDED;
    }
    *out = json_string_value(v);
    return SRV_OK;
}
