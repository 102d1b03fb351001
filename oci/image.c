/* image.c - see image.h. */
#define _GNU_SOURCE
#include "image.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry.h"

#define PUSH_PARALLEL 3
#define PROGRESS_EVERY_MS 250

struct layer_job {
    uv_work_t work;
    oci_push *p;
    oci_layer_spec *spec;
    struct oci_blob blob;
    int cached;
    int rc;
    struct dap_error err;
};

/* A blob of the image on its way to the target repository. */
struct item {
    oci_push *p;
    struct oci_blob b;
    const char *mount_from;   /* base repo in the same registry, or NULL */
    int copy;                 /* from the base's (other) registry */
    int index;                /* for progress: 0 config, then layers */
    uint64_t done;
};

struct oci_push {
    uv_loop_t *loop;
    struct oci_ref target, base;
    int have_base, base_same_registry;
    struct oci_platform platform;
    char **entrypoint, **env, *workdir;
    int set_entrypoint;
    char **names;
    int insecure;
    char *ca_file;
    size_t chunk;
    oci_registry *reg, *base_reg;
    struct layer_job **jobs;
    size_t n_jobs, jobs_left;
    int probes_left;           /* target (and base) registry probes */
    int base_left;             /* base manifest/config still loading */
    json_t *base_manifest;     /* the platform's manifest */
    json_t *base_config;
    struct item *items;
    size_t n_items, next_item, items_left, inflight;
    char *manifest;            /* the JSON we push */
    size_t manifest_len;
    char cache[PATH_MAX];
    uint64_t t0, t_assembled, last_progress;
    struct oci_push_stats st;
    oci_push_progress_fn *progress;
    oci_push_cb *cb;
    void *data;
    int finished;              /* the result is decided */
    int status;
    struct dap_error err;
    int freed;                 /* oci_push_free came: nothing calls back */
    uv_timer_t defer;          /* delivers the result off any stack */
    int closing;
};

static void push_release(oci_push *p);

/* ---- the end ------------------------------------------------------------- */

static void on_defer(uv_timer_t *t)
{
    oci_push *p = t->data;

    if (p->freed)
        return;
    p->cb(p->data, p->status, p->status == 0 ? &p->st : NULL,
          p->status == 0 ? NULL : &p->err);
}

static void conclude(oci_push *p, int status, const struct dap_error *e)
{
    if (p->finished)
        return;
    p->finished = 1;
    p->status = status;
    if (status < 0 && e != NULL)
        p->err = *e;
    else if (status < 0)
        dap_error_set(&p->err, status, "%s", dap_strerror(status));
    uv_timer_start(&p->defer, on_defer, 0, 0);
}

static void fail(oci_push *p, int status, const char *fmt, ...)
    DAP_PRINTF(3, 4);
static void fail(oci_push *p, int status, const char *fmt, ...)
{
    struct dap_error e;
    va_list ap;

    e.code = status;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    conclude(p, status, &e);
}

static void say(oci_push *p, int force, const char *fmt, ...) DAP_PRINTF(3, 4);
static void say(oci_push *p, int force, const char *fmt, ...)
{
    char msg[300];
    uint64_t now = uv_now(p->loop);
    va_list ap;

    if (p->progress == NULL || p->finished)
        return;
    if (!force && now - p->last_progress < PROGRESS_EVERY_MS)
        return;
    p->last_progress = now;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->progress(p->data, msg);
}

/* ---- pushing ---------------------------------------------------------------- */

static void push_next(oci_push *p);

static void on_manifest_put(void *data, int status, const struct oci_result *res,
                            const struct dap_error *err)
{
    oci_push *p = data;

    (void)res;
    if (status < 0) {
        conclude(p, status, err);
        return;
    }
    p->st.push_ms = uv_now(p->loop) - p->t_assembled;
    p->st.bytes_uploaded = oci_registry_uploaded(p->reg);
    conclude(p, 0, NULL);
}

static void put_manifest(oci_push *p)
{
    const char *ref = p->target.tag[0] ? p->target.tag : p->st.digest;
    int rc;

    say(p, 1, "pushing manifest %.19s...", p->st.digest);
    rc = oci_manifest_put(p->reg, p->target.repo, ref, p->manifest,
                          p->manifest_len, OCI_MT_MANIFEST, on_manifest_put, p);
    if (rc < 0)
        fail(p, rc, "%s", dap_strerror(rc));
}

static void item_progress(void *data, uint64_t done, uint64_t total)
{
    struct item *it = data;
    oci_push *p = it->p;

    it->done = done;
    say(p, 0, "uploading %s (%.1f of %.1f MiB)",
        it->index == 0 ? "config" : p->names[it->index - 1],
        (double)done / 1048576.0, (double)total / 1048576.0);
}

static void on_item_pushed(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err)
{
    struct item *it = data;
    oci_push *p = it->p;

    p->inflight--;
    if (p->finished)
        return;
    if (status < 0) {
        conclude(p, status, err);
        return;
    }
    if (res->exists)
        p->st.blobs_present++;
    else if (res->mounted)
        p->st.blobs_mounted++;
    else
        p->st.blobs_uploaded++;
    if (--p->items_left == 0)
        put_manifest(p);
    else
        push_next(p);
}

static void on_item_copied(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err)
{
    struct item *it = data;
    oci_push *p = it->p;
    int rc;

    (void)res;
    if (p->finished) {
        p->inflight--;
        return;
    }
    if (status < 0) {
        p->inflight--;
        conclude(p, status, err);
        return;
    }
    it->copy = 0;
    rc = oci_blob_push(p->reg, p->target.repo, &it->b, NULL, item_progress,
                       on_item_pushed, it);
    if (rc < 0) {
        p->inflight--;
        fail(p, rc, "%s", dap_strerror(rc));
    }
}

static void on_item_checked(void *data, int status, const struct oci_result *res,
                            const struct dap_error *err)
{
    struct item *it = data;
    oci_push *p = it->p;
    int rc;

    if (p->finished) {
        p->inflight--;
        return;
    }
    if (status < 0 || res->exists) {
        p->inflight++; /* on_item_pushed counts it down */
        on_item_pushed(it, status, res, err);
        p->inflight--;
        return;
    }
    /* A layer of a base in another registry: through the local cache. */
    rc = oci_blob_get(p->base_reg, p->base.repo, it->b.digest, it->b.path,
                      on_item_copied, it);
    if (rc < 0) {
        p->inflight--;
        fail(p, rc, "%s", dap_strerror(rc));
    }
}

static void push_next(oci_push *p)
{
    while (!p->finished && p->inflight < PUSH_PARALLEL &&
           p->next_item < p->n_items) {
        struct item *it = &p->items[p->next_item++];
        int rc;
        p->inflight++;
        if (it->copy)
            rc = oci_blob_head(p->reg, p->target.repo, it->b.digest,
                               on_item_checked, it);
        else
            rc = oci_blob_push(p->reg, p->target.repo, &it->b, it->mount_from,
                               item_progress, on_item_pushed, it);
        if (rc < 0) {
            p->inflight--;
            fail(p, rc, "%s", dap_strerror(rc));
            return;
        }
    }
}

static void on_tag_head(void *data, int status, const struct oci_result *res,
                        const struct dap_error *err)
{
    oci_push *p = data;

    (void)err;
    if (p->finished)
        return;
    /* The tag names this manifest already: nothing to write.  Rewriting it
     * anyway makes docker-registry answer a HEAD of it that runs meanwhile
     * (another kdap's attach of the same runtime) with HTTP 500. */
    if (status == 0 && res->http == 200 &&
        strcmp(res->digest, p->st.digest) == 0) {
        p->st.push_ms = uv_now(p->loop) - p->t_assembled;
        conclude(p, 0, NULL);
        return;
    }
    put_manifest(p);
}

static void on_manifest_head(void *data, int status, const struct oci_result *res,
                             const struct dap_error *err)
{
    oci_push *p = data;
    int rc;

    if (p->finished)
        return;
    if (status == 0 && res->http == 200) {
        /* A registry stores a manifest only with all its blobs. */
        p->st.blobs_present = (unsigned)p->n_items;
        if (p->target.tag[0]) {
            rc = oci_manifest_get(p->reg, p->target.repo, p->target.tag, 1,
                                  on_tag_head, p);
            if (rc < 0)
                fail(p, rc, "%s", dap_strerror(rc));
            return;
        }
        p->st.push_ms = uv_now(p->loop) - p->t_assembled;
        conclude(p, 0, NULL);
        return;
    }
    if (status < 0 && (res == NULL || res->http != 404)) {
        conclude(p, status, err);
        return;
    }
    p->items_left = p->n_items;
    push_next(p);
}

/* ---- assembling ---------------------------------------------------------------- */

static json_t *strv_json(char **v)
{
    json_t *a = json_array();

    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Env over the base's: a NAME= of ours replaces the base's NAME=. */
static json_t *merge_env(json_t *base, char **ours)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    json_array_foreach(base, i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = s ? strchr(s, '=') : NULL;
        int replaced = 0;
        for (size_t j = 0; eq && ours && ours[j]; j++)
            if (strncmp(ours[j], s, (size_t)(eq - s + 1)) == 0)
                replaced = 1;
        if (s != NULL && !replaced)
            json_array_append_new(out, json_string(s));
    }
    for (size_t j = 0; ours && ours[j]; j++)
        json_array_append_new(out, json_string(ours[j]));
    return out;
}

static int assemble(oci_push *p)
{
    json_t *cfg, *cc, *diff_ids, *history, *layers, *man;
    struct oci_blob cfg_blob;
    struct dap_error e;
    char *cfg_json;
    size_t i, k = 0;
    int rc;

    cfg = p->base_config ? json_deep_copy(p->base_config) : json_object();
    cc = json_object_get(cfg, "config");
    if (!json_is_object(cc)) {
        cc = json_object();
        json_object_set_new(cfg, "config", cc);
    }
    if (p->set_entrypoint) {
        json_object_set_new(cc, "Entrypoint", strv_json(p->entrypoint));
        json_object_del(cc, "Cmd");
    }
    if (p->env != NULL)
        json_object_set_new(cc, "Env",
                            merge_env(json_object_get(cc, "Env"), p->env));
    if (p->workdir != NULL)
        json_object_set_new(cc, "WorkingDir", json_string(p->workdir));
    json_object_set_new(cfg, "architecture", json_string(p->platform.arch));
    json_object_set_new(cfg, "os", json_string(p->platform.os));
    if (p->platform.variant[0])
        json_object_set_new(cfg, "variant", json_string(p->platform.variant));
    if (p->base_config == NULL)
        json_object_set_new(cfg, "created",
                            json_string("1970-01-01T00:00:00Z"));
    if (!json_is_object(json_object_get(cfg, "rootfs")))
        json_object_set_new(cfg, "rootfs",
                            json_pack("{s:s, s:[]}", "type", "layers",
                                      "diff_ids"));
    diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    history = json_object_get(cfg, "history");
    if (!json_is_array(history)) {
        history = json_array();
        json_object_set_new(cfg, "history", history);
    }
    for (i = 0; i < p->n_jobs; i++) {
        char by[300];
        json_array_append_new(diff_ids,
                              json_string(p->jobs[i]->blob.diff_id));
        snprintf(by, sizeof(by), "kdap: %s", p->names[i]);
        json_array_append_new(history,
                              json_pack("{s:s, s:s}", "created",
                                        "1970-01-01T00:00:00Z", "created_by",
                                        by));
    }
    cfg_json = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(cfg);
    if (cfg_json == NULL)
        return DAP_ENOMEM;
    rc = oci_blob_store(p->cache, cfg_json, strlen(cfg_json), OCI_MT_CONFIG,
                        &cfg_blob, &e);
    free(cfg_json);
    if (rc < 0) {
        conclude(p, rc, &e);
        return rc;
    }

    layers = json_array();
    p->n_items = 1 + json_array_size(json_object_get(p->base_manifest,
                                                     "layers")) +
                 p->n_jobs;
    p->items = calloc(p->n_items, sizeof(*p->items));
    if (p->items == NULL) {
        json_decref(layers);
        return DAP_ENOMEM;
    }
    p->items[k].p = p;
    p->items[k++].b = cfg_blob;
    {
        json_t *d;
        json_array_foreach(json_object_get(p->base_manifest, "layers"), i, d)
        {
            struct item *it = &p->items[k++];
            const char *dg = json_string_value(json_object_get(d, "digest"));
            it->p = p;
            it->index = (int)k - 1;
            snprintf(it->b.digest, sizeof(it->b.digest), "%s", dg ? dg : "");
            it->b.size = (uint64_t)json_integer_value(json_object_get(d, "size"));
            snprintf(it->b.path, sizeof(it->b.path), "%s/blobs/sha256/%s",
                     p->cache, it->b.digest + (dg ? 7 : 0));
            if (p->base_same_registry)
                it->mount_from = p->base.repo;
            else
                it->copy = 1;
            json_array_append(layers, d);
        }
    }
    for (i = 0; i < p->n_jobs; i++) {
        struct item *it = &p->items[k++];
        struct oci_blob *b = &p->jobs[i]->blob;
        it->p = p;
        it->index = (int)(i + 1);
        it->b = *b;
        json_array_append_new(layers,
                              json_pack("{s:s, s:s, s:I}", "mediaType",
                                        OCI_MT_LAYER_GZ, "digest", b->digest,
                                        "size", (json_int_t)b->size));
    }
    /* Base layers count in progress under the base's name. */
    man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
                    "mediaType", OCI_MT_MANIFEST, "config", "mediaType",
                    OCI_MT_CONFIG, "digest", cfg_blob.digest, "size",
                    (json_int_t)cfg_blob.size, "layers", layers);
    p->manifest = json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(man);
    if (p->manifest == NULL)
        return DAP_ENOMEM;
    p->manifest_len = strlen(p->manifest);
    oci_sha256(p->manifest, p->manifest_len, p->st.digest);
    snprintf(p->st.reference, sizeof(p->st.reference), "%s/%s@%s",
             p->target.registry, p->target.repo, p->st.digest);
    return 0;
}

/* Everything local is ready and the registries answered: go. */
static void maybe_ready(oci_push *p)
{
    int rc;

    if (p->finished || p->jobs_left > 0 || p->probes_left > 0 ||
        p->base_left > 0)
        return;
    rc = assemble(p);
    if (rc < 0) {
        if (!p->finished)
            fail(p, rc, "assembling the image: %s", dap_strerror(rc));
        return;
    }
    p->t_assembled = uv_now(p->loop);
    p->st.assemble_ms = p->t_assembled - p->t0;
    rc = oci_manifest_get(p->reg, p->target.repo, p->st.digest, 1,
                          on_manifest_head, p);
    if (rc < 0)
        fail(p, rc, "%s", dap_strerror(rc));
}

/* ---- layers on the thread pool ---------------------------------------------------- */

static void job_work(uv_work_t *w)
{
    struct layer_job *j = w->data;

    j->rc = oci_layer_build(j->spec, j->p->cache, &j->blob, &j->cached,
                            &j->err);
}

static void job_done(uv_work_t *w, int status)
{
    struct layer_job *j = w->data;
    oci_push *p = j->p;

    p->jobs_left--;
    if (p->freed) {
        if (p->jobs_left == 0)
            push_release(p);
        return;
    }
    if (status < 0 && j->rc == 0)
        j->rc = dap_error_set(&j->err, DAP_ECANCELLED, "cancelled");
    if (j->rc < 0) {
        conclude(p, j->rc, &j->err);
        return;
    }
    if (j->cached)
        p->st.layers_cached++;
    maybe_ready(p);
}

/* ---- the base ------------------------------------------------------------------------ */

struct json_t *oci_index_choose(struct json_t *index,
                                const struct oci_platform *want)
{
    json_t *m, *fallback = NULL;
    size_t i;

    json_array_foreach(json_object_get(index, "manifests"), i, m)
    {
        json_t *pl = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(pl, "os"));
        const char *arch = json_string_value(json_object_get(pl, "architecture"));
        const char *var = json_string_value(json_object_get(pl, "variant"));
        if (os == NULL || arch == NULL || strcmp(os, want->os) != 0 ||
            strcmp(arch, want->arch) != 0)
            continue;
        if (want->variant[0] == '\0' || (var && strcmp(var, want->variant) == 0))
            return m;
        if (fallback == NULL)
            fallback = m;
    }
    return fallback;
}

static void on_base_config(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err)
{
    oci_push *p = data;
    const char *arch;
    char ref[700];

    if (p->finished)
        return;
    if (status < 0) {
        conclude(p, status, err);
        return;
    }
    p->base_config = json_loadb(res->body ? res->body : "", res->len, 0, NULL);
    oci_ref_format(&p->base, ref, sizeof(ref));
    if (!json_is_object(p->base_config)) {
        fail(p, DAP_EPROTO, "the base image %s has a config that is not JSON",
             ref);
        return;
    }
    arch = json_string_value(json_object_get(p->base_config, "architecture"));
    if (arch != NULL && strcmp(arch, p->platform.arch) != 0) {
        fail(p, DAP_ECONFIG,
             "the base image %s is for %s, not %s: choose a base for %s/%s "
             "(or an index that has it)",
             ref, arch, p->platform.arch, p->platform.os, p->platform.arch);
        return;
    }
    p->base_left = 0;
    maybe_ready(p);
}

static void on_base_manifest(void *data, int status,
                             const struct oci_result *res,
                             const struct dap_error *err)
{
    oci_push *p = data;
    json_t *m, *cfg;
    const char *mt;
    char ref[700];
    int rc;

    if (p->finished)
        return;
    if (status < 0) {
        conclude(p, status, err);
        return;
    }
    oci_ref_format(&p->base, ref, sizeof(ref));
    m = json_loadb(res->body ? res->body : "", res->len, 0, NULL);
    mt = json_string_value(json_object_get(m, "mediaType"));
    if (mt == NULL)
        mt = res->content_type;
    if (json_object_get(m, "manifests") != NULL ||
        strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0) {
        json_t *d = oci_index_choose(m, &p->platform);
        const char *dg = json_string_value(json_object_get(d, "digest"));
        if (dg == NULL || !oci_digest_valid(dg)) {
            json_decref(m);
            fail(p, DAP_ECONFIG,
                 "the base image %s is an index without an image for "
                 "%s/%s%s%s",
                 ref, p->platform.os, p->platform.arch,
                 p->platform.variant[0] ? "/" : "", p->platform.variant);
            return;
        }
        rc = oci_manifest_get(p->base_reg, p->base.repo, dg, 0,
                              on_base_manifest, p);
        json_decref(m);
        if (rc < 0)
            fail(p, rc, "%s", dap_strerror(rc));
        return;
    }
    cfg = json_object_get(m, "config");
    if (!json_is_object(cfg) || !json_is_array(json_object_get(m, "layers")) ||
        json_string_value(json_object_get(cfg, "digest")) == NULL) {
        json_decref(m);
        fail(p, DAP_EPROTO, "the base image %s has a manifest of type %s "
             "that kdap cannot read",
             ref, mt[0] ? mt : "(none)");
        return;
    }
    p->base_manifest = m;
    rc = oci_blob_get(p->base_reg, p->base.repo,
                      json_string_value(json_object_get(cfg, "digest")), NULL,
                      on_base_config, p);
    if (rc < 0)
        fail(p, rc, "%s", dap_strerror(rc));
}

static void on_probe(void *data, int status, const struct oci_result *res,
                     const struct dap_error *err)
{
    oci_push *p = data;
    int rc;

    (void)res;
    if (p->finished)
        return;
    if (status < 0) {
        conclude(p, status, err);
        return;
    }
    if (--p->probes_left > 0)
        return;
    if (p->have_base) {
        rc = oci_manifest_get(p->base_reg, p->base.repo,
                              p->base.digest[0] ? p->base.digest
                              : p->base.tag[0]  ? p->base.tag
                                                : "latest",
                              0, on_base_manifest, p);
        if (rc < 0) {
            fail(p, rc, "%s", dap_strerror(rc));
            return;
        }
    }
    maybe_ready(p);
}

/* ---- public ----------------------------------------------------------------------------- */

static char **strv_dup(const char *const *v)
{
    size_t n = 0;
    char **o;

    if (v == NULL)
        return NULL;
    while (v[n] != NULL)
        n++;
    o = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; o != NULL && i < n; i++)
        o[i] = strdup(v[i]);
    return o;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void defer_closed(uv_handle_t *h)
{
    oci_push *p = h->data;

    p->closing = 0;
    if (p->jobs_left == 0)
        push_release(p);
}

static void push_release(oci_push *p)
{
    if (p->closing)
        return;
    for (size_t i = 0; i < p->n_jobs; i++) {
        if (p->jobs[i] != NULL)
            oci_layer_spec_free(p->jobs[i]->spec);
        free(p->jobs[i]);
    }
    free(p->jobs);
    for (size_t i = 0; p->names != NULL && i < p->n_jobs; i++)
        free(p->names[i]);
    free(p->names);
    strv_free(p->entrypoint);
    strv_free(p->env);
    free(p->workdir);
    free(p->ca_file);
    free(p->items);
    free(p->manifest);
    json_decref(p->base_manifest);
    json_decref(p->base_config);
    free(p);
}

void oci_push_free(oci_push *p)
{
    if (p == NULL)
        return;
    p->freed = 1;
    if (p->base_reg != p->reg)
        oci_registry_free(p->base_reg);
    oci_registry_free(p->reg);
    p->reg = p->base_reg = NULL;
    for (size_t i = 0; i < p->n_jobs; i++)
        if (p->jobs[i] != NULL)
            uv_cancel((uv_req_t *)&p->jobs[i]->work);
    uv_timer_stop(&p->defer);
    p->closing = 1;
    uv_close((uv_handle_t *)&p->defer, defer_closed);
}

int oci_push_start(uv_loop_t *loop, const struct oci_push_opts *o,
                   oci_push_progress_fn *progress, oci_push_cb *cb, void *data,
                   oci_push **out, struct dap_error *err)
{
    struct oci_registry_opts ro = {0};
    oci_push *p;
    size_t i;
    int rc;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        for (i = 0; i < o->n_layers; i++)
            oci_layer_spec_free(o->layers[i]);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    p->loop = loop;
    p->cb = cb;
    p->data = data;
    p->progress = progress;
    p->t0 = uv_now(loop);
    uv_timer_init(loop, &p->defer);
    p->defer.data = p;
    p->n_jobs = o->n_layers;
    p->st.layers = (unsigned)o->n_layers;
    p->jobs = calloc(o->n_layers + 1, sizeof(*p->jobs));
    p->names = calloc(o->n_layers + 1, sizeof(char *));
    rc = p->jobs && p->names ? 0 : DAP_ENOMEM;
    for (i = 0; i < o->n_layers; i++) {
        char nm[40];
        if (rc == 0 && (p->jobs[i] = calloc(1, sizeof(**p->jobs))) == NULL)
            rc = DAP_ENOMEM;
        if (rc == 0) {
            p->jobs[i]->spec = o->layers[i];
            p->jobs[i]->p = p;
            p->jobs[i]->work.data = p->jobs[i];
            snprintf(nm, sizeof(nm), "layer %zu", i + 1);
            p->names[i] = strdup(o->layer_names && o->layer_names[i]
                                     ? o->layer_names[i]
                                     : nm);
        } else {
            oci_layer_spec_free(o->layers[i]);
        }
    }
    if (rc < 0) {
        dap_error_set(err, rc, "out of memory");
        goto fail;
    }
    p->platform = o->platform;
    if (p->platform.arch[0] == '\0')
        oci_platform_local(&p->platform);
    p->set_entrypoint = o->entrypoint != NULL;
    p->entrypoint = strv_dup(o->entrypoint);
    p->env = strv_dup(o->env);
    p->workdir = o->workdir ? strdup(o->workdir) : NULL;
    p->insecure = o->insecure;
    p->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    rc = oci_ref_parse(o->target, &p->target, err);
    if (rc == 0 && p->target.digest[0])
        rc = dap_error_set(err, DAP_ECONFIG,
                           "\"%s\": push to a repository (with a tag or "
                           "not), not to a digest",
                           o->target);
    if (rc == 0 && o->base != NULL && o->base[0]) {
        p->have_base = 1;
        rc = oci_ref_parse(o->base, &p->base, err);
        if (rc < 0)
            dap_error_prefix(err, "the base image");
    }
    if (rc == 0)
        rc = oci_cache_dir(p->cache, sizeof(p->cache), err);
    if (rc < 0)
        goto fail;
    ro.host = oci_ref_api_host(&p->target);
    ro.insecure = o->insecure;
    ro.ca_file = o->ca_file;
    ro.chunk_size = o->chunk_size;
    rc = oci_registry_new(loop, &ro, &p->reg, err);
    if (rc < 0)
        goto fail;
    p->probes_left = 1;
    if (p->have_base) {
        p->base_left = 1;
        p->base_same_registry =
            strcmp(p->base.registry, p->target.registry) == 0;
        if (p->base_same_registry) {
            p->base_reg = p->reg;
        } else {
            ro.host = oci_ref_api_host(&p->base);
            rc = oci_registry_new(loop, &ro, &p->base_reg, err);
            if (rc < 0)
                goto fail;
            p->probes_left++;
        }
    }
    /* Compression on the pool while the loop talks to the registries. */
    for (i = 0; i < p->n_jobs; i++) {
        rc = uv_queue_work(loop, &p->jobs[i]->work, job_work, job_done);
        if (rc < 0) {
            dap_error_set(err, DAP_ENOMEM, "cannot queue work: %s",
                          uv_strerror(rc));
            goto fail;
        }
        p->jobs_left++;
    }
    say(p, 1, "assembling the image for %s/%s (%zu layer%s)", p->platform.os,
        p->platform.arch, p->n_jobs, p->n_jobs == 1 ? "" : "s");
    *out = p;
    rc = oci_registry_probe(p->reg, on_probe, p);
    if (rc == 0 && p->base_reg != NULL && p->base_reg != p->reg)
        rc = oci_registry_probe(p->base_reg, on_probe, p);
    if (rc < 0)
        fail(p, rc, "%s", dap_strerror(rc));
    return 0;
fail:
    rc = err ? err->code : DAP_ENOMEM;
    oci_push_free(p);
    return rc;
}

/* ---- resolving ---------------------------------------------------------------------------- */

struct oci_resolve {
    uv_loop_t *loop;
    oci_registry *reg;
    struct oci_ref ref;
    struct oci_resolved out;
    oci_resolve_cb *cb;
    void *data;
    int status;
    struct dap_error err;
    uv_timer_t defer;
    int freed;
};

static void resolve_deliver(uv_timer_t *t)
{
    oci_resolve *r = t->data;

    if (r->freed)
        return;
    r->cb(r->data, r->status, r->status == 0 ? &r->out : NULL,
          r->status == 0 ? NULL : &r->err);
}

static void resolve_end(oci_resolve *r, int status, const struct dap_error *e)
{
    r->status = status;
    if (status < 0 && e != NULL)
        r->err = *e;
    uv_timer_start(&r->defer, resolve_deliver, 0, 0);
}

static void resolve_config(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err)
{
    oci_resolve *r = data;
    json_t *cfg;

    if (status < 0) {
        resolve_end(r, status, err);
        return;
    }
    cfg = json_loadb(res->body ? res->body : "", res->len, 0, NULL);
    snprintf(r->out.arch, sizeof(r->out.arch), "%s",
             json_string_value(json_object_get(cfg, "architecture")) ?: "");
    snprintf(r->out.os, sizeof(r->out.os), "%s",
             json_string_value(json_object_get(cfg, "os")) ?: "");
    json_decref(cfg);
    resolve_end(r, 0, NULL);
}

static void resolve_manifest(void *data, int status, const struct oci_result *res,
                             const struct dap_error *err)
{
    oci_resolve *r = data;
    json_t *m;
    const char *cd;
    int rc;

    if (status < 0) {
        resolve_end(r, status, err);
        return;
    }
    snprintf(r->out.digest, sizeof(r->out.digest), "%s", res->digest);
    snprintf(r->out.reference, sizeof(r->out.reference), "%s/%s@%s",
             r->ref.registry, r->ref.repo, r->out.digest);
    m = json_loadb(res->body ? res->body : "", res->len, 0, NULL);
    cd = json_string_value(json_object_get(json_object_get(m, "config"),
                                           "digest"));
    if (cd == NULL) { /* an index: the node picks its platform */
        json_decref(m);
        resolve_end(r, 0, NULL);
        return;
    }
    rc = oci_blob_get(r->reg, r->ref.repo, cd, NULL, resolve_config, r);
    json_decref(m);
    if (rc < 0) {
        struct dap_error e;
        dap_error_set(&e, rc, "%s", dap_strerror(rc));
        resolve_end(r, rc, &e);
    }
}

static void resolve_probed(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err)
{
    oci_resolve *r = data;
    int rc;

    (void)res;
    if (status < 0) {
        resolve_end(r, status, err);
        return;
    }
    rc = oci_manifest_get(r->reg, r->ref.repo,
                          r->ref.digest[0] ? r->ref.digest
                          : r->ref.tag[0]  ? r->ref.tag
                                           : "latest",
                          0, resolve_manifest, r);
    if (rc < 0) {
        struct dap_error e;
        dap_error_set(&e, rc, "%s", dap_strerror(rc));
        resolve_end(r, rc, &e);
    }
}

int oci_resolve_start(uv_loop_t *loop, const char *ref, int insecure,
                      const char *ca_file, oci_resolve_cb *cb, void *data,
                      oci_resolve **out, struct dap_error *err)
{
    struct oci_registry_opts ro = {0};
    oci_resolve *r = calloc(1, sizeof(*r));
    int rc;

    *out = NULL;
    if (r == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    rc = oci_ref_parse(ref, &r->ref, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    ro.host = oci_ref_api_host(&r->ref);
    ro.insecure = insecure;
    ro.ca_file = ca_file;
    rc = oci_registry_new(loop, &ro, &r->reg, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->loop = loop;
    r->cb = cb;
    r->data = data;
    uv_timer_init(loop, &r->defer);
    r->defer.data = r;
    *out = r;
    rc = oci_registry_probe(r->reg, resolve_probed, r);
    if (rc < 0) {
        struct dap_error e;
        dap_error_set(&e, rc, "%s", dap_strerror(rc));
        resolve_end(r, rc, &e);
    }
    return 0;
}

static void resolve_closed(uv_handle_t *h)
{
    free(h->data);
}

void oci_resolve_free(oci_resolve *r)
{
    if (r == NULL)
        return;
    r->freed = 1;
    oci_registry_free(r->reg);
    uv_timer_stop(&r->defer);
    uv_close((uv_handle_t *)&r->defer, resolve_closed);
}
