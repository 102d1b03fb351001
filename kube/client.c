/* client.c - see client.h: libcurl multi on the libuv loop, Status
 * messages. */
#define _GNU_SOURCE /* asprintf, strptime, timegm */
#include "client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../dap/b64.h"
#include "../dap/buf.h"
#include "../dap/log.h"
#include "../net/curlm.h"
#include "client_int.h"
#include "../net/proxy.h"

#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 10000
#define MAX_BODY (64u << 20)

struct kube_client {
    uv_loop_t *loop;
    struct kube_config *cfg;
    kube_auth *auth;
    net_curlm *multi;        /* curl on the loop (net/curlm.h) */
    struct kube__server srv;
    struct curl_slist *connect_to; /* "name:port:host:port" for
                                      tls-server-name; curl borrows it */
    kube_request *reqs;      /* in flight, doubly linked */
    int warned_insecure;
    int has_proxy;
    struct net_proxy proxy; /* for every connection (see proxy.h) */
};

struct kube_request {
    kube_client *c;
    kube_request *prev, *next;
    kube_response_cb *cb;
    void *data;
    int (*chunk_fn)(void *data, const char *buf, size_t len);
    char *method, *path, *content_type, *body;
    size_t body_len;
    unsigned timeout_ms;
    CURL *easy;
    struct net_xfer xfer;         /* completion of easy */
    struct curl_slist *headers;   /* holds the Authorization line: wiped */
    kube_auth_wait *wait;
    dap_buf rx;
    int retried;                  /* re-sent once after a 401 */
    int stream_status;            /* what chunk_fn returned, if < 0 */
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- server URL --------------------------------------------------------- */

int kube__server_parse(const char *server, struct kube__server *s)
{
    const char *p, *hs, *he, *slash;

    memset(s, 0, sizeof(*s));
    if (strncmp(server, "https://", 8) == 0) {
        s->tls = 1;
        p = server + 8;
    } else if (strncmp(server, "http://", 7) == 0) {
        p = server + 7;
    } else {
        return -1;
    }
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(slash - hs));
        if (he == NULL)
            return -1;
        p = he + 1;
    } else {
        hs = p;
        he = memchr(p, ':', (size_t)(slash - p));
        if (he == NULL)
            he = slash;
        p = he;
    }
    if ((size_t)(he - hs) >= sizeof(s->host) || he == hs)
        return -1;
    memcpy(s->host, hs, (size_t)(he - hs));
    s->port = s->tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end != slash || port <= 0 || port > 65535)
            return -1;
        s->port = (int)port;
    } else if (p != slash) {
        return -1;
    }
    if (strlen(slash) >= sizeof(s->prefix))
        return -1;
    strcpy(s->prefix, slash);
    return 0;
}

void kube__who(kube_client *c, char *buf, size_t size)
{
    const struct kube_config *k = c->cfg;

    if (k->context[0])
        snprintf(buf, size, "user \"%s\" of context \"%s\" (%s, %s)",
                 k->user_name, k->context, k->source,
                 kube_auth_describe(c->auth));
    else
        snprintf(buf, size, "the service account (%s)", k->source);
}

/* ---- requests ----------------------------------------------------------- */

static void req_unlink(kube_request *r)
{
    kube_client *c = r->c;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}


static void easy_drop(kube_request *r)
{
    if (r->easy != NULL) {
        net_curlm_remove(r->c->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    net_headers_wipe(&r->headers);
}

static void req_free(kube_request *r)
{
    easy_drop(r);
    kube_auth_wait_cancel(r->wait);
    r->wait = NULL;
    dap_buf_cleanup(&r->rx);
    free(r->method);
    free(r->path);
    free(r->content_type);
    free(r->body);
    free(r);
}

/* Deliver the end of a request, then free it. */
static void req_finish(kube_request *r, int status, long http, json_t *body,
                       const struct dap_error *e)
{
    req_unlink(r);
    easy_drop(r);
    if (r->cb != NULL)
        r->cb(r->data, status, http, body, e);
    req_free(r);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    kube_request *r = userp;
    size_t n = size * nmemb;
    long http = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    if (r->chunk_fn != NULL && http >= 200 && http < 300) {
        int rc = r->chunk_fn(r->data, ptr, n);
        if (rc == DAP_PENDING)
            return CURL_WRITEFUNC_PAUSE; /* the reader is full */
        if (rc < 0) {
            r->stream_status = rc;
            return 0; /* abort the transfer */
        }
        return n;
    }
    if (dap_buf_append(&r->rx, ptr, n) < 0)
        return 0;
    return n;
}

static int send_now(kube_request *r, const struct kube_cred *cred,
                    struct dap_error *err);
static void xfer_done(void *data, CURL *easy, CURLcode cc);

static void auth_ready(void *data, int status, const struct kube_cred *cred,
                       const struct dap_error *e)
{
    kube_request *r = data;
    struct dap_error e2;
    int rc;

    r->wait = NULL;
    if (status < 0) {
        req_finish(r, status, 0, NULL, e);
        return;
    }
    rc = send_now(r, cred, &e2);
    if (rc < 0)
        req_finish(r, rc, 0, NULL, &e2);
}

/* Get credentials then send; returns 0 (in flight or waiting) or error. */
static int req_go(kube_request *r, struct dap_error *err)
{
    struct kube_cred cred;
    int rc;

    rc = kube_auth_get(r->c->auth, &cred, auth_ready, r, &r->wait, err);
    if (rc == DAP_PENDING)
        return 0;
    if (rc < 0)
        return rc;
    return send_now(r, &cred, err);
}


static int send_now(kube_request *r, const struct kube_cred *cred,
                    struct dap_error *err)
{
    kube_client *c = r->c;
    const struct kube_config *k = c->cfg;
    struct curl_blob blob;
    char url[4096];
    CURL *e;
    int rc = 0;

    e = curl_easy_init();
    if (e == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    r->easy = e;
    dap_buf_reset(&r->rx);
    r->errbuf[0] = '\0';
    if (k->tls_server_name != NULL)
        snprintf(url, sizeof(url), "https://%s:%d%s%s", k->tls_server_name,
                 c->srv.port, c->srv.prefix, r->path);
    else
        snprintf(url, sizeof(url), "%s%s", k->server, r->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "kdap/" KDAP_VERSION);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (r->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    if (r->chunk_fn != NULL) {
        /* Watches may be idle for minutes: let TCP keepalive notice dead
         * peers instead of a transfer timeout. */
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    if (c->connect_to != NULL)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    if (k->ca_pem != NULL) {
        blob.data = k->ca_pem;
        blob.len = k->ca_len;
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (k->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    {
        const char *cert = cred->cert_pem ? cred->cert_pem : k->cert_pem;
        size_t cert_len = cred->cert_pem ? cred->cert_len : k->cert_len;
        const char *key = cred->cert_pem ? cred->key_pem : k->key_pem;
        size_t key_len = cred->cert_pem ? cred->key_len : k->key_len;
        if (cert != NULL && key != NULL) {
            blob.data = (void *)cert;
            blob.len = cert_len;
            blob.flags = CURL_BLOB_COPY;
            curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
            curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
            blob.data = (void *)key;
            blob.len = key_len;
            curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
            curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    /* "" keeps libcurl from reading the environment itself: proxy.h
     * chose as client-go chooses (loopback exempt, CIDRs in NO_PROXY). */
    curl_easy_setopt(e, CURLOPT_PROXY, c->has_proxy ? c->proxy.url : "");
    if (cred->token != NULL)
        rc |= net_header_add(&r->headers, "Authorization: Bearer %s", cred->token);
    else if (k->username != NULL) {
        curl_easy_setopt(e, CURLOPT_USERNAME, k->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD,
                         k->password != NULL ? k->password : "");
    }
    if (k->impersonate != NULL)
        rc |= net_header_add(&r->headers, "Impersonate-User: %s", k->impersonate);
    for (size_t i = 0; k->impersonate_groups && k->impersonate_groups[i]; i++)
        rc |= net_header_add(&r->headers, "Impersonate-Group: %s", k->impersonate_groups[i]);
    rc |= net_header_add(&r->headers, "Accept: application/json");
    if (r->body != NULL) {
        rc |= net_header_add(&r->headers, "Content-Type: %s",
                         r->content_type ? r->content_type
                                         : "application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
        rc |= net_header_add(&r->headers, "Expect:");
    }
    if (strcmp(r->method, "GET") != 0 &&
        !(strcmp(r->method, "POST") == 0 && r->body != NULL))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (rc != 0) {
        easy_drop(r);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    DAP_LOGD("kube: %s %s", r->method, r->path);
    r->xfer.done = xfer_done;
    r->xfer.data = r;
    if (net_curlm_add(c->multi, e, &r->xfer) < 0) {
        easy_drop(r);
        return dap_error_set(err, DAP_ENOMEM, "cannot start the request");
    }
    return 0;
}

static void transfer_error(kube_request *r, CURLcode cc, struct dap_error *e)
{
    kube_client *c = r->c;
    const struct kube_config *k = c->cfg;
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
    char where[300];

    if (k->context[0])
        snprintf(where, sizeof(where), "context \"%s\" in %s", k->context,
                 k->source);
    else
        snprintf(where, sizeof(where), "%s", k->source);
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        /* The remedy first: the curl detail and the CA's origin may be
         * long, and the message has 256 bytes. */
        dap_error_set(e, DAP_ECONFIG,
                      "TLS: %s is not trusted (%.80s): check tls-server-name "
                      "and the CA, %s",
                      k->server, detail,
                      k->ca_origin ? k->ca_origin : "the system CA store");
        break;
    case CURLE_SSL_CERTPROBLEM:
        dap_error_set(e, DAP_ECONFIG,
                      "the client certificate or key of user \"%s\" cannot "
                      "be used (%s; %s): check client-certificate(-data) "
                      "and client-key(-data)",
                      k->user_name, detail, where);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        dap_error_set(e, DAP_ETIMEDOUT,
                      "the API server %s did not answer %s %s in time (%s)",
                      k->server, r->method, r->path, where);
        break;
    default: {
        long connect_code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
        if (c->has_proxy && connect_code >= 300)
            dap_error_set(e, DAP_ECONNECT,
                          "the proxy %s refused the tunnel to the API server "
                          "%s: HTTP %ld%s (%s)",
                          c->proxy.display, k->server, connect_code,
                          connect_code == 407
                              ? ": check the user and password of the proxy "
                                "URL"
                              : "",
                          where);
        else if (c->has_proxy)
            dap_error_set(e, DAP_ECONNECT,
                          "cannot reach the API server %s through the proxy "
                          "%s (%s): %s",
                          k->server, c->proxy.display, where, detail);
        else
            dap_error_set(e, DAP_ECONNECT,
                          "cannot reach the API server %s (%s): %s",
                          k->server, where, detail);
        break;
    }
    }
}

static void done_one(kube_request *r, CURLcode cc)
{
    struct dap_error e;
    long http = 0;
    json_t *body = NULL;
    char who[600];
    int rc;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    if (r->stream_status < 0) {
        dap_error_set(&e, r->stream_status, "%s",
                      dap_strerror(r->stream_status));
        req_finish(r, r->stream_status, http, NULL, &e);
        return;
    }
    if (cc != CURLE_OK) {
        transfer_error(r, cc, &e);
        req_finish(r, e.code, http, NULL, &e);
        return;
    }
    if (http == 401 && !r->retried && kube_auth_rejected(r->c->auth)) {
        DAP_LOGI("kube: 401 for %s %s; getting fresh credentials", r->method,
                 r->path);
        r->retried = 1;
        easy_drop(r);
        rc = req_go(r, &e);
        if (rc < 0)
            req_finish(r, rc, 0, NULL, &e);
        return;
    }
    if (r->rx.len > 0)
        body = json_loadb(r->rx.data, r->rx.len, 0, NULL);
    if (http >= 200 && http < 300) {
        req_finish(r, 0, http, body, NULL);
    } else {
        kube__who(r->c, who, sizeof(who));
        kube_status_message(http, r->method, r->path,
                            r->rx.data ? r->rx.data : "", r->rx.len, who, &e);
        DAP_LOGI("kube: %s %s -> %ld", r->method, r->path, http);
        req_finish(r, DAP_EBACKEND, http, body, &e);
    }
    json_decref(body);
}

static void xfer_done(void *data, CURL *easy, CURLcode cc)
{
    (void)easy;
    done_one(data, cc);
}

/* ---- public ------------------------------------------------------------- */

/* The proxy of every connection: proxy-url, else the environment. */
static int client_proxy(kube_client *c, struct dap_error *err)
{
    const struct kube_config *k = c->cfg;
    const char *url = k->proxy_url, *var = NULL;
    char what[600];
    int rc;

    if (url != NULL)
        snprintf(what, sizeof(what), "proxy-url of cluster \"%s\" (%s)",
                 k->cluster_name, k->source);
    else if ((url = net_proxy_from_env(c->srv.tls, c->srv.host, c->srv.port,
                                        &var)) != NULL)
        snprintf(what, sizeof(what), "the environment's %s", var);
    else
        return 0;
    rc = net_proxy_parse(url, what, &c->proxy, err);
    if (rc < 0)
        return rc;
    c->has_proxy = 1;
    DAP_LOGI("kube: the API server %s through the proxy %s (%s)", k->server,
             c->proxy.display, what);
    return 0;
}

int kube_client_new(uv_loop_t *loop, struct kube_config *cfg,
                    kube_client **out, struct dap_error *err)
{
    kube_client *c;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        kube_config_free(cfg);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    c->loop = loop;
    c->cfg = cfg;
    if (kube__server_parse(cfg->server, &c->srv) < 0) {
        rc = dap_error_set(err, DAP_ECONFIG,
                           "cluster \"%s\" (%s): server \"%s\" is not a "
                           "valid https://HOST[:PORT] URL",
                           cfg->cluster_name, cfg->source, cfg->server);
        goto fail;
    }
    if (cfg->tls_server_name != NULL) {
        char line[600];
        snprintf(line, sizeof(line), "%s:%d:%s%s%s:%d", cfg->tls_server_name,
                 c->srv.port, strchr(c->srv.host, ':') ? "[" : "",
                 c->srv.host, strchr(c->srv.host, ':') ? "]" : "",
                 c->srv.port);
        c->connect_to = curl_slist_append(NULL, line);
        if (c->connect_to == NULL) {
            rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
            goto fail;
        }
    }
    rc = client_proxy(c, err);
    if (rc < 0)
        goto fail;
    rc = kube_auth_new(loop, cfg, &c->auth, err);
    if (rc < 0)
        goto fail;
    if (net_curlm_new(loop, &c->multi) < 0) {
        rc = dap_error_set(err, DAP_ENOMEM, "cannot create a curl multi");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    kube_auth_free(c->auth);
    curl_slist_free_all(c->connect_to);
    net_proxy_cleanup(&c->proxy);
    kube_config_free(cfg);
    free(c);
    return rc;
}

void kube_client_free(kube_client *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        kube_request *r = c->reqs;
        req_unlink(r);
        req_free(r);
    }
    net_curlm_free(c->multi);
    kube_auth_free(c->auth);
    kube_config_free(c->cfg);
    curl_slist_free_all(c->connect_to);
    net_proxy_cleanup(&c->proxy);
    free(c);
}

const struct kube_config *kube_client_config(const kube_client *c)
{
    return c->cfg;
}

kube_auth *kube_client_auth(kube_client *c)
{
    return c->auth;
}

uv_loop_t *kube_client_loop(const kube_client *c)
{
    return c->loop;
}

int kube_request_start(kube_client *c, const struct kube_request_opts *o,
                       kube_response_cb *cb, void *data, kube_request **out,
                       struct dap_error *err)
{
    kube_request *r;
    int rc;

    if (out != NULL)
        *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    r->c = c;
    r->cb = cb;
    r->data = data;
    r->chunk_fn = o->chunk_fn;
    r->method = strdup(o->method ? o->method : "GET");
    r->path = strdup(o->path);
    r->content_type = o->content_type ? strdup(o->content_type) : NULL;
    if (o->body != NULL) {
        r->body = malloc(o->body_len + 1);
        if (r->body != NULL) {
            memcpy(r->body, o->body, o->body_len);
            r->body[o->body_len] = '\0';
        }
        r->body_len = o->body_len;
    }
    r->timeout_ms = o->timeout_ms ? o->timeout_ms
                    : o->chunk_fn ? 0
                                  : DEFAULT_TIMEOUT_MS;
    dap_buf_init(&r->rx, MAX_BODY);
    if (r->method == NULL || r->path == NULL ||
        (o->body != NULL && r->body == NULL)) {
        req_free(r);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    rc = req_go(r, err);
    if (rc < 0) {
        req_unlink(r);
        req_free(r);
        return rc;
    }
    if (out != NULL)
        *out = r;
    return 0;
}

void kube_request_cancel(kube_request *r)
{
    if (r == NULL)
        return;
    req_unlink(r);
    req_free(r);
}

void kube_request_resume(kube_request *r)
{
    if (r != NULL && r->easy != NULL)
        curl_easy_pause(r->easy, CURLPAUSE_CONT);
}

/* ---- WebSocket options -------------------------------------------------- */

/* Seconds (decimals allowed, (0, 3600]) in the environment variable
 * `name`, in ms; `def_ms` when unset or not such a number. */
static unsigned env_ms(const char *name, unsigned def_ms)
{
    const char *v = getenv(name);
    char *end;
    double d;

    if (v == NULL || *v == '\0')
        return def_ms;
    d = strtod(v, &end);
    if (*end != '\0' || !(d > 0 && d <= 3600)) {
        DAP_LOGW("%s=\"%s\" is not a number of seconds in (0, 3600]; "
                 "using %u", name, v, def_ms / 1000);
        return def_ms;
    }
    return (unsigned)(d * 1000 + 0.5) ? (unsigned)(d * 1000 + 0.5) : 1;
}

int kube__ws_options(kube_client *c, const struct kube_cred *cred,
                     const char *path, const char *subprotocols,
                     struct net_ws_options *o, struct kube__ws_storage *st)
{
    const struct kube_config *k = c->cfg;
    int nh = 0;

    memset(o, 0, sizeof(*o));
    memset(st, 0, sizeof(*st));
    st->srv = c->srv;
    if (asprintf(&st->path, "%s%s", c->srv.prefix, path) < 0) {
        st->path = NULL;
        return DAP_ENOMEM;
    }
    if (cred->token != NULL &&
        asprintf(&st->headers[nh++], "Authorization: Bearer %s",
                 cred->token) < 0)
        goto nomem;
    if (k->impersonate != NULL &&
        asprintf(&st->headers[nh++], "Impersonate-User: %s",
                 k->impersonate) < 0)
        goto nomem;
    if (cred->token == NULL && k->username != NULL) {
        char *up = NULL, *b64 = NULL;
        int n = asprintf(&up, "%s:%s", k->username,
                         k->password ? k->password : "");
        if (n < 0 || dap_b64_encode(up, (size_t)n, &b64) < 0) {
            free(up);
            goto nomem;
        }
        OPENSSL_cleanse(up, (size_t)n);
        free(up);
        n = asprintf(&st->headers[nh++], "Authorization: Basic %s", b64);
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
        if (n < 0)
            goto nomem;
    }
    for (int i = 0; i < nh; i++)
        st->header_ptrs[i] = st->headers[i];
    st->header_ptrs[nh] = NULL;
    o->host = st->srv.host;
    o->port = st->srv.port;
    o->path = st->path;
    o->server_name = k->tls_server_name;
    o->subprotocols = subprotocols;
    o->headers = st->header_ptrs;
    o->tls = st->srv.tls;
    o->insecure = k->insecure;
    o->ca_pem = k->ca_pem;
    o->ca_len = k->ca_len;
    if (cred->cert_pem != NULL) {
        o->cert_pem = cred->cert_pem;
        o->cert_len = cred->cert_len;
        o->key_pem = cred->key_pem;
        o->key_len = cred->key_len;
    } else if (k->cert_pem != NULL) {
        o->cert_pem = k->cert_pem;
        o->cert_len = k->cert_len;
        o->key_pem = k->key_pem;
        o->key_len = k->key_len;
    }
    o->proxy = c->has_proxy ? &c->proxy : NULL;
    /* Every tunnel pings: an idle one behind a load balancer dies
     * silently otherwise (README "Tunnels"). */
    o->ping_ms = env_ms("KDAP_TUNNEL_PING", KUBE_TUNNEL_PING_MS);
    o->dead_ms = env_ms("KDAP_TUNNEL_DEAD", KUBE_TUNNEL_DEAD_MS);
    return 0;
nomem:
    st->headers[nh > 0 ? nh - 1 : 0] = NULL;
    kube__ws_storage_cleanup(st);
    return DAP_ENOMEM;
}

void kube__ws_storage_cleanup(struct kube__ws_storage *st)
{
    for (size_t i = 0; i < sizeof(st->headers) / sizeof(st->headers[0]);
         i++) {
        if (st->headers[i] != NULL) {
            OPENSSL_cleanse(st->headers[i], strlen(st->headers[i]));
            free(st->headers[i]);
            st->headers[i] = NULL;
        }
    }
    free(st->path);
    st->path = NULL;
}

/* ---- pure helpers ------------------------------------------------------- */

char *kube_query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *p = o;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return o;
}

static int copy_seg(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int kube_path_parse(const char *method, const char *path,
                    struct kube_path_info *pi)
{
    const char *seg[12];
    size_t len[12];
    size_t nseg = 0, i = 0;
    const char *p = path, *q = strchr(path, '?');
    const char *end = q ? q : path + strlen(path);
    int watch = 0;

    memset(pi, 0, sizeof(*pi));
    if (q != NULL && (strstr(q, "watch=1") || strstr(q, "watch=true")))
        watch = 1;
    while (p < end && nseg < 12) {
        const char *s;
        while (p < end && *p == '/')
            p++;
        if (p >= end)
            break;
        s = p;
        while (p < end && *p != '/')
            p++;
        seg[nseg] = s;
        len[nseg] = (size_t)(p - s);
        nseg++;
    }
    if (nseg >= 2 && len[0] == 3 && strncmp(seg[0], "api", 3) == 0) {
        i = 2;
    } else if (nseg >= 3 && len[0] == 4 && strncmp(seg[0], "apis", 4) == 0) {
        if (copy_seg(pi->group, sizeof(pi->group), seg[1], len[1]) < 0)
            return -1;
        i = 3;
    } else {
        return -1;
    }
    if (nseg > i + 1 && len[i] == 10 && strncmp(seg[i], "namespaces", 10) == 0 &&
        nseg >= i + 3) {
        if (copy_seg(pi->ns, sizeof(pi->ns), seg[i + 1], len[i + 1]) < 0)
            return -1;
        i += 2;
    }
    if (i >= nseg)
        return -1;
    if (copy_seg(pi->resource, sizeof(pi->resource), seg[i], len[i]) < 0)
        return -1;
    if (i + 1 < nseg &&
        copy_seg(pi->name, sizeof(pi->name), seg[i + 1], len[i + 1]) < 0)
        return -1;
    if (i + 2 < nseg) {
        size_t rl = strlen(pi->resource);
        if (rl + 1 + len[i + 2] >= sizeof(pi->resource))
            return -1;
        pi->resource[rl] = '/';
        memcpy(pi->resource + rl + 1, seg[i + 2], len[i + 2]);
        pi->resource[rl + 1 + len[i + 2]] = '\0';
    }
    /* "namespaces/x" itself: the namespace is the name. */
    if (pi->ns[0] == '\0' && strcmp(pi->resource, "namespaces") == 0 &&
        pi->name[0] && strlen(pi->name) < sizeof(pi->ns))
        memcpy(pi->ns, pi->name, strlen(pi->name) + 1);
    if (method == NULL || strcmp(method, "GET") == 0)
        snprintf(pi->verb, sizeof(pi->verb), "%s",
                 watch ? "watch" : pi->name[0] ? "get" : "list");
    else if (strcmp(method, "POST") == 0)
        snprintf(pi->verb, sizeof(pi->verb), "create");
    else if (strcmp(method, "PUT") == 0)
        snprintf(pi->verb, sizeof(pi->verb), "update");
    else if (strcmp(method, "PATCH") == 0)
        snprintf(pi->verb, sizeof(pi->verb), "patch");
    else if (strcmp(method, "DELETE") == 0)
        snprintf(pi->verb, sizeof(pi->verb), "%s",
                 pi->name[0] ? "delete" : "deletecollection");
    else
        snprintf(pi->verb, sizeof(pi->verb), "%s", method);
    return 0;
}

int kube_status_message(long http, const char *method, const char *path,
                        const char *body, size_t len, const char *who,
                        struct dap_error *err)
{
    json_t *st = json_loadb(body, len, 0, NULL);
    const char *msg = json_string_value(json_object_get(st, "message"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    struct kube_path_info pi;
    char text[200];
    char causes[200] = "";
    int have_pi = kube_path_parse(method, path, &pi) == 0;

    if (msg == NULL) {
        /* Plain text (from a kubelet or a proxy): its first line. */
        size_t n = 0;
        while (n < len && n < sizeof(text) - 1 && body[n] != '\n' &&
               body[n] != '\r')
            n++;
        memcpy(text, body, n);
        text[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)text[i] < 0x20)
                text[i] = ' ';
        msg = n > 0 ? text : "no details";
    }
    switch (http) {
    case 401:
        dap_error_set(err, DAP_EBACKEND,
                      "the API server rejected the credentials of %s (401 "
                      "Unauthorized): they are wrong or expired; log in "
                      "again or fix the kubeconfig",
                      who);
        break;
    case 403:
        if (have_pi)
            dap_error_set(err, DAP_EBACKEND,
                          "forbidden: %s may not %s %s%s%s%s%s (403: %s); "
                          "ask an admin for this permission (see the kdap "
                          "RBAC Role in README.md)",
                          who, pi.verb, pi.resource,
                          pi.group[0] ? " in API group " : "", pi.group,
                          pi.ns[0] ? " in namespace " : "", pi.ns, msg);
        else
            dap_error_set(err, DAP_EBACKEND, "forbidden (403): %s", msg);
        break;
    case 404:
        if (reason == NULL && have_pi)
            dap_error_set(err, DAP_EBACKEND,
                          "not found (404): %s%s%s (%s)", pi.resource,
                          pi.name[0] ? " " : "", pi.name, msg);
        else
            dap_error_set(err, DAP_EBACKEND, "not found (404): %s%s%s%s",
                          msg, have_pi && pi.ns[0] ? " (namespace " : "",
                          have_pi ? pi.ns : "",
                          have_pi && pi.ns[0] ? ")" : "");
        break;
    case 409:
        dap_error_set(err, DAP_EBACKEND, "conflict (409%s%s): %s",
                      reason ? ", " : "", reason ? reason : "", msg);
        break;
    case 422: {
        json_t *cl = json_object_get(json_object_get(st, "details"),
                                     "causes");
        size_t i, used = 0;
        json_t *c;
        json_array_foreach(cl, i, c)
        {
            const char *f = json_string_value(json_object_get(c, "field"));
            const char *m = json_string_value(json_object_get(c, "message"));
            int w = snprintf(causes + used, sizeof(causes) - used,
                             "%s%s%s%s", used ? "; " : "", f ? f : "",
                             f ? ": " : "", m ? m : "");
            if (w < 0 || (size_t)w >= sizeof(causes) - used)
                break;
            used += (size_t)w;
        }
        if (used > 0)
            dap_error_set(err, DAP_EBACKEND, "invalid (422): %s [%s]", msg,
                          causes);
        else
            dap_error_set(err, DAP_EBACKEND, "invalid (422): %s", msg);
        break;
    }
    default:
        dap_error_set(err, DAP_EBACKEND, "the API server answered %ld%s%s: %s",
                      http, reason ? " " : "", reason ? reason : "", msg);
        break;
    }
    json_decref(st);
    return DAP_EBACKEND;
}
