/* get.c - see get.h: one easy handle on a multi of its own; the answer is
 * delivered from a zero timer, after libcurl has returned. */
#include "get.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/buf.h"
#include "curlm.h"

#define GET_MAX_BODY (16u << 20)
#define GET_TIMEOUT_MS 5000

struct net_get {
    net_curlm *m;
    CURL *easy;
    struct curl_slist *headers;
    struct net_xfer xfer;
    uv_timer_t report; /* delivers the answer from the loop */
    net_get_cb *cb;
    void *data;
    char hostport[300]; /* for messages */
    dap_buf body;
    int status; /* the answer, kept until `report` runs */
    long http_status;
    struct dap_error err;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    net_get *g = data;

    if (dap_buf_append(&g->body, p, size * n) < 0)
        return 0; /* libcurl ends with CURLE_WRITE_ERROR */
    return size * n;
}

static void release(uv_handle_t *h)
{
    net_get *g = h->data;

    dap_buf_cleanup(&g->body);
    free(g);
}

static void drop(net_get *g)
{
    if (g->easy != NULL) {
        net_curlm_remove(g->m, g->easy);
        curl_easy_cleanup(g->easy); /* closes an adopted socket */
        g->easy = NULL;
    }
    net_curlm_free(g->m);
    g->m = NULL;
    curl_slist_free_all(g->headers);
    g->headers = NULL;
    uv_close((uv_handle_t *)&g->report, release);
}

static void on_report(uv_timer_t *t)
{
    net_get *g = t->data;

    if (g->status == 0) {
        size_t len = g->body.len;
        /* A NUL after the body (dap_buf keeps room for it). */
        if (dap_buf_append(&g->body, "", 1) < 0) {
            g->status = dap_error_set(&g->err, DAP_ENOMEM, "out of memory");
        } else {
            g->cb(g->data, 0, (int)g->http_status, g->body.data, len, NULL);
            drop(g);
            return;
        }
    }
    g->cb(g->data, g->status, 0, NULL, 0, &g->err);
    drop(g);
}

static void on_done(void *data, CURL *easy, CURLcode cc)
{
    net_get *g = data;

    if (cc == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &g->http_status);
        g->status = 0;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        g->status =
            dap_error_set(&g->err, DAP_ETIMEDOUT,
                          "no HTTP answer from %s in time", g->hostport);
    } else if (cc == CURLE_WRITE_ERROR) {
        g->status =
            dap_error_set(&g->err, DAP_ETOOBIG,
                          "the HTTP answer from %s is too large", g->hostport);
    } else {
        int conn =
            cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
        g->status =
            dap_error_set(&g->err, DAP_ECONNECT, "%s %s: %s",
                          conn ? "cannot connect to" : "HTTP from", g->hostport,
                          g->errbuf[0] ? g->errbuf : curl_easy_strerror(cc));
    }
    uv_timer_start(&g->report, on_report, 0, 0);
}

int net_get_start(uv_loop_t *loop, const char *host, int port,
                  const char *unix_path, const char *path,
                  const char *host_header, unsigned timeout_ms, net_get_cb *cb,
                  void *data, net_get **out)
{
    int v6 = strchr(host, ':') != NULL;
    char url[600];
    net_get *g;
    int rc;

    if (out != NULL)
        *out = NULL;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return DAP_ENOMEM;
    g->cb = cb;
    g->data = data;
    dap_buf_init(&g->body, GET_MAX_BODY);
    snprintf(g->hostport, sizeof(g->hostport), "%s%s%s:%d", v6 ? "[" : "", host,
             v6 ? "]" : "", port);
    snprintf(url, sizeof(url), "http://%s%s", g->hostport, path);
    uv_timer_init(loop, &g->report);
    g->report.data = g;
    g->xfer.done = on_done;
    g->xfer.data = g;
    rc = net_curlm_new(loop, &g->m);
    if (rc == 0) {
        g->easy = curl_easy_init();
        if (g->easy == NULL ||
            net_header_add(&g->headers, "Host: %s",
                           host_header ? host_header : g->hostport) < 0)
            rc = DAP_ENOMEM;
    }
    if (rc < 0) {
        drop(g);
        return DAP_ENOMEM;
    }
    curl_easy_setopt(g->easy, CURLOPT_URL, url);
    curl_easy_setopt(g->easy, CURLOPT_HTTPHEADER, g->headers);
    curl_easy_setopt(g->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(g->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g->easy, CURLOPT_TIMEOUT_MS,
                     (long)(timeout_ms ? timeout_ms : GET_TIMEOUT_MS));
    curl_easy_setopt(g->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(g->easy, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(g->easy, CURLOPT_ERRORBUFFER, g->errbuf);
    if (unix_path != NULL)
        curl_easy_setopt(g->easy, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    if (net_curlm_add(g->m, g->easy, &g->xfer) < 0) {
        drop(g);
        return DAP_ENOMEM;
    }
    if (out != NULL)
        *out = g;
    return 0;
}

void net_get_cancel(net_get *g)
{
    if (g == NULL)
        return;
    uv_timer_stop(&g->report);
    drop(g);
}
