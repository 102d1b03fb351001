/* client_int.h - shared between kube/ files: WebSocket setup for a
 * kube_client (port-forward, exec). */
#ifndef KDAP_KUBE_CLIENT_INT_H
#define KDAP_KUBE_CLIENT_INT_H

#include "auth.h"
#include "client.h"
#include "../net/ws.h"

/* The parts of the server URL. */
struct kube__server {
    char host[256];   /* without brackets */
    int port;
    char prefix[256]; /* path prefix, "" or "/x" */
    int tls;
};
int kube__server_parse(const char *server, struct kube__server *s);

/* The tunnels' WebSocket keepalive (net_ws_options ping_ms, dead_ms):
 * a ping after 20 s with nothing received, dead after 30 s.  The
 * environment's KDAP_TUNNEL_PING and KDAP_TUNNEL_DEAD (seconds) override
 * them, for tests that cannot wait that long. */
#define KUBE_TUNNEL_PING_MS 20000
#define KUBE_TUNNEL_DEAD_MS 30000

/* Storage behind the net_ws_options built by kube__ws_options (the header
 * lines hold the bearer token: wiped by kube__ws_storage_cleanup). */
struct kube__ws_storage {
    struct kube__server srv;
    char *path;
    char *headers[8];
    const char *header_ptrs[9];
};

/* Fill `o` to open `path` (under the server's prefix) on the client's API
 * server with credentials `cred` and subprotocol list `subprotocols`
 * (through the cluster's proxy when it has one).  Returns 0 or DAP_ENOMEM /
 * DAP_ECONFIG. */
int kube__ws_options(kube_client *c, const struct kube_cred *cred,
                     const char *path, const char *subprotocols,
                     struct net_ws_options *o, struct kube__ws_storage *st);
void kube__ws_storage_cleanup(struct kube__ws_storage *st);

/* "user U of context C (SOURCE, CREDKIND)" for messages. */
void kube__who(kube_client *c, char *buf, size_t size);

#endif
