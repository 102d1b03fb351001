/* dapconn.c - see dapconn.h. */
#include "dapconn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../dap/frame.h"
#include "../dap/log.h"
#include "../dap/utf8.h"
#include "../net/dial.h"
#include "adapter_int.h"

#define DEFAULT_REQ_TIMEOUT_MS 30000
#define READ_CHUNK 65536

enum conn_state {
    C_CONNECTING, /* resolving and connecting (net/dial), or adopting */
    C_OPEN,
    C_CLOSED, /* failed or closed; callbacks done */
};

struct pending {
    struct pending *next;
    int64_t seq;
    uint64_t deadline;
    char *command;
    adapter_dapconn_response_cb *cb; /* or: */
    adapter_response_cb *fwd;        /* forwarded: (status, body, error) */
    void *data;
};

static void answer(struct pending *p, int status, json_t *resp,
                   const struct dap_error *err)
{
    if (p->fwd != NULL)
        adapter_dapconn_reply(p->fwd, p->data, status, resp, err);
    else
        p->cb(p->data, status, resp, err);
}

struct adapter_dapconn {
    uv_loop_t *loop;
    enum conn_state state;
    char *what;
    char *hostport;
    char host[256];
    int port;
    net_dial *dial;   /* resolve + connect in flight */
    union {
        uv_tcp_t tcp;   /* connected to hostport */
        uv_pipe_t pipe; /* a socket handed over (a tunnel's) */
    } h;
    uv_timer_t timer; /* connect deadline and request deadlines */
    uv_timer_t defer; /* close requested by the owner, run from the loop */
    uint64_t connect_deadline;
    dap_frame frame;
    dap_buf out;      /* serialisation buffer, reused */
    int64_t seq;
    struct pending *pending;
    struct adapter_dapconn_callbacks cb;
    struct adapter_dapconn_handshake *hs; /* adapter_dapconn_open's, or NULL */
    int handles;      /* uv handles still open (freed when 0 and freeing) */
    int freeing;      /* owner called _free: no more callbacks */
    int close_status; /* status reported by a deferred close */
    struct dap_error close_err;
};

struct write_req {
    uv_write_t req;
    char *data;
};

static void handshake_failed(struct adapter_dapconn_handshake *h, int status,
                             const struct dap_error *err);
static void handshake_start(struct adapter_dapconn_handshake *h);

static void maybe_release(adapter_dapconn *c)
{
    if (!c->freeing || c->handles > 0)
        return;
    dap_frame_cleanup(&c->frame);
    dap_buf_cleanup(&c->out);
    free(c->what);
    free(c->hostport);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    adapter_dapconn *c = h->data;

    c->handles--;
    maybe_release(c);
}

static void fail_pending(adapter_dapconn *c, int status,
                         const struct dap_error *err)
{
    struct pending *p = c->pending;

    c->pending = NULL;
    while (p != NULL) {
        struct pending *next = p->next;
        if (!c->freeing)
            answer(p, status, NULL, err);
        free(p->command);
        free(p);
        p = next;
    }
}

/* Tear the connection down once; report `status` to the owner. */
static void shut(adapter_dapconn *c, int status, const struct dap_error *err)
{
    enum conn_state was = c->state;

    if (was == C_CLOSED)
        return;
    c->state = C_CLOSED;
    net_dial_cancel(c->dial);
    c->dial = NULL;
    if (!uv_is_closing((uv_handle_t *)&c->h))
        uv_close((uv_handle_t *)&c->h, on_handle_closed);
    uv_timer_stop(&c->timer);
    fail_pending(c, status < 0 ? status : DAP_ECLOSED, err);
    if (c->freeing)
        return;
    if (was != C_OPEN) {
        if (c->hs != NULL)
            handshake_failed(c->hs, status < 0 ? status : DAP_ECLOSED, err);
        else if (c->cb.connected_fn != NULL)
            c->cb.connected_fn(c->cb.data, status < 0 ? status : DAP_ECLOSED,
                               err);
        return;
    }
    if (c->cb.closed_fn != NULL)
        c->cb.closed_fn(c->cb.data, status, err);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One buffer for every connection: read_cb consumes it before the loop
     * reads again, and a 64 KiB malloc/free per read made glibc
     * consolidate its heap on every message. */
    static char slab[READ_CHUNK];

    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void dispatch(adapter_dapconn *c, json_t *msg)
{
    const char *type = json_string_value(json_object_get(msg, "type"));

    if (type == NULL) {
        DAP_LOGW("%s sent a message without type; ignored", c->what);
        return;
    }
    if (strcmp(type, "response") == 0) {
        json_int_t rs = json_integer_value(json_object_get(msg, "request_seq"));
        struct pending **pp = &c->pending;
        while (*pp != NULL && (*pp)->seq != rs)
            pp = &(*pp)->next;
        if (*pp == NULL) {
            DAP_LOGW("%s answered unknown request_seq %lld; ignored", c->what,
                     (long long)rs);
            return;
        }
        struct pending *p = *pp;
        *pp = p->next;
        answer(p, 0, msg, NULL);
        free(p->command);
        free(p);
    } else if (strcmp(type, "event") == 0) {
        if (c->cb.event_fn != NULL)
            c->cb.event_fn(c->cb.data, msg);
    } else {
        /* Reverse requests (runInTerminal...) are not used by the
         * debuggers kdap drives; answer nothing and say so. */
        DAP_LOGW("%s sent a %s message; ignored", c->what, type);
    }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    adapter_dapconn *c = s->data;
    struct dap_error err = {0};
    const char *body;
    size_t len;
    int rc;

    if (n < 0) {
        if (n == UV_EOF)
            dap_error_set(&err, DAP_ECLOSED, "%s closed the connection",
                          c->what);
        else
            dap_error_set(&err, DAP_ECLOSED, "connection to %s failed: %s",
                          c->what, uv_strerror((int)n));
        shut(c, DAP_ECLOSED, &err);
        return;
    }
    rc = dap_frame_feed(&c->frame, buf->base, (size_t)n);
    if (rc < 0) {
        dap_error_set(&err, rc, "%s sent too much data", c->what);
        shut(c, rc, &err);
        return;
    }
    /* Each dispatch may end in the owner closing us; stop then. */
    while (c->state == C_OPEN && !c->freeing) {
        rc = dap_frame_next(&c->frame, &body, &len, &err);
        if (rc == 0)
            break;
        if (rc == DAP_EPROTO) {
            DAP_LOGW("%s: %s", c->what, err.msg);
            continue;
        }
        if (rc < 0) {
            dap_error_prefix(&err, "%s", c->what);
            shut(c, rc, &err);
            return;
        }
        json_error_t jerr;
        json_t *msg = json_loadb(body, len, 0, &jerr);
        if (msg == NULL && !dap_utf8_valid(body, len)) {
            /* A debuggee's bytes in a value: repair rather than lose the
             * whole message (and leave a request unanswered). */
            size_t fixed_len;
            char *fixed = dap_utf8_repair(body, len, &fixed_len);
            if (fixed != NULL)
                msg = json_loadb(fixed, fixed_len, 0, &jerr);
            free(fixed);
        }
        if (msg == NULL || !json_is_object(msg)) {
            DAP_LOGW("%s sent invalid JSON: %s", c->what, jerr.text);
            json_decref(msg);
            continue;
        }
        if (dap_log_enabled(DAP_LOG_DEBUG))
            DAP_LOGD("<- %s %.*s", c->what, (int)(len > 2000 ? 2000 : len),
                     body);
        dispatch(c, msg);
        json_decref(msg);
    }
}

static void timer_cb(uv_timer_t *t)
{
    adapter_dapconn *c = t->data;
    uint64_t now = uv_now(c->loop);
    struct dap_error err;

    if (c->state != C_OPEN) {
        if (now >= c->connect_deadline) {
            dap_error_set(&err, DAP_ETIMEDOUT,
                          "connecting to %s at %s timed out", c->what,
                          c->hostport);
            shut(c, DAP_ETIMEDOUT, &err);
        }
        return;
    }
    for (struct pending **pp = &c->pending; *pp != NULL;) {
        struct pending *p = *pp;
        if (p->deadline > now) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        dap_error_set(&err, DAP_ETIMEDOUT,
                      "%s did not answer '%s' in time", c->what, p->command);
        DAP_LOGW("%s", err.msg);
        answer(p, DAP_ETIMEDOUT, NULL, &err);
        free(p->command);
        free(p);
        if (c->freeing || c->state != C_OPEN)
            return;
    }
}

static void connected(adapter_dapconn *c, int status)
{
    struct dap_error err;

    if (c->state != C_CONNECTING)
        return; /* timed out or closed meanwhile */
    if (status < 0) {
        dap_error_set(&err, DAP_ECONNECT, "cannot connect to %s at %s: %s",
                      c->what, c->hostport, uv_strerror(status));
        shut(c, DAP_ECONNECT, &err);
        return;
    }
    c->state = C_OPEN;
    status = uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb);
    if (status < 0) {
        dap_error_set(&err, DAP_ECONNECT, "cannot read from %s: %s", c->what,
                      uv_strerror(status));
        shut(c, DAP_ECONNECT, &err);
        return;
    }
    if (c->freeing)
        return;
    if (c->hs != NULL)
        handshake_start(c->hs);
    else if (c->cb.connected_fn != NULL)
        c->cb.connected_fn(c->cb.data, 0, NULL);
}

/* net/dial's answer; it never calls after shut() (cancelled). */
static void dialled(void *data, int status, enum net_dial_step step)
{
    adapter_dapconn *c = data;
    struct dap_error err;

    c->dial = NULL;
    if (status < 0 && step == NET_DIAL_RESOLVE) {
        dap_error_set(&err, DAP_ECONNECT, "cannot resolve '%s' for %s: %s",
                      c->host, c->what, uv_strerror(status));
        shut(c, DAP_ECONNECT, &err);
        return;
    }
    connected(c, status);
}

/* A socket handed over is connected already: report so from the loop. */
static void adopted_cb(uv_timer_t *t)
{
    adapter_dapconn *c = t->data;

    connected(c, 0);
}

int adapter_dapconn_new(uv_loop_t *loop, const char *hostport, int fd,
                        const char *what, unsigned connect_timeout_ms,
                        const struct adapter_dapconn_callbacks *cb,
                        adapter_dapconn **out, struct dap_error *err)
{
    adapter_dapconn *c;
    int rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    rc = adapter__parse_hostport(hostport, c->host, sizeof(c->host), &c->port,
                                 err);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        free(c);
        return rc;
    }
    c->loop = loop;
    c->what = strdup(what);
    c->hostport = strdup(hostport);
    c->cb = *cb;
    c->state = C_CONNECTING;
    c->seq = 1;
    dap_frame_init(&c->frame, DAP_FRAME_MAX_BODY);
    dap_buf_init(&c->out, DAP_FRAME_MAX_BODY + 64);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->defer);
    c->timer.data = c;
    c->defer.data = c;
    c->handles = 3; /* timer, defer, tcp or pipe */
    c->connect_deadline = uv_now(loop) + connect_timeout_ms;
    uv_timer_start(&c->timer, timer_cb, 100, 100);

    if (fd >= 0) {
        uv_pipe_init(loop, &c->h.pipe, 0);
        c->h.pipe.data = c;
        rc = uv_pipe_open(&c->h.pipe, fd);
        if (rc < 0) {
            close(fd);
            dap_error_set(err, DAP_ECONNECT, "cannot use the tunnel to %s: %s",
                          what, uv_strerror(rc));
            adapter_dapconn_free(c);
            return DAP_ECONNECT;
        }
        uv_timer_start(&c->defer, adopted_cb, 0, 0);
        *out = c;
        return 0;
    }
    uv_tcp_init(loop, &c->h.tcp);
    c->h.tcp.data = c;
    rc = net_dial_start(loop, &c->h.tcp, c->host, c->port, dialled, c,
                        &c->dial);
    if (rc < 0) {
        dap_error_set(err, DAP_ECONNECT, "cannot connect to %s at %s: %s",
                      what, hostport, uv_strerror(rc));
        adapter_dapconn_free(c);
        return DAP_ECONNECT;
    }
    *out = c;
    return 0;
}

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;

    (void)status; /* a failed write shows up as a read error too */
    free(w->data);
    free(w);
}

void adapter_dapconn_reply(adapter_response_cb *cb, void *data, int status,
                           json_t *resp, const struct dap_error *err)
{
    struct dap_error e;
    const char *msg;

    if (status < 0) {
        if (err == NULL) {
            dap_error_set(&e, status, "%s", dap_strerror(status));
            err = &e;
        }
        cb(data, status, NULL, err);
        return;
    }
    if (json_is_true(json_object_get(resp, "success"))) {
        cb(data, 0, json_object_get(resp, "body"), NULL);
        return;
    }
    /* Prefer the formatted detail, which is what the debugger meant the
     * user to read. */
    msg = json_string_value(json_object_get(
        json_object_get(json_object_get(resp, "body"), "error"), "format"));
    if (msg == NULL)
        msg = json_string_value(json_object_get(resp, "message"));
    dap_error_set(&e, DAP_EBACKEND, "%s", msg != NULL ? msg : "request failed");
    cb(data, DAP_EBACKEND, NULL, &e);
}

static int send_request(adapter_dapconn *c, const char *command,
                        json_t *args, unsigned timeout_ms,
                        adapter_dapconn_response_cb *cb,
                        adapter_response_cb *fwd, void *data)
{
    struct pending *p;
    struct write_req *w;
    json_t *msg;
    const char *frame;
    size_t len;
    uv_buf_t b;
    int rc;

    if (c->state != C_OPEN)
        return DAP_ECLOSED;
    msg = json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)c->seq, "type",
                    "request", "command", command);
    if (msg == NULL)
        return DAP_ENOMEM;
    if (args != NULL)
        json_object_set(msg, "arguments", args);
    rc = dap_frame_encode(&c->out, msg, &frame, &len);
    json_decref(msg);
    if (rc < 0)
        return rc;
    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("-> %s %.*s", c->what, (int)(len > 2000 ? 2000 : len), frame);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return DAP_ENOMEM;
    /* Write at once when nothing is queued (the usual case); queue a copy
     * of what the socket did not take. */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->h) == 0) {
        b = uv_buf_init((char *)frame, (unsigned)len);
        rc = uv_try_write((uv_stream_t *)&c->h, &b, 1);
        if (rc > 0) {
            frame += rc;
            len -= (size_t)rc;
        }
    }
    if (len > 0) {
        w = calloc(1, sizeof(*w));
        if (w != NULL)
            w->data = malloc(len);
        if (w == NULL || w->data == NULL) {
            if (w != NULL)
                free(w);
            free(p);
            return DAP_ENOMEM;
        }
        memcpy(w->data, frame, len);
        b = uv_buf_init(w->data, (unsigned)len);
        rc = uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, write_cb);
        if (rc < 0) {
            free(w->data);
            free(w);
            free(p);
            return DAP_ECLOSED;
        }
    }
    p->seq = c->seq++;
    p->command = strdup(command);
    p->deadline = uv_now(c->loop) +
                  (timeout_ms != 0 ? timeout_ms : DEFAULT_REQ_TIMEOUT_MS);
    p->cb = cb;
    p->fwd = fwd;
    p->data = data;
    /* Append, so responses to pipelined requests keep their order when
     * several time out together. */
    struct pending **pp = &c->pending;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = p;
    return 0;
}

int adapter_dapconn_request(adapter_dapconn *c, const char *command,
                            json_t *args, unsigned timeout_ms,
                            adapter_dapconn_response_cb *cb, void *data)
{
    return send_request(c, command, args, timeout_ms, cb, NULL, data);
}

int adapter_dapconn_forward(adapter_dapconn *c, const char *command,
                            json_t *args, adapter_response_cb *cb, void *data)
{
    return send_request(c, command, args, 0, NULL, cb, data);
}

static void defer_close_cb(uv_timer_t *t)
{
    adapter_dapconn *c = t->data;

    shut(c, c->close_status, &c->close_err);
}

void adapter_dapconn_close(adapter_dapconn *c)
{
    if (c == NULL || c->state == C_CLOSED)
        return;
    c->close_status = 0;
    dap_error_set(&c->close_err, DAP_ECLOSED, "connection to %s closed",
                  c->what);
    uv_timer_start(&c->defer, defer_close_cb, 0, 0);
}

void adapter_dapconn_free(adapter_dapconn *c)
{
    if (c == NULL)
        return;
    c->freeing = 1;
    if (c->state != C_CLOSED)
        shut(c, DAP_ECLOSED, NULL);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->defer))
        uv_close((uv_handle_t *)&c->defer, on_handle_closed);
    maybe_release(c);
}

/* ---- for the backends that speak DAP ---------------------------------- */

#define OPEN_TIMEOUT_MS 5000

int adapter_dapconn_open(adapter *a, const char *hostport,
                         struct adapter_dapconn_handshake *h,
                         const struct adapter_dapconn_callbacks *cb,
                         adapter_dapconn **out)
{
    struct dap_error err;
    int fd = -1;
    int rc = 0;

    if (a->tunnel.serve_fn != NULL)
        rc = adapter__dial(a, &fd, &err);
    if (rc == 0)
        rc = adapter_dapconn_new(a->loop, hostport, fd, h->who, OPEN_TIMEOUT_MS,
                                 cb, out, &err);
    if (rc < 0) {
        DAP_LOGE("service %s: %s", a->name, err.msg);
        return rc;
    }
    h->a = a;
    h->conn = *out;
    (*out)->hs = h;
    return 0;
}

static void handshake_failed(struct adapter_dapconn_handshake *h, int status,
                             const struct dap_error *err)
{
    struct dap_error e;

    if (err != NULL)
        e = *err;
    else
        dap_error_set(&e, status, "%s", dap_strerror(status));
    if (status == DAP_ECONNECT || status == DAP_ETIMEDOUT)
        dap_error_set(&e, status, "service \"%s\": %s. %s", h->a->name,
                      err->msg, h->connect_hint);
    h->fail_fn(h->data, status, &e);
}

static void handshake_initialized(void *data, int status, json_t *resp,
                                  const struct dap_error *err)
{
    struct adapter_dapconn_handshake *h = data;
    struct dap_error e;

    if (status == 0 &&
        adapter_dapconn_refused(resp, h->who, "to initialize", &e) < 0) {
        status = e.code;
        err = &e;
    }
    if (status < 0) {
        h->fail_fn(h->data, status, err);
        return;
    }
    json_decref(h->a->caps);
    h->a->caps = json_incref(json_object_get(resp, "body"));
    status =
        adapter_dapconn_request(h->conn, "attach", h->attach_args,
                                h->attach_timeout_ms, h->attach_cb, h->data);
    if (status < 0) {
        dap_error_set(&e, status, "cannot send attach to %s", h->who);
        h->fail_fn(h->data, status, &e);
    }
}

static void handshake_start(struct adapter_dapconn_handshake *h)
{
    json_t *args = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b}", "clientID", "kdap",
        "clientName", "kdap", "adapterID", h->adapter_id, "pathFormat", "path",
        "linesStartAt1", 1, "columnsStartAt1", 1, "supportsVariableType", 1,
        "supportsVariablePaging", 1, "supportsRunInTerminalRequest", 0);
    struct dap_error e;
    int rc = adapter_dapconn_request(h->conn, "initialize", args, 0,
                                     handshake_initialized, h);

    json_decref(args);
    if (rc < 0) {
        dap_error_set(&e, rc, "cannot send initialize to %s", h->who);
        h->fail_fn(h->data, rc, &e);
    }
}

int adapter_dapconn_refused(json_t *resp, const char *who, const char *what,
                            struct dap_error *err)
{
    const char *msg;
    const char *fmt;

    if (json_is_true(json_object_get(resp, "success")))
        return 0;
    msg = json_string_value(json_object_get(resp, "message"));
    fmt = json_string_value(json_object_get(
        json_object_get(json_object_get(resp, "body"), "error"), "format"));
    return dap_error_set(err, DAP_EBACKEND, "%s refused %s: %s", who, what,
                         fmt != NULL   ? fmt
                         : msg != NULL ? msg
                                       : "no reason");
}
