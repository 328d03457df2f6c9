/* libFuzzer target: the JWT verifier (keys_jwt_verify) against a key ring made at start in a
 * temporary data folder. The first byte picks what the rest of the input is:
 *   0: a whole token;
 *   1, 2, 3: the header, payload or signature segment (as raw bytes, base64url-encoded here)
 *      spliced into a token the ring signed, so the checks behind a known kid are reached;
 *   4: claims the ring signs; the token must then verify and give them back unchanged.
 * Nothing but case 4 can verify: every other token is refused, and nothing leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "keys/keys.h"
#include "storage/storage.h"

static struct store *st;
static struct keys *kr;
static char dir[] = "/tmp/idpd-fuzz-jwt-XXXXXX";
static char *good;    /* a token the ring signed */
static size_t cut[2]; /* where its two dots are */

static void cleanup(void)
{
    char path[sizeof dir + 32];
    free(good);
    keys_close(kr);
    store_close(st);
    static const char *const files[] = {"data.mdb", "lock.mdb", "master.key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char claims[] = "{\"iss\":\"https://id.example\",\"sub\":\"usr_1\",\"exp\":1}";
    uint8_t master[KEYS_MASTER_LEN];
    struct keys_options ko = {.alg = "ES256", .token_ttl = 3600};
    if (!mkdtemp(dir) || store_open(dir, NULL, &st) != STORE_OK ||
        keys_master_load(dir, NULL, master) != KEYS_OK ||
        keys_open(st, master, &ko, &kr) != KEYS_OK ||
        keys_jwt_sign(kr, "at+jwt", claims, sizeof claims - 1, &good) != KEYS_OK) {
        fprintf(stderr, "fuzz_jwt: cannot make a key ring in %s\n", dir);
        exit(1);
    }
    atexit(cleanup);
    cut[0] = (size_t)(strchr(good, '.') - good);
    cut[1] = (size_t)(strrchr(good, '.') - good);
    return 0;
}

static int verify(const char *token, size_t len, char **payload, size_t *plen)
{
    char kid[KEYS_KID_MAX];
    *payload = NULL;
    return keys_jwt_verify(kr, token, len, "at+jwt", payload, plen, kid);
}

/* good with segment seg (0 header, 1 payload, 2 signature) replaced by base64url(raw). */
static char *splice(int seg, const uint8_t *raw, size_t n, size_t *len)
{
    size_t b64 = crypto_b64url_len(n), glen = strlen(good), written = 0;
    size_t from = seg == 0 ? 0 : cut[seg - 1] + 1, to = seg == 2 ? glen : cut[seg];
    char *t = malloc(glen - (to - from) + b64 + 1);
    if (!t)
        return NULL;
    memcpy(t, good, from);
    crypto_b64url_encode(raw, n, t + from, b64 + 1, &written);
    memcpy(t + from + written, good + to, glen - to + 1);
    *len = from + written + glen - to;
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *payload = NULL, *token = NULL;
    size_t plen = 0, len = 0;
    if (size == 0)
        return 0;
    int mode = data[0] % 5;
    data++, size--;
    switch (mode) {
    case 0:
        if (verify((const char *)data, size, &payload, &plen) == KEYS_OK)
            abort(); /* no input forges a signature of this ring */
        break;
    case 1:
    case 2:
    case 3:
        if (!(token = splice(mode - 1, data, size, &len)))
            return 0;
        /* only the untouched token verifies */
        if (verify(token, len, &payload, &plen) == KEYS_OK && strcmp(token, good) != 0)
            abort();
        break;
    default:
        if (keys_jwt_sign(kr, "at+jwt", (const char *)data, size, &token) != KEYS_OK)
            break;
        if (verify(token, strlen(token), &payload, &plen) != KEYS_OK || plen != size ||
            memcmp(payload, data, size) != 0)
            abort();
        break;
    }
    free(payload);
    free(token);
    return 0;
}
