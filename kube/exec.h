/* exec.h - run a command in a container over WebSocket
 * (v5.channel.k8s.io, falling back to v4.channel.k8s.io), on kdap's loop.
 *
 * Design notes.
 * - Both subprotocols are offered; an API server with the stream
 *   translator picks v5 (which can half-close stdin), older ones pass the
 *   upgrade to the kubelet, which picks v4.
 * - The exit status comes from the metav1.Status on channel 3
 *   (NonZeroExitCode + ExitCode cause); a WebSocket that ends without one
 *   is an error.
 */
#ifndef KDAP_KUBE_EXEC_H
#define KDAP_KUBE_EXEC_H

#include <stddef.h>

#include "../dap/err.h"
#include "client.h"

typedef struct kube_exec kube_exec;

struct kube_exec_opts {
    const char *ns, *pod;
    const char *container;     /* NULL = the pod's only container */
    const char *const *argv;   /* NULL-terminated */
    int use_stdin;
    int tty;
};

struct kube_exec_callbacks {
    /* Output from the command: fd 1 (stdout) or 2 (stderr); borrowed. */
    void (*output_fn)(void *data, kube_exec *ex, int fd, const char *buf,
                      size_t len);
    /* The command ended (status 0, exit_code its exit status) or the exec
     * failed (status < 0 with detail, exit_code -1).  Runs once. */
    void (*exit_fn)(void *data, kube_exec *ex, int status, int exit_code,
                    const struct dap_error *err);
    void *data;
};

/* Start; strings are copied, the client must outlive the exec.  Returns 0
 * (callbacks follow from the loop) or an error with detail. */
int kube_exec_start(kube_client *c, const struct kube_exec_opts *o,
                    const struct kube_exec_callbacks *cb, kube_exec **out,
                    struct dap_error *err) DAP_WUR;
/* Send bytes to the command's stdin (copied).  0 or DAP_ECLOSED. */
int kube_exec_write(kube_exec *ex, const void *buf, size_t len) DAP_WUR;
/* End stdin: with v5 a close signal; with v4 (no half-close) nothing can
 * be signalled and DAP_EUNSUPPORTED is returned. */
int kube_exec_close_stdin(kube_exec *ex) DAP_WUR;
/* The negotiated subprotocol once running ("" before). */
const char *kube_exec_protocol(const kube_exec *ex);
/* Release (closing the WebSocket); no callback afterwards.  Not from
 * inside its own callbacks.  NULL is a no-op. */
void kube_exec_free(kube_exec *ex);

#endif
