/* test_workload.c - launch's patch of a workload and its restore
 * (kube/workload.c): the patch applied by a strategic merge of the kind the
 * API server does (replace scalars, merge objects, containers by name,
 * null deletes), then the restore, gives the spec back exactly. */
#include "kube/workload.h"
#include "tests/test.h"

/* Strategic merge, enough for these patches (containers merged by name). */
static void merge(json_t *dst, json_t *patch)
{
    const char *k;
    json_t *v;

    json_object_foreach(patch, k, v) {
        json_t *cur = json_object_get(dst, k);
        if (json_is_null(v)) {
            json_object_del(dst, k);
        } else if (json_is_object(v) && json_is_object(cur)) {
            merge(cur, v);
        } else if (json_is_array(v) && strcmp(k, "containers") == 0) {
            size_t i, j;
            json_t *p, *c;
            json_array_foreach(v, i, p) {
                json_array_foreach(cur, j, c) {
                    if (json_equal(json_object_get(c, "name"),
                                   json_object_get(p, "name")))
                        merge(c, p);
                }
            }
        } else {
            json_object_set_new(dst, k, json_deep_copy(v));
        }
    }
}

static json_t *deployment(void)
{
    json_error_t je;
    json_t *d = json_loads(
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"svc\","
        "\"generation\":4,\"annotations\":{\"team\":\"a\"}},"
        "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":["
        "{\"name\":\"sidecar\",\"image\":\"proxy:1\"},"
        "{\"name\":\"app\",\"image\":\"svc:1\",\"livenessProbe\":{"
        "\"httpGet\":{\"port\":8080},\"failureThreshold\":3,"
        "\"periodSeconds\":10},\"readinessProbe\":{\"tcpSocket\":{\"port\":"
        "8080},\"timeoutSeconds\":500}}]}}}}",
        0, &je);
    ASSERT(d != NULL);
    return d;
}

static json_t *app(json_t *d)
{
    return json_array_get(
        json_object_get(json_object_get(json_object_get(json_object_get(
                            d, "spec"), "template"), "spec"), "containers"),
        1);
}

static void round_trip(enum kube_probes mode)
{
    json_t *d = deployment(), *before = json_deep_copy(d), *p, *r;
    struct kube_workload_change ch = {"app", "reg/svc@sha256:ab", 1, mode,
                                      "s-1", "2026-12-03T17:00:00Z"};
    struct dap_error e;
    char sess[64], note[256];
    json_t *lp;

    ASSERT_OK(kube_workload_patch(d, &ch, &p, &e));
    merge(d, p);
    json_decref(p);
    ASSERT_STR_EQ(json_string_value(json_object_get(app(d), "image")),
                  "reg/svc@sha256:ab");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(d, "spec"),
                                                 "replicas")),
              1);
    lp = json_object_get(app(d), "livenessProbe");
    if (mode == KUBE_PROBES_RELAX) {
        ASSERT_EQ(json_integer_value(json_object_get(lp, "failureThreshold")),
                  100000);
        ASSERT_EQ(json_integer_value(json_object_get(lp, "timeoutSeconds")),
                  60);
        /* a timeout already longer stays */
        ASSERT_EQ(json_integer_value(json_object_get(
                      json_object_get(app(d), "readinessProbe"),
                      "timeoutSeconds")),
                  500);
    } else if (mode == KUBE_PROBES_REMOVE) {
        ASSERT_NULL(lp);
        ASSERT_NULL(json_object_get(app(d), "readinessProbe"));
    } else {
        ASSERT(json_equal(lp, app(before) ? json_object_get(app(before),
                                                            "livenessProbe")
                                          : NULL));
    }

    /* a relaunch in the same session keeps the first originals */
    ch.image = "reg/svc@sha256:cd";
    ASSERT_OK(kube_workload_patch(d, &ch, &p, &e));
    merge(d, p);
    json_decref(p);
    /* another session is refused, naming this one */
    ch.session = "s-2";
    ASSERT_EQ(kube_workload_patch(d, &ch, &p, &e), DAP_ESTATE);
    ASSERT(strstr(e.msg, "s-1") != NULL);
    ASSERT(strstr(e.msg, "2026-12-03T17:00:00Z") != NULL);

    ASSERT_EQ(kube_workload_restore(d, &r, sess, sizeof(sess), note,
                                    sizeof(note), &e),
              1);
    ASSERT_STR_EQ(sess, "s-1");
    ASSERT_STR_EQ(note, "");
    merge(d, r);
    json_decref(r);
    ASSERT(json_equal(d, before));
    /* nothing left to restore */
    ASSERT_EQ(kube_workload_restore(d, &r, sess, sizeof(sess), note,
                                    sizeof(note), &e),
              0);
    json_decref(d);
    json_decref(before);
}

int main(void)
{
    struct dap_error e;
    enum kube_probes m;
    json_t *d, *p, *r;
    char sess[64], note[256], why[256];
    struct kube_workload_change ch = {NULL, "reg/x:2", -1, KUBE_PROBES_KEEP,
                                      "s-9", "t"};

    round_trip(KUBE_PROBES_RELAX);
    round_trip(KUBE_PROBES_KEEP);
    round_trip(KUBE_PROBES_REMOVE);

    ASSERT_OK(kube_probes_parse(NULL, &m, &e));
    ASSERT_EQ(m, KUBE_PROBES_RELAX);
    ASSERT_EQ(kube_probes_parse("off", &m, &e), DAP_ECONFIG);
    ASSERT(strstr(e.msg, "\"relax\"") != NULL);

    /* no such container: the message lists them */
    d = deployment();
    ch.container = "web";
    ASSERT_EQ(kube_workload_patch(d, &ch, &p, &e), DAP_ECONFIG);
    ASSERT(strstr(e.msg, "sidecar, app") != NULL);

    /* someone else's image change during the session is kept */
    ch.container = "app";
    ASSERT_OK(kube_workload_patch(d, &ch, &p, &e));
    merge(d, p);
    json_decref(p);
    json_object_set_new(app(d), "image", json_string("svc:2"));
    ASSERT_EQ(kube_workload_restore(d, &r, sess, sizeof(sess), note,
                                    sizeof(note), &e),
              1);
    ASSERT(strstr(note, "svc:2") != NULL);
    merge(d, r);
    json_decref(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(app(d), "image")),
                  "svc:2");
    json_decref(d);

    /* rollout states */
    d = json_loads("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},"
                   "\"spec\":{\"replicas\":2},\"status\":{"
                   "\"observedGeneration\":1}}",
                   0, NULL);
    ASSERT_EQ(kube_workload_rollout(d, why, sizeof(why)),
              KUBE_ROLLOUT_PROGRESSING);
    json_object_set_new(json_object_get(d, "status"), "observedGeneration",
                        json_integer(2));
    json_object_set_new(json_object_get(d, "status"), "replicas",
                        json_integer(3));
    json_object_set_new(json_object_get(d, "status"), "updatedReplicas",
                        json_integer(2));
    ASSERT_EQ(kube_workload_rollout(d, why, sizeof(why)),
              KUBE_ROLLOUT_PROGRESSING);
    ASSERT_STR_EQ(why, "1 old replicas pending termination");
    json_object_set_new(json_object_get(d, "status"), "replicas",
                        json_integer(2));
    json_object_set_new(json_object_get(d, "status"), "availableReplicas",
                        json_integer(2));
    ASSERT_EQ(kube_workload_rollout(d, why, sizeof(why)), KUBE_ROLLOUT_DONE);
    json_object_set_new(json_object_get(d, "status"), "conditions",
                        json_pack("[{s:s, s:s}]", "reason",
                                  "ProgressDeadlineExceeded", "message",
                                  "ReplicaSet \"x\" has timed out"));
    ASSERT_EQ(kube_workload_rollout(d, why, sizeof(why)), KUBE_ROLLOUT_FAILED);
    ASSERT(strstr(why, "timed out") != NULL);
    json_decref(d);

    d = json_pack("{s:{s:[{s:s, s:{s:{s:s, s:s}}}]}}", "status",
                  "containerStatuses", "name", "app", "state", "waiting",
                  "reason", "ErrImagePull", "message", "manifest unknown");
    ASSERT_EQ(kube_workload_pod_failure(d, why, sizeof(why)), 1);
    ASSERT_STR_EQ(why, "container app: ErrImagePull: manifest unknown");
    json_decref(d);
    d = json_pack("{s:{s:[{s:s, s:{s:{s:s}}}]}}", "status",
                  "containerStatuses", "name", "app", "state", "waiting",
                  "reason", "ContainerCreating");
    ASSERT_EQ(kube_workload_pod_failure(d, why, sizeof(why)), 0);
    json_decref(d);
    return 0;
}
