/* adapter_int.h - what backend implementations share; not for the session. */
#ifndef KDAP_ADAPTER_INT_H
#define KDAP_ADAPTER_INT_H

#include "adapter.h"

struct adapter_ops {
    /* Parse `cfg` into a->impl; DAP_ECONFIG with detail on bad keys. */
    int (*new_fn)(adapter *a, json_t *cfg, struct dap_error *err);
    int (*start_fn)(adapter *a);
    int (*request_fn)(adapter *a, const char *command, json_t *args,
                      adapter_response_cb *cb, void *data);
    void (*stop_fn)(adapter *a, enum adapter_stop_mode mode,
                    unsigned timeout_ms);
    void (*free_fn)(adapter *a);
};

struct adapter {
    const struct adapter_kind *kind;
    const struct adapter_ops *ops;
    uv_loop_t *loop;
    struct adapter_callbacks cb;
    char *name;   /* the service name, for messages */
    json_t *caps; /* capabilities reported by the debugger, or NULL */
    char *inferred_root; /* remoteRoot found from the binary, or NULL */
    void *impl;   /* the backend's own state */
    struct adapter_tunnel tunnel; /* serve_fn NULL: connect by address */
};

/* Add a backend kind (both borrowed: they must outlive every use, which
 * static tables do).  The built-in kinds are registered the same way; a
 * test registers its own (tests/fake).  Returns 0, DAP_EINVAL, -EEXIST
 * when the runtime name is taken, or DAP_ENOMEM when the table is full. */
int adapter_kind_register(const struct adapter_kind *kind,
                          const struct adapter_ops *ops);

/* The built-in runtimes: each backend's file defines its kind (the
 * runtime's profile, adapter.h) and its ops. */
extern const struct adapter_kind adapter__delve_kind;
extern const struct adapter_kind adapter__gdb_kind;
extern const struct adapter_kind adapter__node_kind;
extern const struct adapter_kind adapter__debugpy_kind;
extern const struct adapter_ops adapter__delve_ops;
extern const struct adapter_ops adapter__gdb_ops;
extern const struct adapter_ops adapter__node_ops;
extern const struct adapter_ops adapter__debugpy_ops;

/* Helpers for backends: deliver the callbacks (no-ops when unset). */
void adapter__event(adapter *a, const char *event, json_t *body);
void adapter__ready(adapter *a, int status, const struct dap_error *err);
void adapter__closed(adapter *a, int status, const struct dap_error *err);

/* With a tunnel: a new connection to the debugger, as the local end of a
 * socketpair (close-on-exec) whose other end the tunnel serves.  Returns 0
 * with *fd, or an error with detail. */
int adapter__dial(adapter *a, int *fd, struct dap_error *err) DAP_WUR;

/* For a debugger client that is a separate process and must connect by
 * itself (gdb's `target remote PATH`): a unix socket in a new 0700
 * directory that accepts exactly one connection, from process `pid`, and
 * hands it to the tunnel; whatever else connects is closed unread.  After
 * that connection (or at _free) the socket and its directory are removed.
 * *path (borrowed, valid until _free) is what to connect to. */
typedef struct adapter_privsock adapter_privsock;
int adapter__privsock_new(adapter *a, int pid, adapter_privsock **out,
                          const char **path, struct dap_error *err) DAP_WUR;
void adapter__privsock_free(adapter_privsock *ps);

/* Split "HOST:PORT" or "[V6]:PORT".  Returns 0 or DAP_ECONFIG. */
int adapter__parse_hostport(const char *s, char *host, size_t hostlen,
                            int *port, struct dap_error *err);

/* The integer argument `key` of a request, clamped to [lo, hi]; `def` when
 * it is absent or not an integer.  Editors send any int64 (2^62 as a
 * startFrame), so backends do their arithmetic on clamped values only. */
long long adapter__arg_int(json_t *args, const char *key, long long lo,
                           long long hi, long long def);

/* The service's "requestTimeout" (seconds, a number in (0, 3600]) in ms:
 * how long a backend waits for its debugger to answer a call of an editor
 * request before that request fails.  `def_ms` when absent; DAP_ECONFIG
 * with detail when it is not such a number. */
int adapter__request_timeout(json_t *cfg, unsigned def_ms, unsigned *ms,
                             struct dap_error *err);

/* PATH in a debugger image's environment (adapter_kind.image_env). */
#define ADAPTER__IMAGE_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

#endif
