/* Two write transactions of storage/ racing on PostgreSQL, in one fixed order: A does its reads,
 * B runs whole and commits, then A does its writes. What A read is stale by then. Each case
 * checks that the outcome is one that running A and B one after the other, in either order,
 * would leave; idpd's invariants rest on that (no live session after "end every session", a
 * revoked secret stays revoked, no record without its parent, …). The races are those of the
 * audit of REPEATABLE READ for write transactions (R1–R16 there); a case fails when the
 * isolation level lets its race through.
 *
 * A's callback may run again (store_write() reruns it after a serialisation failure): only its
 * first run waits for B, and every wait has a timeout, so a bug fails a case and never hangs it.
 * The callbacks are built from the public storage.h calls, as server/ builds its transactions.
 *
 * LMDB has one writer at a time, so none of this can interleave there: the suite runs on the
 * test cluster only (CTest's unit.isolation.postgres); elsewhere every case passes unrun. */
#include "harness.h"
#include "storage/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* What a callback returns when its own check refuses (a stale password, a logged-out browser,
 * the last identity): nothing is written. Beyond enum store_err. */
#define REFUSED 1000

#define RACE_WAIT_S 20 /* the longest one side waits for the other */

static int on_cluster(void)
{
    return th_on_postgres() && getenv("IDPD_TEST_PG") != NULL;
}

#define POSTGRES_ONLY()                                                                            \
    do {                                                                                           \
        if (!on_cluster())                                                                         \
            return;                                                                                \
    } while (0)

/* ---- the race ---- */

struct race {
    struct store *st;
    int (*b)(struct store_txn *txn, void *arg);  /* B's callback for store_write() … */
    int (*b_whole)(struct store *st, void *arg); /* … or B's whole call (store_sweep()) */
    void *b_arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int a_read;    /* A's first run has read (or A is over): B may start */
    int b_done;    /* B's call returned */
    int a_runs;    /* how many times A's callback began */
    int paused;    /* A's first run waited at race_pause() until B was done */
    int timed_out; /* a side gave up waiting */
    int b_rc;
};

#define RACE(store, fn, arg)                                                                       \
    {                                                                                              \
        .st = (store), .b = (fn), .b_arg = (arg), .lock = PTHREAD_MUTEX_INITIALIZER,               \
        .cond = PTHREAD_COND_INITIALIZER                                                           \
    }

/* Waits, with r->lock held, until *flag is set; 0, or -1 after RACE_WAIT_S. */
static int race_wait(struct race *r, const int *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += RACE_WAIT_S;
    while (!*flag)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT) {
            r->timed_out = 1;
            return -1;
        }
    return 0;
}

/* First thing in A's callback (r may be NULL: the same callback used as B, or alone). */
static void race_begin(struct race *r)
{
    if (r)
        r->a_runs++; /* A's callback runs on the thread of race_run() only */
}

/* In A's callback, between its reads and its writes: on the first run, lets B run and waits
 * until B is done; a rerun goes straight on (it must see B's commit, not wait for it). */
static void race_pause(struct race *r)
{
    if (!r || r->a_runs != 1)
        return;
    pthread_mutex_lock(&r->lock);
    r->a_read = 1;
    pthread_cond_broadcast(&r->cond);
    if (race_wait(r, &r->b_done) == 0)
        r->paused = 1;
    pthread_mutex_unlock(&r->lock);
}

static void *race_b_main(void *arg)
{
    struct race *r = arg;
    int rc;
    pthread_mutex_lock(&r->lock);
    race_wait(r, &r->a_read);
    pthread_mutex_unlock(&r->lock);
    rc = r->b ? store_write(r->st, r->b, r->b_arg) : r->b_whole(r->st, r->b_arg);
    pthread_mutex_lock(&r->lock);
    r->b_rc = rc;
    r->b_done = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Runs A's write transaction (a) on this thread and B on another, B whole between A's reads
 * and writes. Returns A's store_write() result (-1 when no thread could start); B's is in
 * r->b_rc. */
static int race_run(struct race *r, int (*a)(struct store_txn *txn, void *arg), void *a_arg)
{
    pthread_t b;
    int rc;
    if (pthread_create(&b, NULL, race_b_main, r) != 0)
        return -1;
    rc = store_write(r->st, a, a_arg);
    /* A that ended without pausing must not keep B waiting (the case fails on !paused) */
    pthread_mutex_lock(&r->lock);
    r->a_read = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(b, NULL);
    return rc;
}

/* The interleaving happened as planned, and B committed. */
#define CHECK_RACED(r)                                                                             \
    do {                                                                                           \
        CHECK_MSG((r).paused && !(r).timed_out,                                                    \
                  "A did not wait for B (A's runs %d, timed out %d)", (r).a_runs, (r).timed_out);  \
        CHECK_INT((r).b_rc, STORE_OK);                                                             \
    } while (0)

#define CHECK_ONE_OF(v, x, y)                                                                      \
    CHECK_MSG((v) == (x) || (v) == (y), "%s = %d, expected %s or %s", #v, (v), #x, #y)

/* ---- the store ---- */

static void store_close_deferred(void *st)
{
    store_close(st);
}

/* A new database of the test cluster for the case, closed when the case ends. A and B each
 * hold a connection for a whole transaction, so the pool needs two at least. The timeout bounds
 * A's reruns too, counted from A's start, which includes its wait for B. */
static struct store *open_store(void)
{
    struct store_options opts = {.connections = 4, .timeout_ms = 20000};
    const char *where = th_store_for(th_tmpdir());
    struct store *st = NULL;
    int rc;
    if (!where)
        return NULL;
    rc = store_open(where, &opts, &st);
    if (rc) {
        fprintf(stderr, "  store_open: %s\n", store_strerror(rc));
        th_case_failed = 1;
        return NULL;
    }
    th_defer(store_close_deferred, st);
    return st;
}

/* ---- records ---- */

/* A password's hash before and after a change (only compared, never verified). */
#define PHC_OLD "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$old"
#define PHC_NEW "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$new"

/* A distinct hash for every seed. */
static void hash_of(uint8_t h[STORE_REFRESH_HASH_LEN], int seed)
{
    for (int i = 0; i < STORE_REFRESH_HASH_LEN; i++)
        h[i] = (uint8_t)(seed * 31 + i);
    h[0] = (uint8_t)(seed >> 24);
    h[1] = (uint8_t)(seed >> 16);
    h[2] = (uint8_t)(seed >> 8);
    h[3] = (uint8_t)seed;
}

static void make_user(struct store_user *u, const char *id, const char *email)
{
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->name, sizeof u->name, "name of %s", id);
    u->anonymous = email[0] == '\0';
    u->created_at = 1700000000;
    u->updated_at = 1700000001;
}

static void make_identity(struct store_identity *idn, const char *user_id, const char *id,
                          const char *provider, const char *provider_id)
{
    memset(idn, 0, sizeof *idn);
    snprintf(idn->id, sizeof idn->id, "%s", id);
    snprintf(idn->user_id, sizeof idn->user_id, "%s", user_id);
    snprintf(idn->provider, sizeof idn->provider, "%s", provider);
    snprintf(idn->provider_id, sizeof idn->provider_id, "%s", provider_id);
    if (strcmp(provider, "local-userpass") == 0)
        snprintf(idn->phc, sizeof idn->phc, "%s", PHC_OLD);
    idn->created_at = 1700000000;
}

/* A session of user_id whose refresh hash is hash_of(seed); parent "" for none. */
static void make_session(struct store_session *s, const char *id, const char *user_id, int seed,
                         int browser, const char *parent)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
    snprintf(s->client_id, sizeof s->client_id, "%s", browser ? "app_idp" : "app_sdk");
    snprintf(s->amr, sizeof s->amr, "pwd");
    s->created_at = 1700000000;
    s->last_used_at = 1700000000;
    s->idle_expires_at = 1700003600;
    s->absolute_expires_at = 1700086400;
    snprintf(s->client_ip, sizeof s->client_ip, "192.0.2.7");
    snprintf(s->user_agent, sizeof s->user_agent, "test-agent/1.0");
    hash_of(s->refresh_hash, seed);
    s->browser = browser;
    snprintf(s->parent_id, sizeof s->parent_id, "%s", parent);
}

static void make_secret(struct store_secret *sec, const char *sa_id, const char *id,
                        int64_t created_at)
{
    memset(sec, 0, sizeof *sec);
    snprintf(sec->id, sizeof sec->id, "%s", id);
    snprintf(sec->sa_id, sizeof sec->sa_id, "%s", sa_id);
    snprintf(sec->phc, sizeof sec->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%s", id);
    snprintf(sec->hint, sizeof sec->hint, "0badf00d");
    snprintf(sec->masked, sizeof sec->masked, "idpsec_...%.4s", id);
    sec->created_at = created_at;
    sec->expires_at = created_at + 3600;
}

static void make_team(struct store_team *t, const char *id, const char *name)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->description, sizeof t->description, "team %s", id);
    t->created_at = 1700000000;
    t->updated_at = 1700000001;
}

/* ---- setting up (one write transaction per record, before any race) ---- */

static int user_insert_cb(struct store_txn *txn, void *arg)
{
    return store_user_insert(txn, arg);
}

static int user_add(struct store *st, const char *id, const char *email)
{
    struct store_user u;
    make_user(&u, id, email);
    return store_write(st, user_insert_cb, &u);
}

static int identity_insert_cb(struct store_txn *txn, void *arg)
{
    return store_identity_insert(txn, arg);
}

static int identity_add(struct store *st, const char *user_id, const char *id, const char *provider,
                        const char *provider_id)
{
    struct store_identity idn;
    make_identity(&idn, user_id, id, provider, provider_id);
    return store_write(st, identity_insert_cb, &idn);
}

static int session_insert_cb(struct store_txn *txn, void *arg)
{
    return store_session_insert(txn, arg);
}

static int session_add(struct store *st, const char *id, const char *user_id, int seed, int browser,
                       const char *parent)
{
    struct store_session s;
    make_session(&s, id, user_id, seed, browser, parent);
    return store_write(st, session_insert_cb, &s);
}

static int sa_insert_cb(struct store_txn *txn, void *arg)
{
    struct store_service_account sa;
    memset(&sa, 0, sizeof sa);
    snprintf(sa.id, sizeof sa.id, "%s", (const char *)arg);
    snprintf(sa.name, sizeof sa.name, "name of %s", sa.id);
    sa.created_at = 1700000000;
    sa.updated_at = 1700000001;
    return store_sa_insert(txn, &sa);
}

static int sa_add(struct store *st, const char *id)
{
    return store_write(st, sa_insert_cb, (void *)id);
}

static int secret_insert_cb(struct store_txn *txn, void *arg)
{
    return store_secret_insert(txn, arg);
}

static int secret_add(struct store *st, const char *sa_id, const char *id, int64_t created_at)
{
    struct store_secret sec;
    make_secret(&sec, sa_id, id, created_at);
    return store_write(st, secret_insert_cb, &sec);
}

static int team_insert_cb(struct store_txn *txn, void *arg)
{
    return store_team_insert(txn, arg);
}

static int team_add(struct store *st, const char *id, const char *name)
{
    struct store_team t;
    make_team(&t, id, name);
    return store_write(st, team_insert_cb, &t);
}

/* ---- looking at the outcome (read transactions) ---- */

struct look {
    const char *id, *id2;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    size_t n;
    char found[STORE_ID_MAX];
    int superseded;
    struct store_user user;
    struct store_session session;
    struct store_session *sessions; /* freed by the helper */
    struct store_identity identities[STORE_IDENTITIES_MAX];
    struct store_secret secrets[STORE_SECRETS_MAX + 2];
    char (*ids)[STORE_ID_MAX]; /* freed by the helper */
};

static int user_get_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_user_get(txn, l->id, &l->user);
}

/* STORE_OK or STORE_NOTFOUND; the user's status into *status (may be NULL). */
static int user_look(struct store *st, const char *id, int *status)
{
    struct look l = {.id = id};
    int rc = store_read(st, user_get_cb, &l);
    if (status)
        *status = l.user.status;
    store_user_clear(&l.user);
    return rc;
}

static int email_find_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_user_find_email(txn, l->id, l->found);
}

static int email_owner(struct store *st, const char *email, char user_id[STORE_ID_MAX])
{
    struct look l = {.id = email};
    int rc = store_read(st, email_find_cb, &l);
    memcpy(user_id, l.found, STORE_ID_MAX);
    return rc;
}

static int session_get_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_session_get(txn, l->id, &l->session);
}

/* STORE_OK or STORE_NOTFOUND; the record into *out (may be NULL). */
static int session_look(struct store *st, const char *id, struct store_session *out)
{
    struct look l = {.id = id};
    int rc = store_read(st, session_get_cb, &l);
    if (out)
        *out = l.session;
    return rc;
}

static int session_list_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_session_list(txn, l->id, &l->sessions, &l->n);
}

/* How many entries the listing list finds for id (l->n), or -1 on error. */
static long look_count(struct store *st, int (*list)(struct store_txn *txn, void *arg),
                       const char *id)
{
    struct look l = {.id = id};
    int rc = store_read(st, list, &l);
    free(l.sessions);
    free(l.ids);
    return rc ? -1 : (long)l.n;
}

/* How many sessions the user has, or -1 on error. */
static long session_count(struct store *st, const char *user_id)
{
    return look_count(st, session_list_cb, user_id);
}

static int refresh_find_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_session_find_refresh(txn, l->hash, l->found, &l->superseded);
}

/* 1 when the hash of seed is known (current or superseded), 0 when not, -1 on error. */
static int refresh_known(struct store *st, int seed)
{
    struct look l = {0};
    int rc;
    hash_of(l.hash, seed);
    rc = store_read(st, refresh_find_cb, &l);
    return rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : -1;
}

static int identity_list_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_identity_list(txn, l->id, l->identities, STORE_IDENTITIES_MAX, &l->n);
}

/* How many identities the user holds, or -1 on error; the first one's id into first. */
static long identity_count(struct store *st, const char *user_id, char first[STORE_ID_MAX])
{
    static struct look l;
    int rc;
    memset(&l, 0, sizeof l);
    l.id = user_id;
    rc = store_read(st, identity_list_cb, &l);
    snprintf(first, STORE_ID_MAX, "%s", l.n ? l.identities[0].id : "");
    return rc ? -1 : (long)l.n;
}

static int identity_find_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_identity_find(txn, l->id, l->id2, &l->identities[0]);
}

/* STORE_OK or STORE_NOTFOUND; the identity's phc into phc (may be NULL). */
static int identity_look(struct store *st, const char *provider, const char *provider_id,
                         char phc[STORE_PHC_MAX])
{
    static struct look l;
    int rc;
    memset(&l, 0, sizeof l);
    l.id = provider;
    l.id2 = provider_id;
    rc = store_read(st, identity_find_cb, &l);
    if (phc)
        memcpy(phc, l.identities[0].phc, STORE_PHC_MAX);
    return rc;
}

static int sa_get_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    struct store_service_account sa;
    int rc = store_sa_get(txn, l->id, &sa);
    store_service_account_clear(&sa);
    return rc;
}

static int sa_look(struct store *st, const char *id)
{
    struct look l = {.id = id};
    return store_read(st, sa_get_cb, &l);
}

static int secret_list_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_secret_list(txn, l->id, l->secrets, STORE_SECRETS_MAX + 2, &l->n);
}

/* How many secrets the account holds (an account that is gone: those left behind), or -1. */
static long secret_count(struct store *st, const char *sa_id)
{
    static struct look l;
    memset(&l, 0, sizeof l);
    l.id = sa_id;
    return store_read(st, secret_list_cb, &l) ? -1 : (long)l.n;
}

static int team_get_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    struct store_team t;
    int rc = store_team_get(txn, l->id, &t);
    store_team_clear(&t);
    return rc;
}

static int team_look(struct store *st, const char *id)
{
    struct look l = {.id = id};
    return store_read(st, team_get_cb, &l);
}

static int user_teams_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_user_teams(txn, l->id, &l->ids, &l->n);
}

/* How many teams the user belongs to (entries of user_teams), or -1 on error. */
static long user_team_count(struct store *st, const char *user_id)
{
    return look_count(st, user_teams_cb, user_id);
}

static int member_list_cb(struct store_txn *txn, void *arg)
{
    struct look *l = arg;
    return store_member_list(txn, l->id, NULL, 1000, &l->ids, &l->n);
}

/* How many members the team has (entries of team_members), or -1 on error. */
static long member_count(struct store *st, const char *team_id)
{
    return look_count(st, member_list_cb, team_id);
}

/* ---- the transactions that race, as server/ writes them ---- */

/* A login (login_txn of server/signin/password_login.c): the identity of the email still has
 * the password hash that Argon2 checked, the user is active, then the session is stored. */
struct login {
    struct race *race;
    const char *email;
    const char *phc; /* what the password was checked against */
    struct store_session session;
};

static int login_cb(struct store_txn *txn, void *arg)
{
    struct login *l = arg;
    struct store_identity idn;
    struct store_user u = {0};
    int rc, stale;
    race_begin(l->race);
    rc = store_identity_find(txn, "local-userpass", l->email, &idn);
    if (rc == STORE_OK)
        rc = store_user_get(txn, idn.user_id, &u);
    stale = rc == STORE_NOTFOUND ||
            (rc == STORE_OK && (u.status != STORE_USER_ACTIVE || strcmp(idn.phc, l->phc) != 0));
    store_user_clear(&u);
    if (stale)
        return REFUSED;
    if (rc)
        return rc;
    race_pause(l->race);
    return store_session_insert(txn, &l->session);
}

/* An administrator disables the user (op_txn OP_DISABLE of server/admin/users.c): the status,
 * and every session ends in the same transaction. */
static int disable_cb(struct store_txn *txn, void *arg)
{
    struct store_user u = {0};
    int rc = store_user_get(txn, arg, &u);
    if (rc == STORE_OK) {
        u.status = STORE_USER_DISABLED;
        u.updated_at++;
        rc = store_user_update(txn, &u);
    }
    store_user_clear(&u);
    return rc ? rc : store_session_delete_user(txn, arg, NULL, NULL);
}

/* The user changes the password from the session keep (store_txn of server/account/
 * password.c): the new hash, and every other session ends. */
struct password_change {
    const char *email, *user_id, *keep, *new_phc;
};

static int password_change_cb(struct store_txn *txn, void *arg)
{
    struct password_change *p = arg;
    struct store_identity idn;
    int rc = store_identity_find(txn, "local-userpass", p->email, &idn);
    if (rc)
        return rc;
    snprintf(idn.phc, sizeof idn.phc, "%s", p->new_phc);
    rc = store_identity_update(txn, &idn);
    return rc ? rc : store_session_delete_user(txn, p->user_id, p->keep, NULL);
}

static int user_delete_cb(struct store_txn *txn, void *arg)
{
    return store_user_delete(txn, arg);
}

static int session_delete_cb(struct store_txn *txn, void *arg)
{
    return store_session_delete(txn, arg);
}

/* The user usr_1 (u1@example.com, password PHC_OLD) and a login's session ses_new (seed 50). */
static int login_setup(struct store *st, struct login *l, struct race *r)
{
    int rc = user_add(st, "usr_1", "u1@example.com");
    if (!rc)
        rc = identity_add(st, "usr_1", "idn_pw", "local-userpass", "u1@example.com");
    memset(l, 0, sizeof *l);
    l->race = r;
    l->email = "u1@example.com";
    l->phc = PHC_OLD;
    make_session(&l->session, "ses_new", "usr_1", 50, 0, "");
    return rc;
}

/* R1. A login that checked the user before an administrator disabled it (and ended its
 * sessions) must not leave a session behind: either the login came first and its session
 * ended with the others, or it came second and saw the user disabled. */
TEST(login_vs_disable_leaves_no_session)
{
    static struct login l;
    struct store *st;
    int status = -1, a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, disable_cb, "usr_1");
    CHECK_INT(login_setup(st, &l, &r), STORE_OK);

    a = race_run(&r, login_cb, &l);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, REFUSED);
    CHECK_INT(user_look(st, "usr_1", &status), STORE_OK);
    CHECK_INT(status, STORE_USER_DISABLED);
    CHECK_INT(session_count(st, "usr_1"), 0);
    CHECK_INT(session_look(st, "ses_new", NULL), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 50), 0);
}

/* R1. A login with the old password, checked before the password changed: its session must not
 * outlive the change, which ends every session but the changer's. */
TEST(login_vs_password_change_leaves_no_old_session)
{
    static struct login l;
    struct password_change p = {"u1@example.com", "usr_1", "ses_keep", PHC_NEW};
    struct store *st;
    char phc[STORE_PHC_MAX];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, password_change_cb, &p);
    CHECK_INT(login_setup(st, &l, &r), STORE_OK);
    CHECK_INT(session_add(st, "ses_keep", "usr_1", 51, 1, ""), STORE_OK);

    a = race_run(&r, login_cb, &l);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, REFUSED);
    CHECK_INT(identity_look(st, "local-userpass", "u1@example.com", phc), STORE_OK);
    CHECK_STR(phc, PHC_NEW);
    CHECK_INT(session_count(st, "usr_1"), 1);
    CHECK_INT(session_look(st, "ses_keep", NULL), STORE_OK);
    CHECK_INT(session_look(st, "ses_new", NULL), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 50), 0);
}

/* R1. A login racing the deletion of its user leaves no session of a user who is gone. */
TEST(login_vs_user_delete_leaves_no_session)
{
    static struct login l;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, user_delete_cb, "usr_1");
    CHECK_INT(login_setup(st, &l, &r), STORE_OK);

    a = race_run(&r, login_cb, &l);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, REFUSED);
    CHECK_INT(user_look(st, "usr_1", NULL), STORE_NOTFOUND);
    CHECK_INT(session_count(st, "usr_1"), 0);
    CHECK_INT(session_look(st, "ses_new", NULL), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 50), 0);
}

/* A code exchange (exchange_txn of server/oauth/grant_code.c): the browser session the code was
 * issued under is still there and its user active, then the application's session is stored
 * as its child. */
struct exchange {
    struct race *race;
    const char *parent;
    struct store_session session;
};

static int exchange_cb(struct store_txn *txn, void *arg)
{
    struct exchange *x = arg;
    struct store_session parent;
    struct store_user u = {0};
    int rc;
    race_begin(x->race);
    rc = store_session_get(txn, x->parent, &parent);
    if (rc == STORE_OK)
        rc = store_user_get(txn, parent.user_id, &u);
    if (rc == STORE_OK && u.status != STORE_USER_ACTIVE)
        rc = STORE_NOTFOUND;
    store_user_clear(&u);
    if (rc == STORE_NOTFOUND)
        return REFUSED; /* logged out meanwhile */
    if (rc)
        return rc;
    race_pause(x->race);
    return store_session_insert(txn, &x->session);
}

/* R2. An application's session made under a browser session that logs out meanwhile must end
 * with it (single logout): the exchange came first and its session ended with the parent, or
 * it came second and found the browser logged out. */
TEST(child_session_vs_logout_of_its_parent)
{
    static struct exchange x;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, session_delete_cb, "ses_browser");
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(session_add(st, "ses_browser", "usr_1", 1, 1, ""), STORE_OK);
    x.race = &r;
    x.parent = "ses_browser";
    make_session(&x.session, "ses_app", "usr_1", 2, 0, "ses_browser");

    a = race_run(&r, exchange_cb, &x);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, REFUSED);
    CHECK_INT(session_look(st, "ses_browser", NULL), STORE_NOTFOUND);
    CHECK_INT(session_look(st, "ses_app", NULL), STORE_NOTFOUND);
    CHECK_INT(session_count(st, "usr_1"), 0);
    CHECK_INT(refresh_known(st, 2), 0);
}

/* A new login in a browser that had one (end_old_txn of server/pages/browser_session.c): the
 * applications' sessions move from the old browser session to the new one, and the old one
 * ends. It reads the user's sessions first (as store_session_reparent() does). */
struct end_old {
    struct race *race;
    const char *user_id, *from, *to;
};

static int end_old_cb(struct store_txn *txn, void *arg)
{
    struct end_old *e = arg;
    struct store_session *all = NULL;
    size_t n = 0;
    int rc;
    race_begin(e->race);
    rc = store_session_list(txn, e->user_id, &all, &n);
    free(all);
    if (rc)
        return rc;
    race_pause(e->race);
    rc = store_session_reparent(txn, e->user_id, e->from, e->to);
    if (rc == STORE_OK)
        rc = store_session_delete(txn, e->from);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* usr_1 with the browser sessions ses_from (seed 1) and ses_to (2), and ses_app (3), the
 * application session of ses_from. */
static int reparent_setup(struct store *st, struct end_old *e, struct race *r)
{
    int rc = user_add(st, "usr_1", "u1@example.com");
    if (!rc)
        rc = session_add(st, "ses_from", "usr_1", 1, 1, "");
    if (!rc)
        rc = session_add(st, "ses_to", "usr_1", 2, 1, "");
    if (!rc)
        rc = session_add(st, "ses_app", "usr_1", 3, 0, "ses_from");
    *e = (struct end_old){r, "usr_1", "ses_from", "ses_to"};
    return rc;
}

/* R3. The new browser session logs out while the old one hands its children over: no child may
 * be left naming a parent that is gone (it would outlive every logout). Either the hand-over
 * came first and the logout ended the child, or the logout came first and nothing moved. */
TEST(reparent_vs_logout_of_the_new_parent)
{
    struct end_old e;
    struct store_session app;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, session_delete_cb, "ses_to");
    CHECK_INT(reparent_setup(st, &e, &r), STORE_OK);

    a = race_run(&r, end_old_cb, &e);
    CHECK_RACED(r);
    CHECK_INT(a, STORE_OK);
    CHECK_INT(session_look(st, "ses_to", NULL), STORE_NOTFOUND);
    if (session_look(st, "ses_from", NULL) == STORE_NOTFOUND) {
        /* the hand-over, then the logout */
        CHECK_INT(session_look(st, "ses_app", NULL), STORE_NOTFOUND);
        CHECK_INT(session_count(st, "usr_1"), 0);
    } else {
        /* the logout, then a hand-over that found no new parent */
        CHECK_INT(session_look(st, "ses_app", &app), STORE_OK);
        CHECK_STR(app.parent_id, "ses_from");
        CHECK_INT(session_count(st, "usr_1"), 2);
    }
}

/* R3. A code exchanged under the old browser session while it hands its children over: the new
 * child must move too (or never be made), not stay behind under the ended parent. */
TEST(reparent_vs_new_child_of_the_old_parent)
{
    struct end_old e;
    static struct exchange x;
    struct store_session app, late;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, exchange_cb, &x);
    CHECK_INT(reparent_setup(st, &e, &r), STORE_OK);
    x.race = NULL; /* B */
    x.parent = "ses_from";
    make_session(&x.session, "ses_late", "usr_1", 4, 0, "ses_from");

    a = race_run(&r, end_old_cb, &e);
    CHECK_MSG(r.paused && !r.timed_out, "A did not wait for B");
    CHECK_ONE_OF(r.b_rc, STORE_OK, REFUSED);
    CHECK_INT(a, STORE_OK);
    CHECK_INT(session_look(st, "ses_from", NULL), STORE_NOTFOUND);
    CHECK_INT(session_look(st, "ses_to", NULL), STORE_OK);
    CHECK_INT(session_look(st, "ses_app", &app), STORE_OK);
    CHECK_STR(app.parent_id, "ses_to");
    if (r.b_rc == STORE_OK) { /* the exchange, then the hand-over */
        CHECK_INT(session_look(st, "ses_late", &late), STORE_OK);
        CHECK_STR(late.parent_id, "ses_to");
    } else { /* the hand-over, then an exchange that found the browser logged out */
        CHECK_INT(session_look(st, "ses_late", NULL), STORE_NOTFOUND);
    }
}

/* R4. A child revoked while the hand-over runs stays revoked: the hand-over must not write back
 * the record it read (a session without its indexes, whose access tokens would pass again). */
TEST(reparent_vs_revoke_of_the_child)
{
    struct end_old e;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, session_delete_cb, "ses_app");
    CHECK_INT(reparent_setup(st, &e, &r), STORE_OK);

    a = race_run(&r, end_old_cb, &e);
    CHECK_RACED(r);
    CHECK_INT(a, STORE_OK);
    CHECK_INT(session_look(st, "ses_app", NULL), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 3), 0);
    CHECK_INT(session_look(st, "ses_from", NULL), STORE_NOTFOUND);
    CHECK_INT(session_look(st, "ses_to", NULL), STORE_OK);
    CHECK_INT(session_count(st, "usr_1"), 1);
}

/* A refresh (refresh_txn of server/oauth/grant_refresh.c): a current token rotates; a
 * superseded one is reuse and ends the session. */
enum refresh_outcome { ROTATED = 1, REUSED, UNKNOWN };

struct refresh {
    struct race *race;
    int old_seed, new_seed;
    int64_t idle;
    int outcome;
};

static int refresh_cb(struct store_txn *txn, void *arg)
{
    struct refresh *f = arg;
    struct store_session s;
    uint8_t old[STORE_REFRESH_HASH_LEN], fresh[STORE_REFRESH_HASH_LEN];
    char sid[STORE_ID_MAX];
    int superseded = 0, rc;
    race_begin(f->race);
    f->outcome = 0;
    hash_of(old, f->old_seed);
    rc = store_session_find_refresh(txn, old, sid, &superseded);
    if (rc == STORE_NOTFOUND) {
        f->outcome = UNKNOWN;
        return STORE_OK;
    }
    if (rc == STORE_OK)
        rc = store_session_get(txn, sid, &s);
    if (rc)
        return rc;
    if (superseded) {
        f->outcome = REUSED;
        return store_session_delete(txn, sid);
    }
    race_pause(f->race);
    hash_of(fresh, f->new_seed);
    rc = store_session_rotate(txn, sid, fresh, 1700000100, f->idle);
    if (rc == STORE_OK)
        f->outcome = ROTATED;
    return rc;
}

/* Two refreshes with one token: exactly one rotates; the other presents a superseded token,
 * which is reuse and ends the session (audit §3: safe at either level, since both write the
 * session's rows). */
TEST(two_rotations_of_one_token_one_wins)
{
    struct refresh fa = {.old_seed = 1, .new_seed = 2, .idle = 1700004000};
    struct refresh fb = {.old_seed = 1, .new_seed = 3, .idle = 1700005000};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, refresh_cb, &fb);
    fa.race = &r;
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(session_add(st, "ses_1", "usr_1", 1, 0, ""), STORE_OK);

    a = race_run(&r, refresh_cb, &fa);
    CHECK_RACED(r);
    CHECK_INT(a, STORE_OK);
    CHECK_MSG((fa.outcome == ROTATED && fb.outcome == REUSED) ||
                  (fa.outcome == REUSED && fb.outcome == ROTATED),
              "outcomes A %d, B %d", fa.outcome, fb.outcome);
    CHECK_INT(session_look(st, "ses_1", NULL), STORE_NOTFOUND);
    CHECK_INT(session_count(st, "usr_1"), 0);
    for (int seed = 1; seed <= 3; seed++)
        CHECK_INT(refresh_known(st, seed), 0);
}

/* A client authenticated with a secret (touch_txn of server/oauth/client_auth.c): the secret
 * is still listed and was not used lately, then its last use is rewritten. */
struct touch {
    struct race *race;
    const char *sa_id, *secret_id;
};

static int touch_cb(struct store_txn *txn, void *arg)
{
    struct touch *t = arg;
    struct store_secret secs[STORE_SECRETS_MAX];
    size_t n = 0;
    int rc, found = 0;
    race_begin(t->race);
    rc = store_secret_list(txn, t->sa_id, secs, STORE_SECRETS_MAX, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        found |= strcmp(secs[i].id, t->secret_id) == 0 && secs[i].last_used_at == 0;
    if (rc)
        return rc;
    if (!found)
        return STORE_NOTFOUND;
    race_pause(t->race);
    return store_secret_touch(txn, t->sa_id, t->secret_id, 1700000100);
}

/* An administrator revokes one secret (secret_del_txn of server/admin/service_accounts.c). */
static int secret_delete_cb(struct store_txn *txn, void *arg)
{
    struct touch *t = arg;
    struct store_service_account sa;
    int rc = store_sa_get(txn, t->sa_id, &sa);
    store_service_account_clear(&sa);
    return rc ? rc : store_secret_delete(txn, t->sa_id, t->secret_id);
}

/* R5. A secret revoked while a request that used it records the use stays revoked: the touch
 * must not write back the record it read (the secret would authenticate again). */
TEST(secret_touch_vs_revoke_keeps_it_revoked)
{
    struct touch t = {NULL, "sa_1", "sec_1"};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, secret_delete_cb, &t);
    struct touch ta = {&r, "sa_1", "sec_1"};
    CHECK_INT(sa_add(st, "sa_1"), STORE_OK);
    CHECK_INT(secret_add(st, "sa_1", "sec_1", 1700000000), STORE_OK);

    a = race_run(&r, touch_cb, &ta);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(secret_count(st, "sa_1"), 0);
}

/* A new secret (secret_add_txn of server/admin/service_accounts.c): the account exists and has
 * room, then the secret is stored. */
struct secret_add {
    struct race *race;
    struct store_secret sec;
};

static int secret_add_cb(struct store_txn *txn, void *arg)
{
    struct secret_add *s = arg;
    struct store_service_account sa;
    struct store_secret secs[STORE_SECRETS_MAX];
    size_t n = 0;
    int rc;
    race_begin(s->race);
    rc = store_sa_get(txn, s->sec.sa_id, &sa);
    store_service_account_clear(&sa);
    if (rc == STORE_OK)
        rc = store_secret_list(txn, s->sec.sa_id, secs, STORE_SECRETS_MAX, &n);
    if (rc)
        return rc;
    if (n >= STORE_SECRETS_MAX)
        return STORE_EINVAL;
    race_pause(s->race);
    return store_secret_insert(txn, &s->sec);
}

/* R6. Two secrets added at once to an account one short of STORE_SECRETS_MAX: one is stored,
 * the other refused, never STORE_SECRETS_MAX + 1. */
TEST(two_secret_adds_keep_the_cap)
{
    static struct secret_add sa, sb;
    struct store *st;
    char id[16];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, secret_add_cb, &sb);
    CHECK_INT(sa_add(st, "sa_1"), STORE_OK);
    for (int i = 0; i < STORE_SECRETS_MAX - 1; i++) {
        snprintf(id, sizeof id, "sec_%02d", i);
        CHECK_INT(secret_add(st, "sa_1", id, 1700000000 + i), STORE_OK);
    }
    sa.race = &r;
    make_secret(&sa.sec, "sa_1", "sec_a", 1700000100);
    make_secret(&sb.sec, "sa_1", "sec_b", 1700000100);

    a = race_run(&r, secret_add_cb, &sa);
    CHECK_MSG(r.paused && !r.timed_out, "A did not wait for B");
    CHECK_MSG((a == STORE_OK && r.b_rc == STORE_EINVAL) ||
                  (a == STORE_EINVAL && r.b_rc == STORE_OK),
              "A %d, B %d", a, r.b_rc);
    CHECK_INT(secret_count(st, "sa_1"), STORE_SECRETS_MAX);
}

static int sa_delete_cb(struct store_txn *txn, void *arg)
{
    return store_sa_delete(txn, arg);
}

/* R6. A secret added while its account is deleted leaves no secret behind (the account's
 * secrets go with it; a new one either went too or found no account). */
TEST(secret_add_vs_account_delete_leaves_no_secret)
{
    static struct secret_add sa;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, sa_delete_cb, "sa_1");
    CHECK_INT(sa_add(st, "sa_1"), STORE_OK);
    sa.race = &r;
    make_secret(&sa.sec, "sa_1", "sec_a", 1700000100);

    a = race_run(&r, secret_add_cb, &sa);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(sa_look(st, "sa_1"), STORE_NOTFOUND);
    CHECK_INT(secret_count(st, "sa_1"), 0);
}

/* An edit of the record id (a service account, a user, a team, a mail count), paused after its
 * read. */
struct edit {
    struct race *race;
    const char *id;
};

/* An edit of a service account (change_txn of server/admin/service_accounts.c). */
static int sa_edit_cb(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_service_account sa;
    int rc;
    race_begin(e->race);
    rc = store_sa_get(txn, e->id, &sa);
    if (rc == STORE_OK) {
        race_pause(e->race);
        snprintf(sa.name, sizeof sa.name, "renamed");
        sa.updated_at++;
        rc = store_sa_update(txn, &sa);
    }
    store_service_account_clear(&sa);
    return rc;
}

/* R7. An account deleted while it is edited stays deleted (its access tokens must not pass
 * again). */
TEST(sa_edit_vs_delete_keeps_it_deleted)
{
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, sa_delete_cb, "sa_1");
    struct edit e = {&r, "sa_1"};
    CHECK_INT(sa_add(st, "sa_1"), STORE_OK);

    a = race_run(&r, sa_edit_cb, &e);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(sa_look(st, "sa_1"), STORE_NOTFOUND);
}

/* An edit of an application (patch_txn of server/admin/applications.c); the struct is large. */
struct app_edit {
    struct race *race;
    const char *id;
    struct store_application app;
};

static int app_edit_cb(struct store_txn *txn, void *arg)
{
    struct app_edit *e = arg;
    int rc;
    race_begin(e->race);
    rc = store_app_get(txn, e->id, &e->app);
    if (rc)
        return rc;
    race_pause(e->race);
    snprintf(e->app.name, sizeof e->app.name, "renamed");
    e->app.updated_at++;
    return store_app_update(txn, &e->app);
}

static int app_insert_cb(struct store_txn *txn, void *arg)
{
    return store_app_insert(txn, arg);
}

static int app_delete_cb(struct store_txn *txn, void *arg)
{
    return store_app_delete(txn, arg);
}

static int app_get_cb(struct store_txn *txn, void *arg)
{
    static struct store_application app;
    return store_app_get(txn, arg, &app);
}

/* R8. An application (with no allowed origin, so the two share no index row) deleted while it is
 * edited stays deleted: its secret and its sessions' refreshes must not work again. */
TEST(app_edit_vs_delete_keeps_it_deleted)
{
    static struct app_edit e;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, app_delete_cb, "app_1");
    memset(&e, 0, sizeof e);
    snprintf(e.app.id, sizeof e.app.id, "app_1");
    snprintf(e.app.name, sizeof e.app.name, "app 1");
    e.app.type = STORE_APP_CONFIDENTIAL;
    snprintf(e.app.phc, sizeof e.app.phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    snprintf(e.app.hint, sizeof e.app.hint, "0badf00d");
    e.app.ngrants = 1;
    snprintf(e.app.grants[0], sizeof e.app.grants[0], "client_credentials");
    e.app.created_at = 1700000000;
    e.app.updated_at = 1700000001;
    CHECK_INT(store_write(st, app_insert_cb, &e.app), STORE_OK);
    e.race = &r;
    e.id = "app_1";

    a = race_run(&r, app_edit_cb, &e);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(store_read(st, app_get_cb, "app_1"), STORE_NOTFOUND);
}

/* An edit of a user that keeps the email (op_txn OP_DISABLE, edit_txn, roles_txn, …). */
static int user_edit_cb(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_user u = {0};
    int rc;
    race_begin(e->race);
    rc = store_user_get(txn, e->id, &u);
    if (rc == STORE_OK) {
        race_pause(e->race);
        snprintf(u.name, sizeof u.name, "renamed");
        u.updated_at++;
        rc = store_user_update(txn, &u);
    }
    store_user_clear(&u);
    return rc;
}

/* R9. A user deleted while it is edited stays deleted, and its email is free and indexed to
 * whoever holds it (a user written back without its email entry would let the email be taken
 * twice). */
TEST(user_edit_vs_delete_keeps_it_deleted)
{
    struct store *st;
    char owner[STORE_ID_MAX];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, user_delete_cb, "usr_1");
    struct edit e = {&r, "usr_1"};
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);

    a = race_run(&r, user_edit_cb, &e);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(user_look(st, "usr_1", NULL), STORE_NOTFOUND);
    CHECK_INT(email_owner(st, "u1@example.com", owner), STORE_NOTFOUND);
    CHECK_INT(user_add(st, "usr_2", "u1@example.com"), STORE_OK);
    CHECK_INT(email_owner(st, "u1@example.com", owner), STORE_OK);
    CHECK_STR(owner, "usr_2");
}

/* An edit of a team that keeps its name (edit_txn of server/admin/teams.c). */
static int team_edit_cb(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_team t = {0};
    int rc;
    race_begin(e->race);
    rc = store_team_get(txn, e->id, &t);
    if (rc == STORE_OK) {
        race_pause(e->race);
        snprintf(t.description, sizeof t.description, "edited");
        t.updated_at++;
        rc = store_team_update(txn, &t);
    }
    store_team_clear(&t);
    return rc;
}

static int team_delete_cb(struct store_txn *txn, void *arg)
{
    return store_team_delete(txn, arg);
}

/* R10. A team deleted while it is edited stays deleted, and its name is free. */
TEST(team_edit_vs_delete_keeps_it_deleted)
{
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, team_delete_cb, "team_1");
    struct edit e = {&r, "team_1"};
    CHECK_INT(team_add(st, "team_1", "Ops"), STORE_OK);

    a = race_run(&r, team_edit_cb, &e);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(team_look(st, "team_1"), STORE_NOTFOUND);
    CHECK_INT(team_add(st, "team_2", "Ops"), STORE_OK);
}

/* A new identity for an existing user (the identity half of link_txn of
 * server/account/identities.c). */
struct identity_link {
    struct race *race;
    struct store_identity idn;
};

static int identity_link_cb(struct store_txn *txn, void *arg)
{
    struct identity_link *l = arg;
    struct store_user u = {0};
    int rc;
    race_begin(l->race);
    rc = store_user_get(txn, l->idn.user_id, &u);
    store_user_clear(&u);
    if (rc)
        return rc;
    race_pause(l->race);
    return store_identity_insert(txn, &l->idn);
}

/* R11. An identity added while its user is deleted leaves no identity behind (its provider key
 * would keep the email taken forever). */
TEST(identity_add_vs_user_delete_leaves_no_identity)
{
    static struct identity_link l;
    struct store *st;
    char first[STORE_ID_MAX];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, user_delete_cb, "usr_1");
    CHECK_INT(user_add(st, "usr_1", ""), STORE_OK);
    CHECK_INT(identity_add(st, "usr_1", "idn_anon", "anon-user", "anon-1"), STORE_OK);
    l.race = &r;
    make_identity(&l.idn, "usr_1", "idn_pw", "local-userpass", "new@example.com");

    a = race_run(&r, identity_link_cb, &l);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(user_look(st, "usr_1", NULL), STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_1", first), 0);
    CHECK_INT(identity_look(st, "local-userpass", "new@example.com", NULL), STORE_NOTFOUND);
    CHECK_INT(identity_look(st, "anon-user", "anon-1", NULL), STORE_NOTFOUND);
}

/* An unlink (unlink_txn of server/account/identities.c): refused for the user's last identity,
 * which is counted first. */
struct unlink {
    struct race *race;
    const char *user_id, *id;
};

static int unlink_cb(struct store_txn *txn, void *arg)
{
    struct unlink *u = arg;
    struct store_identity all[STORE_IDENTITIES_MAX];
    size_t n = 0;
    int rc, found = 0;
    race_begin(u->race);
    rc = store_identity_list(txn, u->user_id, all, STORE_IDENTITIES_MAX, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(all[i].id, u->id) == 0;
    if (!found)
        return STORE_NOTFOUND;
    if (n == 1)
        return REFUSED; /* the last way to sign in */
    race_pause(u->race);
    return store_identity_delete(txn, u->user_id, u->id);
}

/* R12. Two unlinks of a user's two identities at once: one goes, the other is refused as the
 * last; the user never holds none. */
TEST(two_unlinks_leave_one_identity)
{
    struct store *st;
    char first[STORE_ID_MAX];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct unlink ub = {NULL, "usr_1", "idn_anon"};
    struct race r = RACE(st, unlink_cb, &ub);
    struct unlink ua = {&r, "usr_1", "idn_pw"};
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(identity_add(st, "usr_1", "idn_pw", "local-userpass", "u1@example.com"), STORE_OK);
    CHECK_INT(identity_add(st, "usr_1", "idn_anon", "anon-user", "anon-1"), STORE_OK);

    a = race_run(&r, unlink_cb, &ua);
    CHECK_MSG(r.paused && !r.timed_out, "A did not wait for B");
    CHECK_MSG((a == STORE_OK && r.b_rc == REFUSED) || (a == REFUSED && r.b_rc == STORE_OK),
              "A %d, B %d", a, r.b_rc);
    CHECK_INT(identity_count(st, "usr_1", first), 1);
    CHECK_STR(first, a == STORE_OK ? "idn_anon" : "idn_pw");
}

/* A password re-hash at login, or a change (login_txn, store_txn of server/account/
 * password.c): the identity is found by its email, then its hash rewritten. */
struct rehash {
    struct race *race;
    const char *email;
};

static int rehash_cb(struct store_txn *txn, void *arg)
{
    struct rehash *h = arg;
    struct store_identity idn;
    int rc;
    race_begin(h->race);
    rc = store_identity_find(txn, "local-userpass", h->email, &idn);
    if (rc)
        return rc;
    race_pause(h->race);
    snprintf(idn.phc, sizeof idn.phc, "%s", PHC_NEW);
    return store_identity_update(txn, &idn);
}

/* R13. An identity unlinked while its hash is rewritten stays unlinked (a record written back
 * without its indexes would block linking a password again). */
TEST(rehash_vs_unlink_keeps_it_unlinked)
{
    struct store *st;
    char first[STORE_ID_MAX];
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct unlink ub = {NULL, "usr_1", "idn_pw"};
    struct race r = RACE(st, unlink_cb, &ub);
    struct rehash h = {&r, "u1@example.com"};
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(identity_add(st, "usr_1", "idn_pw", "local-userpass", "u1@example.com"), STORE_OK);
    CHECK_INT(identity_add(st, "usr_1", "idn_anon", "anon-user", "anon-1"), STORE_OK);

    a = race_run(&r, rehash_cb, &h);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_1", first), 1);
    CHECK_STR(first, "idn_anon");
    CHECK_INT(identity_look(st, "local-userpass", "u1@example.com", NULL), STORE_NOTFOUND);
}

/* A member added (op_txn OP_MEMBER_ADD of server/admin/teams.c): the user exists, then the
 * membership is stored (store_member_add() checks the team). */
struct member_add {
    struct race *race;
    const char *team_id, *user_id;
};

static int member_add_cb(struct store_txn *txn, void *arg)
{
    struct member_add *m = arg;
    struct store_user u = {0};
    struct store_team t = {0};
    int rc;
    race_begin(m->race);
    rc = store_user_get(txn, m->user_id, &u);
    if (rc == STORE_OK)
        rc = store_team_get(txn, m->team_id, &t);
    store_user_clear(&u);
    store_team_clear(&t);
    if (rc)
        return rc;
    race_pause(m->race);
    return store_member_add(txn, m->team_id, m->user_id);
}

/* R14. A member added while the team is deleted leaves no membership behind (it would count
 * toward the user's cap and show in lists). */
TEST(member_add_vs_team_delete_leaves_no_membership)
{
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, team_delete_cb, "team_1");
    struct member_add m = {&r, "team_1", "usr_1"};
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(team_add(st, "team_1", "Ops"), STORE_OK);

    a = race_run(&r, member_add_cb, &m);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(team_look(st, "team_1"), STORE_NOTFOUND);
    CHECK_INT(user_team_count(st, "usr_1"), 0);
}

/* R14. A member added while the user is deleted leaves no membership behind. */
TEST(member_add_vs_user_delete_leaves_no_membership)
{
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, user_delete_cb, "usr_1");
    struct member_add m = {&r, "team_1", "usr_1"};
    CHECK_INT(user_add(st, "usr_1", "u1@example.com"), STORE_OK);
    CHECK_INT(team_add(st, "team_1", "Ops"), STORE_OK);

    a = race_run(&r, member_add_cb, &m);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(user_look(st, "usr_1", NULL), STORE_NOTFOUND);
    CHECK_INT(member_count(st, "team_1"), 0);
    CHECK_INT(user_team_count(st, "usr_1"), 0);
}

/* A code exchange's use of its code (exchange_txn): read, then marked used. */
struct code_use {
    struct race *race;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
};

static int code_use_cb(struct store_txn *txn, void *arg)
{
    struct code_use *u = arg;
    struct store_auth_code c;
    int rc;
    race_begin(u->race);
    rc = store_code_get(txn, u->hash, &c);
    if (rc)
        return rc;
    if (c.session_id[0])
        return REFUSED; /* a replay */
    race_pause(u->race);
    return store_code_mark_used(txn, u->hash, "ses_1");
}

static int code_insert_cb(struct store_txn *txn, void *arg)
{
    return store_code_insert(txn, arg);
}

static int code_get_cb(struct store_txn *txn, void *arg)
{
    struct store_auth_code c;
    return store_code_get(txn, arg, &c);
}

/* The sweep at a time past every code's expiry. */
static int sweep_late(struct store *st, void *arg)
{
    return store_sweep(st, 1700100000, NULL);
}

/* R15. A code swept (expired) while it is exchanged stays swept: a record written back without
 * its expiry entry would never be swept again. */
TEST(code_use_vs_sweep_keeps_it_swept)
{
    static struct store_auth_code c;
    struct code_use u = {0};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    struct race r = RACE(st, NULL, NULL);
    r.b_whole = sweep_late;
    memset(&c, 0, sizeof c);
    hash_of(c.hash, 7);
    snprintf(c.client_id, sizeof c.client_id, "app_spa");
    snprintf(c.redirect_uri, sizeof c.redirect_uri, "http://127.0.0.1:4000/callback");
    snprintf(c.user_id, sizeof c.user_id, "usr_1");
    snprintf(c.browser_session, sizeof c.browser_session, "ses_browser");
    snprintf(c.code_challenge, sizeof c.code_challenge,
             "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    c.auth_time = 1700000000;
    c.expires_at = 1700000060;
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_OK);
    u.race = &r;
    hash_of(u.hash, 7);

    a = race_run(&r, code_use_cb, &u);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(store_read(st, code_get_cb, c.hash), STORE_NOTFOUND);
}

/* A device code approved (decide_txn of server/pages/device.c): read, then rewritten. */
struct device_decide {
    struct race *race;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
};

static int device_decide_cb(struct store_txn *txn, void *arg)
{
    struct device_decide *d = arg;
    struct store_device_code dc;
    int rc;
    race_begin(d->race);
    rc = store_device_get(txn, d->hash, &dc);
    if (rc)
        return rc;
    race_pause(d->race);
    dc.status = STORE_DEVICE_APPROVED;
    snprintf(dc.user_id, sizeof dc.user_id, "usr_1");
    dc.auth_time = 1700000000;
    return store_device_update(txn, &dc);
}

static int device_insert_cb(struct store_txn *txn, void *arg)
{
    return store_device_insert(txn, arg);
}

static int device_delete_cb(struct store_txn *txn, void *arg)
{
    return store_device_delete(txn, arg);
}

static int device_get_cb(struct store_txn *txn, void *arg)
{
    struct store_device_code d;
    return store_device_get(txn, arg, &d);
}

static int device_find_cb(struct store_txn *txn, void *arg)
{
    struct store_device_code d;
    return store_device_find(txn, arg, &d);
}

/* R16. A device code removed while it is approved stays removed (a record written back without
 * its user code and expiry entries would never be swept). */
TEST(device_decide_vs_remove_keeps_it_removed)
{
    static struct store_device_code dc;
    struct device_decide d = {0};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    memset(&dc, 0, sizeof dc);
    hash_of(dc.hash, 9);
    snprintf(dc.user_code, sizeof dc.user_code, "BCDFGHJK");
    snprintf(dc.client_id, sizeof dc.client_id, "app_cli");
    dc.expires_at = 1700000600;
    dc.interval = 5;
    CHECK_INT(store_write(st, device_insert_cb, &dc), STORE_OK);
    struct race r = RACE(st, device_delete_cb, dc.hash);
    d.race = &r;
    hash_of(d.hash, 9);

    a = race_run(&r, device_decide_cb, &d);
    CHECK_RACED(r);
    CHECK_ONE_OF(a, STORE_OK, STORE_NOTFOUND);
    CHECK_INT(store_read(st, device_get_cb, dc.hash), STORE_NOTFOUND);
    CHECK_INT(store_read(st, device_find_cb, "BCDFGHJK"), STORE_NOTFOUND);
}

/* An email link followed (a verification or a reset): the token is read, then used up. */
struct token_use {
    struct race *race;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    int used; /* this transaction used the token */
};

static int token_use_cb(struct store_txn *txn, void *arg)
{
    struct token_use *u = arg;
    struct store_email_token t;
    int rc;
    race_begin(u->race);
    u->used = 0;
    rc = store_email_token_get(txn, u->hash, &t);
    if (rc)
        return rc;
    race_pause(u->race);
    rc = store_email_token_delete(txn, u->hash);
    if (rc == STORE_OK)
        u->used = 1;
    return rc;
}

static int token_insert_cb(struct store_txn *txn, void *arg)
{
    return store_email_token_insert(txn, arg);
}

/* Two transactions use one email token: one wins. A read the token before B used it up; A's
 * delete collides with B's, and A's rerun finds it gone. */
TEST(two_uses_of_one_email_token_one_wins)
{
    static struct store_email_token t;
    struct token_use ua = {0}, ub = {0};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    memset(&t, 0, sizeof t);
    hash_of(t.hash, 11);
    snprintf(t.purpose, sizeof t.purpose, "password-reset");
    snprintf(t.user_id, sizeof t.user_id, "usr_1");
    snprintf(t.email, sizeof t.email, "u1@example.com");
    t.created_at = 1700000000;
    t.expires_at = 1700003600;
    CHECK_INT(store_write(st, token_insert_cb, &t), STORE_OK);
    struct race r = RACE(st, token_use_cb, &ub);
    ua.race = &r;
    memcpy(ua.hash, t.hash, sizeof t.hash);
    memcpy(ub.hash, t.hash, sizeof t.hash);

    a = race_run(&r, token_use_cb, &ua);
    CHECK_RACED(r);
    CHECK_INT(ub.used, 1);
    CHECK_INT(a, STORE_NOTFOUND);
    CHECK_INT(ua.used, 0);
    CHECK_INT(r.a_runs, 2);
}

/* A mail counted against a budget (the key is the edit's id): the count is read, then put back
 * one higher. */
static int count_add_cb(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_mail_count n;
    int rc;
    race_begin(e->race);
    rc = store_mail_count_get(txn, e->id, &n);
    if (rc == STORE_NOTFOUND) {
        n = (struct store_mail_count){0, 1700000000, 1700003600};
        rc = STORE_OK;
    }
    if (rc)
        return rc;
    race_pause(e->race);
    n.count++;
    return store_mail_count_put(txn, e->id, &n);
}

static int count_get_cb(struct store_txn *txn, void *arg)
{
    struct store_mail_count *n = arg;
    return store_mail_count_get(txn, "to:u1", n);
}

/* Two mails counted against one budget at once both count: from no record (both insert) and
 * from one (both rewrite it). A lost count would let a sender past its budget. */
TEST(two_mail_counts_both_count)
{
    struct edit ca = {.id = "to:u1"}, cb = {.id = "to:u1"};
    struct store_mail_count n;
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    for (uint64_t round = 1; round <= 2; round++) {
        struct race r = RACE(st, count_add_cb, &cb);
        ca.race = &r;
        a = race_run(&r, count_add_cb, &ca);
        CHECK_RACED(r);
        CHECK_INT(a, STORE_OK);
        CHECK_INT(r.a_runs, 2);
        CHECK_INT(store_read(st, count_get_cb, &n), STORE_OK);
        CHECK_INT(n.count, 2 * round);
    }
}

static int count_put_cb(struct store_txn *txn, void *arg)
{
    return store_mail_count_put(txn, "to:u1", arg);
}

/* A count put back while the sweep removes its expired record does not bring the old window
 * back: the put reruns, finds no record and starts a new window, as after the sweep. */
TEST(mail_count_vs_sweep_starts_a_new_window)
{
    struct edit ca = {.id = "to:u1"};
    struct store_mail_count n = {5, 1699990000, 1700000060};
    struct store *st;
    int a;
    POSTGRES_ONLY();
    CHECK((st = open_store()) != NULL);
    CHECK_INT(store_write(st, count_put_cb, &n), STORE_OK);
    struct race r = RACE(st, NULL, NULL);
    r.b_whole = sweep_late;
    ca.race = &r;

    a = race_run(&r, count_add_cb, &ca);
    CHECK_RACED(r);
    CHECK_INT(a, STORE_OK);
    CHECK_INT(r.a_runs, 2);
    CHECK_INT(store_read(st, count_get_cb, &n), STORE_OK);
    CHECK_INT(n.count, 1);
    CHECK_INT(n.window_start, 1700000000);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    if (!on_cluster())
        fprintf(stderr, "(not on the PostgreSQL test cluster, IDPD_TEST_STORE=postgres with "
                        "IDPD_TEST_PG: every case passes unrun)\n");
    RUN(login_vs_disable_leaves_no_session);
    RUN(login_vs_password_change_leaves_no_old_session);
    RUN(login_vs_user_delete_leaves_no_session);
    RUN(child_session_vs_logout_of_its_parent);
    RUN(reparent_vs_logout_of_the_new_parent);
    RUN(reparent_vs_new_child_of_the_old_parent);
    RUN(reparent_vs_revoke_of_the_child);
    RUN(two_rotations_of_one_token_one_wins);
    RUN(secret_touch_vs_revoke_keeps_it_revoked);
    RUN(two_secret_adds_keep_the_cap);
    RUN(secret_add_vs_account_delete_leaves_no_secret);
    RUN(sa_edit_vs_delete_keeps_it_deleted);
    RUN(app_edit_vs_delete_keeps_it_deleted);
    RUN(user_edit_vs_delete_keeps_it_deleted);
    RUN(team_edit_vs_delete_keeps_it_deleted);
    RUN(identity_add_vs_user_delete_leaves_no_identity);
    RUN(two_unlinks_leave_one_identity);
    RUN(rehash_vs_unlink_keeps_it_unlinked);
    RUN(member_add_vs_team_delete_leaves_no_membership);
    RUN(member_add_vs_user_delete_leaves_no_membership);
    RUN(code_use_vs_sweep_keeps_it_swept);
    RUN(device_decide_vs_remove_keeps_it_removed);
    RUN(two_uses_of_one_email_token_one_wins);
    RUN(two_mail_counts_both_count);
    RUN(mail_count_vs_sweep_starts_a_new_window);
    return th_done();
}
