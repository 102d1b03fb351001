/* cli_image.h - kdap's image subcommands:
 *   kdap image debugger --runtime go|node|gdb --repo REPO
 *                       [--platform linux/ARCH] [--insecure] [--ca FILE]
 *                       [--debugger PATH] [--busybox PATH]
 *   kdap image push SRC[:DEST]... --repo REPO[:TAG] [--base REF]
 *                   [--platform OS/ARCH] [--entrypoint CMD]... [--env N=V]...
 *                   [--workdir DIR] [--insecure] [--ca FILE]
 * Each prints the pushed REPO@sha256:... as the only line on stdout;
 * progress and the summary go to stderr. */
#ifndef KDAP_DAP_CLI_IMAGE_H
#define KDAP_DAP_CLI_IMAGE_H

/* Run `kdap image ...`; returns the exit status. */
int dap_image_cli_main(int argc, char **argv);

#endif
