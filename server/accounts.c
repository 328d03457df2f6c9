/* Checks on what users type: emails and passwords. */
#include <string.h>

#include "server/internal.h"

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
