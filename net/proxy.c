/* proxy.c - see proxy.h. */
#define _GNU_SOURCE /* asprintf */
#include "proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../dap/b64.h"
#include "../dap/buf.h"

#define MAX_CONNECT_HEAD 8192

void net_proxy_cleanup(struct net_proxy *p)
{
    dap_secret_free(p->user);
    dap_secret_free(p->password);
    dap_secret_free(p->url);
    memset(p, 0, sizeof(*p));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[0..n) (userinfo), or NULL. */
static char *unescape(const char *s, size_t n)
{
    char *o = malloc(n + 1), *q = o;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            *q++ = (char)(h << 4 | l);
            i += 2;
        } else {
            *q++ = s[i];
        }
    }
    *q = '\0';
    return o;
}

int net_proxy_parse(const char *url, const char *what, struct net_proxy *p,
                     struct dap_error *err)
{
    const char *s = url, *at, *end, *hs, *he, *colon;
    char scheme[16] = "http";
    int socks_h = 0;

    memset(p, 0, sizeof(*p));
    {
        const char *sep = strstr(s, "://");
        if (sep != NULL) {
            size_t n = (size_t)(sep - s);
            if (n >= sizeof(scheme))
                n = sizeof(scheme) - 1;
            memcpy(scheme, s, n);
            scheme[n] = '\0';
            s = sep + 3;
        }
    }
    if (strcasecmp(scheme, "http") == 0) {
        p->kind = NET_PROXY_HTTP;
    } else if (strcasecmp(scheme, "https") == 0) {
        p->kind = NET_PROXY_HTTPS;
    } else if (strcasecmp(scheme, "socks5") == 0 ||
               (socks_h = strcasecmp(scheme, "socks5h") == 0)) {
        p->kind = NET_PROXY_SOCKS5;
    } else {
        return dap_error_set(err, DAP_ECONFIG,
                             "%s: scheme \"%s\" is not supported (use "
                             "http://, https://, socks5:// or socks5h://)",
                             what, scheme);
    }
    end = s + strcspn(s, "/?#");
    at = memrchr(s, '@', (size_t)(end - s));
    hs = at ? at + 1 : s;
    if (*hs == '[') {
        he = memchr(hs, ']', (size_t)(end - hs));
        if (he == NULL)
            goto bad;
        colon = he + 1;
        hs++;
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (he == NULL)
            he = end;
        colon = he;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(p->host))
        goto bad;
    memcpy(p->host, hs, (size_t)(he - hs));
    p->port = p->kind == NET_PROXY_SOCKS5  ? 1080
              : p->kind == NET_PROXY_HTTPS ? 443
                                            : 80;
    if (colon < end && *colon == ':') {
        char *pe;
        long port = strtol(colon + 1, &pe, 10);
        if (pe != end || port <= 0 || port > 65535)
            goto bad;
        p->port = (int)port;
    } else if (colon != end) {
        goto bad;
    }
    if (at != NULL) {
        const char *c = memchr(s, ':', (size_t)(at - s));
        p->user = unescape(s, (size_t)((c ? c : at) - s));
        p->password = c ? unescape(c + 1, (size_t)(at - c - 1)) : NULL;
        if (p->user == NULL || (c != NULL && p->password == NULL))
            goto nomem;
    }
    {
        int v6 = strchr(p->host, ':') != NULL;
        const char *sch = p->kind == NET_PROXY_HTTP    ? "http"
                          : p->kind == NET_PROXY_HTTPS ? "https"
                          : socks_h                     ? "socks5h"
                                                        : "socks5";
        snprintf(p->display, sizeof(p->display), "%s://%s%s%s:%d", sch,
                 v6 ? "[" : "", p->host, v6 ? "]" : "", p->port);
        /* libcurl resolves socks5:// names itself; Go's dialer (kubectl)
         * hands the name to the proxy for both schemes. */
        if (asprintf(&p->url, "%s://%.*s%s%s%s:%d",
                     p->kind == NET_PROXY_SOCKS5 ? "socks5h" : sch,
                     at ? (int)(at - s + 1) : 0, s, v6 ? "[" : "", p->host,
                     v6 ? "]" : "", p->port) < 0) {
            p->url = NULL;
            goto nomem;
        }
    }
    return 0;
bad:
    net_proxy_cleanup(p);
    /* The URL may hold a password: say only where it is. */
    return dap_error_set(err, DAP_ECONFIG,
                         "%s is not a valid proxy URL "
                         "(SCHEME://[USER:PASSWORD@]HOST[:PORT])",
                         what);
nomem:
    net_proxy_cleanup(p);
    return dap_error_set(err, DAP_ENOMEM, "out of memory");
}

/* ---- the environment (Go's golang.org/x/net/http/httpproxy) ------------ */

static const char *env_any(const char *a, const char *b, const char **var)
{
    const char *v = getenv(a);

    *var = a;
    if (v == NULL || *v == '\0') {
        v = getenv(b);
        *var = b;
    }
    return v != NULL && *v != '\0' ? v : NULL;
}

/* One NO_PROXY entry e[0..n) (lowercase, trimmed) against host:port. */
static int entry_exempts(const char *e, size_t n, const char *host,
                         int port, int host_is_ip, const unsigned char *ip,
                         int ip_len)
{
    char buf[300], *slash, *pp = NULL;
    unsigned char net[16];
    int eport = 0;

    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, e, n);
    buf[n] = '\0';
    if (strcmp(buf, "*") == 0)
        return 1;
    slash = strchr(buf, '/');
    if (slash != NULL) { /* CIDR */
        int fam = strchr(buf, ':') ? AF_INET6 : AF_INET, len = fam == AF_INET ? 4 : 16;
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        *slash = '\0';
        if (!host_is_ip || ip_len != len || *end != '\0' || bits < 0 ||
            bits > len * 8 || inet_pton(fam, buf, net) != 1)
            return 0;
        for (int i = 0; i < bits; i++) {
            int m = 0x80 >> (i & 7);
            if ((ip[i >> 3] & m) != (net[i >> 3] & m))
                return 0;
        }
        return 1;
    }
    /* [v6]:port, v4:port, name:port, or no port */
    if (buf[0] == '[') {
        char *rb = strchr(buf, ']');
        if (rb == NULL)
            return 0;
        *rb = '\0';
        if (rb[1] == ':')
            pp = rb + 2;
        memmove(buf, buf + 1, strlen(buf + 1) + 1);
    } else {
        char *c = strchr(buf, ':');
        if (c != NULL && strchr(c + 1, ':') == NULL) {
            *c = '\0';
            pp = c + 1;
        }
    }
    if (pp != NULL)
        eport = atoi(pp);
    if (eport != 0 && eport != port)
        return 0;
    {
        int len = strchr(buf, ':') ? 16 : 4;
        if (inet_pton(len == 4 ? AF_INET : AF_INET6, buf, net) == 1)
            return host_is_ip && ip_len == len && memcmp(ip, net, len) == 0;
    }
    if (host_is_ip)
        return 0; /* names match names only */
    {
        const char *d = buf;
        size_t hl = strlen(host), dl;
        int match_host = 1;
        if (strncmp(d, "*.", 2) == 0)
            d++;
        if (*d == '.')
            match_host = 0;
        else if (strcasecmp(host, d) == 0)
            return 1;
        if (!match_host)
            d++;
        dl = strlen(d);
        /* host ends with ".d" */
        return hl > dl + 1 && host[hl - dl - 1] == '.' &&
               strcasecmp(host + hl - dl, d) == 0;
    }
}

int net_proxy_exempt(const char *no_proxy, const char *host, int port)
{
    unsigned char ip[16];
    int ip_len = 0;
    const char *s = no_proxy;

    if (no_proxy == NULL)
        return 0;
    if (inet_pton(AF_INET, host, ip) == 1)
        ip_len = 4;
    else if (inet_pton(AF_INET6, host, ip) == 1)
        ip_len = 16;
    while (*s) {
        const char *e = s + strcspn(s, ","), *b = s, *t = e;
        char low[300];
        size_t n;
        while (b < t && isspace((unsigned char)*b))
            b++;
        while (t > b && isspace((unsigned char)t[-1]))
            t--;
        n = (size_t)(t - b) < sizeof(low) ? (size_t)(t - b) : 0;
        for (size_t i = 0; i < n; i++)
            low[i] = (char)tolower((unsigned char)b[i]);
        if (entry_exempts(low, n, host, port, ip_len != 0, ip, ip_len))
            return 1;
        s = *e ? e + 1 : e;
    }
    return 0;
}

const char *net_proxy_from_env(int tls, const char *host, int port,
                                const char **var)
{
    const char *nv, *no_proxy, *proxy;
    unsigned char ip[16];

    proxy = tls ? env_any("HTTPS_PROXY", "https_proxy", var)
                : env_any("HTTP_PROXY", "http_proxy", var);
    if (proxy == NULL)
        return NULL;
    if (strcasecmp(host, "localhost") == 0)
        return NULL;
    if (inet_pton(AF_INET, host, ip) == 1 && ip[0] == 127)
        return NULL;
    if (inet_pton(AF_INET6, host, ip) == 1 &&
        memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0)
        return NULL;
    no_proxy = env_any("NO_PROXY", "no_proxy", &nv);
    if (net_proxy_exempt(no_proxy, host, port))
        return NULL;
    return proxy;
}

char *net_proxy_env_for_url(const char *url, struct dap_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    const char *env = NULL, *var = NULL;

    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
            CURLUE_OK) {
        char *h = host;
        size_t hl = strlen(h);
        if (hl > 1 && h[0] == '[' && h[hl - 1] == ']') { /* IPv6 */
            h[hl - 1] = '\0';
            h++;
        }
        env = net_proxy_from_env(strcasecmp(scheme, "https") == 0, h,
                                 atoi(port), &var);
    }
    if (env == NULL) {
        out = strdup("");
    } else {
        struct net_proxy p;
        char what[64];
        snprintf(what, sizeof(what), "the environment's %s", var);
        if (net_proxy_parse(env, what, &p, err) == 0) {
            out = strdup(p.url);
            net_proxy_cleanup(&p);
        } else {
            var = NULL; /* err says why */
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    if (out == NULL && (env == NULL || var != NULL))
        dap_error_set(err, DAP_ENOMEM, "out of memory");
    return out;
}

/* ---- HTTP CONNECT -------------------------------------------------------- */

char *net_proxy_connect_request(const struct net_proxy *p, const char *host,
                                 int port)
{
    int v6 = strchr(host, ':') != NULL;
    char *auth = NULL, *out = NULL;
    int n;

    if (p->user != NULL) {
        char *up = NULL, *b64 = NULL;
        n = asprintf(&up, "%s:%s", p->user, p->password ? p->password : "");
        if (n < 0)
            return NULL;
        if (dap_b64_encode(up, (size_t)n, &b64) < 0)
            b64 = NULL;
        dap_secret_free(up);
        if (b64 == NULL)
            return NULL;
        n = asprintf(&auth, "Proxy-Authorization: Basic %s\r\n", b64);
        dap_secret_free(b64);
        if (n < 0)
            return NULL;
    }
    n = asprintf(&out,
                 "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n"
                 "User-Agent: kdap/" KDAP_VERSION "\r\n%s\r\n",
                 v6 ? "[" : "", host, v6 ? "]" : "", port, v6 ? "[" : "",
                 host, v6 ? "]" : "", port, auth ? auth : "");
    dap_secret_free(auth);
    return n < 0 ? NULL : out;
}

int net_proxy_connect_response(const char *buf, size_t len, int *status,
                                char *reason, size_t reason_size)
{
    const char *end = NULL, *sp, *eol;
    size_t rn;

    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i + 4;
            break;
        }
    }
    if (end == NULL)
        return len > MAX_CONNECT_HEAD ? DAP_EPROTO : 0;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
        !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
        !isdigit((unsigned char)buf[11]))
        return DAP_EPROTO;
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    sp = buf + 12;
    eol = memchr(buf, '\r', (size_t)(end - buf));
    while (sp < eol && *sp == ' ')
        sp++;
    rn = sp < eol ? (size_t)(eol - sp) : 0;
    if (reason_size > 0) {
        if (rn >= reason_size)
            rn = reason_size - 1;
        for (size_t i = 0; i < rn; i++)
            reason[i] = isprint((unsigned char)sp[i]) ? sp[i] : '?';
        reason[rn] = '\0';
    }
    return (int)(end - buf);
}

/* ---- SOCKS5 (RFC 1928, RFC 1929) ---------------------------------------- */

int net_socks5_greeting(int with_auth, uint8_t *out)
{
    out[0] = 5;
    if (with_auth) {
        out[1] = 2;
        out[2] = 0; /* no authentication */
        out[3] = 2; /* username/password */
        return 4;
    }
    out[1] = 1;
    out[2] = 0;
    return 3;
}

int net_socks5_auth(const struct net_proxy *p, uint8_t *out)
{
    size_t ul = p->user ? strlen(p->user) : 0;
    size_t pl = p->password ? strlen(p->password) : 0;

    if (ul == 0 || ul > 255 || pl > 255)
        return DAP_EINVAL;
    out[0] = 1;
    out[1] = (uint8_t)ul;
    memcpy(out + 2, p->user, ul);
    out[2 + ul] = (uint8_t)pl;
    if (pl > 0)
        memcpy(out + 3 + ul, p->password, pl);
    return (int)(3 + ul + pl);
}

int net_socks5_connect(const char *host, int port, uint8_t *out)
{
    size_t n = 4;
    size_t hl = strlen(host);

    out[0] = 5;
    out[1] = 1; /* CONNECT */
    out[2] = 0;
    if (inet_pton(AF_INET, host, out + 4) == 1) {
        out[3] = 1;
        n += 4;
    } else if (inet_pton(AF_INET6, host, out + 4) == 1) {
        out[3] = 4;
        n += 16;
    } else {
        if (hl == 0 || hl > 255)
            return DAP_EINVAL;
        out[3] = 3;
        out[4] = (uint8_t)hl;
        memcpy(out + 5, host, hl);
        n += 1 + hl;
    }
    out[n++] = (uint8_t)(port >> 8);
    out[n++] = (uint8_t)port;
    return (int)n;
}

int net_socks5_reply(const uint8_t *buf, size_t len, int *rep)
{
    size_t need;

    if (len < 5)
        return 0;
    if (buf[0] != 5)
        return DAP_EPROTO;
    *rep = buf[1];
    switch (buf[3]) {
    case 1:
        need = 4 + 4 + 2;
        break;
    case 4:
        need = 4 + 16 + 2;
        break;
    case 3:
        need = 4 + 1 + (size_t)buf[4] + 2;
        break;
    default:
        /* A failure may come with no usable address. */
        return buf[1] != 0 ? (int)len : DAP_EPROTO;
    }
    return len < need ? 0 : (int)need;
}

const char *net_socks5_reply_text(int rep)
{
    static const char *const t[] = {
        "succeeded",
        "general SOCKS server failure",
        "connection not allowed by ruleset",
        "network unreachable",
        "host unreachable",
        "connection refused",
        "TTL expired",
        "command not supported",
        "address type not supported",
    };
    return rep >= 0 && rep < (int)(sizeof(t) / sizeof(t[0])) ? t[rep]
                                                             : "unknown error";
}
