/* dial.h - the one connect helper: resolve a name (on libuv's thread pool;
 * an IP literal needs none) and connect a caller's uv_tcp_t, on the loop.
 * net/ws (the tunnels, the Node inspector) and adapters/dapconn (delve)
 * connect through it; libcurl resolves and connects by itself.
 *
 * Design notes.
 * - The caller owns the uv_tcp_t (initialised, not connected) and gets it
 *   back connected, TCP_NODELAY set as on every socket kdap owns: a DAP
 *   message or a tunnel's small write must not wait for a delayed ACK.
 * - A net_dial owns only its requests and frees itself when they end, so
 *   the caller may cancel at any point and close its handle at once.
 * - The first address the resolver gives is the one tried, as every
 *   caller did before this was shared.
 */
#ifndef KDAP_NET_DIAL_H
#define KDAP_NET_DIAL_H

#include <uv.h>

#include "../dap/err.h"

typedef struct net_dial net_dial;

enum net_dial_step {
    NET_DIAL_RESOLVE = 1, /* the name did not resolve */
    NET_DIAL_CONNECT,     /* the connection was refused or failed */
};

/* The dial ended: status 0 (`tcp` is connected) or a libuv error and the
 * step it failed in.  Runs once, from the loop, never from inside
 * net_dial_start; the net_dial is gone when it returns. */
typedef void net_dial_cb(void *data, int status, enum net_dial_step step);

/* Connect `tcp` to host:port.  Returns 0 (cb follows) or a libuv error
 * (nothing started, no callback).  *out is for net_dial_cancel. */
int net_dial_start(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port,
                   net_dial_cb *cb, void *data, net_dial **out) DAP_WUR;
/* No callback after this; the caller closes `tcp` next (which ends a
 * connect in flight).  NULL is a no-op; not after the callback ran. */
void net_dial_cancel(net_dial *d);

#endif
