/* test_target.c - target parsing, pod choice, close names, the debug
 * container. */
#include "adapters/adapter.h"
#include "attach/target.h"
#include "tests/test.h"

static void expect_sc(json_t *ec, const char *want)
{
    char *got = json_dumps(json_object_get(ec, "securityContext"),
                           JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_STR_EQ(got, want);
    free(got);
}

static json_t *pod(const char *name, const char *phase, int ready,
                   const char *created)
{
    return json_pack("{s:{s:s, s:s}, s:{s:[{s:s, s:s}, {s:s, s:s}]}, "
                     "s:{s:s, s:[{s:s, s:s}]}}",
                     "metadata", "name", name, "creationTimestamp", created,
                     "spec", "containers", "name", "app", "image",
                     "127.0.0.1:5000/kdap/go-hello:latest", "name", "sidecar",
                     "image", "busybox", "status", "phase", phase,
                     "conditions", "type", "Ready", "status",
                     ready ? "True" : "False");
}

/* The node profile's reading of NODE_OPTIONS in the spec. */
static int node_port(json_t *pod, const char *container, char *host,
                     size_t hostlen)
{
    return adapter_kind_find("node")->port_fn(pod, container, host, hostlen);
}

int main(void)
{
    struct attach_target t;
    struct dap_error err;
    char why[256];
    char out[256];
    json_t *pods, *p, *names;
    char how[200];

    ASSERT_OK(attach_target_parse("deployment/checkout", &t, &err));
    ASSERT_EQ(t.kind, ATTACH_TARGET_DEPLOYMENT);
    ASSERT_STR_EQ(t.name, "checkout");
    ASSERT_OK(attach_target_parse("sts/db", &t, &err));
    ASSERT_EQ(t.kind, ATTACH_TARGET_STATEFULSET);
    ASSERT_OK(attach_target_parse("pod/inventory-0", &t, &err));
    ASSERT_EQ(t.kind, ATTACH_TARGET_POD);
    ASSERT_OK(attach_target_parse("app=web,tier=front", &t, &err));
    ASSERT_EQ(t.kind, ATTACH_TARGET_SELECTOR);
    ASSERT_STR_EQ(t.selector, "app=web,tier=front");
    ASSERT_EQ(attach_target_parse("deployment/Bad_Name", &t, &err), DAP_ECONFIG);
    ASSERT_EQ(attach_target_parse("job/x", &t, &err), DAP_ECONFIG);
    ASSERT(strstr(err.msg, "deployment/NAME") != NULL);
    ASSERT_EQ(attach_target_parse("", &t, &err), DAP_ECONFIG);

    p = json_pack("{s:{s:{s:{s:s, s:s}}}}", "spec", "selector", "matchLabels",
                  "app", "web", "tier", "front");
    ASSERT_OK(attach_target_selector_of(p, out, sizeof(out)));
    ASSERT(strstr(out, "app=web") != NULL && strstr(out, "tier=front") != NULL);
    json_decref(p);

    /* The oldest ready pod wins; a named one wins outright. */
    pods = json_array();
    json_array_append_new(pods, pod("web-c", "Running", 1, "2026-01-03T00:00:00Z"));
    json_array_append_new(pods, pod("web-a", "Pending", 0, "2026-01-01T00:00:00Z"));
    json_array_append_new(pods, pod("web-b", "Running", 1, "2026-01-02T00:00:00Z"));
    json_array_append_new(pods, pod("web-d", "Running", 0, "2026-01-00T00:00:00Z"));
    ASSERT_OK(attach_target_pick(pods, NULL, &p, why, sizeof(why), &err));
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(p, "metadata"), "name")), "web-b");
    ASSERT(strstr(why, "oldest of 2 ready") != NULL);
    ASSERT_OK(attach_target_pick(pods, "web-c", &p, why, sizeof(why), &err));
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(p, "metadata"), "name")), "web-c");
    ASSERT_EQ(attach_target_pick(pods, "web-a", &p, why, sizeof(why), &err), DAP_ESTATE);
    ASSERT_EQ(attach_target_pick(pods, "nope", &p, why, sizeof(why), &err), DAP_ECONFIG);
    json_decref(pods);
    pods = json_array();
    json_array_append_new(pods, pod("web-a", "Pending", 0, "2026-01-01T00:00:00Z"));
    ASSERT_EQ(attach_target_pick(pods, NULL, &p, why, sizeof(why), &err), DAP_ESTATE);
    ASSERT(strstr(err.msg, "web-a is Pending") != NULL);

    p = json_array_get(pods, 0);
    ASSERT_STR_EQ(attach_target_container(p, NULL, &err), "app");
    ASSERT_STR_EQ(attach_target_container(p, "sidecar", &err), "sidecar");
    ASSERT_NULL(attach_target_container(p, "nope", &err));
    ASSERT(strstr(err.msg, "app, sidecar") != NULL);
    ASSERT_STR_EQ(attach_target_guess_runtime(p, "app", how, sizeof(how)), "go");
    ASSERT(how[0] != '\0');
    json_decref(pods);

    names = json_pack("[s, s, s, s]", "checkout", "checkout-v2", "payments",
                      "frontend");
    attach_close_names("chekout", names, out, sizeof(out));
    ASSERT(strstr(out, "checkout") != NULL);
    ASSERT(strstr(out, "payments") == NULL);
    attach_close_names("zzzzzzzz", names, out, sizeof(out));
    ASSERT_STR_EQ(out, "");
    json_decref(names);

    p = attach_debug_container_new("go", "kdap-go-1a2b3c", "reg/dlv:1", "app",
                                 "server", 40000, NULL, "00ff");
    ASSERT_STR_EQ(json_string_value(json_object_get(p, "targetContainerName")), "app");
    /* every capability dropped but ptrace and signals, as root */
    expect_sc(p, "{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"add\":"
                 "[\"SYS_PTRACE\",\"KILL\",\"DAC_READ_SEARCH\"],\"drop\":[\"ALL\"]},"
                 "\"readOnlyRootFilesystem\":true,\"runAsNonRoot\":false,"
                 "\"runAsUser\":0,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
    ASSERT(json_object_get(p, "ports") == NULL);
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "--listen=127.0.0.1:$dport") != NULL);
    /* the gate holds delve's port, serves $port, and is the watchdog */
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "dport=$((port+1))\n") != NULL);
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "/usr/bin/kdap-gate $port $dport $wait & gate=$!") != NULL);
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "gate_start && echo \"$m listening\"\nwait $gate || kill -INT $dbg") != NULL);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(p, "command"), 4)), "server");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(p, "command"), 5)), "40000");
    json_decref(p);
    /* gdbserver: one client, and SIGTERM (it ignores SIGINT) if none came. */
    p = attach_debug_container_new("gdb", "kdap-gdb-1a2b3c", "reg/gdbserver:1",
                                 "app", NULL, 40001, NULL, "00ff");
    expect_sc(p, "{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"add\":"
                 "[\"SYS_PTRACE\",\"KILL\",\"DAC_OVERRIDE\"],\"drop\":[\"ALL\"]},"
                 "\"readOnlyRootFilesystem\":true,\"runAsNonRoot\":false,"
                 "\"runAsUser\":0,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "gdbserver --once --attach 127.0.0.1:$dport $pid &") != NULL);
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "wait $gate || kill -TERM $dbg\nwhile kill -0 $dbg 2>/dev/null; do "
                  "wait $dbg; done\n") != NULL);
    /* no SIGINT relay: kdap's gdb never makes gdbserver kill(-1, SIGINT) */
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "trap") == NULL);
    json_decref(p);
    /* node: the port of a process started with --inspect=PORT (or given
     * in NODE_OPTIONS), said before the ready marker */
    /* node: no ptrace; the target's user when its spec says (container
     * over pod), with no capability; else root with KILL only */
    {
        json_t *pod = json_loads(
            "{\"spec\":{\"securityContext\":{\"runAsUser\":2000},"
            "\"containers\":[{\"name\":\"side\"},{\"name\":\"app\","
            "\"securityContext\":{\"runAsUser\":1000,\"runAsGroup\":3000}}]}}",
            0, NULL);
        p = attach_debug_container_new("node", "n", "i", "app", NULL, 9229, pod, "00ff");
        expect_sc(p, "{\"allowPrivilegeEscalation\":false,\"capabilities\":"
                     "{\"drop\":[\"ALL\"]},\"readOnlyRootFilesystem\":true,"
                     "\"runAsGroup\":3000,\"runAsNonRoot\":true,\"runAsUser\":1000,"
                     "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
        json_decref(p);
        p = attach_debug_container_new("node", "n", "i", "side", NULL, 9229, pod, "00ff");
        expect_sc(p, "{\"allowPrivilegeEscalation\":false,\"capabilities\":"
                     "{\"drop\":[\"ALL\"]},\"readOnlyRootFilesystem\":true,"
                     "\"runAsNonRoot\":true,\"runAsUser\":2000,"
                     "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
        json_decref(p);
        json_decref(pod);
    }
    {
        json_t *pod = json_loads(
            "{\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":["
            "{\"name\":\"X\",\"value\":\"--inspect-port=1\"},{\"name\":"
            "\"NODE_OPTIONS\",\"value\":\"--max-old-space-size=99 "
            "--inspect-port=127.0.0.1:9231\"}]},{\"name\":\"b\",\"env\":[{"
            "\"name\":\"NODE_OPTIONS\",\"value\":\"--inspect=9300x\"}]}]}}",
            0, NULL);
        char host[64];
        ASSERT_EQ(node_port(pod, "app", host, sizeof(host)), 9231);
        ASSERT_STR_EQ(host, "127.0.0.1");
        ASSERT_EQ(node_port(pod, "b", host, sizeof(host)), 0);
        ASSERT_STR_EQ(host, "");
        ASSERT_EQ(node_port(pod, "none", NULL, 0), 0);
        ASSERT_EQ(node_port(NULL, "app", NULL, 0), 0);
        json_decref(pod);
    }
    p = attach_debug_container_new("node", "kdap-node-1a2b3c", "reg/node-debug:1",
                                 "app", NULL, 9229, NULL, "00ff");
    expect_sc(p, "{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"add\":"
                 "[\"KILL\"],\"drop\":[\"ALL\"]},\"readOnlyRootFilesystem\":true,"
                 "\"runAsNonRoot\":false,\"runAsUser\":0,"
                 "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}");
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "--inspect=*|--inspect-brk=*|--inspect-wait=*|--inspect-port=*") != NULL);
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "sed -n 's/^NODE_OPTIONS=//p'") != NULL);
    /* ... and only once the inspector listens (state 0A) */
    ASSERT(strstr(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                  "echo \"$m inspector opened $port $host\"") != NULL);
    ASSERT(strncmp(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
                   "m='kdap 00ff'; host='127.0.0.1'\n", 31) == 0);
    json_decref(p);
    /* markers: whole lines with the nonce only, never a finished line's
     * imitation inside another one, never an unfinished line */
    {
        char rest[64];
        const char *log = "kdap: debugging process 1: app kdap 00ff listening\n"
                          "kdap 00ff pid 1\n"
                          "kdap 0fff listening\n"
                          "kdap 00ff listeningX\n"
                          "kdap 00ff inspector opened 9229 127.0.0.1\r\n"
                          "kdap 00ff listening";
        ASSERT_EQ(attach_debug_marker(log, strlen(log), "00ff", "listening", rest,
                                    sizeof(rest)), 0);
        ASSERT_EQ(attach_debug_marker(log, strlen(log), "00ff", "pid", rest,
                                    sizeof(rest)), 1);
        ASSERT_STR_EQ(rest, "1");
        ASSERT_EQ(attach_debug_marker(log, strlen(log), "00ff", "inspector", rest,
                                    sizeof(rest)), 1);
        ASSERT_STR_EQ(rest, "opened 9229 127.0.0.1");
        ASSERT_EQ(attach_debug_marker(log, strlen(log) + 0, "00ff", "listening",
                                    rest, 4), 0);
        ASSERT_EQ(attach_debug_marker("kdap 00ff listening\n", 20, "00ff",
                                    "listening", rest, sizeof(rest)), 1);
        ASSERT_STR_EQ(rest, "");
        ASSERT_EQ(attach_debug_marker(NULL, 0, "00ff", "pid", rest, sizeof(rest)), 0);
    }
    printf("test_target: ok\n");
    return 0;
}
