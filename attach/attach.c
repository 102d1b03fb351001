/* attach.c - attaching to a workload in the cluster: a service's "target"
 * (see attach.h).
 *
 * docs/architecture.md §6, one service at a time, all services in
 * parallel:
 *   1. resolve the target to one running pod and container (say which and
 *      why; close names when it does not exist);
 *   2. append an ephemeral container with the runtime's debugger image,
 *      targetContainerName, only the capabilities its debugger needs
 *      (target.c) and a unique name; its shell
 *      picks the process (PID 1, or the `process` pattern) and becomes the
 *      debugger listening on 127.0.0.1 inside the pod;
 *   3. watch the pod until that container runs (failing fast, with the
 *      kubelet's reason, on ErrImagePull and friends), then follow its log
 *      until the debugger says it listens;
 *   4. port-forward a local port to it (one WebSocket per connection) and
 *      hand "connect": "127.0.0.1:PORT" to the ordinary backend;
 *   5. stream the target container's log as output events while the
 *      session lasts.
 * Disconnect needs nothing here: the backend detaches, the debugger exits
 * (it serves one client) and its container ends; this file only closes the
 * tunnel and the streams.  Ephemeral containers cannot be removed (they go
 * with the pod), which is why the debugger must exit on its own.
 *
 * Each step is reported through progress_fn (the session makes it a DAP
 * progress update when the editor supports progress), and in the log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "attach.h"

#include "../dap/buf.h"
#include "../dap/log.h"
#include "../dap/utf8.h"
#include "../kube/client.h"
#include "../kube/names.h"
#include "../kube/portfwd.h"
#include "../kube/probe.h"
#include "../kube/watch.h"
#include "../oci/image.h"
#include "image.h"
#include "target.h"

/* A runtime whose profile has no debug container script yet. */
#define NO_CLUSTER_YET                                                     \
    "runtime \"%s\" cannot attach in the cluster yet (kdap has no debug "  \
    "container for it): start %s in the pod yourself, open a tunnel "     \
    "(kdap port-forward) and attach with \"connect\": \"HOST:PORT\""
#define ATTACH_TIMEOUT_MS 60000
#define LOG_LINE_MAX 8192

enum cl_step {
    CL_RESOLVE,
    CL_PODS,
    CL_IMAGE,
    CL_PATCH,
    CL_WAIT,
    CL_READY_LOG,
    CL_TUNNEL,
    CL_DONE,
};

struct attach_svc {
    uv_loop_t *loop;
    kube_client *kube;
    uint32_t id;               /* the service's, in every callback */
    char *name;                /* the service's, for messages */
    struct attach_callbacks cb;
    int attached;              /* its backend attached (attached_fn) */
    json_t *cfg;               /* the service object; "connect" added */
    struct attach_target target;
    char ns[254];
    char pod[254];
    char container[254];
    char runtime[16];
    char caps[64];             /* the debug container's, for messages */
    const struct adapter_kind *kind; /* the runtime's profile, once known */
    char dbg[64];              /* the ephemeral container's name */
    char image[700];
    char image_repo[512];      /* imageRepo / KDAP_IMAGE_REPO, or "" */
    int image_insecure;        /* imageInsecure */
    char image_ca[1024];       /* imageCA, or "" */
    char arch[32];             /* the target's architecture */
    char arch_how[300];        /* how kdap knows it */
    char target_image[700];    /* the target container's image (imageID) */
    char pull_secrets[300];    /* the pod's imagePullSecrets, named */
    oci_push *push;            /* assembling and pushing the debugger image */
    oci_resolve *resolve;      /* a tag to a digest, or an image's arch */
    json_t *pod_json;          /* the pod, while its debug container waits
                                  for the image */
    char want_pod[254];        /* the "pod" key, or "" */
    char want_container[254];  /* the "container" key, or "" */
    char process[256];         /* the "process" key, or "" */
    char nonce[17];            /* starts the debug container's markers */
    char secret[34];           /* go, gdb: kdap-gate's first line, "...\n" */
    int port;                  /* the debugger's port inside the pod */
    enum cl_step step;
    kube_request *req;
    kube_watch *watch;
    kube_request *dbg_log;     /* the debugger's log, until it listens */
    kube_request *app_log;     /* the target container's log */
    int app_log_paused;        /* app_log waits for the editor to read */
    kube_portfwd *pf;
    dap_buf dbg_text;          /* what the debugger logged so far */
    dap_buf app_line;          /* a partial line of the target's log */
    uv_timer_t timer;          /* the attach deadline */
    uv_timer_t defer;          /* runs `next` from the loop */
    void (*next)(struct attach_svc *c);
    int timers;                /* timer handles open (freed at 0) */
    int failed;
    char liveness[300];        /* the target's liveness probe, or "" */
    long liveness_s;           /* the time it gives a stopped process */
};

/* ---- reporting --------------------------------------------------------- */

static void progress(struct attach_svc *c, const char *fmt, ...)
    DAP_PRINTF(2, 3);

static void progress(struct attach_svc *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    dap_utf8_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    DAP_LOGI("service %s: %s", c->name, msg);
    c->cb.progress_fn(c->cb.data, c->id, msg);
}

static void output(struct attach_svc *c, const char *category,
                   const char *fmt, ...) DAP_PRINTF(3, 4);

static void output(struct attach_svc *c, const char *category,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    dap_utf8_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->cb.output_fn(c->cb.data, c->id, category, msg);
}

static void stop_streams(struct attach_svc *c)
{
    oci_push_free(c->push);
    c->push = NULL;
    oci_resolve_free(c->resolve);
    c->resolve = NULL;
    kube_request_cancel(c->req);
    c->req = NULL;
    kube_watch_free(c->watch);
    c->watch = NULL;
    kube_request_cancel(c->dbg_log);
    c->dbg_log = NULL;
    if (c->timers > 0) {
        uv_timer_stop(&c->timer);
        uv_timer_stop(&c->defer);
    }
}

static void defer_cb(uv_timer_t *t)
{
    struct attach_svc *c = t->data;
    void (*fn)(struct attach_svc *) = c->next;

    c->next = NULL;
    if (fn != NULL && !c->failed)
        fn(c);
}

/* Run the next step from the loop.  IMPORTANT: watch events and log chunks
 * arrive inside libcurl's callbacks, where starting or cancelling another
 * transfer is refused (CURLM_RECURSIVE_API_CALL); steps move on from here
 * instead. */
static void then(struct attach_svc *c, void (*fn)(struct attach_svc *))
{
    c->next = fn;
    uv_timer_start(&c->defer, defer_cb, 0, 0);
}

/* The attach of this service failed: tell the session (which answers the
 * attach request once every service has finished). */
static void fail(struct attach_svc *c, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);

static void fail(struct attach_svc *c, int code, const char *fmt, ...)
{
    struct dap_error err;
    va_list ap;

    if (c->failed || c->step == CL_DONE)
        return;
    c->failed = 1;
    err.code = code;
    va_start(ap, fmt);
    dap_utf8_vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    stop_streams(c);
    c->cb.failed_fn(c->cb.data, c->id, &err);
}

static const char *mname(json_t *o)
{
    return json_string_value(
        json_object_get(json_object_get(o, "metadata"), "name"));
}

/* ---- 5. the target's log as output events ------------------------------ */

static int app_log_chunk(void *data, const char *buf, size_t len)
{
    struct attach_svc *c = data;

    /* Back-pressure: the log waits in the API server (and the kubelet)
     * while the editor is behind, instead of in kdap's memory. */
    if (c->cb.busy_fn(c->cb.data)) {
        c->app_log_paused = 1;
        return DAP_PENDING;
    }

    for (size_t i = 0; i < len; i++) {
        size_t n;

        if (dap_buf_append(&c->app_line, buf + i, 1) < 0)
            dap_buf_reset(&c->app_line); /* an absurd line: drop it */
        if (buf[i] != '\n' && c->app_line.len < LOG_LINE_MAX)
            continue;
        /* A long line goes out in pieces cut between characters: the
         * start of a character cut off here begins the next piece. */
        n = c->app_line.len;
        if (buf[i] != '\n' && dap_utf8_cut(c->app_line.data, n) > 0)
            n = dap_utf8_cut(c->app_line.data, n);
        c->cb.log_fn(c->cb.data, c->id, c->app_line.data, n);
        dap_buf_consume(&c->app_line, n);
    }
    return 0;
}

static void app_log_done(void *data, int status, long http, json_t *body,
                         const struct dap_error *err)
{
    struct attach_svc *c = data;

    (void)http;
    (void)body;
    c->app_log = NULL;
    if (status < 0)
        DAP_LOGI("service %s: log stream ended: %s", c->name,
                 err ? err->msg : dap_strerror(status));
}

static void start_app_log(struct attach_svc *c)
{
    char path[1024];
    struct kube_request_opts o = {0};
    struct dap_error err;

    /* From now on: what the service printed before the session is not
     * news, what it prints while being debugged is. */
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods/%s/log?container=%s&follow=true&"
             "sinceSeconds=1",
             c->ns, c->pod, c->container);
    o.path = path;
    o.chunk_fn = app_log_chunk;
    if (kube_request_start(c->kube, &o, app_log_done, c, &c->app_log,
                           &err) < 0)
        DAP_LOGW("service %s: cannot stream the container's log: %s",
                 c->name, err.msg);
}

/* ---- 4. the tunnel, then the backend ----------------------------------- */

static void tunnel_error(void *data, const struct dap_error *err)
{
    struct attach_svc *c = data;

    DAP_LOGW("service %s: tunnel: %s", c->name, err->msg);
    if (c->attached)
        output(c, "important", "kdap: service \"%s\": tunnel: %s", c->name,
               err->msg);
}

static int tunnel_serve(void *data, int fd, struct dap_error *err)
{
    struct attach_svc *c = data;

    return kube_portfwd_serve(c->pf, fd, err);
}

static void open_tunnel(struct attach_svc *c)
{
    struct kube_portfwd_opts o = {0};
    struct kube_portfwd_callbacks cb = {tunnel_error, c};
    struct adapter_tunnel t = {tunnel_serve, c};
    struct dap_error err;
    char connect[64];
    char where[1100];
    char warn[600];

    c->step = CL_TUNNEL;
    stop_streams(c);
    /* The profile's fix-ups, from what the debug container said. */
    if (attach_debug_ready(c->kind, c->dbg_text.data, c->dbg_text.len,
                           c->nonce, c->cfg, &c->port, warn, sizeof(warn),
                           &err) < 0) {
        fail(c, err.code, "%s", err.msg);
        return;
    }
    if (warn[0] != '\0')
        output(c, "important", "kdap: service \"%s\": %s", c->name, warn);
    o.ns = c->ns;
    o.pod = c->pod;
    o.remote_port = (uint16_t)c->port;
    o.no_listener = 1; /* the backend's own sockets only: tunnel_serve */
    /* go, gdb: kdap-gate in the pod relays only a connection that starts
     * with the session's secret */
    o.first = c->secret[0] ? c->secret : NULL;
    if (kube_portfwd_new(c->kube, &o, &cb, &c->pf, &err) < 0) {
        fail(c, err.code, "cannot open the tunnel to pod %s: %s", c->pod,
             err.msg);
        return;
    }
    /* Where the debugger listens in the pod: the backend reaches it
     * through the tunnel, never by this address. */
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", c->port);
    progress(c, "tunnel open (to pod %s port %d); attaching %s", c->pod,
             c->port, c->kind->debugger ? c->kind->debugger : c->runtime);
    json_object_set_new(c->cfg, "connect", json_string(connect));
    json_object_set_new(c->cfg, "runtime", json_string(c->runtime));
    snprintf(where, sizeof(where), "pod %s/%s, container %s (debugger %s)",
             c->ns, c->pod, c->container, c->dbg);
    c->step = CL_DONE;
    if (c->cb.connected_fn(c->cb.data, c->id, c->cfg, where, &t, &err) < 0) {
        c->step = CL_TUNNEL;
        fail(c, err.code, "%s", err.msg);
    }
    /* The target's log starts once the debugger is attached
     * (cluster_attached): its TLS handshake would only slow the attach
     * down. */
}

static void cluster_attached(attach_svc *c)
{
    /* Not when the debugger reports the program's output itself (the
     * profile's own_output): the container's log would say it twice. */
    if (c == NULL)
        return;
    c->attached = 1;
    if (c->app_log == NULL && c->kind != NULL && !c->kind->own_output)
        start_app_log(c);
}

static void cluster_stopped(attach_svc *c, const char *reason)
{
    /* A step keeps the process about as halted as it was: the warning of
     * the stop before it still holds. */
    if (c == NULL || c->liveness[0] == '\0' ||
        (reason != NULL && strcmp(reason, "step") == 0))
        return;
    output(c, "important",
           "kdap: service \"%s\": container %s has a liveness probe (%s): "
           "while it is stopped, the kubelet kills and restarts it in about "
           "%ld s. To debug without that, use \"request\": \"launch\" with "
           "\"probes\": \"relax\"",
           c->name, c->container, c->liveness, c->liveness_s);
}

/* ---- 3b. the debugger's log until it listens --------------------------- */

static int dbg_log_chunk(void *data, const char *buf, size_t len)
{
    struct attach_svc *c = data;
    char rest[300];

    if (dap_buf_append(&c->dbg_text, buf, len) < 0)
        dap_buf_consume(&c->dbg_text, c->dbg_text.len / 2);
    /* Whole lines with this session's nonce only: the log holds the
     * target's command line too (see attach_debug_container_new). */
    if (c->step == CL_READY_LOG && c->dbg_text.data != NULL &&
        attach_debug_marker(c->dbg_text.data, c->dbg_text.len, c->nonce,
                          c->kind->ready,
                          rest, sizeof(rest))) {
        c->step = CL_TUNNEL;
        /* Leave the request from outside its own callback. */
        return DAP_ECANCELLED;
    }
    return 0;
}

/* The debugger's own words when it failed (its log), trimmed. */
static const char *dbg_said(struct attach_svc *c)
{
    const char *t = c->dbg_text.data != NULL ? c->dbg_text.data : "";

    while (*t == '\n' || *t == ' ')
        t++;
    return t[0] ? t : "(it logged nothing)";
}

static void dbg_log_done(void *data, int status, long http, json_t *body,
                         const struct dap_error *err)
{
    struct attach_svc *c = data;

    (void)http;
    (void)body;
    c->dbg_log = NULL;
    if (c->step == CL_TUNNEL) {
        then(c, open_tunnel);
        return;
    }
    /* The log ended without the marker: the container ended. */
    fail(c, DAP_EBACKEND,
         "the debug container %s ended before its debugger listened: %s",
         c->dbg, status < 0 && err != NULL && c->dbg_text.len == 0
                     ? err->msg
                     : dbg_said(c));
}

static void follow_dbg_log(struct attach_svc *c)
{
    char path[1024];
    struct kube_request_opts o = {0};
    struct dap_error err;

    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods/%s/log?container=%s&follow=true",
             c->ns, c->pod, c->dbg);
    o.path = path;
    o.chunk_fn = dbg_log_chunk;
    if (kube_request_start(c->kube, &o, dbg_log_done, c, &c->dbg_log,
                           &err) < 0)
        fail(c, err.code, "cannot read the debug container's log: %s",
             err.msg);
}

/* ---- 3. watch the ephemeral container ---------------------------------- */

static void on_pod_event(void *data, const char *type, json_t *pod)
{
    struct attach_svc *c = data;
    json_t *statuses = json_object_get(json_object_get(pod, "status"),
                                       "ephemeralContainerStatuses");
    json_t *st;
    size_t i;

    if (c->step != CL_WAIT)
        return;
    if (strcmp(type, "DELETED") == 0) {
        fail(c, DAP_ECLOSED, "pod %s was deleted while kdap attached", c->pod);
        return;
    }
    json_array_foreach(statuses, i, st)
    {
        const char *name = json_string_value(json_object_get(st, "name"));
        json_t *state = json_object_get(st, "state");
        json_t *waiting = json_object_get(state, "waiting");
        json_t *term = json_object_get(state, "terminated");
        const char *reason;
        const char *msg;

        if (name == NULL || strcmp(name, c->dbg) != 0)
            continue;
        if (json_object_get(state, "running") != NULL || term != NULL) {
            /* Running (or already done): its log says whether the
             * debugger listens or why it gave up. */
            kube_watch_free(c->watch);
            c->watch = NULL;
            progress(c, "debug container %s %s; waiting for the debugger",
                     c->dbg, term != NULL ? "ended" : "running");
            c->step = CL_READY_LOG;
            then(c, follow_dbg_log);
            return;
        }
        reason = json_string_value(json_object_get(waiting, "reason"));
        msg = json_string_value(json_object_get(waiting, "message"));
        if (reason != NULL &&
            (strcmp(reason, "ErrImagePull") == 0 ||
             strcmp(reason, "ImagePullBackOff") == 0 ||
             strcmp(reason, "InvalidImageName") == 0 ||
             strcmp(reason, "CreateContainerError") == 0 ||
             strcmp(reason, "CreateContainerConfigError") == 0)) {
            if (msg != NULL &&
                (strstr(msg, "401") || strstr(msg, "403") ||
                 strstr(msg, "nauthorized") || strstr(msg, "insufficient_scope") ||
                 strstr(msg, "authorization failed") ||
                 strstr(msg, "denied"))) {
                char host[256];
                size_t n = strcspn(c->image, "/");
                snprintf(host, sizeof(host), "%.*s", (int)n, c->image);
                fail(c, DAP_EBACKEND,
                     "the cluster may not pull the debugger image %s: pod "
                     "%s lacks a pull secret for registry %s (%s%s), which "
                     "refused the node: add a kubernetes.io/dockerconfigjson "
                     "secret for %s to the pod's imagePullSecrets (kubectl "
                     "create secret docker-registry NAME --docker-server=%s "
                     "...) or to its service account. The kubelet said %s: "
                     "%.300s",
                     c->image, c->pod, host,
                     c->pull_secrets[0] ? "its imagePullSecrets: "
                                        : "it has no imagePullSecrets",
                     c->pull_secrets, host, host, reason, msg);
                return;
            }
            /* The remedy first: the kubelet's message may be long. */
            fail(c, DAP_EBACKEND,
                 "the debugger image %s cannot be used (set "
                 "\"debuggerImage\" to an image the cluster can pull): "
                 "%s%s%s",
                 c->image, reason, msg ? ": " : "", msg ? msg : "");
            return;
        }
        if (reason != NULL)
            progress(c, "debug container %s: %s", c->dbg, reason);
    }
}

static void on_watch_end(void *data, int status, const struct dap_error *err)
{
    struct attach_svc *c = data;

    c->watch = NULL;
    if (c->step == CL_WAIT)
        fail(c, status < 0 ? status : DAP_ECLOSED,
             "watching pod %s failed: %s", c->pod,
             err != NULL ? err->msg : "the watch ended");
}

static void watch_pod(struct attach_svc *c)
{
    char path[600];
    char field[300];
    struct kube_watch_opts o = {0};
    struct dap_error err;

    c->step = CL_WAIT;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", c->ns);
    snprintf(field, sizeof(field), "metadata.name=%s", c->pod);
    o.path = path;
    o.field_selector = field;
    o.timeout_s = ATTACH_TIMEOUT_MS / 1000;
    if (kube_watch_start(c->kube, &o, on_pod_event, on_watch_end, c,
                         &c->watch, &err) < 0)
        fail(c, err.code, "cannot watch pod %s: %s", c->pod, err.msg);
}

/* ---- 2. the ephemeral container ---------------------------------------- */

static void on_patched(void *data, int status, long http, json_t *body,
                       const struct dap_error *err)
{
    struct attach_svc *c = data;

    (void)body;
    c->req = NULL;
    if (status < 0) {
        if (http == 403 && strstr(err->msg, "PodSecurity") != NULL) {
            /* Not RBAC: admission refused the capability. */
            const char *why = strstr(err->msg, "violates PodSecurity");
            fail(c, DAP_EBACKEND,
                 "the namespace %s enforces a Pod Security level that "
                 "refuses the debug container (%s); the %s debugger needs "
                 "%s, which only \"privileged\" allows. Fix: allow "
                 "debugging in that "
                 "namespace (kubectl label ns %s "
                 "pod-security.kubernetes.io/enforce=privileged "
                 "--overwrite), or debug a copy of the pod in a namespace "
                 "that allows it",
                 c->ns, why != NULL ? why : err->msg,
                 c->kind->debugger ? c->kind->debugger : c->runtime, c->caps,
                 c->ns);
            return;
        }
        if (http == 404)
            fail(c, DAP_EUNSUPPORTED,
                 "%s. If the pod exists, this cluster has ephemeral "
                 "containers disabled (they need Kubernetes 1.25 or newer)",
                 err->msg);
        else
            fail(c, status, "%s", err->msg);
        return;
    }
    progress(c, "debug container %s added to pod %s; waiting for it to run",
             c->dbg, c->pod);
    then(c, watch_pod);
}

/* (n - 1) / 2 random bytes in hex: nobody can guess them before the
 * container starts. */
static int session_nonce(char *out, size_t n)
{
    unsigned char r[16];
    size_t k = (n - 1) / 2 < sizeof(r) ? (n - 1) / 2 : sizeof(r);

    if (getrandom(r, k, 0) != (ssize_t)k)
        return -1;
    for (size_t i = 0; i < k; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    OPENSSL_cleanse(r, sizeof(r));
    return 0;
}

/* "SYS_PTRACE, KILL" from the container's capabilities.add, for messages. */
static void caps_said(json_t *ec, char *out, size_t n)
{
    json_t *add = json_object_get(
        json_object_get(json_object_get(ec, "securityContext"), "capabilities"),
        "add");
    json_t *v;
    size_t i, o = 0;

    out[0] = '\0';
    json_array_foreach(add, i, v)
    {
        int w = snprintf(out + o, n - o, "%s%s", i ? ", " : "",
                         json_string_value(v) ? json_string_value(v) : "");
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
    if (o == 0)
        snprintf(out, n, "no capability");
}

static void add_debug_container(struct attach_svc *c, json_t *pod)
{
    char path[600];
    struct kube_request_opts o = {0};
    struct dap_error err;
    json_t *ec;
    json_t *patch;
    char *body;
    int rc;

    c->step = CL_PATCH;
    snprintf(c->dbg, sizeof(c->dbg), "kdap-%s-%06x", c->runtime,
             (unsigned)((uv_hrtime() / 1000) & 0xffffff));
    /* The port the target's spec names, else the profile's, else one for
     * this attach (a gated debugger also takes the next one). */
    c->port = c->kind->port_fn != NULL
                  ? c->kind->port_fn(pod, c->container, NULL, 0)
                  : 0;
    if (c->port <= 0)
        c->port = c->kind->port > 0 ? c->kind->port
                                    : 40000 + (int)(uv_hrtime() % 10000);
    if (session_nonce(c->nonce, sizeof(c->nonce)) < 0) {
        fail(c, DAP_EBACKEND, "no random bytes for the session's nonce: %s",
             strerror(errno));
        return;
    }
    ec = attach_debug_container_new(c->runtime, c->dbg, c->image, c->container,
                                  c->process[0] ? c->process : NULL, c->port,
                                  pod, c->nonce);
    /* kdap-gate's secret: in the container's environment, which the pod's
     * other containers cannot read (its command line they can: the nonce
     * is no secret), and the first line of kdap's tunnel. */
    c->secret[0] = '\0';
    if (c->kind->gated && ec != NULL) {
        if (session_nonce(c->secret, sizeof(c->secret) - 1) < 0) {
            json_decref(ec);
            fail(c, DAP_EBACKEND, "no random bytes for the session's "
                                  "secret: %s",
                 strerror(errno));
            return;
        }
        json_array_append_new(json_object_get(ec, "env"),
                              json_pack("{s:s, s:s}", "name",
                                        "KDAP_GATE_SECRET", "value",
                                        c->secret));
        strcat(c->secret, "\n");
    }
    caps_said(ec, c->caps, sizeof(c->caps));
    patch = json_pack("{s:{s:[o]}}", "spec", "ephemeralContainers", ec);
    body = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    if (body == NULL) {
        fail(c, DAP_ENOMEM, "out of memory");
        return;
    }
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods/%s/ephemeralcontainers", c->ns,
             c->pod);
    o.method = "PATCH";
    o.path = path;
    o.content_type = "application/strategic-merge-patch+json";
    o.body = body;
    o.body_len = strlen(body);
    progress(c, "adding debug container %s (image %s, capabilities: %s; "
                "no other) to pod %s",
             c->dbg, c->image, c->caps, c->pod);
    rc = kube_request_start(c->kube, &o, on_patched, c, &c->req, &err);
    dap_secret_free(body); /* it holds the gate's secret */
    if (rc < 0)
        fail(c, err.code, "%s", err.msg);
}

/* ---- 1. resolving the target ------------------------------------------- */

/* ---- the debugger image ------------------------------------------------- */

static void image_progress(void *data, const char *msg)
{
    struct attach_svc *c = data;

    progress(c, "debugger image: %s", msg);
}

static void on_pushed(void *data, int status, const struct oci_push_stats *st,
                      const struct dap_error *err)
{
    struct attach_svc *c = data;

    if (status < 0) {
        fail(c, status, "the debugger image for %s (linux/%s, %s): %s",
             c->runtime, c->arch, c->arch_how, err->msg);
        return;
    }
    snprintf(c->image, sizeof(c->image), "%s", st->reference);
    if (st->bytes_uploaded == 0 && st->blobs_uploaded == 0)
        progress(c, "debugger image %s: assembled in %llu ms, checked in "
                    "%llu ms: nothing uploaded (the registry had it)",
                 c->image, (unsigned long long)st->assemble_ms,
                 (unsigned long long)st->push_ms);
    else
        progress(c, "debugger image %s: assembled in %llu ms, pushed in "
                    "%llu ms (%u blobs, %.1f MiB uploaded)",
                 c->image, (unsigned long long)st->assemble_ms,
                 (unsigned long long)st->push_ms, st->blobs_uploaded,
                 (double)st->bytes_uploaded / 1048576.0);
    add_debug_container(c, c->pod_json);
}

static void push_image(struct attach_svc *c)
{
    struct attach_image_opts o = {0};
    struct dap_error err;

    output(c, "console",
                "kdap: service \"%s\": debugger image for linux/%s (%s), "
                "pushed to %s",
                c->name, c->arch, c->arch_how, c->image_repo);
    o.runtime = c->runtime;
    o.repo = c->image_repo;
    o.binaries = json_object_get(c->cfg, "debuggerBinaries");
    o.arch = c->arch;
    o.insecure = c->image_insecure;
    o.ca_file = c->image_ca[0] ? c->image_ca : NULL;
    if (attach_image_start(c->loop, &o, image_progress, on_pushed, c,
                           &c->push, &err) < 0)
        fail(c, err.code, "the debugger image for %s (linux/%s, %s): %s",
             c->runtime, c->arch, c->arch_how, err.msg);
}

static void on_target_image(void *data, int status,
                            const struct oci_resolved *r,
                            const struct dap_error *err)
{
    struct attach_svc *c = data;
    struct oci_platform local;

    oci_resolve_free(c->resolve);
    c->resolve = NULL;
    if (status == 0 && r->arch[0]) {
        snprintf(c->arch, sizeof(c->arch), "%s", r->arch);
        snprintf(c->arch_how, sizeof(c->arch_how),
                 "the architecture of the target's image %s", c->target_image);
    } else {
        oci_platform_local(&local);
        snprintf(c->arch, sizeof(c->arch), "%s", local.arch);
        snprintf(c->arch_how, sizeof(c->arch_how),
                 "this machine's: kdap could read neither the node nor the "
                 "target's image config%s%.150s",
                 status < 0 ? ": " : "", status < 0 ? err->msg : "");
    }
    push_image(c);
}

static void arch_from_image(struct attach_svc *c, const char *why)
{
    struct dap_error err;

    DAP_LOGI("service %s: node architecture unknown (%s); reading the image",
             c->name, why);
    if (c->target_image[0] == '\0' ||
        oci_resolve_start(c->loop, c->target_image, c->image_insecure,
                          c->image_ca[0] ? c->image_ca : NULL,
                          on_target_image, c, &c->resolve, &err) < 0) {
        struct dap_error e2;
        dap_error_set(&e2, DAP_ECONFIG, "no image reference");
        on_target_image(c, DAP_ECONFIG, NULL, &e2);
    }
}

static void on_node(void *data, int status, long http, json_t *body,
                    const struct dap_error *err)
{
    struct attach_svc *c = data;
    const char *arch = json_string_value(json_object_get(
        json_object_get(json_object_get(body, "status"), "nodeInfo"),
        "architecture"));
    const char *name = json_string_value(
        json_object_get(json_object_get(body, "metadata"), "name"));

    (void)http;
    c->req = NULL;
    if (status == 0 && arch == NULL)
        arch = json_string_value(json_object_get(
            json_object_get(json_object_get(body, "metadata"), "labels"),
            "kubernetes.io/arch"));
    if (status < 0 || arch == NULL || arch[0] == '\0') {
        arch_from_image(c, status < 0 ? err->msg : "no architecture");
        return;
    }
    snprintf(c->arch, sizeof(c->arch), "%s", oci_arch_from_machine(arch));
    snprintf(c->arch_how, sizeof(c->arch_how),
             "the architecture of node %s", name ? name : "?");
    push_image(c);
}

static void on_resolved(void *data, int status, const struct oci_resolved *r,
                        const struct dap_error *err)
{
    struct attach_svc *c = data;

    oci_resolve_free(c->resolve);
    c->resolve = NULL;
    if (status < 0) {
        fail(c, status, "\"debuggerImage\" %s: %s", c->image, err->msg);
        return;
    }
    progress(c, "debugger image %s is %s", c->image, r->reference);
    snprintf(c->image, sizeof(c->image), "%s", r->reference);
    add_debug_container(c, c->pod_json);
}

/* Which debugger image, by digest: the user's (a tag resolved first), or
 * kdap's own, assembled for the node's architecture and pushed. */
static void choose_image(struct attach_svc *c, json_t *pod)
{
    struct dap_error err;
    struct oci_ref ref;
    json_t *spec = json_object_get(pod, "spec");
    json_t *ps, *it;
    size_t i;

    c->step = CL_IMAGE;
    json_decref(c->pod_json);
    c->pod_json = json_incref(pod);
    json_array_foreach(json_object_get(spec, "imagePullSecrets"), i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        size_t used = strlen(c->pull_secrets);
        if (n != NULL)
            snprintf(c->pull_secrets + used, sizeof(c->pull_secrets) - used,
                     "%s%s", used ? ", " : "", n);
    }
    if (c->image[0] != '\0') {
        if (oci_ref_parse(c->image, &ref, &err) < 0) {
            fail(c, DAP_ECONFIG, "\"debuggerImage\": %s", err.msg);
            return;
        }
        if (ref.digest[0] != '\0') {
            add_debug_container(c, c->pod_json);
            return;
        }
        progress(c, "resolving the debugger image %s to its digest",
                 c->image);
        if (oci_resolve_start(c->loop, c->image, c->image_insecure,
                              c->image_ca[0] ? c->image_ca : NULL,
                              on_resolved, c, &c->resolve, &err) < 0)
            fail(c, err.code, "\"debuggerImage\" %s: %s", c->image, err.msg);
        return;
    }
    if (c->image_repo[0] == '\0') {
        fail(c, DAP_ECONFIG,
             "no debugger image for service \"%s\": set \"imageRepo\" (or "
             "KDAP_IMAGE_REPO) to a repository kdap may push its debugger "
             "image to and the cluster can pull from (REGISTRY/PATH), or "
             "\"debuggerImage\" to an image to use",
             c->name);
        return;
    }
    /* The target container's image, for its architecture if the node
     * cannot be read: the pulled digest when the kubelet says it. */
    json_array_foreach(json_object_get(json_object_get(pod, "status"),
                                       "containerStatuses"),
                       i, ps)
    {
        const char *n = json_string_value(json_object_get(ps, "name"));
        const char *id = json_string_value(json_object_get(ps, "imageID"));
        if (n != NULL && strcmp(n, c->container) == 0 && id != NULL) {
            const char *p = strstr(id, "://");
            snprintf(c->target_image, sizeof(c->target_image), "%s",
                     p ? p + 3 : id);
        }
    }
    if (c->target_image[0] == '\0')
        json_array_foreach(json_object_get(spec, "containers"), i, ps)
        {
            const char *n = json_string_value(json_object_get(ps, "name"));
            const char *im = json_string_value(json_object_get(ps, "image"));
            if (n != NULL && im != NULL && strcmp(n, c->container) == 0)
                snprintf(c->target_image, sizeof(c->target_image), "%s", im);
        }
    {
        const char *node = json_string_value(json_object_get(spec, "nodeName"));
        struct kube_request_opts o = {0};
        char path[400];
        if (node == NULL) {
            arch_from_image(c, "the pod names no node");
            return;
        }
        snprintf(path, sizeof(path), "/api/v1/nodes/%s", node);
        o.path = path;
        progress(c, "reading node %s for its architecture", node);
        if (kube_request_start(c->kube, &o, on_node, c, &c->req, &err) < 0)
            arch_from_image(c, err.msg);
    }
}

static void use_pod(struct attach_svc *c, json_t *pod, const char *why)
{
    struct dap_error err;
    const char *name;
    char how[200];
    const char *guess;

    snprintf(c->pod, sizeof(c->pod), "%s", mname(pod));
    name = attach_target_container(pod, c->want_container[0] ? c->want_container
                                                           : NULL,
                                 &err);
    if (name == NULL) {
        fail(c, err.code, "%s", err.msg);
        return;
    }
    snprintf(c->container, sizeof(c->container), "%s", name);
    if (!kube_probe_liveness(pod, c->container, &c->liveness_s, c->liveness,
                             sizeof(c->liveness)))
        c->liveness[0] = '\0';
    if (c->runtime[0] == '\0') {
        guess = attach_target_guess_runtime(pod, c->container, how,
                                            sizeof(how));
        if (guess == NULL) {
            guess = adapter_kind_fallback()->runtime;
            snprintf(how, sizeof(how), "nothing else was recognisable; set "
                                       "\"runtime\" if wrong");
        }
        snprintf(c->runtime, sizeof(c->runtime), "%s", guess);
        output(c, "console",
                    "kdap: service \"%s\": runtime %s detected (%s)",
                    c->name, c->runtime, how);
    }
    c->kind = adapter_kind_find(c->runtime);
    if (c->kind == NULL) {
        fail(c, DAP_ECONFIG, "unknown runtime \"%s\": use one of %s",
             c->runtime, adapter_kind_names());
        return;
    }
    if (c->kind->script == NULL) {
        fail(c, DAP_ECONFIG, NO_CLUSTER_YET, c->runtime,
             c->kind->debugger ? c->kind->debugger : "its debugger");
        return;
    }
    if (c->kind->check_fn != NULL &&
        c->kind->check_fn(c->cfg, &err) < 0) {
        fail(c, err.code, "%s", err.msg);
        return;
    }
    output(c, "console",
                "kdap: service \"%s\": %s, container %s", c->name, why,
                c->container);
    choose_image(c, pod);
}

static void on_pods(void *data, int status, long http, json_t *body,
                    const struct dap_error *err)
{
    struct attach_svc *c = data;
    json_t *items = json_object_get(body, "items");
    json_t *pod = NULL;
    struct dap_error e;
    char why[400];

    (void)http;
    c->req = NULL;
    if (status < 0) {
        fail(c, status, "%s", err->msg);
        return;
    }
    if (json_array_size(items) == 0) {
        fail(c, DAP_ESTATE,
             "no pod in namespace %s matches %s (selector %s): is the "
             "workload scaled to zero?",
             c->ns,
             c->target.kind == ATTACH_TARGET_SELECTOR ? "the target"
                                                     : c->target.name,
             c->target.selector);
        return;
    }
    if (attach_target_pick(items, c->want_pod[0] ? c->want_pod : NULL, &pod,
                         why, sizeof(why), &e) < 0) {
        fail(c, e.code, "%s", e.msg);
        return;
    }
    use_pod(c, pod, why);
}

static void list_pods(struct attach_svc *c)
{
    char path[1200];
    char *sel = kube_query_escape(c->target.selector);
    struct kube_request_opts o = {0};
    struct dap_error err;

    c->step = CL_PODS;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s",
             c->ns, sel != NULL ? sel : "");
    free(sel);
    o.path = path;
    progress(c, "listing the pods of %s", c->target.selector);
    if (kube_request_start(c->kube, &o, on_pods, c, &c->req, &err) < 0)
        fail(c, err.code, "%s", err.msg);
}

static const char *kind_word(enum attach_target_kind k)
{
    switch (k) {
    case ATTACH_TARGET_DEPLOYMENT:
        return "deployment";
    case ATTACH_TARGET_STATEFULSET:
        return "statefulset";
    case ATTACH_TARGET_POD:
        return "pod";
    default:
        return "selector";
    }
}

static const char *collection(const struct attach_svc *c, char *buf,
                              size_t n)
{
    if (c->target.kind == ATTACH_TARGET_DEPLOYMENT)
        snprintf(buf, n, "/apis/apps/v1/namespaces/%s/deployments", c->ns);
    else if (c->target.kind == ATTACH_TARGET_STATEFULSET)
        snprintf(buf, n, "/apis/apps/v1/namespaces/%s/statefulsets", c->ns);
    else
        snprintf(buf, n, "/api/v1/namespaces/%s/pods", c->ns);
    return buf;
}

/* After a 404: name the close matches so a typo is a one-second fix. */
static void on_siblings(void *data, int status, long http, json_t *body,
                        const struct dap_error *err)
{
    struct attach_svc *c = data;
    json_t *names = json_array();
    json_t *it;
    size_t i;
    char close[300] = "";

    (void)http;
    (void)err;
    c->req = NULL;
    json_array_foreach(json_object_get(body, "items"), i, it)
        json_array_append_new(names, json_string(mname(it) ?: ""));
    if (status == 0)
        attach_close_names(c->target.name, names, close, sizeof(close));
    json_decref(names);
    fail(c, DAP_ECONFIG, "%s \"%s\" not found in namespace %s%s%s%s",
         kind_word(c->target.kind), c->target.name, c->ns,
         close[0] ? ": did you mean " : "", close, close[0] ? "?" : "");
}

static void on_workload(void *data, int status, long http, json_t *body,
                        const struct dap_error *err)
{
    struct attach_svc *c = data;
    struct kube_request_opts o = {0};
    struct dap_error e;
    char path[600];

    c->req = NULL;
    if (status < 0 && http == 404) {
        o.path = collection(c, path, sizeof(path));
        if (kube_request_start(c->kube, &o, on_siblings, c, &c->req, &e) < 0)
            fail(c, e.code, "%s", e.msg);
        return;
    }
    if (status < 0) {
        fail(c, status, "%s", err->msg);
        return;
    }
    if (c->target.kind == ATTACH_TARGET_POD) {
        json_t *one = json_pack("[O]", body);
        json_t *pod = NULL;
        char why[400];
        if (attach_target_pick(one, NULL, &pod, why, sizeof(why), &e) < 0) {
            json_decref(one);
            fail(c, e.code, "%s", e.msg);
            return;
        }
        snprintf(why, sizeof(why), "pod %s", c->target.name);
        use_pod(c, pod, why);
        json_decref(one);
        return;
    }
    if (attach_target_selector_of(body, c->target.selector,
                                sizeof(c->target.selector)) < 0) {
        fail(c, DAP_EBACKEND, "%s %s has no matchLabels selector",
             kind_word(c->target.kind), c->target.name);
        return;
    }
    list_pods(c);
}

static void deadline(uv_timer_t *t)
{
    struct attach_svc *c = t->data;

    fail(c, DAP_ETIMEDOUT,
         "attaching to %s did not finish within %d s (last step: %s)",
         c->name, ATTACH_TIMEOUT_MS / 1000,
         c->step == CL_IMAGE       ? "the debugger image"
         : c->step == CL_WAIT      ? "waiting for the debug container"
         : c->step == CL_READY_LOG ? "waiting for the debugger to listen"
                                   : "talking to the API server");
}

/* ---- the session's side ------------------------------------------------- */

static int copy_key(json_t *cfg, const char *key, char *out, size_t n,
                    struct dap_error *err)
{
    json_t *v = json_object_get(cfg, key);

    out[0] = '\0';
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= n)
        return dap_error_set(err, DAP_ECONFIG,
                             "\"%s\" must be a string (at most %zu "
                             "characters)",
                             key, n - 1);
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}

/* The service's keys, before anything is asked of the cluster. */
static int cluster_check(struct attach_svc *c, json_t *cfg,
                         struct dap_error *err)
{
    int rc;

    rc = attach_target_parse(json_string_value(json_object_get(cfg, "target")),
                             &c->target, err);
    if (rc == 0)
        rc = copy_key(cfg, "pod", c->want_pod, sizeof(c->want_pod), err);
    if (rc == 0)
        rc = copy_key(cfg, "container", c->want_container,
                      sizeof(c->want_container), err);
    if (rc == 0)
        rc = copy_key(cfg, "process", c->process, sizeof(c->process), err);
    if (rc == 0)
        rc = copy_key(cfg, "debuggerImage", c->image, sizeof(c->image), err);
    if (rc == 0)
        rc = copy_key(cfg, "imageRepo", c->image_repo, sizeof(c->image_repo),
                      err);
    if (rc == 0 && c->image_repo[0] == '\0' && getenv("KDAP_IMAGE_REPO"))
        snprintf(c->image_repo, sizeof(c->image_repo), "%s",
                 getenv("KDAP_IMAGE_REPO"));
    if (rc == 0)
        rc = copy_key(cfg, "imageCA", c->image_ca, sizeof(c->image_ca), err);
    if (rc == 0 && json_object_get(cfg, "imageInsecure") != NULL) {
        if (!json_is_boolean(json_object_get(cfg, "imageInsecure")))
            rc = dap_error_set(err, DAP_ECONFIG,
                               "\"imageInsecure\" must be true or false");
        c->image_insecure = json_is_true(json_object_get(cfg, "imageInsecure"));
    }
    if (rc == 0)
        rc = copy_key(cfg, "runtime", c->runtime, sizeof(c->runtime), err);
    if (rc == 0)
        rc = copy_key(cfg, "namespace", c->ns, sizeof(c->ns), err);
    /* A runtime named now is checked now, before the pod is touched (a
     * detected one once it is known, in use_pod). */
    if (rc == 0 && c->runtime[0] != '\0' &&
        (c->kind = adapter_kind_find(c->runtime)) != NULL &&
        c->kind->check_fn != NULL)
        rc = c->kind->check_fn(cfg, err);
    if (rc < 0)
        return rc;
    if (c->ns[0] == '\0')
        snprintf(c->ns, sizeof(c->ns), "%s",
                 kube_client_config(c->kube)->namespace);
    else if (kube_name_check(KUBE_NAME_LABEL, "\"namespace\"", c->ns, err) < 0)
        return DAP_ECONFIG;
    if (c->want_pod[0] != '\0' &&
        kube_name_check(KUBE_NAME_SUBDOMAIN, "\"pod\"", c->want_pod, err) < 0)
        return DAP_ECONFIG;
    if (c->want_container[0] != '\0' &&
        kube_name_check(KUBE_NAME_LABEL, "\"container\"", c->want_container,
                        err) < 0)
        return DAP_ECONFIG;
    if (c->runtime[0] != '\0' && adapter_kind_find(c->runtime) == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "unknown runtime \"%s\": use one of %s",
                             c->runtime, adapter_kind_names());
    if (c->kind != NULL && c->kind->script == NULL)
        return dap_error_set(err, DAP_ECONFIG, NO_CLUSTER_YET, c->runtime,
                             c->kind->debugger ? c->kind->debugger
                                               : "its debugger");
    return 0;
}

/* 1. the target: a workload to read, or a selector to list pods by. */
static void resolve(struct attach_svc *c)
{
    struct kube_request_opts o = {0};
    struct dap_error err;
    char coll[600];
    char path[800];

    c->step = CL_RESOLVE;
    if (c->target.kind == ATTACH_TARGET_SELECTOR) {
        list_pods(c);
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", collection(c, coll, sizeof(coll)),
             c->target.name);
    o.path = path;
    progress(c, "resolving %s/%s in namespace %s", kind_word(c->target.kind),
             c->target.name, c->ns);
    if (kube_request_start(c->kube, &o, on_workload, c, &c->req, &err) < 0)
        fail(c, err.code, "%s", err.msg);
}

static void cluster_free(attach_svc *c);

static int cluster_start(uv_loop_t *loop, kube_client *kube, uint32_t id,
                         const char *name, json_t *cfg,
                         const struct attach_callbacks *cb, attach_svc **out,
                         struct dap_error *err)
{
    struct attach_svc *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    c->loop = loop;
    c->kube = kube;
    c->id = id;
    c->name = strdup(name);
    c->cb = *cb;
    c->cfg = json_deep_copy(cfg);
    dap_buf_init(&c->dbg_text, 64 * 1024);
    dap_buf_init(&c->app_line, LOG_LINE_MAX + 16);
    rc = c->name == NULL || c->cfg == NULL
             ? dap_error_set(err, DAP_ENOMEM, "out of memory")
             : cluster_check(c, cfg, err);
    if (rc < 0) {
        cluster_free(c);
        return rc;
    }
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->defer);
    c->timer.data = c;
    c->defer.data = c;
    c->timers = 2;
    uv_timer_start(&c->timer, deadline, ATTACH_TIMEOUT_MS, 0);
    /* The session holds the handle before the first callback. */
    *out = c;
    then(c, resolve);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct attach_svc *c = h->data;

    if (--c->timers == 0)
        free(c);
}

static void cluster_resume(attach_svc *c)
{
    if (c == NULL || !c->app_log_paused)
        return;
    c->app_log_paused = 0;
    kube_request_resume(c->app_log);
}

static void cluster_free(attach_svc *c)
{
    if (c == NULL)
        return;
    stop_streams(c);
    kube_request_cancel(c->app_log);
    kube_portfwd_free(c->pf);
    OPENSSL_cleanse(c->secret, sizeof(c->secret));
    dap_buf_cleanup(&c->dbg_text);
    dap_buf_cleanup(&c->app_line);
    json_decref(c->cfg);
    json_decref(c->pod_json);
    free(c->name);
    c->failed = 1; /* no step runs any more */
    if (c->timers == 0) {
        free(c);
        return;
    }
    /* The handles live in c: free c when libuv is done with them. */
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    uv_close((uv_handle_t *)&c->defer, timer_closed);
}

const struct attach_ops attach_cluster = {
    .start_fn = cluster_start,
    .attached_fn = cluster_attached,
    .resume_fn = cluster_resume,
    .stopped_fn = cluster_stopped,
    .free_fn = cluster_free,
};
