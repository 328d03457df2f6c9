/* Record encoding shared by the record files: argument checks, byte order, compact JSON with
 * strict decoding, and a small base64 (storage depends on no other idpd module, so not crypto/'s
 * base64url). */
#include "storage/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int str_fits(const char *s, size_t cap)
{
    return s && strnlen(s, cap) < cap;
}

int str_fits_nonempty(const char *s, size_t cap)
{
    return str_fits(s, cap) && s[0] != '\0';
}

int id_valid(const char *id)
{
    /* '/' separates the account from the secret in secret keys. */
    return str_fits_nonempty(id, STORE_ID_MAX) && !strchr(id, '/');
}

int word_valid(const char *s, size_t cap, const char *punct)
{
    if (!str_fits_nonempty(s, cap))
        return 0;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !strchr(punct, *s))
            return 0;
    return 1;
}

int opaque_key(const char *key, struct kv_val *out)
{
    if (!str_fits_nonempty(key, STORE_LOGIN_KEY_MAX + 1))
        return STORE_EINVAL;
    *out = kv_str(key);
    return STORE_OK;
}

int pair_key(const char *owner, const char *id, struct pair_key *k)
{
    int n;
    if (!id_valid(owner) || (id && !id_valid(id)))
        return STORE_EINVAL;
    n = snprintf(k->buf, sizeof k->buf, "%s/%s", owner, id ? id : "");
    k->val.data = k->buf;
    k->val.len = (size_t)n;
    return STORE_OK;
}

int pair_has_prefix(const struct kv_val *key, const struct pair_key *prefix)
{
    return key->len > prefix->val.len && memcmp(key->data, prefix->val.data, prefix->val.len) == 0;
}

int pair_split(const void *data, size_t len, char owner[STORE_ID_MAX], char id[STORE_ID_MAX])
{
    const char *s = data, *slash = memchr(s, '/', len);
    size_t owner_len, id_len;

    if (!slash)
        return -1;
    owner_len = (size_t)(slash - s);
    id_len = len - owner_len - 1;
    if (owner_len == 0 || owner_len >= STORE_ID_MAX || id_len == 0 || id_len >= STORE_ID_MAX ||
        memchr(slash + 1, '/', id_len) || memchr(s, '\0', len))
        return -1;
    memcpy(owner, s, owner_len);
    owner[owner_len] = '\0';
    memcpy(id, slash + 1, id_len);
    id[id_len] = '\0';
    return 0;
}

int cursor_first_after(struct kv_cursor *cur, const char *after, struct kv_val *key,
                       struct kv_val *val)
{
    struct kv_val at;
    if (!after || !after[0])
        return kv_move(cur, KV_FIRST, NULL, key, val);
    at = kv_str(after);
    return kv_move(cur, KV_GT, &at, key, val);
}

void be64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

uint64_t be64_get(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

int codec_dump(const json_t *obj, char **out, size_t *len)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (!s)
        return STORE_ENOMEM;
    *out = s;
    *len = strlen(s);
    return STORE_OK;
}

int codec_load(const void *data, size_t len, json_t **out)
{
    json_error_t err;
    json_t *obj = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return STORE_ECORRUPT;
    }
    *out = obj;
    return STORE_OK;
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return json_object_set_new(obj, key, v) ? STORE_ENOMEM : STORE_OK;
}

int codec_set_str(json_t *obj, const char *key, const char *s)
{
    json_t *v = json_string(s);
    /* json_string() refuses text that is not UTF-8; running out of memory is far rarer. */
    return v ? set_new(obj, key, v) : STORE_EINVAL;
}

int codec_set_int(json_t *obj, const char *key, int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    return j ? set_new(obj, key, j) : STORE_ENOMEM;
}

int codec_set_bool(json_t *obj, const char *key, int v)
{
    return set_new(obj, key, json_boolean(v));
}

int codec_set_b64(json_t *obj, const char *key, const uint8_t *data, size_t len)
{
    size_t n = b64_encoded_len(len);
    char *buf = malloc(n + 1);
    json_t *v;

    if (!buf)
        return STORE_ENOMEM;
    b64_encode(data, len, buf);
    v = json_stringn(buf, n);
    free(buf);
    return v ? set_new(obj, key, v) : STORE_ENOMEM;
}

int codec_get_str(const json_t *obj, const char *key, char *dst, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    size_t len;

    if (!json_is_string(v))
        return STORE_ECORRUPT;
    len = json_string_length(v);
    if (len >= cap || memchr(json_string_value(v), '\0', len))
        return STORE_ECORRUPT;
    memcpy(dst, json_string_value(v), len);
    dst[len] = '\0';
    return STORE_OK;
}

int codec_get_int(const json_t *obj, const char *key, int64_t *v)
{
    const json_t *j = json_object_get(obj, key);
    if (!json_is_integer(j))
        return STORE_ECORRUPT;
    *v = (int64_t)json_integer_value(j);
    return STORE_OK;
}

int codec_get_bool(const json_t *obj, const char *key, int *v)
{
    const json_t *j = json_object_get(obj, key);
    if (!json_is_boolean(j))
        return STORE_ECORRUPT;
    *v = json_is_true(j);
    return STORE_OK;
}

int codec_get_str_opt(const json_t *obj, const char *key, char *dst, size_t cap)
{
    if (json_object_get(obj, key))
        return codec_get_str(obj, key, dst, cap);
    dst[0] = '\0';
    return STORE_OK;
}

int codec_get_bool_opt(const json_t *obj, const char *key, int *v)
{
    if (json_object_get(obj, key))
        return codec_get_bool(obj, key, v);
    *v = 0;
    return STORE_OK;
}

int codec_get_strv_opt(const json_t *obj, const char *key, char *items, size_t stride, size_t max,
                       size_t *n)
{
    if (json_object_get(obj, key))
        return codec_get_strv(obj, key, items, stride, max, n);
    *n = 0;
    return STORE_OK;
}

int codec_get_b64(const json_t *obj, const char *key, size_t max, uint8_t **data, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    size_t n, cap;
    uint8_t *buf;

    if (!json_is_string(v))
        return STORE_ECORRUPT;
    n = json_string_length(v);
    cap = b64_decoded_max(n);
    if (cap > max + 2) /* padding makes the bound up to 2 bytes loose */
        return STORE_ECORRUPT;
    buf = malloc(cap ? cap : 1);
    if (!buf)
        return STORE_ENOMEM;
    if (b64_decode(json_string_value(v), n, buf, len) || *len > max) {
        free(buf);
        return STORE_ECORRUPT;
    }
    *data = buf;
    return STORE_OK;
}

int strv_valid(const char *items, size_t stride, size_t n, size_t max)
{
    if (n > max || (n && !items))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!str_fits_nonempty(items + i * stride, stride))
            return 0;
    return 1;
}

int codec_set_strv(json_t *obj, const char *key, const char *items, size_t stride, size_t n)
{
    json_t *arr = json_array();
    int rc = arr ? STORE_OK : STORE_ENOMEM;

    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        json_t *v = json_string(items + i * stride);
        if (!v)
            rc = STORE_EINVAL; /* not UTF-8 */
        else if (json_array_append_new(arr, v))
            rc = STORE_ENOMEM;
    }
    if (rc) {
        json_decref(arr);
        return rc;
    }
    return set_new(obj, key, arr); /* set_new took arr, even on failure */
}

int codec_get_strv(const json_t *obj, const char *key, char *items, size_t stride, size_t max,
                   size_t *n)
{
    const json_t *arr = json_object_get(obj, key);
    size_t count;

    if (!json_is_array(arr) || json_array_size(arr) > max)
        return STORE_ECORRUPT;
    count = json_array_size(arr);
    for (size_t i = 0; i < count; i++) {
        const json_t *v = json_array_get(arr, i);
        size_t len;
        if (!json_is_string(v))
            return STORE_ECORRUPT;
        len = json_string_length(v);
        if (len == 0 || len >= stride || memchr(json_string_value(v), '\0', len))
            return STORE_ECORRUPT;
        memcpy(items + i * stride, json_string_value(v), len + 1);
    }
    *n = count;
    return STORE_OK;
}

int roles_valid(char (*roles)[STORE_ROLE_MAX], size_t n)
{
    return strv_valid((const char *)roles, STORE_ROLE_MAX, n, STORE_ROLES_MAX);
}

int codec_set_roles(json_t *obj, const char *key, char (*roles)[STORE_ROLE_MAX], size_t n)
{
    return codec_set_strv(obj, key, (const char *)roles, STORE_ROLE_MAX, n);
}

int codec_get_roles(const json_t *obj, const char *key, char (**roles)[STORE_ROLE_MAX], size_t *n)
{
    const json_t *arr = json_object_get(obj, key);
    char(*list)[STORE_ROLE_MAX] = NULL;
    size_t count = 0;
    int rc;

    if (!json_is_array(arr) || json_array_size(arr) > STORE_ROLES_MAX)
        return STORE_ECORRUPT;
    if (json_array_size(arr)) {
        list = calloc(json_array_size(arr), sizeof *list);
        if (!list)
            return STORE_ENOMEM;
    }
    rc = codec_get_strv(obj, key, (char *)list, STORE_ROLE_MAX, STORE_ROLES_MAX, &count);
    if (rc) {
        free(list);
        return rc;
    }
    *roles = list;
    *n = count;
    return STORE_OK;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

size_t b64_decoded_max(size_t len)
{
    return len / 4 * 3;
}

void b64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        out[o++] = b64_alphabet[in[i] >> 2];
        out[o++] = b64_alphabet[(in[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        out[o++] = b64_alphabet[v >> 10];
        out[o++] = b64_alphabet[v >> 4 & 63];
        out[o++] = b64_alphabet[(v & 15) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    size_t o = 0;

    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int a = b64_value(in[i]), b = b64_value(in[i + 1]);
        int c = b64_value(in[i + 2]), d = b64_value(in[i + 3]);
        if (a < 0 || b < 0)
            return -1;
        if (last && in[i + 2] == '=' && in[i + 3] == '=') {
            if (b & 15) /* non-canonical: bits past the last byte must be zero */
                return -1;
            out[o++] = (uint8_t)(a << 2 | b >> 4);
            break;
        }
        if (c < 0)
            return -1;
        if (last && in[i + 3] == '=') {
            if (c & 3)
                return -1;
            out[o++] = (uint8_t)(a << 2 | b >> 4);
            out[o++] = (uint8_t)(b << 4 | c >> 2);
            break;
        }
        if (d < 0)
            return -1;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
        out[o++] = (uint8_t)(b << 4 | c >> 2);
        out[o++] = (uint8_t)(c << 6 | d);
    }
    *out_len = o;
    return 0;
}
