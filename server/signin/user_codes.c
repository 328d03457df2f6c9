/* Device user codes (RFC 8628 §6.1): 8 characters of an alphabet without vowels or look-alikes,
 * shown as XXXX-XXXX; what the user types is read without regard to case, dashes or spaces.
 * oauth/ makes them, the device page reads them. */
#include <stdio.h>
#include <string.h>

#include "server/signin/signin.h"

static const char alphabet[] = "BCDFGHJKLMNPQRSTVWXZ";

int srv_user_code_new(char out[STORE_USER_CODE_MAX])
{
    /* rejection sampling: 240 is the largest multiple of 20 below 256, so no bias */
    for (size_t n = 0; n < SRV_USER_CODE_LEN;) {
        uint8_t b;
        if (crypto_random(&b, 1) != CRYPTO_OK)
            return SRV_ERUNTIME;
        if (b < 240)
            out[n++] = alphabet[b % 20];
    }
    out[SRV_USER_CODE_LEN] = '\0';
    return SRV_OK;
}

int srv_user_code_normalise(const char *in, char out[STORE_USER_CODE_MAX])
{
    size_t n = 0;
    for (; in && *in; in++) {
        char c = *in >= 'a' && *in <= 'z' ? (char)(*in - 'a' + 'A') : *in;
        if (c == '-' || c == ' ')
            continue;
        if (!strchr(alphabet, c) || c == '\0' || n == SRV_USER_CODE_LEN)
            return 0;
        out[n++] = c;
    }
    out[n] = '\0';
    return n == SRV_USER_CODE_LEN;
}

void srv_user_code_display(const char *code, char out[SRV_USER_CODE_LEN + 2])
{
    snprintf(out, SRV_USER_CODE_LEN + 2, "%.4s-%.4s", code, code + 4);
}
