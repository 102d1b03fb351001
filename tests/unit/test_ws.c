/* test_ws.c - kube/ws.c against a tiny in-process server on the same libuv
 * loop: the WebSocket handshake (Host header, subprotocol, extra headers, no
 * extensions), fragmented messages reassembled, text and binary, client
 * frames unfragmented and never pings, close from inside a callback; the
 * HTTP GET helper
 * (Content-Length, connection refused); and that the loop ends with every
 * handle closed (the lws context is torn down). */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dap/buf.h"
#include "kube/ws.h"
#include "tests/test.h"

static uv_loop_t loop;
static uv_tcp_t server;
static int port;

struct conn {
    uv_tcp_t tcp;
    dap_buf in;
    int upgraded;
    int frames_seen;
    int closed;
};

static int srv_opcodes[16]; /* client frames seen by opcode */
static char srv_text[256];  /* last text frame payload */

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
    ASSERT_OK(uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, wr_done));
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
    char accept_src[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    unsigned char b64[64];
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
    snprintf(accept_src, sizeof(accept_src), "%.*s%s", (int)kl, key,
             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    SHA1((const unsigned char *)accept_src, strlen(accept_src), sha);
    EVP_EncodeBlock(b64, sha, SHA_DIGEST_LENGTH);
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
        } else if ((p[0] & 0x0f) == 8) {
            send_frame(c, 1, 8, "", 0);
            if (!c->closed) {
                c->closed = 1;
                uv_close((uv_handle_t *)&c->tcp, conn_closed);
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
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
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

static void on_conn(uv_stream_t *s, int status)
{
    struct conn *c = calloc(1, sizeof(*c));

    ASSERT_OK(status);
    dap_buf_init(&c->in, 1 << 20);
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    ASSERT_OK(uv_accept(s, (uv_stream_t *)&c->tcp));
    ASSERT_OK(uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read));
}

/* ---- client side ---------------------------------------------------- */

static kube_ws *ws;
static int opened, closed_status = 99, msgs;
static char got_text[64], got_echo[64];
static int got_binary;
static uv_timer_t freer;

static void on_open(void *data, kube_ws *w)
{
    (void)data;
    opened++;
    ASSERT_OK(kube_ws_send(w, "ping-me", 7, 0));
}

static void on_message(void *data, kube_ws *w, const char *buf, size_t len,
                       int binary)
{
    (void)data;
    msgs++;
    if (binary) {
        ASSERT_EQ(len, 2);
        ASSERT(buf[0] == 1 && buf[1] == 2);
        got_binary = 1;
    } else if (strncmp(buf, "echo:", 5) == 0) {
        snprintf(got_echo, sizeof(got_echo), "%.*s", (int)len, buf);
        kube_ws_close(w); /* from inside a callback: allowed */
        kube_ws_close(w); /* twice: harmless */
    } else {
        snprintf(got_text, sizeof(got_text), "%.*s", (int)len, buf);
    }
}

static void free_ws(uv_timer_t *t)
{
    (void)t;
    kube_ws_free(ws);
    ws = NULL;
    uv_close((uv_handle_t *)&freer, NULL);
    uv_close((uv_handle_t *)&server, NULL);
}

static void on_closed(void *data, kube_ws *w, int status,
                      const struct dap_error *err)
{
    (void)data;
    (void)w;
    (void)err;
    closed_status = status;
    /* Never free inside our own callback: from the loop. */
    uv_timer_start(&freer, free_ws, 0, 0);
}

static int get_status = 99, get_http;
static char get_body[64];
static int refused_status = 99;

static void on_get(void *data, int status, int http, const char *body,
                   size_t len, const struct dap_error *err)
{
    (void)data;
    (void)err;
    get_status = status;
    get_http = http;
    if (body != NULL)
        snprintf(get_body, sizeof(get_body), "%.*s", (int)len, body);
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

int main(void)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    struct kube_ws_options o;
    struct kube_ws_callbacks cb = {on_open, on_message, on_closed, NULL};
    const char *const headers[] = {"X-Test: yes", NULL};
    struct dap_error err;
    kube_ws_get *g;
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

    ASSERT_OK(kube_ws_get_start(&loop, "127.0.0.1", port, -1, "/json/list",
                                "localhost:9229", 3000, on_get, NULL, &g));
    ASSERT_OK(kube_ws_get_start(&loop, "127.0.0.1", closed_port, -1, "/json/list",
                                NULL, 3000, on_refused, NULL, NULL));

    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.path = "/ws/path?x=1";
    o.host_header = "127.0.0.1:4242";
    o.subprotocol = "proto1";
    o.headers = headers;
    o.connect_timeout_ms = 3000;
    ASSERT_OK(kube_ws_new(&loop, &o, &cb, &ws, &err));
    /* Queued before the handshake: goes out after it. */
    ASSERT_OK(kube_ws_send(ws, "early", 5, 0));

    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(kube_ws_shutdown(&loop));
    uv_run(&loop, UV_RUN_DEFAULT);

    ASSERT_EQ(get_status, 0);
    ASSERT_EQ(get_http, 200);
    ASSERT_STR_EQ(get_body, "[\"abc\"]\n");
    ASSERT_EQ(refused_status, DAP_ECONNECT);
    ASSERT_EQ(opened, 1);
    ASSERT_STR_EQ(got_text, "hello world");
    ASSERT(got_binary);
    ASSERT_STR_EQ(got_echo, "echo:early");
    ASSERT_EQ(closed_status, 0);
    ASSERT_EQ(srv_opcodes[1], 2); /* "early" and "ping-me" */
    ASSERT_EQ(srv_opcodes[9], 0); /* no pings */
    ASSERT(srv_opcodes[8] <= 1);  /* lws 4.1 may close with EOF only */
    ASSERT_EQ(srv_opcodes[0], 0); /* no continuation frames */
    /* Every handle, lws's too, is closed. */
    ASSERT_OK(uv_loop_close(&loop));
    printf("test_ws: ok\n");
    return 0;
}
