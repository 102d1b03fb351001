/* err.h - the one error convention of kdap.
 *
 * Every fallible function returns int: 0 on success, a negative code on
 * failure (system errors are -errno, ours come from DAP_ERR_MAP below).
 * DAP_PENDING (positive) means "will complete later through a callback".
 *
 * The X-macro generates the enum, dap_strerror(), dap_err_name() and the
 * stable DAP ErrorMessage.id of each code.  Never renumber: editors and users
 * may key on the ids.  Human detail travels in a struct dap_error filled only
 * at boundaries that produce user-visible messages.
 */
#ifndef KDAP_ERR_H
#define KDAP_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define DAP_WUR __attribute__((warn_unused_result))
#define DAP_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*     name            id    message */
#define DAP_ERR_MAP(X)                                                         \
    X(EINVAL,       1001, "invalid argument")                                  \
    X(EUNSUPPORTED, 1002, "not supported")                                     \
    X(ETOOBIG,      1003, "message too large")                                 \
    X(EPROTO,       1004, "protocol error")                                    \
    X(ESTATE,       1005, "not allowed in this state")                         \
    X(ESTALE,       1006, "unknown or stale id")                               \
    X(ECONNECT,     1007, "cannot connect")                                    \
    X(ETIMEDOUT,    1008, "timed out")                                         \
    X(EBACKEND,     1009, "debugger error")                                    \
    X(ECLOSED,      1010, "debugger connection closed")                        \
    X(ENOMEM,       1011, "out of memory")                                     \
    X(ENOTSTOPPED,  1012, "notStopped")                                        \
    X(ECANCELLED,   1013, "cancelled")                                         \
    X(ECONFIG,      1014, "invalid configuration")

enum dap_err {
    DAP_OK = 0,
    DAP_PENDING = 1, /* not an error: completes later in a callback */
#define X(name, id, msg) DAP_##name = -(id),
    DAP_ERR_MAP(X)
#undef X
};

/* Human-readable detail for one failure; `code` is a DAP_E* or -errno. */
struct dap_error {
    int code;
    char msg[1024];
};

/* Static description of `code` (DAP_E*, -errno or 0).  Never NULL. */
const char *dap_strerror(int code);
/* "EINVAL"-style name for logs and tests.  Never NULL. */
const char *dap_err_name(int code);
/* Stable ErrorMessage.id for a DAP error response (1000 for -errno). */
int dap_err_id(int code);

/* Fill `err` (may be NULL) and return `code`, so callers can write
 * `return dap_error_set(err, DAP_EINVAL, "...", ...);`. */
int dap_error_set(struct dap_error *err, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
/* Prefix context to an existing message: "ctx: old message". */
int dap_error_prefix(struct dap_error *err, const char *fmt, ...)
    DAP_PRINTF(2, 3);

#endif
