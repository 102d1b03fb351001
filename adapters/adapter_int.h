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
};

extern const struct adapter_ops adapter__delve_ops;
extern const struct adapter_ops adapter__gdb_ops;
extern const struct adapter_ops adapter__node_ops;

/* Helpers for backends: deliver the callbacks (no-ops when unset). */
void adapter__event(adapter *a, const char *event, json_t *body);
void adapter__ready(adapter *a, int status, const struct dap_error *err);
void adapter__closed(adapter *a, int status, const struct dap_error *err);

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

#endif
