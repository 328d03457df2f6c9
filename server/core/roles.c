/* Role strings (DESIGN.md §4): NAME or NAME@scope. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/core/core.h"

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

static int cmp_role(const void *a, const void *b)
{
    return strcmp(a, b);
}

void srv_roles_sort(char (*roles)[STORE_ROLE_MAX], size_t n)
{
    if (n)
        qsort(roles, n, sizeof *roles, cmp_role);
}

/* Appends src[0..n) to the growing set in roles and count, growing cap as needed. */
static int add_roles(char (**roles)[STORE_ROLE_MAX], size_t *count, size_t *cap,
                     char (*src)[STORE_ROLE_MAX], size_t n)
{
    if (*count + n > *cap) {
        size_t ncap = (*count + n) * 2;
        char(*grown)[STORE_ROLE_MAX] = realloc(*roles, ncap * sizeof **roles);
        if (!grown)
            return STORE_ENOMEM;
        *roles = grown;
        *cap = ncap;
    }
    if (n)
        memcpy(*roles + *count, src, n * sizeof *src);
    *count += n;
    return STORE_OK;
}

int srv_effective_roles(struct store_txn *txn, const char *principal_type, const char *id,
                        char (**roles)[STORE_ROLE_MAX], size_t *n)
{
    char(*teams)[STORE_ID_MAX] = NULL;
    size_t nteams = 0, cap = 0, out = 0;
    int rc;
    *roles = NULL;
    *n = 0;
    if (strcmp(principal_type, "service_account") == 0) {
        struct store_service_account sa = {0};
        rc = store_sa_get(txn, id, &sa);
        if (rc == STORE_OK && !sa.disabled)
            rc = add_roles(roles, n, &cap, sa.roles, sa.nroles);
        store_service_account_clear(&sa);
        goto sort;
    }
    struct store_user u = {0};
    rc = store_user_get(txn, id, &u);
    if (rc == STORE_OK)
        rc = add_roles(roles, n, &cap, u.roles, u.nroles);
    store_user_clear(&u);
    if (rc == STORE_OK)
        rc = store_user_teams(txn, id, &teams, &nteams);
    for (size_t i = 0; rc == STORE_OK && i < nteams; i++) {
        struct store_team t = {0};
        rc = store_team_get(txn, teams[i], &t);
        if (rc == STORE_NOTFOUND) /* a team deleted under us grants nothing */
            rc = STORE_OK;
        else if (rc == STORE_OK)
            rc = add_roles(roles, n, &cap, t.roles, t.nroles);
        store_team_clear(&t);
    }
    free(teams);
sort:
    if (rc != STORE_OK) {
        free(*roles);
        *roles = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*roles, *n, sizeof **roles, cmp_role);
    for (size_t i = 0; i < *n; i++)
        if (out == 0 || strcmp((*roles)[i], (*roles)[out - 1]) != 0)
            memmove((*roles)[out++], (*roles)[i], STORE_ROLE_MAX);
    *n = out;
    return STORE_OK;
}
