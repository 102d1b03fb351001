/* creds.c - see creds.h. */
#define _GNU_SOURCE
#include "creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "../dap/b64.h"
#include "../dap/buf.h"

#define HELPER_OUT_MAX (64 * 1024)

void oci_cred_cleanup(struct oci_cred *c)
{
    dap_secret_free(c->username);
    dap_secret_free(c->password);
    dap_secret_free(c->identity_token);
    c->username = c->password = c->identity_token = NULL;
}

static void looked_add(struct oci_cred *c, const char *fmt, ...)
    DAP_PRINTF(2, 3);
static void looked_add(struct oci_cred *c, const char *fmt, ...)
{
    size_t n = strlen(c->looked);
    va_list ap;

    if (n > 0 && n + 2 < sizeof(c->looked)) {
        memcpy(c->looked + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(c->looked + n, sizeof(c->looked) - n, fmt, ap);
    va_end(ap);
}

/* "https://index.docker.io/v1/" -> "index.docker.io". */
static void key_host(const char *key, char *out, size_t size)
{
    const char *p = strstr(key, "://");
    size_t n;

    p = p ? p + 3 : key;
    n = strcspn(p, "/");
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int host_matches(const char *key, const char *host)
{
    char h[300];

    key_host(key, h, sizeof(h));
    if (strcmp(h, host) == 0)
        return 1;
    /* Docker Hub is filed under its index. */
    return (strcmp(host, "registry-1.docker.io") == 0 ||
            strcmp(host, "docker.io") == 0) &&
           (strcmp(h, "index.docker.io") == 0 || strcmp(h, "docker.io") == 0);
}

static json_t *lookup(json_t *obj, const char *host)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        if (host_matches(k, host))
            return v;
    }
    return NULL;
}

/* ---- helpers (docker-credential-NAME get) -------------------------------- */

struct oci_creds_wait {
    uv_process_t proc;
    uv_pipe_t in, out;
    uv_write_t wr;
    int open;                 /* handles not closed yet */
    int exited, out_eof;
    int64_t exit_status;
    dap_buf buf;
    char host[300];
    char *write_data;
    struct oci_cred c;
    oci_creds_cb *cb;
    void *data;
    int cancelled;
    char helper[128];
};

static void wait_closed(uv_handle_t *h)
{
    oci_creds_wait *w = h->data;

    if (--w->open > 0)
        return;
    if (w->buf.data != NULL)
        OPENSSL_cleanse(w->buf.data, w->buf.len);
    dap_buf_cleanup(&w->buf);
    oci_cred_cleanup(&w->c);
    free(w->write_data);
    free(w);
}

static void wait_close(oci_creds_wait *w)
{
    uv_close((uv_handle_t *)&w->proc, wait_closed);
    if (!uv_is_closing((uv_handle_t *)&w->in))
        uv_close((uv_handle_t *)&w->in, wait_closed);
    if (!uv_is_closing((uv_handle_t *)&w->out))
        uv_close((uv_handle_t *)&w->out, wait_closed);
}

static void helper_finish(oci_creds_wait *w)
{
    struct dap_error e;
    json_t *j;
    const char *user, *secret;
    int status = 0;

    if (!w->exited || !w->out_eof)
        return;
    if (w->cancelled) {
        wait_close(w);
        return;
    }
    j = w->exit_status == 0 ? json_loadb(w->buf.data ? w->buf.data : "",
                                         w->buf.len, 0, NULL)
                            : NULL;
    user = json_string_value(json_object_get(j, "Username"));
    secret = json_string_value(json_object_get(j, "Secret"));
    if (w->exit_status != 0) {
        /* "credentials not found in native keychain": nothing for this
         * host, which is an answer (anonymous), not a failure. */
        if (w->buf.data != NULL && strstr(w->buf.data, "not found") != NULL) {
            looked_add(&w->c, "docker-credential-%s: nothing for %s",
                       w->helper, w->host);
        } else {
            status = dap_error_set(&e, DAP_ECONFIG,
                                   "the credential helper "
                                   "docker-credential-%s failed for %s (exit "
                                   "status %d); %s",
                                   w->helper, w->host, (int)w->exit_status,
                                   w->c.looked);
        }
    } else if (user == NULL || secret == NULL) {
        status = dap_error_set(&e, DAP_ECONFIG,
                               "the credential helper docker-credential-%s "
                               "answered no Username and Secret for %s",
                               w->helper, w->host);
    } else if (strcmp(user, "<token>") == 0) {
        w->c.identity_token = strdup(secret);
    } else {
        w->c.username = strdup(user);
        w->c.password = strdup(secret);
    }
    if (status == 0 && (w->c.username || w->c.identity_token)) {
        char named[sizeof(w->c.source)];
        snprintf(named, sizeof(named), "%s", w->c.source);
        snprintf(w->c.source, sizeof(w->c.source),
                 "docker-credential-%s (named by %s)", w->helper, named);
    }
    else if (status == 0)
        w->c.source[0] = '\0';
    if (j != NULL) {
        /* The parsed strings are freed with j; jansson does not wipe. */
        json_decref(j);
    }
    w->cb(w->data, status, &w->c, status < 0 ? &e : NULL);
    memset(&w->c, 0, sizeof(w->c)); /* the callee owns the strings */
    wait_close(w);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    oci_creds_wait *w = p->data;

    w->exited = 1;
    w->exit_status = sig ? 128 + sig : status;
    helper_finish(w);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char scratch[4096];

    (void)h;
    (void)suggested;
    b->base = scratch;
    b->len = sizeof(scratch);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    oci_creds_wait *w = s->data;

    if (n > 0) {
        if (dap_buf_append(&w->buf, b->base, (size_t)n) < 0)
            n = UV_EOF;
        OPENSSL_cleanse(b->base, (size_t)(n > 0 ? n : 0));
    }
    if (n < 0) {
        uv_read_stop(s);
        w->out_eof = 1;
        helper_finish(w);
    }
}

static void on_written(uv_write_t *wr, int status)
{
    oci_creds_wait *w = wr->data;

    (void)status;
    uv_close((uv_handle_t *)&w->in, wait_closed);
}

static int run_helper(uv_loop_t *loop, const char *helper, const char *host,
                      struct oci_cred *c, oci_creds_cb *cb, void *data,
                      oci_creds_wait **out, struct dap_error *err)
{
    oci_creds_wait *w = calloc(1, sizeof(*w));
    uv_process_options_t po = {0};
    uv_stdio_container_t io[3];
    char file[140];
    char *args[3];
    uv_buf_t b;
    int rc;

    if (w == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    snprintf(w->helper, sizeof(w->helper), "%s", helper);
    snprintf(w->host, sizeof(w->host), "%s", host);
    w->c = *c;
    memset(c, 0, sizeof(*c));
    w->cb = cb;
    w->data = data;
    dap_buf_init(&w->buf, HELPER_OUT_MAX);
    snprintf(file, sizeof(file), "docker-credential-%s", helper);
    args[0] = file;
    args[1] = "get";
    args[2] = NULL;
    uv_pipe_init(loop, &w->in, 0);
    uv_pipe_init(loop, &w->out, 0);
    w->in.data = w->out.data = w->proc.data = w;
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&w->in;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&w->out;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    po.file = file;
    po.args = args;
    po.stdio = io;
    po.stdio_count = 3;
    po.exit_cb = on_exit_cb;
    rc = uv_spawn(loop, &w->proc, &po);
    if (rc < 0) {
        dap_error_set(err, DAP_ECONFIG,
                      "%s names the credential helper \"%s\", but %s cannot "
                      "be run (%s): install it or change the file",
                      w->c.source, helper, file, uv_strerror(rc));
        *c = w->c;
        memset(&w->c, 0, sizeof(w->c));
        /* libuv initialised the process handle before failing: it is
         * closed like the pipes. */
        w->open = 3;
        uv_close((uv_handle_t *)&w->proc, wait_closed);
        uv_close((uv_handle_t *)&w->in, wait_closed);
        uv_close((uv_handle_t *)&w->out, wait_closed);
        return DAP_ECONFIG;
    }
    w->open = 3;
    w->write_data = strdup(host);
    b = uv_buf_init(w->write_data, (unsigned)strlen(host));
    w->wr.data = w;
    uv_write(&w->wr, (uv_stream_t *)&w->in, &b, 1, on_written);
    uv_read_start((uv_stream_t *)&w->out, on_alloc, on_read);
    *out = w;
    return DAP_PENDING;
}

void oci_creds_wait_cancel(oci_creds_wait *w)
{
    if (w == NULL)
        return;
    w->cancelled = 1;
    uv_process_kill(&w->proc, SIGTERM);
}

/* ---- files ---------------------------------------------------------------- */

static int b64_userpass(const char *auth, struct oci_cred *c)
{
    char *raw;
    size_t len;
    char *colon;

    if (dap_b64_decode(auth, strlen(auth), DAP_B64_SPACE, &raw, &len) < 0)
        return -1;
    colon = strchr(raw, ':');
    if (colon == NULL) {
        OPENSSL_cleanse(raw, len);
        free(raw);
        return -1;
    }
    *colon = '\0';
    c->username = strdup(raw);
    c->password = strdup(colon + 1);
    OPENSSL_cleanse(raw, len);
    free(raw);
    return 0;
}

/* One auth file: 1 when it answered (credentials, or a helper to run:
 * *helper set), 0 when it has nothing for host, or an error. */
static int from_file(const char *path, const char *host, struct oci_cred *c,
                     char *helper, size_t hsize, struct dap_error *err)
{
    json_error_t je;
    json_t *j, *e;
    FILE *f = fopen(path, "r");
    const char *s;

    if (f == NULL) {
        looked_add(c, "%s (none)", path);
        return 0;
    }
    j = json_loadf(f, 0, &je);
    fclose(f);
    if (j == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s is not valid JSON (line %d: %s): fix it or "
                             "remove it",
                             path, je.line, je.text);
    s = json_string_value(lookup(json_object_get(j, "credHelpers"), host));
    if (s != NULL && s[0]) {
        snprintf(helper, hsize, "%s", s);
        snprintf(c->source, sizeof(c->source), "%s credHelpers", path);
        json_decref(j);
        return 1;
    }
    e = lookup(json_object_get(j, "auths"), host);
    if (e != NULL) {
        const char *auth = json_string_value(json_object_get(e, "auth"));
        const char *tok = json_string_value(json_object_get(e, "identitytoken"));
        if (tok != NULL && tok[0]) {
            c->identity_token = strdup(tok);
            if (auth != NULL && auth[0])
                b64_userpass(auth, c); /* docker keeps the user name too */
            dap_secret_free(c->password);
            c->password = NULL;
        } else if (auth != NULL && auth[0] && b64_userpass(auth, c) < 0) {
            json_decref(j);
            return dap_error_set(err, DAP_ECONFIG,
                                 "%s: the auths entry for %s has an \"auth\" "
                                 "that is not base64 of USER:PASSWORD",
                                 path, host);
        }
        if (c->username != NULL || c->identity_token != NULL) {
            snprintf(c->source, sizeof(c->source), "%s (auths)", path);
            json_decref(j);
            return 1;
        }
    }
    s = json_string_value(json_object_get(j, "credsStore"));
    if (s != NULL && s[0]) {
        snprintf(helper, hsize, "%s", s);
        snprintf(c->source, sizeof(c->source), "%s credsStore", path);
        json_decref(j);
        return 1;
    }
    looked_add(c, "%s (nothing for %s)", path, host);
    json_decref(j);
    return 0;
}

int oci_creds_get(uv_loop_t *loop, const char *host, struct oci_cred *c,
                  oci_creds_cb *cb, void *data, oci_creds_wait **wait,
                  struct dap_error *err)
{
    const char *raf = getenv("REGISTRY_AUTH_FILE");
    const char *xrd = getenv("XDG_RUNTIME_DIR");
    const char *home = getenv("HOME");
    const char *dc = getenv("DOCKER_CONFIG");
    char files[4][4096];
    size_t nf = 0;
    char helper[128] = "";

    memset(c, 0, sizeof(*c));
    *wait = NULL;
    if (raf != NULL && raf[0])
        snprintf(files[nf++], sizeof(files[0]), "%s", raf);
    else
        looked_add(c, "REGISTRY_AUTH_FILE (unset)");
    if (xrd != NULL && xrd[0])
        snprintf(files[nf++], sizeof(files[0]), "%s/containers/auth.json", xrd);
    if (home != NULL && home[0])
        snprintf(files[nf++], sizeof(files[0]),
                 "%s/.config/containers/auth.json", home);
    if (dc != NULL && dc[0])
        snprintf(files[nf++], sizeof(files[0]), "%s/config.json", dc);
    else if (home != NULL && home[0])
        snprintf(files[nf++], sizeof(files[0]), "%s/.docker/config.json",
                 home);
    for (size_t i = 0; i < nf; i++) {
        int rc = from_file(files[i], host, c, helper, sizeof(helper), err);
        if (rc < 0) {
            oci_cred_cleanup(c);
            return rc;
        }
        if (rc == 0)
            continue;
        if (helper[0])
            return run_helper(loop, helper, host, c, cb, data, wait, err);
        return 0;
    }
    return 0;
}
