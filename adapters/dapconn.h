/* dapconn.h - a DAP client connection to a debugger that speaks DAP over TCP
 * (or over a kdap tunnel's socket).
 *
 * Generic part of every DAP-speaking backend: resolve and connect (bounded by
 * a timeout) or use a tunnel's socket, Content-Length framing in both
 * directions, our own request seq numbers, and the table of pending
 * requests matched by request_seq (the debugger's own `seq` is ignored,
 * since delve sends 0 everywhere).  A
 * request gets exactly one callback: its response, a timeout, or the close.
 */
#ifndef KDAP_DAPCONN_H
#define KDAP_DAPCONN_H

#include <jansson.h>
#include <uv.h>

#include "adapter.h"

typedef struct adapter_dapconn adapter_dapconn;

/* A response from the debugger: status 0 with its whole message `resp`
 * (borrowed; `success` may be false), or a negative status (timed out,
 * closed) with `err`.  Unlike adapter_response_cb this hands over the
 * envelope: a DAP-speaking backend reads it, and adapter__dap_reply()
 * turns it into the session's (status, body, error). */
typedef void adapter_dapconn_response_cb(void *data, int status, json_t *resp,
                                         const struct dap_error *err);

struct adapter_dapconn_callbacks {
    /* Connected (status 0) or failed to (status < 0, detail in err). */
    void (*connected_fn)(void *data, int status, const struct dap_error *err);
    /* An event message (borrowed). */
    void (*event_fn)(void *data, json_t *msg);
    /* The connection ended (EOF, error, or after adapter_dapconn_close). */
    void (*closed_fn)(void *data, int status, const struct dap_error *err);
    void *data;
};

/* Start connecting to HOST:PORT, or with `fd` >= 0 use that connected
 * socket (taken over, also on failure; HOST:PORT then only names the peer
 * in messages).  `what` names the peer in messages ("delve").  Returns 0
 * (completion through connected_fn) or an error. */
int adapter_dapconn_new(uv_loop_t *loop, const char *hostport, int fd,
                        const char *what, unsigned connect_timeout_ms,
                        const struct adapter_dapconn_callbacks *cb,
                        adapter_dapconn **out, struct dap_error *err) DAP_WUR;
/* Send a request (`args` borrowed, may be NULL); `timeout_ms` 0 = default. */
int adapter_dapconn_request(adapter_dapconn *c, const char *command,
                            json_t *args, unsigned timeout_ms,
                            adapter_dapconn_response_cb *cb,
                            void *data) DAP_WUR;
/* The same for an editor's request: the answer goes to `cb` as
 * adapter_dapconn_reply() shapes it. */
int adapter_dapconn_forward(adapter_dapconn *c, const char *command,
                            json_t *args, adapter_response_cb *cb,
                            void *data) DAP_WUR;
/* Hand a debugger's answer (as adapter_dapconn_response_cb has it) to the
 * session as adapter_response_cb wants it: its body, or a refusal
 * (`success` false) as DAP_EBACKEND with the debugger's text (its
 * body.error.format, else its message). */
void adapter_dapconn_reply(adapter_response_cb *cb, void *data, int status,
                           json_t *resp, const struct dap_error *err);
/* For the backends that speak DAP (delve, debugpy): the handshake every
 * one of them does.  adapter_dapconn_open() connects to `hostport` (or
 * through the adapter's tunnel when it has one), then sends initialize
 * (path format, 1-based lines and columns, variable types and paging, no
 * runInTerminal) as `adapter_id`, keeps its capabilities in a->caps and
 * sends attach with `attach_args` (borrowed) and `attach_timeout_ms`, whose
 * response goes to `attach_cb`.  Anything failing before attach is sent
 * (no connection: with `connect_hint` added; initialize refused; closed)
 * goes to `fail_fn` with detail naming `who`; connected_fn of the
 * callbacks is not used.  `h` is the caller's (embedded in the backend's
 * state) and must stay until the connection is freed. */
struct adapter_dapconn_handshake {
    const char *who;          /* "delve": names the debugger in errors */
    const char *adapter_id;   /* initialize's adapterID */
    const char *connect_hint; /* how to make the debugger listen */
    json_t *attach_args;
    unsigned attach_timeout_ms; /* 0: the default */
    adapter_dapconn_response_cb *attach_cb;
    void (*fail_fn)(void *data, int status, const struct dap_error *err);
    void *data;
    adapter *a;            /* set by adapter_dapconn_open */
    adapter_dapconn *conn; /* set by adapter_dapconn_open */
};
/* Returns 0 (what follows goes to `h` and `cb`) or an error, logged. */
int adapter_dapconn_open(adapter *a, const char *hostport,
                         struct adapter_dapconn_handshake *h,
                         const struct adapter_dapconn_callbacks *cb,
                         adapter_dapconn **out) DAP_WUR;
/* 0 when `resp` succeeded; else DAP_EBACKEND with "WHO refused WHAT: ..."
 * (the debugger's body.error.format, else its message) in `err`. */
int adapter_dapconn_refused(json_t *resp, const char *who, const char *what,
                            struct dap_error *err);
/* Close the connection; pending requests fail with DAP_ECLOSED and
 * closed_fn runs once, from the loop. */
void adapter_dapconn_close(adapter_dapconn *c);
/* Free; no callbacks run afterwards.  NULL is a no-op. */
void adapter_dapconn_free(adapter_dapconn *c);

#endif
