/* libFuzzer target: the CIDR parser of admin_allow and service accounts' access lists. An
 * accepted network formats to a canonical text that parses back to the same network, and holds
 * its own network address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srv_cidr a, b;
    char text[STORE_CIDR_MAX], again[STORE_CIDR_MAX], *in = malloc(size + 1);
    const char *why = NULL;
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if (srv_cidr_parse(in, &a, &why)) {
        srv_cidr_format(&a, text);
        if (!srv_cidr_parse(text, &b, &why))
            abort();
        srv_cidr_format(&b, again);
        if (strcmp(text, again) != 0)
            abort();
        *strchr(text, '/') = '\0';
        if (!srv_cidr_contains(&a, text))
            abort();
    } else if (!why) {
        abort();
    }
    free(in);
    return 0;
}
