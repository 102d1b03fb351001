/* fuzz_proxy.c - net/proxy's parsers over arbitrary bytes: a proxy URL
 * (no credential in any message), NO_PROXY text, the proxy's answer to
 * CONNECT and a SOCKS5 reply.  Must never crash or read past the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct net_proxy p;
    struct dap_error e;
    char reason[64];
    int st, rep, rc;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (net_proxy_parse(s, "fuzz", &p, &e) == 0) {
        char *req = net_proxy_connect_request(&p, "api.example", 6443);
        uint8_t m[3 + 2 * 255];
        if (p.port <= 0 || p.port > 65535 || p.host[0] == '\0' ||
            strchr(p.display, '@') != NULL)
            abort();
        (void)net_socks5_auth(&p, m);
        free(req);
        net_proxy_cleanup(&p);
    }
    (void)net_proxy_exempt(s, "api.example.com", 443);
    (void)net_proxy_exempt(s, "10.1.2.3", 6443);
    (void)net_proxy_exempt(s, "fd00::1", 443);
    rc = net_proxy_connect_response(s, size, &st, reason, sizeof(reason));
    if (rc > 0 && ((size_t)rc > size || st < 0 || st > 999))
        abort();
    rc = net_socks5_reply(data, size, &rep);
    if (rc > 0 && (size_t)rc > size)
        abort();
    free(s);
    return 0;
}
