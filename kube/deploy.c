/* deploy.c - launch's workload operations on the API server (deploy.h). */
#include "deploy.h"

#include <stdlib.h>
#include <string.h>

#include "workload.h"

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
    struct kube_request_opts o = {0};
    struct dap_error e = {0};
    json_t *patch = NULL;
    char *text;
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
    text = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    o.method = "PATCH";
    o.path = r->path;
    o.content_type = "application/strategic-merge-patch+json";
    o.body = text;
    o.body_len = text ? strlen(text) : 0;
    rc = kube_request_start(r->client, &o, on_patched, r, &r->req, &e);
    free(text);
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
