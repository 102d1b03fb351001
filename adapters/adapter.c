/* adapter.c - backend registry and the calls every backend shares. */
#include "adapter_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const go_filters[] = {NULL};
static const char *const gdb_filters[] = {NULL};
static const char *const node_filters[] = {"all", "uncaught", NULL};

/* delve keeps its config under XDG_CONFIG_HOME and fails without one. */
static const char *const go_env[] = {"HOME=/root",
                                     "XDG_CONFIG_HOME=/root/.config", NULL};
static const char *const go_dirs[] = {"/root/.config", NULL};
static const char *const home_env[] = {"HOME=/root", NULL};

static const struct {
    struct adapter_kind kind;
    const struct adapter_ops *ops;
} kinds[] = {
    {{"go", "Go through delve (DAP)", go_filters, "dlv", "/usr/bin/dlv",
      go_env, go_dirs},
     &adapter__delve_ops},
    {{"gdb", "C/C++/Rust through gdb (MI) and gdbserver", gdb_filters,
      "gdbserver", "/usr/bin/gdbserver", home_env, NULL},
     &adapter__gdb_ops},
    {{"node", "Node.js through its inspector (CDP)", node_filters, NULL, NULL,
      home_env, NULL},
     &adapter__node_ops},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int kind_index(const char *runtime)
{
    for (size_t i = 0; i < NKINDS; i++) {
        if (strcmp(kinds[i].kind.runtime, runtime) == 0)
            return (int)i;
    }
    return -1;
}

const struct adapter_kind *adapter_kind_find(const char *runtime)
{
    int i = runtime != NULL ? kind_index(runtime) : -1;

    return i < 0 ? NULL : &kinds[i].kind;
}

const char *adapter_kind_names(void)
{
    static char names[128];

    if (names[0] == '\0') {
        for (size_t i = 0; i < NKINDS; i++) {
            if (i > 0)
                strncat(names, ", ", sizeof(names) - strlen(names) - 1);
            strncat(names, kinds[i].kind.runtime,
                    sizeof(names) - strlen(names) - 1);
        }
    }
    return names;
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
    a->kind = &kinds[i].kind;
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
