/* test_probe.c - the liveness budget of a stopped process (kube/probe.c). */
#include "kube/probe.h"
#include "tests/test.h"

static json_t *pod_with(json_t *probe_new)
{
    json_t *app = json_pack("{s:s}", "name", "app");

    if (probe_new != NULL)
        json_object_set_new(app, "livenessProbe", probe_new);
    return json_pack("{s:{s:[{s:s}, o]}}", "spec", "containers", "name",
                     "sidecar", app);
}

int main(void)
{
    char desc[256];
    long sec = -1;
    json_t *p;

    /* defaults: 3 x 10 s + 1 s */
    p = pod_with(json_pack("{s:{s:i, s:s}}", "httpGet", "port", 8080, "path",
                           "/healthz"));
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 1);
    ASSERT_EQ(sec, 31);
    ASSERT_STR_EQ(desc, "httpGet :8080/healthz every 10 s, 3 failures, "
                        "1 s timeout");
    /* another container has none */
    ASSERT_EQ(kube_probe_liveness(p, "sidecar", &sec, desc, sizeof(desc)), 0);
    ASSERT_EQ(kube_probe_liveness(p, "nope", &sec, desc, sizeof(desc)), 0);
    json_decref(p);

    /* given values, a named port */
    p = pod_with(json_pack("{s:{s:s}, s:i, s:i, s:i}", "httpGet", "port",
                           "http", "periodSeconds", 2, "failureThreshold", 1,
                           "timeoutSeconds", 5));
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 1);
    ASSERT_EQ(sec, 7);
    ASSERT_STR_EQ(desc, "httpGet :http every 2 s, 1 failure, 5 s timeout");
    json_decref(p);

    /* exec and grpc fail on a stopped process too; nonsense values are
     * Kubernetes' defaults */
    p = pod_with(json_pack("{s:{s:[s]}, s:i, s:s}", "exec", "command", "true",
                           "periodSeconds", 0, "failureThreshold", "x"));
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 1);
    ASSERT_EQ(sec, 31);
    ASSERT_STR_EQ(desc, "exec every 10 s, 3 failures, 1 s timeout");
    json_decref(p);
    p = pod_with(json_pack("{s:{s:i}}", "grpc", "port", 9000));
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 1);
    ASSERT_STR_EQ(desc, "grpc :9000 every 10 s, 3 failures, 1 s timeout");
    json_decref(p);

    /* a stopped process still accepts connections: tcpSocket is harmless */
    p = pod_with(json_pack("{s:{s:i}}", "tcpSocket", "port", 8080));
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 0);
    json_decref(p);
    p = pod_with(NULL);
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 0);
    json_decref(p);
    p = json_pack("{s:s}", "spec", "x");
    ASSERT_EQ(kube_probe_liveness(p, "app", &sec, desc, sizeof(desc)), 0);
    json_decref(p);
    return 0;
}
