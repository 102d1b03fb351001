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
#include <time.h>
#include <unistd.h>

#include "../adapters/adapter.h"
#include "../kube/client.h"
#include "../kube/config.h"
#include "log.h"
#include "session_int.h"

/* ---- the cluster ------------------------------------------------------- */

/* Loading the kubeconfig (files, a YAML parse, CA and key files) runs in
 * libuv's thread pool: a slow disk must not stall the session.
 * IMPORTANT: the session may end meanwhile; it then sets `s` to NULL and
 * the load only cleans up after itself. */
struct dap_cluster_load {
    uv_work_t work;
    dap_session *s;
    char *keys[3]; /* kubeconfig, context, namespace: copies, or NULL */
    struct kube_config *cfg;
    int rc;
    struct dap_error err;
};

static const char *const cluster_keys[] = {"kubeconfig", "context",
                                           "namespace"};

static void load_work(uv_work_t *w)
{
    struct dap_cluster_load *l = w->data;
    struct kube_load_opts o = {0};

    o.kubeconfig = l->keys[0];
    o.context = l->keys[1];
    o.ns = l->keys[2];
    l->rc = kube_config_load(&o, &l->cfg, &l->err);
}

static void load_free(struct dap_cluster_load *l)
{
    kube_config_free(l->cfg);
    for (size_t i = 0; i < 3; i++)
        free(l->keys[i]);
    free(l);
}

static void load_done(uv_work_t *w, int status)
{
    struct dap_cluster_load *l = w->data;
    dap_session *s = l->s;
    struct dap_request *req;
    int rc = l->rc;

    if (s == NULL || status < 0) {
        load_free(l);
        return;
    }
    s->cluster_load = NULL;
    req = s->attach_req;
    if (req == NULL) { /* cancelled meanwhile (shutdown answered it) */
        load_free(l);
        return;
    }
    if (rc == 0) {
        rc = kube_client_new(s->loop, l->cfg, &s->kube, &l->err);
        l->cfg = NULL; /* the client's now, also when it failed */
    }
    if (rc < 0) {
        s->attach_req = NULL;
        dap__services_drop(s);
        dap__set_state(s, SS_READY);
        dap__respond_err(s, req, rc, "%s", l->err.msg);
        load_free(l);
        return;
    }
    load_free(l);
    DAP_LOGI("cluster: context %s, namespace %s, server %s",
             kube_client_config(s->kube)->context,
             kube_client_config(s->kube)->namespace,
             kube_client_config(s->kube)->server);
    dap__service_start_all(s);
}

void dap__attach_detach(dap_session *s)
{
    if (s->cluster_load == NULL)
        return;
    s->cluster_load->s = NULL;
    uv_cancel((uv_req_t *)&s->cluster_load->work); /* fails once running */
    s->cluster_load = NULL;
}

/* The cluster of this session, as kubectl would find it, with the attach
 * request's kubeconfig/context/namespace keys taking precedence: start
 * loading it; the services start when it is there. */
static int load_cluster(dap_session *s, json_t *top, struct dap_error *err)
{
    struct dap_cluster_load *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(top, cluster_keys[i]));
        if (v != NULL && (l->keys[i] = strdup(v)) == NULL) {
            load_free(l);
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        }
    }
    l->s = s;
    l->work.data = l;
    rc = uv_queue_work(s->loop, &l->work, load_work, load_done);
    if (rc < 0) {
        load_free(l);
        return dap_error_set(err, rc, "cannot read the kubeconfig: %s",
                             uv_strerror(rc));
    }
    s->cluster_load = l;
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
        snprintf(where, sizeof(where), s->launching ? "launch" : "attach");
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
                             "\"HOST:PORT\" (a debugger that listens) or "
                             "\"target\" (a workload in the cluster)",
                             where);
    if (connect != NULL && target != NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: give either \"connect\" (a debugger that "
                             "listens) or \"target\" (a workload in the "
                             "cluster), not both",
                             where);
    runtime = jrt != NULL ? json_string_value(jrt)
                          : (connect != NULL ? adapter_kind_fallback()->runtime
                                             : NULL);
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
    if (dap__service_add(s, name, runtime, cfg,
                         connect != NULL ? connect : target, err) < 0 ||
        (s->launching &&
         dap__launch_init(s, s->svc[s->nsvc - 1], cfg, err) < 0))
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
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(args, cluster_keys[i]);
        if (v != NULL && !json_is_string(v))
            return dap_error_set(&req->err, DAP_ECONFIG,
                                 "\"%s\" must be a string", cluster_keys[i]);
    }

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
    for (size_t i = 0; i < s->nsvc && s->kube == NULL && rc == 0; i++) {
        if (s->svc[i]->cfg != NULL &&
            json_object_get(s->svc[i]->cfg, "target") != NULL) {
            rc = load_cluster(s, args, &req->err);
            break;
        }
    }
    if (rc < 0) {
        dap__services_drop(s);
        return rc;
    }
    dap__set_state(s, SS_ATTACHING);
    s->attach_req = req;
    if (s->cluster_load == NULL)
        dap__service_start_all(s);
    return DAP_PENDING;
}

/* launch: attach's keys plus image, replicas and probes; each service's
 * deployment is patched and rolled out first (kube/deploy.c) and put back
 * when the session ends. */
int dap__req_launch(dap_session *s, struct dap_request *req, json_t *args,
                    json_t **body)
{
    int rc;

    if (s->launch_id[0] == '\0')
        snprintf(s->launch_id, sizeof(s->launch_id), "kdap-%ld-%ld",
                 (long)getpid(), (long)time(NULL));
    s->launching = 1;
    rc = dap__req_attach(s, req, args, body);
    s->launching = 0;
    return rc;
}
