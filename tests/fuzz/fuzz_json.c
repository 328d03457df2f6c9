/* libFuzzer target: the JSON request decoder of the self-service and admin APIs. An accepted
 * body is an object holding only the allowed members; the depth and string caps hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"

#define DEPTH_MAX 16
#define STRING_MAX 8192

static const char *const fields[] = {"email", "password", "name", "roles", "metadata", NULL};

/* The deepest nesting of v (an object or array counts one level). */
static size_t depth_of(json_t *v)
{
    size_t deepest = 0, d, i;
    const char *key;
    json_t *item;
    if (json_is_object(v)) {
        json_object_foreach(v, key, item)
        {
            if ((d = depth_of(item)) > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if ((d = depth_of(item)) > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = NULL, *v;
    const char *key;
    char why[512];
    int rc = srv_json_parse((const char *)data, size, fields, DEPTH_MAX, STRING_MAX, &obj, why,
                            sizeof why);
    if (rc != SRV_OK) {
        if (obj || why[0] == '\0')
            abort();
        return 0;
    }
    if (!json_is_object(obj) || depth_of(obj) > DEPTH_MAX)
        abort();
    json_object_foreach(obj, key, v)
    {
        int known = 0;
        for (size_t i = 0; fields[i]; i++)
            known |= strcmp(fields[i], key) == 0;
        if (!known || (json_is_string(v) && json_string_length(v) > STRING_MAX))
            abort();
    }
    json_decref(obj);
    return 0;
}
