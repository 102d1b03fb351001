/* names.c - see names.h. */
#include "names.h"

#include <stdio.h>
#include <string.h>

static int alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One RFC 1123 label of n bytes at s. */
static int label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int kube_name_valid(enum kube_name_kind kind, const char *name)
{
    size_t n;

    if (name == NULL)
        return 0;
    n = strlen(name);
    if (kind == KUBE_NAME_LABEL)
        return label_ok(name, n);
    if (n == 0 || n > 253)
        return 0;
    for (const char *p = name;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!label_ok(p, l))
            return 0;
        if (dot == NULL)
            return 1;
        p = dot + 1;
    }
}

int kube_name_check(enum kube_name_kind kind, const char *what,
                    const char *name, struct dap_error *err)
{
    char shown[200];
    size_t o = 0;

    if (kube_name_valid(kind, name))
        return 0;
    /* Show the value as typed, but never raw control bytes: they would
     * break the line the message ends up on (a log, a terminal). */
    for (const char *p = name != NULL ? name : ""; *p && o + 8 < sizeof(shown);
         p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = c == '\r'   ? "\\r"
                          : c == '\n' ? "\\n"
                          : c == '\t' ? "\\t"
                          : c == '"'  ? "\\\""
                          : c == '\\' ? "\\\\"
                                      : NULL;
        if (esc != NULL)
            o += (size_t)snprintf(shown + o, sizeof(shown) - o, "%s", esc);
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(shown + o, sizeof(shown) - o, "\\x%02x", c);
        else
            shown[o++] = (char)c;
    }
    shown[o] = '\0';
    if (kind == KUBE_NAME_LABEL)
        return dap_error_set(err, DAP_ECONFIG,
                             "%s \"%s\" is not a valid Kubernetes name: use "
                             "an RFC 1123 DNS label (at most 63 lower-case "
                             "letters, digits and '-', starting and ending "
                             "with a letter or digit)",
                             what, shown);
    return dap_error_set(err, DAP_ECONFIG,
                         "%s \"%s\" is not a valid Kubernetes name: use an "
                         "RFC 1123 DNS subdomain (at most 253 lower-case "
                         "letters, digits, '-' and '.', each dot-separated "
                         "part starting and ending with a letter or digit)",
                         what, shown);
}
