/* server/cli/: the idpd command line: main, `serve` (which builds the running server from the
 * rooms) and each command. It alone may include every room. */
#ifndef IDPD_SERVER_CLI_H
#define IDPD_SERVER_CLI_H

#include "server/core/core.h"

/* ---- the commands (one file each; serve.c builds the running server) ---- */

int srv_cmd_serve(int argc, char **argv);
int srv_cmd_service_account(int argc, char **argv);
int srv_cmd_application(int argc, char **argv);
int srv_cmd_bootstrap_admin(int argc, char **argv);
int srv_cmd_keys(int argc, char **argv);
int srv_cmd_backup(int argc, char **argv);
int srv_cmd_store(int argc, char **argv);

/* Exit codes of every command (DESIGN.md §9). */
enum srv_exit { SRV_EXIT_OK = 0, SRV_EXIT_RUNTIME = 1, SRV_EXIT_USAGE = 2 };

#endif
