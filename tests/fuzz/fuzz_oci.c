/* fuzz_oci.c - oci/'s parsers on arbitrary bytes: ELF headers and dynamic
 * sections, the loader cache, WWW-Authenticate challenges and image
 * references.  No crash, no leak, no read outside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/elf.h"
#include "oci/ref.h"

static int any(void *data, const char *path)
{
    (void)data;
    return path[0] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oci_elf_info info;
    struct oci_challenge ch;
    struct oci_ref ref;
    char *s;

    (void)oci_elf_parse(data, size, &info, NULL);
    oci_elf_info_cleanup(&info);
    (void)oci_ldcache_find(data, size, "libc.so.6", any, NULL);
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)oci_challenge_parse(s, &ch);
    (void)oci_ref_parse(s, &ref, NULL);
    free(s);
    return 0;
}
