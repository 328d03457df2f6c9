/* bench-ceilings: what this machine can do at most, for bench/run to print idpd's figures as
 * fractions of.
 *   argon2 M T P SECS  one Argon2id hash at those parameters (through idpd's crypto module, so
 *                      with its per-thread buffer), then as many hashes per second as one thread
 *                      per core reaches in SECS seconds;
 *   lmdb DIR SECS      durable LMDB commits per second: one writer, one small put per
 *                      transaction, default flags (every commit is fsync'd, as idpd's are).
 * Prints key=value lines. */
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct hasher {
    struct crypto_argon2_params params;
    double until;
    long hashes;
    int failed;
};

static void *hash_loop(void *arg)
{
    struct hasher *h = arg;
    char phc[CRYPTO_PHC_MAX];
    while (now_s() < h->until) {
        if (crypto_password_hash(&h->params, "bench password", 14, phc, sizeof phc) != 0) {
            h->failed = 1;
            break;
        }
        h->hashes++;
    }
    return NULL;
}

static int argon2_ceiling(struct crypto_argon2_params p, double secs)
{
    char phc[CRYPTO_PHC_MAX];
    /* The first hash pays for the per-thread buffer's pages; the second is what a worker sees. */
    if (crypto_password_hash(&p, "warm", 4, phc, sizeof phc) != 0)
        return 1;
    double t0 = now_s();
    if (crypto_password_hash(&p, "bench password", 14, phc, sizeof phc) != 0)
        return 1;
    printf("argon2_hash_ms=%.2f\n", (now_s() - t0) * 1e3);

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1 || cores > 64)
        cores = 1;
    struct hasher h[64];
    pthread_t th[64];
    double start = now_s();
    for (long i = 0; i < cores; i++) {
        h[i] = (struct hasher){.params = p, .until = start + secs};
        if (pthread_create(&th[i], NULL, hash_loop, &h[i]) != 0)
            return 1;
    }
    long total = 0;
    int failed = 0;
    for (long i = 0; i < cores; i++) {
        pthread_join(th[i], NULL);
        total += h[i].hashes;
        failed |= h[i].failed;
    }
    printf("argon2_threads=%ld\nargon2_hashes_per_s=%.1f\n", cores,
           (double)total / (now_s() - start));
    return failed;
}

static int lmdb_ceiling(const char *dir, double secs)
{
    MDB_env *env = NULL;
    MDB_dbi dbi;
    MDB_txn *txn;
    int rc;
    long commits = 0;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, 64u << 20)) ||
        (rc = mdb_env_open(env, dir, 0, 0600)))
        goto out;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
        goto out;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) || (rc = mdb_txn_commit(txn)))
        goto out;
    double start = now_s(), end = start + secs;
    while (now_s() < end) {
        char key[32], val[200];
        memset(val, 'v', sizeof val);
        int klen = snprintf(key, sizeof key, "k%ld", commits % 1000);
        MDB_val k = {(size_t)klen, key}, v = {sizeof val, val};
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
            goto out;
        if ((rc = mdb_put(txn, dbi, &k, &v, 0))) {
            mdb_txn_abort(txn);
            goto out;
        }
        if ((rc = mdb_txn_commit(txn)))
            goto out;
        commits++;
    }
    double elapsed = now_s() - start;
    printf("lmdb_commits_per_s=%.1f\nlmdb_commit_ms=%.3f\n", (double)commits / elapsed,
           elapsed * 1e3 / (double)commits);
out:
    if (rc)
        fprintf(stderr, "bench-ceilings: lmdb: %s\n", mdb_strerror(rc));
    if (env)
        mdb_env_close(env);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "argon2")) {
        struct crypto_argon2_params p = {(uint32_t)strtoul(argv[2], NULL, 10),
                                         (uint32_t)strtoul(argv[3], NULL, 10),
                                         (uint32_t)strtoul(argv[4], NULL, 10)};
        return argon2_ceiling(p, strtod(argv[5], NULL));
    }
    if (argc == 4 && !strcmp(argv[1], "lmdb"))
        return lmdb_ceiling(argv[2], strtod(argv[3], NULL));
    fprintf(stderr, "usage: bench-ceilings argon2 M_KIB T P SECS | lmdb DIR SECS\n");
    return 2;
}
