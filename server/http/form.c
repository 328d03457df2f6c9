/* application/x-www-form-urlencoded bodies of the OAuth endpoints (RFC 6749 §3.1, §B). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http/http.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *srv_urldecode(const char *s, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* 1 when the Content-Type is the form type, with or without parameters (charset=…). */
static int is_form_type(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}

void srv_form_free(struct srv_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        free(form->names[i]);
        if (form->values[i]) {
            crypto_wipe(form->values[i], strlen(form->values[i])); /* may hold a secret */
            free(form->values[i]);
        }
    }
    form->n = 0;
}

const char *srv_form_get(const struct srv_form *form, const char *name)
{
    for (size_t i = 0; i < form->n; i++)
        if (strcmp(form->names[i], name) == 0)
            return form->values[i][0] ? form->values[i] : NULL;
    return NULL;
}

int srv_form_parse(const char *body, size_t len, struct srv_form *form, char *why, size_t cap)
{
    const char *p = body, *end = body + len;
    char *name = NULL, *value = NULL;
    int rc = SRV_OK;
    memset(form, 0, sizeof *form);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *name_end = eq ? eq : pair_end;
        size_t nlen = 0, vlen = 0;
        if (pair_end == p) { /* "a=1&&b=2": an empty pair carries nothing */
            p = pair_end + 1;
            continue;
        }
        name = srv_urldecode(p, (size_t)(name_end - p), &nlen);
        value = eq ? srv_urldecode(eq + 1, (size_t)(pair_end - eq - 1), &vlen) : strdup("");
        if (!name || !value || !srv_utf8_valid(name, nlen) || !srv_utf8_valid(value, vlen)) {
            snprintf(why, cap, "the body is not valid form encoding of UTF-8 text");
            rc = SRV_EINVAL;
            goto out;
        }
        for (size_t i = 0; i < form->n; i++) {
            if (strcmp(form->names[i], name) == 0) {
                snprintf(why, cap, "parameter %.64s is repeated", name);
                rc = SRV_EINVAL;
                goto out;
            }
        }
        if (form->n == SRV_FORM_MAX_PARAMS) {
            snprintf(why, cap, "too many parameters");
            rc = SRV_EINVAL;
            goto out;
        }
        form->names[form->n] = name;
        form->values[form->n] = value;
        form->n++;
        name = value = NULL;
        p = pair_end + 1;
    }
out:
    free(name);
    if (value) {
        crypto_wipe(value, strlen(value));
        free(value);
    }
    if (rc)
        srv_form_free(form);
    return rc;
}

int srv_form_parse_or_error(struct srv_request *rq, struct srv_form *form)
{
    size_t len;
    const char *body = srv_rq_body(rq, &len);
    char why[128];
    memset(form, 0, sizeof *form);
    if (!is_form_type(srv_rq_header(rq, "Content-Type"))) {
        srv_reply_oauth_error(rq, 400, "invalid_request",
                              "the body must be application/x-www-form-urlencoded");
        return SRV_ERESPONDED;
    }
    if (srv_form_parse(body, len, form, why, sizeof why) != SRV_OK) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "%s", why);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}
