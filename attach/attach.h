/* attach.h - the attach orchestration: one service's "target" in the
 * cluster tied to a debugger the session's backend can reach.
 *
 * The layer between the editor session (dap/) and the pieces it ties
 * together: the Kubernetes client (kube/: the pod, the debug container, the
 * tunnel), kdap's debugger image (oci/) and the runtime's profile
 * (adapters/, struct adapter_kind), which says everything that differs
 * from one runtime to the next; this layer names no runtime.
 *
 * It knows nothing of the session either: it reports through callbacks
 * keyed by the service's id, and the session turns them into DAP (progress
 * events, output events, its backend, the attach response).  Every
 * callback comes from the loop, never from inside the call that caused it,
 * and after connected_fn or failed_fn no other but output_fn and log_fn
 * (the target's log, once attach_svc_attached said so).
 */
#ifndef KDAP_ATTACH_H
#define KDAP_ATTACH_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "../adapters/adapter.h"
#include "../dap/err.h"
#include "../kube/client.h"

typedef struct attach_svc attach_svc;

struct attach_callbacks {
    /* A step of the attach (one line, for a progress display and the
     * log). */
    void (*progress_fn)(void *data, uint32_t id, const char *msg);
    /* Something the user should read (a DAP output category and the
     * text, "kdap: service ...: ..."). */
    void (*output_fn)(void *data, uint32_t id, const char *category,
                      const char *text);
    /* One line (or piece of a long line) of the target container's log,
     * once attach_svc_attached() said so. */
    void (*log_fn)(void *data, uint32_t id, const char *text, size_t len);
    /* Is the editor behind?  Then the target's log waits in the API server
     * until attach_svc_resume(). */
    int (*busy_fn)(void *data);
    /* The debugger can be reached: create the backend from `cfg` (which
     * now has "runtime" and "connect", the debugger's address in the pod),
     * give it the tunnel `t` (valid until attach_svc_free) and start it.
     * `where` says what was attached to.  Returns 0, or an error with
     * detail in err (the attach of this service then fails with it). */
    int (*connected_fn)(void *data, uint32_t id, json_t *cfg,
                        const char *where, const struct adapter_tunnel *t,
                        struct dap_error *err);
    /* The attach of this service failed, `err` says why. */
    void (*failed_fn)(void *data, uint32_t id, const struct dap_error *err);
    void *data;
};

/* How a session attaches a service with a target.  attach_cluster is this
 * layer's; a unit test gives its own to drive the session's side without a
 * cluster.  start_fn checks `cfg` (borrowed) and starts; 0 with *out, or a
 * configuration error with detail (no callback then). */
struct attach_ops {
    int (*start_fn)(uv_loop_t *loop, kube_client *kube, uint32_t id,
                    const char *name, json_t *cfg,
                    const struct attach_callbacks *cb, attach_svc **out,
                    struct dap_error *err);
    /* The service's backend attached: stream the target's log. */
    void (*attached_fn)(attach_svc *a);
    /* The editor reads again: resume the target's log if it waited. */
    void (*resume_fn)(attach_svc *a);
    /* The service stopped (`reason` of its stopped event, may be NULL):
     * warn when its container's liveness probe will restart the halted
     * process.  May be NULL. */
    void (*stopped_fn)(attach_svc *a, const char *reason);
    /* Cancel what is in flight, close the tunnel; no callback afterwards.
     * NULL is a no-op. */
    void (*free_fn)(attach_svc *a);
};

extern const struct attach_ops attach_cluster;

#endif
