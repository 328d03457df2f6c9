/* Checks on what users type: emails and passwords. */
#include <string.h>

#include "server/core/core.h"

int srv_email_valid(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@');
    if (len < 3 || len >= STORE_EMAIL_MAX || !srv_utf8_valid(email, len))
        return 0;
    if (!at || at == email || at[1] == '\0' || strchr(at + 1, '@'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

void srv_email_key_legacy(const char *email, char out[STORE_EMAIL_MAX])
{
    size_t i = 0;
    for (; email[i] && i + 1 < STORE_EMAIL_MAX; i++)
        out[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    out[i] = '\0';
}

int srv_password_valid(const char *pw)
{
    size_t len = strlen(pw);
    return len >= SRV_PASSWORD_MIN && len <= SRV_PASSWORD_MAX && srv_utf8_valid(pw, len);
}

int srv_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (n >= len - i) /* the sequence runs past the end */
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (s[i + k] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates and code points past U+10FFFF */
        if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
            return 0;
        i += n + 1;
    }
    return 1;
}

void srv_user_email_key(const struct store_user *u, char out[STORE_EMAIL_MAX])
{
    if (u->email_key[0])
        snprintf(out, STORE_EMAIL_MAX, "%s", u->email_key);
    else
        srv_email_key_legacy(u->email, out);
}
