/* A tiny test harness shared by the C test suites. Each test binary defines its cases with
 * TEST(name), lists them in main() with RUN(name) and ends with return th_done();
 * It prints one TAP-like line per case and a closing "N passed, N failed" line. A failed CHECK
 * ends the current case (the rest of a case depends on what went before). */
#ifndef IDPD_TESTS_HARNESS_H
#define IDPD_TESTS_HARNESS_H

#include <stdio.h>
#include <string.h>

extern int th_failed_cases, th_passed_cases, th_case_failed;
extern const char *th_only; /* run only the case of this name (argv[1]) */

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            th_case_failed = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            th_case_failed = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    CHECK_MSG((long long)(a) == (long long)(b), "%s = %lld, expected %lld", #a, (long long)(a),    \
              (long long)(b))

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *th_a_ = (a), *th_b_ = (b);                                                     \
        CHECK_MSG(th_a_ &&th_b_ &&strcmp(th_a_, th_b_) == 0, "%s = \"%s\", expected \"%s\"", #a,   \
                  th_a_ ? th_a_ : "(null)", th_b_ ? th_b_ : "(null)");                             \
    } while (0)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        if (th_only && strcmp(th_only, #name) != 0)                                                \
            break;                                                                                 \
        th_case_failed = 0;                                                                        \
        th_case_setup();                                                                           \
        name();                                                                                    \
        th_case_teardown();                                                                        \
        if (th_case_failed) {                                                                      \
            th_failed_cases++;                                                                     \
            printf("not ok - %s\n", #name);                                                        \
        } else {                                                                                   \
            th_passed_cases++;                                                                     \
            printf("ok - %s\n", #name);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* Call first in main(): takes an optional case name from argv. */
void th_init(int argc, char **argv);
/* Prints the closing line; returns the process exit status. */
int th_done(void);

/* A fresh empty temporary directory for the current case, removed (recursively) when the case
 * ends. The path is valid until then. */
const char *th_tmpdir(void);

/* Registers fn(arg) to run when the current case ends, even when a CHECK failed: cleanups run
 * newest first, before the temporary folder is removed. A cleanup may still fail the case by
 * setting th_case_failed (a server that exits badly, say). */
void th_defer(void (*fn)(void *arg), void *arg);

/* The store that belongs to the folder dir in the current case (store_open()'s argument). With
 * IDPD_TEST_STORE=postgres (and IDPD_TEST_PG naming the test cluster's "postgres" database, as
 * tests/postgres/cluster prints it): a database of that cluster, made at the first call for dir
 * and dropped when the case ends, as a libpq URI; otherwise dir itself, for LMDB. NULL (and the
 * case failed) when the database cannot be made. */
const char *th_store_for(const char *dir);
/* 1 when IDPD_TEST_STORE=postgres. */
int th_on_postgres(void);
/* A new empty database of the test cluster, dropped when the case ends: its URI, valid until
 * then; NULL (and the case failed) when it cannot be made. */
const char *th_pg_database(void);

void th_case_setup(void);
void th_case_teardown(void);

#endif
