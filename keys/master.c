/* keys/master.c — the 32-byte master key that seals private keys at rest (DESIGN.md §6). */
#include "keys/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASTER_B64_LEN 43 /* crypto_b64url_len(32) */
#define MASTER_HEX_LEN 64

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 43 base64url characters or 64 hex digits, nothing else (no whitespace). */
static int decode_master(const char *s, size_t len, uint8_t out[KEYS_MASTER_LEN])
{
    int rc = KEYS_EMASTER;
    size_t n = 0;

    if (len == MASTER_B64_LEN) {
        if (crypto_b64url_decode(s, len, out, KEYS_MASTER_LEN, &n) != CRYPTO_OK ||
            n != KEYS_MASTER_LEN)
            goto out;
    } else if (len == MASTER_HEX_LEN) {
        for (size_t i = 0; i < KEYS_MASTER_LEN; i++) {
            int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto out;
            out[i] = (uint8_t)(hi << 4 | lo);
        }
    } else {
        goto out;
    }
    rc = KEYS_OK;
out:
    if (rc != KEYS_OK)
        crypto_wipe(out, KEYS_MASTER_LEN);
    return rc;
}

/* Reads path; *missing = 1 (and KEYS_EMASTER) when it does not exist. */
static int read_master_file(const char *path, uint8_t out[KEYS_MASTER_LEN], int *missing)
{
    int rc = KEYS_EMASTER, fd;
    char text[MASTER_B64_LEN + 8];
    size_t len = 0;
    struct stat sb;

    *missing = 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *missing = errno == ENOENT;
        goto out;
    }
    /* Like ssh with private keys: a key others may read is no longer a secret. */
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0)
        goto out;
    while (len < sizeof text) {
        ssize_t got = read(fd, text + len, sizeof text - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len == sizeof text)
        goto out; /* too long to be a key */
    if (len > 0 && text[len - 1] == '\n')
        len--;
    rc = decode_master(text, len, out);
out:
    crypto_wipe(text, sizeof text);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Creates path with a fresh key. The key is written, fsync'd and then linked into place, so
 * nobody ever reads a half-written master.key, a crash leaves no empty one behind, and of two
 * processes racing exactly one key wins: link() fails with EEXIST for the loser, which then
 * reads the winner's file. */
static int create_master_file(const char *dir, const char *path, uint8_t out[KEYS_MASTER_LEN])
{
    int rc = KEYS_EMASTER, fd = -1, missing = 0;
    uint8_t key[KEYS_MASTER_LEN], suffix[8];
    char text[MASTER_B64_LEN + 2], tmp[PATH_MAX], sfx[24];
    size_t len = 0;

    if (crypto_random(key, sizeof key) != CRYPTO_OK ||
        crypto_random(suffix, sizeof suffix) != CRYPTO_OK)
        goto out;
    if (crypto_b64url_encode(key, sizeof key, text, sizeof text, &len) != CRYPTO_OK ||
        len != MASTER_B64_LEN)
        goto out;
    text[len++] = '\n';
    if (crypto_b64url_encode(suffix, sizeof suffix, sfx, sizeof sfx, NULL) != CRYPTO_OK)
        goto out;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, sfx) >= sizeof tmp) {
        rc = KEYS_EINVAL;
        goto out;
    }
    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        close(fd);
        fd = -1;
        unlink(tmp);
        goto out;
    }
    close(fd);
    fd = -1;
    if (link(tmp, path) == 0) {
        unlink(tmp);
        fsync_dir(dir);
        memcpy(out, key, KEYS_MASTER_LEN);
        rc = KEYS_OK;
        goto out;
    }
    {
        int link_errno = errno;
        unlink(tmp);
        if (link_errno != EEXIST)
            goto out;
    }
    /* Another process created it first: its key is the key. */
    rc = read_master_file(path, out, &missing);
out:
    crypto_wipe(key, sizeof key);
    crypto_wipe(text, sizeof text);
    return rc;
}

int keys_master_load(const char *data_dir, const char *env_value, uint8_t out[KEYS_MASTER_LEN])
{
    int rc, missing = 0;
    char path[PATH_MAX];

    if (!out)
        return KEYS_EINVAL;
    if (env_value && *env_value)
        return decode_master(env_value, strlen(env_value), out);
    if (!data_dir || !*data_dir)
        return KEYS_EINVAL;
    if ((size_t)snprintf(path, sizeof path, "%s/master.key", data_dir) >= sizeof path)
        return KEYS_EINVAL;
    rc = read_master_file(path, out, &missing);
    if (rc != KEYS_OK && missing)
        rc = create_master_file(data_dir, path, out);
    return rc;
}
