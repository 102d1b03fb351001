/* test_pathmap.c - localRoot/remoteRoot, substitutePath and pathMappings. */
#include <stdlib.h>
#include <sys/stat.h>

#include "dap/pathmap.h"
#include "tests/test.h"

static void expect(char *got, const char *want)
{
    if (want == NULL) {
        ASSERT_NULL(got);
        return;
    }
    ASSERT_STR_EQ(got, want);
    free(got);
}

int main(void)
{
    dap_pathmap pm;
    struct dap_error err;
    json_t *cfg = json_loads(
        "{\"localRoot\": \"/home/me/svc/\", \"remoteRoot\": \"/src\","
        " \"substitutePath\": [{\"from\": \"/home/me/lib\", \"to\": "
        "\"/go/pkg/lib\"}]}",
        0, NULL);

    ASSERT_OK(dap_pathmap_init(&pm, cfg, &err));
    expect(dap_pathmap_to_remote(&pm, "/home/me/svc/main.go"), "/src/main.go");
    expect(dap_pathmap_to_remote(&pm, "/home/me/svc"), "/src");
    /* Component boundary: /home/me/svc2 is not under /home/me/svc. */
    expect(dap_pathmap_to_remote(&pm, "/home/me/svc2/x.go"), NULL);
    expect(dap_pathmap_to_remote(&pm, "/home/me/lib/a/b.go"),
           "/go/pkg/lib/a/b.go");
    expect(dap_pathmap_to_local(&pm, "/src/pkg/h.go"),
           "/home/me/svc/pkg/h.go");
    expect(dap_pathmap_to_local(&pm, "/go/pkg/lib/c.go"), "/home/me/lib/c.go");
    expect(dap_pathmap_to_local(&pm, "/usr/lib/go/src/net/http/server.go"),
           NULL);
    ASSERT(dap_pathmap_owns(&pm, "/home/me/svc/main.go"));
    ASSERT(!dap_pathmap_owns(&pm, "/elsewhere/main.go"));
    dap_pathmap_cleanup(&pm);
    json_decref(cfg);

    /* No rules: every path is owned and maps to itself. */
    cfg = json_object();
    ASSERT_OK(dap_pathmap_init(&pm, cfg, &err));
    ASSERT(dap_pathmap_owns(&pm, "/any/file.go"));
    expect(dap_pathmap_to_remote(&pm, "/any/file.go"), NULL);
    dap_pathmap_cleanup(&pm);
    json_decref(cfg);

    /* pathMappings as vscode-python writes them: after substitutePath,
     * before localRoot. */
    cfg = json_loads(
        "{\"localRoot\": \"/home/me/app\", \"remoteRoot\": \"/srv\","
        " \"pathMappings\": [{\"localRoot\": \"/home/me/app/lib\","
        " \"remoteRoot\": \"/usr/lib/python3/dist-packages/lib\"}]}",
        0, NULL);
    ASSERT_OK(dap_pathmap_init(&pm, cfg, &err));
    expect(dap_pathmap_to_remote(&pm, "/home/me/app/lib/x.py"),
           "/usr/lib/python3/dist-packages/lib/x.py");
    expect(dap_pathmap_to_remote(&pm, "/home/me/app/main.py"), "/srv/main.py");
    expect(dap_pathmap_to_local(&pm, "/usr/lib/python3/dist-packages/lib/y.py"),
           "/home/me/app/lib/y.py");
    dap_pathmap_cleanup(&pm);
    json_decref(cfg);

    /* Bad shapes are configuration errors naming the key. */
    cfg = json_loads("{\"substitutePath\": [{\"from\": 1}]}", 0, NULL);
    ASSERT_EQ(dap_pathmap_init(&pm, cfg, &err), DAP_ECONFIG);
    ASSERT(strstr(err.msg, "substitutePath") != NULL);
    json_decref(cfg);
    cfg = json_loads("{\"pathMappings\": [{\"localRoot\": \"/a\"}]}", 0, NULL);
    ASSERT_EQ(dap_pathmap_init(&pm, cfg, &err), DAP_ECONFIG);
    ASSERT(strstr(err.msg, "pathMappings") != NULL);
    ASSERT(strstr(err.msg, "remoteRoot") != NULL);
    json_decref(cfg);
    cfg = json_loads("{\"pathMappings\": {}}", 0, NULL);
    ASSERT_EQ(dap_pathmap_init(&pm, cfg, &err), DAP_ECONFIG);
    json_decref(cfg);
    /* Inferring a remote root from recorded paths. */
    expect(dap_pathmap_root_of("main.go", "/src/main.go"), "/src");
    expect(dap_pathmap_root_of("pkg/a.go", "/go/src/x/pkg/a.go"), "/go/src/x");
    expect(dap_pathmap_root_of("pkg/a.go", "kdap.dev/svc/pkg/a.go"), "kdap.dev/svc");
    expect(dap_pathmap_root_of("a.go", "/src/xa.go"), NULL);
    expect(dap_pathmap_root_of("a.go", "a.go"), NULL);
    {
        char dir[] = "/tmp/kdap-pathmap-XXXXXX";
        char path[256];
        char **files;
        size_t n;
        FILE *fp;
        ASSERT(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/sub", dir);
        ASSERT_OK(mkdir(path, 0700));
        snprintf(path, sizeof(path), "%s/sub/b.go", dir);
        fp = fopen(path, "w");
        ASSERT(fp != NULL);
        fclose(fp);
        snprintf(path, sizeof(path), "%s/readme.txt", dir);
        fp = fopen(path, "w");
        ASSERT(fp != NULL);
        fclose(fp);
        n = dap_pathmap_sample(dir, ".go", 5, &files);
        ASSERT_EQ(n, 1);
        ASSERT_STR_EQ(files[0], "sub/b.go");
        free(files[0]);
        free(files);
        snprintf(path, sizeof(path), "rm -rf %s", dir);
        ASSERT_OK(system(path));
    }
    printf("test_pathmap: ok\n");
    return 0;
}
