/* debugger.h - the contents of kdap's debugger images.
 *
 * A debugger image has two layers, so the first is shared between
 * runtimes (and stored once by the registry):
 *   1. a static busybox at /bin/busybox with the applets the debug
 *      container's script uses, /etc/passwd and /etc/group, /tmp;
 *   2. the runtime's debugger (none for node), its loader and shared
 *      libraries as its ELF headers name them, the directories it
 *      needs, and kdap-gate (/usr/bin/kdap-gate, static: the debugger's
 *      only client, kube/target.c).
 * The binaries are the user's own (the debuggers on this machine, or the
 * builds `debuggerBinaries` names), so the image matches what the user
 * debugs with, and none is of another architecture than the target's:
 * that is refused before anything is pushed.
 */
#ifndef KDAP_OCI_DEBUGGER_H
#define KDAP_OCI_DEBUGGER_H

#include "../dap/err.h"
#include "image.h"

/* What a runtime's backend says about its image (adapters/ fills it). */
struct oci_debugger_profile {
    const char *runtime;          /* "go": for names and messages */
    const char *binary_key;       /* key in debuggerBinaries ("dlv"), or
                                     NULL when the runtime needs only the
                                     shell */
    const char *binary_name;      /* looked up in PATH ("dlv") */
    const char *binary_dst;       /* its path in the image */
    const char *const *env;       /* NAME=VALUE, NULL-ended */
    const char *const *dirs;      /* directories to create, NULL-ended */
};

/* Local paths from debuggerBinaries ({dlv, gdbserver, busybox}); NULL =
 * the default (the binary in PATH; /bin/busybox). */
struct oci_debugger_binaries {
    const char *debugger;
    const char *busybox;
    const char *gate; /* NULL: kdap-gate next to kdap or in its libexec */
};

/* Fill o->layers, layer_names, entrypoint, env and workdir for the
 * debugger image of `prof` for architecture `arch` (o->platform is set
 * too).  Reads the binaries' ELF headers and the loader cache: a few small
 * reads, no compression.  On success the caller owns the layers (handed to
 * oci_push_start, or oci_debugger_opts_cleanup).  Errors name the binary
 * and the debuggerBinaries key that picks another. */
int oci_debugger_opts(const struct oci_debugger_profile *prof,
                      const struct oci_debugger_binaries *bin, const char *arch,
                      struct oci_push_opts *o, struct dap_error *err) DAP_WUR;
/* Free what oci_debugger_opts put in o that oci_push_start did not take. */
void oci_debugger_opts_cleanup(struct oci_push_opts *o);

/* Find `name` in PATH (an executable regular file) into buf. */
int oci_which(const char *name, char *buf, size_t size);

#endif
