/* Unit tests for crypto/: published known-answer vectors first, then the edges of each API. */
#include "crypto/crypto.h"
#include "crypto/internal.h"
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

/* ---- helpers ---- */

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v = v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
    return n;
}

static const char *tohex(const uint8_t *in, size_t n)
{
    static char buf[1024];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n && i < sizeof buf / 2 - 1; i++) {
        buf[2 * i] = digits[in[i] >> 4];
        buf[2 * i + 1] = digits[in[i] & 15];
        buf[2 * i + 2] = '\0';
    }
    if (n == 0)
        buf[0] = '\0';
    return buf;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- errors and randomness ---- */

TEST(test_strerror)
{
    for (int rc = CRYPTO_OK; rc <= CRYPTO_EINTERNAL; rc++) {
        CHECK(crypto_strerror(rc) != NULL);
        for (int other = CRYPTO_OK; other < rc; other++)
            CHECK(strcmp(crypto_strerror(rc), crypto_strerror(other)) != 0);
    }
    CHECK_STR(crypto_strerror(-1), "unknown crypto error");
    CHECK_STR(crypto_strerror(CRYPTO_EMISMATCH), "verification failed");
}

TEST(test_random)
{
    uint8_t a[32] = {0}, b[32] = {0};
    CHECK_INT(crypto_random(NULL, 1), CRYPTO_EINVAL);
    CHECK_INT(crypto_random(NULL, 0), CRYPTO_OK);
    CHECK_INT(crypto_random(a, sizeof a), CRYPTO_OK);
    CHECK_INT(crypto_random(b, sizeof b), CRYPTO_OK);
    CHECK(!all_zero(a, sizeof a));
    CHECK(memcmp(a, b, sizeof a) != 0);
}

/* Small requests come from a per-thread pool: values drawn one after another never repeat, and
 * a forked child does not hand out the bytes its parent's pool still holds. */
TEST(test_random_pool)
{
    uint8_t seen[40][16];
    for (int i = 0; i < 40; i++) {
        CHECK_INT(crypto_random(seen[i], sizeof seen[i]), CRYPTO_OK);
        for (int k = 0; k < i; k++)
            CHECK(memcmp(seen[i], seen[k], sizeof seen[i]) != 0);
    }
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork();
    if (child == 0) {
        uint8_t c[16];
        int ok = crypto_random(c, sizeof c) == CRYPTO_OK && write(fds[1], c, sizeof c) == 16;
        _exit(ok ? 0 : 1);
    }
    uint8_t parent_next[16], child_first[16];
    CHECK_INT(crypto_random(parent_next, sizeof parent_next), CRYPTO_OK);
    CHECK(read(fds[0], child_first, sizeof child_first) == 16);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(memcmp(parent_next, child_first, sizeof parent_next) != 0);
    close(fds[0]);
    close(fds[1]);
}

/* ---- identifiers ---- */

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

TEST(test_id_format)
{
    char id[CRYPTO_ID_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

    CHECK_INT(crypto_id_new("usr", id, sizeof id), CRYPTO_OK);
    CHECK_INT(strlen(id), 3 + 1 + 26);
    CHECK(strncmp(id, "usr_", 4) == 0);
    uint64_t ms = 0;
    for (int i = 0; i < 26; i++) {
        const char *pos = strchr(crockford, id[4 + i]);
        CHECK_MSG(id[4 + i] && pos, "bad character '%c' in %s", id[4 + i], id);
        if (i < 10)
            ms = ms << 5 | (uint64_t)(pos - crockford);
    }
    /* 48 bits in 10 characters: the first carries only 3 bits. */
    CHECK(id[4] <= '7');
    CHECK_MSG(ms >= now && ms < now + 5000, "id time %llu, now %llu", (unsigned long long)ms,
              (unsigned long long)now);
}

TEST(test_id_prefix)
{
    char id[CRYPTO_ID_MAX];
    const char *bad[] = {"", "Usr", "us1", "us_r", "us-r", "usr ", "abcdefghijklmnopq", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(crypto_id_new(bad[i], id, sizeof id) == CRYPTO_EINVAL, "prefix \"%s\"", bad[i]);
    CHECK_INT(crypto_id_new(NULL, id, sizeof id), CRYPTO_EINVAL);
    CHECK_INT(crypto_id_new("usr", NULL, sizeof id), CRYPTO_EINVAL);

    CHECK_INT(crypto_id_new("abcdefghijklmnop", id, sizeof id), CRYPTO_OK);
    CHECK_INT(strlen(id), 16 + 1 + 26);
    CHECK(strlen(id) + 1 <= CRYPTO_ID_MAX);
    CHECK_INT(crypto_id_new("a", id, sizeof id), CRYPTO_OK);
    CHECK_INT(strlen(id), 28);

    /* "sid_" + 26 + NUL = 31 bytes. */
    CHECK_INT(crypto_id_new("sid", id, 30), CRYPTO_ESPACE);
    CHECK_INT(crypto_id_new("sid", id, 31), CRYPTO_OK);
    CHECK_INT(strlen(id), 30);
}

TEST(test_id_order)
{
    char a[CRYPTO_ID_MAX], b[CRYPTO_ID_MAX];
    for (int round = 0; round < 5; round++) {
        CHECK_INT(crypto_id_new("ses", a, sizeof a), CRYPTO_OK);
        sleep_ms(2);
        CHECK_INT(crypto_id_new("ses", b, sizeof b), CRYPTO_OK);
        CHECK_MSG(strcmp(a, b) < 0, "%s made before %s", a, b);
    }
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

TEST(test_id_unique)
{
    enum { N = 1000 };
    static char ids[N][CRYPTO_ID_MAX];
    for (int i = 0; i < N; i++)
        CHECK_INT(crypto_id_new("tok", ids[i], CRYPTO_ID_MAX), CRYPTO_OK);
    qsort(ids, N, CRYPTO_ID_MAX, cmp_ids);
    for (int i = 1; i < N; i++)
        CHECK_MSG(strcmp(ids[i - 1], ids[i]) != 0, "duplicate id %s", ids[i]);
}

/* ---- base64url ---- */

TEST(test_b64url_rfc4648)
{
    /* RFC 4648 §10, without the padding. */
    static const char *vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = 99;
        size_t len = strlen(vec[i][0]);
        CHECK_INT(crypto_b64url_len(len), strlen(vec[i][1]));
        CHECK_INT(crypto_b64url_encode(vec[i][0], len, enc, sizeof enc, &n), CRYPTO_OK);
        CHECK_STR(enc, vec[i][1]);
        CHECK_INT(n, strlen(vec[i][1]));
        n = 99;
        CHECK_INT(crypto_b64url_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof dec, &n),
                  CRYPTO_OK);
        CHECK_INT(n, len);
        CHECK(memcmp(dec, vec[i][0], len) == 0);
    }
}

TEST(test_b64url_alphabet)
{
    char enc[8];
    uint8_t dec[8];
    size_t n = 0;
    CHECK_INT(crypto_b64url_encode((const uint8_t[]){0xfb, 0xff}, 2, enc, sizeof enc, NULL),
              CRYPTO_OK);
    CHECK_STR(enc, "-_8");
    CHECK_INT(crypto_b64url_encode((const uint8_t[]){0xfb, 0xef, 0xbe}, 3, enc, sizeof enc, NULL),
              CRYPTO_OK);
    CHECK_STR(enc, "----");
    CHECK_INT(crypto_b64url_encode((const uint8_t[]){0xff, 0xff, 0xff}, 3, enc, sizeof enc, NULL),
              CRYPTO_OK);
    CHECK_STR(enc, "____");
    CHECK_INT(crypto_b64url_decode("-_8", 3, dec, sizeof dec, &n), CRYPTO_OK);
    CHECK_INT(n, 2);
    CHECK(dec[0] == 0xfb && dec[1] == 0xff);

    /* Every one of the 64 characters maps back to its own value. */
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (unsigned v = 0; v < 64; v++) {
        char in[3] = {alpha[v], 'A', 0};
        CHECK_INT(crypto_b64url_decode(in, 2, dec, sizeof dec, &n), CRYPTO_OK);
        CHECK_INT(n, 1);
        CHECK_INT(dec[0], v << 2);
    }
}

TEST(test_b64url_decode_rejects)
{
    static const char *bad[] = {"=",       "Zg==",  "Zg=",    "Z",       "Zh",     "Zm9vY",
                                "Zm9v+",   "Zm/v",  "Zm 9v",  " Zm9v",   "Zm9v\n", "Zm\t9",
                                "Zm9vYg=", "Zm9\"", "Zm9v*A", "\xc3\xa9"};
    uint8_t dec[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(dec, 0xaa, sizeof dec);
        int rc = crypto_b64url_decode(bad[i], strlen(bad[i]), dec, sizeof dec, NULL);
        CHECK_MSG(rc == CRYPTO_EFORMAT, "\"%s\" gave %d", bad[i], rc);
    }
    /* A NUL inside the counted length is not base64 either. */
    CHECK_INT(crypto_b64url_decode("Zm\0v", 4, dec, sizeof dec, NULL), CRYPTO_EFORMAT);
    /* "Zg" is the one valid spelling of 0x66; "Zh".."Zv" differ only in the dropped bits. */
    size_t n = 0;
    CHECK_INT(crypto_b64url_decode("Zg", 2, dec, sizeof dec, &n), CRYPTO_OK);
    CHECK(n == 1 && dec[0] == 'f');
    CHECK_INT(crypto_b64url_decode("Zm9", 3, dec, sizeof dec, NULL), CRYPTO_EFORMAT);
    CHECK_INT(crypto_b64url_decode("Zm8", 3, dec, sizeof dec, &n), CRYPTO_OK);
    CHECK(n == 2 && memcmp(dec, "fo", 2) == 0);
}

TEST(test_b64url_roundtrip)
{
    uint8_t in[100], dec[100];
    char enc[140];
    for (size_t len = 0; len <= sizeof in; len++) {
        size_t elen = 0, dlen = 0;
        CHECK_INT(crypto_random(in, len), CRYPTO_OK);
        CHECK_INT(crypto_b64url_encode(in, len, enc, sizeof enc, &elen), CRYPTO_OK);
        CHECK_INT(elen, crypto_b64url_len(len));
        CHECK_INT(strlen(enc), elen);
        CHECK(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              elen);
        CHECK_INT(crypto_b64url_decode(enc, elen, dec, len, &dlen), CRYPTO_OK);
        CHECK_INT(dlen, len);
        CHECK(memcmp(in, dec, len) == 0);
    }
}

TEST(test_b64url_limits)
{
    char enc[8];
    uint8_t dec[8];
    size_t n = 99;
    /* "foo" needs 4 characters plus the NUL. */
    CHECK_INT(crypto_b64url_encode("foo", 3, enc, 4, NULL), CRYPTO_ESPACE);
    CHECK_INT(crypto_b64url_encode("foo", 3, enc, 5, NULL), CRYPTO_OK);
    CHECK_INT(crypto_b64url_encode("", 0, enc, 0, NULL), CRYPTO_ESPACE);
    CHECK_INT(crypto_b64url_encode(NULL, 0, enc, 1, &n), CRYPTO_OK);
    CHECK(n == 0 && enc[0] == '\0');
    CHECK_INT(crypto_b64url_encode(NULL, 1, enc, sizeof enc, NULL), CRYPTO_EINVAL);
    CHECK_INT(crypto_b64url_encode("f", 1, NULL, sizeof enc, NULL), CRYPTO_EINVAL);

    CHECK_INT(crypto_b64url_decode("Zm9vYg", 6, dec, 3, NULL), CRYPTO_ESPACE);
    CHECK_INT(crypto_b64url_decode("Zm9vYg", 6, dec, 4, &n), CRYPTO_OK);
    CHECK_INT(n, 4);
    CHECK_INT(crypto_b64url_decode("", 0, dec, 0, &n), CRYPTO_OK);
    CHECK_INT(n, 0);
    CHECK_INT(crypto_b64url_decode(NULL, 0, NULL, 0, &n), CRYPTO_OK);
    CHECK_INT(crypto_b64url_decode(NULL, 4, dec, sizeof dec, NULL), CRYPTO_EINVAL);
    CHECK_INT(crypto_b64url_decode("Zm9v", 4, NULL, sizeof dec, NULL), CRYPTO_EINVAL);

    CHECK_INT(crypto_b64url_len(0), 0);
    CHECK_INT(crypto_b64url_len(32), 43);
    CHECK(crypto_b64url_len(SIZE_MAX) == SIZE_MAX);
}

/* ---- hashing and comparison ---- */

static int sha256_is(const void *in, size_t len, const char *hex)
{
    uint8_t got[CRYPTO_SHA256_LEN];
    crypto_sha256(in, len, got);
    return strcmp(tohex(got, sizeof got), hex) == 0;
}

TEST(test_sha256)
{
    /* FIPS 180-2 appendix B. */
    CHECK(sha256_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(sha256_is(two, strlen(two),
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    CHECK(sha256_is(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    crypto_sha256("abc", 3, NULL); /* must not crash */
}

TEST(test_hmac_rfc4231)
{
    uint8_t key[20], mac[CRYPTO_SHA256_LEN];
    memset(key, 0x0b, sizeof key);
    CHECK_INT(crypto_hmac_sha256(key, 20, "Hi There", 8, mac), CRYPTO_OK);
    CHECK_STR(tohex(mac, sizeof mac),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *data = "what do ya want for nothing?";
    CHECK_INT(crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac), CRYPTO_OK);
    CHECK_STR(tohex(mac, sizeof mac),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Empty key and message (Python's hmac gives the same value). */
    CHECK_INT(crypto_hmac_sha256(NULL, 0, NULL, 0, mac), CRYPTO_OK);
    CHECK_STR(tohex(mac, sizeof mac),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    CHECK_INT(crypto_hmac_sha256(NULL, 1, "x", 1, mac), CRYPTO_EINVAL);
    CHECK_INT(crypto_hmac_sha256("k", 1, NULL, 1, mac), CRYPTO_EINVAL);
    CHECK_INT(crypto_hmac_sha256("k", 1, "x", 1, NULL), CRYPTO_EINVAL);
}

TEST(test_memeq)
{
    uint8_t a[32], b[32];
    CHECK_INT(crypto_random(a, sizeof a), CRYPTO_OK);
    memcpy(b, a, sizeof a);
    CHECK_INT(crypto_memeq(a, b, sizeof a), 1);
    b[0] ^= 1;
    CHECK_INT(crypto_memeq(a, b, sizeof a), 0);
    b[0] ^= 1;
    b[31] ^= 0x80;
    CHECK_INT(crypto_memeq(a, b, sizeof a), 0);
    CHECK_INT(crypto_memeq(a, b, 31), 1);
    CHECK_INT(crypto_memeq(a, b, 0), 1);
    CHECK_INT(crypto_memeq(NULL, b, 1), 0);
    CHECK_INT(crypto_memeq(a, NULL, 1), 0);
}

TEST(test_streq)
{
    CHECK_INT(crypto_streq("secret", "secret"), 1);
    CHECK_INT(crypto_streq("", ""), 1);
    CHECK_INT(crypto_streq("xecret", "secret"), 0);
    CHECK_INT(crypto_streq("secrex", "secret"), 0);
    CHECK_INT(crypto_streq("secret", "secrets"), 0);
    CHECK_INT(crypto_streq("secrets", "secret"), 0);
    CHECK_INT(crypto_streq("", "secret"), 0);
    CHECK_INT(crypto_streq("secret", ""), 0);
    CHECK_INT(crypto_streq(NULL, "a"), 0);
    CHECK_INT(crypto_streq("a", NULL), 0);
    /* a is read only up to its own NUL: a one-byte heap string against a long expected value
     * would trip ASan otherwise. */
    char *shortstr = malloc(1);
    CHECK(shortstr);
    shortstr[0] = '\0';
    int eq = crypto_streq(shortstr, "a much longer expected value");
    free(shortstr);
    CHECK_INT(eq, 0);
}

TEST(test_wipe)
{
    uint8_t buf[16];
    memset(buf, 0xaa, sizeof buf);
    crypto_wipe(buf, sizeof buf);
    CHECK(all_zero(buf, sizeof buf));
    crypto_wipe(NULL, 16); /* must not crash */
}

/* ---- AES-256-GCM ---- */

TEST(test_aead_kat)
{
    /* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV,
     * with AAD). */
    uint8_t key[32], nonce[12], pt[60], aad[20], want[12 + 60 + 16], out[128], back[64];
    unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key);
    unhex("cafebabefacedbaddecaf888", nonce);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
          pt);
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad);
    unhex("cafebabefacedbaddecaf888"
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b",
          want);
    size_t n = 0;
    CHECK_INT(
        crypto_aead_seal_nonce(key, nonce, aad, sizeof aad, pt, sizeof pt, out, sizeof out, &n),
        CRYPTO_OK);
    CHECK_INT(n, sizeof want);
    CHECK_MSG(memcmp(out, want, n) == 0, "sealed %s", tohex(out, n));
    CHECK_INT(crypto_aead_open(key, aad, sizeof aad, want, sizeof want, back, sizeof back, &n),
              CRYPTO_OK);
    CHECK_INT(n, sizeof pt);
    CHECK(memcmp(back, pt, sizeof pt) == 0);

    /* Test case 13: all-zero key and nonce, empty plaintext, no AAD: only the tag. */
    uint8_t zkey[32] = {0}, znonce[12] = {0};
    CHECK_INT(crypto_aead_seal_nonce(zkey, znonce, NULL, 0, NULL, 0, out, sizeof out, &n),
              CRYPTO_OK);
    CHECK_INT(n, CRYPTO_AEAD_OVERHEAD);
    CHECK_STR(tohex(out + 12, 16), "530f8afbc74536b9a963b4f1c4cb738b");
    /* Test case 14: one zero block. */
    uint8_t zblock[16] = {0};
    CHECK_INT(crypto_aead_seal_nonce(zkey, znonce, NULL, 0, zblock, 16, out, sizeof out, &n),
              CRYPTO_OK);
    CHECK_STR(tohex(out + 12, 32),
              "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(test_aead_roundtrip)
{
    uint8_t key[32], out[256], back[256], out2[256];
    const char *msg = "-----BEGIN PRIVATE KEY----- not really";
    const char *aad = "key:kid_01";
    size_t n = 0, m = 0;
    CHECK_INT(crypto_random(key, sizeof key), CRYPTO_OK);
    CHECK_INT(crypto_aead_seal(key, aad, strlen(aad), msg, strlen(msg), out, sizeof out, &n),
              CRYPTO_OK);
    CHECK_INT(n, strlen(msg) + CRYPTO_AEAD_OVERHEAD);
    CHECK(memcmp(out + CRYPTO_AEAD_NONCE_LEN, msg, strlen(msg)) != 0);
    CHECK_INT(crypto_aead_open(key, aad, strlen(aad), out, n, back, sizeof back, &m), CRYPTO_OK);
    CHECK_INT(m, strlen(msg));
    CHECK(memcmp(back, msg, m) == 0);

    /* A fresh nonce each time: sealing the same message twice gives different bytes. */
    CHECK_INT(crypto_aead_seal(key, aad, strlen(aad), msg, strlen(msg), out2, sizeof out2, &m),
              CRYPTO_OK);
    CHECK(memcmp(out, out2, CRYPTO_AEAD_NONCE_LEN) != 0);
    CHECK(memcmp(out, out2, n) != 0);

    /* No aad, and empty plaintext. */
    CHECK_INT(crypto_aead_seal(key, NULL, 0, msg, strlen(msg), out, sizeof out, &n), CRYPTO_OK);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, n, back, sizeof back, &m), CRYPTO_OK);
    CHECK(m == strlen(msg) && memcmp(back, msg, m) == 0);
    CHECK_INT(crypto_aead_seal(key, NULL, 0, NULL, 0, out, CRYPTO_AEAD_OVERHEAD, &n), CRYPTO_OK);
    CHECK_INT(n, CRYPTO_AEAD_OVERHEAD);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, n, back, 0, &m), CRYPTO_OK);
    CHECK_INT(m, 0);
}

TEST(test_aead_tamper)
{
    uint8_t key[32], other[32], out[64], back[64];
    const char *msg = "attack at dawn";
    size_t n = 0, m = 99;
    CHECK_INT(crypto_random(key, sizeof key), CRYPTO_OK);
    memcpy(other, key, sizeof key);
    other[7] ^= 0x01;
    CHECK_INT(crypto_aead_seal(key, "ad", 2, msg, strlen(msg), out, sizeof out, &n), CRYPTO_OK);

    /* Every byte: nonce, ciphertext and tag. */
    for (size_t i = 0; i < n; i++) {
        out[i] ^= 0x01;
        memset(back, 0xaa, sizeof back);
        m = 99;
        int rc = crypto_aead_open(key, "ad", 2, out, n, back, sizeof back, &m);
        out[i] ^= 0x01;
        CHECK_MSG(rc == CRYPTO_EMISMATCH, "flipped byte %zu gave %d", i, rc);
        CHECK_INT(m, 0);
        CHECK_MSG(all_zero(back, strlen(msg)), "plaintext left in out after byte %zu", i);
    }
    CHECK_INT(crypto_aead_open(key, "ad", 2, out, n, back, sizeof back, &m), CRYPTO_OK);
    CHECK(m == strlen(msg) && memcmp(back, msg, m) == 0);

    CHECK_INT(crypto_aead_open(key, "ae", 2, out, n, back, sizeof back, &m), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_aead_open(key, "ad\0", 3, out, n, back, sizeof back, &m), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, n, back, sizeof back, &m), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_aead_open(other, "ad", 2, out, n, back, sizeof back, &m), CRYPTO_EMISMATCH);
    /* Truncation moves the tag boundary. */
    CHECK_INT(crypto_aead_open(key, "ad", 2, out, n - 1, back, sizeof back, &m), CRYPTO_EMISMATCH);
}

TEST(test_aead_limits)
{
    uint8_t key[32] = {1}, nonce[12] = {2}, out[64] = {0}, back[64];
    size_t n = 0;
    /* Shorter than nonce + tag cannot be a sealed message. */
    for (size_t len = 0; len < CRYPTO_AEAD_OVERHEAD; len++)
        CHECK_INT(crypto_aead_open(key, NULL, 0, out, len, back, sizeof back, &n), CRYPTO_EFORMAT);

    CHECK_INT(crypto_aead_seal(key, NULL, 0, "12345", 5, out, 5 + CRYPTO_AEAD_OVERHEAD - 1, &n),
              CRYPTO_ESPACE);
    CHECK_INT(crypto_aead_seal(key, NULL, 0, "12345", 5, out, 5 + CRYPTO_AEAD_OVERHEAD, &n),
              CRYPTO_OK);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, n, back, 4, NULL), CRYPTO_ESPACE);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, n, back, 5, NULL), CRYPTO_OK);
    CHECK(memcmp(back, "12345", 5) == 0);

    CHECK_INT(crypto_aead_seal(NULL, NULL, 0, "x", 1, out, sizeof out, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_seal(key, NULL, 1, "x", 1, out, sizeof out, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_seal(key, NULL, 0, NULL, 1, out, sizeof out, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_seal(key, NULL, 0, "x", 1, NULL, sizeof out, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_seal_nonce(key, NULL, NULL, 0, "x", 1, out, sizeof out, &n),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_seal_nonce(key, nonce, NULL, 0, "x", SIZE_MAX, out, sizeof out, &n),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_open(NULL, NULL, 0, out, 40, back, sizeof back, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_open(key, NULL, 0, NULL, 40, back, sizeof back, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_open(key, NULL, 0, out, 40, NULL, sizeof back, &n), CRYPTO_EINVAL);
    CHECK_INT(crypto_aead_open(key, NULL, 3, out, 40, back, sizeof back, &n), CRYPTO_EINVAL);
}

/* ---- Argon2id ---- */

static const struct crypto_argon2_params small = {64, 1, 1};

TEST(test_argon2_rfc9106)
{
    /* RFC 9106 §5.3: Argon2id v=0x13, t=3, m=32 KiB, p=4, with secret and associated data. */
    uint8_t pw[32], salt[16], secret[8], ad[12], tag[32];
    memset(pw, 0x01, sizeof pw);
    memset(salt, 0x02, sizeof salt);
    memset(secret, 0x03, sizeof secret);
    memset(ad, 0x04, sizeof ad);
    const struct crypto_argon2_params p = {32, 3, 4};
    CHECK_INT(crypto_argon2id_raw(&p, pw, sizeof pw, salt, sizeof salt, secret, sizeof secret, ad,
                                  sizeof ad, tag, sizeof tag),
              CRYPTO_OK);
    CHECK_STR(tohex(tag, sizeof tag),
              "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}

TEST(test_argon2_params)
{
    char phc[CRYPTO_PHC_MAX];
    uint8_t salt[16] = {0}, tag[32];
    const struct crypto_argon2_params bad[] = {
        {64, 0, 1},                                       /* t < 1 */
        {64, 1, 0},                                       /* p < 1 */
        {256, 1, 17},                                     /* p > 16 */
        {15, 1, 2},                                       /* m < 8 p */
        {0, 1, 1},          {4u * 1024 * 1024 + 1, 1, 1}, /* over 4 GiB */
        {UINT32_MAX, 1, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(crypto_password_hash(&bad[i], "pw", 2, phc, sizeof phc) == CRYPTO_EINVAL,
                  "params #%zu", i);
        CHECK_INT(crypto_argon2id_raw(&bad[i], "pw", 2, salt, 16, NULL, 0, NULL, 0, tag, 32),
                  CRYPTO_EINVAL);
    }
    CHECK_INT(crypto_argon2_params_check(&(struct crypto_argon2_params){16, 1, 2}), CRYPTO_OK);
    CHECK_INT(crypto_argon2_params_check(&(struct crypto_argon2_params){4194304, 1, 16}),
              CRYPTO_OK);
    CHECK_INT(crypto_argon2_params_check(&(struct crypto_argon2_params){19456, 2, 1}), CRYPTO_OK);
    CHECK_INT(crypto_password_hash(NULL, "pw", 2, phc, sizeof phc), CRYPTO_EINVAL);
    CHECK_INT(crypto_password_hash(&small, NULL, 2, phc, sizeof phc), CRYPTO_EINVAL);
    CHECK_INT(crypto_password_hash(&small, "pw", 2, NULL, sizeof phc), CRYPTO_EINVAL);

    /* Raw: salt and output sizes. */
    CHECK_INT(crypto_argon2id_raw(&small, "pw", 2, salt, 7, NULL, 0, NULL, 0, tag, 32),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_argon2id_raw(&small, "pw", 2, NULL, 16, NULL, 0, NULL, 0, tag, 32),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_argon2id_raw(&small, "pw", 2, salt, 16, NULL, 0, NULL, 0, tag, 3),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_argon2id_raw(&small, "pw", 2, salt, 16, NULL, 1, NULL, 0, tag, 32),
              CRYPTO_EINVAL);
    CHECK_INT(crypto_argon2id_raw(&small, "pw", 2, salt, 16, NULL, 0, NULL, 0, NULL, 32),
              CRYPTO_EINVAL);
}

TEST(test_password_roundtrip)
{
    char phc[CRYPTO_PHC_MAX], phc2[CRYPTO_PHC_MAX];
    const char *pw = "correct horse battery staple";
    CHECK_INT(crypto_password_hash(&small, pw, strlen(pw), phc, sizeof phc), CRYPTO_OK);
    const char *head = "$argon2id$v=19$m=64,t=1,p=1$";
    CHECK_MSG(strncmp(phc, head, strlen(head)) == 0, "%s", phc);
    /* 16-byte salt = 22 characters, 32-byte hash = 43, standard alphabet, no padding. */
    const char *salt = phc + strlen(head);
    CHECK_INT(strspn(salt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), 22);
    CHECK(salt[22] == '$');
    CHECK_INT(strspn(salt + 23, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
              43);
    CHECK_INT(strlen(salt + 23), 43);

    CHECK_INT(crypto_password_verify(phc, pw, strlen(pw)), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, "correct horse battery stapl", strlen(pw) - 1),
              CRYPTO_EMISMATCH);
    CHECK_INT(crypto_password_verify(phc, "Correct horse battery staple", strlen(pw)),
              CRYPTO_EMISMATCH);
    CHECK_INT(crypto_password_verify(phc, "", 0), CRYPTO_EMISMATCH);

    /* Fresh salt each time. */
    CHECK_INT(crypto_password_hash(&small, pw, strlen(pw), phc2, sizeof phc2), CRYPTO_OK);
    CHECK(strcmp(phc, phc2) != 0);
    CHECK_INT(crypto_password_verify(phc2, pw, strlen(pw)), CRYPTO_OK);

    /* Passwords are bytes: an embedded NUL is part of it. */
    CHECK_INT(crypto_password_hash(&small, "a\0b", 3, phc, sizeof phc), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, "a\0b", 3), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, "a\0c", 3), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_password_verify(phc, "a", 1), CRYPTO_EMISMATCH);

    CHECK_INT(crypto_password_verify(NULL, pw, strlen(pw)), CRYPTO_EINVAL);
    CHECK_INT(crypto_password_verify(phc, NULL, 1), CRYPTO_EINVAL);
}

TEST(test_password_empty)
{
    char phc[CRYPTO_PHC_MAX];
    CHECK_INT(crypto_password_hash(&small, NULL, 0, phc, sizeof phc), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, "", 0), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, NULL, 0), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(phc, " ", 1), CRYPTO_EMISMATCH);
}

TEST(test_password_default_params)
{
    const struct crypto_argon2_params def = {19456, 2, 1}; /* server/core/config.c defaults */
    char phc[CRYPTO_PHC_MAX];
    CHECK_INT(crypto_password_hash(&def, "hunter22", 8, phc, sizeof phc), CRYPTO_OK);
    CHECK(strncmp(phc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    CHECK_INT(strlen(phc), 31 + 22 + 1 + 43);
    CHECK_INT(crypto_password_verify(phc, "hunter22", 8), CRYPTO_OK);
    CHECK_INT(crypto_password_needs_rehash(phc, &def), 0);

    /* The longest string idpd can write still fits CRYPTO_PHC_MAX; only the cap is tested here,
     * not a 4 GiB hash. */
    CHECK_INT(crypto_password_hash(&def, "hunter22", 8, phc, strlen(phc)), CRYPTO_ESPACE);
    CHECK(strlen("$argon2id$v=19$m=4194304,t=4294967295,p=16$") + 22 + 1 + 43 + 1 <=
          CRYPTO_PHC_MAX);
}

/* Produced by Debian 12's reference CLI (argon2 0~20171227):
 *   echo -n password | argon2 somesaltsomesalt -id -t 2 -m 10 -p 1 -e
 *   echo -n 'correct horse' | argon2 8bytesal -id -t 3 -k 64 -p 2 -e
 *   echo -n 'correct horse' | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 2 -l 16 -e
 * The first also printed the raw hash
 * 08a19ee7f6d7f589c2ab6af18d6e724172b19f7d6fd462b38430ab31ceabeaf0. */
static const char ref_password[] = "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
                                   "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA";
static const char ref_short_salt[] =
    "$argon2id$v=19$m=64,t=3,p=2$OGJ5dGVzYWw$NM1BEpu1gAEzqJhuuI4cFgmh6s/uObs1SCX3M95rqC0";
static const char ref_short_tag[] =
    "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$9gjv003hro3F6tyza6a0Sw";

TEST(test_password_reference)
{
    CHECK_INT(crypto_password_verify(ref_password, "password", 8), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(ref_password, "passwore", 8), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_password_verify(ref_short_salt, "correct horse", 13), CRYPTO_OK);
    CHECK_INT(crypto_password_verify(ref_short_salt, "correct horsE", 13), CRYPTO_EMISMATCH);
    CHECK_INT(crypto_password_verify(ref_short_tag, "correct horse", 13), CRYPTO_OK);

    /* The raw function gives the CLI's printed hash for the same inputs. */
    uint8_t tag[32];
    const struct crypto_argon2_params p = {1024, 2, 1};
    CHECK_INT(crypto_argon2id_raw(&p, "password", 8, "somesaltsomesalt", 16, NULL, 0, NULL, 0, tag,
                                  sizeof tag),
              CRYPTO_OK);
    CHECK_STR(tohex(tag, sizeof tag),
              "08a19ee7f6d7f589c2ab6af18d6e724172b19f7d6fd462b38430ab31ceabeaf0");
}

TEST(test_password_malformed)
{
    static const char *bad[] = {
        "",
        "password",
        /* other variants and versions */
        "$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "lwfbXCoFcL3IplJiF7JfD/BD6NIUHLAFJiATPggIHk8",
        "$argon2d$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$ARGON2ID$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=16$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        /* missing fields */
        "$argon2id$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$t=2,m=1024,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$",
        "$argon2id$v=19$m=1024,t=2,p=1$$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        /* numbers out of bounds or not canonical */
        "$argon2id$v=19$m=4194305,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=18446744073709551617,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=01024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=-1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=0$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=17$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=8,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$CKGe5/"
        "bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        /* extra fields */
        "$argon2id$v=19$m=1024,t=2,p=1,keyid=AAAA$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA$",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA\n",
        " $argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        /* bad base64: padding, URL alphabet, stray character, non-zero trailing bits */
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5_bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNh!HRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdB$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vB",
        /* salt under 8 bytes ("salt"), hash under 16 bytes, hash over 64 bytes */
        "$argon2id$v=19$m=1024,t=2,p=1$c2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rx",
        "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vACKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = crypto_password_verify(bad[i], "password", 8);
        CHECK_MSG(rc == CRYPTO_EFORMAT, "#%zu \"%s\" gave %d", i, bad[i], rc);
        CHECK_MSG(crypto_password_needs_rehash(bad[i], &small) == 1, "#%zu", i);
    }
}

TEST(test_password_needs_rehash)
{
    char phc[CRYPTO_PHC_MAX];
    CHECK_INT(crypto_password_hash(&small, "pw", 2, phc, sizeof phc), CRYPTO_OK);
    CHECK_INT(crypto_password_needs_rehash(phc, &small), 0);
    CHECK_INT(crypto_password_needs_rehash(phc, &(struct crypto_argon2_params){128, 1, 1}), 1);
    CHECK_INT(crypto_password_needs_rehash(phc, &(struct crypto_argon2_params){64, 2, 1}), 1);
    CHECK_INT(crypto_password_needs_rehash(phc, &(struct crypto_argon2_params){64, 1, 2}), 1);
    CHECK_INT(crypto_password_needs_rehash(phc, NULL), 1);
    CHECK_INT(crypto_password_needs_rehash(NULL, &small), 1);

    CHECK_INT(
        crypto_password_needs_rehash(ref_password, &(struct crypto_argon2_params){1024, 2, 1}), 0);
    /* Same cost, but an 8-byte salt or a 16-byte tag is below what idpd writes. */
    CHECK_INT(
        crypto_password_needs_rehash(ref_short_salt, &(struct crypto_argon2_params){64, 3, 2}), 1);
    CHECK_INT(crypto_password_needs_rehash(ref_short_tag, &(struct crypto_argon2_params){64, 1, 2}),
              1);
}

/* ---- per-thread Argon2 memory ---- */

struct worker {
    const char *pw;
    int rc_hash[2], rc_verify[2], rc_wrong;
    char phc[2][CRYPTO_PHC_MAX];
};

static void *hash_worker(void *arg)
{
    struct worker *w = arg;
    const struct crypto_argon2_params p = {256, 2, 1};
    for (int i = 0; i < 2; i++) {
        w->rc_hash[i] = crypto_password_hash(&p, w->pw, strlen(w->pw), w->phc[i], CRYPTO_PHC_MAX);
        w->rc_verify[i] = crypto_password_verify(w->phc[i], w->pw, strlen(w->pw));
    }
    w->rc_wrong = crypto_password_verify(w->phc[0], "nope", 4);
    return NULL;
}

TEST(test_argon2_threads)
{
    struct worker w[2] = {{.pw = "first thread's password"}, {.pw = "second thread's password"}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, hash_worker, &w[i]) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 2; k++) {
            CHECK_INT(w[i].rc_hash[k], CRYPTO_OK);
            CHECK_INT(w[i].rc_verify[k], CRYPTO_OK);
        }
        CHECK_INT(w[i].rc_wrong, CRYPTO_EMISMATCH);
        CHECK(strcmp(w[i].phc[0], w[i].phc[1]) != 0);
        /* Each thread's hash checks out on another thread too. */
        CHECK_INT(crypto_password_verify(w[i].phc[1], w[i].pw, strlen(w[i].pw)), CRYPTO_OK);
        CHECK_INT(crypto_password_verify(w[i].phc[1], w[1 - i].pw, strlen(w[1 - i].pw)),
                  CRYPTO_EMISMATCH);
    }
}

struct reuse {
    size_t before, after_big, after_small, after_bigger;
    int rc;
};

static void *reuse_worker(void *arg)
{
    struct reuse *r = arg;
    char phc[CRYPTO_PHC_MAX];
    r->before = crypto_argon2_thread_buffer_size();
    r->rc =
        crypto_password_hash(&(struct crypto_argon2_params){512, 1, 1}, "a", 1, phc, sizeof phc);
    r->after_big = crypto_argon2_thread_buffer_size();
    r->rc |=
        crypto_password_hash(&(struct crypto_argon2_params){64, 1, 1}, "a", 1, phc, sizeof phc);
    r->rc |= crypto_password_verify(phc, "a", 1);
    r->after_small = crypto_argon2_thread_buffer_size();
    r->rc |=
        crypto_password_hash(&(struct crypto_argon2_params){1024, 1, 1}, "a", 1, phc, sizeof phc);
    r->after_bigger = crypto_argon2_thread_buffer_size();
    return NULL;
}

TEST(test_argon2_buffer_reuse)
{
    /* A fresh thread starts without a buffer, keeps the largest it needed, and grows it only when
     * a bigger hash comes along; the thread's exit frees it (ASan's leak check would tell). */
    struct reuse r = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, reuse_worker, &r) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_INT(r.rc, CRYPTO_OK);
    CHECK_INT(r.before, 0);
    CHECK_INT(r.after_big, 512 * 1024);
    CHECK_INT(r.after_small, 512 * 1024);
    CHECK_INT(r.after_bigger, 1024 * 1024);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(test_strerror);
    RUN(test_random);
    RUN(test_random_pool);
    RUN(test_id_format);
    RUN(test_id_prefix);
    RUN(test_id_order);
    RUN(test_id_unique);
    RUN(test_b64url_rfc4648);
    RUN(test_b64url_alphabet);
    RUN(test_b64url_decode_rejects);
    RUN(test_b64url_roundtrip);
    RUN(test_b64url_limits);
    RUN(test_sha256);
    RUN(test_hmac_rfc4231);
    RUN(test_memeq);
    RUN(test_streq);
    RUN(test_wipe);
    RUN(test_aead_kat);
    RUN(test_aead_roundtrip);
    RUN(test_aead_tamper);
    RUN(test_aead_limits);
    RUN(test_argon2_rfc9106);
    RUN(test_argon2_params);
    RUN(test_password_roundtrip);
    RUN(test_password_empty);
    RUN(test_password_default_params);
    RUN(test_password_reference);
    RUN(test_password_malformed);
    RUN(test_password_needs_rehash);
    RUN(test_argon2_threads);
    RUN(test_argon2_buffer_reuse);
    return th_done();
}
