/* test_oci.c - the pure parts of oci/: references, platforms, auth
 * challenges, index choice, ELF reading and the loader cache, and layers
 * that are the same bytes for the same inputs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "oci/elf.h"
#include "oci/image.h"
#include "oci/layer.h"
#include "oci/ref.h"
#include "tests/test.h"

static void test_refs(void)
{
    struct oci_ref r;
    struct dap_error e;
    char buf[700];
    const char *d = "sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
                    "cdef";

    ASSERT_OK(oci_ref_parse("127.0.0.1:5000/kdap/dlv:v1", &r, &e));
    ASSERT_STR_EQ(r.registry, "127.0.0.1:5000");
    ASSERT_STR_EQ(r.repo, "kdap/dlv");
    ASSERT_STR_EQ(r.tag, "v1");
    ASSERT_OK(oci_ref_parse("debian", &r, &e));
    ASSERT_STR_EQ(r.registry, "docker.io");
    ASSERT_STR_EQ(r.repo, "library/debian");
    ASSERT_STR_EQ(oci_ref_api_host(&r), "registry-1.docker.io");
    ASSERT_OK(oci_ref_parse("localhost/a/b", &r, &e));
    ASSERT_STR_EQ(r.registry, "localhost");
    snprintf(buf, sizeof(buf), "ghcr.io/o/p:t@%s", d);
    ASSERT_OK(oci_ref_parse(buf, &r, &e));
    ASSERT_STR_EQ(r.digest, d);
    ASSERT_STR_EQ(r.tag, "t");
    oci_ref_format(&r, buf, sizeof(buf));
    ASSERT(strstr(buf, "ghcr.io/o/p@sha256:") == buf);
    ASSERT_EQ(oci_ref_parse("reg.io/UPPER", &r, &e), DAP_ECONFIG);
    ASSERT_EQ(oci_ref_parse("reg.io/a@sha256:12", &r, &e), DAP_ECONFIG);
    ASSERT_EQ(oci_ref_parse("https://reg.io/a", &r, &e), DAP_ECONFIG);
    ASSERT(strstr(e.msg, "URL scheme") != NULL);
    ASSERT_EQ(oci_repo_parse("reg.io/a:tag", &r, &e), DAP_ECONFIG);
    ASSERT_OK(oci_repo_parse("reg.io:443/team/kdap", &r, &e));
    ASSERT_EQ(oci_ref_parse("", &r, &e), DAP_ECONFIG);
}

static void test_platforms(void)
{
    struct oci_platform p;
    struct dap_error e;

    ASSERT_OK(oci_platform_parse("linux/arm64/v8", &p, &e));
    ASSERT_STR_EQ(p.os, "linux");
    ASSERT_STR_EQ(p.arch, "arm64");
    ASSERT_STR_EQ(p.variant, "v8");
    ASSERT_OK(oci_platform_parse("linux/x86_64", &p, &e));
    ASSERT_STR_EQ(p.arch, "amd64");
    ASSERT_EQ(oci_platform_parse("amd64", &p, &e), DAP_ECONFIG);
    ASSERT_EQ(oci_platform_parse("linux/", &p, &e), DAP_ECONFIG);
    oci_platform_local(&p);
    ASSERT_STR_EQ(p.os, "linux");
    ASSERT(p.arch[0] != '\0');
}

static void test_challenges(void)
{
    struct oci_challenge c;

    ASSERT_OK(oci_challenge_parse(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry."
        "docker.io\",scope=\"repository:library/debian:pull\"",
        &c));
    ASSERT_STR_EQ(c.scheme, "bearer");
    ASSERT_STR_EQ(c.realm, "https://auth.docker.io/token");
    ASSERT_STR_EQ(c.service, "registry.docker.io");
    ASSERT_STR_EQ(c.scope, "repository:library/debian:pull");
    ASSERT_OK(oci_challenge_parse("Basic realm=\"Registry Realm\"", &c));
    ASSERT_STR_EQ(c.scheme, "basic");
    ASSERT_STR_EQ(c.realm, "Registry Realm");
    /* A second challenge does not overwrite the first's parameters. */
    ASSERT_OK(oci_challenge_parse(
        "Bearer realm=x, Basic realm=\"y\"", &c));
    ASSERT_STR_EQ(c.scheme, "bearer");
    ASSERT_STR_EQ(c.realm, "x");
    ASSERT_EQ(oci_challenge_parse("Bearer realm=\"open", &c), DAP_EPROTO);
    ASSERT_EQ(oci_challenge_parse("", &c), DAP_EPROTO);
}

static void test_index(void)
{
    json_t *idx = json_loads(
        "{\"manifests\":["
        "{\"digest\":\"sha256:a\",\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"amd64\"}},"
        "{\"digest\":\"sha256:b\",\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"digest\":\"sha256:c\",\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"arm\",\"variant\":\"v7\"}}]}",
        0, NULL);
    struct oci_platform p = {"linux", "arm64", ""};
    json_t *d = oci_index_choose(idx, &p);

    ASSERT_STR_EQ(json_string_value(json_object_get(d, "digest")), "sha256:b");
    snprintf(p.arch, sizeof(p.arch), "arm");
    snprintf(p.variant, sizeof(p.variant), "v6");
    /* No exact variant: the architecture's entry is still better than
     * nothing (as containerd's matcher falls back). */
    d = oci_index_choose(idx, &p);
    ASSERT_STR_EQ(json_string_value(json_object_get(d, "digest")), "sha256:c");
    snprintf(p.arch, sizeof(p.arch), "s390x");
    ASSERT_NULL(oci_index_choose(idx, &p));
    json_decref(idx);
}

static void *read_all(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    char *b;

    ASSERT(fd >= 0);
    ASSERT_OK(fstat(fd, &st));
    b = malloc((size_t)st.st_size);
    ASSERT_EQ(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

static int first_path(void *data, const char *path)
{
    snprintf(data, 4096, "%s", path);
    return 1;
}

static void test_elf(void)
{
    struct oci_elf_info info;
    struct oci_elf_dep *deps;
    struct dap_error e;
    const char *arch;
    size_t n, len;
    char found[4096] = "";
    void *b;
    int have_libc = 0, have_loader = 0;

    /* This very executable: dynamic, needs libc, has a loader. */
    b = read_all("/proc/self/exe", &len);
    ASSERT_OK(oci_elf_parse(b, len, &info, &e));
    ASSERT(info.interp[0] == '/');
    for (size_t i = 0; i < info.n_needed; i++)
        if (strcmp(info.needed[i], "libc.so.6") == 0)
            have_libc = 1;
    ASSERT(have_libc);
    ASSERT(oci_elf_arch(info.machine, info.elf64) != NULL);
    oci_elf_info_cleanup(&info);
    /* Truncations are errors, never crashes. */
    for (size_t cut = 0; cut < 2048 && cut < len; cut += 61) {
        int rc = oci_elf_parse(b, cut, &info, &e);
        oci_elf_info_cleanup(&info);
        (void)rc;
    }
    free(b);
    ASSERT_EQ(oci_elf_parse("#!/bin/sh\n", 10, &info, &e), DAP_EUNSUPPORTED);
    oci_elf_info_cleanup(&info);

    /* The loader cache knows libc. */
    b = read_all("/etc/ld.so.cache", &len);
    ASSERT_EQ(oci_ldcache_find(b, len, "libc.so.6", first_path, found), 1);
    ASSERT(strstr(found, "libc.so.6") != NULL);
    ASSERT_EQ(oci_ldcache_find(b, len, "libnothere.so.9", first_path, found),
              0);
    ASSERT_EQ(oci_ldcache_find("junk", 4, "libc.so.6", first_path, found), 0);
    free(b);

    /* Resolved as ld.so does: the loader and libc, real files. */
    ASSERT_OK(oci_elf_deps("/proc/self/exe", &arch, &deps, &n, &e));
    have_libc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (strstr(deps[i].image_path, "/libc.so.6") != NULL)
            have_libc = 1;
        if (strstr(deps[i].image_path, "ld-linux") != NULL)
            have_loader = 1;
        ASSERT_OK(stat(deps[i].host_path, &st));
        ASSERT(S_ISREG(st.st_mode));
    }
    ASSERT(have_libc && have_loader);
    oci_elf_deps_free(deps, n);
    /* A static busybox needs nothing. */
    if (access("/bin/busybox", R_OK) == 0) {
        ASSERT_OK(oci_elf_deps("/bin/busybox", &arch, &deps, &n, &e));
        ASSERT_EQ(n, 0);
        oci_elf_deps_free(deps, n);
    }
    ASSERT(oci_elf_deps("/etc/passwd", &arch, &deps, &n, &e) < 0);
    ASSERT(strstr(e.msg, "/etc/passwd") != NULL);
}

static void build(const char *cache, const char *file, struct oci_blob *b,
                  int *cached)
{
    oci_layer_spec *s;
    struct dap_error e;

    ASSERT_OK(oci_layer_spec_new(&s));
    /* Given out of order: the tar is sorted. */
    ASSERT_OK(oci_layer_add_file(s, "/usr/bin/tool", file, 0755));
    ASSERT_OK(oci_layer_add_data(s, "/etc/a.conf", "x=1\n", 4, 0644));
    ASSERT_OK(oci_layer_add_symlink(s, "/bin/sh", "busybox"));
    ASSERT_OK(oci_layer_add_dir(s, "/tmp", 01777));
    ASSERT_EQ(oci_layer_add_dir(s, "relative", 0755), DAP_EINVAL);
    ASSERT_EQ(oci_layer_add_dir(s, "/a/../b", 0755), DAP_EINVAL);
    ASSERT_OK(oci_layer_build(s, cache, b, cached, &e));
    oci_layer_spec_free(s);
}

static void test_layers(void)
{
    char d1[] = "/tmp/kdap-oci-XXXXXX", d2[] = "/tmp/kdap-oci-XXXXXX";
    char cache1[300], cache2[300], file[300];
    struct oci_blob a, b, c;
    struct dap_error e;
    struct archive *ar;
    struct archive_entry *ae;
    const char *prev = "";
    char names[10][64];
    int cached, n = 0;
    FILE *f;

    ASSERT(mkdtemp(d1) != NULL);
    ASSERT(mkdtemp(d2) != NULL);
    snprintf(file, sizeof(file), "%s/tool", d1);
    f = fopen(file, "w");
    fputs("#!/bin/sh\necho tool\n", f);
    fclose(f);
    setenv("XDG_CACHE_HOME", d1, 1);
    ASSERT_OK(oci_cache_dir(cache1, sizeof(cache1), &e));
    setenv("XDG_CACHE_HOME", d2, 1);
    ASSERT_OK(oci_cache_dir(cache2, sizeof(cache2), &e));

    build(cache1, file, &a, &cached);
    ASSERT_EQ(cached, 0);
    build(cache1, file, &b, &cached);
    ASSERT_EQ(cached, 1); /* the index: no compression */
    ASSERT_STR_EQ(a.digest, b.digest);
    /* Another cache, built anew: the very same bytes. */
    build(cache2, file, &c, &cached);
    ASSERT_EQ(cached, 0);
    ASSERT_STR_EQ(a.digest, c.digest);
    ASSERT_STR_EQ(a.diff_id, c.diff_id);
    ASSERT_EQ(a.size, c.size);

    /* What is in it: sorted, owned by root, mtime 0. */
    ar = archive_read_new();
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_tar(ar);
    ASSERT_EQ(archive_read_open_filename(ar, a.path, 10240), ARCHIVE_OK);
    while (archive_read_next_header(ar, &ae) == ARCHIVE_OK && n < 10) {
        const char *p = archive_entry_pathname(ae);
        ASSERT(strcmp(prev, p) < 0);
        snprintf(names[n], sizeof(names[n]), "%s", p);
        prev = names[n++];
        ASSERT_EQ(archive_entry_mtime(ae), 0);
        ASSERT_EQ(archive_entry_uid(ae), 0);
        ASSERT_EQ(archive_entry_gid(ae), 0);
        if (strcmp(p, "tmp") == 0)
            ASSERT_EQ(archive_entry_perm(ae), 01777);
        if (strcmp(p, "bin/sh") == 0)
            ASSERT_STR_EQ(archive_entry_symlink(ae), "busybox");
    }
    archive_read_free(ar);
    ASSERT_EQ(n, 8); /* bin bin/sh etc etc/a.conf tmp usr usr/bin usr/bin/tool */
}

int main(void)
{
    test_refs();
    test_platforms();
    test_challenges();
    test_index();
    test_elf();
    test_layers();
    printf("ok\n");
    return 0;
}
