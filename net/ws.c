/* ws.c - see ws.h: RFC 6455 client over uv_tcp (or a socket handed
 * over) + OpenSSL memory BIOs. */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../dap/buf.h"
#include "../dap/log.h"
#include "dial.h"

#define DEFAULT_MAX_MESSAGE (16u << 20)
#define DEFAULT_TIMEOUT_MS 15000
#define MAX_HEADERS (16u << 10)
#define MAX_ERROR_BODY 4096
#define READ_CHUNK (64u << 10)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum wstate {
    S_CONNECTING, /* resolving and connecting (net/dial) */
    S_PROXY,      /* CONNECT or SOCKS5 with the proxy */
    S_TLS,        /* TLS handshake */
    S_UPGRADING,  /* request sent, reading the answer */
    S_REFUSED,    /* non-101 answer: collecting its body */
    S_OPEN,
    S_CLOSED,     /* closed_fn delivered */
};

struct wreq {
    uv_write_t req;
    net_ws *w;
    size_t len;
    char data[];
};

struct net_ws {
    uv_loop_t *loop;
    struct net_ws_callbacks cb;
    enum wstate state;
    int handles;           /* embedded handles not yet closed */
    int freed;             /* net_ws_free was called */
    int writes_pending;
    net_dial *dial;        /* resolve + connect in flight */
    union {
        uv_tcp_t tcp;   /* connected by us */
        uv_pipe_t pipe; /* a connected socket handed over (use_fd) */
    } h;
    int tcp_inited, reading, paused;
    uv_timer_t timer;
    uv_timer_t keep;       /* keepalive: pings, and the dead line */
    unsigned ping_ms, dead_ms;
    uint64_t last_rx, last_ping; /* loop times */
    uv_idle_t pump;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;      /* network -> SSL, SSL -> network */
    dap_buf in;            /* received plaintext not yet parsed */
    dap_buf msg;           /* fragments being reassembled */
    int msg_opcode;
    dap_buf pre;           /* frames queued before the upgrade */
    uint8_t *frame;        /* outgoing frame being built, reused: a fresh
                              128 KiB block per message cost brk calls and
                              page faults */
    size_t frame_size;
    size_t max_message;
    size_t queued, drain_low;
    int closing;           /* net_ws_close called */
    int close_sent;
    int http_status;
    size_t body_want;      /* Content-Length of a refused upgrade */
    size_t body_start;
    char *request;         /* upgrade request (holds credentials) */
    char key[32];
    char accept[29];
    char *offered;
    char proto[64];
    char *host, *name;
    int port;
    char *dial_host;       /* the proxy's, or host */
    int dial_port;
    int proxy_kind;        /* 0: direct, else enum net_proxy_kind */
    int proxy_step;        /* SOCKS5: 1 method, 2 auth, 3 connect reply */
    char *proxy_hello;     /* CONNECT request, or SOCKS5 user/password
                              message or NULL (credentials: wiped) */
    size_t proxy_hello_len;
    char proxy_name[300];  /* for messages, no credentials */
    int tls, insecure;
    struct dap_error pending_err; /* a deferred close report */
    int pending_status;
    int in_new;            /* inside net_ws_new: no callbacks */
    int eof;               /* the server ended TCP; unread input may
                              still wait behind a pause */
    int read_err;          /* how reading ended when not by a FIN
                              (ECONNRESET...), else 0 */
};

/* ---- pure parts --------------------------------------------------------- */

int net_ws_frame_parse(const uint8_t *b, size_t n, struct net_ws_frame *f)
{
    size_t h = 2;
    uint64_t len;

    if (n < 2)
        return 0;
    memset(f, 0, sizeof(*f));
    if (b[0] & 0x70)
        return DAP_EPROTO; /* RSV bits: no extensions were negotiated */
    f->fin = (b[0] & 0x80) != 0;
    f->opcode = b[0] & 0x0f;
    f->masked = (b[1] & 0x80) != 0;
    len = b[1] & 0x7f;
    if (f->opcode > 2 && f->opcode < 8)
        return DAP_EPROTO;
    if (f->opcode > 10)
        return DAP_EPROTO;
    if (f->opcode >= 8 && (!f->fin || len > 125))
        return DAP_EPROTO;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        if (len >> 63)
            return DAP_EPROTO;
        h = 10;
    }
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, b + h, 4);
        h += 4;
    }
    f->len = len;
    f->header_len = h;
    return 1;
}

size_t net_ws_frame_header(uint8_t *out, int opcode, uint64_t len,
                             const uint8_t mask[4])
{
    size_t h;

    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
        h = 2;
    } else if (len <= 0xffff) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, mask, 4);
    return h + 4;
}

void net_ws_accept_key(const char *key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[128];

    snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    out[28] = '\0';
}

/* ---- lifetime ----------------------------------------------------------- */

static void maybe_release(net_ws *w)
{
    if (!w->freed || w->handles > 0 || w->writes_pending > 0)
        return;
    if (w->request != NULL) {
        OPENSSL_cleanse(w->request, strlen(w->request));
        free(w->request);
    }
    if (w->proxy_hello != NULL) {
        OPENSSL_cleanse(w->proxy_hello, w->proxy_hello_len);
        free(w->proxy_hello);
    }
    free(w->dial_host);
    SSL_free(w->ssl); /* frees the BIOs */
    SSL_CTX_free(w->ctx);
    dap_buf_cleanup(&w->in);
    dap_buf_cleanup(&w->msg);
    dap_buf_cleanup(&w->pre);
    free(w->frame);
    free(w->offered);
    free(w->host);
    free(w->name);
    free(w);
}

static void handle_closed(uv_handle_t *h)
{
    net_ws *w = h->data;

    w->handles--;
    maybe_release(w);
}

static void close_handles(net_ws *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->timer))
        uv_close((uv_handle_t *)&w->timer, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&w->keep))
        uv_close((uv_handle_t *)&w->keep, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&w->pump))
        uv_close((uv_handle_t *)&w->pump, handle_closed);
    if (w->tcp_inited && !uv_is_closing((uv_handle_t *)&w->h))
        uv_close((uv_handle_t *)&w->h, handle_closed);
}

/* Report the end once (the caller's state must allow a callback). */
static void finish(net_ws *w, int status, const char *body,
                   const struct dap_error *e)
{
    if (w->state == S_CLOSED)
        return;
    w->state = S_CLOSED;
    net_dial_cancel(w->dial);
    w->dial = NULL;
    uv_timer_stop(&w->timer);
    uv_timer_stop(&w->keep);
    uv_idle_stop(&w->pump);
    if (w->reading) {
        uv_read_stop((uv_stream_t *)&w->h);
        w->reading = 0;
    }
    if (w->tcp_inited && !uv_is_closing((uv_handle_t *)&w->h))
        uv_close((uv_handle_t *)&w->h, handle_closed);
    if (w->cb.closed_fn != NULL && !w->freed && !w->in_new)
        w->cb.closed_fn(w->cb.data, w, status, w->http_status, body, e);
}

static void fail(net_ws *w, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
static void fail(net_ws *w, int code, const char *fmt, ...)
{
    struct dap_error e;
    va_list ap;

    e.code = code;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    finish(w, code, NULL, &e);
}

/* ---- output ------------------------------------------------------------- */

static void write_done(uv_write_t *req, int status)
{
    struct wreq *r = (struct wreq *)req;
    net_ws *w = r->w;

    w->writes_pending--;
    w->queued -= r->len;
    free(r);
    if (w->freed) {
        maybe_release(w);
        return;
    }
    if (status < 0) {
        /* A write refused by the kernel is the same loss a read error is
         * (a reset, a dead route), whichever of the two meets it first. */
        if (w->state != S_CLOSED)
            fail(w, DAP_ECONNECT, "the connection to %s:%d was lost (%s)",
                 w->host, w->port, uv_strerror(status));
        return;
    }
    if (w->state == S_OPEN && w->close_sent && w->writes_pending == 0) {
        /* Our close frame is out: the connection is done. */
        finish(w, 0, NULL, NULL);
        return;
    }
    if (w->state == S_OPEN && w->cb.drain_fn != NULL &&
        w->queued <= w->drain_low)
        w->cb.drain_fn(w->cb.data, w);
}

/* Hand bytes (already encrypted, or plain) to the socket. */
static int raw_write(net_ws *w, const void *buf, size_t len)
{
    struct wreq *r;
    uv_buf_t b;

    if (len == 0)
        return 0;
    r = malloc(sizeof(*r) + len);
    if (r == NULL)
        return DAP_ENOMEM;
    r->w = w;
    r->len = len;
    memcpy(r->data, buf, len);
    b = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->req, (uv_stream_t *)&w->h, &b, 1, write_done) < 0) {
        free(r);
        return DAP_ECLOSED;
    }
    w->writes_pending++;
    w->queued += len;
    return 0;
}

/* Move what OpenSSL produced to the socket. */
static int flush_tls(net_ws *w)
{
    size_t n = (size_t)BIO_ctrl_pending(w->wbio);
    struct wreq *r;
    uv_buf_t b;

    if (n == 0)
        return 0;
    r = malloc(sizeof(*r) + n);
    if (r == NULL)
        return DAP_ENOMEM;
    r->w = w;
    r->len = n;
    if (BIO_read(w->wbio, r->data, (int)n) != (int)n) {
        free(r);
        return DAP_EPROTO;
    }
    b = uv_buf_init(r->data, (unsigned)n);
    if (uv_write(&r->req, (uv_stream_t *)&w->h, &b, 1, write_done) < 0) {
        free(r);
        return DAP_ECLOSED;
    }
    w->writes_pending++;
    w->queued += n;
    return 0;
}

/* Send plaintext through TLS (or as is). */
static int net_write(net_ws *w, const void *buf, size_t len)
{
    if (!w->tls)
        return raw_write(w, buf, len);
    while (len > 0) {
        int n = SSL_write(w->ssl, buf, len > (1u << 30) ? 1 << 30 : (int)len);
        if (n <= 0)
            return DAP_EPROTO;
        buf = (const char *)buf + n;
        len -= (size_t)n;
    }
    return flush_tls(w);
}

/* o[i] = d[i] ^ mask[(i + phase) & 3], eight bytes at a time: the byte loop
 * was a tenth of kdap's CPU time when port-forwarding uploads. */
static void mask_copy(uint8_t *o, const uint8_t *d, size_t n,
                      const uint8_t mask[4], size_t phase)
{
    uint8_t m8[8];
    uint64_t m, x;
    size_t i = 0;

    for (int k = 0; k < 8; k++)
        m8[k] = mask[(phase + (size_t)k) & 3];
    memcpy(&m, m8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, d + i, 8);
        x ^= m;
        memcpy(o + i, &x, 8);
    }
    for (; i < n; i++)
        o[i] = d[i] ^ mask[(i + phase) & 3];
}

/* Build one masked frame: header, then the payload (prefix + data). */
static int frame_send(net_ws *w, int opcode, const uint8_t *prefix,
                      size_t plen, const void *data, size_t len)
{
    uint64_t total = plen + len;
    uint8_t mask[4];
    uint8_t *f;
    size_t h;
    int rc;

    if (RAND_bytes(mask, 4) != 1)
        return DAP_EPROTO;
    if (w->frame_size < 14 + total) {
        /* net_write and the pre-upgrade queue copy the frame, so the buffer
         * is free again when this returns */
        f = realloc(w->frame, 14 + total);
        if (f == NULL)
            return DAP_ENOMEM;
        w->frame = f;
        w->frame_size = 14 + total;
    }
    f = w->frame;
    h = net_ws_frame_header(f, opcode, total, mask);
    mask_copy(f + h, prefix, plen, mask, 0);
    mask_copy(f + h + plen, data, len, mask, plen);
    if (w->state == S_OPEN) {
        rc = net_write(w, f, h + total);
    } else {
        rc = dap_buf_append(&w->pre, f, h + total);
        if (rc == 0)
            w->queued += h + total;
    }
    return rc;
}

/* ---- input -------------------------------------------------------------- */

static void process(net_ws *w);
static void keep_start(net_ws *w);
static void proxy_input(net_ws *w);

static void deliver(net_ws *w, int opcode, const uint8_t *p, size_t n)
{
    if (w->cb.message_fn != NULL)
        w->cb.message_fn(w->cb.data, w, p, n, opcode == 2);
}

/* Parse frames from w->in while open and not paused. */
static void process_frames(net_ws *w)
{
    while (w->state == S_OPEN && !w->paused && !w->freed) {
        struct net_ws_frame f;
        const uint8_t *p;
        size_t total;
        int rc = net_ws_frame_parse((const uint8_t *)w->in.data, w->in.len,
                                      &f);
        if (rc == 0)
            return;
        if (rc < 0 || f.masked) {
            fail(w, DAP_EPROTO, "%s:%d sent an invalid WebSocket frame",
                 w->host, w->port);
            return;
        }
        if (f.len > w->max_message) {
            fail(w, DAP_ETOOBIG, "%s:%d sent a WebSocket message over the "
                                 "size limit",
                 w->host, w->port);
            return;
        }
        total = f.header_len + (size_t)f.len;
        if (w->in.len < total)
            return;
        p = (const uint8_t *)w->in.data + f.header_len;
        switch (f.opcode) {
        case 0:
            if (w->msg_opcode == 0 ||
                dap_buf_append(&w->msg, p, (size_t)f.len) < 0) {
                fail(w, DAP_EPROTO, "%s:%d sent a bad WebSocket fragment",
                     w->host, w->port);
                return;
            }
            if (f.fin) {
                size_t n = 0;
                char *m = dap_buf_take(&w->msg, &n);
                int op = w->msg_opcode;
                w->msg_opcode = 0;
                deliver(w, op, (const uint8_t *)(m ? m : ""), n);
                free(m);
            }
            break;
        case 1:
        case 2:
            if (w->msg_opcode != 0) {
                fail(w, DAP_EPROTO, "%s:%d interleaved WebSocket messages",
                     w->host, w->port);
                return;
            }
            if (f.fin) {
                deliver(w, f.opcode, p, (size_t)f.len);
            } else {
                w->msg_opcode = f.opcode;
                if (dap_buf_append(&w->msg, p, (size_t)f.len) < 0) {
                    fail(w, DAP_ETOOBIG, "WebSocket message too large");
                    return;
                }
            }
            break;
        case 8:
            if (!w->close_sent) {
                w->close_sent = 1;
                (void)frame_send(w, 8, NULL, 0, p, f.len >= 2 ? 2 : 0);
            }
            if (w->closing) {
                finish(w, 0, NULL, NULL);
            } else {
                struct dap_error e;
                dap_error_set(&e, DAP_ECLOSED, "the server closed the "
                                               "WebSocket");
                finish(w, DAP_ECLOSED, NULL, &e);
            }
            return;
        case 9:
            (void)frame_send(w, 10, NULL, 0, p, (size_t)f.len);
            break;
        default:
            break;
        }
        if (w->state == S_CLOSED)
            return;
        dap_buf_consume(&w->in, total);
    }
}

static int header_value(const char *hdrs, const char *name, char *out,
                        size_t size)
{
    size_t nl = strlen(name);
    const char *p = hdrs;

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e;
            size_t n;
            while (*v == ' ' || *v == '\t')
                v++;
            e = strstr(v, "\r\n");
            n = e ? (size_t)(e - v) : strlen(v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= size)
                n = size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}

static int offered_has(const char *offered, const char *p)
{
    const char *s = offered;
    size_t n = strlen(p);

    while (s != NULL && *s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (strncmp(s, p, n) == 0 && (s[n] == '\0' || s[n] == ',' ||
                                      s[n] == ' '))
            return 1;
        s = strchr(s, ',');
    }
    return 0;
}

static void refused_done(net_ws *w)
{
    struct dap_error e;
    char empty[1] = "";
    char *body = w->in.len > w->body_start ? w->in.data + w->body_start
                                           : empty;
    size_t n = w->in.len > w->body_start ? w->in.len - w->body_start : 0;

    if (n > MAX_ERROR_BODY)
        n = MAX_ERROR_BODY;
    body[n] = '\0';
    dap_error_set(&e, DAP_ECONNECT, "%s:%d refused the WebSocket upgrade "
                                    "(HTTP %d)",
                  w->host, w->port, w->http_status);
    finish(w, DAP_ECONNECT, body, &e);
}

static void process_upgrade(net_ws *w)
{
    char *end;
    char val[128];
    int status = 0;
    size_t hlen;

    if (w->in.len == 0)
        return;
    end = strstr(w->in.data, "\r\n\r\n");
    if (end == NULL) {
        if (w->in.len > MAX_HEADERS)
            fail(w, DAP_EPROTO, "%s:%d sent oversized HTTP headers", w->host,
                 w->port);
        return;
    }
    hlen = (size_t)(end - w->in.data) + 4;
    end[2] = '\0'; /* headers end with the last "\r\n" */
    if (sscanf(w->in.data, "HTTP/1.%*d %d", &status) != 1) {
        fail(w, DAP_EPROTO, "%s:%d did not answer HTTP", w->host, w->port);
        return;
    }
    w->http_status = status;
    if (status != 101) {
        w->state = S_REFUSED;
        w->body_start = hlen;
        w->body_want = 0;
        if (header_value(w->in.data, "Content-Length", val, sizeof(val)) == 0)
            w->body_want = (size_t)strtoul(val, NULL, 10);
        else
            w->body_want = (size_t)-1; /* until EOF */
        if (w->body_want > MAX_ERROR_BODY)
            w->body_want = MAX_ERROR_BODY;
        if (w->in.len - hlen >= w->body_want)
            refused_done(w);
        return;
    }
    if (header_value(w->in.data, "Sec-WebSocket-Accept", val, sizeof(val)) <
            0 ||
        strcmp(val, w->accept) != 0) {
        fail(w, DAP_EPROTO, "%s:%d answered the upgrade without a valid "
                            "Sec-WebSocket-Accept",
             w->host, w->port);
        return;
    }
    w->proto[0] = '\0';
    if (header_value(w->in.data, "Sec-WebSocket-Protocol", w->proto,
                     sizeof(w->proto)) == 0 &&
        w->proto[0] && !offered_has(w->offered, w->proto)) {
        fail(w, DAP_EPROTO, "%s:%d chose the subprotocol \"%s\", which was "
                            "not offered",
             w->host, w->port, w->proto);
        return;
    }
    dap_buf_consume(&w->in, hlen);
    w->state = S_OPEN;
    uv_timer_stop(&w->timer);
    keep_start(w);
    if (w->cb.open_fn != NULL)
        w->cb.open_fn(w->cb.data, w, w->proto);
    if (w->state != S_OPEN)
        return;
    if (w->pre.len > 0) {
        size_t n = 0;
        char *p = dap_buf_take(&w->pre, &n);
        w->queued -= n;
        if (p != NULL && net_write(w, p, n) < 0) {
            free(p);
            fail(w, DAP_ECLOSED, "writing to %s:%d failed", w->host, w->port);
            return;
        }
        free(p);
    }
    if (w->closing && !w->close_sent) {
        uint8_t code[2] = {0x03, 0xe8};
        w->close_sent = 1;
        (void)frame_send(w, 8, NULL, 0, code, 2);
    }
}

/* ---- keepalive ------------------------------------------------------------ */

static void keep_cb(uv_timer_t *t);

static void keep_arm(net_ws *w)
{
    uint64_t now = uv_now(w->loop);
    uint64_t at = w->last_rx + w->dead_ms;
    uint64_t ping_at =
        (w->last_rx > w->last_ping ? w->last_rx : w->last_ping) + w->ping_ms;

    if (ping_at < at)
        at = ping_at;
    uv_timer_start(&w->keep, keep_cb, at > now ? at - now : 1, 0);
}

/* The timer is not moved on every read (the tunnels' hot path): it wakes
 * at the next ping or dead line as last seen, and looks again. */
static void keep_cb(uv_timer_t *t)
{
    net_ws *w = t->data;
    uint64_t now = uv_now(w->loop);

    if (w->state != S_OPEN || w->closing || w->freed)
        return;
    if (w->paused) {
        /* our reader is slow, not the server: pongs wait unread */
        w->last_rx = now;
    } else if (now - w->last_rx >= w->dead_ms) {
        fail(w, DAP_ETIMEDOUT,
             "%s:%d sent nothing, not even a pong to kdap's WebSocket ping, "
             "for %.1f s: the connection is dead",
             w->host, w->port, (double)(now - w->last_rx) / 1000.0);
        return;
    } else if (now - w->last_rx >= w->ping_ms &&
               now - w->last_ping >= w->ping_ms) {
        static const char payload[] = "kdap";
        w->last_ping = now;
        if (frame_send(w, 9, NULL, 0, payload, sizeof(payload) - 1) < 0) {
            fail(w, DAP_ECLOSED, "writing to %s:%d failed", w->host, w->port);
            return;
        }
    }
    keep_arm(w);
}

static void keep_start(net_ws *w)
{
    if (w->ping_ms == 0)
        return;
    w->last_rx = w->last_ping = uv_now(w->loop);
    keep_arm(w);
}

static void process(net_ws *w)
{
    if (w->state == S_UPGRADING)
        process_upgrade(w);
    if (w->state == S_REFUSED && w->body_want != (size_t)-1 &&
        w->in.len - w->body_start >= w->body_want)
        refused_done(w);
    if (w->state == S_OPEN)
        process_frames(w);
}

static const char *tls_reason(net_ws *w, char *buf, size_t size)
{
    long vr = SSL_get_verify_result(w->ssl);
    unsigned long e = ERR_peek_last_error();

    if (vr != X509_V_OK)
        snprintf(buf, size, "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
    else if (e != 0)
        ERR_error_string_n(e, buf, size);
    else
        snprintf(buf, size, "handshake failed");
    ERR_clear_error();
    return buf;
}

static int send_request(net_ws *w)
{
    int rc = net_write(w, w->request, strlen(w->request));

    OPENSSL_cleanse(w->request, strlen(w->request));
    free(w->request);
    w->request = NULL;
    w->state = S_UPGRADING;
    return rc;
}

/* Decrypt what arrived (unless paused) and act on it. */
static void drive(net_ws *w)
{
    char buf[16384];
    char why[256];

    if (w->state == S_TLS) {
        int r = SSL_do_handshake(w->ssl);
        if (flush_tls(w) < 0) {
            fail(w, DAP_ECLOSED, "TLS with %s failed", w->host);
            return;
        }
        if (r != 1) {
            int e = SSL_get_error(w->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            fail(w, DAP_ECONFIG, "TLS handshake with %s (%s) failed: %s",
                 w->name, w->host, tls_reason(w, why, sizeof(why)));
            return;
        }
        if (send_request(w) < 0) {
            fail(w, DAP_ECLOSED, "sending the upgrade to %s failed",
                 w->host);
            return;
        }
    }
    /* Complete frames may wait from before a pause. */
    process(w);
    if (!w->tls)
        return;
    while (w->state != S_CLOSED && !w->freed &&
           !(w->paused && w->state == S_OPEN)) {
        int n = SSL_read(w->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(w->ssl, n);
            flush_tls(w);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            if (e == SSL_ERROR_ZERO_RETURN) {
                process(w);
                if (w->state == S_REFUSED)
                    refused_done(w);
                else
                    fail(w, DAP_ECLOSED, "the server closed the connection");
                return;
            }
            fail(w, DAP_EPROTO, "TLS error from %s: %s", w->host,
                 tls_reason(w, why, sizeof(why)));
            return;
        }
        if (dap_buf_append(&w->in, buf, (size_t)n) < 0) {
            fail(w, DAP_ETOOBIG, "too much unparsed input from %s", w->host);
            return;
        }
        /* Parse as we go so w->in stays small. */
        process(w);
    }
}

/* The TCP stream ended: finish once everything before it was handled. */
static void eof_check(net_ws *w)
{
    if (!w->eof || w->state == S_CLOSED || w->freed)
        return;
    if (w->paused && w->state == S_OPEN &&
        (w->in.len > 0 || (w->tls && (BIO_ctrl_pending(w->rbio) > 0 ||
                                      SSL_pending(w->ssl) > 0))))
        return; /* resumed later by net_ws_pause(w, 0) */
    if (w->state == S_REFUSED)
        refused_done(w);
    else if (w->closing)
        finish(w, 0, NULL, NULL);
    else if (w->read_err != 0)
        /* not an end the server chose: a reset, a dead route */
        fail(w, DAP_ECONNECT, "the connection to %s:%d was lost (%s)",
             w->host, w->port, uv_strerror(w->read_err));
    else
        fail(w, DAP_ECLOSED, "%s:%d closed the connection%s", w->host,
             w->port,
             w->state == S_OPEN ? "" : " during the WebSocket upgrade");
}

static void pump_cb(uv_idle_t *h)
{
    net_ws *w = h->data;

    uv_idle_stop(h);
    if (w->state == S_CLOSED || w->freed)
        return;
    if (w->pending_status != 0) {
        int st = w->pending_status;
        w->pending_status = 0;
        finish(w, st == 1 ? 0 : st, NULL, &w->pending_err);
        return;
    }
    drive(w);
    eof_check(w);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[READ_CHUNK];

    (void)h;
    (void)suggested;
    b->base = slab;
    b->len = sizeof(slab);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    net_ws *w = s->data;

    if (w->state == S_CLOSED || w->freed)
        return;
    if (n > 0 && w->state == S_PROXY) {
        if (dap_buf_append(&w->in, b->base, (size_t)n) < 0) {
            fail(w, DAP_EPROTO, "the proxy %s sent too much", w->proxy_name);
            return;
        }
        proxy_input(w);
        return;
    }
    if (n < 0 && w->state == S_PROXY) {
        fail(w, DAP_ECONNECT, "the proxy %s closed the connection before "
                              "the tunnel to %s:%d was open",
             w->proxy_name, w->host, w->port);
        return;
    }
    if (n > 0) {
        w->last_rx = uv_now(w->loop);
        if (w->tls) {
            if (BIO_write(w->rbio, b->base, (int)n) != (int)n) {
                fail(w, DAP_ENOMEM, "out of memory");
                return;
            }
        } else if (dap_buf_append(&w->in, b->base, (size_t)n) < 0) {
            fail(w, DAP_ETOOBIG, "too much unparsed input from %s", w->host);
            return;
        }
        if (w->paused && w->state == S_OPEN) {
            /* Reading stops with the bytes kept: at most one chunk. */
            uv_read_stop(s);
            w->reading = 0;
            return;
        }
        drive(w);
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        w->reading = 0;
        w->eof = 1;
        if (n != UV_EOF)
            w->read_err = (int)n;
        drive(w);
        eof_check(w);
    }
}

static void timeout_cb(uv_timer_t *t)
{
    net_ws *w = t->data;

    if (w->state == S_REFUSED) {
        refused_done(w);
        return;
    }
    if (w->state != S_OPEN)
        fail(w, DAP_ETIMEDOUT, "no WebSocket connection to %s:%d in time",
             w->host, w->port);
    else if (w->close_sent)
        finish(w, 0, NULL, NULL);
}

static int tls_setup(net_ws *w, const struct net_ws_options *o,
                     struct dap_error *err)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    BIO *mem;
    X509 *x;
    int first = 1;

    w->ctx = SSL_CTX_new(TLS_client_method());
    if (w->ctx == NULL)
        return dap_error_set(err, DAP_ENOMEM, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(w->ctx, TLS1_2_VERSION);
    if (o->insecure) {
        SSL_CTX_set_verify(w->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(w->ctx, SSL_VERIFY_PEER, NULL);
        if (o->ca_pem != NULL) {
            X509_STORE *st = SSL_CTX_get_cert_store(w->ctx);
            int n = 0;
            mem = BIO_new_mem_buf(o->ca_pem, (int)o->ca_len);
            while (mem != NULL &&
                   (x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
                X509_STORE_add_cert(st, x);
                X509_free(x);
                n++;
            }
            BIO_free(mem);
            ERR_clear_error();
            if (n == 0)
                return dap_error_set(err, DAP_ECONFIG,
                                     "the cluster's certificate authority "
                                     "holds no PEM certificate");
        } else {
            SSL_CTX_set_default_verify_paths(w->ctx);
        }
    }
    if (o->cert_pem != NULL && o->key_pem != NULL) {
        EVP_PKEY *pk;
        mem = BIO_new_mem_buf(o->cert_pem, (int)o->cert_len);
        while (mem != NULL &&
               (x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
            if (first)
                SSL_CTX_use_certificate(w->ctx, x);
            else
                SSL_CTX_add1_chain_cert(w->ctx, x);
            first = 0;
            X509_free(x);
        }
        BIO_free(mem);
        mem = BIO_new_mem_buf(o->key_pem, (int)o->key_len);
        pk = mem != NULL ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL)
                         : NULL;
        BIO_free(mem);
        ERR_clear_error();
        if (first || pk == NULL || SSL_CTX_use_PrivateKey(w->ctx, pk) != 1 ||
            SSL_CTX_check_private_key(w->ctx) != 1) {
            EVP_PKEY_free(pk);
            ERR_clear_error();
            return dap_error_set(err, DAP_ECONFIG,
                                 "the client certificate or key cannot be "
                                 "used (not PEM, or they do not match)");
        }
        EVP_PKEY_free(pk);
    }
    w->ssl = SSL_new(w->ctx);
    w->rbio = BIO_new(BIO_s_mem());
    w->wbio = BIO_new(BIO_s_mem());
    if (w->ssl == NULL || w->rbio == NULL || w->wbio == NULL) {
        BIO_free(w->rbio);
        BIO_free(w->wbio);
        w->rbio = w->wbio = NULL;
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    SSL_set_bio(w->ssl, w->rbio, w->wbio);
    SSL_set_connect_state(w->ssl);
    SSL_set_alpn_protos(w->ssl, alpn, sizeof(alpn) - 1);
    {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, w->name, ip) == 1 ||
                    inet_pton(AF_INET6, w->name, ip) == 1;
        if (!is_ip)
            SSL_set_tlsext_host_name(w->ssl, w->name);
        if (!o->insecure) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(w->ssl);
            if (is_ip)
                X509_VERIFY_PARAM_set1_ip_asc(vp, w->name);
            else
                SSL_set1_host(w->ssl, w->name);
        }
    }
    return 0;
}

/* The byte stream to the API server is there: TLS, then the upgrade. */
static void tunnel_open(net_ws *w)
{
    if (w->tls) {
        /* What came after the proxy's answer is the server's. */
        if (w->in.len > 0 &&
            BIO_write(w->rbio, w->in.data, (int)w->in.len) != (int)w->in.len) {
            fail(w, DAP_ENOMEM, "out of memory");
            return;
        }
        dap_buf_reset(&w->in);
        w->state = S_TLS;
        drive(w);
    } else if (send_request(w) < 0) {
        fail(w, DAP_ECLOSED, "sending the upgrade to %s failed", w->host);
    } else {
        process(w);
    }
}

static void proxy_send(net_ws *w, const void *buf, size_t len)
{
    if (raw_write(w, buf, len) < 0)
        fail(w, DAP_ECLOSED, "writing to the proxy %s failed", w->proxy_name);
}

static void socks_connect(net_ws *w)
{
    uint8_t m[4 + 1 + 255 + 2];
    int n = net_socks5_connect(w->host, w->port, m);

    if (n < 0) {
        fail(w, DAP_EINVAL, "the server name %s is too long for SOCKS5",
             w->host);
        return;
    }
    w->proxy_step = 3;
    proxy_send(w, m, (size_t)n);
}

static void proxy_start(net_ws *w)
{
    w->state = S_PROXY;
    if (w->proxy_kind == NET_PROXY_HTTP) {
        proxy_send(w, w->proxy_hello, w->proxy_hello_len);
    } else {
        uint8_t g[4];
        w->proxy_step = 1;
        proxy_send(w, g,
                   (size_t)net_socks5_greeting(w->proxy_hello != NULL, g));
    }
}

/* The proxy's answers, as they arrive in w->in. */
static void proxy_input(net_ws *w)
{
    const uint8_t *b = (const uint8_t *)w->in.data;
    char reason[128];
    int st = 0, rc;

    if (w->proxy_kind == NET_PROXY_HTTP) {
        rc = net_proxy_connect_response(w->in.data, w->in.len, &st, reason,
                                         sizeof(reason));
        if (rc == 0)
            return;
        if (rc < 0) {
            fail(w, DAP_EPROTO, "the proxy %s did not answer CONNECT with "
                                "HTTP",
                 w->proxy_name);
        } else if (st < 200 || st > 299) {
            fail(w, DAP_ECONNECT, "the proxy %s refused the tunnel to %s:%d: "
                                  "HTTP %d %s%s",
                 w->proxy_name, w->host, w->port, st, reason,
                 st == 407 ? ": check the user and password of the proxy URL"
                           : "");
        } else {
            dap_buf_consume(&w->in, (size_t)rc);
            tunnel_open(w);
        }
        return;
    }
    while (w->state == S_PROXY && w->in.len >= 2) {
        if (b[0] != (w->proxy_step == 2 ? 1 : 5)) {
            fail(w, DAP_EPROTO, "the proxy %s does not speak SOCKS5",
                 w->proxy_name);
            return;
        }
        if (w->proxy_step == 1) {
            int method = b[1];
            dap_buf_consume(&w->in, 2);
            if (method == 0) {
                socks_connect(w);
            } else if (method == 2 && w->proxy_hello != NULL) {
                w->proxy_step = 2;
                proxy_send(w, w->proxy_hello, w->proxy_hello_len);
            } else {
                fail(w, DAP_ECONNECT, "the SOCKS5 proxy %s accepts none of "
                                      "kdap's authentication methods (%s)",
                     w->proxy_name,
                     w->proxy_hello ? "none, user/password"
                                    : "none: the proxy URL has no "
                                      "user:password");
                return;
            }
        } else if (w->proxy_step == 2) {
            int ok = b[1] == 0;
            dap_buf_consume(&w->in, 2);
            if (!ok) {
                fail(w, DAP_ECONNECT, "the SOCKS5 proxy %s rejected the user "
                                      "and password of the proxy URL",
                     w->proxy_name);
                return;
            }
            socks_connect(w);
        } else {
            int rep = 0;
            rc = net_socks5_reply(b, w->in.len, &rep);
            if (rc == 0)
                return;
            if (rc < 0) {
                fail(w, DAP_EPROTO, "the proxy %s sent a bad SOCKS5 reply",
                     w->proxy_name);
            } else if (rep != 0) {
                fail(w, DAP_ECONNECT, "the SOCKS5 proxy %s could not open the "
                                      "tunnel to %s:%d: %s",
                     w->proxy_name, w->host, w->port,
                     net_socks5_reply_text(rep));
            } else {
                dap_buf_consume(&w->in, (size_t)rc);
                tunnel_open(w);
            }
            return;
        }
        b = (const uint8_t *)w->in.data;
    }
}

/* The stream is connected: the proxy's exchange or TLS comes next. */
static void connected(net_ws *w)
{
    if (uv_read_start((uv_stream_t *)&w->h, alloc_cb, read_cb) == 0)
        w->reading = 1;
    if (w->proxy_kind) {
        proxy_start(w);
        return;
    }
    tunnel_open(w);
}

/* net/dial's answer; it never calls after finish() or free (cancelled). */
static void dialled(void *data, int status, enum net_dial_step step)
{
    net_ws *w = data;

    w->dial = NULL;
    if (status == 0)
        connected(w);
    else if (step == NET_DIAL_RESOLVE)
        fail(w, DAP_ECONNECT, "cannot resolve %s: %s", w->dial_host,
             uv_strerror(status));
    else
        fail(w, DAP_ECONNECT, "cannot connect to %s%s:%d: %s",
             w->proxy_kind ? "the proxy " : "", w->dial_host, w->dial_port,
             uv_strerror(status));
}

static int build_request(net_ws *w, const struct net_ws_options *o)
{
    unsigned char raw[16];
    dap_buf b;
    int rc = 0;
    const char *name = w->name;
    int v6 = strchr(name, ':') != NULL;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return DAP_EPROTO;
    EVP_EncodeBlock((unsigned char *)w->key, raw, sizeof(raw));
    net_ws_accept_key(w->key, w->accept);
    dap_buf_init(&b, 64u << 10);
    if (o->host_header != NULL)
        rc |= dap_buf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", o->path,
                             o->host_header);
    else
        rc |= dap_buf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\n",
                             o->path, v6 ? "[" : "", name, v6 ? "]" : "",
                             w->port);
    rc |= dap_buf_printf(&b,
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "User-Agent: kdap/" KDAP_VERSION "\r\n",
                         w->key);
    if (o->subprotocols != NULL)
        rc |= dap_buf_printf(&b, "Sec-WebSocket-Protocol: %s\r\n",
                             o->subprotocols);
    for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++)
        rc |= dap_buf_printf(&b, "%s\r\n", o->headers[i]);
    rc |= dap_buf_printf(&b, "\r\n");
    if (rc != 0) {
        OPENSSL_cleanse(b.data, b.alloc);
        dap_buf_cleanup(&b);
        return DAP_ENOMEM;
    }
    w->request = dap_buf_take(&b, NULL);
    dap_buf_cleanup(&b);
    return w->request != NULL ? 0 : DAP_ENOMEM;
}

/* Where to connect, and what to say to the proxy first. */
static int proxy_setup(net_ws *w, const struct net_proxy *p,
                       struct dap_error *err)
{
    w->dial_port = p ? p->port : w->port;
    w->dial_host = strdup(p ? p->host : w->host);
    if (w->dial_host == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    if (p == NULL)
        return 0;
    snprintf(w->proxy_name, sizeof(w->proxy_name), "%s", p->display);
    w->proxy_kind = p->kind;
    if (p->kind == NET_PROXY_HTTP) {
        w->proxy_hello = net_proxy_connect_request(p, w->host, w->port);
        if (w->proxy_hello == NULL)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        w->proxy_hello_len = strlen(w->proxy_hello);
    } else if (p->kind == NET_PROXY_SOCKS5) {
        int n;
        if (p->user == NULL)
            return 0;
        w->proxy_hello = malloc(3 + 2 * 255);
        if (w->proxy_hello == NULL)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        n = net_socks5_auth(p, (uint8_t *)w->proxy_hello);
        if (n < 0)
            return dap_error_set(err, DAP_ECONFIG,
                                 "the user and password of the proxy %s must "
                                 "be 1-255 and 0-255 bytes for SOCKS5",
                                 p->display);
        w->proxy_hello_len = (size_t)n;
    } else {
        return dap_error_set(err, DAP_EUNSUPPORTED,
                             "the proxy %s is https://: kdap's tunnels "
                             "(attach, port-forward, exec) go through http:// "
                             "and socks5:// proxies; give the proxy's "
                             "http:// address",
                             p->display);
    }
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int net_ws_new(uv_loop_t *loop, const struct net_ws_options *o,
                 const struct net_ws_callbacks *cb, net_ws **out,
                 struct dap_error *err)
{
    net_ws *w;
    int fd_owned = 0; /* o->fd belongs to w->h.pipe now */
    int rc;

    *out = NULL;
    if (o->host == NULL || o->path == NULL || o->port <= 0 ||
        o->port > 65535) {
        if (o->use_fd)
            close(o->fd);
        return dap_error_set(err, DAP_EINVAL,
                             "WebSocket: host, port and path are required");
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        if (o->use_fd)
            close(o->fd);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    w->loop = loop;
    w->cb = *cb;
    w->port = o->port;
    w->tls = o->tls;
    w->insecure = o->insecure;
    w->max_message = o->max_message ? o->max_message : DEFAULT_MAX_MESSAGE;
    w->host = strdup(o->host);
    w->name = strdup(o->server_name ? o->server_name : o->host);
    w->offered = o->subprotocols ? strdup(o->subprotocols) : NULL;
    dap_buf_init(&w->in, w->max_message + READ_CHUNK + MAX_HEADERS);
    dap_buf_init(&w->msg, w->max_message);
    dap_buf_init(&w->pre, 64u << 20);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_init(loop, &w->keep);
    w->keep.data = w;
    w->ping_ms = o->ping_ms;
    w->dead_ms = o->dead_ms > o->ping_ms ? o->dead_ms : o->ping_ms * 3 / 2;
    uv_idle_init(loop, &w->pump);
    w->pump.data = w;
    if (o->use_fd) {
        uv_pipe_init(loop, &w->h.pipe, 0);
        w->h.pipe.data = w;
    } else {
        uv_tcp_init(loop, &w->h.tcp);
        w->h.tcp.data = w;
    }
    w->tcp_inited = 1;
    w->handles = 4;
    w->state = S_CONNECTING;
    if (w->host == NULL || w->name == NULL ||
        (o->subprotocols && w->offered == NULL)) {
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto fail;
    }
    rc = build_request(w, o);
    if (rc < 0) {
        dap_error_set(err, rc, "cannot build the WebSocket request");
        goto fail;
    }
    rc = proxy_setup(w, o->proxy, err);
    if (rc < 0)
        goto fail;
    if (w->tls) {
        rc = tls_setup(w, o, err);
        if (rc < 0)
            goto fail;
    }
    uv_timer_start(&w->timer, timeout_cb,
                   o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS, 0);
    if (o->use_fd) {
        rc = uv_pipe_open(&w->h.pipe, o->fd);
        if (rc < 0) {
            rc = dap_error_set(err, DAP_ECONNECT, "cannot use socket %d: %s",
                               o->fd, uv_strerror(rc));
            goto fail;
        }
        fd_owned = 1;
        w->in_new = 1;
        connected(w);
        w->in_new = 0;
        if (w->state == S_CLOSED) {
            rc = dap_error_set(err, DAP_ECONNECT,
                               "cannot send the WebSocket upgrade");
            goto fail;
        }
    } else {
        rc = net_dial_start(loop, &w->h.tcp, w->dial_host, w->dial_port,
                            dialled, w, &w->dial);
        if (rc < 0) {
            rc = dap_error_set(err, DAP_ECONNECT,
                               "cannot connect to %s:%d: %s", w->dial_host,
                               w->dial_port, uv_strerror(rc));
            goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    if (o->use_fd && !fd_owned)
        close(o->fd);
    w->state = S_CLOSED;
    w->freed = 1;
    close_handles(w);
    return rc;
}

int net_ws_send(net_ws *w, const void *buf, size_t len, int binary)
{
    if (w->state == S_CLOSED || w->closing)
        return DAP_ECLOSED;
    return frame_send(w, binary ? 2 : 1, NULL, 0, buf, len);
}

int net_ws_send_chan(net_ws *w, uint8_t channel, const void *buf,
                       size_t len)
{
    if (w->state == S_CLOSED || w->closing)
        return DAP_ECLOSED;
    return frame_send(w, 2, &channel, 1, buf, len);
}

size_t net_ws_queued(const net_ws *w)
{
    return w->queued;
}

void net_ws_set_drain(net_ws *w, size_t low)
{
    w->drain_low = low;
}

void net_ws_pause(net_ws *w, int pause)
{
    if (w->paused == !!pause)
        return;
    w->paused = !!pause;
    if (w->state == S_CLOSED || w->freed)
        return;
    if (pause) {
        if (w->reading && w->state == S_OPEN) {
            uv_read_stop((uv_stream_t *)&w->h);
            w->reading = 0;
        }
        return;
    }
    if (!w->reading && !w->eof && w->state >= S_TLS &&
        w->state != S_CLOSED && uv_read_start((uv_stream_t *)&w->h, alloc_cb, read_cb) == 0)
        w->reading = 1;
    /* What was already received is processed from the loop, not from
     * inside the caller. */
    uv_idle_start(&w->pump, pump_cb);
}

void net_ws_close(net_ws *w)
{
    if (w == NULL || w->closing || w->state == S_CLOSED)
        return;
    w->closing = 1;
    if (w->state == S_OPEN) {
        uint8_t code[2] = {0x03, 0xe8}; /* 1000: normal closure */
        w->close_sent = 1;
        if (frame_send(w, 8, NULL, 0, code, 2) < 0 ||
            w->writes_pending == 0) {
            w->pending_status = 1;
            uv_idle_start(&w->pump, pump_cb);
        }
        uv_timer_start(&w->timer, timeout_cb, 5000, 0);
        return;
    }
    /* Not open: give up on the connection; report from the loop. */
    w->pending_status = 1;
    dap_error_set(&w->pending_err, 0, "closed");
    uv_idle_start(&w->pump, pump_cb);
}

void net_ws_free(net_ws *w)
{
    if (w == NULL)
        return;
    w->freed = 1;
    w->state = S_CLOSED;
    net_dial_cancel(w->dial);
    w->dial = NULL;
    close_handles(w);
    maybe_release(w);
}
