/* test_attach.c - the attach orchestration (attach/) with the fake runtime's
 * profile (tests/fake): what the profile says reaches the debug container
 * and the backend's config, the runtime is detected by the profile's rules,
 * and attach_cluster reports through its callbacks, keyed by the service's
 * id: a refused config before anything is asked, a failure when the API
 * server cannot be reached (a loopback port nobody listens on: no cluster,
 * milliseconds), nothing at all once freed mid-attach. */
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "adapters/adapter.h"
#include "attach/attach.h"
#include "attach/target.h"
#include "kube/config.h"
#include "tests/fake/fake_backend.h"
#include "tests/test.h"

static const char *script_of(json_t *ec)
{
    return json_string_value(json_array_get(json_object_get(ec, "command"), 2));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        fprintf(stderr, "\"%s\" lacks \"%s\"\n", hay ? hay : "(null)",
                needle);
        exit(1);
    }
}

static json_t *pod_with(const char *container_json)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[%s]}}",
             container_json);
    return json_loads(text, 0, NULL);
}

/* The debug container and the ready fix-ups follow the profile. */
static void test_profile(void)
{
    const struct adapter_kind *k = adapter_kind_find("fake");
    struct dap_error err;
    char how[200], warn[200];
    json_t *ec, *cfg, *pod;
    int port = 0;

    ASSERT(k != NULL);
    ec = attach_debug_container_new("fake", "kdap-fake-1", "reg/x:1", "app",
                                    NULL, 7000, NULL, "00ff");
    ASSERT(ec != NULL);
    /* kdap's prelude, then the profile's script, no gate (not gated) */
    ASSERT(strncmp(script_of(ec), "m='kdap 00ff'; host='127.0.0.1'; wait=30\n",
                   41) == 0);
    assert_contains(script_of(ec), "echo \"$m pid $pid\"\n");
    assert_contains(script_of(ec), "fakedbg --port $port --pid $pid &\n"
                                   "echo \"$m ready $port\"\n");
    ASSERT(strstr(script_of(ec), "kdap-gate") == NULL);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(ec, "command"), 5)),
                  "7000");
    /* the profile's capabilities and nothing else, as root */
    {
        char *sc = json_dumps(json_object_get(ec, "securityContext"),
                              JSON_COMPACT | JSON_SORT_KEYS);
        ASSERT_STR_EQ(sc, "{\"allowPrivilegeEscalation\":false,\"capabilities\":"
                          "{\"add\":[\"SYS_NICE\"],\"drop\":[\"ALL\"]},"
                          "\"readOnlyRootFilesystem\":true,\"runAsNonRoot\":false,"
                          "\"runAsUser\":0,\"seccompProfile\":{\"type\":"
                          "\"RuntimeDefault\"}}");
        free(sc);
    }
    json_decref(ec);
    ASSERT_NULL(attach_debug_container_new("nosuch", "n", "i", "app", NULL, 1,
                                           NULL, "00ff"));

    /* detection: command, then env, then image; NULL when nothing says */
    pod = pod_with("{\"name\":\"app\",\"image\":\"reg/plain:1\","
                   "\"command\":[\"/opt/bin/fakedbg\",\"x\"]}");
    ASSERT_STR_EQ(attach_target_guess_runtime(pod, "app", how, sizeof(how)), "fake");
    ASSERT_STR_EQ(how, "the container's command runs fakedbg");
    json_decref(pod);
    pod = pod_with("{\"name\":\"app\",\"image\":\"reg/plain:1\","
                   "\"env\":[{\"name\":\"FAKE_DEBUG\",\"value\":\"1\"}]}");
    ASSERT_STR_EQ(attach_target_guess_runtime(pod, "app", how, sizeof(how)), "fake");
    ASSERT_STR_EQ(how, "the container sets FAKE_DEBUG");
    json_decref(pod);
    pod = pod_with("{\"name\":\"side\"},{\"name\":\"app\","
                   "\"image\":\"reg/team/shop-fakerun:2\"}");
    ASSERT_STR_EQ(attach_target_guess_runtime(pod, "app", how, sizeof(how)), "fake");
    ASSERT_STR_EQ(how, "the image's name says fakerun");
    ASSERT_NULL(attach_target_guess_runtime(pod, "side", how, sizeof(how)));
    json_decref(pod);
    pod = pod_with("{\"name\":\"app\",\"image\":\"reg/plain:1\"}");
    ASSERT_NULL(attach_target_guess_runtime(pod, "app", how, sizeof(how)));
    json_decref(pod);

    /* the ready fix-up reads the whole marker lines of this nonce only */
    cfg = json_object();
    {
        const char *log = "kdap: debugging process 42: fakedbg kdap 00ff ready 1\n"
                          "kdap 0fff ready 2\n"
                          "kdap 00ff pid 42\n"
                          "kdap 00ff ready 7123 warn\n";
        ASSERT_OK(attach_debug_ready(k, log, strlen(log), "00ff", cfg, &port,
                                     warn, sizeof(warn), &err));
        ASSERT_EQ(port, 7123);
        ASSERT_EQ(json_integer_value(json_object_get(cfg, "fakePid")), 42);
        ASSERT_STR_EQ(warn, "the fake debugger warns");
        log = "kdap 00ff ready 7124";           /* unfinished: no marker */
        ASSERT_EQ(attach_debug_ready(k, log, strlen(log), "00ff", cfg, &port,
                                     warn, sizeof(warn), &err),
                  DAP_EBACKEND);
        assert_contains(err.msg, "fake: no port");
    }
    json_decref(cfg);
}

/* ---- attach_cluster through its callbacks ------------------------------ */

static struct {
    int progress, output, log, connected, failed;
    uint32_t id;
    char msg[512];
} seen;

static void on_progress(void *data, uint32_t id, const char *msg)
{
    (void)data;
    seen.progress++;
    seen.id = id;
    snprintf(seen.msg, sizeof(seen.msg), "%s", msg);
}

static void on_output(void *data, uint32_t id, const char *category,
                      const char *text)
{
    (void)data;
    (void)id;
    (void)category;
    (void)text;
    seen.output++;
}

static void on_log(void *data, uint32_t id, const char *text, size_t len)
{
    (void)data;
    (void)id;
    (void)text;
    (void)len;
    seen.log++;
}

static int on_busy(void *data)
{
    (void)data;
    return 0;
}

static int on_connected(void *data, uint32_t id, json_t *cfg,
                        const char *where, const struct adapter_tunnel *t,
                        struct dap_error *err)
{
    (void)data;
    (void)id;
    (void)cfg;
    (void)where;
    (void)t;
    (void)err;
    seen.connected++;
    return 0;
}

static void on_failed(void *data, uint32_t id, const struct dap_error *err)
{
    (void)data;
    seen.failed++;
    seen.id = id;
    snprintf(seen.msg, sizeof(seen.msg), "%s", err->msg);
}

static const struct attach_callbacks cbs = {
    on_progress, on_output, on_log, on_busy, on_connected, on_failed, NULL,
};

/* Run the loop until `cond` holds or `ms` pass. */
#define RUN_UNTIL(loop, cond, ms)                                              \
    do {                                                                       \
        uint64_t until_ = uv_now(loop) + (ms);                                 \
        while (!(cond) && uv_now(loop) < until_) {                             \
            uv_run(loop, UV_RUN_NOWAIT);                                       \
            usleep(1000);                                                      \
            uv_update_time(loop);                                              \
        }                                                                      \
    } while (0)

static void test_cluster_callbacks(uv_loop_t *loop)
{
    char path[] = "/tmp/kdap-test-attach-XXXXXX";
    const char *text =
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
        "    namespace: shop\n";
    int fd = mkstemp(path);
    struct kube_load_opts lo = {0};
    struct kube_config *kc;
    struct dap_error err;
    kube_client *kube;
    attach_svc *a = NULL;
    json_t *cfg;

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    lo.kubeconfig = path;
    ASSERT_OK(kube_config_load(&lo, &kc, &err));
    unlink(path);
    ASSERT_OK(kube_client_new(loop, kc, &kube, &err));

    /* the profile refuses the config: an error now, no callback, no pod */
    cfg = json_pack("{s:s, s:s, s:b}", "target", "deployment/shop",
                    "runtime", "fake", "fakeRefuse", 1);
    ASSERT_EQ(attach_cluster.start_fn(loop, kube, 3, "shop", cfg, &cbs, &a,
                                      &err),
              DAP_ECONFIG);
    assert_contains(err.msg, "fakeRefuse");
    json_decref(cfg);
    cfg = json_pack("{s:s, s:s}", "target", "job/shop", "runtime", "fake");
    ASSERT_EQ(attach_cluster.start_fn(loop, kube, 3, "shop", cfg, &cbs, &a,
                                      &err),
              DAP_ECONFIG);
    assert_contains(err.msg, "deployment/NAME");
    json_decref(cfg);
    RUN_UNTIL(loop, 0, 20);
    ASSERT_EQ(seen.progress + seen.failed + seen.connected, 0);

    /* the API server cannot be reached: one progress step (in the
     * context's namespace), then failed, once, with this service's id */
    cfg = json_pack("{s:s, s:s}", "target", "deployment/shop", "runtime",
                    "fake");
    ASSERT_OK(attach_cluster.start_fn(loop, kube, 3, "shop", cfg, &cbs, &a,
                                      &err));
    ASSERT(a != NULL);
    ASSERT_EQ(seen.progress + seen.failed, 0); /* callbacks from the loop */
    RUN_UNTIL(loop, seen.failed > 0, 5000);
    ASSERT_EQ(seen.failed, 1);
    ASSERT_EQ(seen.id, 3u);
    ASSERT_EQ(seen.progress, 1);
    ASSERT_EQ(seen.connected, 0);
    assert_contains(seen.msg, "127.0.0.1:1"); /* names the server */
    RUN_UNTIL(loop, 0, 50);
    ASSERT_EQ(seen.failed, 1);
    attach_cluster.free_fn(a);

    /* freed mid-attach (the session disconnected): nothing comes after */
    memset(&seen, 0, sizeof(seen));
    ASSERT_OK(attach_cluster.start_fn(loop, kube, 4, "shop", cfg, &cbs, &a,
                                      &err));
    attach_cluster.free_fn(a);
    RUN_UNTIL(loop, 0, 200);
    ASSERT_EQ(seen.progress + seen.failed + seen.connected + seen.output, 0);
    attach_cluster.free_fn(NULL);
    json_decref(cfg);

    kube_client_free(kube);
    uv_run(loop, UV_RUN_DEFAULT);
}

int main(void)
{
    uv_loop_t *loop = uv_default_loop();

    ASSERT_OK(fake_backend_register());
    test_profile();
    test_cluster_callbacks(loop);
    ASSERT_EQ(uv_loop_close(loop), 0);
    printf("test_attach: ok\n");
    return 0;
}
