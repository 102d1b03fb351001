/* xlate.c - see xlate.h. */
#include "xlate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/utf8.h"

/* ---- requests and the defer queue ---------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
    adapter_xlate_drain(t->data);
}

void adapter_xlate_init(struct adapter_xlate *x, uv_loop_t *loop,
                        adapter_xlate_complete_fn *complete_fn,
                        adapter_xlate_drained_fn *drained_fn, void *data)
{
    memset(x, 0, sizeof(*x));
    x->complete_fn = complete_fn;
    x->drained_fn = drained_fn;
    x->data = data;
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    x->open = 1;
}

uv_handle_t *adapter_xlate_handle(struct adapter_xlate *x)
{
    return (uv_handle_t *)&x->timer;
}

void adapter_xlate_cleanup(struct adapter_xlate *x)
{
    if (x->open)
        uv_timer_stop(&x->timer);
    x->open = 0;
}

void adapter_xlate_kick(struct adapter_xlate *x)
{
    if (x->open)
        uv_timer_start(&x->timer, timer_cb, 0, 0);
}

void adapter_xlate_drain(struct adapter_xlate *x)
{
    /* IMPORTANT: complete_fn may defer the same request again (it needs
     * more from the debugger, then finishes) or defer others; each is
     * taken off the queue before it runs, so the loop sees them next. */
    while (x->head != NULL) {
        struct adapter_xreq *r = x->head;

        x->head = r->next_done;
        if (x->head == NULL)
            x->tail = NULL;
        r->next_done = NULL;
        r->queued = 0;
        x->complete_fn(r);
    }
    if (x->drained_fn != NULL)
        x->drained_fn(x);
}

int adapter_xreq_init(struct adapter_xreq *r, struct adapter_xlate *x,
                      const char *command, json_t *args,
                      adapter_response_cb *cb, void *data)
{
    memset(r, 0, sizeof(*r));
    r->x = x;
    r->cb = cb;
    r->data = data;
    r->command = strdup(command);
    r->args = args != NULL ? json_incref(args) : json_object();
    if (r->command == NULL || r->args == NULL) {
        adapter_xreq_cleanup(r);
        return DAP_ENOMEM;
    }
    return 0;
}

void adapter_xreq_cleanup(struct adapter_xreq *r)
{
    free(r->command);
    json_decref(r->args);
    json_decref(r->body);
    r->command = NULL;
    r->args = NULL;
    r->body = NULL;
}

int adapter_xreq_fail(struct adapter_xreq *r, int code, const char *fmt, ...)
{
    va_list ap;

    if (r->status < 0)
        return code; /* the first failure is the one to report */
    r->status = code < 0 ? code : DAP_EBACKEND;
    va_start(ap, fmt);
    dap_utf8_vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return code;
}

void adapter_xreq_defer(struct adapter_xreq *r)
{
    struct adapter_xlate *x = r->x;

    if (r->queued)
        return;
    r->queued = 1;
    r->next_done = NULL;
    if (x->tail != NULL)
        x->tail->next_done = r;
    else
        x->head = r;
    x->tail = r;
    adapter_xlate_kick(x);
}

void adapter_xreq_reply(struct adapter_xreq *r)
{
    adapter_response_cb *cb = r->cb;
    struct dap_error err;

    if (cb == NULL)
        return;
    r->cb = NULL; /* exactly one answer */
    if (r->status == 0) {
        cb(r->data, 0, r->body, NULL);
        return;
    }
    err.code = r->status;
    snprintf(err.msg, sizeof(err.msg), "%s", r->msg);
    cb(r->data, r->status, NULL, &err);
}

/* ---- stop-scoped references ---------------------------------------------- */

void adapter_xrefs_init(struct adapter_xrefs *t, void (*free_fn)(void *))
{
    memset(t, 0, sizeof(*t));
    t->free_fn = free_fn;
}

void adapter_xrefs_cleanup(struct adapter_xrefs *t)
{
    adapter_xrefs_clear(t);
    free(t->items);
    t->items = NULL;
    t->cap = 0;
}

int64_t adapter_xrefs_add(struct adapter_xrefs *t, void *item)
{
    /* References stay below 2^31 (DAP ids are int32): the base wraps long
     * before, and a wrap restarts where no live reference can be. */
    if (t->base + (int64_t)t->n >= ((int64_t)1 << 30))
        t->base = 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        void **items = realloc(t->items, cap * sizeof(*items));
        if (items == NULL) {
            if (t->free_fn != NULL)
                t->free_fn(item);
            return 0;
        }
        t->items = items;
        t->cap = cap;
    }
    t->items[t->n++] = item;
    return t->base + (int64_t)t->n;
}

void *adapter_xrefs_get(const struct adapter_xrefs *t, int64_t ref)
{
    int64_t i = ref - t->base - 1;

    if (i < 0 || (uint64_t)i >= t->n)
        return NULL;
    return t->items[i];
}

void adapter_xrefs_clear(struct adapter_xrefs *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->free_fn != NULL)
            t->free_fn(t->items[i]);
    }
    t->base += (int64_t)t->n;
    t->n = 0;
}

/* ---- events -------------------------------------------------------------- */

json_t *adapter_xlate_output_new(const char *category, const char *text)
{
    size_t n = strlen(text), outn;
    char *fixed = NULL;
    json_t *body;

    /* Debuggee text may be any bytes; jansson refuses invalid UTF-8 and
     * the whole event would be lost. */
    if (!dap_utf8_valid(text, n)) {
        fixed = dap_utf8_repair(text, n, &outn);
        if (fixed == NULL)
            return NULL;
        text = fixed;
    }
    body = json_pack("{s:s, s:s}", "category", category, "output", text);
    free(fixed);
    return body;
}

json_t *adapter_xlate_stopped_new(const char *reason, int64_t thread_id,
                                  const char *description)
{
    json_t *body = json_pack("{s:s, s:I, s:b}", "reason", reason, "threadId",
                             (json_int_t)thread_id, "allThreadsStopped", 1);

    if (body != NULL && description != NULL)
        json_object_set_new(body, "description", json_string(description));
    return body;
}

json_t *adapter_xlate_continued_new(int64_t thread_id)
{
    return json_pack("{s:I, s:b}", "threadId", (json_int_t)thread_id,
                     "allThreadsContinued", 1);
}

json_t *adapter_xlate_bp_changed_new(json_t *bp_new)
{
    return json_pack("{s:s, s:o}", "reason", "changed", "breakpoint", bp_new);
}

/* ---- breakpoint parsers -------------------------------------------------- */

int adapter_xlate_hit_parse(const char *s, struct adapter_hit *h)
{
    char *end;

    if (s == NULL)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    h->op = '=';
    if (s[0] == '>' && s[1] == '=') {
        h->op = 'g';
        s += 2;
    } else if (s[0] == '<' && s[1] == '=') {
        h->op = 'l';
        s += 2;
    } else if (s[0] == '=') {
        while (*s == '=')
            s++;
    } else if (*s == '>' || *s == '<' || *s == '%') {
        h->op = *s++;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    h->n = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || h->n < 0 || (h->op == '%' && h->n == 0))
        return -1;
    return 0;
}

int adapter_xlate_hit_match(const struct adapter_hit *h, long count)
{
    switch (h->op) {
    case '=':
        return count == h->n;
    case 'g':
        return count >= h->n;
    case '>':
        return count > h->n;
    case 'l':
        return count <= h->n;
    case '<':
        return count < h->n;
    case '%':
        return h->n > 0 && count % h->n == 0;
    default:
        return 1;
    }
}

int adapter_xlate_log_parse(const char *msg, adapter_xlate_log_fn *fn,
                            void *data)
{
    const char *lit = msg; /* start of the pending literal run */
    const char *p = msg;
    int rc;

    while (*p) {
        if (*p != '{' && *p != '}') {
            p++;
            continue;
        }
        /* "{{", "}}" and "{}" are literal: flush up to and including the
         * first character, skip the second. */
        if ((p[0] == '{' && (p[1] == '{' || p[1] == '}')) ||
            (p[0] == '}' && p[1] == '}')) {
            size_t keep = p[0] == '{' && p[1] == '}' ? 2 : 1;
            rc = fn(data, 0, lit, (size_t)(p - lit) + keep);
            if (rc != 0)
                return rc;
            p += 2;
            lit = p;
            continue;
        }
        if (*p == '}') { /* a lone closing brace is text */
            p++;
            continue;
        }
        if (p > lit) {
            rc = fn(data, 0, lit, (size_t)(p - lit));
            if (rc != 0)
                return rc;
        }
        {
            const char *e = ++p;
            int depth = 1;

            while (*p) {
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0)
                    break;
                p++;
            }
            if (*p == '\0' && p == e) /* a "{" at the very end is text */
                rc = fn(data, 0, e - 1, 1);
            else
                rc = fn(data, 1, e, (size_t)(p - e));
            if (rc != 0)
                return rc;
            if (*p == '}')
                p++;
            lit = p;
        }
    }
    if (p > lit)
        return fn(data, 0, lit, (size_t)(p - lit));
    return 0;
}
