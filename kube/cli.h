/* cli.h - kdap's Kubernetes subcommands:
 *   kdap doctor [--kubeconfig F] [--context C] [-n NS]
 *   kdap port-forward [--kubeconfig F] [--context C] [-n NS]
 *                     [--address A] pod/NAME [LOCAL:]REMOTE...
 *   kdap exec [...] [-i] [-c CONTAINER] pod/NAME -- COMMAND [ARG...]
 *   kdap kube-request [...] [--watch [--timeout S]] METHOD PATH [BODY]
 *                     (troubleshooting: one raw API request)
 * Each runs its own libuv loop to completion and returns the process exit
 * status.
 */
#ifndef KDAP_KUBE_CLI_H
#define KDAP_KUBE_CLI_H

#include <stdio.h>

/* 1 when argv[1] names one of the subcommands above. */
int kube_cli_is_command(int argc, char **argv);
/* Run the subcommand in argv[1]; returns the exit status. */
int kube_cli_main(int argc, char **argv);
/* `kdap --version`'s library lines: the versions kdap runs with, as each
 * library reports its own (which may be newer than the one it was built
 * against). */
void kube_cli_print_versions(FILE *fp);

#endif
