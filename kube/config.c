/* config.c - see config.h: kubeconfig YAML -> JSON, merge, resolve, load. */
#define _GNU_SOURCE /* asprintf, strptime, timegm */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "../dap/b64.h"
#include "../dap/log.h"
#include "names.h"

#define MAX_DEPTH 64
#define MAX_FILE (4u << 20)
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* ---- small helpers ------------------------------------------------------ */

static void wipe_free(char *p, size_t n)
{
    if (p == NULL)
        return;
    if (n == 0)
        n = strlen(p);
    OPENSSL_cleanse(p, n);
    free(p);
}

/* The same for a buffer of n bytes that need not be a string. */
static void wipe_free_n(char *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

/* Wipe every string of a parsed kubeconfig in place before its last
 * reference goes: jansson frees without wiping, and the tokens, passwords
 * and keys are in there.  A node someone else still holds (refcount > 1:
 * the merged tree, a resolved config's exec cluster info) is left alone;
 * its last owner wipes it. */
static void json_wipe(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;

    if (j == NULL || j->refcount > 1)
        return;
    if (json_is_string(j)) {
        OPENSSL_cleanse((char *)json_string_value(j), json_string_length(j));
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) json_wipe(v);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) json_wipe(v);
    }
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v)
                                                          : NULL;
}

static int jbool(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_true(v))
        return 1;
    if (json_is_string(v))
        return strcasecmp(json_string_value(v), "true") == 0;
    return 0;
}

static char *sdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int kube_read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *buf;
    size_t n = 0;
    size_t alloc;
    int fd;

    *out = NULL;
    /* Non-blocking and checked before reading: a FIFO, a tty or
     * /proc/self/fd/0 (kdap's DAP pipe) would block the loop, or eat the
     * editor's requests. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (st.st_size > (off_t)MAX_FILE) {
        close(fd);
        return DAP_ETOOBIG;
    }
    /* Sized by fstat (files that say 0, like /proc's, grow): growing copies
     * and wipes, since a realloc would leave copies of the secrets in freed
     * memory. */
    alloc = (size_t)st.st_size + 2 > 4096 ? (size_t)st.st_size + 2 : 4096;
    buf = malloc(alloc);
    if (buf == NULL) {
        close(fd);
        return DAP_ENOMEM;
    }
    for (;;) {
        ssize_t r;
        if (n + 1 == alloc) {
            char *nb = alloc * 2 > MAX_FILE + 2 ? NULL : malloc(alloc * 2);
            if (nb == NULL) {
                close(fd);
                wipe_free_n(buf, n);
                return alloc * 2 > MAX_FILE + 2 ? DAP_ETOOBIG : DAP_ENOMEM;
            }
            memcpy(nb, buf, n);
            wipe_free_n(buf, n);
            buf = nb;
            alloc *= 2;
        }
        r = read(fd, buf + n, alloc - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            close(fd);
            wipe_free_n(buf, n);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return 0;
}

/* ---- YAML -> JSON ------------------------------------------------------- */

struct anchor {
    char *name;
    json_t *node;
    struct anchor *next;
};

struct frame {
    json_t *node;  /* object or array being filled */
    char *key;     /* pending mapping key, or NULL */
    char *anchor;  /* anchor of this container, registered at its end */
};

struct yconv {
    struct frame stack[MAX_DEPTH];
    int depth;
    struct anchor *anchors;
    json_t *root;
    int done;
};

static json_t *scalar_value(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;

    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (n == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
            strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
            return json_null();
        if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
            strcmp(v, "TRUE") == 0)
            return json_true();
        if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
            strcmp(v, "FALSE") == 0)
            return json_false();
    }
    return json_stringn_nocheck(v, n);
}

/* Attach `v` (stolen) to the current container; returns 0 or -1. */
static int yc_add(struct yconv *c, json_t *v, const char *anchor)
{
    struct frame *f;

    if (v == NULL)
        return -1;
    if (anchor != NULL) {
        struct anchor *a = calloc(1, sizeof(*a));
        if (a == NULL || (a->name = strdup(anchor)) == NULL) {
            free(a);
            json_decref(v);
            return -1;
        }
        a->node = json_incref(v);
        a->next = c->anchors;
        c->anchors = a;
    }
    if (c->depth == 0) {
        if (c->root == NULL)
            c->root = v;
        else
            json_decref(v);
        return 0;
    }
    f = &c->stack[c->depth - 1];
    if (json_is_array(f->node))
        return json_array_append_new(f->node, v);
    if (f->key == NULL) {
        /* A mapping key: only scalars are accepted as keys. */
        if (!json_is_string(v) && !json_is_null(v) && !json_is_boolean(v)) {
            json_decref(v);
            return -2;
        }
        f->key = json_is_string(v) ? strdup(json_string_value(v))
                 : json_is_null(v) ? strdup("")
                 : strdup(json_is_true(v) ? "true" : "false");
        json_decref(v);
        return f->key != NULL ? 0 : -1;
    }
    {
        int rc = json_object_set_new(f->node, f->key, v);
        free(f->key);
        f->key = NULL;
        return rc;
    }
}

static void yc_cleanup(struct yconv *c)
{
    while (c->anchors != NULL) {
        struct anchor *a = c->anchors;
        c->anchors = a->next;
        free(a->name);
        json_decref(a->node);
        free(a);
    }
    for (int i = 0; i < c->depth; i++) {
        json_decref(c->stack[i].node);
        free(c->stack[i].key);
        free(c->stack[i].anchor);
    }
    c->depth = 0;
    json_decref(c->root);
    c->root = NULL;
}

static int yaml_to_json(const char *text, size_t len, const char *path,
                        json_t **out, struct dap_error *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct yconv c;
    int rc = 0;
    const char *what = NULL;

    memset(&c, 0, sizeof(c));
    *out = NULL;
    if (!yaml_parser_initialize(&p))
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!c.done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = dap_error_set(err, DAP_ECONFIG,
                               "kubeconfig %s is not valid YAML: %s at line "
                               "%zu column %zu",
                               path, p.problem ? p.problem : "syntax error",
                               p.problem_mark.line + 1,
                               p.problem_mark.column + 1);
            goto fail;
        }
        switch (ev.type) {
        case YAML_SCALAR_EVENT:
            rc = yc_add(&c, scalar_value(&ev),
                        (const char *)ev.data.scalar.anchor);
            break;
        case YAML_ALIAS_EVENT: {
            struct anchor *a;
            for (a = c.anchors; a != NULL; a = a->next)
                if (strcmp(a->name, (const char *)ev.data.alias.anchor) == 0)
                    break;
            if (a == NULL) {
                what = "an alias names an unknown anchor";
                rc = -2;
            } else {
                rc = yc_add(&c, json_incref(a->node), NULL);
            }
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const char *anchor = ev.type == YAML_SEQUENCE_START_EVENT
                                     ? (const char *)ev.data.sequence_start.anchor
                                     : (const char *)ev.data.mapping_start.anchor;
            if (c.depth >= MAX_DEPTH) {
                what = "nesting is too deep";
                rc = -2;
                break;
            }
            c.stack[c.depth].node = ev.type == YAML_SEQUENCE_START_EVENT
                                        ? json_array()
                                        : json_object();
            c.stack[c.depth].key = NULL;
            c.stack[c.depth].anchor = anchor ? strdup(anchor) : NULL;
            if (c.stack[c.depth].node == NULL)
                rc = -1;
            c.depth++;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            struct frame f;
            if (c.depth == 0) {
                rc = -2;
                break;
            }
            f = c.stack[--c.depth];
            free(f.key);
            rc = yc_add(&c, f.node, f.anchor);
            free(f.anchor);
            break;
        }
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            /* Only the first document counts, as in client-go. */
            c.done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc == -1) {
            rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
            goto fail;
        }
        if (rc < 0) {
            rc = dap_error_set(err, DAP_ECONFIG,
                               "kubeconfig %s is not a valid kubeconfig: %s "
                               "(line %zu)",
                               path, what ? what : "a mapping key is not a "
                                                   "plain value",
                               p.mark.line + 1);
            goto fail;
        }
    }
    yaml_parser_delete(&p);
    *out = c.root != NULL ? c.root : json_object();
    c.root = NULL;
    yc_cleanup(&c);
    return 0;
fail:
    yaml_parser_delete(&p);
    yc_cleanup(&c);
    return rc;
}

/* ---- layer 1: one file -------------------------------------------------- */

/* Make the string at o[key] absolute against `dir` when it is relative. */
static int absolutize(json_t *o, const char *key, const char *dir,
                      int only_with_slash)
{
    const char *v = jstr(o, key);
    char *abs;
    size_t n;

    if (v == NULL || v[0] == '/' || dir == NULL)
        return 0;
    if (only_with_slash && strchr(v, '/') == NULL)
        return 0;
    n = strlen(dir) + strlen(v) + 2;
    abs = malloc(n);
    if (abs == NULL)
        return -1;
    snprintf(abs, n, "%s/%s", dir, v);
    json_object_set_new(o, key, json_string(abs));
    free(abs);
    return 0;
}

static const char *list_names[3] = {"clusters", "users", "contexts"};
static const char *inner_names[3] = {"cluster", "user", "context"};

int kube_kubeconfig_parse(const char *text, size_t len, const char *path,
                          json_t **out, struct dap_error *err)
{
    json_t *root;
    char *dir = NULL;
    const char *shown = path != NULL ? path : "(inline)";
    int rc;

    *out = NULL;
    rc = yaml_to_json(text, len, shown, &root, err);
    if (rc < 0)
        return rc;
    if (json_is_null(root)) {
        json_decref(root);
        root = json_object();
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return dap_error_set(err, DAP_ECONFIG,
                             "kubeconfig %s is not a mapping (expected "
                             "apiVersion, kind: Config, clusters, users, "
                             "contexts)",
                             shown);
    }
    if (path != NULL) {
        const char *slash = strrchr(path, '/');
        if (slash == NULL)
            dir = strdup(".");
        else if (slash == path)
            dir = strdup("/");
        else
            dir = strndup(path, (size_t)(slash - path));
    }
    for (int k = 0; k < 3; k++) {
        json_t *list = json_object_get(root, list_names[k]);
        size_t i;
        json_t *e;

        if (list == NULL || json_is_null(list))
            continue;
        if (!json_is_array(list)) {
            free(dir);
            json_decref(root);
            return dap_error_set(err, DAP_ECONFIG,
                                 "kubeconfig %s: %s must be a list", shown,
                                 list_names[k]);
        }
        json_array_foreach(list, i, e)
        {
            json_t *in;
            if (!json_is_object(e))
                continue;
            json_object_set_new(e, KUBE_CONFIG_ORIGIN, json_string(shown));
            in = json_object_get(e, inner_names[k]);
            if (!json_is_object(in))
                continue;
            if (k == 0) {
                absolutize(in, "certificate-authority", dir, 0);
            } else if (k == 1) {
                json_t *ex = json_object_get(in, "exec");
                absolutize(in, "client-certificate", dir, 0);
                absolutize(in, "client-key", dir, 0);
                absolutize(in, "tokenFile", dir, 0);
                if (json_is_object(ex))
                    absolutize(ex, "command", dir, 1);
            }
        }
    }
    free(dir);
    *out = root;
    return 0;
}

/* ---- layer 2: merge and resolve ---------------------------------------- */

int kube_kubeconfig_merge(json_t *const *files, size_t n, json_t **out)
{
    json_t *m = json_object();

    *out = NULL;
    if (m == NULL)
        return DAP_ENOMEM;
    for (int k = 0; k < 3; k++) {
        json_t *list = json_array();
        json_t *seen = json_object();
        for (size_t f = 0; f < n && list && seen; f++) {
            json_t *fl = json_object_get(files[f], list_names[k]);
            size_t i;
            json_t *e;
            json_array_foreach(fl, i, e)
            {
                const char *name = jstr(e, "name");
                if (name == NULL || json_object_get(seen, name) != NULL)
                    continue;
                json_object_set_new(seen, name, json_true());
                json_array_append(list, e);
            }
        }
        json_decref(seen);
        if (list == NULL) {
            json_decref(m);
            return DAP_ENOMEM;
        }
        json_object_set_new(m, list_names[k], list);
    }
    for (size_t f = 0; f < n; f++) {
        const char *cc = jstr(files[f], "current-context");
        if (cc != NULL) {
            json_object_set_new(m, "current-context", json_string(cc));
            break;
        }
    }
    *out = m;
    return 0;
}

static json_t *find_named(json_t *merged, int k, const char *name)
{
    json_t *list = json_object_get(merged, list_names[k]);
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        const char *n = jstr(e, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

/* "a, b, c" of the names in list k (at most ~200 chars). */
static void names_of(json_t *merged, int k, char *buf, size_t size)
{
    json_t *list = json_object_get(merged, list_names[k]);
    size_t i, used = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(list, i, e)
    {
        const char *n = jstr(e, "name");
        int w;
        if (n == NULL)
            continue;
        w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", n);
        if (w < 0 || (size_t)w >= size - used) {
            if (size > 4)
                strcpy(buf + size - 4, "...");
            return;
        }
        used += (size_t)w;
    }
    if (used == 0)
        snprintf(buf, size, "none");
}

static char **str_list(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    char **v = calloc(n + 1, sizeof(char *));
    json_t *e;

    if (v == NULL)
        return NULL;
    json_array_foreach(arr, i, e)
    {
        v[i] = strdup(json_is_string(e) ? json_string_value(e) : "");
    }
    return v;
}

static void str_list_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void exec_cfg_free(struct kube_exec_cfg *e)
{
    if (e == NULL)
        return;
    free(e->api_version);
    free(e->command);
    str_list_free(e->args);
    str_list_free(e->env);
    free(e->install_hint);
    free(e->interactive_mode);
    json_decref(e->cluster_config);
    free(e);
}

void kube_config_free(struct kube_config *c)
{
    if (c == NULL)
        return;
    free(c->source);
    free(c->context);
    free(c->cluster_name);
    free(c->user_name);
    free(c->namespace);
    free(c->server);
    free(c->tls_server_name);
    free(c->proxy_url);
    free(c->ca_pem);
    free(c->cert_pem);
    wipe_free(c->key_pem, c->key_len);
    wipe_free(c->token, 0);
    free(c->token_file);
    free(c->username);
    wipe_free(c->password, 0);
    free(c->impersonate);
    str_list_free(c->impersonate_groups);
    exec_cfg_free(c->exec);
    free(c->ca_origin);
    free(c);
}

static char *memdup0(const char *p, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static char **str_list_dup(char *const *v)
{
    size_t n = 0;
    char **d;

    if (v == NULL)
        return NULL;
    while (v[n] != NULL)
        n++;
    d = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; d != NULL && i < n; i++)
        d[i] = strdup(v[i]);
    return d;
}

struct kube_config *kube_config_dup(const struct kube_config *c)
{
    struct kube_config *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->source = sdup(c->source);
    d->context = sdup(c->context);
    d->cluster_name = sdup(c->cluster_name);
    d->user_name = sdup(c->user_name);
    d->namespace = sdup(c->namespace);
    d->server = sdup(c->server);
    d->tls_server_name = sdup(c->tls_server_name);
    d->insecure = c->insecure;
    d->proxy_url = sdup(c->proxy_url);
    if (c->ca_pem)
        d->ca_pem = memdup0(c->ca_pem, c->ca_len);
    d->ca_len = c->ca_len;
    if (c->cert_pem)
        d->cert_pem = memdup0(c->cert_pem, c->cert_len);
    d->cert_len = c->cert_len;
    if (c->key_pem)
        d->key_pem = memdup0(c->key_pem, c->key_len);
    d->key_len = c->key_len;
    d->token = sdup(c->token);
    d->token_file = sdup(c->token_file);
    d->username = sdup(c->username);
    d->password = sdup(c->password);
    d->impersonate = sdup(c->impersonate);
    d->impersonate_groups = str_list_dup(c->impersonate_groups);
    d->ca_origin = sdup(c->ca_origin);
    if (c->exec != NULL) {
        struct kube_exec_cfg *e = calloc(1, sizeof(*e));
        d->exec = e;
        if (e != NULL) {
            e->api_version = sdup(c->exec->api_version);
            e->command = sdup(c->exec->command);
            e->args = str_list_dup(c->exec->args);
            e->env = str_list_dup(c->exec->env);
            e->install_hint = sdup(c->exec->install_hint);
            e->provide_cluster_info = c->exec->provide_cluster_info;
            e->interactive_mode = sdup(c->exec->interactive_mode);
            e->cluster_config = json_incref(c->exec->cluster_config);
        }
    }
    if (d->source == NULL || d->namespace == NULL || d->server == NULL) {
        kube_config_free(d);
        return NULL;
    }
    return d;
}

void kube_config_paths_cleanup(struct kube_config_paths *p)
{
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
    free(p->ca_origin);
    free(p->cert_origin);
    free(p->key_origin);
    memset(p, 0, sizeof(*p));
}

static char *fmt_dup(const char *fmt, ...) DAP_PRINTF(1, 2);
static char *fmt_dup(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Decode o[key] (base64 PEM) into *pem; 0, or DAP_ECONFIG naming it. */
static int decode_data(json_t *o, const char *key, const char *kind,
                       const char *name, const char *file, char **pem,
                       size_t *len, struct dap_error *err)
{
    const char *v = jstr(o, key);

    if (v == NULL)
        return 0;
    if (dap_b64_decode(v, strlen(v), DAP_B64_SPACE, pem, len) < 0 || *len == 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s \"%s\" in %s: %s is not valid base64 (it "
                             "must be the base64 of a PEM file, e.g. "
                             "`base64 -w0 file.pem`)",
                             kind, name, file, key);
    return 0;
}

static int resolve_exec(json_t *ex, const char *uname, const char *file,
                        json_t *cluster_entry, struct kube_config *c,
                        struct dap_error *err)
{
    struct kube_exec_cfg *e;
    const char *api = jstr(ex, "apiVersion");
    const char *cmd = jstr(ex, "command");
    const char *mode = jstr(ex, "interactiveMode");
    json_t *env = json_object_get(ex, "env");
    size_t i;
    json_t *it;

    if (cmd == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: exec.command is required",
                             uname, file);
    if (api == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: exec.apiVersion is required "
                             "(client.authentication.k8s.io/v1)",
                             uname, file);
    if (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: exec.apiVersion \"%s\" is not "
                             "supported: use client.authentication.k8s.io/v1 "
                             "or v1beta1",
                             uname, file, api);
    if (mode == NULL && strcmp(api, "client.authentication.k8s.io/v1") == 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: exec.interactiveMode is "
                             "required with apiVersion v1 (use Never or "
                             "IfAvailable)",
                             uname, file);
    if (mode != NULL && strcmp(mode, "Never") != 0 &&
        strcmp(mode, "IfAvailable") != 0 && strcmp(mode, "Always") != 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: exec.interactiveMode \"%s\" "
                             "is invalid (Never, IfAvailable or Always)",
                             uname, file, mode);
    if (mode != NULL && strcmp(mode, "Always") == 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s: the exec plugin %s needs an "
                             "interactive terminal (interactiveMode: Always), "
                             "but kdap's stdin is the debug adapter pipe: log "
                             "in beforehand or set interactiveMode: "
                             "IfAvailable",
                             uname, file, cmd);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    c->exec = e;
    e->api_version = strdup(api);
    e->command = strdup(cmd);
    e->args = str_list(json_object_get(ex, "args"));
    e->env = calloc(json_array_size(env) + 1, sizeof(char *));
    json_array_foreach(env, i, it)
    {
        const char *n = jstr(it, "name");
        const char *v = jstr(it, "value");
        if (e->env == NULL)
            break;
        if (n == NULL)
            return dap_error_set(err, DAP_ECONFIG,
                                 "user \"%s\" in %s: exec.env[%zu] has no "
                                 "name",
                                 uname, file, i);
        e->env[i] = fmt_dup("%s=%s", n, v != NULL ? v : "");
    }
    e->install_hint = sdup(jstr(ex, "installHint"));
    e->provide_cluster_info = jbool(ex, "provideClusterInfo");
    e->interactive_mode = strdup(mode != NULL ? mode : "IfAvailable");
    {
        json_t *exts = json_object_get(cluster_entry, "extensions");
        json_t *x;
        size_t j;
        /* Named-extension list form: [{name, extension}]. */
        json_array_foreach(exts, j, x)
        {
            const char *n = jstr(x, "name");
            if (n && strcmp(n, "client.authentication.k8s.io/exec") == 0)
                e->cluster_config =
                    json_incref(json_object_get(x, "extension"));
        }
    }
    if (e->api_version == NULL || e->command == NULL || e->args == NULL ||
        e->env == NULL || e->interactive_mode == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    return 0;
}

int kube_config_resolve(json_t *merged, const char *source,
                        const char *context, const char *ns,
                        struct kube_config **out,
                        struct kube_config_paths *paths,
                        struct dap_error *err)
{
    struct kube_config *c;
    json_t *ctxe, *cle, *ue, *cx, *cl, *u;
    const char *ctx_name, *cl_name, *u_name, *ctxfile, *clfile, *ufile;
    char names[200];
    int rc;

    *out = NULL;
    memset(paths, 0, sizeof(*paths));
    ctx_name = context != NULL && context[0] ? context
                                             : jstr(merged, "current-context");
    if (ctx_name == NULL) {
        names_of(merged, 2, names, sizeof(names));
        return dap_error_set(err, DAP_ECONFIG,
                             "%s has no current-context: choose one with "
                             "`kubectl config use-context NAME` or the "
                             "\"context\" launch key (contexts: %s)",
                             source, names);
    }
    ctxe = find_named(merged, 2, ctx_name);
    if (ctxe == NULL) {
        names_of(merged, 2, names, sizeof(names));
        return dap_error_set(err, DAP_ECONFIG,
                             "context \"%s\" is not in %s (contexts there: "
                             "%s)",
                             ctx_name, source, names);
    }
    ctxfile = jstr(ctxe, KUBE_CONFIG_ORIGIN);
    cx = json_object_get(ctxe, "context");
    cl_name = jstr(cx, "cluster");
    u_name = jstr(cx, "user");
    if (cl_name == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "context \"%s\" in %s has no cluster: set "
                             "contexts[].context.cluster",
                             ctx_name, ctxfile);
    cle = find_named(merged, 0, cl_name);
    if (cle == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "context \"%s\" in %s names cluster \"%s\", which "
                             "is not in %s",
                             ctx_name, ctxfile, cl_name, source);
    clfile = jstr(cle, KUBE_CONFIG_ORIGIN);
    cl = json_object_get(cle, "cluster");
    if (u_name != NULL) {
        ue = find_named(merged, 1, u_name);
        if (ue == NULL)
            return dap_error_set(err, DAP_ECONFIG,
                                 "context \"%s\" in %s names user \"%s\", "
                                 "which is not in %s",
                                 ctx_name, ctxfile, u_name, source);
        ufile = jstr(ue, KUBE_CONFIG_ORIGIN);
        u = json_object_get(ue, "user");
    } else {
        u_name = "";
        ufile = ctxfile;
        ue = NULL;
        u = NULL;
    }
    if (jstr(cl, "server") == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "cluster \"%s\" in %s has no server: set "
                             "clusters[].cluster.server (context \"%s\")",
                             cl_name, clfile, ctx_name);
    if (strncmp(jstr(cl, "server"), "https://", 8) != 0 &&
        strncmp(jstr(cl, "server"), "http://", 7) != 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "cluster \"%s\" in %s: server \"%s\" must start "
                             "with https://",
                             cl_name, clfile, jstr(cl, "server"));
    if (jbool(cl, "insecure-skip-tls-verify") &&
        (jstr(cl, "certificate-authority") != NULL ||
         jstr(cl, "certificate-authority-data") != NULL))
        return dap_error_set(err, DAP_ECONFIG,
                             "cluster \"%s\" in %s sets both "
                             "insecure-skip-tls-verify and a certificate "
                             "authority: remove one of them",
                             cl_name, clfile);
    if (json_object_get(u, "auth-provider") != NULL &&
        jstr(u, "token") == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "user \"%s\" in %s uses auth-provider, which "
                             "kubectl removed: switch to an exec credential "
                             "plugin (e.g. kubelogin, gke-gcloud-auth-plugin)",
                             u_name, ufile);

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    c->source = strdup(source);
    c->context = strdup(ctx_name);
    c->cluster_name = strdup(cl_name);
    c->user_name = strdup(u_name);
    c->namespace = strdup(ns != NULL && ns[0]      ? ns
                          : jstr(cx, "namespace") ? jstr(cx, "namespace")
                                                  : "default");
    c->server = strdup(jstr(cl, "server"));
    if (c->server != NULL) {
        size_t n = strlen(c->server);
        while (n > 8 && c->server[n - 1] == '/')
            c->server[--n] = '\0';
    }
    c->tls_server_name = sdup(jstr(cl, "tls-server-name"));
    c->insecure = jbool(cl, "insecure-skip-tls-verify");
    c->proxy_url = sdup(jstr(cl, "proxy-url"));
    c->token = sdup(jstr(u, "token"));
    c->token_file = c->token == NULL ? sdup(jstr(u, "tokenFile")) : NULL;
    c->username = sdup(jstr(u, "username"));
    c->password = sdup(jstr(u, "password"));
    c->impersonate = sdup(jstr(u, "as"));
    if (json_is_array(json_object_get(u, "as-groups")))
        c->impersonate_groups = str_list(json_object_get(u, "as-groups"));
    if (c->source == NULL || c->context == NULL || c->namespace == NULL ||
        c->server == NULL || c->cluster_name == NULL || c->user_name == NULL) {
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto fail;
    }
    {
        char what[600];
        if (ns != NULL && ns[0])
            snprintf(what, sizeof(what), "namespace");
        else
            snprintf(what, sizeof(what), "namespace of context \"%s\" in %s",
                     ctx_name, ctxfile);
        rc = kube_name_check(KUBE_NAME_LABEL, what, c->namespace, err);
        if (rc < 0)
            goto fail;
    }

    /* Certificate authority: data wins over the file, like client-go. */
    rc = decode_data(cl, "certificate-authority-data", "cluster", cl_name,
                     clfile, &c->ca_pem, &c->ca_len, err);
    if (rc < 0)
        goto fail;
    if (c->ca_pem != NULL)
        c->ca_origin = fmt_dup("certificate-authority-data of cluster \"%s\" "
                               "in %s",
                               cl_name, clfile);
    else if (jstr(cl, "certificate-authority") != NULL) {
        paths->ca_file = strdup(jstr(cl, "certificate-authority"));
        paths->ca_origin = fmt_dup("certificate-authority of cluster \"%s\" "
                                   "in %s",
                                   cl_name, clfile);
        c->ca_origin = fmt_dup("certificate-authority %s of cluster \"%s\" "
                               "in %s",
                               paths->ca_file, cl_name, clfile);
    }

    /* Client certificate and key. */
    rc = decode_data(u, "client-certificate-data", "user", u_name, ufile,
                     &c->cert_pem, &c->cert_len, err);
    if (rc == 0)
        rc = decode_data(u, "client-key-data", "user", u_name, ufile,
                         &c->key_pem, &c->key_len, err);
    if (rc < 0)
        goto fail;
    if (c->cert_pem == NULL && jstr(u, "client-certificate") != NULL) {
        paths->cert_file = strdup(jstr(u, "client-certificate"));
        paths->cert_origin = fmt_dup("client-certificate of user \"%s\" in %s",
                                     u_name, ufile);
    }
    if (c->key_pem == NULL && jstr(u, "client-key") != NULL) {
        paths->key_file = strdup(jstr(u, "client-key"));
        paths->key_origin = fmt_dup("client-key of user \"%s\" in %s", u_name,
                                    ufile);
    }
    if ((c->cert_pem != NULL || paths->cert_file != NULL) !=
        (c->key_pem != NULL || paths->key_file != NULL)) {
        rc = dap_error_set(err, DAP_ECONFIG,
                           "user \"%s\" in %s has a client %s but no client "
                           "%s: set both client-certificate(-data) and "
                           "client-key(-data)",
                           u_name, ufile,
                           c->cert_pem || paths->cert_file ? "certificate"
                                                           : "key",
                           c->cert_pem || paths->cert_file ? "key"
                                                           : "certificate");
        goto fail;
    }
    if (json_is_object(json_object_get(u, "exec")) && c->token == NULL) {
        rc = resolve_exec(json_object_get(u, "exec"), u_name, ufile, cle, c,
                          err);
        if (rc < 0)
            goto fail;
    }
    (void)ue;
    *out = c;
    return 0;
fail:
    kube_config_free(c);
    kube_config_paths_cleanup(paths);
    return rc;
}

/* ---- layer 3: files ----------------------------------------------------- */

/* Why kube_read_file failed, for a message. */
static const char *read_error(int rc)
{
    if (rc == DAP_ETOOBIG)
        return "larger than 4 MiB";
    if (rc == -EINVAL)
        return "not a regular file (a pipe, device or socket)";
    return strerror(-rc);
}

static int read_pem(const char *file, const char *origin, char **pem,
                    size_t *len, struct dap_error *err)
{
    int rc = kube_read_file(file, pem, len);

    if (rc < 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "cannot read %s (%s): %s", file, origin,
                             read_error(rc));
    return 0;
}

static int load_in_cluster(const struct kube_load_opts *o,
                           struct kube_config **out, struct dap_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = o->sa_dir ? o->sa_dir
                      : getenv("KDAP_SERVICEACCOUNT_DIR")
                          ? getenv("KDAP_SERVICEACCOUNT_DIR")
                          : SA_DIR;
    struct kube_config *c = calloc(1, sizeof(*c));
    char path[4096];
    char *ns = NULL;
    int rc;

    if (c == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    c->source = strdup("in-cluster configuration");
    c->context = strdup("");
    c->cluster_name = strdup("in-cluster");
    c->user_name = strdup("service account");
    c->server = strchr(host, ':') != NULL
                    ? fmt_dup("https://[%s]:%s", host, port)
                    : fmt_dup("https://%s:%s", host, port);
    snprintf(path, sizeof(path), "%s/token", dir);
    c->token_file = strdup(path);
    if (access(path, R_OK) != 0) {
        rc = dap_error_set(err, DAP_ECONFIG,
                           "in-cluster configuration: cannot read the "
                           "service account token %s: %s (is "
                           "automountServiceAccountToken off?)",
                           path, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    rc = read_pem(path, "in-cluster service account CA", &c->ca_pem,
                  &c->ca_len, err);
    if (rc < 0)
        goto fail;
    c->ca_origin = strdup(path);
    snprintf(path, sizeof(path), "%s/namespace", dir);
    if (o->ns != NULL && o->ns[0])
        c->namespace = strdup(o->ns);
    else if (kube_read_file(path, &ns, NULL) == 0) {
        ns[strcspn(ns, " \r\n")] = '\0';
        c->namespace = strdup(ns[0] ? ns : "default");
        free(ns);
    } else
        c->namespace = strdup("default");
    if (c->source == NULL || c->server == NULL || c->namespace == NULL ||
        c->token_file == NULL || c->context == NULL) {
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto fail;
    }
    rc = kube_name_check(KUBE_NAME_LABEL,
                         o->ns != NULL && o->ns[0] ? "namespace"
                                                   : "in-cluster namespace",
                         c->namespace, err);
    if (rc < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    kube_config_free(c);
    return rc;
}

int kube_config_plain_http(const struct kube_config *c)
{
    return c != NULL && c->server != NULL &&
           strncmp(c->server, "http://", 7) == 0;
}

int kube_config_load(const struct kube_load_opts *o, struct kube_config **out,
                     struct dap_error *err)
{
    json_t *files[32];
    size_t nfiles = 0;
    char *list = NULL;
    char source[1024];
    size_t used = 0;
    json_t *merged = NULL;
    struct kube_config_paths paths;
    struct kube_config *c = NULL;
    const char *env = getenv("KUBECONFIG");
    int rc = 0;

    *out = NULL;
    memset(&paths, 0, sizeof(paths));
    if (o->kubeconfig != NULL && o->kubeconfig[0]) {
        list = strdup(o->kubeconfig);
    } else if (env != NULL && env[0]) {
        list = strdup(env);
    } else {
        const char *home = getenv("HOME");
        if (home != NULL)
            list = fmt_dup("%s/.kube/config", home);
        else
            list = strdup("");
    }
    if (list == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");

    /* Read every listed file; an explicit file is used alone and must
     * exist, missing $KUBECONFIG entries are skipped like kubectl does. */
    {
        char *save = NULL;
        int explicit_file = o->kubeconfig != NULL && o->kubeconfig[0];
        for (char *p = explicit_file ? list : strtok_r(list, ":", &save);
             p != NULL; p = explicit_file ? NULL : strtok_r(NULL, ":", &save)) {
            char *text = NULL;
            size_t len = 0;
            int dup = 0;
            if (p[0] == '\0')
                continue;
            for (size_t i = 0; i < nfiles; i++)
                if (strcmp(json_string_value(json_object_get(
                               files[i], "kdap.path")),
                           p) == 0)
                    dup = 1;
            if (dup || nfiles >= sizeof(files) / sizeof(files[0]))
                continue;
            rc = kube_read_file(p, &text, &len);
            if (rc < 0) {
                if (explicit_file || rc != -ENOENT) {
                    rc = dap_error_set(
                        err, DAP_ECONFIG, "cannot read kubeconfig %s: %s%s",
                        p, read_error(rc),
                        explicit_file ? " (set by the \"kubeconfig\" "
                                        "launch key / --kubeconfig)"
                                      : "");
                    goto fail;
                }
                rc = 0;
                continue;
            }
            rc = kube_kubeconfig_parse(text, len, p, &files[nfiles], err);
            /* The text holds tokens and keys: wipe it (README). */
            wipe_free_n(text, len);
            if (rc < 0)
                goto fail;
            json_object_set_new(files[nfiles], "kdap.path", json_string(p));
            used += (size_t)snprintf(source + used,
                                     used < sizeof(source) ? sizeof(source) - used
                                                           : 0,
                                     "%s%s", nfiles ? ":" : "", p);
            if (used >= sizeof(source))
                used = sizeof(source) - 1;
            nfiles++;
        }
    }
    if (nfiles == 0) {
        if (getenv("KUBERNETES_SERVICE_HOST") != NULL &&
            getenv("KUBERNETES_SERVICE_PORT") != NULL) {
            free(list);
            return load_in_cluster(o, out, err);
        }
        rc = dap_error_set(err, DAP_ECONFIG,
                           "no kubeconfig found (looked at %s) and not "
                           "running in a cluster: set KUBECONFIG, the "
                           "\"kubeconfig\" launch key, or create "
                           "~/.kube/config",
                           env != NULL && env[0] ? env
                           : getenv("HOME")     ? "~/.kube/config"
                                                : "$HOME unset");
        goto fail;
    }
    source[used] = '\0';
    {
        char label[1100];
        snprintf(label, sizeof(label), "kubeconfig %s", source);
        rc = kube_kubeconfig_merge(files, nfiles, &merged);
        if (rc < 0) {
            rc = dap_error_set(err, rc, "out of memory");
            goto fail;
        }
        rc = kube_config_resolve(merged, label, o->context, o->ns, &c, &paths,
                                 err);
        if (rc < 0)
            goto fail;
    }
    if (paths.ca_file != NULL) {
        rc = read_pem(paths.ca_file, paths.ca_origin, &c->ca_pem, &c->ca_len,
                      err);
        if (rc < 0)
            goto fail;
    }
    if (paths.cert_file != NULL) {
        rc = read_pem(paths.cert_file, paths.cert_origin, &c->cert_pem,
                      &c->cert_len, err);
        if (rc < 0)
            goto fail;
    }
    if (paths.key_file != NULL) {
        rc = read_pem(paths.key_file, paths.key_origin, &c->key_pem,
                      &c->key_len, err);
        if (rc < 0)
            goto fail;
    }
    if (c->insecure)
        DAP_LOGW("kube: cluster \"%s\" (context \"%s\", %s) sets "
                 "insecure-skip-tls-verify: the API server's certificate is "
                 "NOT verified",
                 c->cluster_name, c->context, c->source);
    if (kube_config_plain_http(c))
        DAP_LOGW("kube: cluster \"%s\" (context \"%s\", %s) uses a plain "
                 "http:// server: requests and credentials travel NOT "
                 "encrypted and the API server is NOT authenticated",
                 c->cluster_name, c->context, c->source);
    *out = c;
    c = NULL;
    rc = 0;
fail:
    for (size_t i = 0; i < nfiles; i++) {
        json_wipe(files[i]);
        json_decref(files[i]);
    }
    json_wipe(merged);
    json_decref(merged);
    kube_config_paths_cleanup(&paths);
    kube_config_free(c);
    free(list);
    return rc;
}
