/* keys/alg.c — the three JWS algorithms idpd signs with. */
#include "keys/internal.h"

#include <string.h>

static const char *const alg_names[] = {
    [KEYS_ALG_ES256] = "ES256",
    [KEYS_ALG_RS256] = "RS256",
    [KEYS_ALG_EDDSA] = "EdDSA",
};

int keys_alg_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (strcmp(s, alg_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *keys_alg_name(enum keys_alg alg)
{
    if ((size_t)alg >= sizeof alg_names / sizeof alg_names[0])
        return "?";
    return alg_names[alg];
}
