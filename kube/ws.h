/* ws.h - a small WebSocket client on libwebsockets, on kdap's libuv loop,
 * plus a minimal HTTP/1.0 GET over a plain libuv TCP connection.
 *
 * Design notes.
 * - One lws context per libuv loop (LWS_SERVER_OPTION_LIBUV with
 *   foreign_loops), created by the first kube_ws_new() and shared by every
 *   later connection on that loop.  Its own uv handles are unreferenced, so
 *   an idle context does not keep the loop running; kube_ws_shutdown() (or
 *   an atexit handler) destroys it in the stages lws 4.1 needs on a
 *   foreign loop, so that every handle is closed before exit.
 * - Each TLS connection gets its own vhost in that context, because lws
 *   keeps the client CA, certificate and key per vhost; plain connections
 *   share the context's default vhost.
 * - Messages go out as single unfragmented frames, queued and written on
 *   LWS_CALLBACK_CLIENT_WRITEABLE with LWS_PRE bytes of headroom.  No pings
 *   (the connection validity policy is off) and no extensions (so no
 *   permessage-deflate): Node's inspector drops a connection that sends
 *   either.  Received fragments are reassembled into whole messages, up to
 *   `max_message` bytes (larger is an error and closes the connection).
 * - Callbacks run from the loop.  A kube_ws may be closed from inside its
 *   callbacks (kube_ws_close), but freed only outside them.
 */
#ifndef KDAP_KUBE_WS_H
#define KDAP_KUBE_WS_H

#include <stddef.h>
#include <uv.h>

#include "../dap/err.h"

typedef struct kube_ws kube_ws;

struct kube_ws_options {
    const char *host; /* address to connect to (IP literal or name) */
    int port;
    const char *path;           /* "/uuid", with query if any */
    const char *host_header;    /* Host: value; NULL = "host:port" */
    const char *origin;         /* Origin: value; NULL = none */
    const char *subprotocol;    /* Sec-WebSocket-Protocol, NULL = none */
    const char *const *headers; /* extra "Name: value" lines, NULL-ended */
    int tls;                    /* wss:// */
    int insecure;               /* TLS without verifying the server */
    const char *ca_file, *cert_file, *key_file; /* PEM files, or NULL */
    const void *ca_mem, *cert_mem, *key_mem;    /* PEM in memory, or NULL */
    size_t ca_mem_len, cert_mem_len, key_mem_len;
    size_t max_message;          /* 0 = 64 MiB */
    unsigned connect_timeout_ms; /* 0 = 10 s */
    const char *alpn;            /* TLS ALPN list, e.g. "http/1.1" (WebSocket
                                    upgrades need HTTP/1.1); NULL = lws default */
};

struct kube_ws_callbacks {
    /* The handshake completed. */
    void (*open_fn)(void *data, kube_ws *ws);
    /* One whole message (borrowed, NUL-terminated for convenience). */
    void (*message_fn)(void *data, kube_ws *ws, const char *buf, size_t len,
                       int binary);
    /* The connection failed or ended; runs once.  status 0 = orderly close
     * that we asked for, else why, with detail in err. */
    void (*closed_fn)(void *data, kube_ws *ws, int status,
                      const struct dap_error *err);
    void *data;
};

/* Start connecting.  Returns 0 (open_fn or closed_fn follows, from the
 * loop) or an error with detail.  Strings in `o` are copied. */
int kube_ws_new(uv_loop_t *loop, const struct kube_ws_options *o,
                const struct kube_ws_callbacks *cb, kube_ws **out,
                struct dap_error *err) DAP_WUR;
/* Queue one message (copied).  Returns 0, DAP_ECLOSED or DAP_ENOMEM.  May
 * be called before the connection is open: it goes out after the
 * handshake. */
int kube_ws_send(kube_ws *ws, const void *buf, size_t len, int binary) DAP_WUR;
/* Bytes queued and not yet written. */
size_t kube_ws_queued(const kube_ws *ws);
/* Close after the queue is written; closed_fn follows with status 0.  Safe
 * inside callbacks and more than once. */
void kube_ws_close(kube_ws *ws);
/* Release; no callback runs afterwards.  NULL is a no-op.  Not from inside
 * this connection's own callbacks. */
void kube_ws_free(kube_ws *ws);

/* ---- flow control (added for kube/portfwd and kube/exec) ------------- */

/* The subprotocol the server chose ("" when none), valid once open_fn has
 * run; borrowed. */
const char *kube_ws_subprotocol(const kube_ws *ws);
/* Stop (pause = 1) or resume (0) reading from the connection: while
 * paused, message_fn does not run and TCP pushes back on the server.
 * Known problem: with lws 4.1.6 on the libuv loop and TLS, a resumed
 * connection can stall (data left in lws's buffers is not serviced; fixed
 * upstream in 4.3.3), so kube's tunnels use kube/wsc.h instead. */
void kube_ws_pause_rx(kube_ws *ws, int pause);
/* Call drain_fn(data, ws) from the loop each time a write leaves at most
 * `low` bytes queued (for senders that stop feeding above a high-water
 * mark).  drain_fn NULL turns it off. */
void kube_ws_set_drain_fn(kube_ws *ws,
                          void (*drain_fn)(void *data, kube_ws *ws),
                          size_t low);

/* Tear down the loop's lws context once no kube_ws is left: completes from
 * the loop (its timer keeps the loop running until lws has closed all its
 * handles).  Returns 0, or DAP_ESTATE while connections remain.  Call it
 * once, at the end: a context is not re-created safely on the same loop
 * (see ws.c).  If nobody calls it, an atexit handler does the same after
 * main() returns. */
int kube_ws_shutdown(uv_loop_t *loop);

/* ---- HTTP GET ---------------------------------------------------------- */

typedef struct kube_ws_get kube_ws_get;

/* status: 0 with the HTTP status code and the body (borrowed,
 * NUL-terminated), or a negative error with detail. */
typedef void kube_ws_get_cb(void *data, int status, int http_status,
                            const char *body, size_t len,
                            const struct dap_error *err);

/* GET http://host:port/path with the given Host header (NULL =
 * "host:port"); with `fd` >= 0 over that connected socket instead
 * (taken over, also on failure; host:port then only names the peer), reading until the peer closes or Content-Length is met.
 * One request per connection (HTTP/1.0 style), bounded by timeout_ms and a
 * 16 MiB body limit.  The callback runs once, from the loop.  *out may be
 * NULL when the caller never cancels. */
int kube_ws_get_start(uv_loop_t *loop, const char *host, int port, int fd,
                      const char *path, const char *host_header,
                      unsigned timeout_ms, kube_ws_get_cb *cb, void *data,
                      kube_ws_get **out) DAP_WUR;
/* Cancel: the callback does not run.  NULL is a no-op; not from inside the
 * callback (the request is already finished then). */
void kube_ws_get_cancel(kube_ws_get *g);

#endif
