/* dial.c - see dial.h: uv_getaddrinfo, then uv_tcp_connect; the struct
 * lives until the last of its requests has called back. */
#include "dial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_dial {
    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    uv_tcp_t *tcp;
    net_dial_cb *cb;
    void *data;
    int resolving; /* gai in flight */
    int cancelled; /* no callback any more */
};

static void finish(net_dial *d, int status, enum net_dial_step step)
{
    if (!d->cancelled)
        d->cb(d->data, status, step);
    free(d);
}

static void connected(uv_connect_t *c, int status)
{
    net_dial *d = c->data;

    if (status == 0 && !d->cancelled)
        uv_tcp_nodelay(d->tcp, 1);
    finish(d, status, NET_DIAL_CONNECT);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    net_dial *d = req->data;
    int rc;

    d->resolving = 0;
    if (d->cancelled || status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        finish(d, status < 0 ? status : UV_EAI_NONAME, NET_DIAL_RESOLVE);
        return;
    }
    rc = uv_tcp_connect(&d->conn, d->tcp, res->ai_addr, connected);
    uv_freeaddrinfo(res);
    if (rc < 0)
        finish(d, rc, NET_DIAL_CONNECT);
}

int net_dial_start(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port,
                   net_dial_cb *cb, void *data, net_dial **out)
{
    struct sockaddr_storage ss;
    struct addrinfo hints;
    char portstr[16];
    net_dial *d;
    int rc;

    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return UV_ENOMEM;
    d->tcp = tcp;
    d->cb = cb;
    d->data = data;
    d->gai.data = d;
    d->conn.data = d;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
        rc = uv_tcp_connect(&d->conn, tcp, (struct sockaddr *)&ss, connected);
    } else {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(portstr, sizeof(portstr), "%d", port);
        rc = uv_getaddrinfo(loop, &d->gai, resolved, host, portstr, &hints);
        d->resolving = rc == 0;
    }
    if (rc < 0) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void net_dial_cancel(net_dial *d)
{
    if (d == NULL)
        return;
    d->cancelled = 1;
    /* A resolve still queued ends now with UV_ECANCELED; one running, or a
     * connect, ends when it ends (the caller closing tcp ends a connect). */
    if (d->resolving)
        uv_cancel((uv_req_t *)&d->gai);
}
