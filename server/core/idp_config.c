/* The configuration of identity providers and federated credentials: one parser for what the
 * admin API is given and what the store gives back, so a stored configuration is always one
 * that was checked. storage/ keeps it as a JSON object it does not read. */
#define LOG_MODULE "federation"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

#define JWKS_TEXT_MAX 32768 /* an inline JWK Set: a handful of keys */
#define SECRET_MAX 1024     /* a client secret; sealed it fits STORE_IDP_SEALED_MAX */

const char *const srv_idp_fields[] = {"name",
                                      "type",
                                      "issuer",
                                      "jwks_uri",
                                      "jwks",
                                      "algorithms",
                                      "client_id",
                                      "client_secret",
                                      "scopes",
                                      "email_claim",
                                      "name_claim",
                                      "allowed_domains",
                                      "trust_verified_email",
                                      "create_users",
                                      "audience",
                                      "subject_claim",
                                      "metadata_claims",
                                      NULL};
const char *const srv_federated_fields[] = {"issuer", "subject",    "audience",    "jwks_uri",
                                            "jwks",   "algorithms", "description", NULL};

static const char *const oidc_only[] = {
    "client_id",       "client_secret",        "scopes",       "email_claim", "name_claim",
    "allowed_domains", "trust_verified_email", "create_users", NULL};
static const char *const jwt_only[] = {"audience", "subject_claim", "metadata_claims", NULL};
static const char *const known_algs[] = {"RS256", "PS256", "ES256", "EdDSA", NULL};

void srv_idp_clear(struct srv_idp *p)
{
    if (!p)
        return;
    free(p->trust.jwks);
    memset(p, 0, sizeof *p);
}

void srv_federated_clear(struct srv_federated *f)
{
    if (!f)
        return;
    free(f->trust.jwks);
    memset(f, 0, sizeof *f);
}

/* Stored configurations were checked on the way in; read back, a loopback http:// issuer stays
 * readable whatever the setting is now (the fetcher refuses it then, with a clear error). */
static const struct srv_fetch_opts stored_opts = {.plain_loopback = 1};

/* Parsing state: the first refusal wins and goes to why. */
struct parse {
    json_t *body;
    const struct srv_fetch_opts *fetch;
    char *why;
    size_t cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static int refuse(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!p->failed)
        vsnprintf(p->why, p->cap, fmt, ap);
    va_end(ap);
    p->failed = 1;
    return 0;
}

/* Member name as a string of 1..cap-1 bytes into out; 0 when absent (out untouched). */
static int get_str(struct parse *p, const char *name, char *out, size_t cap)
{
    json_t *v = json_object_get(p->body, name);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return refuse(p, "%s must be a non-empty string of reasonable length", name);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static void get_bool(struct parse *p, const char *name, int *out)
{
    json_t *v = json_object_get(p->body, name);
    if (!v)
        return;
    if (!json_is_boolean(v)) {
        refuse(p, "%s must be true or false", name);
        return;
    }
    *out = json_is_true(v);
}

/* A claim or scope name: printable ASCII without spaces, quotes or backslashes. */
static int token_valid(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* A lower-case DNS name. */
static int domain_valid(const char *s)
{
    size_t label = 0;
    if (!*s || *s == '.' || *s == '-')
        return 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* Member name as an array of at most max strings each checked by valid, into items (stride
 * bytes a slot). 0 when absent. */
static int get_list(struct parse *p, const char *name, char *items, size_t stride, size_t max,
                    size_t *n, int (*valid)(const char *))
{
    json_t *v = json_object_get(p->body, name), *e;
    size_t i;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > max)
        return refuse(p, "%s must be an array of at most 16 strings", name);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) >= stride ||
            strlen(json_string_value(e)) != json_string_length(e) || !valid(json_string_value(e)))
            return refuse(p, "%s holds a value that is not allowed", name);
        memcpy(items + i * stride, json_string_value(e), json_string_length(e) + 1);
    }
    *n = json_array_size(v);
    return 1;
}

static int url_member(struct parse *p, const char *name, char out[STORE_URI_MAX])
{
    char url[STORE_URI_MAX];
    const char *why;
    if (!get_str(p, name, url, sizeof url))
        return 0;
    if (srv_fetch_url_valid(p->fetch, url, &why) != SRV_OK) {
        if (!p->failed)
            snprintf(p->why, p->cap, "%s: %s", name, why);
        p->failed = 1;
        return 0;
    }
    memcpy(out, url, sizeof url);
    return 1;
}

/* The members of struct srv_trust but audience. */
static void trust_members(struct parse *p, struct srv_trust *t)
{
    json_t *jwks = json_object_get(p->body, "jwks"), *algs;
    if (json_is_null(json_object_get(p->body, "jwks_uri")))
        t->jwks_uri[0] = '\0'; /* a change back to discovery */
    else
        url_member(p, "jwks_uri", t->jwks_uri);
    if (jwks && !json_is_null(jwks)) {
        struct keys_jwks *set = NULL;
        char *text = json_is_object(jwks) ? json_dumps(jwks, JSON_COMPACT) : NULL;
        if (!text || strlen(text) > JWKS_TEXT_MAX ||
            keys_jwks_parse(text, strlen(text), &set) != KEYS_OK || keys_jwks_count(set) == 0) {
            refuse(p, "jwks must be a JWK Set holding at least one usable public key (RSA of 2048 "
                      "bits or more, EC P-256 or Ed25519)");
            free(text);
        } else {
            free(t->jwks);
            t->jwks = text;
        }
        keys_jwks_free(set);
    } else if (jwks) {
        free(t->jwks);
        t->jwks = NULL;
    }
    if (t->jwks && t->jwks_uri[0])
        refuse(p, "give jwks_uri or jwks, not both");
    if ((algs = json_object_get(p->body, "algorithms"))) {
        json_t *e;
        size_t i;
        char list[sizeof t->algorithms] = "";
        if (!json_is_array(algs) || json_array_size(algs) == 0 || json_array_size(algs) > 4)
            refuse(p, "algorithms must list 1 to 4 of RS256, PS256, ES256, EdDSA");
        json_array_foreach(algs, i, e)
        {
            const char *alg = json_is_string(e) ? json_string_value(e) : "";
            size_t k = 0;
            while (known_algs[k] && strcmp(known_algs[k], alg) != 0)
                k++;
            if (!known_algs[k]) {
                /* none and HMAC are never taken: a public key is no shared secret */
                refuse(
                    p,
                    "algorithms: only RS256, PS256, ES256 and EdDSA are taken (never none or HS*)");
                break;
            }
            if (!strstr(list, alg)) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "", alg);
            }
        }
        if (!p->failed)
            memcpy(t->algorithms, list, sizeof list);
    }
}

static int present_any(json_t *body, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (json_object_get(body, names[i]))
            return 1;
    return 0;
}

static int name_valid(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int idp_copy(const struct srv_idp *from, struct srv_idp *to)
{
    *to = *from;
    to->trust.jwks = NULL;
    if (from->trust.jwks && !(to->trust.jwks = strdup(from->trust.jwks)))
        return SRV_ENOMEM;
    return SRV_OK;
}

/* Parses into out (zeroed, or a copy of base); plain_loopback as the fetcher would allow. */
static int idp_parse(const struct srv_fetch_opts *fo, json_t *body, const struct srv_idp *base,
                     struct srv_idp *out, const char **secret, char *why, size_t cap)
{
    struct parse p = {body, fo, why, cap, 0};
    char name[STORE_IDP_NAME_MAX] = "", type[8] = "", issuer[STORE_URI_MAX] = "";
    json_t *v;
    *secret = NULL;
    memset(out, 0, sizeof *out);
    if (base) {
        if (idp_copy(base, out) != SRV_OK)
            return SRV_ENOMEM;
    } else {
        snprintf(out->trust.algorithms, sizeof out->trust.algorithms, "%s", SRV_ALGS_DEFAULT);
        out->nscopes = 3;
        snprintf(out->scopes[0], SRV_CLAIM_MAX, "openid");
        snprintf(out->scopes[1], SRV_CLAIM_MAX, "email");
        snprintf(out->scopes[2], SRV_CLAIM_MAX, "profile");
        snprintf(out->email_claim, sizeof out->email_claim, "email");
        snprintf(out->name_claim, sizeof out->name_claim, "name");
        snprintf(out->subject_claim, sizeof out->subject_claim, "sub");
        out->create_users = 1;
    }
    if (get_str(&p, "name", name, sizeof name)) {
        if (!name_valid(name))
            refuse(&p, "name must be 1 to 64 of a-z, 0-9 and '-', starting with a letter");
        else if (base && strcmp(name, base->name) != 0)
            refuse(&p, "name cannot change: its users' identities are named after it");
        memcpy(out->name, name, sizeof name);
    }
    if (get_str(&p, "type", type, sizeof type)) {
        if (strcmp(type, "oidc") != 0 && strcmp(type, "jwt") != 0)
            refuse(&p, "type must be \"oidc\" or \"jwt\"");
        else if (base && strcmp(type, base->type) != 0)
            refuse(&p, "type cannot change");
        memcpy(out->type, type, sizeof type);
    }
    if (url_member(&p, "issuer", issuer)) {
        if (base && strcmp(issuer, base->trust.issuer) != 0)
            refuse(&p, "issuer cannot change: its users' subjects are that issuer's; make another "
                       "provider");
        memcpy(out->trust.issuer, issuer, sizeof issuer);
    }
    if (!out->name[0] || !out->type[0] || !out->trust.issuer[0])
        refuse(&p, "name, type and issuer are required");
    if (p.failed)
        goto out;
    trust_members(&p, &out->trust);
    if (strcmp(out->type, "oidc") == 0) {
        if (present_any(body, jwt_only))
            refuse(&p, "type: audience, subject_claim and metadata_claims are for type jwt");
        get_str(&p, "client_id", out->client_id, sizeof out->client_id);
        if ((v = json_object_get(body, "client_secret"))) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) > SECRET_MAX ||
                strlen(json_string_value(v)) != json_string_length(v))
                refuse(&p, "client_secret must be a string of 1 to 1024 bytes");
            else
                *secret = json_string_value(v);
        }
        if (get_list(&p, "scopes", out->scopes[0], SRV_CLAIM_MAX, SRV_IDP_LIST_MAX, &out->nscopes,
                     token_valid)) {
            size_t i = 0;
            while (i < out->nscopes && strcmp(out->scopes[i], "openid") != 0)
                i++;
            if (i == out->nscopes)
                refuse(&p, "scopes must include openid");
        }
        if (get_str(&p, "email_claim", out->email_claim, sizeof out->email_claim) &&
            !token_valid(out->email_claim))
            refuse(&p, "email_claim is not a claim name");
        if (get_str(&p, "name_claim", out->name_claim, sizeof out->name_claim) &&
            !token_valid(out->name_claim))
            refuse(&p, "name_claim is not a claim name");
        get_list(&p, "allowed_domains", out->domains[0], SRV_DOMAIN_MAX, SRV_IDP_LIST_MAX,
                 &out->ndomains, domain_valid);
        get_bool(&p, "trust_verified_email", &out->trust_verified_email);
        get_bool(&p, "create_users", &out->create_users);
        if (!out->client_id[0])
            refuse(&p, "client_id is required for type oidc");
        out->trust.audience[0] = '\0'; /* the ID token's aud is client_id */
    } else {
        if (present_any(body, oidc_only))
            refuse(&p, "type: client_id, client_secret, scopes, claims of email and name, "
                       "allowed_domains, trust_verified_email and create_users are for type oidc");
        get_str(&p, "audience", out->trust.audience, sizeof out->trust.audience);
        if (get_str(&p, "subject_claim", out->subject_claim, sizeof out->subject_claim) &&
            !token_valid(out->subject_claim))
            refuse(&p, "subject_claim is not a claim name");
        get_list(&p, "metadata_claims", out->metadata_claims[0], SRV_CLAIM_MAX, SRV_IDP_LIST_MAX,
                 &out->nmetadata, token_valid);
        if (!out->trust.audience[0])
            refuse(&p, "audience is required for type jwt: the aud its tokens are made for");
    }
out:
    if (p.failed) {
        srv_idp_clear(out);
        *secret = NULL;
        return SRV_EINVAL;
    }
    return SRV_OK;
}

int srv_idp_parse(const struct srv_config *cfg, json_t *body, const struct srv_idp *base,
                  struct srv_idp *out, const char **secret, char *why, size_t cap)
{
    struct srv_fetch_opts fo = srv_fetch_opts_of(cfg);
    return idp_parse(&fo, body, base, out, secret, why, cap);
}

static int federated_parse(const struct srv_fetch_opts *fo, json_t *body, struct srv_federated *out,
                           char *why, size_t cap)
{
    struct parse p = {body, fo, why, cap, 0};
    memset(out, 0, sizeof *out);
    snprintf(out->trust.algorithms, sizeof out->trust.algorithms, "%s", SRV_ALGS_DEFAULT);
    url_member(&p, "issuer", out->trust.issuer);
    get_str(&p, "audience", out->trust.audience, sizeof out->trust.audience);
    if (get_str(&p, "subject", out->subject, sizeof out->subject)) {
        const char *star = strchr(out->subject, '*');
        if (star && star[1] != '\0')
            refuse(&p, "subject may hold '*' only at its end");
        if (strcmp(out->subject, "*") == 0)
            refuse(&p, "subject '*' alone would trust every workload of the issuer");
    }
    get_str(&p, "description", out->description, sizeof out->description);
    trust_members(&p, &out->trust);
    if (!out->trust.issuer[0] || !out->subject[0] || !out->trust.audience[0])
        refuse(&p, "issuer, subject and audience are required");
    if (p.failed) {
        srv_federated_clear(out);
        return SRV_EINVAL;
    }
    return SRV_OK;
}

int srv_federated_parse(const struct srv_config *cfg, json_t *body, struct srv_federated *out,
                        char *why, size_t cap)
{
    struct srv_fetch_opts fo = srv_fetch_opts_of(cfg);
    return federated_parse(&fo, body, out, why, cap);
}

static json_t *strv_json(const char *items, size_t stride, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(items + i * stride));
    return a;
}

static json_t *algs_json(const char *list)
{
    json_t *a = json_array();
    char copy[64], *save = NULL;
    snprintf(copy, sizeof copy, "%s", list);
    for (char *t = strtok_r(copy, ",", &save); a && t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

/* The trust members into obj. */
static void trust_json(json_t *obj, const struct srv_trust *t)
{
    json_object_set_new(obj, "issuer", json_string(t->issuer));
    if (t->jwks_uri[0])
        json_object_set_new(obj, "jwks_uri", json_string(t->jwks_uri));
    if (t->jwks)
        json_object_set_new(obj, "jwks", json_loads(t->jwks, 0, NULL));
    json_object_set_new(obj, "algorithms", algs_json(t->algorithms));
}

static char *dump(json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(obj);
    return text;
}

char *srv_idp_config(const struct srv_idp *p)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    trust_json(o, &p->trust);
    if (strcmp(p->type, "oidc") == 0) {
        json_object_set_new(o, "client_id", json_string(p->client_id));
        json_object_set_new(o, "scopes", strv_json(p->scopes[0], SRV_CLAIM_MAX, p->nscopes));
        json_object_set_new(o, "email_claim", json_string(p->email_claim));
        json_object_set_new(o, "name_claim", json_string(p->name_claim));
        json_object_set_new(o, "allowed_domains",
                            strv_json(p->domains[0], SRV_DOMAIN_MAX, p->ndomains));
        json_object_set_new(o, "trust_verified_email", json_boolean(p->trust_verified_email));
        json_object_set_new(o, "create_users", json_boolean(p->create_users));
    } else {
        json_object_set_new(o, "audience", json_string(p->trust.audience));
        json_object_set_new(o, "subject_claim", json_string(p->subject_claim));
        json_object_set_new(o, "metadata_claims",
                            strv_json(p->metadata_claims[0], SRV_CLAIM_MAX, p->nmetadata));
    }
    return dump(o);
}

char *srv_federated_config(const struct srv_federated *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    trust_json(o, &f->trust);
    json_object_set_new(o, "audience", json_string(f->trust.audience));
    json_object_set_new(o, "subject", json_string(f->subject));
    if (f->description[0])
        json_object_set_new(o, "description", json_string(f->description));
    return dump(o);
}

int srv_idp_load(const struct store_identity_provider *rec, struct srv_idp *out)
{
    char why[256];
    const char *secret;
    json_t *body = json_loads(rec->config, JSON_REJECT_DUPLICATES, NULL);
    int rc = SRV_EINVAL;
    memset(out, 0, sizeof *out);
    if (json_is_object(body) && !json_object_set_new(body, "name", json_string(rec->name)) &&
        !json_object_set_new(body, "type", json_string(rec->type)))
        rc = idp_parse(&stored_opts, body, NULL, out, &secret, why, sizeof why);
    else
        snprintf(why, sizeof why, "not a JSON object");
    json_decref(body);
    if (rc != SRV_OK) {
        LOG(SRV_LOG_ERROR, "identity provider %s: the stored configuration is refused: %s", rec->id,
            why);
        return SRV_EINVAL;
    }
    memcpy(out->id, rec->id, sizeof out->id);
    out->has_secret = rec->sealed_len > 0;
    out->created_at = rec->created_at;
    out->updated_at = rec->updated_at;
    return SRV_OK;
}

int srv_federated_load(const struct store_federated_credential *rec, struct srv_federated *out)
{
    char why[256];
    json_t *body = json_loads(rec->config, JSON_REJECT_DUPLICATES, NULL);
    int rc = SRV_EINVAL;
    if (json_is_object(body))
        rc = federated_parse(&stored_opts, body, out, why, sizeof why);
    else
        snprintf(why, sizeof why, "not a JSON object");
    json_decref(body);
    if (rc != SRV_OK) {
        LOG(SRV_LOG_ERROR, "federated credential %s: the stored configuration is refused: %s",
            rec->id, why);
        return SRV_EINVAL;
    }
    memcpy(out->id, rec->id, sizeof out->id);
    memcpy(out->sa_id, rec->sa_id, sizeof out->sa_id);
    out->created_at = rec->created_at;
    return SRV_OK;
}

void srv_idp_provider(const char *type, const char *name, char out[STORE_PROVIDER_MAX])
{
    snprintf(out, STORE_PROVIDER_MAX, "%s:%s", strcmp(type, "oidc") == 0 ? "oidc" : "custom-jwt",
             name);
}

int srv_subject_matches(const char *pattern, const char *sub)
{
    size_t n = strlen(pattern);
    if (n > 1 && pattern[n - 1] == '*')
        return strncmp(pattern, sub, n - 1) == 0 && sub[n - 1] != '\0';
    return strcmp(pattern, sub) == 0;
}
