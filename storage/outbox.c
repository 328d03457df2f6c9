/* The mail outbox: id (time-sortable) -> {"kind","to","message","created_at","next_at",
 * "attempts","last_error"}, "message" the opaque bytes the server stored (it seals them: a
 * message holds a live link) in base64. One index, written in the transaction that writes the
 * record:
 *   outbox_due  be64(next_at) || id -> ""  (expiry.c's layout: the sender reads the earliest)
 *
 * A message is inserted in the write transaction of the change that causes it, so a change and
 * its message commit together or not at all. A sender claims the earliest due message in a
 * transaction of its own: next_at moves to the end of a lease and attempts counts one more, so
 * no other sender (another node's) takes it until the lease ends; it then sends outside any
 * transaction and deletes the message, or puts it back due later. A sender that dies after
 * sending and before deleting leaves the message to be claimed again when the lease ends: the
 * outbox delivers at least once. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

static int mail_valid(const struct store_mail *m)
{
    return m && id_valid(m->id) && word_valid(m->kind, STORE_MAIL_KIND_MAX, "-_") &&
           str_fits_nonempty(m->to, STORE_EMAIL_MAX) && m->message && m->message_len > 0 &&
           m->message_len <= STORE_MAIL_MESSAGE_MAX && m->created_at >= 0 && m->next_at >= 0 &&
           str_fits(m->last_error, STORE_DETAIL_MAX);
}

static int mail_encode(const struct store_mail *m, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "kind", m->kind);
    if (!rc)
        rc = codec_set_str(obj, "to", m->to);
    if (!rc)
        rc = codec_set_b64(obj, "message", m->message, m->message_len);
    if (!rc)
        rc = codec_set_int(obj, "created_at", m->created_at);
    if (!rc)
        rc = codec_set_int(obj, "next_at", m->next_at);
    if (!rc)
        rc = codec_set_int(obj, "attempts", (int64_t)m->attempts);
    if (!rc)
        rc = codec_set_str(obj, "last_error", m->last_error);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int mail_decode(const struct kv_val *key, const struct kv_val *val, struct store_mail *out)
{
    json_t *obj = NULL;
    int64_t attempts = -1;
    int rc = STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    if (key->len == 0 || key->len >= sizeof out->id)
        goto out;
    memcpy(out->id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "kind", out->kind, sizeof out->kind);
    if (!rc)
        rc = codec_get_str(obj, "to", out->to, sizeof out->to);
    if (!rc)
        rc =
            codec_get_b64(obj, "message", STORE_MAIL_MESSAGE_MAX, &out->message, &out->message_len);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "next_at", &out->next_at);
    if (!rc)
        rc = codec_get_int(obj, "attempts", &attempts);
    if (!rc)
        rc = codec_get_str(obj, "last_error", out->last_error, sizeof out->last_error);
    if (!rc && (attempts < 0 || attempts > UINT32_MAX || !mail_valid(out)))
        rc = STORE_ECORRUPT;
    out->attempts = (uint32_t)attempts;
out:
    json_decref(obj);
    if (rc) {
        store_mail_clear(out);
        if (rc == STORE_ECORRUPT)
            store_corrupt(DB_OUTBOX, key->data, key->len);
    }
    return rc;
}

void store_mail_clear(struct store_mail *m)
{
    if (!m)
        return;
    if (m->message) {
        memset(m->message, 0, m->message_len); /* a live link, sealed or not */
        free(m->message);
    }
    memset(m, 0, sizeof *m);
}

/* how: KV_INSERT for a new message, KV_UPDATE for one read in this transaction (kv.h). */
static int mail_put(struct store_txn *txn, const struct store_mail *m, enum kv_put how)
{
    struct kv_val val;
    char *buf = NULL;
    int rc = mail_encode(m, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_OUTBOX, kv_str(m->id), val, how);
    }
    free(buf);
    return rc;
}

int store_mail_insert(struct store_txn *txn, const struct store_mail *m)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!mail_valid(m))
        return STORE_EINVAL;
    rc = mail_put(txn, m, KV_INSERT);
    return rc ? rc : expiry_put(txn, DB_OUTBOX_DUE, m->next_at, m->id, strlen(m->id));
}

int store_mail_get(struct store_txn *txn, const char *id, struct store_mail *out)
{
    struct kv_val key, val;
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_NOTFOUND;
    key = kv_str(id);
    rc = kv_get(txn, DB_OUTBOX, key, &val);
    return rc ? rc : mail_decode(&key, &val, out);
}

/* Moves m (as stored) to be due at next_at, with attempts and error as given. */
static int reschedule(struct store_txn *txn, struct store_mail *m, int64_t next_at,
                      uint32_t attempts, const char *error)
{
    int rc = expiry_del(txn, DB_OUTBOX_DUE, m->next_at, m->id, strlen(m->id));
    m->next_at = next_at;
    m->attempts = attempts;
    if (error)
        snprintf(m->last_error, sizeof m->last_error, "%s", error);
    if (!rc)
        rc = mail_put(txn, m, KV_UPDATE);
    return rc ? rc : expiry_put(txn, DB_OUTBOX_DUE, next_at, m->id, strlen(m->id));
}

/* The earliest entry of the due index: its time and message id. STORE_NOTFOUND when empty. */
static int first_due(struct store_txn *txn, int64_t *next_at, char id[STORE_ID_MAX])
{
    struct kv_cursor *cur = NULL;
    struct kv_val k;
    int rc = kv_cursor_open(txn, DB_OUTBOX_DUE, &cur);
    if (!rc)
        rc = kv_move(cur, KV_FIRST, NULL, &k, NULL);
    if (!rc && (k.len <= 8 || k.len - 8 >= STORE_ID_MAX))
        rc = store_corrupt(DB_OUTBOX_DUE, k.data, k.len);
    if (!rc) {
        *next_at = (int64_t)be64_get(k.data);
        memcpy(id, (const char *)k.data + 8, k.len - 8); /* k ends with the next write */
        id[k.len - 8] = '\0';
    }
    kv_cursor_close(cur);
    return rc;
}

int store_mail_next_due(struct store_txn *txn, int64_t *next_at)
{
    char id[STORE_ID_MAX];
    if (!txn || !next_at)
        return STORE_EINVAL;
    return first_due(txn, next_at, id);
}

int store_mail_claim(struct store_txn *txn, int64_t now, int64_t lease, struct store_mail *out)
{
    char id[STORE_ID_MAX];
    int64_t due = 0;
    int rc = store_txn_writable(txn);
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (rc)
        return rc;
    if (now < 0 || lease <= 0 || now > INT64_MAX - lease)
        return STORE_EINVAL;
    rc = first_due(txn, &due, id);
    if (!rc && due > now)
        rc = STORE_NOTFOUND; /* the earliest is not due yet */
    if (!rc)
        rc = store_mail_get(txn, id, out);
    if (!rc && out->attempts == UINT32_MAX)
        rc = STORE_ECORRUPT;
    if (!rc)
        rc = reschedule(txn, out, now + lease, out->attempts + 1, NULL);
    if (rc)
        store_mail_clear(out);
    return rc;
}

int store_mail_retry(struct store_txn *txn, const char *id, int64_t next_at, const char *error)
{
    struct store_mail m;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (next_at < 0 || (error && !str_fits(error, STORE_DETAIL_MAX)))
        return STORE_EINVAL;
    rc = store_mail_get(txn, id, &m);
    if (!rc)
        rc = reschedule(txn, &m, next_at, m.attempts, error ? error : "");
    store_mail_clear(&m);
    return rc;
}

int store_mail_delete(struct store_txn *txn, const char *id)
{
    struct store_mail m;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    rc = store_mail_get(txn, id, &m);
    if (!rc)
        rc = expiry_del(txn, DB_OUTBOX_DUE, m.next_at, m.id, strlen(m.id));
    if (!rc)
        rc = kv_del(txn, DB_OUTBOX, kv_str(id));
    store_mail_clear(&m);
    return rc;
}
