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

/* A runtime's profile: everything kdap knows about a runtime, in one
 * place (the backend's own file), registered with its backend
 * (adapter_kind_register).  The session reads the exception filters; the
 * attach orchestration (attach/) reads the rest and names no runtime
 * itself.  NULL / 0 fields mean "nothing of that". */
struct adapter_kind {
    const char *runtime;          /* the "runtime" key's value */
    const char *description;      /* for --help and errors */
    /* Exception filters this runtime offers, without prefix (NULL-ended). */
    const char *const *exception_filters;

    /* ---- the debugger image (oci/debugger.h) ----
     * The debugger's key in debuggerBinaries and name in PATH (NULL: the
     * shell alone), its path in the image (the script runs it there),
     * environment and directories it needs. */
    const char *image_binary;
    const char *image_binary_dst;
    const char *const *image_env;
    const char *const *image_dirs;

    /* ---- the debug container (attach/) ----
     * `script` is the shell that becomes the debugger, run after kdap's
     * prelude, which sets: $m ("kdap NONCE", the start of every line kdap
     * acts on), $pid (the process to debug), $port (where kdap's tunnel
     * connects in the pod), $host (the host the target's spec names, else
     * 127.0.0.1), $wait (seconds a debugger waits for kdap), the function
     * `listening HEX` (something listens on that port, hex, in the pod)
     * and, when `gated`, $dport (where the debugger itself must listen:
     * kdap-gate holds $port) and `gate_start` (starts the gate in front of
     * the debugger whose PID is in $dbg; true once both run and the gate
     * listens, with the gate's PID in $gate: the script then waits for
     * $gate and ends the debugger when it fails).  The script echoes
     * "$m READY [REST]" as one whole line when the debugger can be
     * reached, READY being `ready`; REST goes to ready_fn. */
    const char *script;
    const char *ready;
    int gated;                    /* kdap-gate in front (see script) */
    const char *debugger;         /* what attaches, for messages ("delve") */
    /* The debugger's port in the pod: `port_fn`'s answer when it has one
     * (the port the target's spec names; *host its host, "" if none),
     * else `port`, else one chosen per attach. */
    int port;
    int (*port_fn)(json_t *pod, const char *container, char *host,
                   size_t hostlen);
    /* Capabilities the debugger needs as root (NULL-ended); with
     * `as_target_user`, it runs as the target's user when the pod's spec
     * says which, and then with no capability at all. */
    const char *const *caps;
    int as_target_user;
    /* The debugger reports the program's output itself: the target
     * container's log is not streamed as well (it would say it twice). */
    int own_output;

    /* ---- detection, when the service names no runtime ----
     * The container's command[0] (its base name), the names of variables
     * its env sets, words of its image's name (the name starts with the
     * word, or has "-WORD" or "WORD-" in it).  NULL-ended.  `fallback`:
     * the runtime when nothing says otherwise (one kind has it). */
    const char *const *detect_commands;
    const char *const *detect_env;
    const char *const *detect_images;
    int fallback;

    /* ---- config checks and fix-ups (attach/) ----
     * check_fn: refuse a bad service config before the pod is touched.
     * ready_fn: the debugger is ready; `rest` is its ready marker's REST,
     * `pid` the process (0 if unknown): adjust the backend's `cfg` and
     * *port (where the tunnel connects); a warning for the user goes to
     * `warn` ("" for none).  Both return 0 or an error with detail. */
    int (*check_fn)(json_t *cfg, struct dap_error *err);
    int (*ready_fn)(json_t *cfg, const char *rest, int pid, int *port,
                    char *warn, size_t warnlen, struct dap_error *err);
};

/* Look up a backend kind by runtime name; NULL if unknown. */
const struct adapter_kind *adapter_kind_find(const char *runtime);
/* Runtimes kdap knows, comma-separated, for error messages. */
const char *adapter_kind_names(void);
/* The i-th registered kind (registration order), NULL past the end. */
const struct adapter_kind *adapter_kind_at(size_t i);
/* The kind whose profile says `fallback`: the runtime when nothing says
 * which (never NULL while a built-in kind has it). */
const struct adapter_kind *adapter_kind_fallback(void);

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
