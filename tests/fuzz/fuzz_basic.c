/* libFuzzer target: the credentials of an Authorization: Basic header (RFC 7617, RFC 6749
 * §2.3.1). Accepted credentials give a UTF-8 id and a secret whose lengths agree with the
 * strings; everything is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *id = NULL, *secret = NULL;
    size_t id_len = 99, secret_len = 99;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* a header value is a C string */
    int rc = srv_basic_parse(text, &id, &id_len, &secret, &secret_len);
    if (rc == SRV_OK) {
        if (!id || !secret || !srv_utf8_valid(id, id_len) || strlen(id) != id_len ||
            secret[secret_len] != '\0')
            abort();
    } else if (id || secret || id_len || secret_len) {
        abort();
    }
    free(id);
    free(secret);
    free(text);
    return 0;
}
