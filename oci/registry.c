/* registry.c - see registry.h. */
#define _GNU_SOURCE
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "../dap/b64.h"
#include "../dap/buf.h"
#include "../dap/log.h"
#include "../net/curlm.h"
#include "../net/proxy.h"
#include "creds.h"
#include "ref.h"

#define DEFAULT_CHUNK (32u << 20)
#define MAX_MEM_BODY (4u << 20)
#define CONNECT_TIMEOUT_MS 10000L
#define TOKENS_MAX 16

enum op {
    OP_PROBE,
    OP_BLOB_HEAD,
    OP_BLOB_PUSH,
    OP_BLOB_GET,
    OP_MANIFEST_GET,
    OP_MANIFEST_PUT,
    OP_TOKEN,
};

enum push_stage { PS_HEAD, PS_START, PS_CHUNK, PS_PUT };

struct token {
    char scope[600];
    char *value;          /* wiped when dropped */
    uint64_t expires;     /* uv_now ms */
};

struct req;

struct oci_registry {
    uv_loop_t *loop;
    net_curlm *multi;
    char host[256];
    char base[300];           /* "https://HOST" once probed */
    int insecure, loopback;
    char *ca_file;
    size_t chunk;
    struct oci_challenge ch;  /* from the last 401; scheme "" = none */
    struct oci_cred cred;
    int cred_state;           /* 0 not looked, 1 looking, 2 known */
    oci_creds_wait *cred_wait;
    struct dap_error cred_err;
    struct token tokens[TOKENS_MAX];
    struct req *reqs;         /* all live requests */
    uint64_t uploaded;
};

struct req {
    oci_registry *r;
    struct req *prev, *next;
    enum op op;
    struct req *parent;           /* OP_TOKEN: the request waiting */
    struct req *token_req;        /* the token request we wait for */
    int waiting_creds;
    char method[8];
    char *url;
    char scope[600];
    /* request body: memory or a file range */
    char *mem;
    size_t mem_len, mem_off;
    int fd;
    uint64_t file_off, file_len, file_pos;
    char req_ctype[96];
    char content_range[64];
    char accept[400];
    int head;                     /* HEAD request */
    /* answer */
    dap_buf rx;
    FILE *out_file;
    char *out_path;
    long http;
    char ctype[128];
    char digest[80];
    char location[2048];
    char www_auth[1024];
    CURL *easy;
    struct net_xfer xfer;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    int auth_retried;
    int http_fallback;            /* the probe retried on plain http */
    /* the operation */
    char repo[256];
    char ref[256];
    struct oci_blob blob;
    char mount_from[256];
    enum push_stage stage;
    uint64_t uploaded_before;     /* of this blob, in earlier chunks */
    oci_result_cb *cb;
    void *data;
    oci_progress_fn *progress;
    struct oci_result res;
};

static int send_req(struct req *q, struct dap_error *err);
static void xfer_done(void *data, CURL *easy, CURLcode cc);
static void step(struct req *q);

/* ---- lifetime -------------------------------------------------------------- */


static void easy_drop(struct req *q)
{
    if (q->easy != NULL) {
        net_curlm_remove(q->r->multi, q->easy);
        curl_easy_cleanup(q->easy);
        q->easy = NULL;
    }
    net_headers_wipe(&q->headers);
}

static void req_free(struct req *q)
{
    oci_registry *r = q->r;

    easy_drop(q);
    if (q->prev != NULL)
        q->prev->next = q->next;
    else if (r->reqs == q)
        r->reqs = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    if (q->token_req != NULL)
        q->token_req->parent = NULL;
    if (q->parent != NULL)
        q->parent->token_req = NULL;
    if (q->fd >= 0)
        close(q->fd);
    if (q->out_file != NULL) {
        fclose(q->out_file);
        unlink(q->out_path);
    }
    free(q->out_path);
    dap_buf_cleanup(&q->rx);
    free(q->url);
    if (q->mem != NULL)
        OPENSSL_cleanse(q->mem, q->mem_len);
    free(q->mem);
    free(q);
}

static struct req *req_new(oci_registry *r, enum op op, oci_result_cb *cb,
                           void *data)
{
    struct req *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->r = r;
    q->op = op;
    q->cb = cb;
    q->data = data;
    q->fd = -1;
    dap_buf_init(&q->rx, MAX_MEM_BODY);
    q->next = r->reqs;
    if (r->reqs != NULL)
        r->reqs->prev = q;
    r->reqs = q;
    return q;
}

static void finish(struct req *q, int status, const struct dap_error *e)
{
    struct req *parent = q->parent;

    if (q->op == OP_TOKEN) {
        /* The token is in place (or not): the waiting request goes on. */
        q->parent = NULL;
        if (parent != NULL) {
            parent->token_req = NULL;
            if (status < 0) {
                struct oci_result res = {0};
                res.http = q->http;
                parent->cb(parent->data, status, &res, e);
                req_free(parent);
            } else {
                struct dap_error e2;
                int rc = send_req(parent, &e2);
                if (rc < 0)
                    finish(parent, rc, &e2);
            }
        }
        req_free(q);
        return;
    }
    q->res.http = q->http;
    q->res.content_type = q->ctype;
    q->res.digest = q->digest;
    if (q->rx.len > 0 && !q->head) {
        q->res.body = q->rx.data;
        q->res.len = q->rx.len;
    }
    if (q->cb != NULL)
        q->cb(q->data, status, &q->res, e);
    req_free(q);
}

/* ---- messages ---------------------------------------------------------------- */

static const char *op_word(const struct req *q)
{
    switch (q->op) {
    case OP_PROBE:
        return "probe /v2/";
    case OP_BLOB_HEAD:
        return "check blob";
    case OP_BLOB_PUSH:
        return "upload blob";
    case OP_BLOB_GET:
        return "get blob";
    case OP_MANIFEST_GET:
        return "get manifest";
    case OP_MANIFEST_PUT:
        return "put manifest";
    default:
        return "get a token for";
    }
}

/* The registry's own words: {"errors":[{"code","message"}]}. */
static void registry_words(const struct req *q, char *out, size_t size)
{
    json_t *j = json_loadb(q->rx.data ? q->rx.data : "", q->rx.len, 0, NULL);
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    const char *code = json_string_value(json_object_get(e0, "code"));
    const char *msg = json_string_value(json_object_get(e0, "message"));

    if (code != NULL)
        snprintf(out, size, "%s%s%s", code, msg ? ": " : "", msg ? msg : "");
    else if (json_string_value(json_object_get(j, "details")) != NULL)
        snprintf(out, size, "%s",
                 json_string_value(json_object_get(j, "details")));
    else
        snprintf(out, size, "HTTP %ld", q->http);
    json_decref(j);
}

static void what(const struct req *q, char *out, size_t size)
{
    const struct req *w = q->op == OP_TOKEN && q->parent ? q->parent : q;

    if (w->op == OP_PROBE)
        snprintf(out, size, "%s", op_word(w));
    else if (w->op == OP_BLOB_PUSH || w->op == OP_BLOB_HEAD ||
             w->op == OP_BLOB_GET)
        snprintf(out, size, "%s %.19s... of %s", op_word(w),
                 w->op == OP_BLOB_PUSH ? w->blob.digest : w->ref, w->repo);
    else
        snprintf(out, size, "%s %s:%s", op_word(w), w->repo, w->ref);
}

static int creds_refused(struct req *q, struct dap_error *e)
{
    oci_registry *r = q->r;
    char w[400];

    what(q, w, sizeof(w));
    if (r->cred.username == NULL && r->cred.identity_token == NULL)
        return dap_error_set(e, DAP_ECONFIG,
                             "registry %s requires credentials (%s, %s "
                             "auth) and kdap found none for %s: log in "
                             "with docker login or podman login. Looked in: "
                             "%s",
                             r->host, w, r->ch.scheme[0] ? r->ch.scheme : "?",
                             r->host, r->cred.looked);
    return dap_error_set(e, DAP_ECONFIG,
                         "registry %s rejected the credentials from %s (%s: "
                         "401 Unauthorized): they are wrong or expired; log "
                         "in again",
                         r->host, r->cred.source, w);
}

/* ---- curl callbacks ------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
    struct req *q = data;
    size_t len = size * n;
    char line[2048];
    char *v;
    size_t k;

    if (len >= sizeof(line))
        return len;
    memcpy(line, buf, len);
    line[len] = '\0';
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        line[--len] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or a 100): forget the last. */
        q->ctype[0] = q->digest[0] = q->location[0] = q->www_auth[0] = '\0';
        return size * n;
    }
    v = strchr(line, ':');
    if (v == NULL)
        return size * n;
    *v++ = '\0';
    while (*v == ' ' || *v == '\t')
        v++;
    for (k = 0; line[k]; k++)
        line[k] = (char)tolower((unsigned char)line[k]);
    if (strcmp(line, "content-type") == 0)
        snprintf(q->ctype, sizeof(q->ctype), "%s", v);
    else if (strcmp(line, "docker-content-digest") == 0)
        snprintf(q->digest, sizeof(q->digest), "%s", v);
    else if (strcmp(line, "location") == 0)
        snprintf(q->location, sizeof(q->location), "%s", v);
    else if (strcmp(line, "www-authenticate") == 0 && q->www_auth[0] == '\0')
        snprintf(q->www_auth, sizeof(q->www_auth), "%s", v);
    return size * n;
}

static size_t on_write(char *ptr, size_t size, size_t n, void *data)
{
    struct req *q = data;
    size_t len = size * n;
    long http = 0;

    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &http);
    if (q->out_file != NULL && http >= 200 && http < 300)
        return fwrite(ptr, 1, len, q->out_file);
    if (dap_buf_append(&q->rx, ptr, len) < 0)
        return 0;
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *data)
{
    struct req *q = data;
    size_t want = size * n;

    if (q->mem != NULL) {
        size_t left = q->mem_len - q->mem_off;
        if (want > left)
            want = left;
        memcpy(buf, q->mem + q->mem_off, want);
        q->mem_off += want;
        return want;
    }
    if (q->fd >= 0) {
        uint64_t left = q->file_off + q->file_len - q->file_pos;
        ssize_t got;
        if (want > left)
            want = (size_t)left;
        if (want == 0)
            return 0;
        got = pread(q->fd, buf, want, (off_t)q->file_pos);
        if (got < 0)
            return CURL_READFUNC_ABORT;
        q->file_pos += (uint64_t)got;
        return (size_t)got;
    }
    return 0;
}

static int on_xferinfo(void *data, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct req *q = data;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    if (q->progress != NULL && q->op == OP_BLOB_PUSH && q->fd >= 0 &&
        ulnow > 0)
        q->progress(q->data, q->uploaded_before + (uint64_t)ulnow,
                    q->blob.size);
    return 0;
}

/* ---- sending --------------------------------------------------------------------- */


static struct token *token_find(oci_registry *r, const char *scope)
{
    uint64_t now = uv_now(r->loop);

    for (int i = 0; i < TOKENS_MAX; i++)
        if (r->tokens[i].value != NULL &&
            strcmp(r->tokens[i].scope, scope) == 0) {
            if (r->tokens[i].expires > now)
                return &r->tokens[i];
        }
    return NULL;
}

static void token_drop(struct token *t)
{
    if (t->value != NULL) {
        OPENSSL_cleanse(t->value, strlen(t->value));
        free(t->value);
    }
    memset(t, 0, sizeof(*t));
}

static void token_put(oci_registry *r, const char *scope, const char *value,
                      long expires_in)
{
    struct token *slot = NULL;

    for (int i = 0; i < TOKENS_MAX && slot == NULL; i++)
        if (r->tokens[i].value == NULL || strcmp(r->tokens[i].scope, scope) == 0)
            slot = &r->tokens[i];
    if (slot == NULL)
        slot = &r->tokens[0]; /* full: the oldest slot goes */
    token_drop(slot);
    snprintf(slot->scope, sizeof(slot->scope), "%s", scope);
    slot->value = strdup(value);
    /* Expire a little early so that no request goes out with a token that
     * dies in flight; the spec's default lifetime is 60 s. */
    if (expires_in <= 0)
        expires_in = 60;
    slot->expires = uv_now(r->loop) + (uint64_t)expires_in * 1000 -
                    (expires_in > 20 ? 10000 : 0);
}

static void setup_tls(struct req *q, CURL *e)
{
    oci_registry *r = q->r;

    if (r->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
    if (r->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static int basic_header(struct req *q)
{
    oci_registry *r = q->r;
    char *up = NULL;
    char *b64;
    int n, rc;

    if (r->cred.username == NULL)
        return 0;
    n = asprintf(&up, "%s:%s", r->cred.username,
                 r->cred.password ? r->cred.password : "");
    if (n < 0)
        return DAP_ENOMEM;
    if (dap_b64_encode(up, (size_t)n, &b64) < 0) {
        OPENSSL_cleanse(up, (size_t)n);
        free(up);
        return DAP_ENOMEM;
    }
    rc = net_header_add(&q->headers, "Authorization: Basic %s", b64);
    OPENSSL_cleanse(up, (size_t)n);
    OPENSSL_cleanse(b64, strlen(b64));
    free(up);
    free(b64);
    return rc;
}

static void creds_ready(void *data, int status, struct oci_cred *c,
                        const struct dap_error *e);

/* Credentials known (maybe none)?  0 yes, DAP_PENDING (q resumes later),
 * or an error. */
static int need_creds(struct req *q, struct dap_error *err)
{
    oci_registry *r = q->r;
    int rc;

    if (r->cred_state == 2)
        return 0;
    q->waiting_creds = 1;
    if (r->cred_state == 1)
        return DAP_PENDING;
    r->cred_state = 1;
    rc = oci_creds_get(r->loop, r->host, &r->cred, creds_ready, r,
                       &r->cred_wait, err);
    if (rc == DAP_PENDING)
        return DAP_PENDING;
    q->waiting_creds = 0;
    if (rc < 0) {
        r->cred_state = 0;
        return rc;
    }
    r->cred_state = 2;
    return 0;
}

static void creds_ready(void *data, int status, struct oci_cred *c,
                        const struct dap_error *e)
{
    oci_registry *r = data;
    struct req *q, *next;

    r->cred_wait = NULL;
    if (status == 0) {
        r->cred = *c;
        memset(c, 0, sizeof(*c));
        r->cred_state = 2;
    } else {
        r->cred_state = 0;
    }
    for (q = r->reqs; q != NULL; q = next) {
        next = q->next;
        if (!q->waiting_creds)
            continue;
        q->waiting_creds = 0;
        if (status < 0) {
            finish(q, status, e);
        } else {
            struct dap_error e2;
            int rc = send_req(q, &e2);
            if (rc < 0)
                finish(q, rc, &e2);
        }
    }
}

static int start_token(struct req *q, struct dap_error *err);

/* Put auth on q's transfer: 0 (go on), DAP_PENDING (a token or the
 * credentials first: q is resent then) or an error. */
static int auth_for(struct req *q, struct dap_error *err)
{
    oci_registry *r = q->r;
    struct token *t;
    int rc;

    /* The token service authenticates the user with Basic (an identity
     * token travels in the POST form instead). */
    if (q->op == OP_TOKEN)
        return r->cred.identity_token == NULL ? basic_header(q) : 0;
    if (q->op == OP_PROBE || r->ch.scheme[0] == '\0')
        return 0;
    if (strcmp(r->ch.scheme, "basic") == 0) {
        rc = need_creds(q, err);
        if (rc != 0)
            return rc;
        return basic_header(q);
    }
    if (strcmp(r->ch.scheme, "bearer") == 0) {
        t = token_find(r, q->scope);
        if (t != NULL)
            return net_header_add(&q->headers, "Authorization: Bearer %s", t->value);
        rc = need_creds(q, err);
        if (rc != 0)
            return rc;
        rc = start_token(q, err);
        return rc < 0 ? rc : DAP_PENDING;
    }
    return dap_error_set(err, DAP_EUNSUPPORTED,
                         "registry %s asks for \"%s\" authentication, which "
                         "kdap does not speak (Basic and Bearer only)",
                         r->host, r->ch.scheme);
}

static int send_req(struct req *q, struct dap_error *err)
{
    oci_registry *r = q->r;
    CURL *e;
    int rc;

    easy_drop(q);
    dap_buf_reset(&q->rx);
    q->http = 0;
    q->errbuf[0] = '\0';
    q->mem_off = 0;
    q->file_pos = q->file_off;
    rc = auth_for(q, err);
    if (rc == DAP_PENDING)
        return 0;
    if (rc < 0) {
        net_headers_wipe(&q->headers);
        return rc;
    }
    e = curl_easy_init();
    if (e == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    q->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, q->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "kdap/" KDAP_VERSION);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    /* Blob GETs redirect to storage; curl does not carry our
     * Authorization header to another host. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
                     q->op == OP_BLOB_GET ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* No transfer timeout (a blob may be large on a slow link); a
     * connection that moves nothing for 60 s is dead. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    setup_tls(q, e);
    {
        /* The environment's proxy as skopeo and containerd read it
         * (net/proxy.h); libcurl's own reading has no loopback exemption
         * and no CIDRs.  A blob redirect goes the same way. */
        char *px = net_proxy_env_for_url(q->url, err);
        if (px == NULL) {
            easy_drop(q);
            return err->code;
        }
        curl_easy_setopt(e, CURLOPT_PROXY, px);
        OPENSSL_cleanse(px, strlen(px));
        free(px);
    }
    if (q->accept[0])
        rc |= net_header_add(&q->headers, "Accept: %s", q->accept);
    if (q->content_range[0])
        rc |= net_header_add(&q->headers, "Content-Range: %s", q->content_range);
    rc |= net_header_add(&q->headers, "Expect:");
    if (q->head) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (q->mem != NULL || q->fd >= 0) {
        uint64_t len = q->mem != NULL ? q->mem_len : q->file_len;
        rc |= net_header_add(&q->headers, "Content-Type: %s",
                         q->req_ctype[0] ? q->req_ctype
                                         : "application/octet-stream");
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, q);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        if (strcmp(q->method, "PUT") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, q);
    } else if (strcmp(q->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(q->method, "PUT") == 0) {
        /* The last PUT of a chunked upload has no body. */
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, q);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
    }
    if (rc != 0) {
        easy_drop(q);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
    q->xfer.done = xfer_done;
    q->xfer.data = q;
    if (net_curlm_add(r->multi, e, &q->xfer) < 0) {
        easy_drop(q);
        return dap_error_set(err, DAP_ENOMEM, "cannot start the request");
    }
    DAP_LOGD("oci: %s %s", q->method, q->url);
    return 0;
}

/* ---- tokens ------------------------------------------------------------------------- */

/* URL-escape (curl's); free with curl_free. */
static char *escape(const char *s)
{
    return curl_easy_escape(NULL, s, 0);
}

/* "service=S&scope=A&scope=B" for the space-separated scopes of q. */
static int token_query(const struct req *q, dap_buf *b)
{
    const oci_registry *r = q->r;
    char scopes[600];
    char *save = NULL, *tok;
    char *es = escape(r->ch.service);
    int rc = 0;

    if (es == NULL)
        return DAP_ENOMEM;
    if (r->ch.service[0])
        rc |= dap_buf_printf(b, "service=%s", es);
    curl_free(es);
    snprintf(scopes, sizeof(scopes), "%s", q->scope);
    for (tok = strtok_r(scopes, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        char *e = escape(tok);
        if (e == NULL)
            return DAP_ENOMEM;
        rc |= dap_buf_printf(b, "%sscope=%s", b->len ? "&" : "", e);
        curl_free(e);
    }
    return rc ? DAP_ENOMEM : 0;
}

static int start_token(struct req *parent, struct dap_error *err)
{
    oci_registry *r = parent->r;
    struct req *t;
    dap_buf qs;
    int rc;

    if (strncmp(r->ch.realm, "https://", 8) != 0 &&
        !(strncmp(r->ch.realm, "http://", 7) == 0 &&
          (r->insecure || r->loopback)))
        return dap_error_set(err, DAP_ECONFIG,
                             "registry %s names the token service \"%s\", "
                             "which is not an https URL: kdap sends "
                             "credentials over TLS only",
                             r->host, r->ch.realm);
    t = req_new(r, OP_TOKEN, NULL, NULL);
    if (t == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    t->parent = parent;
    parent->token_req = t;
    snprintf(t->scope, sizeof(t->scope), "%s", parent->scope);
    dap_buf_init(&qs, 8192);
    rc = token_query(parent, &qs);
    if (rc == 0 && r->cred.identity_token != NULL) {
        /* OAuth2 refresh token (docker's identitytoken). */
        char *et = escape(r->cred.identity_token);
        snprintf(t->method, sizeof(t->method), "POST");
        rc = et == NULL ? DAP_ENOMEM
                        : dap_buf_printf(&qs,
                                         "&grant_type=refresh_token&client_id="
                                         "kdap&refresh_token=%s",
                                         et);
        if (et != NULL) {
            OPENSSL_cleanse(et, strlen(et));
            curl_free(et);
        }
        t->url = strdup(r->ch.realm);
        t->mem = dap_buf_take(&qs, &t->mem_len);
        snprintf(t->req_ctype, sizeof(t->req_ctype),
                 "application/x-www-form-urlencoded");
    } else if (rc == 0) {
        snprintf(t->method, sizeof(t->method), "GET");
        if (asprintf(&t->url, "%s%s%s", r->ch.realm,
                     strchr(r->ch.realm, '?') ? "&" : "?",
                     qs.data ? qs.data : "") < 0)
            t->url = NULL;
    }
    dap_buf_cleanup(&qs);
    if (rc < 0 || t->url == NULL) {
        req_free(t);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    rc = send_req(t, err);
    if (rc < 0) {
        req_free(t);
        return rc;
    }
    return 0;
}

static void token_done(struct req *t)
{
    struct dap_error e;
    json_t *j;
    const char *tok;
    char w[300];

    if (t->http == 401 || t->http == 403) {
        if (t->parent != NULL)
            creds_refused(t->parent, &e);
        else
            dap_error_set(&e, DAP_ECONFIG, "token refused");
        finish(t, DAP_ECONFIG, &e);
        return;
    }
    what(t, w, sizeof(w));
    if (t->http != 200) {
        char words[300];
        registry_words(t, words, sizeof(words));
        dap_error_set(&e, DAP_EBACKEND,
                      "the token service %s of registry %s answered %ld (%s) "
                      "for %s",
                      t->r->ch.realm, t->r->host, t->http, words, w);
        finish(t, DAP_EBACKEND, &e);
        return;
    }
    j = json_loadb(t->rx.data ? t->rx.data : "", t->rx.len, 0, NULL);
    tok = json_string_value(json_object_get(j, "token"));
    if (tok == NULL)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (tok == NULL) {
        json_decref(j);
        dap_error_set(&e, DAP_EPROTO,
                      "the token service %s of registry %s answered no "
                      "token for %s",
                      t->r->ch.realm, t->r->host, w);
        finish(t, DAP_EPROTO, &e);
        return;
    }
    token_put(t->r, t->scope, tok,
              (long)json_integer_value(json_object_get(j, "expires_in")));
    json_decref(j);
    if (t->rx.data != NULL)
        OPENSSL_cleanse(t->rx.data, t->rx.len);
    finish(t, 0, NULL);
}

/* ---- completion ------------------------------------------------------------------------ */

static int is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost", 9) == 0 ||
           strncmp(host, "[::1]", 5) == 0;
}

static void transfer_error(struct req *q, CURLcode cc, struct dap_error *e)
{
    oci_registry *r = q->r;
    const char *detail = q->errbuf[0] ? q->errbuf : curl_easy_strerror(cc);
    char w[400];

    what(q, w, sizeof(w));
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        dap_error_set(e, DAP_ECONFIG,
                      "TLS: registry %s is not trusted (%.100s): name its CA "
                      "(%s), or mark it insecure only if you trust the "
                      "network",
                      r->host, detail,
                      r->ca_file ? r->ca_file : "the system CA store now");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        dap_error_set(e, DAP_ETIMEDOUT, "registry %s did not answer in time "
                      "(%s)", r->host, w);
        break;
    default:
        dap_error_set(e, DAP_ECONNECT, "cannot reach registry %s (%s): %s",
                      r->host, w, detail);
        break;
    }
}

static void xfer_done(void *data, CURL *easy, CURLcode cc)
{
    struct req *q = data;
    oci_registry *r = q->r;
    struct dap_error e;
    int rc;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &q->http);
    if (q->op == OP_BLOB_PUSH && q->fd >= 0 && cc == CURLE_OK) {
        curl_off_t up = 0;
        curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up);
        q->res.uploaded += (uint64_t)up;
        r->uploaded += (uint64_t)up;
    }
    easy_drop(q);
    if (q->op == OP_PROBE && !q->http_fallback &&
        (strncmp(r->base, "http://", 7) == 0
             ? cc != CURLE_OK || q->http == 400
             : cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR ||
                   cc == CURLE_GOT_NOTHING)) {
        /* The other scheme, once: a TLS registry answers plain HTTP with
         * 400 (or hangs up), a plain one answers a TLS handshake with
         * HTTP.  Only for a registry where plain HTTP is allowed (see
         * oci_registry_probe); the probe carries no credentials. */
        q->http_fallback = 1;
        free(q->url);
        snprintf(r->base, sizeof(r->base), "%s://%s",
                 strncmp(r->base, "http://", 7) == 0 ? "https" : "http",
                 r->host);
        if (asprintf(&q->url, "%s/v2/", r->base) < 0)
            q->url = NULL;
        rc = q->url ? send_req(q, &e)
                    : dap_error_set(&e, DAP_ENOMEM, "out of memory");
        if (rc < 0)
            finish(q, rc, &e);
        return;
    }
    if (cc != CURLE_OK) {
        transfer_error(q, cc, &e);
        finish(q, e.code, &e);
        return;
    }
    if (q->op == OP_TOKEN) {
        token_done(q);
        return;
    }
    if (q->http == 401) {
        struct oci_challenge ch;
        if (oci_challenge_parse(q->www_auth, &ch) == 0)
            r->ch = ch;
        if (q->op == OP_PROBE) {
            finish(q, 0, NULL);
            return;
        }
        if (!q->auth_retried && r->ch.scheme[0]) {
            struct token *t = token_find(r, q->scope);
            q->auth_retried = 1;
            if (t != NULL)
                token_drop(t);
            rc = send_req(q, &e);
            if (rc < 0)
                finish(q, rc, &e);
            return;
        }
        creds_refused(q, &e);
        finish(q, DAP_ECONFIG, &e);
        return;
    }
    step(q);
}

/* ---- operations -------------------------------------------------------------------------- */

static void fail_http(struct req *q, struct dap_error *e)
{
    char words[400], w[400];

    registry_words(q, words, sizeof(words));
    what(q, w, sizeof(w));
    if (q->http == 403)
        dap_error_set(e, DAP_ECONFIG,
                      "registry %s refused to %s (403 Forbidden: %s): the "
                      "credentials from %s lack the permission",
                      q->r->host, w, words,
                      q->r->cred.source[0] ? q->r->cred.source
                                           : "nowhere (anonymous)");
    else
        dap_error_set(e, DAP_EBACKEND, "registry %s: %s: %s", q->r->host, w,
                      words);
}

static int set_url(struct req *q, const char *fmt, ...) DAP_PRINTF(2, 3);
static int set_url(struct req *q, const char *fmt, ...)
{
    char *path = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&path, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DAP_ENOMEM;
    free(q->url);
    q->url = NULL;
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
        q->url = path;
        return 0;
    }
    n = asprintf(&q->url, "%s%s", q->r->base, path);
    free(path);
    return n < 0 ? DAP_ENOMEM : 0;
}

/* Location + "?digest=" or "&digest=". */
static int url_with_digest(struct req *q)
{
    char loc[2100];

    snprintf(loc, sizeof(loc), "%s%sdigest=%s", q->location,
             strchr(q->location, '?') ? "&" : "?", q->blob.digest);
    return set_url(q, "%s", loc);
}

static int push_send_chunk(struct req *q, struct dap_error *err)
{
    uint64_t off = q->uploaded_before;
    uint64_t n = q->blob.size - off;
    size_t chunk = q->r->chunk;
    int last;

    if (n > chunk)
        n = chunk;
    last = off + n >= q->blob.size;
    q->file_off = off;
    q->file_len = n;
    if (q->blob.size <= chunk) {
        /* Monolithic: the whole blob in the PUT that closes the upload. */
        q->stage = PS_PUT;
        q->content_range[0] = '\0';
        snprintf(q->method, sizeof(q->method), "PUT");
        if (url_with_digest(q) < 0)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        return send_req(q, err);
    }
    (void)last;
    q->stage = PS_CHUNK;
    snprintf(q->method, sizeof(q->method), "PATCH");
    snprintf(q->content_range, sizeof(q->content_range), "%llu-%llu",
             (unsigned long long)off, (unsigned long long)(off + n - 1));
    if (set_url(q, "%s", q->location) < 0)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    return send_req(q, err);
}

static void step_push(struct req *q)
{
    struct dap_error e;
    int rc = 0;

    switch (q->stage) {
    case PS_HEAD:
        if (q->http == 200) {
            q->res.exists = 1;
            finish(q, 0, NULL);
            return;
        }
        if (q->http != 404) {
            fail_http(q, &e);
            finish(q, e.code, &e);
            return;
        }
        q->stage = PS_START;
        q->head = 0;
        snprintf(q->method, sizeof(q->method), "POST");
        if (q->mount_from[0])
            rc = set_url(q, "/v2/%s/blobs/uploads/?mount=%s&from=%s", q->repo,
                         q->blob.digest, q->mount_from);
        else
            rc = set_url(q, "/v2/%s/blobs/uploads/", q->repo);
        if (rc == 0)
            rc = send_req(q, &e);
        else
            dap_error_set(&e, rc, "out of memory");
        break;
    case PS_START:
        if (q->http == 201 && q->mount_from[0]) {
            q->res.mounted = 1;
            finish(q, 0, NULL);
            return;
        }
        if (q->http != 202 || q->location[0] == '\0') {
            fail_http(q, &e);
            finish(q, e.code, &e);
            return;
        }
        q->fd = open(q->blob.path, O_RDONLY | O_CLOEXEC);
        if (q->fd < 0) {
            rc = dap_error_set(&e, -errno, "cannot read %s: %s", q->blob.path,
                               strerror(errno));
            break;
        }
        q->uploaded_before = 0;
        rc = push_send_chunk(q, &e);
        break;
    case PS_CHUNK:
        if (q->http != 202 || q->location[0] == '\0') {
            fail_http(q, &e);
            finish(q, e.code, &e);
            return;
        }
        q->uploaded_before += q->file_len;
        if (q->uploaded_before < q->blob.size) {
            rc = push_send_chunk(q, &e);
            break;
        }
        /* Every chunk is there: close the upload with the digest. */
        q->stage = PS_PUT;
        close(q->fd);
        q->fd = -1;
        q->content_range[0] = '\0';
        snprintf(q->method, sizeof(q->method), "PUT");
        rc = url_with_digest(q);
        if (rc == 0)
            rc = send_req(q, &e);
        else
            dap_error_set(&e, rc, "out of memory");
        break;
    case PS_PUT:
        if (q->http != 201) {
            fail_http(q, &e);
            finish(q, e.code, &e);
            return;
        }
        if (q->progress != NULL)
            q->progress(q->data, q->blob.size, q->blob.size);
        finish(q, 0, NULL);
        return;
    }
    if (rc < 0)
        finish(q, rc, &e);
}

static void step(struct req *q)
{
    struct dap_error e;

    switch (q->op) {
    case OP_PROBE:
        if (q->http == 200) {
            memset(&q->r->ch, 0, sizeof(q->r->ch));
            finish(q, 0, NULL);
        } else {
            dap_error_set(&e, DAP_EBACKEND,
                          "%s does not answer as an OCI registry (GET /v2/: "
                          "HTTP %ld)",
                          q->r->host, q->http);
            finish(q, DAP_EBACKEND, &e);
        }
        return;
    case OP_BLOB_HEAD:
        if (q->http == 200 || q->http == 404) {
            q->res.exists = q->http == 200;
            finish(q, 0, NULL);
            return;
        }
        break;
    case OP_BLOB_PUSH:
        step_push(q);
        return;
    case OP_BLOB_GET:
        if (q->http == 200) {
            char d[72];
            if (q->out_file != NULL) {
                if (fclose(q->out_file) != 0) {
                    q->out_file = NULL;
                    dap_error_set(&e, -errno, "cannot write %s",
                                  q->out_path);
                    finish(q, e.code, &e);
                    return;
                }
                q->out_file = NULL;
                finish(q, 0, NULL);
                return;
            }
            oci_sha256(q->rx.data ? q->rx.data : "", q->rx.len, d);
            if (strcmp(d, q->ref) != 0) {
                dap_error_set(&e, DAP_EPROTO,
                              "registry %s sent blob %s of %s with the "
                              "digest %s",
                              q->r->host, q->ref, q->repo, d);
                finish(q, DAP_EPROTO, &e);
                return;
            }
            finish(q, 0, NULL);
            return;
        }
        break;
    case OP_MANIFEST_GET:
        if (q->http == 200) {
            if (!q->head && q->digest[0] == '\0')
                oci_sha256(q->rx.data ? q->rx.data : "", q->rx.len,
                           q->digest);
            if (!q->head && strncmp(q->ref, "sha256:", 7) == 0) {
                char d[72];
                oci_sha256(q->rx.data ? q->rx.data : "", q->rx.len, d);
                if (strcmp(d, q->ref) != 0) {
                    dap_error_set(&e, DAP_EPROTO,
                                  "registry %s sent manifest %s of %s with "
                                  "the digest %s",
                                  q->r->host, q->ref, q->repo, d);
                    finish(q, DAP_EPROTO, &e);
                    return;
                }
            }
            finish(q, 0, NULL);
            return;
        }
        if (q->http == 404) {
            dap_error_set(&e, DAP_ECONFIG,
                          "registry %s has no image %s:%s (404: manifest "
                          "unknown)",
                          q->r->host, q->repo, q->ref);
            finish(q, DAP_ECONFIG, &e);
            return;
        }
        break;
    case OP_MANIFEST_PUT:
        if (q->http == 201) {
            finish(q, 0, NULL);
            return;
        }
        break;
    default:
        break;
    }
    fail_http(q, &e);
    finish(q, e.code, &e);
}

static int begin(struct req *q, struct dap_error *err)
{
    int rc;

    if (q->r->base[0] == '\0') {
        req_free(q);
        return dap_error_set(err, DAP_ESTATE, "registry %s: not probed",
                             q->r->host);
    }
    rc = send_req(q, err);
    if (rc < 0)
        req_free(q);
    return rc;
}

static int start_error(oci_result_cb *cb, void *data, int rc,
                       struct dap_error *e)
{
    struct oci_result res = {0};

    /* Errors reach the callback too: an operation completes exactly once,
     * always from the loop's point of view of the caller. */
    cb(data, rc, &res, e);
    return 0;
}

int oci_registry_probe(oci_registry *r, oci_result_cb *cb, void *data)
{
    struct req *q = req_new(r, OP_PROBE, cb, data);
    struct dap_error e;
    int rc;

    if (q == NULL)
        return DAP_ENOMEM;
    /* Plain HTTP is tried first only where it is allowed (a registry
     * marked insecure, or on a loopback address) and no CA was named:
     * a loopback registry is most often a plain one, and a TLS handshake
     * that fails costs more than a plain request that a TLS registry
     * refuses.  Everywhere else: https, and nothing but https. */
    snprintf(r->base, sizeof(r->base), "%s://%s",
             (r->insecure || r->loopback) && r->ca_file == NULL ? "http"
                                                                : "https",
             r->host);
    snprintf(q->method, sizeof(q->method), "GET");
    if (set_url(q, "/v2/") < 0) {
        req_free(q);
        return DAP_ENOMEM;
    }
    rc = send_req(q, &e);
    if (rc < 0) {
        req_free(q);
        return start_error(cb, data, rc, &e);
    }
    return 0;
}

static void scope_for(struct req *q, const char *repo, const char *actions,
                      const char *mount_from)
{
    if (mount_from != NULL && mount_from[0])
        snprintf(q->scope, sizeof(q->scope),
                 "repository:%s:%s repository:%s:pull", repo, actions,
                 mount_from);
    else
        snprintf(q->scope, sizeof(q->scope), "repository:%s:%s", repo,
                 actions);
}

/* A new operation on repo: method, URL "/v2/REPO/KIND/REF", scope. */
static struct req *op_new(oci_registry *r, enum op op, const char *method,
                          const char *repo, const char *kind, const char *ref,
                          const char *actions, oci_result_cb *cb, void *data)
{
    struct req *q = req_new(r, op, cb, data);

    if (q == NULL)
        return NULL;
    snprintf(q->repo, sizeof(q->repo), "%s", repo);
    snprintf(q->ref, sizeof(q->ref), "%s", ref);
    snprintf(q->method, sizeof(q->method), "%s", method);
    q->head = strcmp(method, "HEAD") == 0;
    scope_for(q, repo, actions, NULL);
    if (set_url(q, "/v2/%s/%s/%s", repo, kind, ref) < 0) {
        req_free(q);
        return NULL;
    }
    return q;
}

static int go(struct req *q, oci_result_cb *cb, void *data)
{
    struct dap_error e;
    int rc;

    if (q == NULL)
        return DAP_ENOMEM;
    rc = begin(q, &e);
    return rc < 0 ? start_error(cb, data, rc, &e) : 0;
}

int oci_blob_head(oci_registry *r, const char *repo, const char *digest,
                  oci_result_cb *cb, void *data)
{
    return go(op_new(r, OP_BLOB_HEAD, "HEAD", repo, "blobs", digest, "pull",
                     cb, data),
              cb, data);
}

int oci_blob_push(oci_registry *r, const char *repo, const struct oci_blob *b,
                  const char *mount_from, oci_progress_fn *progress,
                  oci_result_cb *cb, void *data)
{
    struct req *q = op_new(r, OP_BLOB_PUSH, "HEAD", repo, "blobs", b->digest,
                           "pull,push", cb, data);

    if (q != NULL) {
        q->blob = *b;
        if (mount_from != NULL && strcmp(mount_from, repo) != 0)
            snprintf(q->mount_from, sizeof(q->mount_from), "%s", mount_from);
        q->progress = progress;
        q->stage = PS_HEAD;
        scope_for(q, repo, "pull,push", q->mount_from);
    }
    return go(q, cb, data);
}

int oci_blob_get(oci_registry *r, const char *repo, const char *digest,
                 const char *path, oci_result_cb *cb, void *data)
{
    struct req *q = op_new(r, OP_BLOB_GET, "GET", repo, "blobs", digest,
                           "pull", cb, data);
    struct dap_error e;

    if (q != NULL && path != NULL) {
        q->out_path = strdup(path);
        q->out_file = q->out_path ? fopen(path, "wb") : NULL;
        if (q->out_file == NULL) {
            dap_error_set(&e, -errno, "cannot write %s: %s", path,
                          strerror(errno));
            req_free(q);
            return start_error(cb, data, e.code, &e);
        }
    }
    return go(q, cb, data);
}

int oci_manifest_get(oci_registry *r, const char *repo, const char *ref,
                     int head, oci_result_cb *cb, void *data)
{
    struct req *q = op_new(r, OP_MANIFEST_GET, head ? "HEAD" : "GET", repo,
                           "manifests", ref, "pull", cb, data);

    /* Registries answer 404 for an OCI manifest to a GET that does not
     * accept its type: accept all four. */
    if (q != NULL)
        snprintf(q->accept, sizeof(q->accept), "%s, %s, %s, %s",
                 OCI_MT_MANIFEST, OCI_MT_INDEX, OCI_MT_DOCKER_MANIFEST,
                 OCI_MT_DOCKER_LIST);
    return go(q, cb, data);
}

int oci_manifest_put(oci_registry *r, const char *repo, const char *ref,
                     const char *body, size_t len, const char *media_type,
                     oci_result_cb *cb, void *data)
{
    struct req *q = op_new(r, OP_MANIFEST_PUT, "PUT", repo, "manifests", ref,
                           "pull,push", cb, data);

    if (q != NULL) {
        snprintf(q->req_ctype, sizeof(q->req_ctype), "%s", media_type);
        q->mem = malloc(len ? len : 1);
        if (q->mem == NULL) {
            req_free(q);
            q = NULL;
        } else {
            memcpy(q->mem, body, len);
            q->mem_len = len;
        }
    }
    return go(q, cb, data);
}

/* ---- the registry ------------------------------------------------------------------------ */

int oci_registry_new(uv_loop_t *loop, const struct oci_registry_opts *o,
                     oci_registry **out, struct dap_error *err)
{
    oci_registry *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    if (net_curlm_new(loop, &r->multi) < 0) {
        free(r);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    r->loop = loop;
    snprintf(r->host, sizeof(r->host), "%s", o->host);
    r->insecure = o->insecure;
    r->loopback = is_loopback(o->host);
    r->chunk = o->chunk_size ? o->chunk_size : DEFAULT_CHUNK;
    if (o->ca_file != NULL && (r->ca_file = strdup(o->ca_file)) == NULL) {
        oci_registry_free(r);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

void oci_registry_free(oci_registry *r)
{
    if (r == NULL)
        return;
    while (r->reqs != NULL)
        req_free(r->reqs);
    oci_creds_wait_cancel(r->cred_wait);
    net_curlm_free(r->multi);
    oci_cred_cleanup(&r->cred);
    for (int i = 0; i < TOKENS_MAX; i++)
        token_drop(&r->tokens[i]);
    free(r->ca_file);
    free(r);
}

const char *oci_registry_host(const oci_registry *r)
{
    return r->host;
}

uint64_t oci_registry_uploaded(const oci_registry *r)
{
    return r->uploaded;
}
