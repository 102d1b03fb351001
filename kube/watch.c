/* watch.c - see watch.h. */
#define _GNU_SOURCE /* asprintf */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "../dap/log.h"

#define MAX_EVENT (16u << 20)
#define MAX_RETRIES 5

/* ---- parser ------------------------------------------------------------- */

void kube_watch_parser_init(struct kube_watch_parser *p, size_t max_object)
{
    memset(p, 0, sizeof(*p));
    dap_buf_init(&p->buf, max_object ? max_object : MAX_EVENT);
}

void kube_watch_parser_cleanup(struct kube_watch_parser *p)
{
    dap_buf_cleanup(&p->buf);
    memset(p, 0, sizeof(*p));
}

int kube_watch_parser_feed(struct kube_watch_parser *p, const char *buf,
                           size_t len, kube_watch_object_fn *fn, void *data)
{
    size_t i;
    int rc = 0;

    while (len > 0) {
        /* Append what fits; a whole object must fit in the cap. */
        size_t room = p->buf.cap - p->buf.len;
        size_t n = len < room ? len : room;
        if (n == 0)
            return DAP_ETOOBIG;
        if (dap_buf_append(&p->buf, buf, n) < 0)
            return DAP_ENOMEM;
        buf += n;
        len -= n;
        for (i = p->scan; i < p->buf.len; i++) {
            char ch = p->buf.data[i];
            if (p->depth == 0) {
                if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
                    continue;
                if (ch != '{')
                    return DAP_EPROTO;
                p->start = i;
                p->depth = 1;
                continue;
            }
            if (p->in_str) {
                if (p->esc)
                    p->esc = 0;
                else if (ch == '\\')
                    p->esc = 1;
                else if (ch == '"')
                    p->in_str = 0;
                continue;
            }
            if (ch == '"') {
                p->in_str = 1;
            } else if (ch == '{' || ch == '[') {
                if (++p->depth > 512)
                    return DAP_EPROTO;
            } else if (ch == '}' || ch == ']') {
                if (--p->depth == 0) {
                    json_error_t jerr;
                    json_t *obj = json_loadb(p->buf.data + p->start,
                                             i + 1 - p->start,
                                             JSON_DISABLE_EOF_CHECK, &jerr);
                    if (obj == NULL)
                        return DAP_EPROTO;
                    rc = json_is_object(obj) ? fn(data, obj) : DAP_EPROTO;
                    json_decref(obj);
                    if (rc < 0) {
                        /* Keep the parser consistent for a later feed. */
                        dap_buf_consume(&p->buf, i + 1);
                        p->scan = 0;
                        return rc;
                    }
                }
            }
        }
        /* Drop everything before the current object. */
        if (p->depth == 0) {
            dap_buf_reset(&p->buf);
            p->scan = 0;
        } else {
            if (p->start > 0) {
                dap_buf_consume(&p->buf, p->start);
                i -= p->start;
                p->start = 0;
            }
            p->scan = i;
        }
    }
    return 0;
}

/* ---- watch -------------------------------------------------------------- */

enum wstate {
    W_LISTING,
    W_WATCHING,
    W_WAITING, /* retry backoff */
    W_DONE,
};

struct kube_watch {
    kube_client *c;
    enum wstate state;
    char *path, *fsel, *lsel;
    unsigned timeout_s, req_timeout_s;
    kube_watch_event_cb *event_cb;
    kube_watch_end_cb *end_cb;
    void *data;
    kube_request *req;
    struct kube_watch_parser parser;
    char rv[64];
    int relist;          /* the stream asked for a re-list (410) */
    int retries;
    int in_cb;           /* inside one of our user callbacks */
    int dead;            /* freed by the user inside a callback */
    uv_timer_t *deadline;  /* overall timeout */
    uv_timer_t *retry;
    struct dap_error stream_err;
    int stream_failed;
};

static void timer_free_cb(uv_handle_t *h)
{
    free(h);
}

static void timer_drop(uv_timer_t **t)
{
    if (*t != NULL) {
        uv_timer_stop(*t);
        uv_close((uv_handle_t *)*t, timer_free_cb);
        *t = NULL;
    }
}

static void watch_release(kube_watch *w)
{
    kube_request_cancel(w->req);
    timer_drop(&w->deadline);
    timer_drop(&w->retry);
    kube_watch_parser_cleanup(&w->parser);
    free(w->path);
    free(w->fsel);
    free(w->lsel);
    free(w);
}

static void end(kube_watch *w, int status, const struct dap_error *e)
{
    if (w->state == W_DONE)
        return;
    w->state = W_DONE;
    kube_request_cancel(w->req);
    w->req = NULL;
    timer_drop(&w->deadline);
    timer_drop(&w->retry);
    if (w->end_cb != NULL) {
        w->in_cb++;
        w->end_cb(w->data, status, e);
        w->in_cb--;
    }
    /* Freed from inside end_cb: every caller of end() returns right
     * after, without touching w. */
    if (w->dead && w->in_cb == 0)
        watch_release(w);
}

static int start_list(kube_watch *w, struct dap_error *err);
static int start_watch(kube_watch *w, struct dap_error *err);

static char *make_path(kube_watch *w, int watch)
{
    char *q = NULL;
    char *f = w->fsel ? kube_query_escape(w->fsel) : NULL;
    char *l = w->lsel ? kube_query_escape(w->lsel) : NULL;
    char *rvq = kube_query_escape(w->rv);
    int n;

    if (watch)
        n = asprintf(&q,
                     "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
                     "&timeoutSeconds=%u%s%s%s%s",
                     w->path, rvq ? rvq : "", w->req_timeout_s,
                     f ? "&fieldSelector=" : "", f ? f : "",
                     l ? "&labelSelector=" : "", l ? l : "");
    else
        n = asprintf(&q, "%s?%s%s%s%s", w->path, f ? "fieldSelector=" : "",
                     f ? f : "", f && l ? "&" : "",
                     l ? "labelSelector=" : "");
    if (!watch && n >= 0 && l != NULL) {
        char *q2 = NULL;
        n = asprintf(&q2, "%s%s", q, l);
        free(q);
        q = n >= 0 ? q2 : NULL;
    }
    free(f);
    free(l);
    free(rvq);
    return n >= 0 ? q : NULL;
}

static void retry_fire(uv_timer_t *t)
{
    kube_watch *w = t->data;
    struct dap_error e;
    int rc;

    timer_drop(&w->retry);
    rc = w->relist || w->rv[0] == '\0' ? start_list(w, &e)
                                        : start_watch(w, &e);
    if (rc < 0)
        end(w, rc, &e);
}

/* A transfer failed: try again soon, a few times. */
static void retry_later(kube_watch *w, int status, const struct dap_error *e)
{
    if (++w->retries > MAX_RETRIES) {
        end(w, status, e);
        return;
    }
    DAP_LOGI("kube: watch %s: %s; retrying", w->path, e ? e->msg : "failed");
    w->state = W_WAITING;
    w->retry = malloc(sizeof(*w->retry));
    if (w->retry == NULL) {
        end(w, DAP_ENOMEM, NULL);
        return;
    }
    uv_timer_init(kube_client_loop(w->c), w->retry);
    w->retry->data = w;
    uv_timer_start(w->retry, retry_fire, 1000, 0);
}

static void set_rv_from(kube_watch *w, json_t *obj)
{
    const char *rv = json_string_value(json_object_get(
        json_object_get(obj, "metadata"), "resourceVersion"));

    if (rv != NULL && strlen(rv) < sizeof(w->rv))
        strcpy(w->rv, rv);
}

static void list_done(void *data, int status, long http, json_t *body,
                      const struct dap_error *err)
{
    kube_watch *w = data;
    struct dap_error e;
    size_t i;
    json_t *it;
    int rc;

    (void)http;
    w->req = NULL;
    if (w->dead) {
        watch_release(w);
        return;
    }
    if (status < 0) {
        if (status == DAP_EBACKEND)
            end(w, status, err);
        else
            retry_later(w, status, err);
        return;
    }
    w->retries = 0;
    w->relist = 0;
    w->rv[0] = '\0';
    set_rv_from(w, body);
    w->in_cb++;
    json_array_foreach(json_object_get(body, "items"), i, it)
    {
        if (w->event_cb != NULL && !w->dead && w->state != W_DONE)
            w->event_cb(w->data, "ADDED", it);
    }
    w->in_cb--;
    if (w->dead) {
        watch_release(w);
        return;
    }
    if (w->state == W_DONE)
        return;
    rc = start_watch(w, &e);
    if (rc < 0)
        end(w, rc, &e);
}

static int on_event(void *data, json_t *ev)
{
    kube_watch *w = data;
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");

    if (type == NULL || !json_is_object(obj))
        return DAP_EPROTO;
    if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        if (code == 410) {
            DAP_LOGI("kube: watch %s: %s; listing again", w->path,
                     msg ? msg : "expired");
            w->relist = 1;
            return DAP_ECANCELLED;
        }
        dap_error_set(&w->stream_err, DAP_EBACKEND,
                      "watching %s failed: %s (code %d)", w->path,
                      msg ? msg : "error event", (int)code);
        w->stream_failed = 1;
        return DAP_EBACKEND;
    }
    set_rv_from(w, obj);
    if (strcmp(type, "BOOKMARK") == 0)
        return 0;
    w->in_cb++;
    if (w->event_cb != NULL && w->state != W_DONE)
        w->event_cb(w->data, type, obj);
    w->in_cb--;
    if (w->dead || w->state == W_DONE)
        return DAP_ECANCELLED;
    return 0;
}

static int watch_chunk(void *data, const char *buf, size_t len)
{
    kube_watch *w = data;
    int rc = kube_watch_parser_feed(&w->parser, buf, len, on_event, w);

    if (rc == DAP_EPROTO || rc == DAP_ETOOBIG) {
        dap_error_set(&w->stream_err, rc,
                      "watching %s: the server sent a malformed stream",
                      w->path);
        w->stream_failed = 1;
    }
    return rc;
}

static void watch_done(void *data, int status, long http, json_t *body,
                       const struct dap_error *err)
{
    kube_watch *w = data;
    struct dap_error e;
    int rc;

    (void)body;
    w->req = NULL;
    if (w->dead) {
        watch_release(w);
        return;
    }
    if (w->state == W_DONE)
        return;
    if (w->relist || http == 410) {
        rc = start_list(w, &e);
        if (rc < 0)
            end(w, rc, &e);
        return;
    }
    if (w->stream_failed) {
        end(w, w->stream_err.code, &w->stream_err);
        return;
    }
    if (status == DAP_EBACKEND) {
        end(w, status, err);
        return;
    }
    if (status < 0) {
        retry_later(w, status, err);
        return;
    }
    /* The server ended the watch (timeoutSeconds): resume. */
    w->retries = 0;
    rc = start_watch(w, &e);
    if (rc < 0)
        end(w, rc, &e);
}

static int start_list(kube_watch *w, struct dap_error *err)
{
    struct kube_request_opts ro;
    char *path = make_path(w, 0);
    int rc;

    if (path == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    memset(&ro, 0, sizeof(ro));
    ro.path = path;
    w->state = W_LISTING;
    rc = kube_request_start(w->c, &ro, list_done, w, &w->req, err);
    free(path);
    return rc;
}

static int start_watch(kube_watch *w, struct dap_error *err)
{
    struct kube_request_opts ro;
    char *path = make_path(w, 1);
    int rc;

    if (path == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    kube_watch_parser_cleanup(&w->parser);
    kube_watch_parser_init(&w->parser, MAX_EVENT);
    w->stream_failed = 0;
    w->relist = 0;
    memset(&ro, 0, sizeof(ro));
    ro.path = path;
    ro.chunk_fn = watch_chunk;
    /* The server ends the watch at timeoutSeconds; give it some slack. */
    ro.timeout_ms = (w->req_timeout_s + 30) * 1000u;
    w->state = W_WATCHING;
    rc = kube_request_start(w->c, &ro, watch_done, w, &w->req, err);
    free(path);
    return rc;
}

static void deadline_fire(uv_timer_t *t)
{
    kube_watch *w = t->data;
    struct dap_error e;

    dap_error_set(&e, DAP_ETIMEDOUT, "watching %s: no result within %u s",
                  w->path, w->timeout_s);
    end(w, DAP_ETIMEDOUT, &e);
}

int kube_watch_start(kube_client *c, const struct kube_watch_opts *o,
                     kube_watch_event_cb *event_cb, kube_watch_end_cb *end_cb,
                     void *data, kube_watch **out, struct dap_error *err)
{
    kube_watch *w = calloc(1, sizeof(*w));
    int rc;

    *out = NULL;
    if (w == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    w->c = c;
    w->path = strdup(o->path);
    w->fsel = o->field_selector ? strdup(o->field_selector) : NULL;
    w->lsel = o->label_selector ? strdup(o->label_selector) : NULL;
    w->timeout_s = o->timeout_s;
    w->req_timeout_s = o->request_timeout_s ? o->request_timeout_s : 300;
    w->event_cb = event_cb;
    w->end_cb = end_cb;
    w->data = data;
    kube_watch_parser_init(&w->parser, MAX_EVENT);
    if (w->path == NULL) {
        watch_release(w);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    rc = start_list(w, err);
    if (rc < 0) {
        watch_release(w);
        return rc;
    }
    if (w->timeout_s > 0) {
        w->deadline = malloc(sizeof(*w->deadline));
        if (w->deadline != NULL) {
            uv_timer_init(kube_client_loop(c), w->deadline);
            w->deadline->data = w;
            uv_timer_start(w->deadline, deadline_fire,
                           (uint64_t)w->timeout_s * 1000u, 0);
        }
    }
    *out = w;
    return 0;
}

const char *kube_watch_resource_version(const kube_watch *w)
{
    return w->rv;
}

void kube_watch_free(kube_watch *w)
{
    if (w == NULL)
        return;
    if (w->in_cb > 0) {
        /* Inside our callback: the request (if any) is still running its
         * callbacks; its completion releases us. */
        w->dead = 1;
        w->state = W_DONE;
        timer_drop(&w->deadline);
        timer_drop(&w->retry);
        return;
    }
    watch_release(w);
}
