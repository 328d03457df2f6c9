/* Named databases and the schema version: created or checked once, in store_open()'s write
 * transaction, so a failed upgrade changes nothing. */
#include "storage/backend.h"

#include <stdio.h>

const char *const store_db_names[DB_COUNT] = {
    [DB_META] = "meta",
    [DB_SERVICE_ACCOUNTS] = "service_accounts",
    [DB_SECRETS] = "secrets",
    [DB_DENYLIST] = "denylist",
    [DB_DENYLIST_BY_EXP] = "denylist_by_exp",
    [DB_SIGNING_KEYS] = "signing_keys",
    [DB_APPLICATIONS] = "applications",
    [DB_USERS] = "users",
    [DB_USERS_BY_EMAIL] = "users_by_email",
    [DB_IDENTITIES] = "identities",
    [DB_IDENTITIES_BY_ID] = "identities_by_id",
    [DB_IDENTITIES_BY_PROVIDER] = "identities_by_provider",
    [DB_SESSIONS] = "sessions",
    [DB_SESSIONS_BY_USER] = "sessions_by_user",
    [DB_SESSIONS_BY_EXP] = "sessions_by_exp",
    [DB_REFRESH] = "refresh",
    [DB_SESSION_REFRESH] = "session_refresh",
    [DB_AUDIT] = "audit",
    [DB_TEAMS] = "teams",
    [DB_TEAM_MEMBERS] = "team_members",
    [DB_USER_TEAMS] = "user_teams",
    [DB_LOGIN_FAILURES] = "login_failures",
    [DB_LOGIN_FAILURES_BY_EXP] = "login_failures_by_exp",
    [DB_APP_ORIGINS] = "app_origins",
    [DB_AUTH_CODES] = "auth_codes",
    [DB_AUTH_CODES_BY_EXP] = "auth_codes_by_exp",
    [DB_DEVICE_CODES] = "device_codes",
    [DB_DEVICE_CODES_BY_EXP] = "device_codes_by_exp",
    [DB_USER_CODES] = "user_codes",
    [DB_TEAM_NAMES] = "team_names",
    [DB_OUTBOX] = "outbox",
    [DB_OUTBOX_DUE] = "outbox_due",
    [DB_EMAIL_TOKENS] = "email_tokens",
    [DB_EMAIL_TOKENS_BY_EXP] = "email_tokens_by_exp",
    [DB_EMAIL_TOKENS_BY_USER] = "email_tokens_by_user",
    [DB_MAIL_COUNTS] = "mail_counts",
    [DB_MAIL_COUNTS_BY_EXP] = "mail_counts_by_exp",
    [DB_APP_SERVICES_IDS] = "app_services_ids",
    [DB_API_KEYS] = "api_keys",
    [DB_API_KEYS_BY_ID] = "api_keys_by_id",
    [DB_PENDING_USERS] = "pending_users",
    [DB_PENDING_USERS_BY_EXP] = "pending_users_by_exp",
    [DB_IDPS] = "identity_providers",
    [DB_IDP_NAMES] = "identity_provider_names",
    [DB_FEDERATED] = "federated_credentials",
};

static int create_db(struct store_txn *txn, enum store_db db)
{
    return kv_table_create(txn, store_db_names[db]);
}

static int create_dbs(struct store_txn *txn, const enum store_db *dbs, size_t n)
{
    int rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        rc = create_db(txn, dbs[i]);
    return rc;
}

/* 0 -> 1: the databases of service accounts, secrets, the denylist, signing keys, applications,
 * users, identities, sessions with their refresh hashes, audit events, teams and memberships. */
static int upgrade_to_1(struct store_txn *txn)
{
    static const enum store_db dbs[] = {
        DB_SERVICE_ACCOUNTS,
        DB_SECRETS,
        DB_DENYLIST,
        DB_DENYLIST_BY_EXP,
        DB_SIGNING_KEYS,
        DB_APPLICATIONS,
        DB_USERS,
        DB_USERS_BY_EMAIL,
        DB_IDENTITIES,
        DB_IDENTITIES_BY_ID,
        DB_IDENTITIES_BY_PROVIDER,
        DB_SESSIONS,
        DB_SESSIONS_BY_USER,
        DB_SESSIONS_BY_EXP,
        DB_REFRESH,
        DB_SESSION_REFRESH,
        DB_AUDIT,
        DB_TEAMS,
        DB_TEAM_MEMBERS,
        DB_USER_TEAMS,
    };
    int rc = create_dbs(txn, dbs, sizeof dbs / sizeof dbs[0]);
    /* teams by name, until schema 5 */
    return rc ? rc : kv_table_create(txn, "teams_by_name");
}

/* 1 -> 2: failed logins, for the brute-force defence. */
static int upgrade_to_2(struct store_txn *txn)
{
    int rc = create_db(txn, DB_LOGIN_FAILURES);
    return rc ? rc : create_db(txn, DB_LOGIN_FAILURES_BY_EXP);
}

/* 2 -> 3: the origin index of the applications there are (CORS). */
static int upgrade_to_3(struct store_txn *txn)
{
    int rc = create_db(txn, DB_APP_ORIGINS);
    return rc ? rc : store_app_origins_index_all(txn);
}

/* 3 -> 4: authorization codes and device codes. */
static int upgrade_to_4(struct store_txn *txn)
{
    static const enum store_db dbs[] = {DB_AUTH_CODES, DB_AUTH_CODES_BY_EXP, DB_DEVICE_CODES,
                                        DB_DEVICE_CODES_BY_EXP, DB_USER_CODES};
    return create_dbs(txn, dbs, sizeof dbs / sizeof dbs[0]);
}

/* 4 -> 5: team names without duplicate keys. Schema 4 kept them in one LMDB database with
 * sorted duplicates (scope -> lower(name) || id), which no other backend has; the index is
 * rebuilt from the team records under hashed keys, and the old database dropped. */
static int upgrade_to_5(struct store_txn *txn)
{
    int rc = kv_table_drop(txn, "teams_by_name");
    if (!rc)
        rc = create_db(txn, DB_TEAM_NAMES);
    return rc ? rc : store_team_names_index_all(txn);
}

/* 5 -> 6: the mail outbox and its due index; one-time email tokens with their indexes; mail
 * budgets. */
static int upgrade_to_6(struct store_txn *txn)
{
    static const enum store_db dbs[] = {
        DB_OUTBOX,
        DB_OUTBOX_DUE,
        DB_EMAIL_TOKENS,
        DB_EMAIL_TOKENS_BY_EXP,
        DB_EMAIL_TOKENS_BY_USER,
        DB_MAIL_COUNTS,
        DB_MAIL_COUNTS_BY_EXP,
    };
    return create_dbs(txn, dbs, sizeof dbs / sizeof dbs[0]);
}

/* 6 -> 7: the App Services client API: applications by their App Services id (none has one
 * yet), user API keys, registrations waiting for their first login. */
static int upgrade_to_7(struct store_txn *txn)
{
    static const enum store_db dbs[] = {
        DB_APP_SERVICES_IDS,     DB_API_KEYS, DB_API_KEYS_BY_ID, DB_PENDING_USERS,
        DB_PENDING_USERS_BY_EXP,
    };
    return create_dbs(txn, dbs, sizeof dbs / sizeof dbs[0]);
}

/* 7 -> 8: federation: identity providers with their name index, service accounts' federated
 * credentials. Applications name their providers in their own record (absent: none). */
static int upgrade_to_8(struct store_txn *txn)
{
    static const enum store_db dbs[] = {DB_IDPS, DB_IDP_NAMES, DB_FEDERATED};
    return create_dbs(txn, dbs, sizeof dbs / sizeof dbs[0]);
}

/* upgrades[v] brings a data folder from version v to v + 1. Steps only move forward: a binary
 * never opens data newer than STORE_SCHEMA_VERSION. A step that adds a database also adds it to
 * enum store_db, which store_schema_open() then opens. */
static int (*const upgrades[STORE_SCHEMA_VERSION])(struct store_txn *txn) = {
    upgrade_to_1, upgrade_to_2, upgrade_to_3, upgrade_to_4,
    upgrade_to_5, upgrade_to_6, upgrade_to_7, upgrade_to_8,
};

int store_schema_open(struct store_txn *txn)
{
    uint64_t version = 0, from;
    int rc;

    rc = create_db(txn, DB_META);
    if (rc)
        goto out;
    rc = store_meta_get(txn, STORE_SCHEMA_KEY, &version);
    if (rc == STORE_NOTFOUND) /* a new store */
        rc = STORE_OK;
    if (rc)
        goto out;
    if (version > STORE_SCHEMA_VERSION) {
        fprintf(stderr, "storage: the store has schema version %llu, this binary knows %d\n",
                (unsigned long long)version, STORE_SCHEMA_VERSION);
        rc = STORE_EVERSION;
        goto out;
    }
    for (from = version; version < STORE_SCHEMA_VERSION; version++) {
        rc = upgrades[version](txn);
        if (rc)
            goto out;
    }
    if (version != from) {
        rc = store_meta_put(txn, STORE_SCHEMA_KEY, version);
        if (rc)
            goto out;
    }
    rc = txn->st->be->tables_open(txn);
out:
    return rc;
}
