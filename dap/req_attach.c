/* req_attach.c - "The attach request is sent from the client to the debug
 * adapter to attach to a debuggee that is already running."
 *
 * Arguments: one service at the top level, or `services: [...]`.  Each
 * service names a runtime and what to attach to; every service is checked
 * before any backend starts, so a typo in the third service does not leave
 * the first two attached.  All services attach in parallel; the response
 * (and the `initialized` event before it) comes when all are ready, or the
 * first failure, after which the others are detached again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/adapter.h"
#include "../kube/client.h"
#include "../kube/config.h"
#include "log.h"
#include "session_int.h"

/* Check one service object and create it.  `index` is -1 for a top-level
 * single service. */
/* The cluster of this session, as kubectl would find it, with the attach
 * request's kubeconfig/context/namespace keys taking precedence. */
static int connect_cluster(dap_session *s, json_t *top, struct dap_error *err)
{
    struct kube_load_opts o = {0};
    struct kube_config *cfg = NULL;
    const char *keys[] = {"kubeconfig", "context", "namespace"};
    int rc;

    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(top, keys[i]);
        if (v != NULL && !json_is_string(v))
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"%s\" must be a string", keys[i]);
    }
    o.kubeconfig = json_string_value(json_object_get(top, "kubeconfig"));
    o.context = json_string_value(json_object_get(top, "context"));
    o.ns = json_string_value(json_object_get(top, "namespace"));
    rc = kube_config_load(&o, &cfg, err);
    if (rc < 0)
        return rc;
    rc = kube_client_new(s->loop, cfg, &s->kube, err);
    if (rc < 0)
        return rc;
    DAP_LOGI("cluster: context %s, namespace %s, server %s",
             kube_client_config(s->kube)->context,
             kube_client_config(s->kube)->namespace,
             kube_client_config(s->kube)->server);
    return 0;
}

static int add_service(dap_session *s, json_t *top, json_t *cfg, int index,
                       struct dap_error *err)
{
    char where[64];
    char defname[32];
    const char *name;
    const char *runtime;
    const char *connect;
    const char *target;
    json_t *jname = json_object_get(cfg, "name");
    json_t *jrt = json_object_get(cfg, "runtime");

    if (index >= 0)
        snprintf(where, sizeof(where), "services[%d]", index);
    else
        snprintf(where, sizeof(where), "attach");
    if (!json_is_object(cfg))
        return dap_error_set(err, DAP_ECONFIG,
                             "%s must be an object with at least "
                             "\"connect\" or \"target\"",
                             where);
    if (jname != NULL && !json_is_string(jname))
        return dap_error_set(err, DAP_ECONFIG, "%s: \"name\" must be a string",
                             where);
    if (jrt != NULL && !json_is_string(jrt))
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: \"runtime\" must be a string (one of %s)",
                             where, adapter_kind_names());
    connect = json_string_value(json_object_get(cfg, "connect"));
    target = json_string_value(json_object_get(cfg, "target"));
    if (json_object_get(cfg, "connect") != NULL && connect == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: \"connect\" must be a string \"HOST:PORT\"",
                             where);
    snprintf(defname, sizeof(defname), "service-%d", index < 0 ? 1 : index + 1);
    name = jname != NULL ? json_string_value(jname)
                         : (target != NULL ? target : defname);
    for (size_t i = 0; i < s->nsvc; i++) {
        if (strcmp(s->svc[i]->name, name) == 0)
            return dap_error_set(err, DAP_ECONFIG,
                                 "%s: two services are named \"%s\"; give "
                                 "each a unique \"name\"",
                                 where, name);
    }
    if (connect == NULL && target == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: nothing to attach to: set \"connect\": "
                             "\"HOST:PORT\" (a debugger that listens, e.g. "
                             "dlv --headless) or \"target\" (a workload in "
                             "the cluster)",
                             where);
    if (connect != NULL && target != NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: give either \"connect\" (a debugger that "
                             "listens) or \"target\" (a workload in the "
                             "cluster), not both",
                             where);
    runtime = jrt != NULL ? json_string_value(jrt)
                          : (connect != NULL ? "go" : NULL);
    if (runtime != NULL && adapter_kind_find(runtime) == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: unknown runtime \"%s\": use one of %s",
                             where, runtime, adapter_kind_names());
    /* Where the debugger images go is the session's, unless a service
     * says otherwise. */
    if (cfg != top) {
        static const char *const image_keys[] = {
            "imageRepo", "imageInsecure", "imageCA", "debuggerBinaries"};
        for (size_t i = 0; i < sizeof(image_keys) / sizeof(image_keys[0]); i++)
            if (json_object_get(cfg, image_keys[i]) == NULL &&
                json_object_get(top, image_keys[i]) != NULL)
                json_object_set(cfg, image_keys[i],
                                json_object_get(top, image_keys[i]));
    }
    if (target != NULL && s->kube == NULL) {
        int rc = connect_cluster(s, top, err);
        if (rc < 0)
            return rc;
    }
    if (dap__service_add(s, name, runtime, cfg,
                         connect != NULL ? connect : target, err) < 0)
        return dap_error_prefix(err, "%s (service \"%s\")", where, name);
    return 0;
}

int dap__req_attach(dap_session *s, struct dap_request *req, json_t *args,
                    json_t **body)
{
    json_t *services = json_object_get(args, "services");
    int rc = 0;

    (void)body;
    if (s->state == SS_NEW)
        return dap_error_set(&req->err, DAP_ESTATE,
                             "send initialize before attach");
    if (s->state != SS_READY)
        return dap_error_set(&req->err, DAP_ESTATE,
                             "the session is already attached; start a new "
                             "session to attach again");
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->state != SVC_GONE)
            return dap_error_set(&req->err, DAP_ESTATE,
                                 "the previous attach is still detaching; "
                                 "try again in a moment");
    }
    dap__services_drop(s);

    if (services != NULL) {
        if (!json_is_array(services) || json_array_size(services) == 0)
            return dap_error_set(&req->err, DAP_ECONFIG,
                                 "\"services\" must be a non-empty array of "
                                 "service objects, each with \"connect\" "
                                 "(HOST:PORT) or \"target\"");
        for (size_t i = 0; i < json_array_size(services) && rc == 0; i++)
            rc = add_service(s, args, json_array_get(services, i), (int)i,
                             &req->err);
    } else {
        rc = add_service(s, args, args, -1, &req->err);
    }
    if (rc < 0) {
        dap__services_drop(s);
        return rc;
    }
    dap__set_state(s, SS_ATTACHING);
    s->attach_req = req;
    dap__service_start_all(s);
    return DAP_PENDING;
}

int dap__req_launch(dap_session *s, struct dap_request *req, json_t *args,
                    json_t **body)
{
    (void)s;
    (void)args;
    (void)body;
    return dap_error_set(&req->err, DAP_EUNSUPPORTED,
                         "launch (build, push and deploy) is not available "
                         "in this build yet; use \"request\": \"attach\"");
}
