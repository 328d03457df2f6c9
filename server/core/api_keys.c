/* User API keys (Atlas App Services' model): a long-lived credential a program signs in with as
 * its user. The key names its record: "idpkey_" + the record's 24-hex id + "_" + 256 random bits
 * in base64url, so a login reads one record and runs Argon2 once, and secret scanners find a
 * leaked key by its prefix. Only the Argon2id hash of the whole key is stored. */
#include <string.h>

#include "server/core/core.h"

static int hex24(const char *s)
{
    for (size_t i = 0; i < STORE_API_KEY_ID_MAX - 1; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int srv_device_id_new(char out[STORE_DEVICE_ID_MAX])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t raw[12];
    if (crypto_random(raw, sizeof raw) != CRYPTO_OK)
        return SRV_ERUNTIME;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * sizeof raw] = '\0';
    return SRV_OK;
}

int srv_device_id_valid(const char *s)
{
    return s && strlen(s) == STORE_DEVICE_ID_MAX - 1 && hex24(s) &&
           strspn(s, "0") != STORE_DEVICE_ID_MAX - 1;
}

int srv_api_key_new(const struct crypto_argon2_params *params, struct store_api_key *rec,
                    char key[SRV_API_KEY_LEN])
{
    uint8_t raw[32];
    size_t plen = sizeof SRV_API_KEY_PREFIX - 1, len = 0;
    int rc = SRV_ERUNTIME;
    if (srv_device_id_new(rec->id) != SRV_OK || crypto_random(raw, sizeof raw) != CRYPTO_OK)
        goto out;
    memcpy(key, SRV_API_KEY_PREFIX, plen);
    memcpy(key + plen, rec->id, STORE_API_KEY_ID_MAX - 1);
    plen += STORE_API_KEY_ID_MAX - 1;
    key[plen++] = '_';
    if (crypto_b64url_encode(raw, sizeof raw, key + plen, SRV_API_KEY_LEN - plen, &len) !=
            CRYPTO_OK ||
        crypto_password_hash(params, key, plen + len, rec->phc, sizeof rec->phc) != CRYPTO_OK)
        goto out;
    rec->created_at = srv_now();
    rc = SRV_OK;
out:
    crypto_wipe(raw, sizeof raw);
    if (rc != SRV_OK)
        crypto_wipe(key, SRV_API_KEY_LEN);
    return rc;
}

int srv_api_key_id(const char *key, char id[STORE_API_KEY_ID_MAX])
{
    size_t plen = sizeof SRV_API_KEY_PREFIX - 1, idlen = STORE_API_KEY_ID_MAX - 1;
    id[0] = '\0';
    if (strlen(key) != SRV_API_KEY_LEN - 1 || strncmp(key, SRV_API_KEY_PREFIX, plen) != 0 ||
        !hex24(key + plen) || key[plen + idlen] != '_')
        return 0;
    memcpy(id, key + plen, idlen);
    id[idlen] = '\0';
    return 1;
}

int srv_api_key_op_txn(struct store_txn *txn, const char *user_id, const char *id,
                       enum srv_api_key_op op, const char *ip, const char *via,
                       struct store_api_key *key, int *missing)
{
    static const char *const types[] = {
        [SRV_KEY_DELETE] = "api_key.delete",
        [SRV_KEY_ENABLE] = "api_key.enable",
        [SRV_KEY_DISABLE] = "api_key.disable",
    };
    int rc =
        strlen(id) == STORE_API_KEY_ID_MAX - 1 ? store_api_key_get(txn, id, key) : STORE_NOTFOUND;
    *missing = rc == STORE_NOTFOUND || rc == STORE_EINVAL ||
               (rc == STORE_OK && strcmp(key->user_id, user_id) != 0);
    if (*missing) {
        memset(key, 0, sizeof *key);
        return STORE_OK;
    }
    if (rc != STORE_OK || op == SRV_KEY_GET)
        return rc;
    if (op == SRV_KEY_DELETE) {
        rc = store_api_key_delete(txn, user_id, id);
    } else {
        key->disabled = op == SRV_KEY_DISABLE;
        rc = store_api_key_update(txn, key);
    }
    return rc ? rc : srv_audit(txn, types[op], user_id, id, ip, 1, via);
}

int srv_api_key_insert_txn(struct store_txn *txn, const struct store_api_key *rec, const char *ip,
                           const char *via, enum srv_api_key_made *made)
{
    int rc = store_api_key_insert(txn, rec);
    *made = rc == STORE_EXISTS     ? SRV_KEY_NAME_TAKEN
            : rc == STORE_EINVAL   ? SRV_KEY_FULL
            : rc == STORE_NOTFOUND ? SRV_KEY_USER_GONE
                                   : SRV_KEY_CREATED;
    if (*made != SRV_KEY_CREATED)
        return STORE_OK;
    return rc ? rc : srv_audit(txn, "api_key.create", rec->user_id, rec->id, ip, 1, via);
}
