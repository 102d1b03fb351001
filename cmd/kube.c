/* kube.c - see cmd.h: doctor, port-forward, exec, kube-request, restore, deploy. */
#define _GNU_SOURCE /* asprintf */
#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <uv.h>
#include <yaml.h>
#include <zlib.h>

#include "../adapters/adapter.h"
#include "../dap/log.h"
#include "../kube/client.h"
#include "../kube/config.h"
#include "../kube/deploy.h"
#include "../kube/exec.h"
#include "../kube/names.h"
#include "../kube/portfwd.h"
#include "../kube/watch.h"
#include "../kube/workload.h"

/* ---- common ------------------------------------------------------------- */

struct common {
    const char *kubeconfig, *context, *ns;
    const char *log_path, *log_level;
};

struct cli {
    uv_loop_t loop;
    kube_client *client;
    uv_signal_t sigint, sigterm;
    int exit_code;
    int stopping;
    void (*stop_fn)(struct cli *cli);
};

static struct cli cli;

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    if (cli.stopping++ > 0)
        _exit(130);
    if (cli.stop_fn != NULL)
        cli.stop_fn(&cli);
}

/* Parse a common option at argv[*i]; 1 when consumed, -1 on a missing
 * value, 0 when not a common option. */
static int common_opt(struct common *co, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char **dst = NULL;
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--kubeconfig", offsetof(struct common, kubeconfig)},
        {"--context", offsetof(struct common, context)},
        {"--namespace", offsetof(struct common, ns)},
        {"-n", offsetof(struct common, ns)},
        {"--log", offsetof(struct common, log_path)},
        {"--log-level", offsetof(struct common, log_level)},
    };

    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        size_t n = strlen(opts[k].name);
        dst = (const char **)((char *)co + opts[k].off);
        if (strcmp(a, opts[k].name) == 0) {
            if (*i + 1 >= argc)
                return -1;
            *dst = argv[++*i];
            return 1;
        }
        if (strncmp(a, opts[k].name, n) == 0 && a[n] == '=' && a[1] == '-') {
            *dst = a + n + 1;
            return 1;
        }
    }
    return 0;
}

static int setup(struct common *co, struct dap_error *err)
{
    const char *log_path = co->log_path ? co->log_path : getenv("KDAP_LOG");
    const char *lvl = co->log_level ? co->log_level
                                    : getenv("KDAP_LOG_LEVEL");
    enum dap_log_level level = DAP_LOG_WARN;
    struct kube_load_opts lo;
    struct kube_config *cfg;
    int rc;

    if (lvl != NULL && dap_log_level_parse(lvl, &level) < 0)
        return dap_error_set(err, DAP_EINVAL, "unknown log level '%s'", lvl);
    if (dap_log_open(log_path, level) < 0)
        fprintf(stderr, "kdap: cannot open log %s; logging to stderr\n",
                log_path);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&cli.loop);
    uv_signal_init(&cli.loop, &cli.sigint);
    uv_signal_init(&cli.loop, &cli.sigterm);
    uv_signal_start(&cli.sigint, on_signal, SIGINT);
    uv_signal_start(&cli.sigterm, on_signal, SIGTERM);
    uv_unref((uv_handle_t *)&cli.sigint);
    uv_unref((uv_handle_t *)&cli.sigterm);
    memset(&lo, 0, sizeof(lo));
    lo.kubeconfig = co->kubeconfig;
    lo.context = co->context;
    lo.ns = co->ns;
    rc = kube_config_load(&lo, &cfg, err);
    if (rc < 0)
        return rc;
    return kube_client_new(&cli.loop, cfg, &cli.client, err);
}

static int teardown(void)
{
    kube_client_free(cli.client);
    cli.client = NULL;
    uv_close((uv_handle_t *)&cli.sigint, noop_close);
    uv_close((uv_handle_t *)&cli.sigterm, noop_close);
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&cli.loop) != 0)
        DAP_LOGW("kube cli: handles left open at exit");
    dap_log_close();
    return cli.exit_code;
}

static void fail_msg(const struct dap_error *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
}

/* ---- doctor ------------------------------------------------------------- */

/* What kdap needs in a namespace (README: the RBAC Role).  Optional ones
 * serve a command other than attach: shown, never required. */
static const struct perm {
    const char *group, *resource, *sub, *verb, *why;
    int optional;
} perms[] = {
    {"", "pods", NULL, "get", "find the target pod", 0},
    {"", "pods", NULL, "list", "find pods by label", 0},
    {"", "pods", NULL, "watch", "wait for pods and debugger containers", 0},
    {"", "pods", "log", "get", "show the debuggee's output", 0},
    {"", "pods", "portforward", "get", "reach the debugger (WebSocket)", 0},
    {"", "pods", "portforward", "create", "reach the debugger", 0},
    {"", "pods", "ephemeralcontainers", "get", "read debugger containers", 0},
    {"", "pods", "ephemeralcontainers", "patch", "add a debugger container", 0},
    {"apps", "deployments", NULL, "get", "attach to a deployment", 0},
    {"apps", "deployments", NULL, "list", "attach to a deployment", 0},
    {"apps", "replicasets", NULL, "get", "find a deployment's pods", 0},
    {"apps", "replicasets", NULL, "list", "find a deployment's pods", 0},
    {"apps", "statefulsets", NULL, "get", "attach to a statefulset", 0},
    {"apps", "statefulsets", NULL, "list", "attach to a statefulset", 0},
    {"", "pods", "exec", "get", "only for `kdap exec` (WebSocket)", 1},
    {"", "pods", "exec", "create", "only for `kdap exec`", 1},
};
#define NPERMS (sizeof(perms) / sizeof(perms[0]))

struct doctor {
    const char *ns;
    int step;
    int pending;
    int allowed[NPERMS];
    int answered[NPERMS];
    char perm_err[NPERMS][160];
    char version[64];
    char user[256];
    char groups[512];
    char psa[32];
    char psa_note[300];
    int ns_missing;
    int fatal;
};

static struct doctor doc;

static void doctor_report(void)
{
    const struct kube_config *k = kube_client_config(cli.client);
    int missing = 0, blocked = 0;

    printf("  namespace:   %s", doc.ns);
    if (doc.psa[0])
        printf(" (Pod Security enforce: %s)", doc.psa);
    printf("\n");
    if (doc.psa_note[0])
        printf("               %s\n", doc.psa_note);
    printf("  permissions (SelfSubjectAccessReview in %s):\n", doc.ns);
    for (size_t i = 0; i < NPERMS; i++) {
        char res[96];
        snprintf(res, sizeof(res), "%s%s%s%s%s", perms[i].resource,
                 perms[i].sub ? "/" : "", perms[i].sub ? perms[i].sub : "",
                 perms[i].group[0] ? "." : "", perms[i].group);
        if (!doc.answered[i]) {
            printf("    ??      %-7s %-32s %s\n", perms[i].verb, res,
                   doc.perm_err[i]);
            missing += !perms[i].optional;
        } else {
            printf("    %-7s %-7s %-32s %s\n",
                   doc.allowed[i]        ? "ok"
                   : perms[i].optional ? "absent"
                                       : "MISSING",
                   perms[i].verb, res, perms[i].why);
            if (!doc.allowed[i] && !perms[i].optional)
                missing++;
        }
    }
    if (strcmp(doc.psa, "baseline") == 0 || strcmp(doc.psa, "restricted") == 0)
        blocked = 1;
    if (missing == 0 && !blocked && !doc.ns_missing) {
        printf("result: OK, kdap can debug in namespace %s (context %s)\n",
               doc.ns, k->context[0] ? k->context : "in-cluster");
        cli.exit_code = 0;
    } else {
        printf("result: NOT READY, kdap cannot debug in namespace %s:", doc.ns);
        if (doc.ns_missing)
            printf(" the namespace does not exist;");
        if (missing > 0)
            printf(" %d permission%s missing (ask for the Role in kdap's "
                   "README);",
                   missing, missing > 1 ? "s" : "");
        if (blocked)
            printf(" Pod Security \"%s\" forbids debugger containers;",
                   doc.psa);
        printf("\n");
        cli.exit_code = 1;
    }
}

static void ssar_done(void *data, int status, long http, json_t *body,
                      const struct dap_error *err)
{
    size_t i = (size_t)(uintptr_t)data;

    (void)http;
    if (status == 0) {
        doc.answered[i] = 1;
        doc.allowed[i] = json_is_true(json_object_get(
            json_object_get(body, "status"), "allowed"));
    } else {
        snprintf(doc.perm_err[i], sizeof(doc.perm_err[i]), "(%.150s)",
                 err != NULL ? err->msg : "no answer");
    }
    if (--doc.pending == 0)
        doctor_report();
}

static void doctor_checks(void)
{
    for (size_t i = 0; i < NPERMS; i++) {
        struct kube_request_opts ro;
        struct dap_error e;
        json_t *ra = json_pack("{s:s, s:s, s:s, s:s}", "namespace", doc.ns,
                               "verb", perms[i].verb, "resource",
                               perms[i].resource, "group", perms[i].group);
        json_t *body;
        char *s;
        if (perms[i].sub != NULL)
            json_object_set_new(ra, "subresource", json_string(perms[i].sub));
        body = json_pack("{s:s, s:s, s:{s:o}}", "apiVersion",
                         "authorization.k8s.io/v1", "kind",
                         "SelfSubjectAccessReview", "spec",
                         "resourceAttributes", ra);
        s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        memset(&ro, 0, sizeof(ro));
        ro.method = "POST";
        ro.path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
        ro.body = s;
        ro.body_len = s ? strlen(s) : 0;
        ro.content_type = "application/json";
        doc.pending++;
        if (s == NULL ||
            kube_request_start(cli.client, &ro, ssar_done,
                               (void *)(uintptr_t)i, NULL, &e) < 0) {
            doc.pending--;
            snprintf(doc.perm_err[i], sizeof(doc.perm_err[i]),
                     "(cannot ask)");
        }
        free(s);
    }
    if (doc.pending == 0)
        doctor_report();
}

/* Which runtimes' debuggers such a level refuses: those whose profile
 * needs SYS_PTRACE. */
static void psa_note_ptrace(void)
{
    const struct adapter_kind *k;
    char who[100] = "";

    for (size_t i = 0; (k = adapter_kind_at(i)) != NULL; i++) {
        for (size_t j = 0; k->caps != NULL && k->caps[j] != NULL; j++) {
            if (strcmp(k->caps[j], "SYS_PTRACE") == 0)
                snprintf(who + strlen(who), sizeof(who) - strlen(who),
                         "%s%s", who[0] ? ", " : "", k->runtime);
        }
    }
    snprintf(doc.psa_note, sizeof(doc.psa_note),
             "this level forbids the SYS_PTRACE capability the debuggers of "
             "runtimes %s need; use a namespace whose "
             "pod-security.kubernetes.io/enforce is privileged",
             who);
}

static void ns_done(void *data, int status, long http, json_t *body,
                    const struct dap_error *err)
{
    (void)data;
    if (status == 0) {
        const char *lvl = json_string_value(json_object_get(
            json_object_get(json_object_get(body, "metadata"), "labels"),
            "pod-security.kubernetes.io/enforce"));
        snprintf(doc.psa, sizeof(doc.psa), "%s",
                 lvl != NULL ? lvl : "privileged (no label)");
        if (lvl != NULL &&
            (strcmp(lvl, "baseline") == 0 || strcmp(lvl, "restricted") == 0))
            psa_note_ptrace();
    } else if (http == 404) {
        doc.ns_missing = 1;
        snprintf(doc.psa_note, sizeof(doc.psa_note),
                 "the namespace does not exist");
    } else if (http == 403) {
        snprintf(doc.psa, sizeof(doc.psa), "unknown");
        snprintf(doc.psa_note, sizeof(doc.psa_note),
                 "(cannot read the namespace to learn its Pod Security "
                 "level: no permission to get namespaces; not required)");
    } else {
        snprintf(doc.psa, sizeof(doc.psa), "unknown");
        snprintf(doc.psa_note, sizeof(doc.psa_note), "(%s)",
                 err ? err->msg : "no answer");
    }
    doctor_checks();
}

static void doctor_ns(void)
{
    struct kube_request_opts ro;
    struct dap_error e;
    char path[300];

    memset(&ro, 0, sizeof(ro));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", doc.ns);
    ro.path = path;
    if (kube_request_start(cli.client, &ro, ns_done, NULL, NULL, &e) < 0)
        doctor_checks();
}

static void whoami_done(void *data, int status, long http, json_t *body,
                        const struct dap_error *err)
{
    json_t *ui = json_object_get(json_object_get(body, "status"), "userInfo");
    size_t i, used = 0;
    json_t *g;

    (void)data;
    if (status < 0) {
        if (http == 401) {
            fail_msg(err);
            cli.exit_code = 1;
            return;
        }
        printf("  you are:     (unknown: %s)\n", err->msg);
    } else {
        json_array_foreach(json_object_get(ui, "groups"), i, g)
        {
            int w = snprintf(doc.groups + used, sizeof(doc.groups) - used,
                             "%s%s", used ? ", " : "",
                             json_string_value(g) ? json_string_value(g)
                                                  : "?");
            if (w < 0 || (size_t)w >= sizeof(doc.groups) - used)
                break;
            used += (size_t)w;
        }
        printf("  you are:     %s%s%s%s\n",
               json_string_value(json_object_get(ui, "username"))
                   ? json_string_value(json_object_get(ui, "username"))
                   : "(anonymous)",
               used ? " (groups: " : "", doc.groups, used ? ")" : "");
    }
    doctor_ns();
}

static void version_done(void *data, int status, long http, json_t *body,
                         const struct dap_error *err)
{
    const struct kube_config *k = kube_client_config(cli.client);
    struct kube_request_opts ro;
    struct dap_error e;
    const char *v = json_string_value(json_object_get(body, "gitVersion"));

    (void)data;
    (void)http;
    if (status < 0) {
        printf("  server:      %s: %s\n", k->server,
               http == 401   ? "CREDENTIALS REJECTED"
               : http > 0    ? "REFUSED"
                             : "NOT REACHABLE");
        fflush(stdout);
        fail_msg(err);
        cli.exit_code = 1;
        return;
    }
    printf("  server:      %s (Kubernetes %s)\n", k->server, v ? v : "?");
    memset(&ro, 0, sizeof(ro));
    ro.method = "POST";
    ro.path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    ro.body = "{\"apiVersion\":\"authentication.k8s.io/v1\","
              "\"kind\":\"SelfSubjectReview\"}";
    ro.body_len = strlen(ro.body);
    if (kube_request_start(cli.client, &ro, whoami_done, NULL, NULL, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
    }
}

static int cmd_doctor(int argc, char **argv)
{
    struct common co;
    struct kube_request_opts ro;
    struct dap_error e;
    const struct kube_config *k;

    memset(&co, 0, sizeof(co));
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0 || r == 0) {
            fprintf(stderr, "usage: kdap doctor [--kubeconfig FILE] "
                            "[--context NAME] [-n NAMESPACE]\n");
            return 2;
        }
    }
    printf("kdap doctor\n");
    if (setup(&co, &e) < 0) {
        printf("  kubeconfig:  NOT USABLE\n");
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    k = kube_client_config(cli.client);
    if (k->context[0])
        printf("  kubeconfig:  %s\n  context:     %s (cluster %s, user %s, "
               "%s)\n",
               k->source, k->context, k->cluster_name, k->user_name,
               kube_auth_describe(kube_client_auth(cli.client)));
    else
        printf("  config:      %s\n", k->source);
    if (k->insecure)
        printf("  WARNING:     insecure-skip-tls-verify is set: the server's "
               "certificate is not checked\n");
    if (kube_config_plain_http(k))
        printf("  WARNING:     the server is plain http:// (%s): requests and "
               "credentials are not encrypted and the server is not "
               "authenticated\n",
               k->server);
    doc.ns = k->namespace;
    cli.exit_code = 1;
    memset(&ro, 0, sizeof(ro));
    ro.path = "/version";
    ro.timeout_ms = 15000;
    if (kube_request_start(cli.client, &ro, version_done, NULL, NULL, &e) <
        0) {
        fail_msg(&e);
        return teardown();
    }
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    return teardown();
}

/* ---- port-forward ------------------------------------------------------- */

#define MAX_FWD 16

struct pfcmd {
    const char *pod;
    kube_portfwd *pf[MAX_FWD];
    int npf;
    int locals[MAX_FWD], remotes[MAX_FWD];
    const char *address;
    kube_watch *watch;
    kube_request *get;
    int done;           /* stopped: leave the loop */
};

static struct pfcmd pfc;

static void pf_stop(struct cli *c)
{
    (void)c;
    for (int i = 0; i < pfc.npf; i++) {
        kube_portfwd_free(pfc.pf[i]);
        pfc.pf[i] = NULL;
    }
    pfc.npf = 0;
    pfc.done = 1;
    kube_watch_free(pfc.watch);
    pfc.watch = NULL;
    kube_request_cancel(pfc.get);
    pfc.get = NULL;
}

static void pf_conn_error(void *data, const struct dap_error *err)
{
    (void)data;
    fprintf(stderr, "error: %s\n", err->msg);
}

static void pf_pod_event(void *data, const char *type, json_t *pod)
{
    (void)data;
    if (strcmp(type, "DELETED") == 0 ||
        json_object_get(json_object_get(pod, "metadata"),
                        "deletionTimestamp") != NULL) {
        fprintf(stderr, "error: pod %s/%s was deleted: stopping the "
                        "port-forward\n",
                kube_client_config(cli.client)->namespace, pfc.pod);
        cli.exit_code = 1;
        pf_stop(&cli);
    }
}

static void pf_watch_end(void *data, int status, const struct dap_error *err)
{
    (void)data;
    if (status < 0 && status != DAP_ETIMEDOUT)
        DAP_LOGW("port-forward: watching the pod ended: %s", err->msg);
}

static void pf_pod_ready(void *data, int status, long http, json_t *pod,
                         const struct dap_error *err)
{
    const struct kube_config *k = kube_client_config(cli.client);
    struct kube_watch_opts wo;
    struct dap_error e;
    const char *phase;
    char path[300], sel[300];

    (void)data;
    (void)http;
    pfc.get = NULL;
    if (status < 0) {
        fail_msg(err);
        cli.exit_code = 1;
        pf_stop(&cli);
        return;
    }
    phase = json_string_value(
        json_object_get(json_object_get(pod, "status"), "phase"));
    if (phase == NULL || strcmp(phase, "Running") != 0) {
        fprintf(stderr,
                "error: unable to forward port because pod %s/%s is not "
                "running (phase %s)\n",
                k->namespace, pfc.pod, phase ? phase : "unknown");
        cli.exit_code = 1;
        pf_stop(&cli);
        return;
    }
    for (int i = 0; i < pfc.npf; i++) {
        struct kube_portfwd_opts o = {
            .ns = k->namespace,
            .pod = pfc.pod,
            .address = pfc.address,
            .local_port = pfc.locals[i],
            .remote_port = (uint16_t)pfc.remotes[i],
        };
        struct kube_portfwd_callbacks cb = {pf_conn_error, NULL};
        if (kube_portfwd_new(cli.client, &o, &cb, &pfc.pf[i], &e) < 0) {
            fail_msg(&e);
            cli.exit_code = 1;
            pf_stop(&cli);
            return;
        }
        printf("Forwarding from %s:%d -> %d\n",
               pfc.address ? pfc.address : "127.0.0.1",
               kube_portfwd_port(pfc.pf[i]), pfc.remotes[i]);
    }
    fflush(stdout);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", k->namespace);
    snprintf(sel, sizeof(sel), "metadata.name=%s", pfc.pod);
    memset(&wo, 0, sizeof(wo));
    wo.path = path;
    wo.field_selector = sel;
    wo.request_timeout_s = 300;
    if (kube_watch_start(cli.client, &wo, pf_pod_event, pf_watch_end, NULL,
                         &pfc.watch, &e) < 0)
        DAP_LOGW("port-forward: cannot watch the pod: %s", e.msg);
}

static int parse_mapping(const char *s, int *local, int *remote)
{
    const char *colon = strchr(s, ':');
    char *end;
    long l, r;

    if (colon == NULL) {
        r = strtol(s, &end, 10);
        if (*end != '\0' || end == s)
            return -1;
        l = r;
    } else {
        if (colon == s) {
            l = 0;
        } else {
            l = strtol(s, &end, 10);
            if (end != colon)
                return -1;
        }
        r = strtol(colon + 1, &end, 10);
        if (*end != '\0' || end == colon + 1)
            return -1;
    }
    if (l < 0 || l > 65535 || r <= 0 || r > 65535)
        return -1;
    *local = (int)l;
    *remote = (int)r;
    return 0;
}

static int cmd_port_forward(int argc, char **argv)
{
    struct common co;
    struct kube_request_opts ro;
    struct dap_error e;
    char path[400];
    const char *usage =
        "usage: kdap port-forward [--kubeconfig FILE] [--context NAME] "
        "[-n NAMESPACE] [--address ADDR] pod/NAME [LOCAL:]REMOTE...\n";

    memset(&co, 0, sizeof(co));
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0) {
            fputs(usage, stderr);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--address") == 0 && i + 1 < argc) {
            pfc.address = argv[++i];
        } else if (pfc.pod == NULL && argv[i][0] != '-') {
            pfc.pod = strncmp(argv[i], "pod/", 4) == 0     ? argv[i] + 4
                      : strncmp(argv[i], "pods/", 5) == 0 ? argv[i] + 5
                                                          : argv[i];
            if (strchr(pfc.pod, '/') != NULL) {
                fprintf(stderr, "error: only pods can be forwarded to "
                                "(pod/NAME)\n");
                return 2;
            }
            if (kube_name_check(KUBE_NAME_SUBDOMAIN, "pod", pfc.pod, &e) <
                0) {
                fail_msg(&e);
                return 2;
            }
        } else if (pfc.pod != NULL && pfc.npf < MAX_FWD &&
                   parse_mapping(argv[i], &pfc.locals[pfc.npf],
                                 &pfc.remotes[pfc.npf]) == 0) {
            pfc.npf++;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]);
            fputs(usage, stderr);
            return 2;
        }
    }
    if (pfc.pod == NULL || pfc.npf == 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (setup(&co, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    cli.stop_fn = pf_stop;
    uv_ref((uv_handle_t *)&cli.sigint);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s",
             kube_client_config(cli.client)->namespace, pfc.pod);
    memset(&ro, 0, sizeof(ro));
    ro.path = path;
    if (kube_request_start(cli.client, &ro, pf_pod_ready, NULL, &pfc.get,
                           &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    /* Run until a signal or the pod's end stops everything: the loop then
     * has only closing handles left. */
    while (!pfc.done && uv_run(&cli.loop, UV_RUN_ONCE) != 0)
        ;
    pf_stop(&cli);
    uv_unref((uv_handle_t *)&cli.sigint);
    return teardown();
}

/* ---- exec --------------------------------------------------------------- */

struct execcmd {
    kube_exec *ex;
    uv_pipe_t in;
    int in_open;
    uv_timer_t reap;   /* frees the exec outside its own callback */
};

static struct execcmd exc;

static void ex_output(void *data, kube_exec *ex, int fd, const char *buf,
                      size_t len)
{
    (void)data;
    (void)ex;
    fwrite(buf, 1, len, fd == 1 ? stdout : stderr);
    fflush(fd == 1 ? stdout : stderr);
}

static void ex_reap(uv_timer_t *t)
{
    kube_exec_free(exc.ex);
    exc.ex = NULL;
    uv_close((uv_handle_t *)t, noop_close);
}

static void ex_exit(void *data, kube_exec *ex, int status, int code,
                    const struct dap_error *err)
{
    (void)data;
    (void)ex;
    uv_timer_init(&cli.loop, &exc.reap);
    uv_timer_start(&exc.reap, ex_reap, 0, 0);
    if (status < 0) {
        fail_msg(err);
        cli.exit_code = 1;
    } else {
        cli.exit_code = code;
    }
    if (exc.in_open) {
        exc.in_open = 0;
        uv_close((uv_handle_t *)&exc.in, noop_close);
    }
}

static void in_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char slab[65536];

    (void)h;
    (void)s;
    b->base = slab;
    b->len = sizeof(slab);
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n > 0) {
        if (kube_exec_write(exc.ex, b->base, (size_t)n) < 0)
            uv_read_stop(s);
    } else if (n < 0) {
        uv_read_stop(s);
        if (kube_exec_close_stdin(exc.ex) == DAP_EUNSUPPORTED)
            DAP_LOGI("exec: v4 has no stdin close; the command keeps "
                     "its stdin open");
        exc.in_open = 0;
        uv_close((uv_handle_t *)&exc.in, noop_close);
    }
}

static void ex_stop(struct cli *c)
{
    (void)c;
    kube_exec_free(exc.ex);
    exc.ex = NULL;
    if (exc.in_open) {
        exc.in_open = 0;
        uv_close((uv_handle_t *)&exc.in, noop_close);
    }
    cli.exit_code = 130;
}

static int cmd_exec(int argc, char **argv)
{
    struct common co;
    struct kube_exec_opts o;
    struct kube_exec_callbacks cb = {ex_output, ex_exit, NULL};
    struct dap_error e;
    const char *pod = NULL;
    int i;

    memset(&co, 0, sizeof(co));
    memset(&o, 0, sizeof(o));
    for (i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0)
            goto usage;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-i") == 0 ||
                   strcmp(argv[i], "--stdin") == 0) {
            o.use_stdin = 1;
        } else if ((strcmp(argv[i], "-c") == 0 ||
                    strcmp(argv[i], "--container") == 0) &&
                   i + 1 < argc) {
            o.container = argv[++i];
        } else if (pod == NULL && argv[i][0] != '-') {
            pod = strncmp(argv[i], "pod/", 4) == 0 ? argv[i] + 4 : argv[i];
        } else {
            goto usage;
        }
    }
    if (pod == NULL || i >= argc)
        goto usage;
    if (kube_name_check(KUBE_NAME_SUBDOMAIN, "pod", pod, &e) < 0 ||
        (o.container != NULL &&
         kube_name_check(KUBE_NAME_LABEL, "container", o.container, &e) <
             0)) {
        fail_msg(&e);
        return 2;
    }
    o.pod = pod;
    o.argv = (const char *const *)argv + i;
    if (setup(&co, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    o.ns = kube_client_config(cli.client)->namespace;
    cli.stop_fn = ex_stop;
    if (kube_exec_start(cli.client, &o, &cb, &exc.ex, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    if (o.use_stdin && uv_pipe_init(&cli.loop, &exc.in, 0) == 0) {
        if (uv_pipe_open(&exc.in, 0) == 0) {
            exc.in_open = 1;
            uv_read_start((uv_stream_t *)&exc.in, in_alloc, in_read);
        } else {
            uv_close((uv_handle_t *)&exc.in, noop_close);
        }
    }
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    kube_exec_free(exc.ex);
    exc.ex = NULL;
    return teardown();
usage:
    fprintf(stderr, "usage: kdap exec [--kubeconfig FILE] [--context NAME] "
                    "[-n NAMESPACE] [-i] [-c CONTAINER] pod/NAME -- COMMAND "
                    "[ARG...]\n");
    return 2;
}

/* ---- kube-request ------------------------------------------------------- */

static kube_watch *req_watch;

static void rq_done(void *data, int status, long http, json_t *body,
                    const struct dap_error *err)
{
    (void)data;
    if (body != NULL) {
        char *s = json_dumps(body, JSON_INDENT(2));
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    }
    if (status < 0) {
        fail_msg(err);
        cli.exit_code = http >= 400 ? (int)(http / 100) : 1;
    }
}

static void rq_event(void *data, const char *type, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");

    (void)data;
    printf("%s %s %s\n", type,
           json_string_value(json_object_get(md, "name"))
               ? json_string_value(json_object_get(md, "name"))
               : "?",
           json_string_value(json_object_get(md, "resourceVersion"))
               ? json_string_value(json_object_get(md, "resourceVersion"))
               : "?");
    fflush(stdout);
}

static void rq_watch_end(void *data, int status, const struct dap_error *err)
{
    (void)data;
    if (status == DAP_ETIMEDOUT) {
        printf("END timeout\n");
    } else if (status < 0) {
        fail_msg(err);
        cli.exit_code = 1;
    }
    kube_watch_free(req_watch);
    req_watch = NULL;
}

static void rq_stop(struct cli *c)
{
    (void)c;
    kube_watch_free(req_watch);
    req_watch = NULL;
}

static int cmd_request(int argc, char **argv)
{
    struct common co;
    struct dap_error e;
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0, watch = 0;
    unsigned timeout = 0;

    memset(&co, 0, sizeof(co));
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0)
            goto usage;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--watch") == 0)
            watch = 1;
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout = (unsigned)atoi(argv[++i]);
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            goto usage;
    }
    if (npos < 2)
        goto usage;
    if (setup(&co, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    if (watch) {
        struct kube_watch_opts wo;
        char *q = strchr(pos[1], '?');
        char *path = strndup(pos[1], q ? (size_t)(q - pos[1]) : strlen(pos[1]));
        memset(&wo, 0, sizeof(wo));
        wo.path = path;
        if (q != NULL && strncmp(q, "?fieldSelector=", 15) == 0)
            wo.field_selector = q + 15;
        wo.timeout_s = timeout;
        wo.request_timeout_s = 5;
        cli.stop_fn = rq_stop;
        if (kube_watch_start(cli.client, &wo, rq_event, rq_watch_end, NULL,
                             &req_watch, &e) < 0) {
            fail_msg(&e);
            cli.exit_code = 1;
        }
        free(path);
    } else {
        struct kube_request_opts ro;
        memset(&ro, 0, sizeof(ro));
        ro.method = pos[0];
        ro.path = pos[1];
        ro.body = pos[2];
        ro.body_len = pos[2] ? strlen(pos[2]) : 0;
        if (pos[2] != NULL && strcmp(pos[0], "PATCH") == 0)
            ro.content_type = "application/merge-patch+json";
        if (kube_request_start(cli.client, &ro, rq_done, NULL, NULL, &e) < 0) {
            fail_msg(&e);
            cli.exit_code = 1;
        }
    }
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    return teardown();
usage:
    fprintf(stderr, "usage: kdap kube-request [--kubeconfig FILE] [--context "
                    "NAME] [--watch [--timeout S]] METHOD PATH [BODY]\n");
    return 2;
}

/* ---- restore ------------------------------------------------------------ */

/* kdap restore: put back what a launch changed in workloads (the
 * annotation kube/workload.c leaves), for a session that died before its
 * own disconnect did it. */

static int restore_pending;

static void rs_done(void *data, int status, const char *session,
                    const char *note, const struct dap_error *err)
{
    char *what = data;

    if (status < 0) {
        fprintf(stderr, "kdap: %s: %s\n", what, err ? err->msg : "failed");
        cli.exit_code = 1;
    } else if (session[0] == '\0') {
        printf("%s: nothing to restore\n", what);
    } else {
        printf("%s: restored (patched by kdap session %s)%s%s\n", what,
               session, note[0] ? "; " : "", note);
    }
    free(what);
    restore_pending--;
}

static void rs_one(const char *ns, const char *resource, const char *name)
{
    char path[640], *what;
    struct dap_error e;

    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/%s/%s", ns,
             resource, name);
    if (asprintf(&what, "%s/%s", resource, name) < 0)
        return;
    if (kube_restore_start(cli.client, path, rs_done, what, NULL, &e) < 0) {
        fprintf(stderr, "kdap: %s: %s\n", what, e.msg);
        free(what);
        cli.exit_code = 1;
        return;
    }
    restore_pending++;
}

static void rs_listed(void *data, int status, long http, json_t *body,
                      const struct dap_error *err)
{
    const char *resource = data;
    json_t *it;
    size_t i;

    (void)http;
    if (status < 0) {
        fail_msg(err);
        cli.exit_code = 1;
        return;
    }
    json_array_foreach(json_object_get(body, "items"), i, it) {
        json_t *md = json_object_get(it, "metadata");
        if (json_object_get(json_object_get(md, "annotations"),
                            KUBE_WORKLOAD_ANNOTATION) != NULL)
            rs_one(json_string_value(json_object_get(md, "namespace")),
                   resource,
                   json_string_value(json_object_get(md, "name")));
    }
}

/* the k bytes at s are one of the space-ended words of `names` */
static int kind_is(const char *s, size_t k, const char *names)
{
    for (const char *p = names; *p != '\0'; p = strchr(p, ' ') + 1)
        if (strncmp(p, s, k) == 0 && p[k] == ' ')
            return 1;
    return 0;
}

static int cmd_restore(int argc, char **argv)
{
    struct common co;
    struct dap_error e;
    const char *ns;
    int ntargets = 0;

    memset(&co, 0, sizeof(co));
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0 || (r == 0 && strchr(argv[i], '/') == NULL))
            goto usage;
        ntargets += r == 0;
    }
    if (setup(&co, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    ns = kube_client_config(cli.client)->namespace;
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        const char *slash = strchr(argv[i], '/');
        size_t k = (size_t)(slash - argv[i]);
        if (r != 0)
            continue;
        if (kind_is(argv[i], k, "deployment deployments deploy "))
            rs_one(ns, "deployments", slash + 1);
        else if (kind_is(argv[i], k, "statefulset statefulsets sts "))
            rs_one(ns, "statefulsets", slash + 1);
        else
            goto usage;
    }
    if (ntargets == 0) {
        /* Deployments only: a statefulset is restored when named */
        struct kube_request_opts o = {0};
        char path[320];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments",
                 ns);
        o.path = path;
        if (kube_request_start(cli.client, &o, rs_listed, "deployments", NULL,
                               &e) < 0) {
            fail_msg(&e);
            cli.exit_code = 1;
        }
    }
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    return teardown();
usage:
    fprintf(stderr, "usage: kdap restore [--kubeconfig FILE] [--context NAME] "
                    "[--namespace NS] [deployment/NAME | statefulset/NAME]...\n"
                    "  without a workload: every deployment of the namespace "
                    "that a launch left patched\n");
    return 2;
}

/* ---- deploy ------------------------------------------------------------- */

/* kdap deploy: launch's deploy step by hand (a debug image from CI, say):
 * patch, watch the rollout, fail fast and put the workload back; `kdap
 * restore` undoes a deploy that succeeded. */

static void dp_progress(void *data, const char *what)
{
    fprintf(stderr, "kdap: deployment/%s: %s\n", (const char *)data, what);
}

static void dp_done(void *data, int status, int rolled,
                    const struct dap_error *err)
{
    if (status < 0) {
        fail_msg(err);
        cli.exit_code = 1;
        return;
    }
    printf("deployment/%s: %s\n", (const char *)data,
           rolled ? "rolled out" : "unchanged: its pods already run this");
}

static int cmd_deploy(int argc, char **argv)
{
    struct common co;
    struct dap_error e;
    struct kube_deploy_opts o;
    const char *target = NULL, *probes = NULL;
    char host[64] = "", session[128], since[32];
    time_t now = time(NULL);
    struct tm tm;

    memset(&co, 0, sizeof(co));
    memset(&o, 0, sizeof(o));
    o.change.replicas = -1;
    for (int i = 2; i < argc; i++) {
        int r = common_opt(&co, argc, argv, &i);
        if (r < 0)
            goto usage;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--image") == 0 && i + 1 < argc)
            o.change.image = argv[++i];
        else if (strcmp(argv[i], "--container") == 0 && i + 1 < argc)
            o.change.container = argv[++i];
        else if (strcmp(argv[i], "--replicas") == 0 && i + 1 < argc)
            o.change.replicas = atol(argv[++i]);
        else if (strcmp(argv[i], "--probes") == 0 && i + 1 < argc)
            probes = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            o.timeout_s = (unsigned)atoi(argv[++i]);
        else if (strncmp(argv[i], "deployment/", 11) == 0 && target == NULL)
            target = argv[i] + 11;
        else
            goto usage;
    }
    if (target == NULL || o.change.image == NULL)
        goto usage;
    if (kube_probes_parse(probes, &o.change.probes, &e) < 0) {
        fprintf(stderr, "kdap: %s\n", e.msg);
        return 2;
    }
    if (setup(&co, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
        return teardown();
    }
    /* one session per machine: a redeploy by hand keeps the originals */
    gethostname(host, sizeof(host) - 1);
    snprintf(session, sizeof(session), "deploy@%s", host);
    gmtime_r(&now, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    o.change.session = session;
    o.change.since = since;
    o.ns = kube_client_config(cli.client)->namespace;
    o.name = target;
    if (kube_deploy_start(cli.client, &o, dp_progress, dp_done, (void *)target,
                          NULL, &e) < 0) {
        fail_msg(&e);
        cli.exit_code = 1;
    }
    uv_run(&cli.loop, UV_RUN_DEFAULT);
    return teardown();
usage:
    fprintf(stderr, "usage: kdap deploy [--kubeconfig FILE] [--context NAME] "
                    "[--namespace NS] deployment/NAME --image REF [--container "
                    "NAME] [--replicas N] [--probes relax|keep|remove] "
                    "[--timeout S]\n");
    return 2;
}

/* ---- versions ----------------------------------------------------------- */

void cmd_print_versions(FILE *fp)
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

    fprintf(fp, "jansson %s\n", jansson_version_str());
    fprintf(fp, "libcurl %s (%s)\n", curl->version,
            curl->ssl_version != NULL ? curl->ssl_version : "no TLS");
    fprintf(fp, "libuv %s\n", uv_version_string());
    fprintf(fp, "%s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(fp, "libyaml %s\n", yaml_get_version_string());
    fprintf(fp, "%s\n", archive_version_string());
    fprintf(fp, "zlib %s\n", zlibVersion());
}

/* ---- dispatch ----------------------------------------------------------- */

int cmd_kube_is_command(int argc, char **argv)
{
    return argc > 1 && (strcmp(argv[1], "doctor") == 0 ||
                        strcmp(argv[1], "port-forward") == 0 ||
                        strcmp(argv[1], "exec") == 0 ||
                        strcmp(argv[1], "kube-request") == 0 ||
                        strcmp(argv[1], "restore") == 0 ||
                        strcmp(argv[1], "deploy") == 0);
}

int cmd_kube_main(int argc, char **argv)
{
    if (strcmp(argv[1], "doctor") == 0)
        return cmd_doctor(argc, argv);
    if (strcmp(argv[1], "port-forward") == 0)
        return cmd_port_forward(argc, argv);
    if (strcmp(argv[1], "exec") == 0)
        return cmd_exec(argc, argv);
    if (strcmp(argv[1], "restore") == 0)
        return cmd_restore(argc, argv);
    if (strcmp(argv[1], "deploy") == 0)
        return cmd_deploy(argc, argv);
    return cmd_request(argc, argv);
}
