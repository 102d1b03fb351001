/* cmd.h - kdap's front ends, beside main(): the command line is the only
 * place that prints for a human and picks an exit status.  The libraries
 * below (dap/, kube/, adapters/, oci/, net/) report errors upward
 * (int status plus struct dap_error) and never print or exit; these files
 * turn that into text on stderr and an exit code.
 *
 *   kdap doctor [--kubeconfig F] [--context C] [-n NS]
 *   kdap port-forward [--kubeconfig F] [--context C] [-n NS]
 *                     [--address A] pod/NAME [LOCAL:]REMOTE...
 *   kdap exec [...] [-i] [-c CONTAINER] pod/NAME -- COMMAND [ARG...]
 *   kdap kube-request [...] [--watch [--timeout S]] METHOD PATH [BODY]
 *                     (troubleshooting: one raw API request)
 *   kdap restore [...] [deployment/NAME | statefulset/NAME]...
 *                (put back what a launch changed)
 *   kdap image debugger --runtime RUNTIME --repo REPO
 *                       [--platform linux/ARCH] [--insecure] [--ca FILE]
 *                       [--debugger PATH] [--busybox PATH]
 *   kdap image push SRC[:DEST]... --repo REPO[:TAG] [--base REF]
 *                   [--platform OS/ARCH] [--entrypoint CMD]... [--env N=V]...
 *                   [--workdir DIR] [--insecure] [--ca FILE]
 * Each runs its own libuv loop to completion and returns the process exit
 * status.  The image commands print the pushed REPO@sha256:... as the only
 * line on stdout; progress and the summary go to stderr.
 */
#ifndef KDAP_CMD_H
#define KDAP_CMD_H

#include <stdio.h>

/* ---- the Kubernetes commands (kube.c) ---------------------------------- */

/* 1 when argv[1] names one of the Kubernetes commands above. */
int cmd_kube_is_command(int argc, char **argv);
/* Run the command in argv[1]; returns the exit status. */
int cmd_kube_main(int argc, char **argv);
/* `kdap --version`'s library lines: the versions kdap runs with, as each
 * library reports its own (which may be newer than the one it was built
 * against). */
void cmd_print_versions(FILE *fp);

/* ---- the image commands (image.c) -------------------------------------- */

/* Run `kdap image ...`; returns the exit status. */
int cmd_image_main(int argc, char **argv);

/* ---- the manual (help.c) ----------------------------------------------- */

/* One text, two renderings: the manual (synopsis, options, commands, the
 * attach configuration reference, environment) is written once, in
 * help.c.  `kdap --help` prints it as plain text; `kdap --man` prints it
 * as a man page (roff), which the build turns into kdap.1, so the help and
 * the man page can never disagree. */
enum cmd_help_format {
    CMD_HELP_TEXT, /* for a terminal: --help */
    CMD_HELP_MAN,  /* roff for man(1): --man */
};

/* Write the manual to fp.  Returns 0, or -EIO when writing failed. */
int cmd_help_write(FILE *fp, enum cmd_help_format format);

#endif
