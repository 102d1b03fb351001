/* pathmap.c - see pathmap.h. */
#include "pathmap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strip trailing slashes except for the root itself. */
static char *norm_dup(const char *p)
{
    size_t n = strlen(p);
    char *s;

    while (n > 1 && p[n - 1] == '/')
        n--;
    s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int dap_pathmap_add(dap_pathmap *pm, const char *local, const char *remote)
{
    struct dap_pathrule *r;

    r = realloc(pm->rules, (pm->n + 1) * sizeof(*r));
    if (r == NULL)
        return DAP_ENOMEM;
    pm->rules = r;
    r[pm->n].local = norm_dup(local);
    r[pm->n].remote = norm_dup(remote);
    if (r[pm->n].local == NULL || r[pm->n].remote == NULL) {
        free(r[pm->n].local);
        free(r[pm->n].remote);
        return DAP_ENOMEM;
    }
    pm->n++;
    return 0;
}

/* The rules of array `key` of `cfg`, each {lkey: LOCAL, rkey: REMOTE}. */
static int add_rules(dap_pathmap *pm, json_t *cfg, const char *key,
                     const char *lkey, const char *rkey, struct dap_error *err)
{
    json_t *arr = json_object_get(cfg, key);
    json_t *e;
    size_t i;

    if (arr != NULL && !json_is_array(arr))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"%s\" must be an array of {\"%s\": LOCAL, "
                             "\"%s\": REMOTE}",
                             key, lkey, rkey);
    json_array_foreach(arr, i, e)
    {
        const char *from = json_string_value(json_object_get(e, lkey));
        const char *to = json_string_value(json_object_get(e, rkey));
        if (from == NULL || to == NULL)
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"%s\"[%zu] needs string \"%s\" (local) "
                                 "and \"%s\" (remote)",
                                 key, i, lkey, rkey);
        if (dap_pathmap_add(pm, from, to) < 0)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    return 0;
}

int dap_pathmap_init(dap_pathmap *pm, json_t *cfg, struct dap_error *err)
{
    json_t *lr = json_object_get(cfg, "localRoot");
    json_t *rr = json_object_get(cfg, "remoteRoot");
    int rc;

    pm->rules = NULL;
    pm->n = 0;
    /* substitutePath as vscode-go writes it, pathMappings as vscode-python
     * does: the same rules, tried in that order before localRoot. */
    rc = add_rules(pm, cfg, "substitutePath", "from", "to", err);
    if (rc == 0)
        rc = add_rules(pm, cfg, "pathMappings", "localRoot", "remoteRoot",
                       err);
    if (rc < 0) {
        dap_pathmap_cleanup(pm);
        return rc;
    }
    if ((lr != NULL && !json_is_string(lr)) ||
        (rr != NULL && !json_is_string(rr))) {
        dap_pathmap_cleanup(pm);
        return dap_error_set(err, DAP_ECONFIG,
                             "\"localRoot\" and \"remoteRoot\" must be "
                             "strings");
    }
    if ((lr == NULL) != (rr == NULL)) {
        /* One root alone is not a mapping; the other may be inferred later
         * (cluster attach), so this is not an error here. */
        return 0;
    }
    if (lr != NULL) {
        rc = dap_pathmap_add(pm, json_string_value(lr),
                             json_string_value(rr));
        if (rc < 0) {
            dap_pathmap_cleanup(pm);
            return dap_error_set(err, rc, "out of memory");
        }
    }
    return 0;
}

void dap_pathmap_cleanup(dap_pathmap *pm)
{
    for (size_t i = 0; i < pm->n; i++) {
        free(pm->rules[i].local);
        free(pm->rules[i].remote);
    }
    free(pm->rules);
    pm->rules = NULL;
    pm->n = 0;
}

/* Length of `prefix` if it is a component-wise prefix of `path`, else -1.
 * An empty prefix matches everything (vscode-go allows adding a prefix). */
static long match(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);

    if (n == 0)
        return 0;
    if (strncmp(prefix, path, n) != 0)
        return -1;
    if (path[n] == '\0' || path[n] == '/' || prefix[n - 1] == '/')
        return (long)n;
    return -1;
}

static char *join(const char *to, const char *rest)
{
    size_t a = strlen(to);
    size_t b = strlen(rest);
    char *s = malloc(a + b + 2);

    if (s == NULL)
        return NULL;
    memcpy(s, to, a);
    /* Keep exactly one separator between the parts. */
    if (a > 0 && to[a - 1] == '/' && b > 0 && rest[0] == '/') {
        rest++;
        b--;
    } else if (a > 0 && to[a - 1] != '/' && b > 0 && rest[0] != '/') {
        s[a++] = '/';
    }
    memcpy(s + a, rest, b);
    s[a + b] = '\0';
    return s;
}

static char *map(const dap_pathmap *pm, const char *path, int to_remote)
{
    for (size_t i = 0; i < pm->n; i++) {
        const char *from = to_remote ? pm->rules[i].local : pm->rules[i].remote;
        const char *to = to_remote ? pm->rules[i].remote : pm->rules[i].local;
        long n = match(from, path);
        if (n >= 0)
            return join(to, path + n);
    }
    return NULL;
}

char *dap_pathmap_to_remote(const dap_pathmap *pm, const char *local)
{
    return map(pm, local, 1);
}

char *dap_pathmap_to_local(const dap_pathmap *pm, const char *remote)
{
    return map(pm, remote, 0);
}

int dap_pathmap_owns(const dap_pathmap *pm, const char *local)
{
    if (pm->n == 0)
        return 1;
    for (size_t i = 0; i < pm->n; i++) {
        if (match(pm->rules[i].local, local) >= 0)
            return 1;
    }
    return 0;
}

/* ---- inferring remoteRoot ---------------------------------------------- */

#define SAMPLE_MAX_ENTRIES 4000
#define SAMPLE_MAX_DEPTH 8

static int skip_dir(const char *name)
{
    return name[0] == '.' || strcmp(name, "node_modules") == 0 ||
           strcmp(name, "vendor") == 0 || strcmp(name, "build") == 0 ||
           strcmp(name, "testdata") == 0;
}

static void sample_walk(const char *root, const char *rel, int depth,
                        const char *suffix, size_t max, char **out,
                        size_t *n, size_t *seen)
{
    char path[4096];
    struct dirent *e;
    DIR *d;
    size_t sl = strlen(suffix);

    snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
    d = opendir(path);
    if (d == NULL)
        return;
    /* Files of this directory first, so shallow (more telling) paths win. */
    while (*n < max && (e = readdir(d)) != NULL &&
           ++*seen < SAMPLE_MAX_ENTRIES) {
        size_t l = strlen(e->d_name);
        if (e->d_type == DT_REG && l > sl &&
            strcmp(e->d_name + l - sl, suffix) == 0) {
            char r[4096];
            snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
            out[*n] = strdup(r);
            if (out[*n] != NULL)
                ++*n;
        }
    }
    if (depth < SAMPLE_MAX_DEPTH) {
        rewinddir(d);
        while (*n < max && (e = readdir(d)) != NULL &&
               ++*seen < SAMPLE_MAX_ENTRIES) {
            if (e->d_type == DT_DIR && !skip_dir(e->d_name) &&
                strcmp(e->d_name, "..") != 0) {
                char r[4096];
                snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "",
                         e->d_name);
                sample_walk(root, r, depth + 1, suffix, max, out, n, seen);
            }
        }
    }
    closedir(d);
}

size_t dap_pathmap_sample(const char *root, const char *suffix, size_t max,
                          char ***out)
{
    size_t n = 0;
    size_t seen = 0;

    *out = calloc(max ? max : 1, sizeof(char *));
    if (*out == NULL)
        return 0;
    sample_walk(root, "", 0, suffix, max, *out, &n, &seen);
    return n;
}

char *dap_pathmap_root_of(const char *rel, const char *remote)
{
    size_t rl = strlen(rel);
    size_t n = strlen(remote);
    char *root;

    if (n < rl || strcmp(remote + n - rl, rel) != 0)
        return NULL;
    if (n == rl || remote[n - rl - 1] != '/')
        return NULL;
    root = malloc(n - rl);
    if (root == NULL)
        return NULL;
    memcpy(root, remote, n - rl - 1);
    root[n - rl - 1] = '\0';
    return root;
}
