/* The texts of the messages idpd sends: built into the binary, each replaceable by a file of the
 * operator's (a folder of <kind>.subject, <kind>.txt and <kind>.html), and rendered with the
 * values of one message. Templates know six {{names}} and nothing else: no loops, no logic, so a
 * template cannot do more than place values, and every name is checked when the files are read
 * at start, not when the first user waits for a mail. */
#define LOG_MODULE "mail"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/core.h"

enum part { SUBJECT, TEXT, HTML, PARTS };

static const char *const part_ext[PARTS] = {"subject", "txt", "html"};

static const char *const kind_names[SRV_MAIL_KINDS] = {
    [SRV_MAIL_VERIFY_EMAIL] = "verify-email",         [SRV_MAIL_PASSWORD_RESET] = "password-reset",
    [SRV_MAIL_PASSWORD_CHANGED] = "password-changed", [SRV_MAIL_EMAIL_CHANGE] = "email-change",
    [SRV_MAIL_EMAIL_CHANGED] = "email-changed",       [SRV_MAIL_REGISTER_TAKEN] = "register-taken",
};

/* ---- the built-in texts ----
 * Short and plain, as Keycloak's and Kratos's are: what happened, the link and how long it
 * lives, and what to do when it was not you. The HTML bodies share one frame: inline styles
 * only, no images or scripts (mail clients block both, and either would tell a sender when the
 * mail was opened), and the link shown as text as well as a button, for clients that strip
 * styles and for readers who check where a link goes. */

#define PAGE(title, body)                                                                          \
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"                      \
    "<meta name=\"viewport\" content=\"width=device-width\">\n<title>" title "</title>\n"          \
    "</head>\n<body style=\"margin:0;padding:24px;font-family:sans-serif;font-size:15px;"          \
    "line-height:1.5;color:#1f2328;background:#ffffff\">\n"                                        \
    "<div style=\"max-width:560px\">\n" body "</div>\n</body>\n</html>\n"

#define BUTTON(label)                                                                              \
    "<p><a href=\"{{link}}\" style=\"display:inline-block;padding:10px 20px;background:#1f6feb;"   \
    "color:#ffffff;text-decoration:none;border-radius:6px\">" label "</a></p>\n"                   \
    "<p>Or open this link:<br>\n<a href=\"{{link}}\" "                                             \
    "style=\"color:#1f6feb;word-break:break-all\">{{link}}</a></p>\n"

/* A page with a link: what comes before the button, its label, what comes after. */
#define LINK_PAGE(title, before, label, after) PAGE(title, before BUTTON(label) after)

#define LINK_LIFE "This link can be used once and is valid for {{hours}} h."

static const char *const builtin[SRV_MAIL_KINDS][PARTS] = {
    [SRV_MAIL_VERIFY_EMAIL] =
        {
            "Confirm your email address for {{app}}",
            "Hello,\n\n"
            "Please confirm that {{email}} is the email address of your {{app}} account by "
            "opening this link:\n\n"
            "{{link}}\n\n" LINK_LIFE "\n\n"
            "If you did not create an account with {{app}}, you can ignore this message.\n",
            LINK_PAGE("Confirm your email address",
                      "<p>Hello,</p>\n"
                      "<p>Please confirm that {{email}} is the email address of your {{app}} "
                      "account.</p>\n",
                      "Confirm email address",
                      "<p>" LINK_LIFE "</p>\n"
                      "<p>If you did not create an account with {{app}}, you can ignore this "
                      "message.</p>\n"),
        },
    [SRV_MAIL_PASSWORD_RESET] =
        {
            "Reset your {{app}} password",
            "Hello,\n\n"
            "Someone asked to reset the password of the {{app}} account for {{email}}. To "
            "choose a new password, open this link:\n\n"
            "{{link}}\n\n" LINK_LIFE "\n\n"
            "If you did not ask for this, you can ignore this message: your password stays as "
            "it is.\n",
            LINK_PAGE("Reset your password",
                      "<p>Hello,</p>\n"
                      "<p>Someone asked to reset the password of the {{app}} account for "
                      "{{email}}.</p>\n",
                      "Choose a new password",
                      "<p>" LINK_LIFE "</p>\n"
                      "<p>If you did not ask for this, you can ignore this message: your "
                      "password stays as it is.</p>\n"),
        },
    [SRV_MAIL_PASSWORD_CHANGED] =
        {
            "Your {{app}} password was changed",
            "Hello,\n\n"
            "The password of your {{app}} account ({{email}}) has just been changed. For your "
            "security, every session of the account has been signed out: sign in again with "
            "the new password.\n\n"
            "If you did not change it, contact your {{app}} administrator right away.\n",
            PAGE("Your password was changed",
                 "<p>Hello,</p>\n"
                 "<p>The password of your {{app}} account ({{email}}) has just been changed. For "
                 "your security, every session of the account has been signed out: sign in "
                 "again with the new password.</p>\n"
                 "<p>If you did not change it, contact your {{app}} administrator right "
                 "away.</p>\n"),
        },
    [SRV_MAIL_EMAIL_CHANGE] =
        {
            "Confirm your new email address for {{app}}",
            "Hello,\n\n"
            "You asked to make {{new_email}} the email address of your {{app}} account. To "
            "confirm it, open this link:\n\n"
            "{{link}}\n\n" LINK_LIFE " Until then the account keeps its current address.\n\n"
            "If you did not ask for this, you can ignore this message.\n",
            LINK_PAGE("Confirm your new email address",
                      "<p>Hello,</p>\n"
                      "<p>You asked to make {{new_email}} the email address of your {{app}} "
                      "account.</p>\n",
                      "Confirm new address",
                      "<p>" LINK_LIFE " Until then the account keeps its current address.</p>\n"
                      "<p>If you did not ask for this, you can ignore this message.</p>\n"),
        },
    [SRV_MAIL_EMAIL_CHANGED] =
        {
            "The email address of your {{app}} account was changed",
            "Hello,\n\n"
            "The email address of your {{app}} account is now {{new_email}}. Messages about "
            "the account go to that address from now on.\n\n"
            "If you did not make this change, contact your {{app}} administrator right away.\n",
            PAGE("Your email address was changed",
                 "<p>Hello,</p>\n"
                 "<p>The email address of your {{app}} account is now {{new_email}}. Messages "
                 "about the account go to that address from now on.</p>\n"
                 "<p>If you did not make this change, contact your {{app}} administrator right "
                 "away.</p>\n"),
        },
    [SRV_MAIL_REGISTER_TAKEN] =
        {
            "Someone tried to sign up for {{app}} with your email address",
            "Hello,\n\n"
            "Someone tried to sign up for {{app}} with {{email}}, but an account with this "
            "address already exists.\n\n"
            "If this was you, sign in instead, or reset your password if you have forgotten "
            "it. If it was not you, you can ignore this message: your account has not "
            "changed.\n",
            PAGE("Someone tried to sign up with your email address",
                 "<p>Hello,</p>\n"
                 "<p>Someone tried to sign up for {{app}} with {{email}}, but an account with "
                 "this address already exists.</p>\n"
                 "<p>If this was you, sign in instead, or reset your password if you have "
                 "forgotten it. If it was not you, you can ignore this message: your account "
                 "has not changed.</p>\n"),
        },
};

struct srv_mail_templates {
    char *part[SRV_MAIL_KINDS][PARTS]; /* malloc'd, checked by check_names() */
};

const char *srv_mail_kind_name(enum srv_mail_kind k)
{
    return (unsigned)k < SRV_MAIL_KINDS ? kind_names[k] : NULL;
}

/* ---- {{names}} ---- */

enum var { APP, ISSUER, LINK, EMAIL, NEW_EMAIL, HOURS, VARS };

static const char *const var_names[VARS] = {"app", "issuer", "link", "email", "new_email", "hours"};

/* The variable named at s (just after "{{"), and in *len the length of "name}}"; -1 when s does
 * not start with a known name followed by "}}". */
static int var_at(const char *s, size_t *len)
{
    for (int i = 0; i < VARS; i++) {
        size_t n = strlen(var_names[i]);
        if (strncmp(s, var_names[i], n) == 0 && strncmp(s + n, "}}", 2) == 0) {
            *len = n + 2;
            return i;
        }
    }
    return -1;
}

/* 1 when every "{{" in s starts a known name; else 0 with the reason (for a file named where). */
static int check_names(const char *s, const char *where, char *why, size_t cap)
{
    for (const char *p = strstr(s, "{{"); p; p = strstr(p, "{{")) {
        size_t len;
        if (var_at(p + 2, &len) < 0) {
            const char *end = strstr(p + 2, "}}");
            int shown = end && end - p <= 40 ? (int)(end - p + 2) : 12;
            snprintf(why, cap,
                     "%s: \"%.*s\" is not a template variable (app, issuer, link, email, "
                     "new_email, hours)",
                     where, shown, p);
            return 0;
        }
        p += 2 + len;
    }
    return 1;
}

/* ---- reading the operator's files ---- */

/* Reads path into *out (malloc'd, NUL-terminated). SRV_OK; SRV_OK with *out NULL when there is
 * no such file; SRV_EUSAGE (why) for a file that cannot be used; SRV_ENOMEM. */
static int read_template(const char *path, char **out, char *why, size_t cap)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    /* O_NONBLOCK: a FIFO of that name must not hang the start; fstat() then refuses it */
    int rc = SRV_EUSAGE, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    *out = NULL;
    if (fd < 0) {
        if (errno == ENOENT)
            return SRV_OK;
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        return SRV_EUSAGE;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "%s: not a regular file", path);
        goto out;
    }
    /* One byte more than allowed, so a file that grew since fstat is still caught. */
    if (!(text = malloc(SRV_MAIL_TEMPLATE_MAX + 2))) {
        rc = SRV_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, text + got, SRV_MAIL_TEMPLATE_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, cap, "%s: %s", path, strerror(errno));
            goto out;
        }
        got += (size_t)n;
        if (n == 0 || got > SRV_MAIL_TEMPLATE_MAX)
            break;
    }
    if (got > SRV_MAIL_TEMPLATE_MAX) {
        snprintf(why, cap, "%s: over %d bytes", path, SRV_MAIL_TEMPLATE_MAX);
        goto out;
    }
    text[got] = '\0';
    if (!srv_utf8_valid(text, got)) {
        snprintf(why, cap, "%s: not UTF-8 text", path);
        goto out;
    }
    *out = text;
    text = NULL;
    rc = SRV_OK;
out:
    free(text);
    close(fd);
    return rc;
}

/* A subject file ends with a line end as editors write it; anything after the first line would
 * end up in the headers, so it is refused. */
static int subject_one_line(char *s, const char *where, char *why, size_t cap)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (strpbrk(s, "\r\n")) {
        snprintf(why, cap, "%s: a subject is one line", where);
        return 0;
    }
    return 1;
}

/* One part of one kind: the file when there is one, else the built-in text. */
static int load_part(const char *dir, enum srv_mail_kind k, enum part p, char **out, char *why,
                     size_t cap)
{
    char where[4096];
    int rc;

    *out = NULL;
    if (dir && dir[0]) {
        if ((size_t)snprintf(where, sizeof where, "%s/%s.%s", dir, kind_names[k], part_ext[p]) >=
            sizeof where) {
            snprintf(why, cap, "mail template folder name too long");
            return SRV_EUSAGE;
        }
        if ((rc = read_template(where, out, why, cap)) != SRV_OK)
            return rc;
    }
    if (!*out) {
        snprintf(where, sizeof where, "built-in %s.%s", kind_names[k], part_ext[p]);
        if (!(*out = strdup(builtin[k][p])))
            return SRV_ENOMEM;
    }
    if ((p == SUBJECT && !subject_one_line(*out, where, why, cap)) ||
        !check_names(*out, where, why, cap)) {
        free(*out);
        *out = NULL;
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

int srv_mail_templates_load(const char *dir, struct srv_mail_templates **out, char *why, size_t cap)
{
    struct srv_mail_templates *t = NULL;
    int rc = SRV_EINVAL;

    if (!out || !why || !cap)
        return SRV_EINVAL;
    *out = NULL;
    why[0] = '\0';
    if (!(t = calloc(1, sizeof *t))) {
        rc = SRV_ENOMEM;
        goto out;
    }
    /* a folder that is not there is a typo, not "no overrides": say so at the start */
    struct stat dst;
    if (dir && dir[0] && (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode))) {
        snprintf(why, cap, "%s is not a folder", dir);
        rc = SRV_EUSAGE;
        goto out;
    }
    for (int k = 0; k < SRV_MAIL_KINDS; k++)
        for (int p = 0; p < PARTS; p++)
            if ((rc = load_part(dir, k, p, &t->part[k][p], why, cap)) != SRV_OK)
                goto out;
    *out = t;
    t = NULL;
    rc = SRV_OK;
out:
    if (rc == SRV_ENOMEM)
        snprintf(why, cap, "out of memory");
    srv_mail_templates_free(t);
    return rc;
}

void srv_mail_templates_free(struct srv_mail_templates *t)
{
    if (!t)
        return;
    for (int k = 0; k < SRV_MAIL_KINDS; k++)
        for (int p = 0; p < PARTS; p++)
            free(t->part[k][p]);
    free(t);
}

/* ---- rendering ---- */

/* A value as part p shows it. The escaper is a twin of srv_html_text() in server/http/html.c,
 * which core may not include (rooms include downwards only). */
static void put_value(struct buf *b, enum part p, const char *s)
{
    for (; s && *s; s++) {
        const char *esc = NULL;
        if (p == HTML) {
            switch (*s) {
            case '&':
                esc = "&amp;";
                break;
            case '<':
                esc = "&lt;";
                break;
            case '>':
                esc = "&gt;";
                break;
            case '"':
                esc = "&quot;";
                break;
            case '\'':
                esc = "&#39;";
                break;
            }
        } else if (p == SUBJECT && (*s == '\r' || *s == '\n')) {
            esc = " "; /* a subject is one header line */
        }
        if (esc)
            buf_appends(b, esc);
        else
            buf_append(b, s, 1);
    }
}

static char *render_part(const char *tpl, enum part p, const struct srv_mail_vars *v)
{
    struct buf b = {0};
    const char *p0 = tpl;
    char hours[24];

    snprintf(hours, sizeof hours, "%" PRId64, v->hours);
    const char *values[VARS] = {
        [APP] = v->app,     [ISSUER] = v->issuer,       [LINK] = v->link,
        [EMAIL] = v->email, [NEW_EMAIL] = v->new_email, [HOURS] = hours,
    };
    buf_reserve(&b, strlen(tpl) + 256);
    for (const char *q = strstr(p0, "{{"); q; q = strstr(p0, "{{")) {
        size_t len;
        int var = var_at(q + 2, &len);
        buf_append(&b, p0, (size_t)(q - p0));
        if (var < 0) { /* cannot happen after check_names(); kept as text */
            buf_append(&b, q, 2);
            p0 = q + 2;
            continue;
        }
        put_value(&b, p, values[var]);
        p0 = q + 2 + len;
    }
    buf_appends(&b, p0);
    return buf_take(&b, NULL);
}

int srv_mail_render(const struct srv_mail_templates *t, enum srv_mail_kind k,
                    const struct srv_mail_vars *v, char **subject, char **text, char **html)
{
    char **out[PARTS] = {subject, text, html};
    int rc = SRV_EINVAL;

    if (!subject || !text || !html)
        return SRV_EINVAL;
    *subject = *text = *html = NULL;
    if (!t || !v || (unsigned)k >= SRV_MAIL_KINDS)
        goto out;
    rc = SRV_ENOMEM;
    for (int p = 0; p < PARTS; p++)
        if (!(*out[p] = render_part(t->part[k][p], p, v)))
            goto out;
    rc = SRV_OK;
out:
    if (rc != SRV_OK)
        for (int p = 0; p < PARTS; p++) {
            free(*out[p]);
            *out[p] = NULL;
        }
    return rc;
}
