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
/* Close the connection; pending requests fail with DAP_ECLOSED and
 * closed_fn runs once, from the loop. */
void adapter_dapconn_close(adapter_dapconn *c);
/* Free; no callbacks run afterwards.  NULL is a no-op. */
void adapter_dapconn_free(adapter_dapconn *c);

#endif
