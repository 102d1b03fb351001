/* exec.c - see exec.h. */
#define _GNU_SOURCE /* asprintf */
#include "exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/buf.h"
#include "../dap/log.h"
#include "chan.h"
#include "client_int.h"
#include "../net/ws.h"

#define MAX_CHUNK (32u << 10)

struct kube_exec {
    kube_client *c;
    struct kube_exec_callbacks cb;
    char *ns, *pod, *path;
    net_ws *ws;
    kube_auth_wait *wait;
    enum kube_chan_proto proto;
    int open;
    int done;
    int have_status;
    int exit_code;
    int status_rc;
    struct dap_error status_err;
    kube_request *diag;     /* GET pod after a refused handshake */
    char container[254];
    struct dap_error why;
    dap_buf pending;        /* stdin before the WebSocket exists */
    dap_buf status_buf;     /* channel 3 may come in pieces */
    int stdin_closed;
    char negotiated[64];
};

static void finish(kube_exec *ex, int status, int code,
                   const struct dap_error *e)
{
    if (ex->done)
        return;
    ex->done = 1;
    if (ex->cb.exit_fn != NULL)
        ex->cb.exit_fn(ex->cb.data, ex, status, code, e);
}

static int send_chan(kube_exec *ex, int ch, const void *buf, size_t len)
{
    uint8_t frame[1 + 4 * ((MAX_CHUNK + 2) / 3) + 4];
    const uint8_t *p = buf;

    do {
        size_t n = len < MAX_CHUNK ? len : MAX_CHUNK;
        int binary;
        size_t fl = kube_chan_encode(ex->proto, ch, p, n, frame, &binary);
        int rc = net_ws_send(ex->ws, frame, fl, binary);
        if (rc < 0)
            return rc;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

static void ws_open(void *data, net_ws *ws, const char *sp)
{
    kube_exec *ex = data;
    struct dap_error e;

    snprintf(ex->negotiated, sizeof(ex->negotiated), "%s", sp);
    ex->proto = kube_chan_proto_parse(sp);
    if (ex->proto == KUBE_CHAN_UNKNOWN) {
        dap_error_set(&e, DAP_EPROTO,
                      "exec in %s/%s: the server chose the unsupported "
                      "subprotocol \"%s\"",
                      ex->ns, ex->pod, sp);
        net_ws_close(ws);
        finish(ex, DAP_EPROTO, -1, &e);
        return;
    }
    ex->open = 1;
    DAP_LOGD("kube: exec in %s/%s over %s", ex->ns, ex->pod,
             sp[0] ? sp : "(no subprotocol)");
    if (ex->pending.len > 0) {
        if (send_chan(ex, 0, ex->pending.data, ex->pending.len) < 0)
            net_ws_close(ws);
        dap_buf_reset(&ex->pending);
    }
    if (ex->stdin_closed && ex->proto == KUBE_CHAN_V5) {
        uint8_t sig[2] = {KUBE_CHAN_CLOSE, 0};
        if (net_ws_send(ws, sig, 2, 1) < 0)
            net_ws_close(ws);
    }
}

static void ws_message(void *data, net_ws *ws, const uint8_t *buf,
                       size_t len, int binary)
{
    kube_exec *ex = data;
    struct kube_chan_msg m;
    uint8_t *scratch = NULL;
    int rc;

    (void)ws;
    (void)binary;
    if (ex->done)
        return;
    if (ex->proto == KUBE_CHAN_V4_BASE64) {
        scratch = malloc(len + 1);
        if (scratch == NULL)
            return;
    }
    rc = kube_chan_decode(ex->proto, buf, len, scratch, &m);
    if (rc == 0) {
        if ((m.channel == 1 || m.channel == 2) && m.len > 0 &&
            ex->cb.output_fn != NULL)
            ex->cb.output_fn(ex->cb.data, ex, m.channel,
                             (const char *)m.data, m.len);
        else if (m.channel == 3 && m.len > 0 &&
                 dap_buf_append(&ex->status_buf, m.data, m.len) == 0) {
            ex->have_status = 1;
            ex->status_rc = kube_exec_status_parse(
                (const uint8_t *)ex->status_buf.data, ex->status_buf.len,
                &ex->exit_code, &ex->status_err);
        }
    }
    free(scratch);
}

/* Why was the upgrade refused?  The pod's state usually says. */
static void diag_done(void *data, int status, long http, json_t *pod,
                      const struct dap_error *err)
{
    kube_exec *ex = data;
    struct dap_error e;
    json_t *st = json_object_get(pod, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    int found = ex->container[0] == '\0';
    size_t i;
    json_t *c;

    ex->diag = NULL;
    if (status < 0) {
        /* No answer about the pod either (the same way failed, e.g. the
         * proxy): the tunnel's own failure is the cause to show. */
        e = http == 0 ? ex->why : *err;
        dap_error_prefix(&e, "exec in pod %s/%s", ex->ns, ex->pod);
        finish(ex, status, -1, &e);
        return;
    }
    json_array_foreach(json_object_get(json_object_get(pod, "spec"),
                                       "containers"),
                       i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n != NULL && strcmp(n, ex->container) == 0)
            found = 1;
    }
    json_array_foreach(json_object_get(json_object_get(pod, "spec"),
                                       "ephemeralContainers"),
                       i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n != NULL && strcmp(n, ex->container) == 0)
            found = 1;
    }
    if (!found)
        dap_error_set(&e, DAP_ECONNECT,
                      "exec in pod %s/%s: the pod has no container \"%s\"",
                      ex->ns, ex->pod, ex->container);
    else if (phase != NULL && strcmp(phase, "Running") != 0)
        dap_error_set(&e, DAP_ECONNECT,
                      "exec in pod %s/%s: the pod is %s, not Running",
                      ex->ns, ex->pod, phase);
    else
        dap_error_set(&e, DAP_ECONNECT,
                      "exec in pod %s/%s was refused (%s): check that you "
                      "may create pods/exec in namespace %s (`kdap doctor "
                      "-n %s`)",
                      ex->ns, ex->pod, ex->why.msg, ex->ns, ex->ns);
    finish(ex, DAP_ECONNECT, -1, &e);
}

static void ws_closed(void *data, net_ws *ws, int status, int http,
                      const char *body, const struct dap_error *err)
{
    kube_exec *ex = data;
    struct dap_error e;

    (void)ws;
    if (!ex->open && http > 0 && body != NULL && body[0] == '{') {
        /* The API server refused with a Status: say exactly that. */
        char who[600], path[600];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/exec",
                 ex->ns, ex->pod);
        kube__who(ex->c, who, sizeof(who));
        kube_status_message(http, "GET", path, body, strlen(body), who, &e);
        dap_error_prefix(&e, "exec in pod %s/%s", ex->ns, ex->pod);
        finish(ex, DAP_ECONNECT, -1, &e);
        return;
    }
    if (!ex->open && !ex->have_status && status < 0 && err != NULL) {
        struct kube_request_opts ro;
        char path[600];
        ex->why = *err;
        memset(&ro, 0, sizeof(ro));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ex->ns,
                 ex->pod);
        ro.path = path;
        ro.timeout_ms = 10000;
        if (kube_request_start(ex->c, &ro, diag_done, ex, &ex->diag, &e) == 0)
            return;
    }
    if (ex->have_status) {
        if (ex->status_rc == 0) {
            finish(ex, 0, ex->exit_code, NULL);
        } else {
            e = ex->status_err;
            dap_error_prefix(&e, "exec in %s/%s", ex->ns, ex->pod);
            finish(ex, DAP_EBACKEND, -1, &e);
        }
        return;
    }
    if (!ex->open)
        dap_error_set(&e, status < 0 ? status : DAP_ECONNECT,
                      "exec in pod %s/%s was refused (%s): check that the "
                      "pod is Running, has that container, and that you may "
                      "create pods/exec (`kdap doctor`)",
                      ex->ns, ex->pod, err != NULL ? err->msg : "closed");
    else
        dap_error_set(&e, DAP_ECLOSED,
                      "exec in pod %s/%s: the connection ended without an "
                      "exit status",
                      ex->ns, ex->pod);
    finish(ex, e.code, -1, &e);
}

static int open_ws(kube_exec *ex, const struct kube_cred *cred,
                   struct dap_error *err)
{
    struct net_ws_callbacks wcb = {ws_open, ws_message, NULL, ws_closed,
                                     ex};
    struct net_ws_options o;
    struct kube__ws_storage st;
    int rc;

    rc = kube__ws_options(ex->c, cred, ex->path,
                           "v5.channel.k8s.io, v4.channel.k8s.io", &o, &st);
    if (rc < 0)
        return dap_error_set(err, rc, "out of memory");
    rc = net_ws_new(kube_client_loop(ex->c), &o, &wcb, &ex->ws, err);
    kube__ws_storage_cleanup(&st);
    if (rc < 0)
        dap_error_prefix(err, "exec in pod %s/%s", ex->ns, ex->pod);
    return rc;
}

static void auth_ready(void *data, int status, const struct kube_cred *cred,
                       const struct dap_error *err)
{
    kube_exec *ex = data;
    struct dap_error e;

    ex->wait = NULL;
    if (status < 0) {
        finish(ex, status, -1, err);
        return;
    }
    if (open_ws(ex, cred, &e) < 0)
        finish(ex, e.code, -1, &e);
}

int kube_exec_start(kube_client *c, const struct kube_exec_opts *o,
                    const struct kube_exec_callbacks *cb, kube_exec **out,
                    struct dap_error *err)
{
    kube_exec *ex;
    struct kube_cred cred;
    dap_buf q;
    int rc;

    *out = NULL;
    if (o->argv == NULL || o->argv[0] == NULL)
        return dap_error_set(err, DAP_EINVAL, "exec: no command");
    ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    ex->c = c;
    ex->cb = *cb;
    ex->ns = strdup(o->ns);
    ex->pod = strdup(o->pod);
    if (o->container != NULL)
        snprintf(ex->container, sizeof(ex->container), "%s", o->container);
    dap_buf_init(&ex->pending, 8u << 20);
    dap_buf_init(&ex->status_buf, 64u << 10);
    dap_buf_init(&q, 64u << 10);
    rc = dap_buf_printf(&q, "/api/v1/namespaces/%s/pods/%s/exec?", o->ns,
                        o->pod);
    if (rc == 0 && o->container != NULL)
        rc = dap_buf_printf(&q, "container=%s&", o->container);
    for (size_t i = 0; rc == 0 && o->argv[i] != NULL; i++) {
        char *a = kube_query_escape(o->argv[i]);
        rc = a != NULL ? dap_buf_printf(&q, "command=%s&", a) : DAP_ENOMEM;
        free(a);
    }
    if (rc == 0)
        rc = dap_buf_printf(&q, "stdin=%s&stdout=true&stderr=%s&tty=%s",
                            o->use_stdin ? "true" : "false",
                            o->tty ? "false" : "true",
                            o->tty ? "true" : "false");
    ex->path = rc == 0 ? dap_buf_take(&q, NULL) : NULL;
    dap_buf_cleanup(&q);
    if (ex->ns == NULL || ex->pod == NULL || ex->path == NULL) {
        kube_exec_free(ex);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    rc = kube_auth_get(kube_client_auth(c), &cred, auth_ready, ex, &ex->wait,
                       err);
    if (rc == 0)
        rc = open_ws(ex, &cred, err);
    if (rc < 0 && rc != DAP_PENDING) {
        kube_exec_free(ex);
        return rc;
    }
    *out = ex;
    return 0;
}

int kube_exec_write(kube_exec *ex, const void *buf, size_t len)
{
    if (ex->done || ex->stdin_closed)
        return DAP_ECLOSED;
    if (!ex->open)
        return dap_buf_append(&ex->pending, buf, len);
    return send_chan(ex, 0, buf, len);
}

int kube_exec_close_stdin(kube_exec *ex)
{
    uint8_t sig[2] = {KUBE_CHAN_CLOSE, 0};

    if (ex->done)
        return DAP_ECLOSED;
    if (ex->open && ex->proto != KUBE_CHAN_V5)
        return DAP_EUNSUPPORTED;
    ex->stdin_closed = 1;
    if (!ex->open)
        return 0; /* sent once open, if v5 */
    return net_ws_send(ex->ws, sig, 2, 1);
}

const char *kube_exec_protocol(const kube_exec *ex)
{
    return ex->open ? ex->negotiated : "";
}

void kube_exec_free(kube_exec *ex)
{
    if (ex == NULL)
        return;
    kube_auth_wait_cancel(ex->wait);
    kube_request_cancel(ex->diag);
    net_ws_free(ex->ws);
    dap_buf_cleanup(&ex->pending);
    dap_buf_cleanup(&ex->status_buf);
    free(ex->ns);
    free(ex->pod);
    free(ex->path);
    free(ex);
}
