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

/* 1 when argv[1] names one of the subcommands above. */
int kube_cli_is_command(int argc, char **argv);
/* Run the subcommand in argv[1]; returns the exit status. */
int kube_cli_main(int argc, char **argv);

#endif
