/* libFuzzer target: the application/x-www-form-urlencoded parser of the OAuth endpoints. What
 * it accepts must be what the endpoints rely on: at most SRV_FORM_MAX_PARAMS parameters, unique
 * names, every name and value valid UTF-8 without NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srv_form form;
    char why[128];
    int rc = srv_form_parse((const char *)data, size, &form, why, sizeof why);
    if (rc != SRV_OK) {
        if (form.n != 0 || why[0] == '\0')
            abort();
        return 0;
    }
    if (form.n > SRV_FORM_MAX_PARAMS)
        abort();
    for (size_t i = 0; i < form.n; i++) {
        if (!srv_utf8_valid(form.names[i], strlen(form.names[i])) ||
            !srv_utf8_valid(form.values[i], strlen(form.values[i])))
            abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(form.names[i], form.names[k]) == 0)
                abort();
        const char *got = srv_form_get(&form, form.names[i]);
        if (form.values[i][0] ? got != form.values[i] : got != NULL)
            abort();
    }
    srv_form_free(&form);
    return 0;
}
