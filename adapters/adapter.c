/* adapter.c - backend registry and the calls every backend shares. */
#define _GNU_SOURCE /* struct ucred */
#include "adapter_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../dap/log.h"

/* The registry is open (adapter_kind_register) so that a test can add a
 * kind of its own; the built-in kinds go through the same call, on first
 * use.  One loop, one thread: no locking. */
#define MAX_KINDS 16

static struct {
    const struct adapter_kind *kind;
    const struct adapter_ops *ops;
} kinds[MAX_KINDS];
static size_t nkinds;
static char kind_names[128]; /* adapter_kind_names(), "" when stale */

static int register_kind(const struct adapter_kind *kind,
                         const struct adapter_ops *ops)
{
    if (kind == NULL || kind->runtime == NULL || ops == NULL)
        return DAP_EINVAL;
    for (size_t i = 0; i < nkinds; i++) {
        if (strcmp(kinds[i].kind->runtime, kind->runtime) == 0)
            return -EEXIST;
    }
    if (nkinds == MAX_KINDS)
        return DAP_ENOMEM;
    kinds[nkinds].kind = kind;
    kinds[nkinds].ops = ops;
    nkinds++;
    kind_names[0] = '\0';
    return 0;
}

/* The built-in runtimes: a new one is its backend file (kind and ops)
 * plus a line here. */
static const struct {
    const struct adapter_kind *kind;
    const struct adapter_ops *ops;
} builtins[] = {
    {&adapter__delve_kind, &adapter__delve_ops},
    {&adapter__gdb_kind, &adapter__gdb_ops},
    {&adapter__node_kind, &adapter__node_ops},
    {&adapter__debugpy_kind, &adapter__debugpy_ops},
};

static void register_builtins(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        (void)register_kind(builtins[i].kind, builtins[i].ops);
}

int adapter_kind_register(const struct adapter_kind *kind,
                          const struct adapter_ops *ops)
{
    register_builtins();
    return register_kind(kind, ops);
}

static int kind_index(const char *runtime)
{
    register_builtins();
    for (size_t i = 0; i < nkinds; i++) {
        if (strcmp(kinds[i].kind->runtime, runtime) == 0)
            return (int)i;
    }
    return -1;
}

const struct adapter_kind *adapter_kind_find(const char *runtime)
{
    int i = runtime != NULL ? kind_index(runtime) : -1;

    return i < 0 ? NULL : kinds[i].kind;
}

const struct adapter_kind *adapter_kind_at(size_t i)
{
    register_builtins();
    return i < nkinds ? kinds[i].kind : NULL;
}

const struct adapter_kind *adapter_kind_fallback(void)
{
    register_builtins();
    for (size_t i = 0; i < nkinds; i++) {
        if (kinds[i].kind->fallback)
            return kinds[i].kind;
    }
    return nkinds > 0 ? kinds[0].kind : NULL;
}

const char *adapter_kind_names(void)
{
    register_builtins();
    if (kind_names[0] == '\0') {
        for (size_t i = 0; i < nkinds; i++) {
            if (i > 0)
                strncat(kind_names, ", ",
                        sizeof(kind_names) - strlen(kind_names) - 1);
            strncat(kind_names, kinds[i].kind->runtime,
                    sizeof(kind_names) - strlen(kind_names) - 1);
        }
    }
    return kind_names;
}

int adapter_new(uv_loop_t *loop, const char *runtime, const char *name,
                json_t *cfg, const struct adapter_callbacks *cb, adapter **out,
                struct dap_error *err)
{
    int i = kind_index(runtime);
    adapter *a;
    int rc;

    if (i < 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "unknown runtime \"%s\": use one of %s", runtime,
                             adapter_kind_names());
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    a->kind = kinds[i].kind;
    a->ops = kinds[i].ops;
    a->loop = loop;
    a->cb = *cb;
    a->name = strdup(name);
    rc = a->ops->new_fn(a, cfg, err);
    if (rc < 0) {
        free(a->name);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int adapter_start(adapter *a)
{
    return a->ops->start_fn(a);
}

int adapter_request(adapter *a, const char *command, json_t *args,
                    adapter_response_cb *cb, void *data)
{
    return a->ops->request_fn(a, command, args, cb, data);
}

void adapter_stop(adapter *a, enum adapter_stop_mode mode, unsigned timeout_ms)
{
    a->ops->stop_fn(a, mode, timeout_ms);
}

void adapter_free(adapter *a)
{
    if (a == NULL)
        return;
    a->ops->free_fn(a);
    json_decref(a->caps);
    free(a->inferred_root);
    free(a->name);
    free(a);
}

const char *adapter_name(const adapter *a)
{
    return a->name;
}

const char *adapter_runtime(const adapter *a)
{
    return a->kind->runtime;
}

const char *adapter_inferred_root(const adapter *a)
{
    return a->inferred_root;
}

json_t *adapter_capabilities(const adapter *a)
{
    return a->caps;
}

void adapter__event(adapter *a, const char *event, json_t *body)
{
    if (a->cb.event_fn != NULL)
        a->cb.event_fn(a->cb.data, a, event, body);
}

void adapter__ready(adapter *a, int status, const struct dap_error *err)
{
    if (a->cb.ready_fn != NULL)
        a->cb.ready_fn(a->cb.data, a, status, err);
}

void adapter__closed(adapter *a, int status, const struct dap_error *err)
{
    if (a->cb.closed_fn != NULL)
        a->cb.closed_fn(a->cb.data, a, status, err);
}

int adapter__parse_hostport(const char *s, char *host, size_t hostlen,
                            int *port, struct dap_error *err)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    char *end;
    long p;

    if (s == NULL || s[0] == '\0')
        return dap_error_set(err, DAP_ECONFIG,
                             "\"connect\" is empty: write \"HOST:PORT\"");
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"connect\": \"%s\" is not \"[V6ADDR]:PORT\"",
                                 s);
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"connect\": \"%s\" has no port: write "
                                 "\"HOST:PORT\", e.g. \"127.0.0.1:2345\"",
                                 s);
        hl = (size_t)(colon - s);
    }
    if (hl == 0) {
        h = "127.0.0.1";
        hl = strlen(h);
    }
    if (hl >= hostlen)
        return dap_error_set(err, DAP_ECONFIG, "\"connect\": host too long");
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p <= 0 || p > 65535)
        return dap_error_set(err, DAP_ECONFIG,
                             "\"connect\": \"%s\" has no valid port "
                             "(1-65535)",
                             s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

long long adapter__arg_int(json_t *args, const char *key, long long lo,
                           long long hi, long long def)
{
    json_t *v = json_object_get(args, key);
    long long n;

    if (!json_is_integer(v))
        return def;
    n = (long long)json_integer_value(v);
    return n < lo ? lo : n > hi ? hi : n;
}

int adapter__request_timeout(json_t *cfg, unsigned def_ms, unsigned *ms,
                             struct dap_error *err)
{
    json_t *v = json_object_get(cfg, "requestTimeout");
    double s = json_number_value(v);

    *ms = def_ms;
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || !(s > 0 && s <= 3600))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"requestTimeout\" must be a number of seconds "
                             "in (0, 3600]");
    *ms = (unsigned)(s * 1000 + 0.5);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

void adapter_set_tunnel(adapter *a, const struct adapter_tunnel *t)
{
    a->tunnel = *t;
}

int adapter__dial(adapter *a, int *fd, struct dap_error *err)
{
    int sv[2];
    int rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return dap_error_set(err, DAP_ECONNECT, "socketpair: %s",
                             strerror(errno));
    rc = a->tunnel.serve_fn(a->tunnel.data, sv[1], err);
    if (rc < 0) {
        close(sv[0]);
        return rc;
    }
    *fd = sv[0];
    return 0;
}

/* ---- a private socket for gdb ----------------------------------------- */

struct adapter_privsock {
    adapter *a;
    uv_pipe_t listener;
    int pid;
    int listening; /* the listener is open */
    int handles;   /* listener + accepted connections still closing */
    int freeing;
    char dir[64];
    char path[96];
};

static void privsock_maybe_release(adapter_privsock *ps)
{
    if (ps->freeing && ps->handles == 0)
        free(ps);
}

static void privsock_closed(uv_handle_t *h)
{
    adapter_privsock *ps = h->data;

    if (h != (uv_handle_t *)&ps->listener)
        free(h);
    ps->handles--;
    privsock_maybe_release(ps);
}

/* No one else may connect from now on: the socket and its directory go. */
static void privsock_stop(adapter_privsock *ps)
{
    if (!ps->listening)
        return;
    ps->listening = 0;
    uv_close((uv_handle_t *)&ps->listener, privsock_closed);
    unlink(ps->path);
    rmdir(ps->dir);
}

static void privsock_conn(uv_stream_t *server, int status)
{
    adapter_privsock *ps = server->data;
    struct ucred cred = {0};
    socklen_t len = sizeof(cred);
    struct dap_error err;
    uv_pipe_t *p;
    uv_os_fd_t fd;
    int mine;

    if (status < 0 || !ps->listening || (p = malloc(sizeof(*p))) == NULL)
        return;
    uv_pipe_init(ps->a->loop, p, 0);
    p->data = ps;
    ps->handles++;
    if (uv_accept(server, (uv_stream_t *)p) < 0 ||
        uv_fileno((uv_handle_t *)p, &fd) < 0) {
        uv_close((uv_handle_t *)p, privsock_closed);
        return;
    }
    /* The kernel's word on who connected: nobody can fake it. */
    mine = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           cred.pid == ps->pid;
    if (!mine) {
        DAP_LOGW("service %s: refused a connection to the debugger's "
                 "socket from process %d (only gdb, process %d, may "
                 "connect)",
                 ps->a->name, (int)cred.pid, ps->pid);
        uv_close((uv_handle_t *)p, privsock_closed);
        return;
    }
    fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    uv_close((uv_handle_t *)p, privsock_closed);
    privsock_stop(ps);
    if (fd < 0 || ps->a->tunnel.serve_fn(ps->a->tunnel.data, fd, &err) < 0)
        DAP_LOGW("service %s: cannot tunnel gdb's connection: %s",
                 ps->a->name, fd < 0 ? strerror(errno) : err.msg);
}

int adapter__privsock_new(adapter *a, int pid, adapter_privsock **out,
                          const char **path, struct dap_error *err)
{
    adapter_privsock *ps = calloc(1, sizeof(*ps));
    int rc;

    if (ps == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    ps->a = a;
    ps->pid = pid;
    snprintf(ps->dir, sizeof(ps->dir), "/tmp/kdap-XXXXXX");
    if (mkdtemp(ps->dir) == NULL) {
        rc = dap_error_set(err, DAP_ECONNECT,
                           "cannot create a private directory in /tmp: %s",
                           strerror(errno));
        free(ps);
        return rc;
    }
    snprintf(ps->path, sizeof(ps->path), "%s/debugger", ps->dir);
    uv_pipe_init(a->loop, &ps->listener, 0);
    ps->listener.data = ps;
    ps->handles = 1;
    ps->listening = 1;
    rc = uv_pipe_bind(&ps->listener, ps->path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ps->listener, 4, privsock_conn);
    if (rc < 0) {
        dap_error_set(err, DAP_ECONNECT, "cannot listen on %s: %s", ps->path,
                      uv_strerror(rc));
        adapter__privsock_free(ps);
        return DAP_ECONNECT;
    }
    *out = ps;
    *path = ps->path;
    return 0;
}

void adapter__privsock_free(adapter_privsock *ps)
{
    if (ps == NULL)
        return;
    privsock_stop(ps);
    ps->freeing = 1;
    privsock_maybe_release(ps);
}
