/* test_net_ws_tls.c - net/ws.c over TLS (wss), as the Kubernetes
 * port-forward uses it: a CA given in memory, a subprotocol, and verification
 * on unless told otherwise.  The server is a small blocking OpenSSL WebSocket
 * echo in a thread, with a self-signed certificate made at start.
 * Three connections: no CA (must fail verification), the CA in memory
 * (must work), no CA but insecure (must work). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/ws.h"
#include "tests/test.h"

static EVP_PKEY *pkey;
static X509 *cert;
static char *cert_pem;
static int listen_fd, port;

static void make_cert(void)
{
    X509_NAME *name;
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    BIO *bio;
    char *data;
    long n;

    pkey = EVP_EC_gen("P-256");
    ASSERT(pkey != NULL);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pkey);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
                              "IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              "critical,CA:TRUE");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ASSERT(X509_sign(cert, pkey, EVP_sha256()) > 0);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    n = BIO_get_mem_data(bio, &data);
    cert_pem = malloc((size_t)n + 1);
    memcpy(cert_pem, data, (size_t)n);
    cert_pem[n] = '\0';
    BIO_free(bio);
}

/* ---- the server thread -------------------------------------------------- */

static int read_until(SSL *ssl, char *buf, size_t cap, const char *end)
{
    size_t len = 0;

    while (len + 1 < cap) {
        int n = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, end) != NULL)
            return (int)len;
    }
    return -1;
}

static void serve_one(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    char req[4096];
    char keybuf[64], b64[29], resp[512];
    unsigned char fr[256];
    const char *key;
    size_t kl;
    int n;

    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0)
        goto out; /* the client refused our certificate */
    if (read_until(ssl, req, sizeof(req), "\r\n\r\n") < 0)
        goto out;
    ASSERT(strstr(req, "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"));
    key = strstr(req, "Sec-WebSocket-Key: ");
    ASSERT(key != NULL);
    key += 19;
    kl = strcspn(key, "\r");
    snprintf(keybuf, sizeof(keybuf), "%.*s", (int)kl, key);
    net_ws_accept_key(keybuf, b64);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
             "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
             b64);
    SSL_write(ssl, resp, (int)strlen(resp));
    /* One masked binary frame from the client, echoed with a prefix. */
    n = SSL_read(ssl, fr, sizeof(fr));
    if (n >= 6 && (fr[1] & 0x7f) < 126 && n >= 6 + (fr[1] & 0x7f)) {
        size_t len = fr[1] & 0x7f;
        unsigned char out[300];
        ASSERT(fr[0] == 0x82); /* FIN + binary */
        out[0] = 0x82;
        out[1] = (unsigned char)(len + 5);
        memcpy(out + 2, "echo:", 5);
        for (size_t i = 0; i < len; i++)
            out[7 + i] = fr[6 + i] ^ fr[2 + i % 4];
        SSL_write(ssl, out, (int)(len + 7));
    }
    while (SSL_read(ssl, fr, sizeof(fr)) > 0)
        ;
out:
    SSL_free(ssl);
    close(fd);
}

static void *server_main(void *arg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    (void)arg;
    ASSERT(SSL_CTX_use_certificate(ctx, cert) == 1);
    ASSERT(SSL_CTX_use_PrivateKey(ctx, pkey) == 1);
    for (int i = 0; i < 3; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        serve_one(ctx, fd);
    }
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- the client --------------------------------------------------------- */

static uv_loop_t loop;
static uv_timer_t freer;
static net_ws *ws;
static int status_seen;
static char echo[64];
static char why[256];

static void on_open(void *data, net_ws *w, const char *subprotocol)
{
    (void)data;
    ASSERT_STR_EQ(subprotocol, "v4.channel.k8s.io");
    ASSERT_OK(net_ws_send(w, "hi", 2, 1));
}

static void on_message(void *data, net_ws *w, const uint8_t *buf, size_t len,
                       int binary)
{
    (void)data;
    ASSERT(binary);
    snprintf(echo, sizeof(echo), "%.*s", (int)len, (const char *)buf);
    net_ws_close(w);
}

static void free_cb(uv_timer_t *t)
{
    (void)t;
    net_ws_free(ws);
    ws = NULL;
}

static void on_closed(void *data, net_ws *w, int status, int http_status,
                      const char *body, const struct dap_error *err)
{
    (void)data;
    (void)w;
    (void)http_status;
    (void)body;
    status_seen = status;
    snprintf(why, sizeof(why), "%s", status < 0 ? err->msg : "");
    if (status < 0 && getenv("WS_DEBUG"))
        fprintf(stderr, "closed: %s\n", err->msg);
    uv_timer_start(&freer, free_cb, 0, 0);
}

static void run_one(int with_ca, int insecure)
{
    struct net_ws_options o;
    struct net_ws_callbacks cb = {on_open, on_message, NULL, on_closed, NULL};
    struct dap_error err;

    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.path = "/api/v1/namespaces/x/pods/y/portforward?ports=9229";
    o.subprotocols = "v4.channel.k8s.io";
    o.tls = 1;
    o.insecure = insecure;
    if (with_ca) {
        o.ca_pem = cert_pem;
        o.ca_len = strlen(cert_pem);
    }
    o.timeout_ms = 5000;
    echo[0] = '\0';
    status_seen = 99;
    ASSERT_OK(net_ws_new(&loop, &o, &cb, &ws, &err));
    while (ws != NULL)
        uv_run(&loop, UV_RUN_ONCE);
}

int main(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    pthread_t th;

    make_cert();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(listen(listen_fd, 4));
    getsockname(listen_fd, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    ASSERT_OK(pthread_create(&th, NULL, server_main, NULL));

    ASSERT_OK(uv_loop_init(&loop));
    uv_timer_init(&loop, &freer);

    run_one(0, 0); /* no CA: verification fails */
    ASSERT(status_seen < 0);
    ASSERT(strstr(why, "certificate verify failed") != NULL);
    ASSERT_STR_EQ(echo, "");
    run_one(1, 0); /* the CA from memory */
    ASSERT_EQ(status_seen, 0);
    ASSERT_STR_EQ(echo, "echo:hi");
    run_one(0, 1); /* insecure */
    ASSERT_EQ(status_seen, 0);
    ASSERT_STR_EQ(echo, "echo:hi");

    pthread_join(th, NULL);
    close(listen_fd);
    uv_close((uv_handle_t *)&freer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    X509_free(cert);
    EVP_PKEY_free(pkey);
    free(cert_pem);
    printf("test_net_ws_tls: ok\n");
    return 0;
}
