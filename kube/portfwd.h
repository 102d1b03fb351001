/* portfwd.h - Kubernetes port-forward over WebSocket (v4.channel.k8s.io),
 * on kdap's loop.
 *
 * Design notes.
 * - kube_pf_conn is one tunnel: ONE WebSocket to pods/NAME/portforward with
 *   ONE port = one TCP connection inside the pod (docs/protocols.md §1.3).  It is
 *   a byte pipe with callbacks, so kdap itself can speak through it
 *   (attach) and kube_portfwd can glue it to accepted TCP connections.
 * - Writes are cut into messages of at most 32 KiB, each one unfragmented
 *   WebSocket frame with the channel byte in front.  The port prefixes the
 *   server sends first are checked (kube_pf_state in chan.h); text on the
 *   error channel ends the tunnel with that text as the error.
 * - Back-pressure both ways: kube_pf_conn_queued() tells a writer how much
 *   is waiting for the WebSocket (stop feeding above a high-water mark,
 *   resume on drain_fn); kube_pf_conn_pause() stops reading the WebSocket
 *   when the local side is slow, so the kernel's TCP window pushes back on
 *   the API server instead of kdap buffering.
 * - When the WebSocket handshake fails, a REST GET of the pod finds out why
 *   (pod missing, not running, forbidden) before closed_fn reports it.
 */
#ifndef KDAP_KUBE_PORTFWD_H
#define KDAP_KUBE_PORTFWD_H

#include <stddef.h>
#include <stdint.h>

#include "../dap/err.h"
#include "client.h"

typedef struct kube_pf_conn kube_pf_conn;

struct kube_pf_callbacks {
    /* The WebSocket is open (data may flow).  Optional. */
    void (*open_fn)(void *data, kube_pf_conn *pc);
    /* Bytes from the pod (borrowed, valid during the call). */
    void (*data_fn)(void *data, kube_pf_conn *pc, const char *buf,
                    size_t len);
    /* The queue fell to at most KUBE_PF_LOW_WATER bytes.  Optional. */
    void (*drain_fn)(void *data, kube_pf_conn *pc);
    /* The tunnel ended; runs once.  status 0: closed as asked, or the pod
     * side closed the connection; else why, with detail. */
    void (*closed_fn)(void *data, kube_pf_conn *pc, int status,
                      const struct dap_error *err);
    void *data;
};

#define KUBE_PF_HIGH_WATER (1u << 20)
#define KUBE_PF_LOW_WATER (256u << 10)

/* Open a tunnel to `port` of pod ns/name.  Strings are copied; the client
 * is borrowed and must outlive the tunnel.  Returns 0 (callbacks follow
 * from the loop) or an error with detail. */
int kube_pf_conn_new(kube_client *c, const char *ns, const char *pod,
                     uint16_t port, const struct kube_pf_callbacks *cb,
                     kube_pf_conn **out, struct dap_error *err) DAP_WUR;
/* Queue bytes for the pod (copied).  Returns 0 or DAP_ECLOSED. */
int kube_pf_conn_write(kube_pf_conn *pc, const void *buf, size_t len)
    DAP_WUR;
/* Bytes queued and not yet written. */
size_t kube_pf_conn_queued(const kube_pf_conn *pc);
/* Stop (1) or resume (0) delivering data_fn. */
void kube_pf_conn_pause(kube_pf_conn *pc, int pause);
/* Close once the queue is written; closed_fn follows.  Safe in callbacks
 * and more than once. */
void kube_pf_conn_close(kube_pf_conn *pc);
/* Release; no callback afterwards.  Not from inside its own callbacks.
 * NULL is a no-op. */
void kube_pf_conn_free(kube_pf_conn *pc);

/* ---- local listener (kubectl port-forward) ----------------------------- */

typedef struct kube_portfwd kube_portfwd;

struct kube_portfwd_opts {
    const char *ns, *pod;
    const char *address;  /* listen address, NULL = 127.0.0.1 */
    int local_port;       /* 0 = any free port */
    uint16_t remote_port;
    /* No listener: only the sockets given to kube_portfwd_serve() are
     * tunnelled, so nothing else on the machine can use the developer's
     * credentials through kdap (a listener on 127.0.0.1 serves every local
     * process). */
    int no_listener;
    /* Sent ahead of each connection's own bytes (a secret the pod's end
     * checks), or NULL.  Copied, and wiped when freed. */
    const char *first;
};

/* Per-connection events, for the user's terminal or the log. */
struct kube_portfwd_callbacks {
    /* A tunnel failed or the pod side ended with an error. */
    void (*conn_error_fn)(void *data, const struct dap_error *err);
    void *data;
};

/* Listen now; each accepted connection gets its own tunnel.  Returns 0 or
 * an error (address in use...) with detail. */
int kube_portfwd_new(kube_client *c, const struct kube_portfwd_opts *o,
                     const struct kube_portfwd_callbacks *cb,
                     kube_portfwd **out, struct dap_error *err) DAP_WUR;
/* Tunnel the connected stream socket `fd` (a socketpair end, a unix
 * connection kdap accepted): one new port-forward for it, closed when
 * either side ends.  Takes `fd` over, also on failure.  Returns 0 or an
 * error with detail. */
int kube_portfwd_serve(kube_portfwd *pf, int fd, struct dap_error *err)
    DAP_WUR;
/* The bound local port (0 without a listener). */
int kube_portfwd_port(const kube_portfwd *pf);
/* Connections currently open. */
int kube_portfwd_active(const kube_portfwd *pf);
/* Stop listening and close every connection; handles finish closing on
 * the loop.  NULL is a no-op. */
void kube_portfwd_free(kube_portfwd *pf);

#endif
