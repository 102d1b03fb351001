/* get.h - one HTTP GET on the loop through libcurl, for a caller without
 * a client of its own: the Node inspector's /json/list (adapters/node).
 *
 * Design notes.
 * - Each GET has its own net_curlm (a multi and a timer): it is one
 *   request per attach, so there is nothing to share, and the GET can be
 *   cancelled at any point by dropping the whole multi.
 * - Through a tunnel, libcurl connects to a unix socket (`unix_path`: the
 *   Node backend's private socket, which hands the connection to the
 *   tunnel); host:port then only name the peer in the URL, the Host header
 *   and the messages.  (Debian's libcurl 7.88 cannot be handed a connected
 *   socket: CURL_SOCKOPT_ALREADY_CONNECTED still calls connect(), fixed in
 *   8.0, curl/curl#10626.)
 * - No proxy (the environment's is ignored): the peer is the debuggee's
 *   inspector, reached directly or through kdap's own tunnel.
 * - The callback runs from the loop, outside libcurl's own stack, so it
 *   may start the next step (a WebSocket) or free its owner's state.
 */
#ifndef KDAP_NET_GET_H
#define KDAP_NET_GET_H

#include <stddef.h>

#include <uv.h>

#include "../dap/err.h"

typedef struct net_get net_get;

/* status 0 with the HTTP status code and the body (borrowed,
 * NUL-terminated), or DAP_ETIMEDOUT / DAP_ECONNECT / DAP_ETOOBIG /
 * DAP_ENOMEM with detail in err. */
typedef void net_get_cb(void *data, int status, int http_status,
                        const char *body, size_t len,
                        const struct dap_error *err);

/* GET http://host:port/path with the given Host header (NULL =
 * "host:port"), over TCP or, with unix_path, over that unix socket.
 * Bounded by timeout_ms (0 = 5 s) and a 16 MiB body.  Returns 0 (cb runs
 * once, from the loop) or DAP_ENOMEM.  *out may be NULL when the caller
 * never cancels. */
int net_get_start(uv_loop_t *loop, const char *host, int port,
                  const char *unix_path, const char *path,
                  const char *host_header, unsigned timeout_ms, net_get_cb *cb,
                  void *data, net_get **out) DAP_WUR;
/* Cancel: the callback does not run.  NULL is a no-op; not from inside
 * the callback (the GET is finished then). */
void net_get_cancel(net_get *g);

#endif
