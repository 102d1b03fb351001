/* ws.c - see ws.h: WebSocket client on lws (foreign libuv loop) and a
 * plain-TCP HTTP GET. */
#include "ws.h"

#include <dlfcn.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "../dap/buf.h"
#include "../dap/log.h"

#define DEFAULT_MAX_MESSAGE (64u << 20)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define GET_MAX_BODY (16u << 20)

/* ---- the per-loop lws context ----------------------------------------- */

/* A vhost holding one TLS client configuration.  Vhosts are shared by
 * connections with the same configuration and live as long as the context:
 * destroying one while a connection of it is still closing crashes lws
 * 4.1 (the close completes later, from the loop, and uses the vhost). */
struct tls_vhost {
    unsigned char key[SHA256_DIGEST_LENGTH]; /* digest of the config */
    struct lws_vhost *vh;
    struct tls_vhost *next;
};

struct ws_ctx {
    uv_loop_t *loop;
    struct tls_vhost *vhosts;
    struct lws_context *lws; /* lws writes NULL here once it is freed */
    int users;               /* kube_ws objects using it */
    struct ws_ctx *next;
    uv_timer_t reaper; /* destroys the context: kube_ws_shutdown() */
    int tries;
    int wsis;             /* connections lws has not destroyed yet */
    uv_handle_t *own[16]; /* lws's own uv handles (timers, signals...) */
    int nown;
    uint64_t idle_since;
};

static struct ws_ctx *contexts;
static unsigned vhost_serial;

/* No validity checks: lws would send PINGs, which Node's inspector treats
 * as a frame error and answers by dropping the connection.  A zero hangup
 * time turns the whole mechanism off. */
static const lws_retry_bo_t no_validity = {0};

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len);

static const struct lws_protocols protocols[] = {
    {"kdap-ws", ws_callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        DAP_LOGE("lws: %.*s", (int)n, line);
    else
        DAP_LOGW("lws: %.*s", (int)n, line);
}

/* IMPORTANT: lws loads its libuv glue as a plugin and unloads it at the
 * end of lws_context_destroy(), while close callbacks it queued on our loop
 * still point into it; they would then run unmapped code.  One extra
 * reference of our own, taken once and never dropped, keeps the plugin
 * mapped for the life of the process. */
static void pin_evlib(void)
{
    static const char *const names[] = {
        "libwebsockets-evlib_uv.so",
        "/usr/lib/x86_64-linux-gnu/libwebsockets-evlib_uv.so",
        "/usr/lib/libwebsockets-evlib_uv.so",
        "/usr/local/lib/libwebsockets-evlib_uv.so",
    };
    static void *pinned;

    for (size_t i = 0; pinned == NULL && i < sizeof(names) / sizeof(names[0]);
         i++)
        pinned = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
    if (pinned == NULL)
        DAP_LOGW("ws: cannot pin the lws libuv plugin; closing the last "
                 "WebSocket may crash");
}

struct handle_set {
    uv_handle_t *h[64];
    int n;
};

static void collect(uv_handle_t *h, void *arg)
{
    struct handle_set *set = arg;

    if (set->n < (int)(sizeof(set->h) / sizeof(set->h[0])))
        set->h[set->n++] = h;
}

static int in_set(const struct handle_set *set, uv_handle_t *h)
{
    for (int i = 0; i < set->n; i++) {
        if (set->h[i] == h)
            return 1;
    }
    return 0;
}

/* Whether any of lws's own handles is still on the loop (a handle leaves
 * uv_walk's list once its close callback has run). */
static void find_own(uv_handle_t *h, void *arg)
{
    struct ws_ctx *c = arg;

    for (int i = 0; i < c->nown; i++) {
        if (c->own[i] == h)
            c->tries |= 0x10000; /* marker: still there */
    }
}

static int own_handles_left(struct ws_ctx *c)
{
    int left;

    c->tries &= 0xffff;
    uv_walk(c->loop, find_own, c);
    left = (c->tries & 0x10000) != 0;
    c->tries &= 0xffff;
    return left;
}

static int atexit_done;
static void shutdown_at_exit(void);

static struct ws_ctx *ctx_get(uv_loop_t *loop, struct dap_error *err)
{
    struct handle_set before = {{0}, 0}, after = {{0}, 0};
    struct lws_context_creation_info info;
    void *loops[1] = {loop};
    struct ws_ctx *c;

    for (c = contexts; c != NULL; c = c->next) {
        if (c->loop == loop) {
            c->users++; /* an idle context is reused; its timer sees it */
            return c;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        dap_error_set(err, DAP_ENOMEM, "out of memory");
        return NULL;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    memset(&info, 0, sizeof(info));
    info.options =
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.foreign_loops = loops;
    info.gid = -1;
    info.uid = -1;
    info.retry_and_idle_policy = &no_validity;
    info.pcontext = &c->lws;
    uv_walk(loop, collect, &before);
    c->lws = lws_create_context(&info);
    uv_walk(loop, collect, &after);
    for (int i = 0; i < after.n; i++) {
        if (!in_set(&before, after.h[i]) &&
            c->nown < (int)(sizeof(c->own) / sizeof(c->own[0]))) {
            c->own[c->nown++] = after.h[i];
            /* An idle context must not keep the loop running. */
            uv_unref(after.h[i]);
        }
    }
    if (c->lws == NULL) {
        free(c);
        dap_error_set(err, DAP_ENOMEM,
                      "cannot create the libwebsockets context (is the "
                      "libuv event plugin libwebsockets-evlib_uv "
                      "installed?)");
        return NULL;
    }
    pin_evlib();
    if (!atexit_done) {
        atexit_done = 1;
        atexit(shutdown_at_exit);
    }
    c->loop = loop;
    c->users = 1;
    uv_timer_init(loop, &c->reaper);
    c->reaper.data = c;
    c->next = contexts;
    contexts = c;
    return c;
}

static void ctx_reaper_closed(uv_handle_t *h)
{
    struct ws_ctx *c = h->data;

    while (c->vhosts != NULL) {
        struct tls_vhost *v = c->vhosts;
        c->vhosts = v->next;
        free(v);
    }
    free(c);
}

/* IMPORTANT: on a foreign libuv loop, lws 4.1 destroys a context in two
 * calls.  The first lws_context_destroy() closes the connections and starts
 * closing lws's own uv handles; lws does not finish by itself on a foreign
 * loop, and a second call made before those handles' close callbacks have
 * run frees what they still use.  So the second call waits until none of
 * the handles lws created with the context is left on the loop; lws then
 * frees the context and clears c->lws (info.pcontext).  Never call it
 * again after that: a freed context's descriptors may belong to someone
 * else by then. */
static void ctx_reap(uv_timer_t *t)
{
    struct ws_ctx *c = t->data;

    if (c->lws != NULL && own_handles_left(c) && c->tries++ < 400)
        return; /* the repeating timer comes back */
    if (c->lws != NULL)
        lws_context_destroy(c->lws);
    if (c->lws != NULL && c->tries++ < 400)
        return;
    if (c->lws != NULL)
        DAP_LOGW("ws: the libwebsockets context did not finish closing");
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, ctx_reaper_closed);
}

static struct ws_ctx *ctx_of(struct lws *wsi)
{
    struct lws_context *l = lws_get_context(wsi);

    for (struct ws_ctx *c = contexts; c != NULL; c = c->next) {
        if (c->lws == l)
            return c;
    }
    return NULL;
}

/* Once shutdown was asked for, waits until lws has destroyed every
 * connection: IMPORTANT: a connection that failed or was killed finishes
 * closing from a later loop iteration, and destroying the context before
 * that crashes lws 4.1.  Then (or after 2 s regardless) the destruction
 * starts; a new user in the meantime keeps the context. */
static void ctx_idle(uv_timer_t *t)
{
    struct ws_ctx *c = t->data;
    struct ws_ctx **pp;

    if (c->users > 0) {
        uv_timer_stop(t);
        return;
    }
    if (c->wsis > 0 && uv_now(c->loop) - c->idle_since < 2000)
        return;
    for (pp = &contexts; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    lws_context_destroy(c->lws);
    uv_timer_start(t, ctx_reap, 1, 5);
}

/* Drop one user.  The context stays for the next connection (a
 * port-forward opens one per TCP connection): IMPORTANT: lws 4.1 cannot
 * destroy one context and create another on the same loop safely (the
 * dying one closes a descriptor number the new one already reuses), so
 * there is one per loop until kube_ws_shutdown(). */
static void ctx_put(struct ws_ctx *c)
{
    c->users--;
}

int kube_ws_shutdown(uv_loop_t *loop)
{
    for (struct ws_ctx *c = contexts; c != NULL; c = c->next) {
        if (c->loop != loop)
            continue;
        if (c->users > 0)
            return DAP_ESTATE;
        c->idle_since = uv_now(loop);
        uv_timer_start(&c->reaper, ctx_idle, 0, 5);
        return 0;
    }
    return 0;
}

/* The process ends (main returned) with a context still there: tear it
 * down on its loop, which main's uv_loop_close() left open because of
 * lws's handles, so that every handle is closed and freed before exit. */
static void shutdown_at_exit(void)
{
    while (contexts != NULL) {
        uv_loop_t *loop = contexts->loop;
        if (contexts->users > 0 || kube_ws_shutdown(loop) < 0)
            return; /* connections still open: leave it to the OS */
        uv_run(loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(loop);
    }
}

/* ---- connections ------------------------------------------------------- */

struct txmsg {
    struct txmsg *next;
    size_t len;
    int binary;
    unsigned char buf[]; /* LWS_PRE headroom, then the payload */
};

enum ws_state {
    WS_CONNECTING,
    WS_OPEN,
    WS_CLOSED,
};

struct kube_ws {
    struct ws_ctx *ctx;
    struct lws *wsi;
    struct lws_vhost *vhost; /* own vhost for TLS settings, or NULL */
    struct kube_ws_callbacks cb;
    enum ws_state state;
    int closing; /* kube_ws_close() was called */
    int in_new;  /* inside lws_client_connect_via_info */
    int rx_binary;
    struct txmsg *head, *tail;
    size_t queued;
    dap_buf rx;
    uv_timer_t *timer;      /* connect deadline; freed in its close cb */
    struct dap_error early; /* failure seen inside kube_ws_new */
    char *host, *path, *host_header, *origin, *subprotocol;
    char **headers;
    char vhost_name[32];
    char negotiated[64]; /* Sec-WebSocket-Protocol the server chose */
    int rx_paused;
    void (*drain_fn)(void *data, kube_ws *ws);
    size_t drain_low;
    char *alpn;
};

static void queue_free(kube_ws *ws)
{
    while (ws->head != NULL) {
        struct txmsg *m = ws->head;
        ws->head = m->next;
        free(m);
    }
    ws->tail = NULL;
    ws->queued = 0;
}

static void timer_free_cb(uv_handle_t *h)
{
    free(h);
}

static void stop_timer(kube_ws *ws)
{
    if (ws->timer != NULL) {
        uv_timer_stop(ws->timer);
        uv_close((uv_handle_t *)ws->timer, timer_free_cb);
        ws->timer = NULL;
    }
}

/* Report the end once. */
static void finish(kube_ws *ws, int status, const char *why)
{
    struct dap_error e;

    if (ws->state == WS_CLOSED)
        return;
    ws->state = WS_CLOSED;
    stop_timer(ws);
    queue_free(ws);
    dap_error_set(&e, status, "%s", why != NULL ? why : dap_strerror(status));
    if (ws->in_new) {
        ws->early = e;
        return;
    }
    if (ws->cb.closed_fn != NULL)
        ws->cb.closed_fn(ws->cb.data, ws, status, &e);
}

static void connect_timeout(uv_timer_t *t)
{
    kube_ws *ws = t->data;
    struct lws *wsi = ws->wsi;

    if (ws->state != WS_CONNECTING)
        return;
    /* Forget the wsi first: its close callbacks must not report again. */
    if (wsi != NULL) {
        lws_set_wsi_user(wsi, NULL);
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        ws->wsi = NULL;
    }
    finish(ws, DAP_ETIMEDOUT, "the WebSocket handshake timed out");
}

static void append_headers(kube_ws *ws, struct lws *wsi, unsigned char **p,
                           unsigned char *end)
{
    for (size_t i = 0; ws->headers != NULL && ws->headers[i] != NULL; i++) {
        char name[128];
        const char *line = ws->headers[i];
        const char *colon = strchr(line, ':');
        const char *val;
        size_t nl;

        if (colon == NULL || (nl = (size_t)(colon - line)) + 2 > sizeof(name))
            continue;
        memcpy(name, line, nl + 1);
        name[nl + 1] = '\0';
        val = colon + 1;
        while (*val == ' ')
            val++;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)val,
                                        (int)strlen(val), p, end) != 0)
            DAP_LOGW("ws: header %s does not fit", name);
    }
}

static int on_receive(kube_ws *ws, struct lws *wsi, const void *in, size_t len)
{
    int rc;

    if (ws->rx.len == 0)
        ws->rx_binary = lws_frame_is_binary(wsi);
    rc = dap_buf_append(&ws->rx, in, len);
    if (rc < 0) {
        finish(ws, rc == DAP_ETOOBIG ? DAP_ETOOBIG : DAP_ENOMEM,
               rc == DAP_ETOOBIG ? "a WebSocket message exceeds the size "
                                   "limit"
                                 : "out of memory");
        return -1;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (ws->cb.message_fn != NULL && ws->state == WS_OPEN) {
        /* The buffer may be appended to again from inside the callback (a
         * re-entrant service is not possible with lws, but be safe): take
         * the bytes out first. */
        size_t n = 0;
        char *msg = dap_buf_take(&ws->rx, &n);
        ws->cb.message_fn(ws->cb.data, ws, msg != NULL ? msg : "", n,
                          ws->rx_binary);
        free(msg);
    } else {
        dap_buf_reset(&ws->rx);
    }
    return 0;
}

static int on_writeable(kube_ws *ws, struct lws *wsi)
{
    struct txmsg *m = ws->head;
    int n;

    if (m == NULL) {
        if (ws->closing) {
            /* lws 4.1 treats a -1 from the writeable callback as a dead
             * socket: the TCP connection is closed without a close frame
             * (its close-frame path is only reachable from inside lws).
             * Peers here (Node's inspector, the API server) take an EOF as
             * the end of the session, so that is how we end it. */
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    ws->head = m->next;
    if (ws->head == NULL)
        ws->tail = NULL;
    ws->queued -= m->len;
    n = lws_write(wsi, m->buf + LWS_PRE, m->len,
                  m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    free(m);
    if (n < 0) {
        finish(ws, DAP_ECLOSED, "writing to the WebSocket failed");
        return -1;
    }
    if (ws->head != NULL || ws->closing)
        lws_callback_on_writable(wsi);
    if (ws->drain_fn != NULL && ws->queued <= ws->drain_low &&
        ws->state == WS_OPEN && !ws->closing)
        ws->drain_fn(ws->cb.data, ws);
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       void *user, void *in, size_t len)
{
    kube_ws *ws = user;
    struct ws_ctx *c;
    char why[300];

    switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
        c = ctx_of(wsi);
        if (c != NULL)
            c->wsis++;
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (ws != NULL)
            append_headers(ws, wsi, (unsigned char **)in,
                           *(unsigned char **)in + len);
        return 0;
    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
        /* The response headers are still there (not at ESTABLISHED). */
        if (ws != NULL &&
            lws_hdr_copy(wsi, ws->negotiated, sizeof(ws->negotiated),
                         WSI_TOKEN_PROTOCOL) < 0)
            ws->negotiated[0] = '\0';
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (ws == NULL)
            return -1;
        ws->state = WS_OPEN;
        stop_timer(ws);
        if (ws->rx_paused)
            lws_rx_flow_control(wsi, 0);
        if (ws->cb.open_fn != NULL)
            ws->cb.open_fn(ws->cb.data, ws);
        if (ws->state == WS_OPEN && (ws->head != NULL || ws->closing))
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (ws == NULL)
            return -1;
        return on_receive(ws, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (ws == NULL)
            return -1;
        return on_writeable(ws, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (ws == NULL)
            return 0;
        snprintf(why, sizeof(why), "WebSocket connection to %s failed: %s",
                 ws->host, in != NULL ? (const char *)in : "no reason given");
        ws->wsi = NULL;
        finish(ws, DAP_ECONNECT, why);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (reason == LWS_CALLBACK_WSI_DESTROY && (c = ctx_of(wsi)) != NULL &&
            c->wsis > 0)
            c->wsis--;
        if (ws == NULL)
            return 0;
        ws->wsi = NULL;
        if (ws->closing)
            finish(ws, 0, "closed");
        else
            finish(ws, DAP_ECLOSED, "the peer closed the WebSocket");
        return 0;
    default:
        return 0;
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void digest_add(EVP_MD_CTX *h, const void *p, size_t n)
{
    uint64_t len = p != NULL ? n : UINT64_MAX;

    EVP_DigestUpdate(h, &len, sizeof(len));
    if (p != NULL && n > 0)
        EVP_DigestUpdate(h, p, n);
}

static void digest_str(EVP_MD_CTX *h, const char *s)
{
    digest_add(h, s, s != NULL ? strlen(s) : 0);
}

static int make_vhost(kube_ws *ws, const struct kube_ws_options *o,
                      struct dap_error *err)
{
    struct lws_context_creation_info info;
    unsigned char key[SHA256_DIGEST_LENGTH];
    struct tls_vhost *v;
    EVP_MD_CTX *h = EVP_MD_CTX_new();

    /* The vhost key: a digest of the TLS material (EVP, not the SHA256_*
     * calls OpenSSL 3 deprecates). */
    if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h);
        return dap_error_set(err, DAP_ENOMEM, "cannot hash the TLS settings");
    }
    digest_str(h, o->ca_file);
    digest_str(h, o->cert_file);
    digest_str(h, o->key_file);
    digest_add(h, o->ca_mem, o->ca_mem_len);
    digest_add(h, o->cert_mem, o->cert_mem_len);
    digest_add(h, o->key_mem, o->key_mem_len);
    EVP_DigestFinal_ex(h, key, NULL);
    EVP_MD_CTX_free(h);
    for (v = ws->ctx->vhosts; v != NULL; v = v->next) {
        if (memcmp(v->key, key, sizeof(key)) == 0) {
            ws->vhost = v->vh;
            return 0;
        }
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    memset(&info, 0, sizeof(info));
    snprintf(ws->vhost_name, sizeof(ws->vhost_name), "kdap-tls-%u",
             ++vhost_serial);
    info.vhost_name = ws->vhost_name;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.retry_and_idle_policy = &no_validity;
    info.client_ssl_ca_filepath = o->ca_file;
    info.client_ssl_cert_filepath = o->cert_file;
    info.client_ssl_private_key_filepath = o->key_file;
    info.client_ssl_ca_mem = o->ca_mem;
    info.client_ssl_ca_mem_len = (unsigned)o->ca_mem_len;
    info.client_ssl_cert_mem = o->cert_mem;
    info.client_ssl_cert_mem_len = (unsigned)o->cert_mem_len;
    info.client_ssl_key_mem = o->key_mem;
    info.client_ssl_key_mem_len = (unsigned)o->key_mem_len;
    ws->vhost = lws_create_vhost(ws->ctx->lws, &info);
    if (ws->vhost == NULL) {
        free(v);
        return dap_error_set(err, DAP_ECONFIG,
                             "cannot set up TLS for %s (check the CA, "
                             "certificate and key)",
                             o->host);
    }
    memcpy(v->key, key, sizeof(key));
    v->vh = ws->vhost;
    v->next = ws->ctx->vhosts;
    ws->ctx->vhosts = v;
    return 0;
}

void kube_ws_free(kube_ws *ws)
{
    if (ws == NULL)
        return;
    if (ws->wsi != NULL) {
        /* lws still owns the connection: detach from it and let lws close
         * it on its next turn; its callbacks then see no user. */
        lws_set_wsi_user(ws->wsi, NULL);
        lws_set_timeout(ws->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        ws->wsi = NULL;
    }
    stop_timer(ws);
    queue_free(ws);
    dap_buf_cleanup(&ws->rx);
    if (ws->ctx != NULL)
        ctx_put(ws->ctx);
    for (size_t i = 0; ws->headers != NULL && ws->headers[i] != NULL; i++)
        free(ws->headers[i]);
    free(ws->headers);
    free(ws->host);
    free(ws->path);
    free(ws->host_header);
    free(ws->origin);
    free(ws->subprotocol);
    free(ws->alpn);
    free(ws);
}

int kube_ws_new(uv_loop_t *loop, const struct kube_ws_options *o,
                const struct kube_ws_callbacks *cb, kube_ws **out,
                struct dap_error *err)
{
    struct lws_client_connect_info ci;
    char hostport[300];
    kube_ws *ws;
    size_t nh = 0;
    int rc;

    *out = NULL;
    if (o->host == NULL || o->path == NULL || o->port <= 0 || o->port > 65535)
        return dap_error_set(err, DAP_EINVAL,
                             "WebSocket: host, port and path are required");
    ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    ws->cb = *cb;
    ws->state = WS_CONNECTING;
    dap_buf_init(&ws->rx,
                 o->max_message ? o->max_message : DEFAULT_MAX_MESSAGE);
    snprintf(hostport, sizeof(hostport), "%s:%d", o->host, o->port);
    ws->host = strdup(hostport);
    ws->path = strdup(o->path);
    ws->host_header = strdup(o->host_header ? o->host_header : hostport);
    ws->origin = dup_or_null(o->origin);
    ws->subprotocol = dup_or_null(o->subprotocol);
    ws->alpn = dup_or_null(o->alpn);
    while (o->headers != NULL && o->headers[nh] != NULL)
        nh++;
    ws->headers = calloc(nh + 1, sizeof(char *));
    for (size_t i = 0; ws->headers != NULL && i < nh; i++)
        ws->headers[i] = strdup(o->headers[i]);
    if (ws->host == NULL || ws->path == NULL || ws->host_header == NULL ||
        ws->headers == NULL) {
        kube_ws_free(ws);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    ws->ctx = ctx_get(loop, err);
    if (ws->ctx == NULL) {
        kube_ws_free(ws);
        return err != NULL ? err->code : DAP_ENOMEM;
    }
    if (o->tls) {
        rc = make_vhost(ws, o, err);
        if (rc < 0) {
            kube_ws_free(ws);
            return rc;
        }
    }
    ws->timer = malloc(sizeof(*ws->timer));
    if (ws->timer == NULL) {
        kube_ws_free(ws);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    uv_timer_init(loop, ws->timer);
    ws->timer->data = ws;
    uv_timer_start(ws->timer, connect_timeout,
                   o->connect_timeout_ms ? o->connect_timeout_ms
                                         : DEFAULT_CONNECT_TIMEOUT_MS,
                   0);

    memset(&ci, 0, sizeof(ci));
    ci.context = ws->ctx->lws;
    ci.vhost = ws->vhost;
    ci.address = o->host;
    ci.port = o->port;
    ci.path = ws->path;
    ci.host = ws->host_header;
    ci.origin = ws->origin;
    ci.protocol = ws->subprotocol;
    ci.local_protocol_name = protocols[0].name;
    ci.userdata = ws;
    ci.pwsi = &ws->wsi;
    ci.retry_and_idle_policy = &no_validity;
    ci.alpn = ws->alpn;
    if (o->tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (o->insecure)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                 LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    ws->in_new = 1;
    if (lws_client_connect_via_info(&ci) == NULL && ws->state != WS_CLOSED)
        finish(ws, DAP_ECONNECT, "cannot start the WebSocket connection");
    ws->in_new = 0;
    if (ws->state == WS_CLOSED) {
        rc = ws->early.code < 0 ? ws->early.code : DAP_ECONNECT;
        dap_error_set(err, rc, "%s", ws->early.msg);
        ws->wsi = NULL;
        kube_ws_free(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

int kube_ws_send(kube_ws *ws, const void *buf, size_t len, int binary)
{
    struct txmsg *m;

    if (ws->state == WS_CLOSED || ws->closing)
        return DAP_ECLOSED;
    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (m == NULL)
        return DAP_ENOMEM;
    m->next = NULL;
    m->len = len;
    m->binary = binary;
    memcpy(m->buf + LWS_PRE, buf, len);
    if (ws->tail != NULL)
        ws->tail->next = m;
    else
        ws->head = m;
    ws->tail = m;
    ws->queued += len;
    if (ws->state == WS_OPEN && ws->wsi != NULL)
        lws_callback_on_writable(ws->wsi);
    return 0;
}

size_t kube_ws_queued(const kube_ws *ws)
{
    return ws->queued;
}

void kube_ws_close(kube_ws *ws)
{
    if (ws == NULL || ws->closing || ws->state == WS_CLOSED)
        return;
    ws->closing = 1;
    if (ws->state == WS_OPEN && ws->wsi != NULL) {
        lws_callback_on_writable(ws->wsi);
        return;
    }
    /* Not open yet: abandon the handshake. */
    if (ws->wsi != NULL) {
        lws_set_wsi_user(ws->wsi, NULL);
        lws_set_timeout(ws->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        ws->wsi = NULL;
    }
    finish(ws, 0, "closed");
}

const char *kube_ws_subprotocol(const kube_ws *ws)
{
    return ws->negotiated;
}

void kube_ws_pause_rx(kube_ws *ws, int pause)
{
    if (ws->rx_paused == !!pause)
        return;
    ws->rx_paused = !!pause;
    if (ws->state == WS_OPEN && ws->wsi != NULL)
        lws_rx_flow_control(ws->wsi, pause ? 0 : 1);
}

void kube_ws_set_drain_fn(kube_ws *ws,
                          void (*drain_fn)(void *data, kube_ws *ws), size_t low)
{
    ws->drain_fn = drain_fn;
    ws->drain_low = low;
}

/* ---- HTTP GET over plain TCP ------------------------------------------- */

struct kube_ws_get {
    uv_loop_t *loop;
    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    uv_write_t wr;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* a connected socket handed over */
    } h;
    uv_timer_t timer;
    int handles; /* tcp and timer, until their close callbacks */
    int gai_pending;
    int tcp_open;
    int done; /* callback delivered or cancelled */
    kube_ws_get_cb *cb;
    void *data;
    char *request;
    char *host;
    int port;
    dap_buf in;
};

static void get_maybe_free(kube_ws_get *g)
{
    if (g->handles == 0 && !g->gai_pending) {
        dap_buf_cleanup(&g->in);
        free(g->request);
        free(g->host);
        free(g);
    }
}

static void get_handle_closed(uv_handle_t *h)
{
    kube_ws_get *g = h->data;

    g->handles--;
    get_maybe_free(g);
}

static void get_close(kube_ws_get *g)
{
    if (!uv_is_closing((uv_handle_t *)&g->timer))
        uv_close((uv_handle_t *)&g->timer, get_handle_closed);
    if (g->tcp_open && !uv_is_closing((uv_handle_t *)&g->h))
        uv_close((uv_handle_t *)&g->h, get_handle_closed);
}

static void get_fail(kube_ws_get *g, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);

static void get_fail(kube_ws_get *g, int code, const char *fmt, ...)
{
    struct dap_error e;
    va_list ap;

    if (g->done)
        return;
    g->done = 1;
    e.code = code;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    g->cb(g->data, code, 0, NULL, 0, &e);
    get_close(g);
}

/* The Content-Length header's value within the headers, or -1. */
static long content_length(const char *h, const char *end)
{
    static const char name[] = "\r\ncontent-length:";
    size_t nl = sizeof(name) - 1;

    for (const char *p = h; p + nl <= end; p++) {
        if (strncasecmp(p, name, nl) == 0)
            return strtol(p + nl, NULL, 10);
    }
    return -1;
}

/* Parse what arrived so far; deliver when complete (or at EOF). */
static void get_try_finish(kube_ws_get *g, int eof)
{
    const char *hdr_end;
    int status = 0;
    size_t hlen;
    long clen = -1;

    if (g->done || g->in.len == 0) {
        if (eof)
            get_fail(g, DAP_EPROTO,
                     "%s:%d closed the connection without "
                     "an HTTP answer",
                     g->host, g->port);
        return;
    }
    hdr_end = strstr(g->in.data, "\r\n\r\n");
    if (hdr_end == NULL) {
        if (eof)
            get_fail(g, DAP_EPROTO, "%s:%d sent an incomplete HTTP answer",
                     g->host, g->port);
        return;
    }
    hlen = (size_t)(hdr_end - g->in.data) + 4;
    if (sscanf(g->in.data, "HTTP/%*d.%*d %d", &status) != 1) {
        get_fail(g, DAP_EPROTO, "%s:%d did not answer HTTP", g->host, g->port);
        return;
    }
    clen = content_length(g->in.data, hdr_end);
    if (clen >= 0 && g->in.len - hlen < (size_t)clen && !eof)
        return;
    if (clen < 0 && !eof)
        return;
    if (clen >= 0 && g->in.len - hlen > (size_t)clen)
        g->in.data[hlen + (size_t)clen] = '\0';
    g->done = 1;
    g->cb(g->data, 0, status, g->in.data + hlen,
          clen >= 0 && g->in.len - hlen >= (size_t)clen ? (size_t)clen
                                                        : g->in.len - hlen,
          NULL);
    get_close(g);
}

static void get_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[16384];

    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void get_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    kube_ws_get *g = s->data;

    if (g->done)
        return;
    if (n > 0) {
        if (dap_buf_append(&g->in, buf->base, (size_t)n) < 0) {
            get_fail(g, DAP_ETOOBIG,
                     "the HTTP answer from %s:%d is too "
                     "large",
                     g->host, g->port);
            return;
        }
        get_try_finish(g, 0);
    } else if (n < 0) {
        get_try_finish(g, 1);
    }
}

static void get_written(uv_write_t *w, int status)
{
    kube_ws_get *g = w->data;

    if (status < 0)
        get_fail(g, DAP_ECONNECT,
                 "sending the HTTP request to %s:%d "
                 "failed: %s",
                 g->host, g->port, uv_strerror(status));
}

static void get_connected(uv_connect_t *c, int status)
{
    kube_ws_get *g = c->data;
    uv_buf_t b;
    int rc;

    if (g->done)
        return;
    if (status < 0) {
        get_fail(g, DAP_ECONNECT, "cannot connect to %s:%d: %s", g->host,
                 g->port, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&g->h.tcp, 1); /* as every socket kdap owns */
    b = uv_buf_init(g->request, (unsigned)strlen(g->request));
    g->wr.data = g;
    rc = uv_write(&g->wr, (uv_stream_t *)&g->h, &b, 1, get_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&g->h, get_alloc, get_read);
    if (rc < 0)
        get_fail(g, DAP_ECONNECT, "HTTP to %s:%d: %s", g->host, g->port,
                 uv_strerror(rc));
}

static void get_resolved(uv_getaddrinfo_t *req, int status,
                         struct addrinfo *res)
{
    kube_ws_get *g = req->data;
    int rc;

    g->gai_pending = 0;
    if (g->done) {
        uv_freeaddrinfo(res);
        get_maybe_free(g);
        return;
    }
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        get_fail(g, DAP_ECONNECT, "cannot resolve %s: %s", g->host,
                 uv_strerror(status));
        return;
    }
    uv_tcp_init(g->loop, &g->h.tcp);
    g->h.tcp.data = g;
    g->tcp_open = 1;
    g->handles++;
    g->conn.data = g;
    rc = uv_tcp_connect(&g->conn, &g->h.tcp, res->ai_addr, get_connected);
    uv_freeaddrinfo(res);
    if (rc < 0)
        get_fail(g, DAP_ECONNECT, "cannot connect to %s:%d: %s", g->host,
                 g->port, uv_strerror(rc));
}

static void get_timeout(uv_timer_t *t)
{
    kube_ws_get *g = t->data;

    get_fail(g, DAP_ETIMEDOUT, "no HTTP answer from %s:%d in time", g->host,
             g->port);
}

/* The request over a socket handed over: no callback from here. */
static int get_use_fd(kube_ws_get *g, int fd)
{
    uv_buf_t b;
    int rc;

    uv_pipe_init(g->loop, &g->h.pipe, 0);
    g->h.pipe.data = g;
    g->tcp_open = 1;
    g->handles++;
    rc = uv_pipe_open(&g->h.pipe, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    b = uv_buf_init(g->request, (unsigned)strlen(g->request));
    g->wr.data = g;
    rc = uv_write(&g->wr, (uv_stream_t *)&g->h, &b, 1, get_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&g->h, get_alloc, get_read);
    return rc;
}

int kube_ws_get_start(uv_loop_t *loop, const char *host, int port, int fd,
                      const char *path, const char *host_header,
                      unsigned timeout_ms, kube_ws_get_cb *cb, void *data,
                      kube_ws_get **out)
{
    struct addrinfo hints;
    char portstr[16];
    char hh[300];
    kube_ws_get *g;
    size_t n;
    int rc;

    if (out != NULL)
        *out = NULL;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return DAP_ENOMEM;
    g->loop = loop;
    g->cb = cb;
    g->data = data;
    g->host = strdup(host);
    g->port = port;
    dap_buf_init(&g->in, GET_MAX_BODY);
    snprintf(hh, sizeof(hh), "%s:%d", host, port);
    n = strlen(path) + strlen(host_header ? host_header : hh) + 64;
    g->request = malloc(n);
    if (g->request == NULL || g->host == NULL) {
        free(g->request);
        free(g->host);
        free(g);
        if (fd >= 0)
            close(fd);
        return DAP_ENOMEM;
    }
    snprintf(g->request, n, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path,
             host_header ? host_header : hh);
    uv_timer_init(loop, &g->timer);
    g->timer.data = g;
    g->handles = 1;
    uv_timer_start(&g->timer, get_timeout, timeout_ms ? timeout_ms : 5000, 0);
    if (fd >= 0) {
        if (get_use_fd(g, fd) < 0) {
            g->done = 1;
            get_close(g);
            return DAP_ECONNECT;
        }
        if (out != NULL)
            *out = g;
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    g->gai.data = g;
    rc = uv_getaddrinfo(loop, &g->gai, get_resolved, host, portstr, &hints);
    if (rc < 0) {
        g->done = 1;
        get_close(g);
        return DAP_ECONNECT;
    }
    g->gai_pending = 1;
    if (out != NULL)
        *out = g;
    return 0;
}

void kube_ws_get_cancel(kube_ws_get *g)
{
    if (g == NULL || g->done)
        return;
    g->done = 1;
    if (g->gai_pending)
        uv_cancel((uv_req_t *)&g->gai);
    get_close(g);
}
