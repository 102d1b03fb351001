/* ref.h - image references, platforms and registry auth challenges: pure
 * parsing, no I/O (unit-tested and fuzzed).
 *
 * A reference is written as docker and podman write it:
 *   [REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]
 * The first component is a registry when it has a '.' or ':' or is
 * "localhost"; otherwise the registry is docker.io (and a one-component
 * repository gets "library/"), as docker does.  Docker Hub's API host is
 * registry-1.docker.io; credentials are filed under its index URL
 * (https://index.docker.io/v1/), which oci_creds knows.
 */
#ifndef KDAP_OCI_REF_H
#define KDAP_OCI_REF_H

#include <stddef.h>

#include "../dap/err.h"

struct oci_ref {
    char registry[256];   /* "127.0.0.1:5000", "docker.io" */
    char repo[256];       /* "kdap/dlv", "library/debian" */
    char tag[129];        /* "" when none was written */
    char digest[72];      /* "sha256:<64 hex>" or "" */
};

/* Parse `s`.  Returns 0 or DAP_ECONFIG with the reason in err. */
int oci_ref_parse(const char *s, struct oci_ref *r, struct dap_error *err);
/* A repository reference without tag or digest ("REGISTRY/REPO"), for
 * imageRepo: a tag or digest in it is an error. */
int oci_repo_parse(const char *s, struct oci_ref *r, struct dap_error *err);
/* The host the API is served on (docker.io -> registry-1.docker.io). */
const char *oci_ref_api_host(const struct oci_ref *r);
/* "REGISTRY/REPO" plus "@DIGEST" when set, else ":TAG" when set. */
void oci_ref_format(const struct oci_ref *r, char *buf, size_t size);
/* Is `d` "sha256:" followed by 64 lowercase hex digits? */
int oci_digest_valid(const char *d);

/* A platform "os/arch[/variant]" (linux/amd64, linux/arm64/v8). */
struct oci_platform {
    char os[32];
    char arch[32];
    char variant[32];
};
int oci_platform_parse(const char *s, struct oci_platform *p,
                       struct dap_error *err);
/* The platform kdap runs on (uname). */
void oci_platform_local(struct oci_platform *p);
/* OCI architecture name of uname's machine ("x86_64" -> "amd64"); the
 * argument when it is already one.  Never NULL. */
const char *oci_arch_from_machine(const char *machine);

/* One WWW-Authenticate challenge (RFC 7235), as registries send them:
 *   Basic realm="Registry Realm"
 *   Bearer realm="https://auth.example/token",service="reg",scope="..." */
struct oci_challenge {
    char scheme[16];      /* "basic", "bearer" (lowercase) */
    char realm[512];
    char service[256];
    char scope[512];
};
/* Parse the first challenge of a header value.  Returns 0 or DAP_EPROTO. */
int oci_challenge_parse(const char *value, struct oci_challenge *c);

#endif
