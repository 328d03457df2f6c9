/* The Basic scheme's credentials as OAuth clients send them (RFC 7617, RFC 6749 §2.3.1). */
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"

#define BASIC_MAX 2048 /* longest credentials looked at, in base64 characters */

/* Standard base64 (RFC 4648 §4, padded), decoded by rewriting it to base64url so the one strict
 * decoder in crypto/ does the work. NULL when it is not that. */
static char *decode_base64(const char *b64, size_t *outlen)
{
    size_t len = strlen(b64), i;
    char *url = NULL, *out = NULL;
    if (len == 0 || len % 4 != 0 || len > BASIC_MAX)
        return NULL;
    while (len && b64[len - 1] == '=' && strlen(b64) - len < 2)
        len--;
    url = malloc(len + 1);
    out = malloc(len + 1);
    if (!url || !out)
        goto fail;
    for (i = 0; i < len; i++) {
        char c = b64[i];
        if (c == '-' || c == '_')
            goto fail; /* not in the standard alphabet */
        url[i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    if (crypto_b64url_decode(url, len, out, len + 1, outlen) != CRYPTO_OK)
        goto fail;
    out[*outlen] = '\0';
    crypto_wipe(url, len);
    free(url);
    return out;
fail:
    if (url)
        crypto_wipe(url, len);
    free(url);
    free(out);
    return NULL;
}

int srv_basic_parse(const char *credentials, char **id, size_t *id_len, char **secret,
                    size_t *secret_len)
{
    size_t dlen = 0;
    char *decoded = decode_base64(credentials, &dlen);
    char *colon = decoded ? memchr(decoded, ':', dlen) : NULL;
    int rc = SRV_EINVAL;
    *id = *secret = NULL;
    *id_len = *secret_len = 0;
    if (!colon)
        goto out;
    *id = srv_urldecode(decoded, (size_t)(colon - decoded), id_len);
    *secret = srv_urldecode(colon + 1, dlen - (size_t)(colon - decoded) - 1, secret_len);
    if (*id && *secret && srv_utf8_valid(*id, *id_len))
        rc = SRV_OK;
out:
    if (rc != SRV_OK) {
        free(*id);
        if (*secret) {
            crypto_wipe(*secret, *secret_len);
            free(*secret);
        }
        *id = *secret = NULL;
        *id_len = *secret_len = 0;
    }
    if (decoded) {
        crypto_wipe(decoded, dlen);
        free(decoded);
    }
    return rc;
}
