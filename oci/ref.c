/* ref.c - see ref.h. */
#include "ref.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

int oci_digest_valid(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return 0;
    for (const char *p = d + 7; *p; p++)
        if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
            return 0;
    return 1;
}

/* Repository path components: lowercase alphanumerics separated by '.',
 * '_', '__', '-' (the distribution spec's grammar, loosely). */
static int repo_valid(const char *s)
{
    if (*s == '\0' || *s == '/' || s[strlen(s) - 1] == '/')
        return 0;
    for (const char *p = s; *p; p++) {
        if (islower((unsigned char)*p) || isdigit((unsigned char)*p))
            continue;
        if ((*p == '.' || *p == '_' || *p == '-' || *p == '/') &&
            p[1] != '/' && p != s && p[-1] != '/')
            continue;
        return 0;
    }
    return 1;
}

static int tag_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
        return 0;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
            *p != '-')
            return 0;
    return 1;
}

static int parse(const char *s, struct oci_ref *r, int repo_only,
                 struct dap_error *err)
{
    char buf[700];
    char *at, *slash, *name, *colon;

    memset(r, 0, sizeof(*r));
    if (s == NULL || *s == '\0')
        return dap_error_set(err, DAP_ECONFIG, "an empty image reference");
    if (strlen(s) >= sizeof(buf))
        return dap_error_set(err, DAP_ECONFIG,
                             "image reference \"%.80s...\" is too long", s);
    snprintf(buf, sizeof(buf), "%s", s);
    if (strstr(buf, "://") != NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "\"%s\": write an image reference as "
                             "REGISTRY/REPOSITORY[:TAG][@DIGEST], without "
                             "a URL scheme",
                             s);
    at = strchr(buf, '@');
    if (at != NULL) {
        *at = '\0';
        if (!oci_digest_valid(at + 1))
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"%s\": the digest must be sha256: and 64 "
                                 "lowercase hex digits",
                                 s);
        snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
    }
    slash = strchr(buf, '/');
    name = buf;
    if (slash != NULL &&
        (memchr(buf, '.', (size_t)(slash - buf)) != NULL ||
         memchr(buf, ':', (size_t)(slash - buf)) != NULL ||
         strncmp(buf, "localhost/", 10) == 0)) {
        *slash = '\0';
        if (strlen(buf) >= sizeof(r->registry))
            return dap_error_set(err, DAP_ECONFIG, "\"%s\": registry name "
                                 "too long", s);
        snprintf(r->registry, sizeof(r->registry), "%s", buf);
        name = slash + 1;
    } else {
        snprintf(r->registry, sizeof(r->registry), "docker.io");
    }
    colon = strrchr(name, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"%s\": \"%s\" is not a valid tag", s,
                                 colon + 1);
        snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
    }
    if (strcmp(r->registry, "docker.io") == 0 && strchr(name, '/') == NULL)
        snprintf(r->repo, sizeof(r->repo), "library/%s", name);
    else if (strlen(name) < sizeof(r->repo))
        snprintf(r->repo, sizeof(r->repo), "%s", name);
    if (!repo_valid(r->repo))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"%s\": \"%s\" is not a valid repository name "
                             "(lowercase letters, digits and . _ - /)",
                             s, name);
    if (repo_only && (r->tag[0] || r->digest[0]))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"%s\" names a tag or digest: give a "
                             "repository, REGISTRY/PATH",
                             s);
    return 0;
}

int oci_ref_parse(const char *s, struct oci_ref *r, struct dap_error *err)
{
    return parse(s, r, 0, err);
}

int oci_repo_parse(const char *s, struct oci_ref *r, struct dap_error *err)
{
    return parse(s, r, 1, err);
}

const char *oci_ref_api_host(const struct oci_ref *r)
{
    if (strcmp(r->registry, "docker.io") == 0)
        return "registry-1.docker.io";
    return r->registry;
}

void oci_ref_format(const struct oci_ref *r, char *buf, size_t size)
{
    if (r->digest[0])
        snprintf(buf, size, "%s/%s@%s", r->registry, r->repo, r->digest);
    else if (r->tag[0])
        snprintf(buf, size, "%s/%s:%s", r->registry, r->repo, r->tag);
    else
        snprintf(buf, size, "%s/%s", r->registry, r->repo);
}

/* ---- platforms ---------------------------------------------------------- */

const char *oci_arch_from_machine(const char *m)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"},  {"aarch64", "arm64"}, {"armv7l", "arm"},
        {"armv6l", "arm"},    {"i686", "386"},      {"i386", "386"},
        {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(m, map[i][0]) == 0)
            return map[i][1];
    return m;
}

void oci_platform_local(struct oci_platform *p)
{
    struct utsname u;

    memset(p, 0, sizeof(*p));
    snprintf(p->os, sizeof(p->os), "linux");
    if (uname(&u) == 0)
        snprintf(p->arch, sizeof(p->arch), "%s",
                 oci_arch_from_machine(u.machine));
    else
        snprintf(p->arch, sizeof(p->arch), "amd64");
}

int oci_platform_parse(const char *s, struct oci_platform *p,
                       struct dap_error *err)
{
    const char *a, *v;

    memset(p, 0, sizeof(*p));
    a = s != NULL ? strchr(s, '/') : NULL;
    if (a == NULL || a == s || a[1] == '\0' ||
        (size_t)(a - s) >= sizeof(p->os))
        return dap_error_set(err, DAP_ECONFIG,
                             "platform \"%s\": write it as OS/ARCH, e.g. "
                             "linux/arm64",
                             s ? s : "");
    memcpy(p->os, s, (size_t)(a - s));
    a++;
    v = strchr(a, '/');
    if (v == NULL) {
        snprintf(p->arch, sizeof(p->arch), "%s", a);
    } else {
        if ((size_t)(v - a) >= sizeof(p->arch) || strchr(v + 1, '/'))
            return dap_error_set(err, DAP_ECONFIG,
                                 "platform \"%s\": write it as "
                                 "OS/ARCH[/VARIANT]",
                                 s);
        memcpy(p->arch, a, (size_t)(v - a));
        snprintf(p->variant, sizeof(p->variant), "%s", v + 1);
    }
    {
        char a2[sizeof(p->arch)];
        snprintf(a2, sizeof(a2), "%s", oci_arch_from_machine(p->arch));
        memcpy(p->arch, a2, sizeof(a2));
    }
    return 0;
}

/* ---- WWW-Authenticate --------------------------------------------------- */

int oci_challenge_parse(const char *v, struct oci_challenge *c)
{
    const char *p = v;
    size_t n = 0;

    memset(c, 0, sizeof(*c));
    while (*p == ' ' || *p == '\t')
        p++;
    while (isalpha((unsigned char)*p) && n + 1 < sizeof(c->scheme))
        c->scheme[n++] = (char)tolower((unsigned char)*p++);
    if (n == 0 || (*p != ' ' && *p != '\0'))
        return DAP_EPROTO;
    /* auth-params: name=value or name="quoted", comma-separated.  A second
     * challenge after a comma has a scheme token with no '=': stop there. */
    for (;;) {
        char name[32], val[512];
        size_t nn = 0, vn = 0;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        while (*p && *p != '=' && *p != ' ' && *p != ',') {
            if (nn + 1 < sizeof(name))
                name[nn++] = (char)tolower((unsigned char)*p);
            p++;
        }
        name[nn] = '\0';
        if (*p != '=')
            break; /* another challenge: only the first counts */
        p++;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vn + 1 < sizeof(val))
                    val[vn++] = *p;
                p++;
            }
            if (*p != '"')
                return DAP_EPROTO;
            p++;
        } else {
            while (*p && *p != ',' && *p != ' ') {
                if (vn + 1 < sizeof(val))
                    val[vn++] = *p;
                p++;
            }
        }
        val[vn] = '\0';
        if (strcmp(name, "realm") == 0)
            snprintf(c->realm, sizeof(c->realm), "%s", val);
        else if (strcmp(name, "service") == 0)
            snprintf(c->service, sizeof(c->service), "%s", val);
        else if (strcmp(name, "scope") == 0)
            snprintf(c->scope, sizeof(c->scope), "%s", val);
    }
    return 0;
}
