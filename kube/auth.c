/* auth.c - see auth.h. */
#define _GNU_SOURCE /* asprintf, strptime, timegm */
#include "auth.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "../dap/b64.h"
#include "../dap/buf.h"
#include "../dap/log.h"

#define PLUGIN_TIMEOUT_MS 60000
/* After the plugin exited, how long its output may still take to arrive:
 * a child it left in the background may hold the pipe open for good. */
#define PLUGIN_OUTPUT_GRACE_MS 200
#define PLUGIN_MAX_OUTPUT (1u << 20)

extern char **environ;

struct kube_auth_wait {
    kube_auth *a;
    kube_auth_cb *cb;
    void *data;
    kube_auth_wait *next;
};

/* One plugin process; outlives the kube_auth if freed while running, until
 * its handles are closed.  The plugin leads a process group of its own
 * (a new session), so that a timeout kills it with everything it started;
 * the group is killed only while the plugin is not reaped, when its id
 * cannot belong to anybody else. */
struct run {
    kube_auth *a;            /* NULL once abandoned */
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    int handles;             /* open handles left to close */
    int exited, eof, timed_out;
    int64_t exit_status;
    int term_signal;
    dap_buf buf;
};

struct kube_auth {
    uv_loop_t *loop;
    const struct kube_config *cfg;
    char describe[160];
    /* tokenFile state */
    char *file_token;
    struct stat file_st;
    int file_reread;         /* re-read even if unchanged */
    /* exec plugin state */
    struct kube_exec_result cached;
    int have_cached;
    struct run *running;
    kube_auth_wait *waiters;
};

/* ---- pure parts --------------------------------------------------------- */

static void wipe_free(char *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n ? n : strlen(p));
    free(p);
}

void kube_exec_result_cleanup(struct kube_exec_result *r)
{
    wipe_free(r->token, 0);
    wipe_free(r->cert_pem, r->cert_len);
    wipe_free(r->key_pem, r->key_len);
    memset(r, 0, sizeof(*r));
}

int kube_time_parse(const char *s, time_t *out)
{
    struct tm tm;
    const char *p;
    long off = 0;

    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out = timegm(&tm) - off;
    return 0;
}

int kube_exec_output_parse(const char *out, size_t len,
                           const char *api_version,
                           struct kube_exec_result *r, struct dap_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(out, len, 0, &jerr);
    json_t *st;
    const char *av, *kind, *tok, *cert, *key, *exp;
    int rc = DAP_ECONFIG;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(root)) {
        dap_error_set(err, rc, "its output is not a JSON ExecCredential "
                               "object");
        goto done;
    }
    av = json_string_value(json_object_get(root, "apiVersion"));
    kind = json_string_value(json_object_get(root, "kind"));
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0) {
        dap_error_set(err, rc, "its output is not an ExecCredential (kind "
                               "is missing or different)");
        goto done;
    }
    if (av == NULL || strcmp(av, api_version) != 0) {
        dap_error_set(err, rc,
                      "it answered with a different apiVersion than the "
                      "configured %s",
                      api_version);
        goto done;
    }
    st = json_object_get(root, "status");
    if (!json_is_object(st)) {
        dap_error_set(err, rc, "its ExecCredential has no status");
        goto done;
    }
    tok = json_string_value(json_object_get(st, "token"));
    cert = json_string_value(json_object_get(st, "clientCertificateData"));
    key = json_string_value(json_object_get(st, "clientKeyData"));
    exp = json_string_value(json_object_get(st, "expirationTimestamp"));
    if ((cert != NULL && cert[0]) != (key != NULL && key[0])) {
        dap_error_set(err, rc, "its status has only one of "
                               "clientCertificateData and clientKeyData");
        goto done;
    }
    if ((tok == NULL || !tok[0]) && (cert == NULL || !cert[0])) {
        dap_error_set(err, rc, "its status has neither a token nor a client "
                               "certificate");
        goto done;
    }
    if (exp != NULL && exp[0] && kube_time_parse(exp, &r->expiry) < 0) {
        dap_error_set(err, rc, "its status.expirationTimestamp is not an "
                               "RFC 3339 time");
        goto done;
    }
    if (tok != NULL && tok[0])
        r->token = strdup(tok);
    if (cert != NULL && cert[0]) {
        r->cert_pem = strdup(cert);
        r->cert_len = strlen(cert);
        r->key_pem = strdup(key);
        r->key_len = strlen(key);
    }
    if ((tok != NULL && tok[0] && r->token == NULL) ||
        (cert != NULL && cert[0] && (!r->cert_pem || !r->key_pem))) {
        kube_exec_result_cleanup(r);
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    /* The parsed tree holds the secrets too: wipe its strings. */
    if (root != NULL) {
        json_t *s = json_object_get(root, "status");
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v)
        {
            if (json_is_string(v))
                OPENSSL_cleanse((void *)json_string_value(v),
                                json_string_length(v));
        }
        json_decref(root);
    }
    return rc;
}

char *kube_exec_info_new(const struct kube_config *cfg)
{
    json_t *spec = json_pack("{s:b}", "interactive", 0);
    json_t *root;
    char *s;

    if (cfg->exec->provide_cluster_info) {
        json_t *cl = json_pack("{s:s, s:b}", "server", cfg->server,
                               "insecure-skip-tls-verify", cfg->insecure);
        if (cfg->tls_server_name)
            json_object_set_new(cl, "tls-server-name",
                                json_string(cfg->tls_server_name));
        if (cfg->proxy_url)
            json_object_set_new(cl, "proxy-url", json_string(cfg->proxy_url));
        if (cfg->ca_pem != NULL) {
            char *b64 = NULL;
            if (dap_b64_encode(cfg->ca_pem, cfg->ca_len, &b64) == 0)
                json_object_set_new(cl, "certificate-authority-data",
                                    json_string(b64));
            free(b64);
        }
        if (cfg->exec->cluster_config != NULL)
            json_object_set(cl, "config", cfg->exec->cluster_config);
        json_object_set_new(spec, "cluster", cl);
    }
    root = json_pack("{s:s, s:s, s:o}", "kind", "ExecCredential",
                     "apiVersion", cfg->exec->api_version, "spec", spec);
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* ---- kube_auth ---------------------------------------------------------- */

int kube_auth_new(uv_loop_t *loop, const struct kube_config *cfg,
                  kube_auth **out, struct dap_error *err)
{
    kube_auth *a = calloc(1, sizeof(*a));

    *out = NULL;
    if (a == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    a->loop = loop;
    a->cfg = cfg;
    if (cfg->exec != NULL)
        snprintf(a->describe, sizeof(a->describe), "exec plugin %s",
                 cfg->exec->command);
    else if (cfg->token != NULL)
        snprintf(a->describe, sizeof(a->describe), "token");
    else if (cfg->token_file != NULL)
        snprintf(a->describe, sizeof(a->describe), "tokenFile %s",
                 cfg->token_file);
    else if (cfg->cert_pem != NULL)
        snprintf(a->describe, sizeof(a->describe), "client certificate");
    else if (cfg->username != NULL)
        snprintf(a->describe, sizeof(a->describe), "basic auth");
    else
        snprintf(a->describe, sizeof(a->describe), "no credentials");
    *out = a;
    return 0;
}

const char *kube_auth_describe(const kube_auth *a)
{
    return a->describe;
}

static void run_handle_closed(uv_handle_t *h)
{
    struct run *r = h->data;

    if (--r->handles == 0) {
        OPENSSL_cleanse(r->buf.data, r->buf.alloc);
        dap_buf_cleanup(&r->buf);
        free(r);
    }
}

static void run_kill(struct run *r)
{
    if (!r->exited && r->proc.pid > 0)
        (void)kill(-r->proc.pid, SIGKILL);
}

static void run_close(struct run *r)
{
    run_kill(r);
    if (!uv_is_closing((uv_handle_t *)&r->proc))
        uv_close((uv_handle_t *)&r->proc, run_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&r->out))
        uv_close((uv_handle_t *)&r->out, run_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&r->timer))
        uv_close((uv_handle_t *)&r->timer, run_handle_closed);
}

void kube_auth_free(kube_auth *a)
{
    if (a == NULL)
        return;
    if (a->running != NULL) {
        a->running->a = NULL;
        run_close(a->running);
    }
    while (a->waiters != NULL) {
        kube_auth_wait *w = a->waiters;
        a->waiters = w->next;
        free(w);
    }
    kube_exec_result_cleanup(&a->cached);
    wipe_free(a->file_token, 0);
    free(a);
}

static void fill_from_cached(kube_auth *a, struct kube_cred *cred)
{
    memset(cred, 0, sizeof(*cred));
    cred->token = a->cached.token;
    cred->cert_pem = a->cached.cert_pem;
    cred->cert_len = a->cached.cert_len;
    cred->key_pem = a->cached.key_pem;
    cred->key_len = a->cached.key_len;
}

/* Deliver the end of a run to every waiter. */
static void run_finish(kube_auth *a, int status, const struct dap_error *e)
{
    struct kube_cred cred;

    while (a->waiters != NULL) {
        kube_auth_wait *w = a->waiters;
        a->waiters = w->next;
        fill_from_cached(a, &cred);
        w->cb(w->data, status, status == 0 ? &cred : NULL, e);
        free(w);
    }
}

static void run_done(struct run *r)
{
    kube_auth *a = r->a;
    struct dap_error e;
    struct kube_exec_result res;
    const char *cmd;
    int rc;

    if (a == NULL || !r->exited || !r->eof)
        return;
    a->running = NULL;
    r->a = NULL;
    cmd = a->cfg->exec->command;
    if (r->timed_out) {
        rc = dap_error_set(&e, DAP_ECONFIG,
                           "exec credential plugin %s (user \"%s\", %s) did "
                           "not finish in %d s; it must not wait for input",
                           cmd, a->cfg->user_name, a->cfg->source,
                           PLUGIN_TIMEOUT_MS / 1000);
    } else if (r->term_signal != 0 || r->exit_status != 0) {
        rc = dap_error_set(&e, DAP_ECONFIG,
                           "exec credential plugin %s (user \"%s\", %s) "
                           "failed with %s %d; its messages are on kdap's "
                           "stderr",
                           cmd, a->cfg->user_name, a->cfg->source,
                           r->term_signal ? "signal" : "exit status",
                           r->term_signal ? r->term_signal
                                          : (int)r->exit_status);
    } else {
        rc = kube_exec_output_parse(r->buf.data ? r->buf.data : "",
                                    r->buf.len, a->cfg->exec->api_version,
                                    &res, &e);
        if (rc < 0) {
            dap_error_prefix(&e,
                             "exec credential plugin %s (user \"%s\", %s)",
                             cmd, a->cfg->user_name, a->cfg->source);
        } else {
            kube_exec_result_cleanup(&a->cached);
            a->cached = res;
            a->have_cached = 1;
            DAP_LOGI("kube: exec plugin %s gave %s%s", cmd,
                     res.token ? "a token" : "a client certificate",
                     res.expiry ? " with an expiry" : "");
        }
    }
    run_close(r);
    run_finish(a, rc, rc < 0 ? &e : NULL);
}

static void run_grace(uv_timer_t *t)
{
    struct run *r = t->data;

    if (r->eof)
        return;
    DAP_LOGW("kube: the exec credential plugin exited, but a process it "
             "left behind holds its output open; not waiting for it");
    uv_read_stop((uv_stream_t *)&r->out);
    r->eof = 1;
    run_done(r);
}

static void run_exit(uv_process_t *p, int64_t status, int sig)
{
    struct run *r = p->data;

    r->exited = 1;
    r->exit_status = status;
    r->term_signal = sig;
    /* What it wrote is in the pipe: read it, but do not wait for the end
     * of a pipe that others may hold. */
    if (!r->eof)
        uv_timer_start(&r->timer, run_grace, PLUGIN_OUTPUT_GRACE_MS, 0);
    run_done(r);
}

static void run_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[16384];

    (void)h;
    (void)suggested;
    b->base = slab;
    b->len = sizeof(slab);
}

static void run_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct run *r = s->data;

    if (n > 0) {
        if (dap_buf_append(&r->buf, b->base, (size_t)n) < 0)
            run_kill(r);
        OPENSSL_cleanse(b->base, (size_t)n);
    } else if (n < 0) {
        uv_read_stop(s);
        r->eof = 1;
        run_done(r);
    }
}

static void run_timeout(uv_timer_t *t)
{
    struct run *r = t->data;

    r->timed_out = 1;
    run_kill(r);
}

static int run_start(kube_auth *a, struct dap_error *err)
{
    const struct kube_exec_cfg *x = a->cfg->exec;
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    struct run *r;
    char **argv = NULL, **envp = NULL;
    char *info = NULL, *infoenv = NULL;
    size_t nargs = 0, nenv = 0, nx = 0, i = 0;
    int rc;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    dap_buf_init(&r->buf, PLUGIN_MAX_OUTPUT);
    while (x->args && x->args[nargs])
        nargs++;
    while (environ[nenv])
        nenv++;
    while (x->env && x->env[nx])
        nx++;
    argv = calloc(nargs + 2, sizeof(char *));
    envp = calloc(nenv + nx + 2, sizeof(char *));
    info = kube_exec_info_new(a->cfg);
    if (argv == NULL || envp == NULL || info == NULL) {
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto fail;
    }
    argv[0] = x->command;
    for (i = 0; i < nargs; i++)
        argv[i + 1] = x->args[i];
    /* Parent environment, minus names the stanza overrides. */
    {
        size_t k = 0;
        for (i = 0; i < nenv; i++) {
            int over = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;
            for (size_t j = 0; j < nx && !over; j++) {
                size_t nl = strcspn(x->env[j], "=");
                over = strncmp(environ[i], x->env[j], nl + 1) == 0;
            }
            if (!over)
                envp[k++] = environ[i];
        }
        for (i = 0; i < nx; i++)
            envp[k++] = x->env[i];
        if (asprintf(&infoenv, "KUBERNETES_EXEC_INFO=%s", info) < 0) {
            infoenv = NULL;
            rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
            goto fail;
        }
        envp[k] = infoenv;
    }
    uv_pipe_init(a->loop, &r->out, 0);
    r->out.data = r;
    uv_timer_init(a->loop, &r->timer);
    r->timer.data = r;
    r->handles = 2;
    memset(&po, 0, sizeof(po));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&r->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    po.file = x->command;
    po.args = argv;
    po.env = envp;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = run_exit;
    po.flags = UV_PROCESS_DETACHED; /* setsid: its own process group */
    r->proc.data = r;
    rc = uv_spawn(a->loop, &r->proc, &po);
    free(infoenv);
    infoenv = NULL;
    free(argv);
    free(envp);
    free(info);
    argv = NULL;
    envp = NULL;
    info = NULL;
    if (rc < 0) {
        int e = rc;
        r->exited = 1;
        uv_close((uv_handle_t *)&r->out, run_handle_closed);
        uv_close((uv_handle_t *)&r->timer, run_handle_closed);
        /* uv_spawn failed: the process handle still needs closing. */
        r->handles++;
        uv_close((uv_handle_t *)&r->proc, run_handle_closed);
        return dap_error_set(err, DAP_ECONFIG,
                             "cannot run the exec credential plugin %s of "
                             "user \"%s\" (%s): %s%s%s",
                             x->command, a->cfg->user_name, a->cfg->source,
                             uv_strerror(e),
                             x->install_hint ? ". " : "",
                             x->install_hint ? x->install_hint : "");
    }
    r->handles++;
    uv_read_start((uv_stream_t *)&r->out, run_alloc, run_read);
    uv_timer_start(&r->timer, run_timeout, PLUGIN_TIMEOUT_MS, 0);
    r->a = a;
    a->running = r;
    DAP_LOGI("kube: running exec credential plugin %s (pid %d)", x->command,
             r->proc.pid);
    return 0;
fail:
    free(infoenv);
    free(argv);
    free(envp);
    free(info);
    dap_buf_cleanup(&r->buf);
    free(r);
    return rc;
}

static int token_file_read(kube_auth *a, struct dap_error *err)
{
    struct stat st;
    char *text = NULL;
    size_t n = 0;
    int rc;

    if (stat(a->cfg->token_file, &st) < 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "cannot read tokenFile %s of user \"%s\" (%s): "
                             "%s",
                             a->cfg->token_file, a->cfg->user_name,
                             a->cfg->source, strerror(errno));
    if (a->file_token != NULL && !a->file_reread &&
        st.st_mtim.tv_sec == a->file_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == a->file_st.st_mtim.tv_nsec &&
        st.st_size == a->file_st.st_size && st.st_ino == a->file_st.st_ino)
        return 0;
    rc = kube_read_file(a->cfg->token_file, &text, &n);
    if (rc < 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "cannot read tokenFile %s of user \"%s\" (%s): "
                             "%s",
                             a->cfg->token_file, a->cfg->user_name,
                             a->cfg->source,
                             rc == DAP_ETOOBIG ? "too large" : strerror(-rc));
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                     text[n - 1] == ' ' || text[n - 1] == '\t'))
        text[--n] = '\0';
    if (n == 0) {
        free(text);
        return dap_error_set(err, DAP_ECONFIG,
                             "tokenFile %s of user \"%s\" (%s) is empty",
                             a->cfg->token_file, a->cfg->user_name,
                             a->cfg->source);
    }
    if (a->file_token != NULL)
        DAP_LOGI("kube: re-read tokenFile %s", a->cfg->token_file);
    wipe_free(a->file_token, 0);
    a->file_token = text;
    a->file_st = st;
    a->file_reread = 0;
    return 0;
}

int kube_auth_get(kube_auth *a, struct kube_cred *cred, kube_auth_cb *cb,
                  void *data, kube_auth_wait **wait, struct dap_error *err)
{
    kube_auth_wait *w;
    int rc;

    memset(cred, 0, sizeof(*cred));
    *wait = NULL;
    if (a->cfg->exec == NULL) {
        if (a->cfg->token != NULL) {
            cred->token = a->cfg->token;
        } else if (a->cfg->token_file != NULL) {
            rc = token_file_read(a, err);
            if (rc < 0)
                return rc;
            cred->token = a->file_token;
        }
        return 0;
    }
    if (a->have_cached &&
        (a->cached.expiry == 0 || time(NULL) < a->cached.expiry)) {
        fill_from_cached(a, cred);
        return 0;
    }
    if (a->have_cached) {
        DAP_LOGI("kube: exec plugin credentials expired; running it again");
        kube_exec_result_cleanup(&a->cached);
        a->have_cached = 0;
    }
    if (a->running == NULL) {
        rc = run_start(a, err);
        if (rc < 0)
            return rc;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    w->a = a;
    w->cb = cb;
    w->data = data;
    w->next = a->waiters;
    a->waiters = w;
    *wait = w;
    return DAP_PENDING;
}

void kube_auth_wait_cancel(kube_auth_wait *w)
{
    kube_auth_wait **pp;

    if (w == NULL)
        return;
    for (pp = &w->a->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

int kube_auth_rejected(kube_auth *a)
{
    if (a->cfg->exec != NULL) {
        kube_exec_result_cleanup(&a->cached);
        a->have_cached = 0;
        return 1;
    }
    if (a->cfg->token == NULL && a->cfg->token_file != NULL) {
        a->file_reread = 1;
        return 1;
    }
    return 0;
}
