/* image.c - see image.h. */
#include "image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/adapter.h"
#include "../oci/debugger.h"

static int binary_key(json_t *bins, const char *key, const char **out,
                      struct dap_error *err)
{
    json_t *v = json_object_get(bins, key);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "debuggerBinaries.%s must be the path of a local "
                             "%s binary",
                             key, key);
    *out = json_string_value(v);
    return 0;
}

int attach_image_start(uv_loop_t *loop, const struct attach_image_opts *o,
                       oci_push_progress_fn *progress, oci_push_cb *cb,
                       void *data, oci_push **out, struct dap_error *err)
{
    const struct adapter_kind *k = adapter_kind_find(o->runtime);
    struct oci_debugger_profile prof = {0};
    struct oci_debugger_binaries bin = {0};
    struct oci_push_opts po = {0};
    struct oci_ref repo;
    const char *key;
    char target[600];
    int rc;

    *out = NULL;
    if (k == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "unknown runtime \"%s\": use one of %s",
                             o->runtime, adapter_kind_names());
    if (o->binaries != NULL && !json_is_object(o->binaries))
        return dap_error_set(err, DAP_ECONFIG,
                             "debuggerBinaries must be an object such as "
                             "{\"%s\": \"/path/to/%s\", \"busybox\": "
                             "\"/bin/busybox\"}",
                             k->image_binary ? k->image_binary : "busybox",
                             k->image_binary ? k->image_binary : "busybox");
    {
        /* A key no runtime has is a mistake worth saying (another
         * runtime's is not: one object may serve several services). */
        const char *kk;
        json_t *vv;
        json_object_foreach(o->binaries, kk, vv)
        {
            const struct adapter_kind *ok;
            int known = strcmp(kk, "busybox") == 0 || strcmp(kk, "gate") == 0;
            char keys[200] = "";
            for (size_t i = 0; (ok = adapter_kind_at(i)) != NULL; i++) {
                if (ok->image_binary == NULL)
                    continue;
                known |= strcmp(kk, ok->image_binary) == 0;
                snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys),
                         "%s, ", ok->image_binary);
            }
            if (!known)
                return dap_error_set(err, DAP_ECONFIG,
                                     "debuggerBinaries.%s: unknown key (use "
                                     "%sgate or busybox)",
                                     kk, keys);
        }
    }
    rc = oci_repo_parse(o->repo, &repo, err);
    if (rc < 0)
        return dap_error_prefix(err, "imageRepo");
    rc = binary_key(o->binaries, "busybox", &bin.busybox, err);
    if (rc == 0)
        rc = binary_key(o->binaries, "gate", &bin.gate, err);
    key = k->image_binary;
    if (rc == 0 && key != NULL)
        rc = binary_key(o->binaries, key, &bin.debugger, err);
    if (rc < 0)
        return rc;
    prof.runtime = k->runtime;
    prof.binary_key = key;
    prof.binary_name = key;
    prof.binary_dst = k->image_binary_dst;
    prof.env = k->image_env;
    prof.dirs = k->image_dirs;
    rc = oci_debugger_opts(&prof, &bin, o->arch, &po, err);
    if (rc < 0)
        return rc;
    oci_ref_format(&repo, target, sizeof(target));
    snprintf(target + strlen(target), sizeof(target) - strlen(target), ":%s",
             k->runtime);
    po.target = target;
    po.insecure = o->insecure;
    po.ca_file = o->ca_file;
    rc = oci_push_start(loop, &po, progress, cb, data, out, err);
    /* The layers are the push's now (also after a failure). */
    free(po.layers);
    return rc;
}
