/* test_net_ws.c - net/ws.c and net/get.c against a tiny in-process server
 * on the same libuv loop: the WebSocket handshake (Host header,
 * subprotocol, extra headers, no extensions), fragmented messages
 * reassembled, text and binary, client frames unfragmented and no pings
 * unless asked, close from inside a callback; keepalive (pings answered
 * keep a connection open, unanswered ones get it declared dead); the GET through libcurl (Host
 * header, Content-Length on a connection that stays open, connection
 * refused, over a socket handed over as the Node backend's tunnel hands
 * it); and that the loop ends with every handle closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "dap/buf.h"
#include "net/get.h"
#include "net/ws.h"
#include "tests/test.h"

static uv_loop_t loop;
static uv_tcp_t server;
static int port;

struct conn {
    union {
        uv_tcp_t tcp;   /* accepted */
        uv_pipe_t pipe; /* the other end of a socketpair */
    } h;
    dap_buf in;
    int upgraded;
    int frames_seen;
    int closed;
};

static int srv_opcodes[16]; /* client frames seen by opcode */
static char srv_text[256];  /* last text frame payload */
static uint64_t srv_pong_until; /* pings answered until then (loop ms) */

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    dap_buf_cleanup(&c->in);
    free(c);
}

static void wr_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_raw(struct conn *c, const void *p, size_t n)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(n);
    uv_buf_t b;

    memcpy(copy, p, n);
    w->data = copy;
    b = uv_buf_init(copy, (unsigned)n);
    ASSERT_OK(uv_write(w, (uv_stream_t *)&c->h, &b, 1, wr_done));
}

/* One server frame (unmasked, payload < 126). */
static void send_frame(struct conn *c, int fin, int opcode, const char *p,
                       size_t n)
{
    unsigned char hdr[2] = {(unsigned char)((fin ? 0x80 : 0) | opcode),
                            (unsigned char)n};

    send_raw(c, hdr, 2);
    if (n > 0)
        send_raw(c, p, n);
}

static void handshake(struct conn *c)
{
    const char *key = strstr(c->in.data, "Sec-WebSocket-Key: ");
    char keybuf[64], b64[29];
    char resp[512];
    size_t kl;

    ASSERT(key != NULL);
    key += 19;
    kl = strcspn(key, "\r");
    ASSERT(strstr(c->in.data, "GET /ws/path?x=1 HTTP/1.1\r\n") != NULL);
    ASSERT(strstr(c->in.data, "Host: 127.0.0.1:4242\r\n") != NULL);
    ASSERT(strstr(c->in.data, "Sec-WebSocket-Protocol: proto1\r\n") != NULL);
    ASSERT(strstr(c->in.data, "x-test: yes\r\n") != NULL ||
           strstr(c->in.data, "X-Test: yes\r\n") != NULL);
    ASSERT(strstr(c->in.data, "Sec-WebSocket-Extensions") == NULL);
    snprintf(keybuf, sizeof(keybuf), "%.*s", (int)kl, key);
    net_ws_accept_key(keybuf, b64); /* checked on RFC 6455's example in
                                       test_kube_proto */
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
             "Sec-WebSocket-Protocol: proto1\r\n\r\n",
             b64);
    send_raw(c, resp, strlen(resp));
    /* A text message in three fragments, then a binary one. */
    send_frame(c, 0, 1, "hel", 3);
    send_frame(c, 0, 0, "lo ", 3);
    send_frame(c, 1, 0, "world", 5);
    send_frame(c, 1, 2, "\x01\x02", 2);
}

/* Parse masked client frames in c->in. */
static void client_frames(struct conn *c)
{
    for (;;) {
        unsigned char *p = (unsigned char *)c->in.data;
        size_t n, hl = 6;
        unsigned char mask[4];
        char payload[256];

        if (c->in.len < 2)
            return;
        ASSERT(p[1] & 0x80); /* clients mask */
        n = p[1] & 0x7f;
        ASSERT(n < 126);
        if (c->in.len < hl + n)
            return;
        if (getenv("WS_DEBUG"))
            fprintf(stderr, "server: frame %02x %02x len %zu\n", p[0], p[1], n);
        ASSERT(p[0] & 0x80); /* never fragmented */
        srv_opcodes[p[0] & 0x0f]++;
        memcpy(mask, p + 2, 4);
        for (size_t i = 0; i < n; i++)
            payload[i] = (char)(p[hl + i] ^ mask[i % 4]);
        payload[n] = '\0';
        if ((p[0] & 0x0f) == 1) {
            char echo[300];
            snprintf(srv_text, sizeof(srv_text), "%s", payload);
            snprintf(echo, sizeof(echo), "echo:%s", payload);
            send_frame(c, 1, 1, echo, strlen(echo));
        } else if ((p[0] & 0x0f) == 9 && uv_now(&loop) < srv_pong_until) {
            send_frame(c, 1, 10, payload, n);
        } else if ((p[0] & 0x0f) == 8) {
            send_frame(c, 1, 8, "", 0);
            if (!c->closed) {
                c->closed = 1;
                uv_close((uv_handle_t *)&c->h, conn_closed);
            }
            return;
        }
        dap_buf_consume(&c->in, hl + n);
    }
}

static void srv_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char slab[65536];

    (void)h;
    (void)s;
    b->base = slab;
    b->len = sizeof(slab);
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;

    if (n < 0) {
        if (getenv("WS_DEBUG"))
            fprintf(stderr, "server: EOF with %zu bytes pending\n", c->in.len);
        if (!c->closed) {
            c->closed = 1;
            uv_close((uv_handle_t *)&c->h, conn_closed);
        }
        return;
    }
    ASSERT_OK(dap_buf_append(&c->in, b->base, (size_t)n));
    if (!c->upgraded) {
        char *end = c->in.len ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (end == NULL)
            return;
        if (strncmp(c->in.data, "GET /json/list", 14) == 0) {
            static const char r[] = "HTTP/1.0 200 OK\r\nContent-Type: "
                                    "application/json\r\nContent-Length: "
                                    "8\r\n\r\n[\"abc\"]\n";
            ASSERT(strstr(c->in.data, "Host: localhost:9229\r\n") != NULL);
            /* The connection stays open: Content-Length ends the body. */
            send_raw(c, r, sizeof(r) - 1);
            dap_buf_reset(&c->in);
            return;
        }
        handshake(c);
        c->upgraded = 1;
        dap_buf_consume(&c->in, (size_t)(end + 4 - c->in.data));
    }
    client_frames(c);
}

static uv_pipe_t unix_server;
static char sock_path[64];

static void on_unix_conn(uv_stream_t *s, int status)
{
    struct conn *c = calloc(1, sizeof(*c));

    ASSERT_OK(status);
    dap_buf_init(&c->in, 1 << 20);
    uv_pipe_init(&loop, &c->h.pipe, 0);
    c->h.pipe.data = c;
    ASSERT_OK(uv_accept(s, (uv_stream_t *)&c->h));
    ASSERT_OK(uv_read_start((uv_stream_t *)&c->h, srv_alloc, srv_read));
    uv_close((uv_handle_t *)&unix_server, NULL); /* one connection */
    unlink(sock_path);
}

static void on_conn(uv_stream_t *s, int status)
{
    struct conn *c = calloc(1, sizeof(*c));

    ASSERT_OK(status);
    dap_buf_init(&c->in, 1 << 20);
    uv_tcp_init(&loop, &c->h.tcp);
    c->h.tcp.data = c;
    ASSERT_OK(uv_accept(s, (uv_stream_t *)&c->h));
    ASSERT_OK(uv_read_start((uv_stream_t *)&c->h, srv_alloc, srv_read));
}

/* ---- client side ---------------------------------------------------- */

static net_ws *ws;
static int opened, closed_status = 99, msgs;
static char got_text[64], got_echo[64];
static int got_binary;
static uv_timer_t freer;

static void on_open(void *data, net_ws *w, const char *subprotocol)
{
    (void)data;
    opened++;
    ASSERT_STR_EQ(subprotocol, "proto1");
    ASSERT_OK(net_ws_send(w, "ping-me", 7, 0));
}

static void on_message(void *data, net_ws *w, const uint8_t *msg, size_t len,
                       int binary)
{
    const char *buf = (const char *)msg;

    (void)data;
    msgs++;
    if (binary) {
        ASSERT_EQ(len, 2);
        ASSERT(buf[0] == 1 && buf[1] == 2);
        got_binary = 1;
    } else if (strncmp(buf, "echo:", 5) == 0) {
        snprintf(got_echo, sizeof(got_echo), "%.*s", (int)len, buf);
        net_ws_close(w); /* from inside a callback: allowed */
        net_ws_close(w); /* twice: harmless */
    } else {
        snprintf(got_text, sizeof(got_text), "%.*s", (int)len, buf);
    }
}

/* Two GETs end the same way: [0] over TCP, [1] over a unix socket. */
static int get_status[2] = {99, 99}, get_http[2];
static char get_body[2][64];
static int refused_status = 99;

static void start_keepalive(void);
static int ka_started, ka_status = 99, ka_phase1_pings;
static uint64_t ka_t0, ka_took;
static char ka_msg[256];
static uv_timer_t ka_freer;

/* The listener goes once the WebSocket, the TCP GET and then the
 * keepalive connection are done. */
static void maybe_close_server(void)
{
    if (ws != NULL || closed_status == 99 || get_status[0] == 99 ||
        uv_is_closing((uv_handle_t *)&server))
        return;
    if (!ka_started)
        start_keepalive();
    else if (ka_status != 99)
        uv_close((uv_handle_t *)&server, NULL);
}

/* From the loop (never inside a callback of ws): free it, and the timer
 * that ran this. */
static void free_ws(uv_timer_t *t)
{
    net_ws_free(ws);
    ws = NULL;
    uv_close((uv_handle_t *)t, NULL);
    maybe_close_server();
}

/* What the server checks in the upgrade request. */
static void ws_options(struct net_ws_options *o)
{
    static const char *const headers[] = {"X-Test: yes", NULL};

    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = port;
    o->path = "/ws/path?x=1";
    o->host_header = "127.0.0.1:4242";
    o->subprotocols = "proto1";
    o->headers = headers;
}

static void on_closed(void *data, net_ws *w, int status, int http_status,
                      const char *body, const struct dap_error *err)
{
    (void)data;
    (void)w;
    (void)http_status;
    (void)body;
    (void)err;
    closed_status = status;
    /* Never free inside our own callback: from the loop. */
    uv_timer_start(&freer, free_ws, 0, 0);
}

static void on_get(void *data, int status, int http, const char *body,
                   size_t len, const struct dap_error *err)
{
    int i = data != NULL;

    if (status < 0)
        fprintf(stderr, "GET %d: %s\n", i, err->msg);
    get_status[i] = status;
    get_http[i] = http;
    if (body != NULL) {
        ASSERT_EQ(body[len], '\0');
        snprintf(get_body[i], sizeof(get_body[i]), "%.*s", (int)len, body);
    }
    maybe_close_server();
}

static void on_refused(void *data, int status, int http, const char *body,
                       size_t len, const struct dap_error *err)
{
    (void)data;
    (void)http;
    (void)body;
    (void)len;
    refused_status = status;
    ASSERT(strstr(err->msg, "cannot connect") != NULL);
}

/* ---- keepalive: pings answered for 300 ms, then not ------------------ */

static void ka_message(void *data, net_ws *w, const uint8_t *msg, size_t len,
                       int binary)
{
    (void)data, (void)w, (void)msg, (void)len, (void)binary;
}

static void ka_closed(void *data, net_ws *w, int status, int http_status,
                      const char *body, const struct dap_error *err)
{
    (void)data, (void)w, (void)http_status, (void)body;
    ka_status = status;
    ka_took = uv_now(&loop) - ka_t0;
    snprintf(ka_msg, sizeof(ka_msg), "%s", err != NULL ? err->msg : "");
    uv_timer_start(&ka_freer, free_ws, 0, 0);
}

static void start_keepalive(void)
{
    struct net_ws_options o;
    struct net_ws_callbacks cb = {NULL, ka_message, NULL, ka_closed, NULL};
    struct dap_error err;

    ka_started = 1;
    ka_phase1_pings = srv_opcodes[9];
    ws_options(&o);
    o.ping_ms = 40;
    o.dead_ms = 120;
    uv_timer_init(&loop, &ka_freer);
    ka_t0 = uv_now(&loop);
    srv_pong_until = ka_t0 + 300;
    ASSERT_OK(net_ws_new(&loop, &o, &cb, &ws, &err));
}

int main(void)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    struct net_ws_options o;
    struct net_ws_callbacks cb = {on_open, on_message, NULL, on_closed, NULL};
    struct dap_error err;
    net_get *g;
    uv_tcp_t probe;
    int closed_port;

    ASSERT_OK(uv_loop_init(&loop));
    uv_tcp_init(&loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ASSERT_OK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0));
    ASSERT_OK(uv_listen((uv_stream_t *)&server, 8, on_conn));
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(&loop, &freer);

    /* A port nobody listens on: bind, read the port, close. */
    uv_tcp_init(&loop, &probe);
    ASSERT_OK(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0));
    blen = sizeof(bound);
    uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &blen);
    closed_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);

    ASSERT_OK(net_get_start(&loop, "127.0.0.1", port, NULL, "/json/list",
                            "localhost:9229", 3000, on_get, NULL, &g));
    ASSERT_OK(net_get_start(&loop, "127.0.0.1", closed_port, NULL, "/json/list",
                            NULL, 3000, on_refused, NULL, NULL));
    /* A GET over a unix socket, as through the Node backend's tunnel. */
    snprintf(sock_path, sizeof(sock_path), "/tmp/test_net_ws.%d",
             (int)getpid());
    unlink(sock_path);
    uv_pipe_init(&loop, &unix_server, 0);
    ASSERT_OK(uv_pipe_bind(&unix_server, sock_path));
    ASSERT_OK(uv_listen((uv_stream_t *)&unix_server, 4, on_unix_conn));
    ASSERT_OK(net_get_start(&loop, "127.0.0.1", 9229, sock_path, "/json/list",
                            "localhost:9229", 3000, on_get, &unix_server,
                            NULL));
    /* Started and cancelled: no callback, nothing left open. */
    ASSERT_OK(net_get_start(&loop, "127.0.0.1", port, NULL, "/json/list", NULL,
                            3000, on_refused, NULL, &g));
    net_get_cancel(g);

    ws_options(&o);
    o.timeout_ms = 3000;
    ASSERT_OK(net_ws_new(&loop, &o, &cb, &ws, &err));
    /* Queued before the handshake: goes out after it. */
    ASSERT_OK(net_ws_send(ws, "early", 5, 0));

    uv_run(&loop, UV_RUN_DEFAULT);

    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(get_status[i], 0);
        ASSERT_EQ(get_http[i], 200);
        ASSERT_STR_EQ(get_body[i], "[\"abc\"]\n");
    }
    ASSERT_EQ(refused_status, DAP_ECONNECT);
    ASSERT_EQ(opened, 1);
    ASSERT_STR_EQ(got_text, "hello world");
    ASSERT(got_binary);
    ASSERT_STR_EQ(got_echo, "echo:early");
    ASSERT_EQ(closed_status, 0);
    ASSERT_EQ(srv_opcodes[1], 2); /* "early" and "ping-me" */
    ASSERT_EQ(ka_phase1_pings, 0); /* no pings without ping_ms */
    /* Answered pings keep it open past many dead lines; unanswered, it is
     * declared dead once dead_ms pass without a byte. */
    if (ka_status != DAP_ETIMEDOUT)
        fprintf(stderr, "keepalive: status %d: %s\n", ka_status, ka_msg);
    ASSERT_EQ(ka_status, DAP_ETIMEDOUT);
    ASSERT(strstr(ka_msg, "not even a pong") != NULL);
    ASSERT(ka_took >= 300 + 40);
    ASSERT(ka_took < 3000);
    ASSERT(srv_opcodes[9] >= 4);
    ASSERT_EQ(srv_opcodes[10], 0);
    ASSERT_EQ(srv_opcodes[8], 1); /* one close frame */
    ASSERT_EQ(srv_opcodes[0], 0); /* no continuation frames */
    /* Every handle, libcurl's too, is closed. */
    ASSERT_OK(uv_loop_close(&loop));
    printf("test_net_ws: ok\n");
    return 0;
}
