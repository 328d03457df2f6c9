/* Unit tests of the records storage/ keeps for federation (schema 8): identity providers with
 * their name index and sealed secret, service accounts' federated credentials, applications'
 * provider lists, and the single use of an assertion's id. Each case opens a fresh store: LMDB in
 * th_tmpdir(), or a database of the test cluster with IDPD_TEST_STORE=postgres. */
#include "harness.h"
#include "storage/storage.h"

#include <stdlib.h>

static int open_store(struct store **st)
{
    const char *w = th_store_for(th_tmpdir());
    return store_open(w ? w : "", NULL, st);
}

/* One store call per transaction: the cases fill a struct call and name the step. */
enum op {
    IDP_INSERT,
    IDP_UPDATE,
    IDP_GET,
    IDP_FIND,
    IDP_DELETE,
    IDP_LIST,
    IDP_USED,
    SA_INSERT,
    SA_DELETE,
    FIC_INSERT,
    FIC_LIST,
    FIC_DELETE,
    USER_IDENTITY,
    DENY_CLAIM,
    APP_INSERT,
    APP_GET,
};

struct call {
    enum op op;
    const char *id, *owner;
    struct store_identity_provider idp;
    struct store_identity_provider *idps;
    struct store_federated_credential fic;
    struct store_federated_credential *fics;
    struct store_service_account sa;
    struct store_application app;
    size_t n;
    int used;
    int64_t exp;
    char found[STORE_ID_MAX];
};

static int call_cb(struct store_txn *txn, void *arg)
{
    struct call *c = arg;
    struct store_user u = {.created_at = 1, .updated_at = 1};
    struct store_identity idn = {.created_at = 1};
    int rc;
    switch (c->op) {
    case IDP_INSERT:
        return store_idp_insert(txn, &c->idp);
    case IDP_UPDATE:
        return store_idp_update(txn, &c->idp);
    case IDP_GET:
        store_identity_provider_clear(&c->idp);
        return store_idp_get(txn, c->id, &c->idp);
    case IDP_FIND:
        return store_idp_find_name(txn, c->id, c->found);
    case IDP_DELETE:
        return store_idp_delete(txn, c->id);
    case IDP_LIST:
        return store_idp_list(txn, c->id, 10, &c->idps, &c->n);
    case IDP_USED:
        return store_identity_provider_used(txn, c->id, &c->used);
    case SA_INSERT:
        return store_sa_insert(txn, &c->sa);
    case SA_DELETE:
        return store_sa_delete(txn, c->id);
    case FIC_INSERT:
        return store_federated_insert(txn, &c->fic);
    case FIC_LIST:
        return store_federated_list(txn, c->owner, &c->fics, &c->n);
    case FIC_DELETE:
        return store_federated_delete(txn, c->owner, c->id);
    case USER_IDENTITY: /* a user usr_1 signing in with provider c->id as "sub-1" */
        snprintf(u.id, sizeof u.id, "usr_1");
        rc = store_user_insert(txn, &u);
        snprintf(idn.id, sizeof idn.id, "idn_1");
        snprintf(idn.user_id, sizeof idn.user_id, "usr_1");
        snprintf(idn.provider, sizeof idn.provider, "%s", c->id);
        snprintf(idn.provider_id, sizeof idn.provider_id, "sub-1");
        return rc ? rc : store_identity_insert(txn, &idn);
    case DENY_CLAIM:
        return store_deny_claim(txn, c->id, c->exp);
    case APP_INSERT:
        return store_app_insert(txn, &c->app);
    case APP_GET:
        return store_app_get(txn, c->id, &c->app);
    }
    return STORE_EINVAL;
}

static int run(struct store *st, struct call *c)
{
    int read = c->op == IDP_GET || c->op == IDP_FIND || c->op == IDP_LIST || c->op == IDP_USED ||
               c->op == FIC_LIST || c->op == APP_GET;
    return read ? store_read(st, call_cb, c) : store_write(st, call_cb, c);
}

static void make_idp(struct store_identity_provider *p, const char *id, const char *name,
                     const char *config)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->type, sizeof p->type, "oidc");
    p->config = strdup(config);
    p->sealed_len = 40;
    for (size_t i = 0; i < p->sealed_len; i++)
        p->sealed_secret[i] = (uint8_t)(i * 7);
    p->created_at = p->updated_at = 1700000000;
}

static void identity_providers_round_trip_names_and_configs(void)
{
    struct store *st = NULL;
    struct call *c = calloc(1, sizeof *c);
    CHECK_INT(open_store(&st), STORE_OK);

    make_idp(&c->idp, "idp_1", "corp", "{\"issuer\":\"https://corp.example\",\"scopes\":[\"a\"]}");
    c->op = IDP_INSERT;
    CHECK_INT(run(st, c), STORE_OK);
    /* a second provider of the same name, or the same id, is refused */
    free(c->idp.config);
    c->idp.config = strdup("{}");
    snprintf(c->idp.id, sizeof c->idp.id, "idp_2");
    CHECK_INT(run(st, c), STORE_EXISTS);
    snprintf(c->idp.id, sizeof c->idp.id, "idp_1");
    snprintf(c->idp.name, sizeof c->idp.name, "other");
    CHECK_INT(run(st, c), STORE_EXISTS);
    /* names are lower-case words; configs JSON objects */
    snprintf(c->idp.id, sizeof c->idp.id, "idp_3");
    snprintf(c->idp.name, sizeof c->idp.name, "Corp");
    CHECK_INT(run(st, c), STORE_EINVAL);
    snprintf(c->idp.name, sizeof c->idp.name, "jwt-1");
    snprintf(c->idp.type, sizeof c->idp.type, "saml");
    CHECK_INT(run(st, c), STORE_EINVAL);
    snprintf(c->idp.type, sizeof c->idp.type, "jwt");
    const char *bad[] = {"[]", "\"x\"", "{", "{\"a\":1,\"a\":2}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(c->idp.config);
        c->idp.config = strdup(bad[i]);
        CHECK_INT(run(st, c), STORE_EINVAL);
    }
    free(c->idp.config);
    c->idp.config = strdup("{\"audience\":\"x\"}");
    c->idp.sealed_len = 0;
    CHECK_INT(run(st, c), STORE_OK);
    store_identity_provider_clear(&c->idp);

    c->op = IDP_GET;
    c->id = "idp_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(c->idp.name, "corp");
    CHECK_STR(c->idp.type, "oidc");
    CHECK_STR(c->idp.config, "{\"issuer\":\"https://corp.example\",\"scopes\":[\"a\"]}");
    CHECK_INT(c->idp.sealed_len, 40);
    CHECK_INT(c->idp.sealed_secret[39], (uint8_t)(39 * 7));
    c->op = IDP_FIND;
    c->id = "corp";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(c->found, "idp_1");
    c->id = "nope";
    CHECK_INT(run(st, c), STORE_NOTFOUND);

    /* an update keeps name and type; the config and secret change */
    free(c->idp.config);
    c->idp.config = strdup("{\"issuer\":\"https://corp.example\"}");
    c->idp.sealed_len = 3;
    c->op = IDP_UPDATE;
    CHECK_INT(run(st, c), STORE_OK);
    snprintf(c->idp.name, sizeof c->idp.name, "renamed");
    CHECK_INT(run(st, c), STORE_EINVAL);
    snprintf(c->idp.name, sizeof c->idp.name, "corp");
    snprintf(c->idp.type, sizeof c->idp.type, "jwt");
    CHECK_INT(run(st, c), STORE_EINVAL);
    snprintf(c->idp.id, sizeof c->idp.id, "idp_9");
    snprintf(c->idp.type, sizeof c->idp.type, "oidc");
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->op = IDP_GET;
    c->id = "idp_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(c->idp.config, "{\"issuer\":\"https://corp.example\"}");
    CHECK_INT(c->idp.sealed_len, 3);

    c->op = IDP_LIST;
    c->id = NULL;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->n, 2);
    CHECK_STR(c->idps[0].id, "idp_1");
    CHECK_STR(c->idps[1].name, "jwt-1");
    CHECK_STR(c->idps[1].config, "{\"audience\":\"x\"}");
    store_idp_list_free(c->idps, c->n);

    /* deleting frees the name */
    c->op = IDP_DELETE;
    c->id = "idp_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->op = IDP_FIND;
    c->id = "corp";
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    store_identity_provider_clear(&c->idp);
    make_idp(&c->idp, "idp_4", "corp", "{}");
    c->op = IDP_INSERT;
    CHECK_INT(run(st, c), STORE_OK);
    store_identity_provider_clear(&c->idp);
    free(c);
    store_close(st);
}

static void a_provider_is_used_while_an_identity_names_it(void)
{
    struct store *st = NULL;
    struct call *c = calloc(1, sizeof *c);
    CHECK_INT(open_store(&st), STORE_OK);
    c->op = USER_IDENTITY;
    c->id = "oidc:corp";
    CHECK_INT(run(st, c), STORE_OK);
    c->op = IDP_USED;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->used, 1);
    /* a provider whose name is a prefix of another's is not used by it */
    c->id = "oidc:cor";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->used, 0);
    c->id = "custom-jwt:corp";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->used, 0);
    free(c);
    store_close(st);
}

static void federated_credentials_belong_to_their_account(void)
{
    struct store *st = NULL;
    struct call *c = calloc(1, sizeof *c);
    CHECK_INT(open_store(&st), STORE_OK);
    c->op = FIC_INSERT;
    snprintf(c->fic.id, sizeof c->fic.id, "fic_0");
    snprintf(c->fic.sa_id, sizeof c->fic.sa_id, "sa_1");
    c->fic.config = strdup("{\"subject\":\"repo:o/a:*\"}");
    c->fic.created_at = 5;
    CHECK_INT(run(st, c), STORE_NOTFOUND); /* no such account yet */

    c->op = SA_INSERT;
    snprintf(c->sa.id, sizeof c->sa.id, "sa_1");
    snprintf(c->sa.name, sizeof c->sa.name, "ci");
    CHECK_INT(run(st, c), STORE_OK);
    snprintf(c->sa.id, sizeof c->sa.id, "sa_2");
    CHECK_INT(run(st, c), STORE_OK);

    c->op = FIC_INSERT;
    for (unsigned i = 0; i < STORE_FEDERATED_MAX; i++) {
        snprintf(c->fic.id, sizeof c->fic.id, "fic_%02u", i);
        c->fic.created_at = 100 - i; /* newest first by id: the list sorts by time */
        CHECK_INT(run(st, c), STORE_OK);
    }
    snprintf(c->fic.id, sizeof c->fic.id, "fic_99");
    CHECK_INT(run(st, c), STORE_EINVAL); /* full */
    snprintf(c->fic.sa_id, sizeof c->fic.sa_id, "sa_2");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_EXISTS);
    free(c->fic.config);
    c->fic.config = strdup("[1]");
    snprintf(c->fic.id, sizeof c->fic.id, "fic_98");
    CHECK_INT(run(st, c), STORE_EINVAL);
    store_federated_credential_clear(&c->fic);

    c->op = FIC_LIST;
    c->owner = "sa_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->n, STORE_FEDERATED_MAX);
    CHECK_STR(c->fics[0].id, "fic_19");
    CHECK_INT(c->fics[0].created_at, 81);
    CHECK_STR(c->fics[0].sa_id, "sa_1");
    CHECK_STR(c->fics[0].config, "{\"subject\":\"repo:o/a:*\"}");
    store_federated_list_free(c->fics, c->n);

    c->op = FIC_DELETE;
    c->id = "fic_05";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->owner = "sa_2"; /* another account's credential is not this one's */
    c->id = "fic_04";
    CHECK_INT(run(st, c), STORE_NOTFOUND);

    /* the account goes with its credentials, and only its own */
    c->op = SA_DELETE;
    c->id = "sa_1";
    CHECK_INT(run(st, c), STORE_OK);
    c->op = FIC_LIST;
    c->owner = "sa_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->n, 0);
    c->owner = "sa_2";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->n, 1);
    store_federated_list_free(c->fics, c->n);
    free(c);
    store_close(st);
}

static void an_assertion_id_is_claimed_once_until_it_expires(void)
{
    struct store *st = NULL;
    struct call *c = calloc(1, sizeof *c);
    size_t removed = 0;
    CHECK_INT(open_store(&st), STORE_OK);
    c->op = DENY_CLAIM;
    c->id = "asr:abc";
    c->exp = 1000;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_EXISTS);
    CHECK_INT(store_sweep(st, 999, &removed), STORE_OK);
    CHECK_INT(run(st, c), STORE_EXISTS);
    CHECK_INT(store_sweep(st, 1000, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(run(st, c), STORE_OK);
    c->id = "";
    CHECK_INT(run(st, c), STORE_EINVAL);
    free(c);
    store_close(st);
}

static void applications_name_their_providers(void)
{
    struct store *st = NULL;
    struct call *c = calloc(1, sizeof *c);
    CHECK_INT(open_store(&st), STORE_OK);
    c->op = APP_INSERT;
    snprintf(c->app.id, sizeof c->app.id, "app_1");
    c->app.type = STORE_APP_PUBLIC;
    c->app.nidps = 2;
    snprintf(c->app.idps[0], sizeof c->app.idps[0], "corp");
    snprintf(c->app.idps[1], sizeof c->app.idps[1], "ci-tokens");
    CHECK_INT(run(st, c), STORE_OK);
    snprintf(c->app.id, sizeof c->app.id, "app_2");
    c->app.nidps = 0;
    CHECK_INT(run(st, c), STORE_OK);
    snprintf(c->app.id, sizeof c->app.id, "app_3");
    c->app.nidps = 1;
    c->app.idps[0][0] = '\0';
    CHECK_INT(run(st, c), STORE_EINVAL);
    c->op = APP_GET;
    c->id = "app_1";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->app.nidps, 2);
    CHECK_STR(c->app.idps[1], "ci-tokens");
    c->id = "app_2";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->app.nidps, 0);
    free(c);
    store_close(st);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(identity_providers_round_trip_names_and_configs);
    RUN(a_provider_is_used_while_an_identity_names_it);
    RUN(federated_credentials_belong_to_their_account);
    RUN(an_assertion_id_is_claimed_once_until_it_expires);
    RUN(applications_name_their_providers);
    return th_done();
}
