/* test_kubeconfig.c - kube/config: YAML parsing, kubectl's merge rules,
 * resolution and its error messages, loading from files and in-cluster. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/config.h"
#include "tests/test.h"

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        if (strstr((hay), (needle)) == NULL) {                                 \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n",         \
                    __FILE__, __LINE__, (hay), (needle));                      \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* base64 of "-----BEGIN CERTIFICATE-----\nX\n" style blobs: any text works
 * for resolution (TLS is not tried here). */
#define B64_PEM "UEVNLURBVEE=" /* "PEM-DATA" */

static json_t *parse(const char *text, const char *path)
{
    struct dap_error e;
    json_t *j = NULL;

    if (kube_kubeconfig_parse(text, strlen(text), path, &j, &e) < 0) {
        fprintf(stderr, "parse failed: %s\n", e.msg);
        exit(1);
    }
    return j;
}

static int resolve1(const char *text, const char *ctx, const char *ns,
                    struct kube_config **out, struct kube_config_paths *p,
                    struct dap_error *e)
{
    json_t *f = parse(text, "/home/u/.kube/config");
    json_t *m = NULL;
    int rc;

    ASSERT_OK(kube_kubeconfig_merge(&f, 1, &m));
    rc = kube_config_resolve(m, "kubeconfig /home/u/.kube/config", ctx, ns,
                             out, p, e);
    json_decref(f);
    json_decref(m);
    return rc;
}

static const char *base =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority: certs/ca.crt\n"
    "    tls-server-name: kubernetes\n"
    "    proxy-url: http://proxy:3128\n"
    "users:\n"
    "- name: u1\n"
    "  user:\n"
    "    client-certificate: u1.crt\n"
    "    client-key: /abs/u1.key\n"
    "    tokenFile: tok\n"
    "- name: u2\n"
    "  user:\n"
    "    token: secret-token\n"
    "    tokenFile: ignored\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c1, user: u1, namespace: team-a}\n"
    "- name: prod\n"
    "  context:\n"
    "    cluster: c1\n"
    "    user: u2\n";

static void test_parse_and_paths(void)
{
    struct kube_config *c = NULL;
    struct kube_config_paths p;
    struct dap_error e;

    ASSERT_OK(resolve1(base, NULL, NULL, &c, &p, &e));
    ASSERT_STR_EQ(c->context, "dev");
    ASSERT_STR_EQ(c->namespace, "team-a");
    ASSERT_STR_EQ(c->server, "https://10.0.0.1:6443");
    ASSERT_STR_EQ(c->tls_server_name, "kubernetes");
    ASSERT_STR_EQ(c->proxy_url, "http://proxy:3128");
    ASSERT_STR_EQ(p.ca_file, "/home/u/.kube/certs/ca.crt");
    ASSERT_STR_EQ(p.cert_file, "/home/u/.kube/u1.crt");
    ASSERT_STR_EQ(p.key_file, "/abs/u1.key");
    ASSERT_STR_EQ(c->token_file, "/home/u/.kube/tok");
    ASSERT_NULL(c->token);
    kube_config_free(c);
    kube_config_paths_cleanup(&p);

    /* Override of context and namespace; token wins over tokenFile. */
    ASSERT_OK(resolve1(base, "prod", "other", &c, &p, &e));
    ASSERT_STR_EQ(c->namespace, "other");
    ASSERT_STR_EQ(c->token, "secret-token");
    ASSERT_NULL(c->token_file);
    kube_config_free(c);
    kube_config_paths_cleanup(&p);

    /* No namespace in the context: default. */
    ASSERT_OK(resolve1(base, "prod", NULL, &c, &p, &e));
    ASSERT_STR_EQ(c->namespace, "default");
    kube_config_free(c);
    kube_config_paths_cleanup(&p);
}

static void test_json_and_yaml_features(void)
{
    struct kube_config *c = NULL;
    struct kube_config_paths p;
    struct dap_error e;
    const char *json =
        "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"x\","
        "\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
        "\"https://h:1\",\"insecure-skip-tls-verify\":true}}],"
        "\"users\":[{\"name\":\"u\",\"user\":{\"client-certificate-data\":"
        "\"" B64_PEM "\",\"client-key-data\":\"" B64_PEM "\"}}],"
        "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
        "\"user\":\"u\"}}]}";
    const char *anchors =
        "current-context: x\n"
        "clusters:\n"
        "- name: c\n"
        "  cluster: &cl\n"
        "    server: https://h:2\n"
        "    insecure-skip-tls-verify: 'true'\n"
        "- name: c2\n"
        "  cluster: *cl\n"
        "contexts:\n"
        "- name: x\n"
        "  context: {cluster: c2}\n";

    ASSERT_OK(resolve1(json, NULL, NULL, &c, &p, &e));
    ASSERT_EQ(c->insecure, 1);
    ASSERT_EQ(c->cert_len, 8);
    ASSERT(memcmp(c->cert_pem, "PEM-DATA", 8) == 0);
    ASSERT_EQ(c->key_len, 8);
    kube_config_free(c);
    kube_config_paths_cleanup(&p);

    ASSERT_OK(resolve1(anchors, NULL, NULL, &c, &p, &e));
    ASSERT_STR_EQ(c->server, "https://h:2");
    ASSERT_EQ(c->insecure, 1);
    ASSERT_STR_EQ(c->user_name, "");
    kube_config_free(c);
    kube_config_paths_cleanup(&p);
}

static void expect_error(const char *text, const char *ctx,
                         const char *needle1, const char *needle2)
{
    struct kube_config *c = NULL;
    struct kube_config_paths p;
    struct dap_error e;

    ASSERT_EQ(resolve1(text, ctx, NULL, &c, &p, &e), DAP_ECONFIG);
    ASSERT_NULL(c);
    ASSERT_CONTAINS(e.msg, needle1);
    if (needle2 != NULL)
        ASSERT_CONTAINS(e.msg, needle2);
    /* Messages never carry secrets. */
    ASSERT(strstr(e.msg, "secret-token") == NULL);
}

static void test_errors(void)
{
    char buf[2048];

    expect_error("clusters: []\n", NULL, "no current-context", "contexts");
    expect_error(base, "nope", "context \"nope\" is not in",
                 "contexts there: dev, prod");
    expect_error("current-context: a\ncontexts:\n- name: a\n  context: "
                 "{cluster: zz, user: u}\n",
                 NULL, "names cluster \"zz\"", "/home/u/.kube/config");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster: {}\n"
                 "contexts:\n- name: a\n  context: {cluster: c}\n",
                 NULL, "cluster \"c\"", "has no server");
    expect_error("current-context: a\nclusters:\n- name: c\n  cluster:\n"
                 "    server: https://x\n    insecure-skip-tls-verify: true\n"
                 "    certificate-authority-data: " B64_PEM "\n"
                 "contexts:\n- name: a\n  context: {cluster: c}\n",
                 NULL, "both insecure-skip-tls-verify and a certificate "
                       "authority",
                 NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    client-certificate-data: " B64_PEM);
    expect_error(buf, NULL, "user \"u\"", "no client key");
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    client-key-data: '!!notbase64'\n"
             "    client-certificate-data: " B64_PEM);
    expect_error(buf, NULL, "client-key-data is not valid base64", NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    exec: {apiVersion: client.authentication.k8s.io/v1}");
    expect_error(buf, NULL, "exec.command is required", NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    exec: {apiVersion: client.authentication.k8s.io/v1, "
             "command: x}");
    expect_error(buf, NULL, "interactiveMode is required", NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    exec: {apiVersion: client.authentication.k8s.io/v1, "
             "command: x, interactiveMode: Always}");
    expect_error(buf, NULL, "debug adapter pipe", NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, "
             "command: x}");
    expect_error(buf, NULL, "v1alpha1\" is not supported", NULL);
    snprintf(buf, sizeof(buf),
             "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
             "'https://x'}\nusers:\n- name: u\n  user:\n%s\n"
             "contexts:\n- name: a\n  context: {cluster: c, user: u}\n",
             "    auth-provider: {name: gcp}");
    expect_error(buf, NULL, "auth-provider", "exec credential plugin");

    /* Invalid YAML names the file and the line. */
    {
        struct dap_error e;
        json_t *j = NULL;
        const char *bad = "clusters:\n- name: [x\n";
        ASSERT_EQ(kube_kubeconfig_parse(bad, strlen(bad), "/k/cfg", &j, &e),
                  DAP_ECONFIG);
        ASSERT_CONTAINS(e.msg, "/k/cfg");
        ASSERT_CONTAINS(e.msg, "line");
        bad = "- just\n- a list\n";
        ASSERT_EQ(kube_kubeconfig_parse(bad, strlen(bad), "/k/cfg", &j, &e),
                  DAP_ECONFIG);
        ASSERT_CONTAINS(e.msg, "not a mapping");
        bad = "a: *nope\n";
        ASSERT_EQ(kube_kubeconfig_parse(bad, strlen(bad), "/k/cfg", &j, &e),
                  DAP_ECONFIG);
    }
}

static void test_exec_stanza(void)
{
    struct kube_config *c = NULL;
    struct kube_config_paths p;
    struct dap_error e;
    const char *t =
        "current-context: a\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
        "  extensions:\n  - name: client.authentication.k8s.io/exec\n"
        "    extension: {audience: kdap}\n"
        "users:\n- name: u\n  user:\n    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: ./bin/plugin\n"
        "      args: [get-token, --x]\n"
        "      env: [{name: A, value: b}]\n"
        "      provideClusterInfo: true\n"
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\n";

    ASSERT_OK(resolve1(t, NULL, NULL, &c, &p, &e));
    ASSERT(c->exec != NULL);
    ASSERT_STR_EQ(c->exec->command, "/home/u/.kube/./bin/plugin");
    ASSERT_STR_EQ(c->exec->args[1], "--x");
    ASSERT_NULL(c->exec->args[2]);
    ASSERT_STR_EQ(c->exec->env[0], "A=b");
    ASSERT_STR_EQ(c->exec->interactive_mode, "IfAvailable");
    ASSERT_EQ(c->exec->provide_cluster_info, 1);
    ASSERT(json_is_object(c->exec->cluster_config));
    {
        struct kube_config *d = kube_config_dup(c);
        ASSERT(d != NULL);
        ASSERT_STR_EQ(d->exec->args[0], "get-token");
        kube_config_free(d);
    }
    kube_config_free(c);
    kube_config_paths_cleanup(&p);
}

static void test_merge(void)
{
    const char *f1 = "current-context: ''\n"
                     "clusters:\n- name: c\n  cluster: {server: "
                     "'https://first'}\n"
                     "contexts:\n- name: a\n  context: {cluster: c}\n";
    const char *f2 = "current-context: b\n"
                     "clusters:\n- name: c\n  cluster: {server: "
                     "'https://second'}\n- name: d\n  cluster: {server: "
                     "'https://d'}\n"
                     "contexts:\n- name: a\n  context: {cluster: d}\n"
                     "- name: b\n  context: {cluster: c, namespace: nb}\n";
    json_t *files[2];
    json_t *m;
    struct kube_config *c;
    struct kube_config_paths p;
    struct dap_error e;

    files[0] = parse(f1, "/one/config");
    files[1] = parse(f2, "/two/config");
    ASSERT_OK(kube_kubeconfig_merge(files, 2, &m));
    /* current-context: the first non-empty one (file 2). */
    ASSERT_OK(kube_config_resolve(m, "kubeconfig x", NULL, NULL, &c, &p, &e));
    ASSERT_STR_EQ(c->context, "b");
    /* cluster c: file 1 wins as a whole. */
    ASSERT_STR_EQ(c->server, "https://first");
    ASSERT_STR_EQ(c->namespace, "nb");
    kube_config_free(c);
    kube_config_paths_cleanup(&p);
    /* context a: file 1's definition (cluster c), not file 2's (d). */
    ASSERT_OK(kube_config_resolve(m, "kubeconfig x", "a", NULL, &c, &p, &e));
    ASSERT_STR_EQ(c->server, "https://first");
    kube_config_free(c);
    kube_config_paths_cleanup(&p);
    ASSERT_EQ(json_array_size(json_object_get(m, "clusters")), 2);
    json_decref(m);
    json_decref(files[0]);
    json_decref(files[1]);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    ASSERT(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

static void test_load(void)
{
    char dir[] = "/tmp/kdap-kcfg-XXXXXX";
    char p1[400], p2[300], ca[300], env[1200], sa[300];
    struct kube_load_opts o;
    struct kube_config *c = NULL;
    struct dap_error e;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(p1, sizeof(p1), "%s/one", dir);
    snprintf(p2, sizeof(p2), "%s/two", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    write_file(ca, "CA-PEM\n");
    write_file(p1, "current-context: a\n"
                   "contexts:\n- name: a\n  context: {cluster: c, user: u}\n");
    write_file(p2, "clusters:\n- name: c\n  cluster: {server: 'https://x', "
                   "certificate-authority: ca.pem}\n"
                   "users:\n- name: u\n  user: {token: tok-abc}\n");
    snprintf(env, sizeof(env), "%s/missing::%s:%s:%s", dir, p1, p2, p1);
    setenv("KUBECONFIG", env, 1);
    memset(&o, 0, sizeof(o));
    ASSERT_OK(kube_config_load(&o, &c, &e));
    ASSERT_STR_EQ(c->ca_pem, "CA-PEM\n");
    ASSERT_STR_EQ(c->token, "tok-abc");
    ASSERT_CONTAINS(c->source, p1);
    ASSERT_CONTAINS(c->source, p2);
    kube_config_free(c);

    /* An explicit file is used alone (p1 has no cluster c). */
    o.kubeconfig = p1;
    ASSERT_EQ(kube_config_load(&o, &c, &e), DAP_ECONFIG);
    ASSERT_CONTAINS(e.msg, "names cluster \"c\"");
    o.kubeconfig = "/nonexistent/kubeconfig";
    ASSERT_EQ(kube_config_load(&o, &c, &e), DAP_ECONFIG);
    ASSERT_CONTAINS(e.msg, "/nonexistent/kubeconfig");
    o.kubeconfig = NULL;

    /* Unreadable CA file: named with its stanza. */
    write_file(p2, "clusters:\n- name: c\n  cluster: {server: 'https://x', "
                   "certificate-authority: nope.pem}\n"
                   "users:\n- name: u\n  user: {token: tok-abc}\n");
    ASSERT_EQ(kube_config_load(&o, &c, &e), DAP_ECONFIG);
    ASSERT_CONTAINS(e.msg, "nope.pem");
    ASSERT_CONTAINS(e.msg, "cluster \"c\"");

    /* Nothing found and not in a cluster. */
    snprintf(env, sizeof(env), "%s/none", dir);
    setenv("KUBECONFIG", env, 1);
    unsetenv("KUBERNETES_SERVICE_HOST");
    ASSERT_EQ(kube_config_load(&o, &c, &e), DAP_ECONFIG);
    ASSERT_CONTAINS(e.msg, "no kubeconfig found");

    /* In-cluster. */
    snprintf(sa, sizeof(sa), "%s/sa", dir);
    mkdir(sa, 0700);
    snprintf(p1, sizeof(p1), "%s/token", sa);
    write_file(p1, "sa-token\n");
    snprintf(p1, sizeof(p1), "%s/ca.crt", sa);
    write_file(p1, "SA-CA\n");
    snprintf(p1, sizeof(p1), "%s/namespace", sa);
    write_file(p1, "team-x\n");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    o.sa_dir = sa;
    ASSERT_OK(kube_config_load(&o, &c, &e));
    ASSERT_STR_EQ(c->server, "https://[fd00::1]:443");
    ASSERT_STR_EQ(c->namespace, "team-x");
    ASSERT_STR_EQ(c->ca_pem, "SA-CA\n");
    ASSERT_CONTAINS(c->token_file, "/sa/token");
    kube_config_free(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        ASSERT_OK(system(cmd));
    }
}

int main(void)
{
    test_parse_and_paths();
    test_json_and_yaml_features();
    test_errors();
    test_exec_stanza();
    test_merge();
    test_load();
    printf("test_kubeconfig: ok\n");
    return 0;
}
