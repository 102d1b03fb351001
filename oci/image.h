/* image.h - assemble an image and push it: a base (none, or any image by
 * reference, its platform chosen from an index) plus layers made from
 * local files, with entrypoint, environment and working directory.
 *
 * Design notes.
 * - Layers build on libuv's thread pool (one work item per layer, so two
 *   cores compress two layers), while the loop probes the registries and
 *   reads the base; nothing blocks the loop.
 * - The result is deterministic: the same inputs give the same manifest
 *   digest.  Pushing first asks for that manifest: when the registry has
 *   it, it has every blob too, and nothing is uploaded.  Otherwise each
 *   blob is checked (HEAD) and only missing ones are sent; a base layer in
 *   another repository of the same registry is mounted, one from another
 *   registry is copied through the local cache.
 * - The image goes out by digest (REPO@sha256:...), and under a tag too
 *   when the target reference names one.
 */
#ifndef KDAP_OCI_IMAGE_H
#define KDAP_OCI_IMAGE_H

#include <stdint.h>

#include <uv.h>

#include "../dap/err.h"
#include "layer.h"
#include "ref.h"

typedef struct oci_push oci_push;

struct oci_push_opts {
    const char *target;        /* "REGISTRY/REPO[:TAG]" */
    const char *base;          /* NULL: no base */
    struct oci_platform platform;
    oci_layer_spec **layers;   /* taken (also on failure), n_layers of them */
    size_t n_layers;
    const char *const *layer_names; /* for history and progress, or NULL */
    const char *const *entrypoint;  /* NULL-ended, or NULL: the base's */
    const char *const *env;         /* NAME=VALUE, NULL-ended, over the base's */
    const char *workdir;            /* NULL: the base's */
    int insecure;              /* plain http / unverified TLS allowed */
    const char *ca_file;       /* PEM bundle for the registries' TLS */
    size_t chunk_size;         /* 0: registry.h's default */
};

struct oci_push_stats {
    char reference[600];       /* "REGISTRY/REPO@sha256:..." */
    char digest[72];           /* the manifest's */
    uint64_t assemble_ms;      /* layers and config ready */
    uint64_t push_ms;          /* from then until the manifest is there */
    uint64_t bytes_uploaded;
    unsigned blobs_uploaded, blobs_mounted, blobs_present;
    unsigned layers, layers_cached; /* built, of them from the cache */
};

/* status 0 or a negative code with err. */
typedef void oci_push_cb(void *data, int status, const struct oci_push_stats *st,
                         const struct dap_error *err);
/* Progress: a sentence for the user ("uploading layer 2/2, 3.1 of 9.0
 * MiB"), at most a few times a second. */
typedef void oci_push_progress_fn(void *data, const char *msg);

/* Start.  Returns 0 (cb runs once, from the loop, unless oci_push_free
 * comes first) or an error with detail (nothing runs). */
int oci_push_start(uv_loop_t *loop, const struct oci_push_opts *o,
                   oci_push_progress_fn *progress, oci_push_cb *cb, void *data,
                   oci_push **out, struct dap_error *err) DAP_WUR;
/* Cancel (no callback) and release; layer builds still running on the
 * thread pool finish first, then their memory goes.  NULL is a no-op.
 * Not from inside this push's callbacks. */
void oci_push_free(oci_push *p);

/* Choose the manifest for `p` from an index (borrowed JSON).  Returns the
 * descriptor (borrowed) or NULL. */
struct json_t;
struct json_t *oci_index_choose(struct json_t *index,
                                const struct oci_platform *p);

/* ---- resolving a reference ----------------------------------------------- */

typedef struct oci_resolve oci_resolve;

struct oci_resolved {
    char reference[600];   /* "REGISTRY/REPO@sha256:..." (the tag's target) */
    char digest[72];
    char arch[32];         /* the image's architecture; "" for an index */
    char os[32];
};
typedef void oci_resolve_cb(void *data, int status, const struct oci_resolved *r,
                            const struct dap_error *err);

/* Resolve `ref` (a tag or a digest) to its manifest digest and, for a
 * single-platform image, its architecture (from its config).  Returns 0
 * (cb later, from the loop) or an error with detail. */
int oci_resolve_start(uv_loop_t *loop, const char *ref, int insecure,
                      const char *ca_file, oci_resolve_cb *cb, void *data,
                      oci_resolve **out, struct dap_error *err) DAP_WUR;
/* No callback.  NULL is a no-op.  Not from inside its callback. */
void oci_resolve_free(oci_resolve *r);

#endif
