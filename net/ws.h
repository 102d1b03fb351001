/* ws.h - kdap's one WebSocket client: RFC 6455 over a libuv stream with
 * OpenSSL memory BIOs, on kdap's loop.  It carries the Kubernetes tunnels
 * (kube/portfwd, kube/exec: wss:// to the API server, through a proxy when
 * one applies) and the Node inspector's CDP (adapters/node: plain ws:// to
 * 127.0.0.1, or over one end of a socketpair kdap tunnels).
 *
 * Why not libwebsockets (the design card's choice)?  The tunnels need real
 * back-pressure: when the local reader is slow, kdap must stop reading the
 * API server's socket.  With Debian's lws 4.1.6 on a foreign libuv loop and
 * TLS, pausing with lws_rx_flow_control() and resuming stalls the
 * connection (data left in lws's buffers is never serviced, and the poll
 * watcher spins; fixed upstream only in 4.3), and lws 4.1 speaks to no
 * HTTP or SOCKS proxy.  Here pausing is uv_read_stop() and resuming
 * processes what is already decrypted first, so a slow reader simply
 * closes the TCP window toward the API server.  README ("Why one
 * WebSocket client") has the figures.
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
 * - Callbacks run from the loop; a net_ws may be closed inside them but
 *   freed only outside (handles then finish closing on the loop).
 */
#ifndef KDAP_NET_WS_H
#define KDAP_NET_WS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "../dap/err.h"
#include "proxy.h"

typedef struct net_ws net_ws;

struct net_ws_options {
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
    /* Keepalive, once open: a ping after ping_ms with nothing received,
     * and the connection declared dead (closed_fn, DAP_ETIMEDOUT) after
     * dead_ms with nothing received, pongs included (> ping_ms).  An idle
     * tunnel behind a load balancer or NAT otherwise dies silently.  While
     * the caller pauses receiving, nothing is declared.  0 = no pings: the
     * Node inspector treats a ping frame as an error and hangs up. */
    unsigned ping_ms, dead_ms;
};

struct net_ws_callbacks {
    /* Upgraded; subprotocol is the one the server chose ("" = none). */
    void (*open_fn)(void *data, net_ws *w, const char *subprotocol);
    /* One whole message (borrowed). */
    void (*message_fn)(void *data, net_ws *w, const uint8_t *buf,
                       size_t len, int binary);
    /* Queued output fell to the drain mark (see net_ws_set_drain). */
    void (*drain_fn)(void *data, net_ws *w);
    /* The connection ended; runs once.  status 0: closed as asked;
     * DAP_ECLOSED: the server closed; else why.  http_status is the
     * answer's status when the upgrade was refused (body = its start,
     * borrowed), else 0 and NULL. */
    void (*closed_fn)(void *data, net_ws *w, int status, int http_status,
                      const char *body, const struct dap_error *err);
    void *data;
};

int net_ws_new(uv_loop_t *loop, const struct net_ws_options *o,
                 const struct net_ws_callbacks *cb, net_ws **out,
                 struct dap_error *err) DAP_WUR;
/* Queue one message (copied) as a single frame; may be called before the
 * upgrade completes.  Returns 0, DAP_ECLOSED or DAP_ENOMEM. */
int net_ws_send(net_ws *w, const void *buf, size_t len, int binary)
    DAP_WUR;
/* Same, with one channel byte in front of the payload (no extra copy). */
int net_ws_send_chan(net_ws *w, uint8_t channel, const void *buf,
                       size_t len) DAP_WUR;
/* Bytes queued for the network and not yet written. */
size_t net_ws_queued(const net_ws *w);
/* drain_fn runs when the queue falls to at most `low` bytes. */
void net_ws_set_drain(net_ws *w, size_t low);
/* Stop (1) / resume (0) receiving: stops reading the socket. */
void net_ws_pause(net_ws *w, int pause);
/* Send a close frame after the queue and end; closed_fn follows with 0.
 * Safe in callbacks and more than once. */
void net_ws_close(net_ws *w);
/* Release; no callback afterwards.  Not from inside its own callbacks.
 * NULL is a no-op. */
void net_ws_free(net_ws *w);

/* ---- pure parts (unit-tested, fuzzed through fuzz_wsframe) ------------ */

/* One parsed frame header. */
struct net_ws_frame {
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
int net_ws_frame_parse(const uint8_t *buf, size_t len,
                         struct net_ws_frame *f) DAP_WUR;
/* Write a client frame header (masked with `mask`) for `len` payload
 * bytes; returns its size (at most 14). */
size_t net_ws_frame_header(uint8_t *out, int opcode, uint64_t len,
                             const uint8_t mask[4]);
/* Sec-WebSocket-Accept for a key (28 chars + NUL into out). */
void net_ws_accept_key(const char *key, char out[29]);

#endif
