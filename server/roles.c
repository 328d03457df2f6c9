/* Role strings (DESIGN.md §4): NAME or NAME@scope. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/internal.h"

int srv_role_valid(const char *role)
{
    size_t len = strlen(role), at = 0;
    const char *sep = NULL;
    if (len == 0 || len >= STORE_ROLE_MAX)
        return 0;
    for (const char *p = role; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f) /* printable ASCII, no spaces */
            return 0;
        if (*p == '@')
            at++, sep = p;
    }
    /* idp's own roles are lower case; "IDP:admin" would look like one to a resource server that
     * compares without case, so it is refused rather than stored. */
    if (strncasecmp(role, "idp:", 4) == 0 && strncmp(role, "idp:", 4) != 0)
        return 0;
    /* at most one '@', with a name before it and a scope after it */
    return at == 0 || (at == 1 && sep != role && sep[1] != '\0');
}
