/* test_net_proxy.c - net/proxy: proxy URLs, the environment as Go reads
 * it (NO_PROXY rules, loopback exempt), CONNECT and SOCKS5 messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy.h"
#include "tests/test.h"

static void test_parse(void)
{
    struct net_proxy p;
    struct dap_error e;

    ASSERT_OK(net_proxy_parse("http://u%40x:p%3Aw@proxy.corp:3128", "t", &p,
                               &e));
    ASSERT_EQ(p.kind, NET_PROXY_HTTP);
    ASSERT_STR_EQ(p.host, "proxy.corp");
    ASSERT_EQ(p.port, 3128);
    ASSERT_STR_EQ(p.user, "u@x");
    ASSERT_STR_EQ(p.password, "p:w");
    ASSERT_STR_EQ(p.display, "http://proxy.corp:3128"); /* no credentials */
    ASSERT_STR_EQ(p.url, "http://u%40x:p%3Aw@proxy.corp:3128");
    net_proxy_cleanup(&p);

    /* no scheme: http://, default port 80 */
    ASSERT_OK(net_proxy_parse("10.0.0.1", "t", &p, &e));
    ASSERT_EQ(p.kind, NET_PROXY_HTTP);
    ASSERT_EQ(p.port, 80);
    ASSERT_NULL(p.user);
    net_proxy_cleanup(&p);

    /* socks5 hands names to the proxy, as Go does: socks5h for curl */
    ASSERT_OK(net_proxy_parse("socks5://[::1]:1080/", "t", &p, &e));
    ASSERT_EQ(p.kind, NET_PROXY_SOCKS5);
    ASSERT_STR_EQ(p.host, "::1");
    ASSERT_STR_EQ(p.display, "socks5://[::1]:1080");
    ASSERT_STR_EQ(p.url, "socks5h://[::1]:1080");
    net_proxy_cleanup(&p);
    ASSERT_OK(net_proxy_parse("socks5h://me@s", "t", &p, &e));
    ASSERT_EQ(p.port, 1080);
    ASSERT_STR_EQ(p.user, "me");
    ASSERT_NULL(p.password);
    ASSERT_STR_EQ(p.display, "socks5h://s:1080");
    net_proxy_cleanup(&p);
    ASSERT_OK(net_proxy_parse("https://p", "t", &p, &e));
    ASSERT_EQ(p.kind, NET_PROXY_HTTPS);
    ASSERT_EQ(p.port, 443);
    net_proxy_cleanup(&p);

    ASSERT_EQ(net_proxy_parse("ftp://p", "proxy-url of cluster \"c\"", &p,
                               &e),
              DAP_ECONFIG);
    ASSERT(strstr(e.msg, "proxy-url of cluster \"c\"") != NULL);
    ASSERT(strstr(e.msg, "\"ftp\"") != NULL);
    /* a bad URL's message never repeats it (it may hold a password) */
    ASSERT_EQ(net_proxy_parse("http://u:secretpw@h:99999", "t", &p, &e),
              DAP_ECONFIG);
    ASSERT(strstr(e.msg, "secretpw") == NULL);
    ASSERT_EQ(net_proxy_parse("http://:8080", "t", &p, &e), DAP_ECONFIG);
    ASSERT_EQ(net_proxy_parse("http://h:80x", "t", &p, &e), DAP_ECONFIG);
    ASSERT_EQ(net_proxy_parse("http://[::1", "t", &p, &e), DAP_ECONFIG);
}

static void test_no_proxy(void)
{
    ASSERT(net_proxy_exempt("*", "api.example.com", 443));
    ASSERT(net_proxy_exempt("a.org, example.com", "example.com", 443));
    ASSERT(net_proxy_exempt("example.com", "api.example.com", 443));
    ASSERT(!net_proxy_exempt("example.com", "badexample.com", 443));
    ASSERT(net_proxy_exempt(".example.com", "api.example.com", 443));
    ASSERT(!net_proxy_exempt(".example.com", "example.com", 443));
    ASSERT(net_proxy_exempt("*.example.com", "api.Example.com", 443));
    ASSERT(net_proxy_exempt("example.com:6443", "api.example.com", 6443));
    ASSERT(!net_proxy_exempt("example.com:6443", "api.example.com", 443));
    ASSERT(net_proxy_exempt("10.0.0.0/8", "10.1.2.3", 443));
    ASSERT(!net_proxy_exempt("10.0.0.0/8", "11.1.2.3", 443));
    ASSERT(!net_proxy_exempt("10.0.0.0/8", "ten.example", 443));
    ASSERT(net_proxy_exempt("192.168.1.5", "192.168.1.5", 443));
    ASSERT(net_proxy_exempt("192.168.1.5:443", "192.168.1.5", 443));
    ASSERT(!net_proxy_exempt("192.168.1.5:80", "192.168.1.5", 443));
    ASSERT(net_proxy_exempt("fd00::/8", "fd12::1", 443));
    ASSERT(net_proxy_exempt("[fd00::1]:443", "fd00::1", 443));
    /* names match names only */
    ASSERT(!net_proxy_exempt("1.2.3.4.example", "1.2.3.4", 443));
    ASSERT(!net_proxy_exempt("", "example.com", 443));
    ASSERT(!net_proxy_exempt(NULL, "example.com", 443));
}

static void test_env(void)
{
    const char *var = NULL;

    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("http_proxy");
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    ASSERT_NULL(net_proxy_from_env(1, "api.example.com", 443, &var));
    setenv("https_proxy", "http://lower:1", 1);
    ASSERT_STR_EQ(net_proxy_from_env(1, "api.example.com", 443, &var),
                  "http://lower:1");
    ASSERT_STR_EQ(var, "https_proxy");
    setenv("HTTPS_PROXY", "http://upper:1", 1);
    ASSERT_STR_EQ(net_proxy_from_env(1, "api.example.com", 443, &var),
                  "http://upper:1");
    ASSERT_STR_EQ(var, "HTTPS_PROXY");
    /* http_proxy is for http:// servers only */
    ASSERT_NULL(net_proxy_from_env(0, "api.example.com", 80, &var));
    setenv("HTTP_PROXY", "http://plain:1", 1);
    ASSERT_STR_EQ(net_proxy_from_env(0, "api.example.com", 80, &var),
                  "http://plain:1");
    /* never for loopback */
    ASSERT_NULL(net_proxy_from_env(1, "127.0.0.1", 6443, &var));
    ASSERT_NULL(net_proxy_from_env(1, "127.3.0.1", 6443, &var));
    ASSERT_NULL(net_proxy_from_env(1, "::1", 6443, &var));
    ASSERT_NULL(net_proxy_from_env(1, "LOCALHOST", 6443, &var));
    setenv("no_proxy", "example.com", 1);
    ASSERT_NULL(net_proxy_from_env(1, "api.example.com", 443, &var));
    ASSERT(net_proxy_from_env(1, "api.example.org", 443, &var) != NULL);
    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("no_proxy");
}

/* The environment's choice for a URL equals `want`. */
static void env_for_url_is(const char *url, const char *want)
{
    struct dap_error e;
    char *u = net_proxy_env_for_url(url, &e);

    ASSERT_STR_EQ(u, want);
    free(u);
}

static void test_env_for_url(void)
{
    struct dap_error e;

    /* direct, and libcurl told so */
    env_for_url_is("https://registry.example.com/v2/", "");
    setenv("HTTPS_PROXY", "u:p@px.corp:3128", 1);
    setenv("HTTP_PROXY", "socks5://px.corp", 1);
    env_for_url_is("https://registry.example.com/v2/", "http://u:p@px.corp:3128");
    env_for_url_is("http://registry.example.com:5000/v2/", "socks5h://px.corp:1080");
    env_for_url_is("http://127.0.0.1:5000/v2/", "");
    env_for_url_is("https://[::1]:5000/v2/", "");
    setenv("HTTPS_PROXY", "ftp://u:hidden@px", 1);
    ASSERT_NULL(net_proxy_env_for_url("https://registry.example.com/", &e));
    ASSERT_EQ(e.code, DAP_ECONFIG);
    ASSERT(strstr(e.msg, "HTTPS_PROXY") != NULL);
    ASSERT(strstr(e.msg, "hidden") == NULL);
    unsetenv("HTTPS_PROXY");
    unsetenv("HTTP_PROXY");
}

static void test_connect(void)
{
    struct net_proxy p;
    struct dap_error e;
    char *req, reason[64];
    int st = 0;
    const char *ok = "HTTP/1.1 200 Connection established\r\n\r\nTLS";
    const char *no = "HTTP/1.0 407 Proxy Authentication Required\r\n"
                     "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n";

    ASSERT_OK(net_proxy_parse("http://Aladdin:open%20sesame@p:3128", "t", &p,
                               &e));
    req = net_proxy_connect_request(&p, "10.0.0.1", 6443);
    ASSERT_STR_EQ(req, "CONNECT 10.0.0.1:6443 HTTP/1.1\r\n"
                       "Host: 10.0.0.1:6443\r\n"
                       "User-Agent: kdap/" KDAP_VERSION "\r\n"
                       "Proxy-Authorization: Basic "
                       "QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
    free(req);
    net_proxy_cleanup(&p);
    ASSERT_OK(net_proxy_parse("http://p", "t", &p, &e));
    req = net_proxy_connect_request(&p, "fd00::1", 443);
    ASSERT_STR_EQ(req, "CONNECT [fd00::1]:443 HTTP/1.1\r\n"
                       "Host: [fd00::1]:443\r\n"
                       "User-Agent: kdap/" KDAP_VERSION "\r\n\r\n");
    free(req);
    net_proxy_cleanup(&p);

    ASSERT_EQ(net_proxy_connect_response(ok, 20, &st, reason,
                                          sizeof(reason)),
              0);
    ASSERT_EQ(net_proxy_connect_response(ok, strlen(ok), &st, reason,
                                          sizeof(reason)),
              (int)strlen(ok) - 3);
    ASSERT_EQ(st, 200);
    ASSERT_STR_EQ(reason, "Connection established");
    ASSERT(net_proxy_connect_response(no, strlen(no), &st, reason,
                                       sizeof(reason)) > 0);
    ASSERT_EQ(st, 407);
    ASSERT_STR_EQ(reason, "Proxy Authentication Required");
    ASSERT_EQ(net_proxy_connect_response("SSH-2.0-x\r\n\r\n", 13, &st,
                                          reason, sizeof(reason)),
              DAP_EPROTO);
}

static void test_socks5(void)
{
    struct net_proxy p;
    struct dap_error e;
    uint8_t m[600];
    int rep = -1;
    static const uint8_t ok4[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90};
    static const uint8_t okname[] = {5, 0, 0, 3, 1, 'h', 0, 80};
    static const uint8_t refused[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};

    ASSERT_EQ(net_socks5_greeting(0, m), 3);
    ASSERT(memcmp(m, "\5\1\0", 3) == 0);
    ASSERT_EQ(net_socks5_greeting(1, m), 4);
    ASSERT(memcmp(m, "\5\2\0\2", 4) == 0);
    ASSERT_OK(net_proxy_parse("socks5://bob:pw@s:1", "t", &p, &e));
    ASSERT_EQ(net_socks5_auth(&p, m), 8);
    ASSERT(memcmp(m, "\1\3bob\2pw", 8) == 0);
    net_proxy_cleanup(&p);
    ASSERT_OK(net_proxy_parse("socks5://s:1", "t", &p, &e));
    ASSERT_EQ(net_socks5_auth(&p, m), DAP_EINVAL);
    net_proxy_cleanup(&p);

    ASSERT_EQ(net_socks5_connect("127.0.0.1", 6443, m), 10);
    ASSERT(memcmp(m, "\5\1\0\1\177\0\0\1\x19\x2b", 10) == 0);
    ASSERT_EQ(net_socks5_connect("api.x", 443, m), 12);
    ASSERT(memcmp(m, "\5\1\0\3\5api.x\1\xbb", 12) == 0);
    ASSERT_EQ(net_socks5_connect("::1", 443, m), 22);
    ASSERT_EQ(m[3], 4);

    ASSERT_EQ(net_socks5_reply(ok4, 9, &rep), 0);
    ASSERT_EQ(net_socks5_reply(ok4, sizeof(ok4), &rep), 10);
    ASSERT_EQ(rep, 0);
    ASSERT_EQ(net_socks5_reply(okname, sizeof(okname), &rep), 8);
    ASSERT_EQ(net_socks5_reply(refused, sizeof(refused), &rep), 10);
    ASSERT_EQ(rep, 5);
    ASSERT_STR_EQ(net_socks5_reply_text(rep), "connection refused");
    ASSERT_STR_EQ(net_socks5_reply_text(42), "unknown error");
    ASSERT_EQ(net_socks5_reply((const uint8_t *)"\4\0\0\1\0", 5, &rep),
              DAP_EPROTO);
}

int main(void)
{
    test_parse();
    test_no_proxy();
    test_env();
    test_env_for_url();
    test_connect();
    test_socks5();
    printf("test_net_proxy: ok\n");
    return 0;
}
