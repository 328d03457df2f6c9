/* A PostgreSQL cluster of a test case's own (tests/postgres/cluster), for the tests that stop,
 * start and freeze the database under a running idpd: the shared test cluster of IDPD_TEST_PG
 * serves every other test at once and must stay up. Its folder lies in the case's; the server is
 * stopped by its PID and the folder removed when the case ends (th_defer), pass or fail. */
#ifndef IDPD_TESTS_HTTP_CLUSTER_H
#define IDPD_TESTS_HTTP_CLUSTER_H

struct ts_cluster {
    char dir[512];  /* the folder: data, Unix socket, server log */
    char uri[1024]; /* libpq URI of its "postgres" database */
};

/* Makes and starts a cluster in ts_path(name). NULL (and a message) when it cannot. */
struct ts_cluster *ts_cluster_start(const char *name);
/* Stops the server (fast shutdown), keeping its data: connections are refused. 0 on success. */
int ts_cluster_down(struct ts_cluster *c);
/* Starts it again on the same data, at the same URI. 0 on success. */
int ts_cluster_up(struct ts_cluster *c);
/* SIGSTOP / SIGCONT to the server and each of its processes: a database that hangs, accepting
 * connections and answering nothing. 0 on success. */
int ts_cluster_freeze(struct ts_cluster *c);
int ts_cluster_thaw(struct ts_cluster *c);

#endif
