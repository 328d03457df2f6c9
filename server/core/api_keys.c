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
