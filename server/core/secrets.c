/* Service-account secrets (DESIGN.md §6): 256 random bits behind a recognisable prefix so secret
 * scanners find leaks, stored only as Argon2id, with an expiry. */
#include <string.h>

#include "server/core/core.h"

int srv_secret_new(const struct crypto_argon2_params *params, const char *sa_id,
                   int64_t expires_in_hours, struct store_secret *rec, char secret[SRV_SECRET_LEN])
{
    uint8_t raw[32];
    size_t plen = sizeof SRV_SECRET_PREFIX - 1, len = 0;
    int rc = SRV_ERUNTIME;
    memset(rec, 0, sizeof *rec);
    memcpy(secret, SRV_SECRET_PREFIX, plen);
    if (crypto_random(raw, sizeof raw) != CRYPTO_OK ||
        crypto_b64url_encode(raw, sizeof raw, secret + plen, SRV_SECRET_LEN - plen, &len) !=
            CRYPTO_OK ||
        crypto_id_new("sec", rec->id, sizeof rec->id) != CRYPTO_OK ||
        crypto_password_hash(params, secret, plen + len, rec->phc, sizeof rec->phc) != CRYPTO_OK)
        goto out;
    snprintf(rec->sa_id, sizeof rec->sa_id, "%s", sa_id);
    srv_secret_hint(secret, plen + len, rec->hint);
    snprintf(rec->masked, sizeof rec->masked, "%s****%s", SRV_SECRET_PREFIX,
             secret + plen + len - 4);
    rec->created_at = srv_now();
    rec->expires_at = rec->created_at + expires_in_hours * 3600;
    rc = SRV_OK;
out:
    crypto_wipe(raw, sizeof raw);
    return rc;
}

int srv_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 256 || !srv_utf8_valid(name, len))
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

void srv_secret_hint(const char *secret, size_t len, char hint[9])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[CRYPTO_SHA256_LEN];
    crypto_sha256(secret, len, d);
    for (int i = 0; i < 4; i++) {
        hint[2 * i] = hex[d[i] >> 4];
        hint[2 * i + 1] = hex[d[i] & 15];
    }
    hint[8] = '\0';
}
