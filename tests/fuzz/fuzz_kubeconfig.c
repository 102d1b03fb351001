/* fuzz_kubeconfig.c - kube/config's pure layers: arbitrary bytes as a
 * kubeconfig file, merged with a fixed second file, then resolved with and
 * without a context override.  Must never crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kube/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char second[] =
    "current-context: b\n"
    "clusters:\n- name: c\n  cluster: {server: 'https://x:1'}\n"
    "users:\n- name: u\n  user: {token: t}\n"
    "contexts:\n- name: b\n  context: {cluster: c, user: u}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dap_error e;
    struct kube_config *c = NULL;
    struct kube_config_paths p;
    json_t *files[2] = {NULL, NULL};
    json_t *m = NULL;

    if (kube_kubeconfig_parse((const char *)data, size, "/fuzz/config",
                              &files[0], &e) < 0)
        return 0;
    if (kube_kubeconfig_parse(second, strlen(second), "/fuzz/second",
                              &files[1], &e) < 0)
        goto done;
    if (kube_kubeconfig_merge(files, 2, &m) < 0)
        goto done;
    if (kube_config_resolve(m, "fuzz", NULL, NULL, &c, &p, &e) == 0) {
        struct kube_config *d = kube_config_dup(c);
        kube_config_free(d);
        kube_config_free(c);
        kube_config_paths_cleanup(&p);
    }
    c = NULL;
    if (kube_config_resolve(m, "fuzz", "a", "ns", &c, &p, &e) == 0) {
        kube_config_free(c);
        kube_config_paths_cleanup(&p);
    }
done:
    json_decref(m);
    json_decref(files[0]);
    json_decref(files[1]);
    return 0;
}
