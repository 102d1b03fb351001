/* deploy.c - launch's workload operations on the API server (deploy.h). */
#define _GNU_SOURCE /* asprintf */
#include "deploy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "watch.h"
#include "workload.h"

/* PATCH `path` with the strategic merge patch `patch` (consumed). */
static int send_patch(kube_client *c, const char *path, json_t *patch,
                      kube_response_cb *cb, void *data, kube_request **req,
                      struct dap_error *err)
{
    struct kube_request_opts o = {0};
    char *text = json_dumps(patch, JSON_COMPACT);
    int rc;

    json_decref(patch);
    if (text == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    o.method = "PATCH";
    o.path = path;
    o.content_type = "application/strategic-merge-patch+json";
    o.body = text;
    o.body_len = strlen(text);
    rc = kube_request_start(c, &o, cb, data, req, err);
    free(text);
    return rc;
}

struct kube_restore {
    kube_client *client;
    char *path;
    kube_request *req;
    kube_restore_cb *cb;
    void *data;
    char session[128];
    char note[512];
};

static void finish(kube_restore *r, int status, const struct dap_error *err)
{
    kube_restore_cb *cb = r->cb;
    void *data = r->data;
    char session[128], note[512];

    memcpy(session, r->session, sizeof(session));
    memcpy(note, r->note, sizeof(note));
    r->req = NULL;
    kube_restore_free(r);
    cb(data, status, session, note, err);
}

static void on_patched(void *data, int status, long http_status, json_t *body,
                       const struct dap_error *err)
{
    (void)http_status;
    (void)body;
    finish(data, status, err);
}

static void on_got(void *data, int status, long http_status, json_t *body,
                   const struct dap_error *err)
{
    kube_restore *r = data;
    struct dap_error e = {0};
    json_t *patch = NULL;
    int rc;

    (void)http_status;
    r->req = NULL;
    if (status < 0) {
        finish(r, status, err);
        return;
    }
    rc = kube_workload_restore(body, &patch, r->session, sizeof(r->session),
                               r->note, sizeof(r->note), &e);
    if (rc <= 0) {
        finish(r, rc, &e);
        return;
    }
    rc = send_patch(r->client, r->path, patch, on_patched, r, &r->req, &e);
    if (rc < 0)
        finish(r, rc, &e);
}

int kube_restore_start(kube_client *c, const char *path, kube_restore_cb *cb,
                       void *data, kube_restore **out, struct dap_error *err)
{
    kube_restore *r = calloc(1, sizeof(*r));
    struct kube_request_opts o = {0};
    int rc;

    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    r->client = c;
    r->cb = cb;
    r->data = data;
    o.path = path;
    rc = kube_request_start(c, &o, on_got, r, &r->req, err);
    if (rc < 0) {
        free(r->path);
        free(r);
        return rc;
    }
    if (out != NULL)
        *out = r;
    return 0;
}

void kube_restore_free(kube_restore *r)
{
    if (r == NULL)
        return;
    kube_request_cancel(r->req);
    free(r->path);
    free(r);
}

/* ---- deploy -------------------------------------------------------------- */

struct kube_deploy {
    kube_client *client;
    char *ns, *name, *path;
    struct kube_workload_change ch;
    char *container, *image, *session, *since; /* ch's strings, owned */
    unsigned timeout_s;
    kube_deploy_progress_cb *progress;
    kube_deploy_done_cb *done;
    void *data;
    kube_request *req;
    kube_watch *wl_watch, *pod_watch;
    kube_restore *restore;
    uv_timer_t *timer;          /* the rollout's deadline, then on_settled */
    int settling;
    json_int_t generation;
    char selector[512];
    char last[256];             /* the rollout's last state, for a timeout */
    struct dap_error fail;      /* the failure being restored */
};

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void kube_deploy_free(kube_deploy *d)
{
    if (d == NULL)
        return;
    kube_request_cancel(d->req);
    kube_watch_free(d->wl_watch);
    kube_watch_free(d->pod_watch);
    kube_restore_free(d->restore);
    if (d->timer != NULL)
        uv_close((uv_handle_t *)d->timer, timer_closed);
    free(d->ns);
    free(d->name);
    free(d->path);
    free(d->container);
    free(d->image);
    free(d->session);
    free(d->since);
    free(d);
}

static void deploy_finish(kube_deploy *d, int status, int rolled,
                          const struct dap_error *err)
{
    kube_deploy_done_cb *cb = d->done;
    void *data = d->data;
    struct dap_error e = {0};

    if (err != NULL)
        e = *err;
    d->req = NULL;
    d->restore = NULL;
    kube_deploy_free(d);
    cb(data, status, rolled, status < 0 ? &e : NULL);
}

static void on_restored(void *data, int status, const char *session,
                        const char *note, const struct dap_error *err)
{
    kube_deploy *d = data;
    size_t l = strlen(d->fail.msg);

    (void)session;
    (void)note;
    d->restore = NULL;
    if (status < 0)
        snprintf(d->fail.msg + l, sizeof(d->fail.msg) - l,
                 "; and putting the workload back failed too (%s): run `kdap "
                 "restore -n %s deployment/%s`",
                 err ? err->msg : "?", d->ns, d->name);
    else
        snprintf(d->fail.msg + l, sizeof(d->fail.msg) - l,
                 "; the workload is back as it was");
    deploy_finish(d, d->fail.code, 1, &d->fail);
}

/* After the watches' callbacks: libcurl takes no new transfer from inside
 * one of its own callbacks, so the restore (or the end) starts from a
 * zero timer. */
static void on_settled(uv_timer_t *t)
{
    kube_deploy *d = t->data;
    struct dap_error e;

    kube_watch_free(d->wl_watch);
    kube_watch_free(d->pod_watch);
    d->wl_watch = d->pod_watch = NULL;
    if (d->fail.code == 0) {
        deploy_finish(d, 0, 1, NULL);
        return;
    }
    if (kube_restore_start(d->client, d->path, on_restored, d, &d->restore,
                           &e) < 0) {
        d->restore = NULL;
        deploy_finish(d, d->fail.code, 1, &d->fail);
    }
}

/* The rollout is over: `code` 0 done, else it cannot succeed for `why`
 * (the workload is put back first). */
static void deploy_settle(kube_deploy *d, int code, const char *why)
{
    if (d->settling++ > 0)
        return;
    d->fail.code = code;
    if (code < 0)
        snprintf(d->fail.msg, sizeof(d->fail.msg), "deployment/%s: %s",
                 d->name, why);
    uv_timer_stop(d->timer);
    uv_timer_start(d->timer, on_settled, 0, 0);
}

static void on_workload(void *data, const char *type, json_t *w)
{
    kube_deploy *d = data;
    char why[256];
    enum kube_rollout st;

    if (strcmp(type, "DELETED") == 0) {
        deploy_settle(d, DAP_ESTATE, "the deployment was deleted during the "
                                   "rollout");
        return;
    }
    if (json_integer_value(json_object_get(json_object_get(w, "metadata"),
                                           "generation")) < d->generation)
        return; /* an event from before the patch */
    st = kube_workload_rollout(w, why, sizeof(why));
    if (strcmp(why, d->last) != 0) {
        snprintf(d->last, sizeof(d->last), "%s", why);
        if (d->progress != NULL && st != KUBE_ROLLOUT_FAILED)
            d->progress(d->data, why);
    }
    if (st == KUBE_ROLLOUT_DONE)
        deploy_settle(d, 0, NULL);
    else if (st == KUBE_ROLLOUT_FAILED)
        deploy_settle(d, DAP_ETIMEDOUT, why);
}

static void on_pod(void *data, const char *type, json_t *pod)
{
    kube_deploy *d = data;
    char why[400], msg[520]; /* room for the restore's sentence after it */

    if (strcmp(type, "DELETED") == 0 || !kube_workload_pod_failure(pod, why,
                                                                   sizeof(why)))
        return;
    snprintf(msg, sizeof(msg), "pod %s: %s",
             json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                               "name")),
             why);
    deploy_settle(d, DAP_EBACKEND, msg);
}

static void on_watch_end(void *data, int status, const struct dap_error *err)
{
    kube_deploy *d = data;

    deploy_settle(d, status, err ? err->msg : "the watch ended");
}

static void on_timeout(uv_timer_t *t)
{
    kube_deploy *d = t->data;
    char why[400];

    snprintf(why, sizeof(why), "the rollout did not finish in %u s (%s)",
             d->timeout_s, d->last[0] ? d->last : "no progress");
    deploy_settle(d, DAP_ETIMEDOUT, why);
}

static void on_deploy_patched(void *data, int status, long http_status,
                              json_t *body, const struct dap_error *err)
{
    kube_deploy *d = data;
    struct kube_watch_opts wo;
    struct dap_error e;
    char wpath[320], fsel[300], pod_path[320], why[256], msg[300];
    json_t *md = json_object_get(body, "metadata");

    (void)http_status;
    d->req = NULL;
    if (status < 0) {
        deploy_finish(d, status, 0, err);
        return;
    }
    d->generation = json_integer_value(json_object_get(md, "generation"));
    snprintf(msg, sizeof(msg), "patched, generation %lld",
             (long long)d->generation);
    if (d->progress != NULL)
        d->progress(d->data, msg);
    if (kube_workload_rollout(body, why, sizeof(why)) == KUBE_ROLLOUT_DONE) {
        deploy_finish(d, 0, 0, NULL); /* the pods already run this */
        return;
    }
    snprintf(wpath, sizeof(wpath), "/apis/apps/v1/namespaces/%s/deployments",
             d->ns);
    snprintf(fsel, sizeof(fsel), "metadata.name=%s", d->name);
    memset(&wo, 0, sizeof(wo));
    wo.path = wpath;
    wo.field_selector = fsel;
    if (kube_watch_start(d->client, &wo, on_workload, on_watch_end, d,
                         &d->wl_watch, &e) < 0) {
        d->wl_watch = NULL;
        deploy_settle(d, e.code, e.msg);
        return;
    }
    snprintf(pod_path, sizeof(pod_path), "/api/v1/namespaces/%s/pods", d->ns);
    memset(&wo, 0, sizeof(wo));
    wo.path = pod_path;
    wo.label_selector = d->selector;
    if (kube_watch_start(d->client, &wo, on_pod, on_watch_end, d,
                         &d->pod_watch, &e) < 0) {
        d->pod_watch = NULL;
        deploy_settle(d, e.code, e.msg);
        return;
    }
    uv_timer_start(d->timer, on_timeout, (uint64_t)d->timeout_s * 1000, 0);
}

static void on_deploy_got(void *data, int status, long http_status,
                          json_t *body, const struct dap_error *err)
{
    kube_deploy *d = data;
    struct dap_error e;
    json_t *patch;
    int rc;

    (void)http_status;
    d->req = NULL;
    if (status < 0) {
        deploy_finish(d, status, 0, err);
        return;
    }
    if (kube_workload_selector(body, d->selector, sizeof(d->selector)) < 0) {
        dap_error_set(&e, DAP_ECONFIG,
                      "deployment/%s has no spec.selector.matchLabels",
                      d->name);
        deploy_finish(d, e.code, 0, &e);
        return;
    }
    rc = kube_workload_patch(body, &d->ch, &patch, &e);
    if (rc < 0) {
        dap_error_prefix(&e, "deployment/%s", d->name);
        deploy_finish(d, rc, 0, &e);
        return;
    }
    rc = send_patch(d->client, d->path, patch, on_deploy_patched, d, &d->req,
                    &e);
    if (rc < 0)
        deploy_finish(d, rc, 0, &e);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int kube_deploy_start(kube_client *c, const struct kube_deploy_opts *o,
                      kube_deploy_progress_cb *progress,
                      kube_deploy_done_cb *done, void *data, kube_deploy **out,
                      struct dap_error *err)
{
    kube_deploy *d = calloc(1, sizeof(*d));
    struct kube_request_opts ro = {0};

    if (d == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    d->client = c;
    d->ns = strdup(o->ns);
    d->name = strdup(o->name);
    d->container = dup_or_null(o->change.container);
    d->image = dup_or_null(o->change.image);
    d->session = dup_or_null(o->change.session);
    d->since = dup_or_null(o->change.since);
    d->ch = o->change;
    d->ch.container = d->container;
    d->ch.image = d->image;
    d->ch.session = d->session;
    d->ch.since = d->since;
    d->timeout_s = o->timeout_s ? o->timeout_s : 120;
    d->progress = progress;
    d->done = done;
    d->data = data;
    d->timer = malloc(sizeof(*d->timer));
    if (d->timer != NULL) {
        uv_timer_init(kube_client_loop(c), d->timer);
        d->timer->data = d;
    }
    if (d->timer == NULL || d->ns == NULL || d->name == NULL ||
        asprintf(&d->path, "/apis/apps/v1/namespaces/%s/deployments/%s",
                 o->ns, o->name) < 0) {
        d->path = NULL;
        kube_deploy_free(d);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    ro.path = d->path;
    if (kube_request_start(c, &ro, on_deploy_got, d, &d->req, err) < 0) {
        d->req = NULL;
        kube_deploy_free(d);
        return err ? err->code : DAP_EINVAL;
    }
    if (out != NULL)
        *out = d;
    return 0;
}
