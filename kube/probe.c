/* probe.c - a container's liveness probe, seen from a debugger (probe.h). */
#include <stdio.h>
#include <string.h>

#include "probe.h"

/* A probe's integer field, Kubernetes' default when absent or not >= 1. */
static long field(json_t *probe, const char *key, long def)
{
    json_t *v = json_object_get(probe, key);

    return json_is_integer(v) && json_integer_value(v) >= 1 &&
                   json_integer_value(v) <= 1000000
               ? (long)json_integer_value(v)
               : def;
}

/* ":8080/healthz", ":http" (a named port), or "" */
static void port_of(json_t *action, char *out, size_t n)
{
    json_t *port = json_object_get(action, "port");
    const char *path = json_string_value(json_object_get(action, "path"));

    if (json_is_integer(port))
        snprintf(out, n, ":%lld%s", (long long)json_integer_value(port),
                 path ? path : "");
    else if (json_is_string(port))
        snprintf(out, n, ":%s%s", json_string_value(port), path ? path : "");
    else
        snprintf(out, n, "%s", path ? path : "");
}

int kube_probe_liveness(json_t *pod, const char *container, long *seconds,
                        char *desc, size_t n)
{
    json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    json_t *c, *probe = NULL;
    size_t i;
    const char *kind;
    char where[300] = "";
    long period, failures, timeout;

    json_array_foreach(cs, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (name != NULL && container != NULL && strcmp(name, container) == 0)
            probe = json_object_get(c, "livenessProbe");
    }
    if (!json_is_object(probe) || json_object_get(probe, "tcpSocket") != NULL)
        return 0;
    if (json_object_get(probe, "httpGet") != NULL) {
        kind = "httpGet ";
        port_of(json_object_get(probe, "httpGet"), where, sizeof(where));
    } else if (json_object_get(probe, "grpc") != NULL) {
        kind = "grpc ";
        port_of(json_object_get(probe, "grpc"), where, sizeof(where));
    } else if (json_object_get(probe, "exec") != NULL) {
        kind = "exec";
    } else {
        return 0;
    }
    period = field(probe, "periodSeconds", 10);
    failures = field(probe, "failureThreshold", 3);
    timeout = field(probe, "timeoutSeconds", 1);
    *seconds = failures * period + timeout;
    snprintf(desc, n, "%s%s every %ld s, %ld failure%s, %ld s timeout", kind,
             where, period, failures, failures == 1 ? "" : "s", timeout);
    return 1;
}
