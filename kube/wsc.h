/* wsc.h - a streaming WebSocket client for the Kubernetes tunnels
 * (port-forward, exec): RFC 6455 over a libuv TCP connection with OpenSSL
 * memory BIOs, on kdap's loop.
 *
 * Why not kube/ws (libwebsockets)?  The tunnels need real back-pressure:
 * when the local reader is slow, kdap must stop reading the API server's
 * socket.  With lws 4.1.6 on a foreign libuv loop and TLS, pausing with
 * lws_rx_flow_control() and resuming stalls the connection (data left in
 * lws's buffers is never serviced, and the poll watcher spins; fixed
 * upstream only in 4.3).  Here pausing is uv_read_stop() and resuming
 * processes what is already decrypted first, so a slow reader simply
 * closes the TCP window toward the API server.  kube/ws stays the client
 * for the Node inspector.
 *
 * Design notes.
 * - TLS: the CA, client certificate and key come from memory (PEM); the
 *   server name (tls-server-name or the host) is used for SNI and checked
 *   with SSL_set1_host / the IP address; ALPN offers only http/1.1, which
 *   WebSocket upgrades need.
 * - The upgrade answer is checked (101, Sec-WebSocket-Accept, one of our
 *   subprotocols).  Any other answer ends with the HTTP status and the
 *   first part of its body, so callers can show the API server's Status.
 * - Through a proxy (proxy.h), the TCP connection goes to the proxy, and
 *   CONNECT (HTTP) or the SOCKS5 exchange comes before TLS with the API
 *   server, which then runs inside that tunnel.
 * - Every message goes out as one unfragmented, masked frame.  Incoming
 *   fragments are reassembled up to max_message; pings are answered.
 * - Callbacks run from the loop; a kube_wsc may be closed inside them but
 *   freed only outside (handles then finish closing on the loop).
 */
#ifndef KDAP_KUBE_WSC_H
#define KDAP_KUBE_WSC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "../dap/err.h"
#include "../net/proxy.h"

typedef struct kube_wsc kube_wsc;

struct kube_wsc_options {
    const char *host;          /* address to connect to */
    int port;
    const char *path;          /* with the query */
    const char *server_name;   /* Host header, SNI and certificate name;
                                  NULL = host */
    const char *host_header;   /* the Host header as is; NULL = from
                                  server_name and port */
    int use_fd;                /* no connect: use `fd`, a connected stream
                                  socket (taken over, also on failure);
                                  host and port then name the peer */
    int fd;
    const char *subprotocols;  /* "a, b" offered, or NULL */
    const char *const *headers; /* extra "Name: value" lines, NULL-ended;
                                   may hold credentials: never logged */
    int tls;
    int insecure;              /* do not verify the server */
    const void *ca_pem, *cert_pem, *key_pem;
    size_t ca_len, cert_len, key_len;
    const struct net_proxy *proxy; /* http:// or socks5:// proxy to go
                                       through (copied), or NULL */
    size_t max_message;        /* 0 = 16 MiB */
    unsigned timeout_ms;       /* connect + TLS + upgrade; 0 = 15 s */
};

struct kube_wsc_callbacks {
    /* Upgraded; subprotocol is the one the server chose ("" = none). */
    void (*open_fn)(void *data, kube_wsc *w, const char *subprotocol);
    /* One whole message (borrowed). */
    void (*message_fn)(void *data, kube_wsc *w, const uint8_t *buf,
                       size_t len, int binary);
    /* Queued output fell to the drain mark (see kube_wsc_set_drain). */
    void (*drain_fn)(void *data, kube_wsc *w);
    /* The connection ended; runs once.  status 0: closed as asked;
     * DAP_ECLOSED: the server closed; else why.  http_status is the
     * answer's status when the upgrade was refused (body = its start,
     * borrowed), else 0 and NULL. */
    void (*closed_fn)(void *data, kube_wsc *w, int status, int http_status,
                      const char *body, const struct dap_error *err);
    void *data;
};

int kube_wsc_new(uv_loop_t *loop, const struct kube_wsc_options *o,
                 const struct kube_wsc_callbacks *cb, kube_wsc **out,
                 struct dap_error *err) DAP_WUR;
/* Queue one message (copied) as a single frame; may be called before the
 * upgrade completes.  Returns 0, DAP_ECLOSED or DAP_ENOMEM. */
int kube_wsc_send(kube_wsc *w, const void *buf, size_t len, int binary)
    DAP_WUR;
/* Same, with one channel byte in front of the payload (no extra copy). */
int kube_wsc_send_chan(kube_wsc *w, uint8_t channel, const void *buf,
                       size_t len) DAP_WUR;
/* Bytes queued for the network and not yet written. */
size_t kube_wsc_queued(const kube_wsc *w);
/* drain_fn runs when the queue falls to at most `low` bytes. */
void kube_wsc_set_drain(kube_wsc *w, size_t low);
/* Stop (1) / resume (0) receiving: stops reading the socket. */
void kube_wsc_pause(kube_wsc *w, int pause);
/* Send a close frame after the queue and end; closed_fn follows with 0.
 * Safe in callbacks and more than once. */
void kube_wsc_close(kube_wsc *w);
/* Release; no callback afterwards.  Not from inside its own callbacks.
 * NULL is a no-op. */
void kube_wsc_free(kube_wsc *w);

/* ---- pure parts (unit-tested, fuzzed through fuzz_wsframe) ------------ */

/* One parsed frame header. */
struct kube_wsc_frame {
    int fin;
    int opcode;
    int masked;
    uint8_t mask[4];
    uint64_t len;      /* payload length */
    size_t header_len; /* bytes before the payload */
};
/* Parse a frame header at buf.  Returns 1 when complete (f filled), 0 when
 * more bytes are needed, DAP_EPROTO when invalid (reserved bits, bad
 * opcode, control frame too long or fragmented). */
int kube_wsc_frame_parse(const uint8_t *buf, size_t len,
                         struct kube_wsc_frame *f) DAP_WUR;
/* Write a client frame header (masked with `mask`) for `len` payload
 * bytes; returns its size (at most 14). */
size_t kube_wsc_frame_header(uint8_t *out, int opcode, uint64_t len,
                             const uint8_t mask[4]);
/* Sec-WebSocket-Accept for a key (28 chars + NUL into out). */
void kube_wsc_accept_key(const char *key, char out[29]);

#endif
