/* test_kube_proto.c - the pure protocol parts of kube/: channel codec,
 * port-forward prefixes, exec status, watch stream parser, Status
 * messages, request paths, exec credential output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/auth.h"
#include "kube/chan.h"
#include "kube/client.h"
#include "kube/client_int.h"
#include "kube/watch.h"
#include "net/ws.h"
#include "tests/test.h"

#define ASSERT_CONTAINS(hay, needle)                                           \
    do {                                                                       \
        if (strstr((hay), (needle)) == NULL) {                                 \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n",         \
                    __FILE__, __LINE__, (hay), (needle));                      \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static void test_chan(void)
{
    uint8_t out[64], scratch[64];
    struct kube_chan_msg m;
    int binary;
    size_t n;

    ASSERT_EQ(kube_chan_proto_parse(NULL), KUBE_CHAN_V4);
    ASSERT_EQ(kube_chan_proto_parse(""), KUBE_CHAN_V4);
    ASSERT_EQ(kube_chan_proto_parse("v5.channel.k8s.io"), KUBE_CHAN_V5);
    ASSERT_EQ(kube_chan_proto_parse("v4.base64.channel.k8s.io"),
              KUBE_CHAN_V4_BASE64);
    ASSERT_EQ(kube_chan_proto_parse("channel.k8s.io"), KUBE_CHAN_UNKNOWN);

    n = kube_chan_encode(KUBE_CHAN_V4, 0, (const uint8_t *)"abc", 3, out,
                         &binary);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(binary, 1);
    ASSERT(memcmp(out, "\0abc", 4) == 0);
    ASSERT_OK(kube_chan_decode(KUBE_CHAN_V4, out, n, NULL, &m));
    ASSERT_EQ(m.channel, 0);
    ASSERT_EQ(m.len, 3);
    ASSERT_EQ(kube_chan_decode(KUBE_CHAN_V4, out, 0, NULL, &m), 1);

    n = kube_chan_encode(KUBE_CHAN_V4_BASE64, 1, (const uint8_t *)"hello", 5,
                         out, &binary);
    ASSERT_EQ(binary, 0);
    ASSERT_EQ(n, kube_chan_encoded_size(KUBE_CHAN_V4_BASE64, 5));
    ASSERT(memcmp(out, "1aGVsbG8=", 9) == 0);
    ASSERT_OK(kube_chan_decode(KUBE_CHAN_V4_BASE64, out, n, scratch, &m));
    ASSERT_EQ(m.channel, 1);
    ASSERT_EQ(m.len, 5);
    ASSERT(memcmp(m.data, "hello", 5) == 0);
    ASSERT_EQ(kube_chan_decode(KUBE_CHAN_V4_BASE64, (const uint8_t *)"x", 1,
                               scratch, &m),
              DAP_EPROTO);
    ASSERT_EQ(kube_chan_decode(KUBE_CHAN_V4_BASE64, (const uint8_t *)"1a$",
                               3, scratch, &m),
              DAP_EPROTO);
}

static void test_pf_state(void)
{
    struct kube_pf_state s;
    struct kube_chan_msg m;
    struct dap_error e;
    const uint8_t *d;
    size_t n;
    /* port 9229 = 0x240D: little-endian 0D 24 */
    const uint8_t p0[] = {0x0D, 0x24}, p1a[] = {0x0D}, p1b[] = {0x24, 'E'};

    kube_pf_state_init(&s, 9229);
    m.channel = 0;
    m.data = p0;
    m.len = 2;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), KUBE_PF_NONE);
    /* A prefix split over two messages, then error text. */
    m.channel = 1;
    m.data = p1a;
    m.len = 1;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), KUBE_PF_NONE);
    m.data = p1b;
    m.len = 2;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), KUBE_PF_ERROR);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(d[0], 'E');
    m.channel = 0;
    m.data = (const uint8_t *)"data";
    m.len = 4;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), KUBE_PF_DATA);
    ASSERT_EQ(n, 4);
    m.channel = 2;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), DAP_EPROTO);

    /* Wrong port announced. */
    kube_pf_state_init(&s, 80);
    m.channel = 0;
    m.data = p0;
    m.len = 2;
    ASSERT_EQ(kube_pf_feed(&s, &m, &d, &n, &e), DAP_EPROTO);
    ASSERT_CONTAINS(e.msg, "announced port 9229");
}

static void test_exec_status(void)
{
    struct dap_error e;
    int code;
    const char *ok = "{\"metadata\":{},\"status\":\"Success\"}";
    const char *nz =
        "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command "
        "terminated with non-zero exit code: 3\",\"reason\":"
        "\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
        "\"ExitCode\",\"message\":\"3\"}]}}";
    const char *ie = "{\"metadata\":{},\"status\":\"Failure\",\"message\":"
                     "\"exec: not found\",\"reason\":\"InternalError\","
                     "\"code\":500}";

    ASSERT_OK(kube_exec_status_parse((const uint8_t *)ok, strlen(ok), &code,
                                     &e));
    ASSERT_EQ(code, 0);
    ASSERT_OK(kube_exec_status_parse((const uint8_t *)nz, strlen(nz), &code,
                                     &e));
    ASSERT_EQ(code, 3);
    ASSERT_EQ(kube_exec_status_parse((const uint8_t *)ie, strlen(ie), &code,
                                     &e),
              DAP_EBACKEND);
    ASSERT_CONTAINS(e.msg, "exec: not found");
    ASSERT_EQ(kube_exec_status_parse((const uint8_t *)"plain text", 10,
                                     &code, &e),
              DAP_EPROTO);
    ASSERT_STR_EQ(e.msg, "plain text");
}

struct collect {
    int n;
    char types[8][16];
};

static int collect_fn(void *data, json_t *obj)
{
    struct collect *c = data;
    const char *t = json_string_value(json_object_get(obj, "type"));

    if (c->n < 8)
        snprintf(c->types[c->n], sizeof(c->types[0]), "%s", t ? t : "?");
    c->n++;
    return 0;
}

static void test_watch_parser(void)
{
    const char *stream =
        "{\"type\":\"ADDED\",\"object\":{\"s\":\"a}{\\\"b\",\"l\":[1,{}]}}\n"
        "  {\"type\":\"MODIFIED\",\"object\":{}}"
        "{\"type\":\"DELETED\",\"object\":{}}\r\n";
    struct kube_watch_parser p;
    struct collect c;
    size_t len = strlen(stream);

    /* Whole, then byte by byte: same events. */
    memset(&c, 0, sizeof(c));
    kube_watch_parser_init(&p, 0);
    ASSERT_OK(kube_watch_parser_feed(&p, stream, len, collect_fn, &c));
    ASSERT_EQ(c.n, 3);
    ASSERT_STR_EQ(c.types[2], "DELETED");
    kube_watch_parser_cleanup(&p);

    memset(&c, 0, sizeof(c));
    kube_watch_parser_init(&p, 0);
    for (size_t i = 0; i < len; i++)
        ASSERT_OK(kube_watch_parser_feed(&p, stream + i, 1, collect_fn, &c));
    ASSERT_EQ(c.n, 3);
    ASSERT_STR_EQ(c.types[0], "ADDED");
    ASSERT_STR_EQ(c.types[1], "MODIFIED");
    kube_watch_parser_cleanup(&p);

    /* Garbage between objects, an object too big. */
    kube_watch_parser_init(&p, 0);
    ASSERT_EQ(kube_watch_parser_feed(&p, "x{}", 3, collect_fn, &c),
              DAP_EPROTO);
    kube_watch_parser_cleanup(&p);
    kube_watch_parser_init(&p, 16);
    ASSERT_EQ(kube_watch_parser_feed(&p, "{\"a\":\"0123456789abcdef\"}", 24,
                                     collect_fn, &c),
              DAP_ETOOBIG);
    kube_watch_parser_cleanup(&p);
    /* Unbalanced closing: the scanner closes, jansson rejects. */
    kube_watch_parser_init(&p, 0);
    ASSERT_EQ(kube_watch_parser_feed(&p, "{\"a\":]}", 7, collect_fn, &c),
              DAP_EPROTO);
    kube_watch_parser_cleanup(&p);
}

static void test_paths_and_status(void)
{
    struct kube_path_info pi;
    struct dap_error e;
    const char *forbidden =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
        "\"message\":\"pods \\\"x\\\" is forbidden: User \\\"r\\\" cannot "
        "create resource \\\"pods/portforward\\\"\",\"reason\":"
        "\"Forbidden\",\"code\":403}";
    const char *invalid =
        "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Pod "
        "\\\"x\\\" is invalid\",\"reason\":\"Invalid\",\"details\":{"
        "\"causes\":[{\"reason\":\"FieldValueRequired\",\"field\":"
        "\"spec.containers[0].image\",\"message\":\"Required value\"}]},"
        "\"code\":422}";
    const char *nf = "{\"kind\":\"Status\",\"message\":\"pods \\\"x\\\" not "
                     "found\",\"reason\":\"NotFound\",\"code\":404}";
    const char *conflict = "{\"kind\":\"Status\",\"message\":\"pods \\\"x\\\" "
                           "already exists\",\"reason\":\"AlreadyExists\","
                           "\"code\":409}";

    ASSERT_OK(kube_path_parse("GET", "/api/v1/namespaces/ns/pods/p/log?x=1",
                              &pi));
    ASSERT_STR_EQ(pi.verb, "get");
    ASSERT_STR_EQ(pi.resource, "pods/log");
    ASSERT_STR_EQ(pi.ns, "ns");
    ASSERT_STR_EQ(pi.name, "p");
    ASSERT_OK(kube_path_parse("GET", "/api/v1/namespaces/ns/pods?watch=1",
                              &pi));
    ASSERT_STR_EQ(pi.verb, "watch");
    ASSERT_OK(kube_path_parse("GET", "/apis/apps/v1/deployments", &pi));
    ASSERT_STR_EQ(pi.verb, "list");
    ASSERT_STR_EQ(pi.group, "apps");
    ASSERT_STR_EQ(pi.ns, "");
    ASSERT_OK(kube_path_parse("PATCH",
                              "/api/v1/namespaces/n/pods/p/ephemeralcontainers",
                              &pi));
    ASSERT_STR_EQ(pi.verb, "patch");
    ASSERT_STR_EQ(pi.resource, "pods/ephemeralcontainers");
    ASSERT_OK(kube_path_parse("GET", "/api/v1/namespaces/n", &pi));
    ASSERT_STR_EQ(pi.resource, "namespaces");
    ASSERT_STR_EQ(pi.ns, "n");
    ASSERT_EQ(kube_path_parse("GET", "/version", &pi), -1);

    ASSERT_EQ(kube_status_message(401, "GET", "/api/v1/namespaces/a/pods",
                                  "{}", 2, "user \"u\"", &e),
              DAP_EBACKEND);
    ASSERT_CONTAINS(e.msg, "rejected the credentials of user \"u\"");
    kube_status_message(403, "POST",
                        "/api/v1/namespaces/a/pods/x/portforward?ports=1",
                        forbidden, strlen(forbidden), "user \"r\"", &e);
    ASSERT_CONTAINS(e.msg, "may not create pods/portforward in namespace a");
    kube_status_message(404, "GET", "/api/v1/namespaces/a/pods/x", nf,
                        strlen(nf), "u", &e);
    ASSERT_CONTAINS(e.msg, "pods \"x\" not found (namespace a)");
    kube_status_message(409, "POST", "/api/v1/namespaces/a/pods", conflict,
                        strlen(conflict), "u", &e);
    ASSERT_CONTAINS(e.msg, "conflict (409, AlreadyExists)");
    kube_status_message(422, "POST", "/api/v1/namespaces/a/pods", invalid,
                        strlen(invalid), "u", &e);
    ASSERT_CONTAINS(e.msg, "spec.containers[0].image: Required value");
    kube_status_message(502, "GET", "/x", "Bad gateway\nmore", 16, "u", &e);
    ASSERT_CONTAINS(e.msg, "502: Bad gateway");
}

static void test_server_and_escape(void)
{
    struct kube__server s;
    char *q;

    ASSERT_OK(kube__server_parse("https://127.0.0.1:6443", &s));
    ASSERT_STR_EQ(s.host, "127.0.0.1");
    ASSERT_EQ(s.port, 6443);
    ASSERT_EQ(s.tls, 1);
    ASSERT_OK(kube__server_parse("https://[::1]/prefix", &s));
    ASSERT_STR_EQ(s.host, "::1");
    ASSERT_EQ(s.port, 443);
    ASSERT_STR_EQ(s.prefix, "/prefix");
    ASSERT_EQ(kube__server_parse("ftp://x", &s), -1);
    ASSERT_EQ(kube__server_parse("https://x:99999", &s), -1);
    q = kube_query_escape("metadata.name=a b&c");
    ASSERT_STR_EQ(q, "metadata.name%3Da%20b%26c");
    free(q);
}

static void test_exec_credential(void)
{
    struct kube_exec_result r;
    struct dap_error e;
    time_t t;
    const char *v1 = "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                     "\"kind\":\"ExecCredential\",\"status\":{\"token\":"
                     "\"tok-123\",\"expirationTimestamp\":"
                     "\"2030-01-02T03:04:05Z\"}}";
    const char *cert = "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1"
                       "\",\"kind\":\"ExecCredential\",\"status\":{"
                       "\"clientCertificateData\":\"C\",\"clientKeyData\":"
                       "\"K\"}}";
    const char *half = "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                       "\"kind\":\"ExecCredential\",\"status\":{"
                       "\"clientCertificateData\":\"C\"}}";

    ASSERT_OK(kube_time_parse("1970-01-01T00:01:00Z", &t));
    ASSERT_EQ(t, 60);
    ASSERT_OK(kube_time_parse("1970-01-01T01:00:00.5+01:00", &t));
    ASSERT_EQ(t, 0);
    ASSERT_EQ(kube_time_parse("yesterday", &t), -1);

    ASSERT_OK(kube_exec_output_parse(v1, strlen(v1),
                                     "client.authentication.k8s.io/v1", &r,
                                     &e));
    ASSERT_STR_EQ(r.token, "tok-123");
    ASSERT_EQ(r.expiry, 1893553445);
    kube_exec_result_cleanup(&r);
    ASSERT_OK(kube_exec_output_parse(cert, strlen(cert),
                                     "client.authentication.k8s.io/v1beta1",
                                     &r, &e));
    ASSERT_STR_EQ(r.cert_pem, "C");
    ASSERT_STR_EQ(r.key_pem, "K");
    kube_exec_result_cleanup(&r);
    /* Wrong apiVersion, half a certificate, not JSON: no output quoted. */
    ASSERT_EQ(kube_exec_output_parse(v1, strlen(v1),
                                     "client.authentication.k8s.io/v1beta1",
                                     &r, &e),
              DAP_ECONFIG);
    ASSERT(strstr(e.msg, "tok-123") == NULL);
    ASSERT_EQ(kube_exec_output_parse(half, strlen(half),
                                     "client.authentication.k8s.io/v1", &r,
                                     &e),
              DAP_ECONFIG);
    ASSERT_EQ(kube_exec_output_parse("tok-123", 7,
                                     "client.authentication.k8s.io/v1", &r,
                                     &e),
              DAP_ECONFIG);
    ASSERT(strstr(e.msg, "tok-123") == NULL);
}

static void test_ws_frames(void)
{
    struct net_ws_frame f;
    uint8_t hdr[14], mask[4] = {1, 2, 3, 4};
    char acc[29];
    const uint8_t small[] = {0x82, 0x03, 0, 1, 2};
    const uint8_t ext16[] = {0x81, 126, 0x01, 0x00};
    const uint8_t rsv[] = {0xc2, 0x00};
    const uint8_t bigping[] = {0x89, 126, 0, 200};
    const uint8_t fragclose[] = {0x08, 0x00};
    size_t h;

    /* RFC 6455 section 1.3's example. */
    net_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc);
    ASSERT_STR_EQ(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ASSERT_EQ(net_ws_frame_parse(small, 1, &f), 0);
    ASSERT_EQ(net_ws_frame_parse(small, sizeof(small), &f), 1);
    ASSERT_EQ(f.opcode, 2);
    ASSERT_EQ(f.fin, 1);
    ASSERT_EQ(f.len, 3);
    ASSERT_EQ(f.header_len, 2);
    ASSERT_EQ(net_ws_frame_parse(ext16, 3, &f), 0);
    ASSERT_EQ(net_ws_frame_parse(ext16, 4, &f), 1);
    ASSERT_EQ(f.len, 256);
    ASSERT_EQ(net_ws_frame_parse(rsv, 2, &f), DAP_EPROTO);
    ASSERT_EQ(net_ws_frame_parse(bigping, 4, &f), DAP_EPROTO);
    ASSERT_EQ(net_ws_frame_parse(fragclose, 2, &f), DAP_EPROTO);
    h = net_ws_frame_header(hdr, 2, 70000, mask);
    ASSERT_EQ(h, 14);
    ASSERT_EQ(net_ws_frame_parse(hdr, h, &f), 1);
    ASSERT_EQ(f.len, 70000);
    ASSERT_EQ(f.masked, 1);
    ASSERT_EQ(f.mask[3], 4);
}

int main(void)
{
    test_ws_frames();
    test_chan();
    test_pf_state();
    test_exec_status();
    test_watch_parser();
    test_paths_and_status();
    test_server_and_escape();
    test_exec_credential();
    printf("test_kube_proto: ok\n");
    return 0;
}
