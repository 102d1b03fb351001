/* image.c - see cmd.h: kdap image debugger, kdap image push. */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "../adapters/adapter.h"
#include "../attach/image.h"
#include "../oci/image.h"

struct run {
    uv_loop_t loop;
    oci_push *push;
    int status;
    int quiet;
};

static void on_progress(void *data, const char *msg)
{
    struct run *r = data;

    if (!r->quiet)
        fprintf(stderr, "kdap: %s\n", msg);
}

static void on_done(void *data, int status, const struct oci_push_stats *st,
                    const struct dap_error *err)
{
    struct run *r = data;

    r->status = status;
    if (status < 0) {
        fprintf(stderr, "kdap: %s\n", err->msg);
        return;
    }
    fprintf(stderr,
            "kdap: pushed %s: assembled in %llu ms (%u of %u layers from the "
            "cache), pushed in %llu ms: %s\n",
            st->reference, (unsigned long long)st->assemble_ms,
            st->layers_cached, st->layers,
            (unsigned long long)st->push_ms,
            st->bytes_uploaded == 0 && st->blobs_uploaded == 0
                ? "nothing uploaded (the registry had it)"
                : "uploaded");
    fprintf(stderr,
            "kdap: blobs: %u uploaded (%llu bytes), %u mounted, %u already "
            "there\n",
            st->blobs_uploaded, (unsigned long long)st->bytes_uploaded,
            st->blobs_mounted, st->blobs_present);
    printf("%s\n", st->reference);
    fflush(stdout);
}

/* --debugger PATH is the runtime's debugger binary: its profile's key in
 * debuggerBinaries, or NULL (an image without one ignores it). */
static const char *debugger_key(const char *runtime)
{
    const struct adapter_kind *k = adapter_kind_find(runtime);

    return k != NULL ? k->image_binary : NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kdap image debugger --runtime RUNTIME --repo REPO\n"
            "                           [--platform linux/ARCH] [--insecure]"
            " [--ca FILE]\n"
            "                           [--debugger PATH] [--busybox PATH]\n"
            "       kdap image push SRC[:DEST]... --repo REPO[:TAG] [--base "
            "REF]\n"
            "                       [--platform OS/ARCH] [--entrypoint ARG]..."
            " [--env N=V]...\n"
            "                       [--workdir DIR] [--insecure] [--ca FILE]\n"
            "                       [--chunk-size BYTES]\n"
            "\n"
            "Builds an image with no container daemon and pushes it; prints\n"
            "REPO@sha256:... on stdout.  Credentials are found as docker and\n"
            "podman find them.  A directory SRC goes to DEST (default /), a\n"
            "file to DEST (default /NAME).  Blobs larger than --chunk-size\n"
            "(default 32 MiB) are uploaded in chunks of that size.\n"
            "RUNTIME: %s.\n",
            adapter_kind_names());
}

static int finish_run(struct run *r, int rc, struct dap_error *err)
{
    if (rc < 0) {
        fprintf(stderr, "kdap: %s\n", err->msg);
        r->status = rc;
    } else {
        uv_run(&r->loop, UV_RUN_DEFAULT);
    }
    oci_push_free(r->push);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    return r->status < 0 ? 1 : 0;
}

static int add_src(oci_layer_spec *s, const char *arg, struct dap_error *err)
{
    char src[4096], dst[4096];
    const char *colon = strrchr(arg, ':');
    struct stat st;
    int rc;

    if (colon != NULL && colon[1] == '/') {
        snprintf(src, sizeof(src), "%.*s", (int)(colon - arg), arg);
        snprintf(dst, sizeof(dst), "%s", colon + 1);
    } else {
        snprintf(src, sizeof(src), "%s", arg);
        dst[0] = '\0';
    }
    if (stat(src, &st) < 0)
        return dap_error_set(err, DAP_ECONFIG, "%s: no such file or directory",
                             src);
    if (dst[0] == '\0') {
        const char *base = strrchr(src, '/');
        if (S_ISDIR(st.st_mode))
            snprintf(dst, sizeof(dst), "/");
        else
            snprintf(dst, sizeof(dst), "/%s", base ? base + 1 : src);
    }
    rc = oci_layer_add_tree(s, dst, src, err);
    return rc;
}

int cmd_image_main(int argc, char **argv)
{
    struct run r = {0};
    struct dap_error err = {0};
    const char *runtime = NULL, *repo = NULL, *platform = NULL, *base = NULL;
    const char *ca = NULL, *debugger = NULL, *busybox = NULL, *workdir = NULL;
    const char *chunk = NULL;
    const char **ents = calloc((size_t)argc + 1, sizeof(char *));
    const char **envs = calloc((size_t)argc + 1, sizeof(char *));
    const char **srcs = calloc((size_t)argc + 1, sizeof(char *));
    size_t ne = 0, nv = 0, ns = 0;
    int insecure = 0, rc, debug_cmd;
    struct oci_platform plat;

    if (argc < 3 || ents == NULL || envs == NULL || srcs == NULL ||
        (strcmp(argv[2], "debugger") != 0 && strcmp(argv[2], "push") != 0)) {
        usage(stderr);
        free(ents);
        free(envs);
        free(srcs);
        return 2;
    }
    debug_cmd = strcmp(argv[2], "debugger") == 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, var)                                                         \
    if (strcmp(a, name) == 0 && v != NULL) {                                   \
        var = v;                                                               \
        i++;                                                                   \
        continue;                                                              \
    }
        OPT("--runtime", runtime);
        OPT("--repo", repo);
        OPT("--platform", platform);
        OPT("--base", base);
        OPT("--ca", ca);
        OPT("--debugger", debugger);
        OPT("--busybox", busybox);
        OPT("--workdir", workdir);
        OPT("--chunk-size", chunk);
#undef OPT
        if (strcmp(a, "--entrypoint") == 0 && v != NULL) {
            ents[ne++] = v;
            i++;
        } else if (strcmp(a, "--env") == 0 && v != NULL) {
            envs[nv++] = v;
            i++;
        } else if (strcmp(a, "--insecure") == 0) {
            insecure = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            r.quiet = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (a[0] == '-') {
            fprintf(stderr, "kdap image: unknown option %s\n", a);
            usage(stderr);
            rc = 2;
            goto out;
        } else {
            srcs[ns++] = a;
        }
    }
    if (repo == NULL || (debug_cmd && (runtime == NULL || ns > 0)) ||
        (!debug_cmd && ns == 0)) {
        usage(stderr);
        rc = 2;
        goto out;
    }
    memset(&plat, 0, sizeof(plat));
    if (platform != NULL && oci_platform_parse(platform, &plat, &err) < 0) {
        fprintf(stderr, "kdap: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    if (platform == NULL)
        oci_platform_local(&plat);
    uv_loop_init(&r.loop);
    if (debug_cmd) {
        json_t *bins = json_object();
        struct attach_image_opts o = {0};
        if (busybox != NULL)
            json_object_set_new(bins, "busybox", json_string(busybox));
        if (debugger != NULL && debugger_key(runtime) != NULL)
            json_object_set_new(bins, debugger_key(runtime),
                                json_string(debugger));
        o.runtime = runtime;
        o.repo = repo;
        o.binaries = bins;
        o.arch = plat.arch;
        o.insecure = insecure;
        o.ca_file = ca;
        rc = attach_image_start(&r.loop, &o, on_progress, on_done, &r, &r.push,
                                &err);
        json_decref(bins);
    } else {
        struct oci_push_opts o = {0};
        oci_layer_spec *layer = NULL;
        static const char *const names[] = {"files"};
        rc = oci_layer_spec_new(&layer);
        for (size_t i = 0; rc == 0 && i < ns; i++)
            rc = add_src(layer, srcs[i], &err);
        if (rc < 0) {
            oci_layer_spec_free(layer);
            if (err.msg[0] == '\0')
                dap_error_set(&err, rc, "%s", dap_strerror(rc));
        } else {
            o.target = repo;
            o.base = base;
            o.platform = plat;
            o.layers = &layer;
            o.n_layers = 1;
            o.layer_names = names;
            o.entrypoint = ne > 0 ? ents : NULL;
            o.env = nv > 0 ? envs : NULL;
            o.workdir = workdir;
            o.insecure = insecure;
            o.ca_file = ca;
            o.chunk_size = chunk ? strtoul(chunk, NULL, 10) : 0;
            rc = oci_push_start(&r.loop, &o, on_progress, on_done, &r, &r.push,
                                &err);
        }
    }
    rc = finish_run(&r, rc, &err);
out:
    free(ents);
    free(envs);
    free(srcs);
    return rc;
}
