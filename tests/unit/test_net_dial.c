/* test_net_dial.c - net/dial.c on a real loop: an IP literal and a name
 * (localhost) connect, TCP_NODELAY set; a port nobody listens on fails in
 * the connect step; a name that cannot resolve fails in the resolve step;
 * a dial cancelled while resolving or connecting never calls back; and the
 * loop ends with every handle closed and nothing leaked. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/dial.h"
#include "tests/test.h"

static uv_loop_t loop;
static uv_tcp_t server;
static int port, closed_port, accepted;

struct
try {
    uv_tcp_t tcp;
    int status;
    int step;
    int calls;
    int nodelay;
};

static void on_accept(uv_stream_t *s, int status)
{
    uv_tcp_t *c = malloc(sizeof(*c));

    ASSERT_OK(status);
    uv_tcp_init(&loop, c);
    ASSERT_OK(uv_accept(s, (uv_stream_t *)c));
    accepted++;
    uv_close((uv_handle_t *)c, (uv_close_cb)free);
}

static void dialled(void *data, int status, enum net_dial_step step)
{
    struct try *t = data;
    uv_os_fd_t fd;
    socklen_t len = sizeof(t->nodelay);

    t->calls++;
    t->status = status;
    t->step = step;
    if (status == 0 && uv_fileno((uv_handle_t *)&t->tcp, &fd) == 0)
        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &t->nodelay, &len);
    uv_close((uv_handle_t *)&t->tcp, NULL);
}

static void start(struct try *t, const char *host, int p, net_dial **d)
{
    net_dial *dummy;

    memset(t, 0, sizeof(*t));
    t->status = 99;
    uv_tcp_init(&loop, &t->tcp);
    ASSERT_OK(net_dial_start(&loop, &t->tcp, host, p, dialled, t,
                             d != NULL ? d : &dummy));
}

static int bound_port(uv_tcp_t *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int main(void)
{
    struct sockaddr_in addr;
    struct try lit, name, refused, bad, c1, c2;
    net_dial *d1, *d2;
    uv_tcp_t probe;

    ASSERT_OK(uv_loop_init(&loop));
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&loop, &server);
    ASSERT_OK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0));
    ASSERT_OK(uv_listen((uv_stream_t *)&server, 8, on_accept));
    port = bound_port(&server);
    uv_tcp_init(&loop, &probe);
    ASSERT_OK(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0));
    closed_port = bound_port(&probe);
    uv_close((uv_handle_t *)&probe, NULL);

    start(&lit, "127.0.0.1", port, NULL);
    start(&name, "localhost", port, NULL);
    start(&refused, "127.0.0.1", closed_port, NULL);
    start(&bad, "no-such-host.invalid", port, NULL);
    /* Cancelled while resolving, and while connecting: the caller closes
     * its handle right away. */
    start(&c1, "localhost", port, &d1);
    net_dial_cancel(d1);
    uv_close((uv_handle_t *)&c1.tcp, NULL);
    start(&c2, "127.0.0.1", port, &d2);
    net_dial_cancel(d2);
    uv_close((uv_handle_t *)&c2.tcp, NULL);

    while (lit.calls + name.calls + refused.calls + bad.calls < 4)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&server, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);

    ASSERT_EQ(lit.calls, 1);
    ASSERT_EQ(lit.status, 0);
    ASSERT(lit.nodelay);
    ASSERT_EQ(name.status, 0);
    ASSERT_EQ(refused.status, UV_ECONNREFUSED);
    ASSERT_EQ(refused.step, NET_DIAL_CONNECT);
    ASSERT(bad.status < 0);
    ASSERT_EQ(bad.step, NET_DIAL_RESOLVE);
    ASSERT_EQ(c1.calls, 0);
    ASSERT_EQ(c2.calls, 0);
    ASSERT_OK(uv_loop_close(&loop));
    printf("test_net_dial: ok (%d accepted)\n", accepted);
    return 0;
}
