/* proxy.h - the proxy between kdap and a server (the API server, a
 * registry), chosen as Go clients (kubectl, skopeo) choose it, and the pure
 * parts of speaking to it.
 *
 * Which proxy: the cluster's `proxy-url` when the kubeconfig has one (for
 * every request, loopback included: client-go's http.ProxyURL); else the
 * environment as Go's http.ProxyFromEnvironment reads it: HTTPS_PROXY
 * (then https_proxy) for an https server, HTTP_PROXY / http_proxy for an
 * http one, never for `localhost` or a loopback address, and not for a
 * host NO_PROXY / no_proxy names (`*`, IPs, CIDRs, domains with their
 * subdomains, each optionally `:PORT`).  A proxy URL without a scheme is
 * http://.
 *
 * Every connection kdap opens goes through it: libcurl (REST, registries:
 * net_proxy_for_url) is handed the URL, the tunnels (net/ws) speak to
 * the proxy with the helpers below.  Registries have no proxy-url: only
 * the environment applies to them.  http:// proxies get `CONNECT host:port` with
 * the URL's user and password as `Proxy-Authorization: Basic`; socks5://
 * and socks5h:// proxies get RFC 1928 CONNECT (user/password of RFC 1929
 * when the URL has them), always with the server's name as written, as
 * Go's SOCKS dialer does for both schemes.  Credentials are never part of
 * net_proxy.display, which is what messages and logs show.  The facts:
 * docs/protocols.md, "Proxies".
 */
#ifndef KDAP_NET_PROXY_H
#define KDAP_NET_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "../dap/err.h"

enum net_proxy_kind {
    NET_PROXY_HTTP = 1,
    NET_PROXY_HTTPS,  /* TLS to the proxy: REST only (libcurl) */
    NET_PROXY_SOCKS5, /* socks5:// and socks5h:// */
};

struct net_proxy {
    int kind;
    char host[256]; /* without brackets */
    int port;
    char *user, *password; /* percent-decoded; NULL when absent; secrets */
    char *url;             /* for libcurl (socks5:// as socks5h://); holds
                              the credentials */
    char display[300];     /* scheme://host:port, for messages */
};

/* Parse a proxy URL (`what` names its origin for the message, e.g.
 * `proxy-url of cluster "c" (FILE)`).  Returns 0, DAP_ECONFIG or
 * DAP_ENOMEM; on success net_proxy_cleanup releases p. */
int net_proxy_parse(const char *url, const char *what, struct net_proxy *p,
                     struct dap_error *err) DAP_WUR;
void net_proxy_cleanup(struct net_proxy *p);

/* The environment's proxy for a server (tls: https), or NULL (also for
 * localhost and loopback servers, and those no_proxy names); *var is set
 * to the variable's name.  The string is the environment's. */
const char *net_proxy_from_env(int tls, const char *host, int port,
                                const char **var);
/* For a client without proxy-url (a registry): the environment's proxy for
 * `url` as CURLOPT_PROXY takes it, malloc'ed: a proxy URL (it may hold
 * credentials: wipe it), or "" for a direct connection (so that libcurl
 * does not read the environment by its own rules).  NULL with err set when
 * the variable holds no valid proxy URL, or out of memory. */
char *net_proxy_env_for_url(const char *url, struct dap_error *err);
/* Whether NO_PROXY text `no_proxy` exempts host:port (Go's rules). */
int net_proxy_exempt(const char *no_proxy, const char *host, int port);

/* "CONNECT host:port HTTP/1.1" with Host and, with credentials,
 * Proxy-Authorization.  Malloc'ed (wipe it: it may hold the password),
 * NULL when out of memory. */
char *net_proxy_connect_request(const struct net_proxy *p,
                                 const char *host, int port);
/* The proxy's answer to CONNECT: 0 while incomplete, else the length of
 * its head (status in *status, reason phrase copied into reason);
 * DAP_EPROTO when it is not HTTP or too long. */
int net_proxy_connect_response(const char *buf, size_t len, int *status,
                                char *reason, size_t reason_size) DAP_WUR;

/* SOCKS5 messages: each builder returns the length written into out
 * (room for 3 + 2 * 256 + 4 bytes), or DAP_EINVAL. */
int net_socks5_greeting(int with_auth, uint8_t *out);
int net_socks5_auth(const struct net_proxy *p, uint8_t *out);
int net_socks5_connect(const char *host, int port, uint8_t *out);
/* The CONNECT reply: 0 while incomplete, else its length, with the reply
 * code in *rep (0: succeeded); DAP_EPROTO when malformed. */
int net_socks5_reply(const uint8_t *buf, size_t len, int *rep) DAP_WUR;
/* RFC 1928's words for a reply code. */
const char *net_socks5_reply_text(int rep);

#endif
