/* Service accounts: id -> {"name","description","disabled","created_at","updated_at","roles",
 * "acl":[{"cidr","comment"}…]}. The id is the key only, so a record cannot disagree with its key.
 * "acl" is always written; a record without it reads as an empty access list. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

void store_service_account_clear(struct store_service_account *sa)
{
    if (!sa)
        return;
    free(sa->roles);
    free(sa->acl);
    memset(sa, 0, sizeof *sa);
}

/* A CIDR as text: 1..STORE_CIDR_MAX-1 bytes of printable ASCII other than space (the server
 * checks the syntax). len receives its length. */
static int cidr_valid(const char *cidr, size_t len)
{
    if (len == 0 || len >= STORE_CIDR_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (cidr[i] <= ' ' || cidr[i] > '~')
            return 0;
    return 1;
}

/* The comment's UTF-8 is checked when it is encoded. */
static int acl_valid(const struct store_acl_entry *acl, size_t n)
{
    if (n > STORE_ACL_MAX || (n && !acl))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!str_fits(acl[i].cidr, STORE_CIDR_MAX) ||
            !cidr_valid(acl[i].cidr, strlen(acl[i].cidr)) ||
            !str_fits(acl[i].comment, STORE_NAME_MAX))
            return 0;
    return 1;
}

static int sa_valid(const struct store_service_account *sa)
{
    return sa && id_valid(sa->id) && str_fits(sa->name, STORE_NAME_MAX) &&
           str_fits(sa->description, STORE_TEXT_MAX) && (sa->disabled == 0 || sa->disabled == 1) &&
           roles_valid(sa->roles, sa->nroles) && acl_valid(sa->acl, sa->nacl);
}

static int acl_encode(json_t *obj, const struct store_acl_entry *acl, size_t n)
{
    json_t *arr = json_array();
    int rc = arr ? STORE_OK : STORE_ENOMEM;

    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        json_t *entry = json_object();
        rc = entry ? STORE_OK : STORE_ENOMEM;
        if (!rc)
            rc = codec_set_str(entry, "cidr", acl[i].cidr);
        if (!rc)
            rc = codec_set_str(entry, "comment", acl[i].comment);
        if (!rc && json_array_append(arr, entry))
            rc = STORE_ENOMEM;
        json_decref(entry);
    }
    if (!rc)
        rc = json_object_set(obj, "acl", arr) ? STORE_ENOMEM : STORE_OK;
    json_decref(arr);
    return rc;
}

/* *acl is calloc()'d (NULL when the list is empty or absent); free() it. */
static int acl_decode(const json_t *obj, struct store_acl_entry **acl, size_t *n)
{
    const json_t *arr = json_object_get(obj, "acl");
    struct store_acl_entry *list = NULL;
    size_t count;
    int rc = STORE_OK;

    *acl = NULL;
    *n = 0;
    if (!arr) /* written before access lists existed */
        return STORE_OK;
    if (!json_is_array(arr) || json_array_size(arr) > STORE_ACL_MAX)
        return STORE_ECORRUPT;
    count = json_array_size(arr);
    if (count == 0)
        return STORE_OK;
    list = calloc(count, sizeof *list);
    if (!list)
        return STORE_ENOMEM;
    for (size_t i = 0; i < count && rc == STORE_OK; i++) {
        const json_t *entry = json_array_get(arr, i);
        if (!json_is_object(entry) || json_object_size(entry) != 2) {
            rc = STORE_ECORRUPT;
            break;
        }
        rc = codec_get_str(entry, "cidr", list[i].cidr, sizeof list[i].cidr);
        if (!rc)
            rc = codec_get_str(entry, "comment", list[i].comment, sizeof list[i].comment);
        if (!rc && !cidr_valid(list[i].cidr, strlen(list[i].cidr)))
            rc = STORE_ECORRUPT;
    }
    if (rc) {
        free(list);
        return rc;
    }
    *acl = list;
    *n = count;
    return STORE_OK;
}

static int sa_encode(const struct store_service_account *sa, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "name", sa->name);
    if (!rc)
        rc = codec_set_str(obj, "description", sa->description);
    if (!rc)
        rc = codec_set_bool(obj, "disabled", sa->disabled);
    if (!rc)
        rc = codec_set_int(obj, "created_at", sa->created_at);
    if (!rc)
        rc = codec_set_int(obj, "updated_at", sa->updated_at);
    if (!rc)
        rc = codec_set_roles(obj, "roles", sa->roles, sa->nroles);
    if (!rc)
        rc = acl_encode(obj, sa->acl, sa->nacl);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int sa_decode(const struct kv_val *key, const struct kv_val *val,
                     struct store_service_account *out)
{
    struct store_service_account sa = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(sa.id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "name", sa.name, sizeof sa.name);
    if (!rc)
        rc = codec_get_str(obj, "description", sa.description, sizeof sa.description);
    if (!rc)
        rc = codec_get_bool(obj, "disabled", &sa.disabled);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &sa.created_at);
    if (!rc)
        rc = codec_get_int(obj, "updated_at", &sa.updated_at);
    if (!rc)
        rc = codec_get_roles(obj, "roles", &sa.roles, &sa.nroles);
    if (!rc)
        rc = acl_decode(obj, &sa.acl, &sa.nacl);
    if (rc)
        goto out;
    *out = sa;
    sa.roles = NULL;
    sa.acl = NULL;
    rc = STORE_OK;
out:
    json_decref(obj);
    free(sa.roles);
    free(sa.acl);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_SERVICE_ACCOUNTS, key->data, key->len);
    return rc;
}

/* Writes sa under its id: a new account (STORE_EXISTS when the id is taken) or a replacement of
 * an existing one (STORE_NOTFOUND when there is none). */
static int sa_write(struct store_txn *txn, const struct store_service_account *sa, int insert)
{
    struct kv_val key, val;
    char *buf = NULL;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!sa_valid(sa))
        return STORE_EINVAL;
    key = kv_str(sa->id);
    /* an update replaces an account that exists (STORE_NOTFOUND otherwise) */
    rc = sa_encode(sa, &buf, &val.len);
    if (rc)
        return rc;
    val.data = buf;
    rc = kv_write(txn, DB_SERVICE_ACCOUNTS, key, val, insert ? KV_INSERT : KV_UPDATE);
    free(buf);
    return rc;
}

int store_sa_insert(struct store_txn *txn, const struct store_service_account *sa)
{
    return sa_write(txn, sa, 1);
}

int store_sa_update(struct store_txn *txn, const struct store_service_account *sa)
{
    return sa_write(txn, sa, 0);
}

int store_sa_get(struct store_txn *txn, const char *id, struct store_service_account *out)
{
    struct kv_val key, val;
    int rc;

    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    key = kv_str(id);
    rc = kv_get(txn, DB_SERVICE_ACCOUNTS, key, &val);
    if (rc)
        return rc;
    return sa_decode(&key, &val, out);
}

int store_sa_delete(struct store_txn *txn, const char *id)
{
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = kv_del(txn, DB_SERVICE_ACCOUNTS, kv_str(id));
    if (!rc)
        rc = store_secrets_delete_all(txn, id);
    return rc ? rc : store_federated_delete_all(txn, id);
}

static int sa_decode_any(const struct kv_val *key, const struct kv_val *val, void *out)
{
    return sa_decode(key, val, out);
}

static void sa_clear_any(void *item)
{
    store_service_account_clear(item);
}

int store_sa_list(struct store_txn *txn, const char *after, size_t limit,
                  struct store_service_account **items, size_t *n)
{
    static const struct store_list_kind kind = {sizeof(**items), sa_decode_any, sa_clear_any,
                                                "list service accounts"};
    void *list = NULL;
    if (!items)
        return STORE_EINVAL;
    int rc = store_list_records(txn, DB_SERVICE_ACCOUNTS, after, limit, &kind, &list, n);
    *items = list;
    return rc;
}

void store_sa_list_free(struct store_service_account *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        store_service_account_clear(&items[i]);
    free(items);
}
