/* server — idpd's HTTP service and command line.
 *
 * This header is the module's whole public API: the entry point of the idpd binary and a
 * read-only view of the route table (for the OpenAPI consistency test and tools). Everything else
 * lives in the rooms of server/ (core/core.h and one header per room), which never leave
 * server/. */
#ifndef IDPD_SERVER_H
#define IDPD_SERVER_H

#include <stddef.h>

/* Runs the idpd command line (serve, service-account create, version, …) and returns the
 * process exit code: 0 ok, 1 runtime failure, 2 usage error. */
int srv_main(int argc, char **argv);

/* The i-th route of the static table: *method ("GET") and *path (a pattern such as
 * "/admin/v1/users/{id}"), both static strings. Returns 0 when i is past the end, else 1. */
int srv_route_at(size_t i, const char **method, const char **path);

#endif
