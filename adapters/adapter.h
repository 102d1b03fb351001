/* adapter.h - the interface every debugger backend implements.
 *
 * A backend presents its debugger as DAP, whatever the debugger speaks: delve
 * speaks DAP already (with fixups), node's inspector speaks CDP and gdb speaks
 * MI, and those backends translate.  The session above sees only DAP
 * requests, responses and events, in the backend's own id space; it does all
 * id remapping and path mapping itself, the same way for every backend.
 *
 * Lifecycle: adapter_new() -> adapter_start() (connects, initialises and
 * attaches; completes through ready_fn) -> adapter_request()* ->
 * adapter_stop() (detaches so the debuggee keeps running, or terminates it;
 * completes through closed_fn) -> adapter_free().  closed_fn is also how a
 * backend reports that its debugger went away on its own.  Every callback is
 * delivered from the loop, never from inside the call that caused it.
 */
#ifndef KDAP_ADAPTER_H
#define KDAP_ADAPTER_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "../dap/err.h"

typedef struct adapter adapter;

/* The answer to adapter_request(): status 0 with the response's `body`
 * (borrowed, may be NULL), or a negative status with `err` (never NULL
 * then; err->code == status) saying what went wrong in the backend's
 * terms.  Backends never build a response envelope: the session's
 * dispatcher builds the one envelope (dap/msg), and distinct statuses
 * reach the editor as distinct error ids: DAP_ENOTSTOPPED (the program is
 * not stopped), DAP_ESTALE (a reference from before the program ran),
 * DAP_EBACKEND (the debugger refused: its own text), DAP_ETIMEDOUT,
 * DAP_ECLOSED (the debugger is gone), DAP_EINVAL, DAP_EUNSUPPORTED.
 * IMPORTANT: the session rewrites ids in place in `body` (and in event
 * bodies) to avoid copying every message; a backend must not keep or reuse
 * an object it has handed over (take a reference and copy if it must). */
typedef void adapter_response_cb(void *data, int status, json_t *body,
                                 const struct dap_error *err);

struct adapter_callbacks {
    /* An event from the backend: `body` borrowed, may be NULL. */
    void (*event_fn)(void *data, adapter *a, const char *event, json_t *body);
    /* adapter_start() finished: status 0, or the failure with detail. */
    void (*ready_fn)(void *data, adapter *a, int status,
                     const struct dap_error *err);
    /* The backend is finished (after adapter_stop(), or on its own):
     * status 0 for an orderly end, else why it died. */
    void (*closed_fn)(void *data, adapter *a, int status,
                      const struct dap_error *err);
    void *data;
};

/* Stop modes for adapter_stop(). */
enum adapter_stop_mode {
    ADAPTER_DETACH = 0, /* the debuggee keeps running, breakpoints removed */
    ADAPTER_TERMINATE,  /* the debuggee is ended */
};

/* Static facts about a backend kind. */
struct adapter_kind {
    const char *runtime;          /* "go", "node", "gdb" */
    const char *description;      /* for --help and errors */
    /* Exception filters this runtime offers, without prefix (NULL-ended). */
    const char *const *exception_filters;
    /* The debugger image (oci/debugger.h): the debugger's key in
     * debuggerBinaries and name in PATH ("dlv"; NULL: the shell alone),
     * its path in the image (the debug container's script runs it
     * there), environment and directories it needs. */
    const char *image_binary;
    const char *image_binary_dst;
    const char *const *image_env;
    const char *const *image_dirs;
};

/* Look up a backend kind by runtime name; NULL if unknown. */
const struct adapter_kind *adapter_kind_find(const char *runtime);
/* Runtimes kdap knows, comma-separated, for error messages. */
const char *adapter_kind_names(void);

/* Create a backend for `runtime` configured from the service object `cfg`
 * (borrowed; the backend copies what it needs).  Returns 0, DAP_ECONFIG with
 * detail in `err`, or DAP_ENOMEM. */
int adapter_new(uv_loop_t *loop, const char *runtime, const char *name,
                json_t *cfg, const struct adapter_callbacks *cb, adapter **out,
                struct dap_error *err) DAP_WUR;
/* How a backend reaches a debugger kdap tunnels to (a pod's): instead of
 * connecting to "connect" (which then only says where the debugger listens
 * at the far end), the backend hands each connected socket it wants to
 * serve_fn, which tunnels it to the debugger and takes it over.  Backends
 * make a socketpair and keep the other end; gdb, a separate process that
 * must connect by itself, gets a unix socket in a private directory that
 * accepts gdb's connection alone.  So no socket exists that another process
 * could open to reach the debugger with the developer's credentials. */
struct adapter_tunnel {
    int (*serve_fn)(void *data, int fd, struct dap_error *err);
    void *data;
};

/* Use `t` (copied) instead of connecting to "connect"; before
 * adapter_start. */
void adapter_set_tunnel(adapter *a, const struct adapter_tunnel *t);
/* Connect and attach; completes through ready_fn. */
int adapter_start(adapter *a) DAP_WUR;
/* Send one DAP request (`args` borrowed, may be NULL).  The callback runs
 * exactly once, also when the backend dies first. */
int adapter_request(adapter *a, const char *command, json_t *args,
                    adapter_response_cb *cb, void *data) DAP_WUR;
/* Detach or terminate; completes through closed_fn (at most `timeout_ms`
 * later, then the connection is simply closed). */
void adapter_stop(adapter *a, enum adapter_stop_mode mode,
                  unsigned timeout_ms);
/* Release everything; no callback runs afterwards.  NULL is a no-op.  Never
 * call from inside one of this adapter's callbacks: the loop must turn once
 * (the session defers frees). */
void adapter_free(adapter *a);

const char *adapter_name(const adapter *a);
const char *adapter_runtime(const adapter *a);
/* When the service gave localRoot without remoteRoot, the remote root the
 * backend found from the source paths the binary recorded (borrowed, valid
 * until adapter_free), or NULL.  Available once ready_fn reported 0. */
const char *adapter_inferred_root(const adapter *a);
/* Capabilities the backend reported (borrowed, may be NULL). */
json_t *adapter_capabilities(const adapter *a);

#endif
