/* portfwd.c - see portfwd.h. */
#define _GNU_SOURCE /* asprintf */
#include "portfwd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "../dap/buf.h"
#include "../dap/log.h"
#include "chan.h"
#include "client_int.h"
#include "../net/ws.h"

/* Largest message we send.  Each is one unfragmented frame; the kubelet
 * (x/net/websocket) reads whole frames up to 32 MiB, so the limit is about
 * cost: per-message work dominates below ~128 KiB on the API server and
 * kubelet side (measured: 32 KiB frames give ~70 MiB/s through the local
 * cluster, 128 KiB ~105 MiB/s). */
#define MAX_CHUNK (128u << 10)
#define PENDING_CAP (8u << 20)

enum pc_state {
    PC_AUTH,       /* waiting for credentials */
    PC_CONNECTING, /* WebSocket handshake */
    PC_OPEN,
    PC_DIAGNOSING, /* handshake failed: asking the API server why */
    PC_CLOSED,     /* closed_fn delivered (or about to be, deferred) */
};

struct kube_pf_conn {
    kube_client *c;
    struct kube_pf_callbacks cb;
    enum pc_state state;
    char *ns, *pod;
    uint16_t port;
    net_ws *ws;
    kube_auth_wait *wait;
    kube_request *diag;
    struct kube_pf_state pfs;
    dap_buf pending;       /* written before the WebSocket existed */
    int closing;           /* kube_pf_conn_close called */
    int paused;
    struct dap_error why;  /* the handshake failure being diagnosed */
    /* Deferred close report (never from inside the caller's call). */
    uv_timer_t *defer;
    int defer_status;
    struct dap_error defer_err;
};

static void defer_free_cb(uv_handle_t *h)
{
    free(h);
}

static void finish(kube_pf_conn *pc, int status, const struct dap_error *e)
{
    if (pc->state == PC_CLOSED)
        return;
    pc->state = PC_CLOSED;
    if (status < 0)
        DAP_LOGI("kube: port-forward %s/%s:%u ended: %s", pc->ns, pc->pod,
                 pc->port, e != NULL ? e->msg : dap_strerror(status));
    if (pc->cb.closed_fn != NULL)
        pc->cb.closed_fn(pc->cb.data, pc, status, e);
}

static void defer_fire(uv_timer_t *t)
{
    kube_pf_conn *pc = t->data;

    finish(pc, pc->defer_status, &pc->defer_err);
}

static void finish_later(kube_pf_conn *pc, int status,
                         const struct dap_error *e)
{
    pc->defer_status = status;
    if (e != NULL)
        pc->defer_err = *e;
    else
        dap_error_set(&pc->defer_err, status, "closed");
    if (pc->defer == NULL) {
        pc->defer = malloc(sizeof(*pc->defer));
        if (pc->defer == NULL) {
            finish(pc, status, e);
            return;
        }
        uv_timer_init(kube_client_loop(pc->c), pc->defer);
        pc->defer->data = pc;
    }
    uv_timer_start(pc->defer, defer_fire, 0, 0);
}

static int send_chunks(kube_pf_conn *pc, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        size_t n = len < MAX_CHUNK ? len : MAX_CHUNK;
        int rc = net_ws_send_chan(pc->ws, 0, buf, n);
        if (rc < 0)
            return rc;
        buf += n;
        len -= n;
    }
    return 0;
}

/* ---- WebSocket callbacks ------------------------------------------------ */

static void ws_open(void *data, net_ws *ws, const char *sp)
{
    kube_pf_conn *pc = data;
    struct dap_error e;

    if (kube_chan_proto_parse(sp) != KUBE_CHAN_V4) {
        dap_error_set(&e, DAP_EPROTO,
                      "port-forward to %s/%s: the server chose the "
                      "unsupported subprotocol \"%s\"",
                      pc->ns, pc->pod, sp);
        net_ws_close(ws);
        finish(pc, DAP_EPROTO, &e);
        return;
    }
    pc->state = PC_OPEN;
    DAP_LOGD("kube: port-forward %s/%s:%u open", pc->ns, pc->pod, pc->port);
    if (pc->cb.open_fn != NULL)
        pc->cb.open_fn(pc->cb.data, pc);
}

static void ws_message(void *data, net_ws *ws, const uint8_t *buf,
                       size_t len, int binary)
{
    kube_pf_conn *pc = data;
    struct kube_chan_msg m;
    struct dap_error e;
    const uint8_t *d;
    size_t n;
    int rc;

    (void)binary;
    if (pc->state != PC_OPEN)
        return;
    rc = kube_chan_decode(KUBE_CHAN_V4, buf, len, NULL, &m);
    if (rc == 1)
        return;
    rc = kube_pf_feed(&pc->pfs, &m, &d, &n, &e);
    if (rc < 0) {
        dap_error_prefix(&e, "port-forward to %s/%s", pc->ns, pc->pod);
        net_ws_close(ws);
        finish(pc, DAP_EPROTO, &e);
        return;
    }
    if (rc == KUBE_PF_DATA) {
        if (pc->cb.data_fn != NULL)
            pc->cb.data_fn(pc->cb.data, pc, (const char *)d, n);
    } else if (rc == KUBE_PF_ERROR) {
        char text[200];
        size_t k = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
        memcpy(text, d, k);
        text[k] = '\0';
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)text[i] < 0x20)
                text[i] = ' ';
        dap_error_set(&e, DAP_ECONNECT,
                      "port-forward to pod %s/%s port %u failed: %s", pc->ns,
                      pc->pod, pc->port, text);
        net_ws_close(ws);
        finish(pc, DAP_ECONNECT, &e);
    }
}

static void ws_drain(void *data, net_ws *ws)
{
    kube_pf_conn *pc = data;

    (void)ws;
    if (pc->state == PC_OPEN && pc->cb.drain_fn != NULL)
        pc->cb.drain_fn(pc->cb.data, pc);
}

static void diag_done(void *data, int status, long http, json_t *pod,
                      const struct dap_error *err)
{
    kube_pf_conn *pc = data;
    struct dap_error e;
    const char *phase;

    pc->diag = NULL;
    if (status < 0) {
        /* No answer about the pod either (the same way failed, e.g. the
         * proxy): the tunnel's own failure is the cause to show. */
        e = http == 0 ? pc->why : *err;
        dap_error_prefix(&e, "port-forward to pod %s/%s", pc->ns, pc->pod);
        finish(pc, status, &e);
        return;
    }
    phase = json_string_value(
        json_object_get(json_object_get(pod, "status"), "phase"));
    if (json_object_get(json_object_get(pod, "metadata"),
                        "deletionTimestamp") != NULL)
        dap_error_set(&e, DAP_ECONNECT,
                      "port-forward to pod %s/%s: the pod is being deleted",
                      pc->ns, pc->pod);
    else if (phase != NULL && strcmp(phase, "Running") != 0)
        dap_error_set(&e, DAP_ECONNECT,
                      "port-forward to pod %s/%s: the pod is %s, not Running",
                      pc->ns, pc->pod, phase);
    else
        dap_error_set(&e, DAP_ECONNECT,
                      "port-forward to pod %s/%s port %u was refused (%s): "
                      "check that you may create pods/portforward in "
                      "namespace %s (`kdap doctor -n %s`)",
                      pc->ns, pc->pod, pc->port, pc->why.msg, pc->ns, pc->ns);
    finish(pc, DAP_ECONNECT, &e);
}

static void ws_closed(void *data, net_ws *ws, int status, int http,
                      const char *body, const struct dap_error *err)
{
    kube_pf_conn *pc = data;
    struct kube_request_opts ro;
    struct dap_error e;
    char path[600];

    (void)ws;
    if (pc->state == PC_CLOSED)
        return;
    if (pc->state == PC_CONNECTING && http > 0 && body != NULL &&
        body[0] == '{') {
        /* The API server refused with a Status: say exactly that. */
        char who[600];
        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/pods/%s/portforward", pc->ns,
                 pc->pod);
        kube__who(pc->c, who, sizeof(who));
        kube_status_message(http, "GET", path, body, strlen(body), who, &e);
        dap_error_prefix(&e, "port-forward to pod %s/%s port %u", pc->ns,
                         pc->pod, pc->port);
        finish(pc, DAP_ECONNECT, &e);
        return;
    }
    if (pc->state == PC_CONNECTING && status < 0 && !pc->closing) {
        pc->why = *err;
        pc->state = PC_DIAGNOSING;
        memset(&ro, 0, sizeof(ro));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", pc->ns,
                 pc->pod);
        ro.path = path;
        ro.timeout_ms = 10000;
        if (kube_request_start(pc->c, &ro, diag_done, pc, &pc->diag, &e) < 0)
            finish(pc, status, err);
        return;
    }
    if (status == DAP_ECLOSED) {
        /* The pod side (or the kubelet) closed: the normal end of a TCP
         * connection in v4, which has no half-close. */
        finish(pc, 0, NULL);
        return;
    }
    if (status < 0) {
        e = *err;
        dap_error_prefix(&e, "port-forward to pod %s/%s", pc->ns, pc->pod);
        finish(pc, status, &e);
        return;
    }
    finish(pc, 0, NULL);
}

static int open_ws(kube_pf_conn *pc, const struct kube_cred *cred,
                   struct dap_error *err)
{
    struct net_ws_callbacks wcb = {ws_open, ws_message, ws_drain, ws_closed,
                                     pc};
    struct net_ws_options o;
    struct kube__ws_storage st;
    char path[600];
    int rc;

    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods/%s/portforward?ports=%u", pc->ns,
             pc->pod, pc->port);
    rc = kube__ws_options(pc->c, cred, path, "v4.channel.k8s.io", &o, &st);
    if (rc < 0)
        return dap_error_set(err, rc, "out of memory");
    o.max_message = 1u << 20;
    rc = net_ws_new(kube_client_loop(pc->c), &o, &wcb, &pc->ws, err);
    kube__ws_storage_cleanup(&st);
    if (rc < 0) {
        dap_error_prefix(err, "port-forward to pod %s/%s", pc->ns, pc->pod);
        return rc;
    }
    pc->state = PC_CONNECTING;
    net_ws_set_drain(pc->ws, KUBE_PF_LOW_WATER);
    if (pc->paused)
        net_ws_pause(pc->ws, 1);
    if (pc->pending.len > 0) {
        rc = send_chunks(pc, (const uint8_t *)pc->pending.data,
                         pc->pending.len);
        dap_buf_reset(&pc->pending);
        if (rc < 0)
            return dap_error_set(err, rc, "out of memory");
    }
    if (pc->closing)
        net_ws_close(pc->ws);
    return 0;
}

static void auth_ready(void *data, int status, const struct kube_cred *cred,
                       const struct dap_error *err)
{
    kube_pf_conn *pc = data;
    struct dap_error e;

    pc->wait = NULL;
    if (status < 0) {
        finish(pc, status, err);
        return;
    }
    if (open_ws(pc, cred, &e) < 0)
        finish(pc, e.code, &e);
}

/* ---- public: one tunnel ------------------------------------------------- */

int kube_pf_conn_new(kube_client *c, const char *ns, const char *pod,
                     uint16_t port, const struct kube_pf_callbacks *cb,
                     kube_pf_conn **out, struct dap_error *err)
{
    kube_pf_conn *pc;
    struct kube_cred cred;
    int rc;

    *out = NULL;
    if (port == 0)
        return dap_error_set(err, DAP_EINVAL, "port-forward: port 0");
    pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    pc->c = c;
    pc->cb = *cb;
    pc->port = port;
    pc->ns = strdup(ns);
    pc->pod = strdup(pod);
    dap_buf_init(&pc->pending, PENDING_CAP);
    kube_pf_state_init(&pc->pfs, port);
    pc->state = PC_AUTH;
    if (pc->ns == NULL || pc->pod == NULL) {
        kube_pf_conn_free(pc);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    rc = kube_auth_get(kube_client_auth(c), &cred, auth_ready, pc, &pc->wait,
                       err);
    if (rc == 0)
        rc = open_ws(pc, &cred, err);
    if (rc < 0 && rc != DAP_PENDING) {
        pc->state = PC_CLOSED;
        kube_pf_conn_free(pc);
        return rc;
    }
    *out = pc;
    return 0;
}

int kube_pf_conn_write(kube_pf_conn *pc, const void *buf, size_t len)
{
    if (pc->state == PC_CLOSED || pc->state == PC_DIAGNOSING || pc->closing)
        return DAP_ECLOSED;
    if (pc->ws == NULL)
        return dap_buf_append(&pc->pending, buf, len);
    return send_chunks(pc, buf, len);
}

size_t kube_pf_conn_queued(const kube_pf_conn *pc)
{
    return pc->ws != NULL ? net_ws_queued(pc->ws) : pc->pending.len;
}

void kube_pf_conn_pause(kube_pf_conn *pc, int pause)
{
    pc->paused = !!pause;
    if (pc->ws != NULL)
        net_ws_pause(pc->ws, pause);
}

void kube_pf_conn_close(kube_pf_conn *pc)
{
    if (pc == NULL || pc->closing || pc->state == PC_CLOSED)
        return;
    pc->closing = 1;
    if (pc->ws != NULL && pc->state != PC_DIAGNOSING) {
        net_ws_close(pc->ws);
        return;
    }
    kube_auth_wait_cancel(pc->wait);
    pc->wait = NULL;
    kube_request_cancel(pc->diag);
    pc->diag = NULL;
    finish_later(pc, 0, NULL);
}

void kube_pf_conn_free(kube_pf_conn *pc)
{
    if (pc == NULL)
        return;
    kube_auth_wait_cancel(pc->wait);
    kube_request_cancel(pc->diag);
    net_ws_free(pc->ws);
    if (pc->defer != NULL) {
        uv_timer_stop(pc->defer);
        uv_close((uv_handle_t *)pc->defer, defer_free_cb);
    }
    dap_buf_cleanup(&pc->pending);
    free(pc->ns);
    free(pc->pod);
    free(pc);
}

/* ---- the local listener ------------------------------------------------- */

struct bridge {
    kube_portfwd *pf;
    struct bridge *prev, *next;
    /* An accepted TCP connection, or a socket kdap handed over
     * (kube_portfwd_serve): either way used as a uv_stream_t. */
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_shutdown_t shut;
    kube_pf_conn *pc;
    size_t wq;          /* bytes in uv_write requests in flight */
    int reading;        /* uv_read_start active */
    int eof;            /* the local side ended */
    int closing;        /* tcp close started */
    int pc_paused;
};

struct kube_portfwd {
    kube_client *c;
    struct kube_portfwd_opts o;
    struct kube_portfwd_callbacks cb;
    uv_tcp_t listener;
    int port;
    int active;
    struct bridge *bridges;
    int freeing;
    int handles;        /* listener + bridges still closing */
};

struct wreq {
    uv_write_t req;
    struct bridge *b;
    size_t len;
    char data[];
};

static void pf_maybe_release(kube_portfwd *pf)
{
    if (pf->freeing && pf->handles == 0) {
        free((char *)pf->o.ns);
        free((char *)pf->o.pod);
        free((char *)pf->o.address);
        dap_secret_free((char *)pf->o.first);
        free(pf);
    }
}

static void bridge_closed(uv_handle_t *h)
{
    struct bridge *b = h->data;
    kube_portfwd *pf = b->pf;

    kube_pf_conn_free(b->pc);
    if (b->prev != NULL)
        b->prev->next = b->next;
    else if (pf->bridges == b)
        pf->bridges = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    pf->active--;
    pf->handles--;
    free(b);
    pf_maybe_release(pf);
}

static void bridge_close_tcp(struct bridge *b)
{
    if (b->closing)
        return;
    b->closing = 1;
    if (!uv_is_closing((uv_handle_t *)&b->h))
        uv_close((uv_handle_t *)&b->h, bridge_closed);
}

static void shut_done(uv_shutdown_t *req, int status)
{
    struct bridge *b = req->data;

    (void)status;
    bridge_close_tcp(b);
}

/* The tunnel is over: let the pending writes out, then close the TCP. */
static void bridge_end_local(struct bridge *b)
{
    if (b->closing)
        return;
    if (b->reading) {
        uv_read_stop((uv_stream_t *)&b->h);
        b->reading = 0;
    }
    b->shut.data = b;
    if (b->wq == 0 ||
        uv_shutdown(&b->shut, (uv_stream_t *)&b->h, shut_done) < 0)
        bridge_close_tcp(b);
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[256 << 10];

    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bridge *b = s->data;

    if (n > 0) {
        if (kube_pf_conn_write(b->pc, buf->base, (size_t)n) < 0) {
            uv_read_stop(s);
            b->reading = 0;
            return;
        }
        if (kube_pf_conn_queued(b->pc) > KUBE_PF_HIGH_WATER) {
            uv_read_stop(s);
            b->reading = 0;
        }
    } else if (n < 0) {
        uv_read_stop(s);
        b->reading = 0;
        b->eof = 1;
        /* v4 has no half-close: the local side ending ends the tunnel
         * (after the queue is written), as kubectl's does. */
        kube_pf_conn_close(b->pc);
    }
}

static void pc_drain(void *data, kube_pf_conn *pc)
{
    struct bridge *b = data;

    (void)pc;
    if (!b->reading && !b->eof && !b->closing &&
        kube_pf_conn_queued(b->pc) <= KUBE_PF_LOW_WATER) {
        if (uv_read_start((uv_stream_t *)&b->h, tcp_alloc, tcp_read) == 0)
            b->reading = 1;
    }
}

static void write_done(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct bridge *b = w->b;

    b->wq -= w->len;
    free(w);
    if (status < 0) {
        /* The local peer is gone: end the tunnel. */
        if (!b->eof) {
            b->eof = 1;
            if (b->reading) {
                uv_read_stop((uv_stream_t *)&b->h);
                b->reading = 0;
            }
        }
        kube_pf_conn_close(b->pc);
        return;
    }
    if (b->pc_paused && b->wq <= KUBE_PF_LOW_WATER) {
        DAP_LOGD("kube: port-forward: local side drained, resuming");
        b->pc_paused = 0;
        kube_pf_conn_pause(b->pc, 0);
    }
}

static void pc_data(void *data, kube_pf_conn *pc, const char *buf, size_t len)
{
    struct bridge *b = data;
    struct wreq *w;
    uv_buf_t ub;

    (void)pc;
    if (b->closing || b->eof)
        return;
    /* Try to write it at once; queue (with a copy) only what is left. */
    if (b->wq == 0) {
        ub = uv_buf_init((char *)buf, (unsigned)len);
        int r = uv_try_write((uv_stream_t *)&b->h, &ub, 1);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
        }
        if (len == 0)
            return;
    }
    w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        kube_pf_conn_close(b->pc);
        return;
    }
    w->b = b;
    w->len = len;
    memcpy(w->data, buf, len);
    ub = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&b->h, &ub, 1, write_done) < 0) {
        free(w);
        kube_pf_conn_close(b->pc);
        return;
    }
    b->wq += len;
    if (b->wq > KUBE_PF_HIGH_WATER && !b->pc_paused) {
        DAP_LOGD("kube: port-forward: local side slow, pausing");
        b->pc_paused = 1;
        kube_pf_conn_pause(b->pc, 1);
    }
}

static void pc_closed(void *data, kube_pf_conn *pc, int status,
                      const struct dap_error *err)
{
    struct bridge *b = data;

    (void)pc;
    if (status < 0 && b->pf->cb.conn_error_fn != NULL)
        b->pf->cb.conn_error_fn(b->pf->cb.data, err);
    bridge_end_local(b);
}

/* A new bridge in pf's list; its handle is initialised by the caller. */
static struct bridge *bridge_add(kube_portfwd *pf)
{
    struct bridge *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->pf = pf;
    pf->handles++;
    pf->active++;
    b->next = pf->bridges;
    if (pf->bridges != NULL)
        pf->bridges->prev = b;
    pf->bridges = b;
    return b;
}

/* The local side is connected: open its tunnel and start reading. */
static int bridge_start(struct bridge *b, struct dap_error *err)
{
    kube_portfwd *pf = b->pf;
    struct kube_pf_callbacks cb;

    memset(&cb, 0, sizeof(cb));
    cb.data_fn = pc_data;
    cb.drain_fn = pc_drain;
    cb.closed_fn = pc_closed;
    cb.data = b;
    if (kube_pf_conn_new(pf->c, pf->o.ns, pf->o.pod, pf->o.remote_port, &cb,
                         &b->pc, err) < 0) {
        bridge_close_tcp(b);
        return err->code;
    }
    if (pf->o.first != NULL &&
        kube_pf_conn_write(b->pc, pf->o.first, strlen(pf->o.first)) < 0) {
        bridge_close_tcp(b);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    if (uv_read_start((uv_stream_t *)&b->h, tcp_alloc, tcp_read) == 0)
        b->reading = 1;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    kube_portfwd *pf = server->data;
    struct dap_error e;
    struct bridge *b;

    if (status < 0 || pf->freeing || (b = bridge_add(pf)) == NULL)
        return;
    uv_tcp_init(kube_client_loop(pf->c), &b->h.tcp);
    b->h.tcp.data = b;
    if (uv_accept(server, (uv_stream_t *)&b->h) < 0) {
        bridge_close_tcp(b);
        return;
    }
    uv_tcp_nodelay(&b->h.tcp, 1);
    if (bridge_start(b, &e) < 0 && pf->cb.conn_error_fn != NULL)
        pf->cb.conn_error_fn(pf->cb.data, &e);
}

int kube_portfwd_serve(kube_portfwd *pf, int fd, struct dap_error *err)
{
    struct bridge *b;
    int rc;

    if (pf->freeing || (b = bridge_add(pf)) == NULL) {
        close(fd);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    uv_pipe_init(kube_client_loop(pf->c), &b->h.pipe, 0);
    b->h.pipe.data = b;
    rc = uv_pipe_open(&b->h.pipe, fd);
    if (rc < 0) {
        close(fd);
        bridge_close_tcp(b);
        return dap_error_set(err, DAP_ECONNECT, "cannot use socket %d: %s",
                             fd, uv_strerror(rc));
    }
    return bridge_start(b, err);
}

static void listener_closed(uv_handle_t *h)
{
    kube_portfwd *pf = h->data;

    pf->handles--;
    pf_maybe_release(pf);
}

int kube_portfwd_new(kube_client *c, const struct kube_portfwd_opts *o,
                     const struct kube_portfwd_callbacks *cb,
                     kube_portfwd **out, struct dap_error *err)
{
    struct sockaddr_storage ss;
    int namelen = sizeof(ss);
    kube_portfwd *pf;
    const char *addr = o->address ? o->address : "127.0.0.1";
    int rc;

    *out = NULL;
    pf = calloc(1, sizeof(*pf));
    if (pf == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    pf->c = c;
    pf->o = *o;
    pf->o.ns = strdup(o->ns);
    pf->o.pod = strdup(o->pod);
    pf->o.address = strdup(addr);
    pf->o.first = o->first != NULL ? strdup(o->first) : NULL;
    if (cb != NULL)
        pf->cb = *cb;
    uv_tcp_init(kube_client_loop(c), &pf->listener);
    pf->listener.data = pf;
    pf->handles = 1;
    if (o->no_listener) {
        *out = pf;
        return 0;
    }
    if (strchr(addr, ':') != NULL)
        rc = uv_ip6_addr(addr, o->local_port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(addr, o->local_port, (struct sockaddr_in *)&ss);
    if (rc == 0)
        rc = uv_tcp_bind(&pf->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&pf->listener, 128, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&pf->listener, (struct sockaddr *)&ss,
                                &namelen);
    if (rc < 0) {
        dap_error_set(err, DAP_ECONNECT, "cannot listen on %s:%d: %s", addr,
                      o->local_port, uv_strerror(rc));
        pf->freeing = 1;
        uv_close((uv_handle_t *)&pf->listener, listener_closed);
        return DAP_ECONNECT;
    }
    pf->port = ntohs(ss.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&ss)->sin6_port
                         : ((struct sockaddr_in *)&ss)->sin_port);
    *out = pf;
    return 0;
}

int kube_portfwd_port(const kube_portfwd *pf)
{
    return pf->port;
}

int kube_portfwd_active(const kube_portfwd *pf)
{
    return pf->active;
}

void kube_portfwd_free(kube_portfwd *pf)
{
    if (pf == NULL)
        return;
    pf->freeing = 1;
    for (struct bridge *b = pf->bridges; b != NULL; b = b->next) {
        kube_pf_conn_free(b->pc);
        b->pc = NULL;
        bridge_close_tcp(b);
    }
    uv_close((uv_handle_t *)&pf->listener, listener_closed);
}
