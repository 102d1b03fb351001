/* fake_backend.c - the scriptable backend kind of the unit tests (see
 * fake_backend.h).  Everything it reports goes through one queue drained by
 * one timer, so, like a real backend, no callback runs inside the call that
 * caused it and answers can be delayed, held and failed. */
#include "fake_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/adapter_int.h"
#include "adapters/dapconn.h"

enum item_kind { ITEM_REPLY, ITEM_READY, ITEM_CLOSED, ITEM_EVENT };

struct item {
    enum item_kind kind;
    uint64_t due;
    adapter_response_cb *cb;
    void *data;
    json_t *msg; /* the response, or the event body */
    char *event;
    int status;
    struct dap_error err;
    struct item *next;
};

struct fake_backend {
    adapter *a;
    uv_timer_t timer;
    struct item *head;
    json_t *threads;  /* the thread ids */
    json_t *requests; /* what the session sent */
    json_t *fail;     /* command -> message */
    char *fail_start;
    unsigned delay_ms;
    int hold;
    int dead;   /* closed_fn queued: no more answers */
    int seq;
    int bp_seq; /* breakpoint ids, per instance */
    struct fake_backend *next_live;
};

static struct fake_backend *live;

static void drain(uv_timer_t *t);

static void schedule(struct fake_backend *f)
{
    uint64_t now = uv_now(f->a->loop);
    uint64_t next = UINT64_MAX;

    for (struct item *it = f->head; it != NULL; it = it->next) {
        if (f->hold && it->kind == ITEM_REPLY)
            continue;
        if (it->due < next)
            next = it->due;
    }
    if (next != UINT64_MAX)
        uv_timer_start(&f->timer, drain, next > now ? next - now : 0, 0);
}

static void push(struct fake_backend *f, struct item *it)
{
    struct item **p = &f->head;

    if (it->due == 0)
        it->due = uv_now(f->a->loop) + f->delay_ms;
    while (*p != NULL)
        p = &(*p)->next;
    *p = it;
    schedule(f);
}

static void item_free(struct item *it)
{
    json_decref(it->msg);
    free(it->event);
    free(it);
}

/* Deliver one item due now; the callbacks may re-enter (new requests, a
 * stop), so the list is walked from the head after every delivery. */
static void drain(uv_timer_t *t)
{
    struct fake_backend *f = t->data;
    uint64_t now = uv_now(f->a->loop);
    struct item **p = &f->head;

    while (*p != NULL) {
        struct item *it = *p;
        if (it->due > now || (f->hold && it->kind == ITEM_REPLY)) {
            p = &it->next;
            continue;
        }
        *p = it->next;
        switch (it->kind) {
        case ITEM_REPLY:
            /* A DAP-speaking debugger's answer, handed over as delve's
             * are. */
            adapter_dapconn_reply(it->cb, it->data, it->status, it->msg,
                                  it->status < 0 ? &it->err : NULL);
            break;
        case ITEM_READY:
            adapter__ready(f->a, it->status, it->status < 0 ? &it->err : NULL);
            break;
        case ITEM_CLOSED:
            adapter__closed(f->a, it->status,
                            it->status < 0 ? &it->err : NULL);
            break;
        case ITEM_EVENT:
            adapter__event(f->a, it->event, it->msg);
            break;
        }
        item_free(it);
        p = &f->head;
    }
    schedule(f);
}

/* ---- answers ----------------------------------------------------------- */

static json_int_t arg(json_t *args, const char *key)
{
    return json_integer_value(json_object_get(args, key));
}

static json_t *breakpoints(struct fake_backend *f, json_t *args)
{
    json_t *out = json_array();
    json_t *b;
    size_t i;

    json_array_foreach(json_object_get(args, "breakpoints"), i, b)
    {
        json_t *e = json_pack("{s:i, s:b}", "id", ++f->bp_seq, "verified", 1);
        if (json_is_integer(json_object_get(b, "line")))
            json_object_set(e, "line", json_object_get(b, "line"));
        json_array_append_new(out, e);
    }
    return json_pack("{s:o}", "breakpoints", out);
}

static json_t *answer(struct fake_backend *f, const char *command,
                      json_t *args)
{
    const char *name = f->a->name;
    char text[256];

    if (strcmp(command, "threads") == 0) {
        json_t *out = json_array();
        json_t *id;
        size_t i;
        json_array_foreach(f->threads, i, id)
        {
            snprintf(text, sizeof(text), "t%lld",
                     (long long)json_integer_value(id));
            json_array_append_new(out, json_pack("{s:O, s:s}", "id", id,
                                                 "name", text));
        }
        return json_pack("{s:o}", "threads", out);
    }
    if (strcmp(command, "stackTrace") == 0) {
        snprintf(text, sizeof(text), "%s.f%lld", name,
                 (long long)arg(args, "threadId"));
        return json_pack("{s:[{s:I, s:s, s:i, s:i, s:{s:s, s:i}}], s:i}",
                         "stackFrames", "id", arg(args, "threadId") * 10 + 1,
                         "name", text, "line", 1, "column", 1, "source",
                         "name", "generated", "sourceReference", 7,
                         "totalFrames", 1);
    }
    if (strcmp(command, "scopes") == 0)
        return json_pack("{s:[{s:s, s:I, s:b}]}", "scopes", "name", "Locals",
                         "variablesReference", arg(args, "frameId") * 10,
                         "expensive", 0);
    if (strcmp(command, "variables") == 0) {
        snprintf(text, sizeof(text), "%lld",
                 (long long)arg(args, "variablesReference"));
        return json_pack("{s:[{s:s, s:s, s:i}, {s:s, s:s, s:i}]}",
                         "variables", "name", "service", "value", name,
                         "variablesReference", 0, "name", "ref", "value",
                         text, "variablesReference", 0);
    }
    if (strcmp(command, "source") == 0) {
        snprintf(text, sizeof(text), "%s:%lld", name,
                 (long long)arg(args, "sourceReference"));
        return json_pack("{s:s}", "content", text);
    }
    if (strcmp(command, "setBreakpoints") == 0 ||
        strcmp(command, "setFunctionBreakpoints") == 0)
        return breakpoints(f, args);
    return NULL;
}

/* ---- adapter_ops ------------------------------------------------------- */

static int fake_new(adapter *a, json_t *cfg, struct dap_error *err)
{
    json_t *opts = json_object_get(cfg, "fake");
    json_t *threads = json_object_get(opts, "threads");
    struct fake_backend *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    if (opts != NULL && !json_is_object(opts)) {
        free(f);
        return dap_error_set(err, DAP_ECONFIG, "\"fake\" must be an object");
    }
    f->a = a;
    f->threads = threads != NULL ? json_deep_copy(threads) : json_pack("[i]", 1);
    f->requests = json_array();
    f->fail = json_object();
    f->delay_ms = (unsigned)json_integer_value(json_object_get(opts, "delayMs"));
    if (json_is_string(json_object_get(opts, "failStart")))
        f->fail_start =
            strdup(json_string_value(json_object_get(opts, "failStart")));
    uv_timer_init(a->loop, &f->timer);
    f->timer.data = f;
    f->next_live = live;
    live = f;
    a->impl = f;
    return 0;
}

static struct item *item_new(enum item_kind kind, int status)
{
    struct item *it = calloc(1, sizeof(*it));

    if (it == NULL)
        abort(); /* a test helper: no recovery worth writing */
    it->kind = kind;
    it->status = status;
    return it;
}

static int fake_start(adapter *a)
{
    struct fake_backend *f = a->impl;
    struct item *it = item_new(ITEM_READY, 0);

    if (f->fail_start != NULL) {
        it->status = DAP_ECONNECT;
        dap_error_set(&it->err, DAP_ECONNECT, "%s", f->fail_start);
    }
    push(f, it);
    return 0;
}

static int fake_request(adapter *a, const char *command, json_t *args,
                        adapter_response_cb *cb, void *data)
{
    struct fake_backend *f = a->impl;
    const char *fail = json_string_value(json_object_get(f->fail, command));
    struct item *it;
    json_t *body;

    if (f->dead)
        return DAP_ECLOSED;
    json_array_append_new(f->requests,
                          json_pack("{s:s, s:o}", "command", command,
                                    "arguments",
                                    args != NULL ? json_deep_copy(args)
                                                 : json_null()));
    it = item_new(ITEM_REPLY, 0);
    it->cb = cb;
    it->data = data;
    f->seq++;
    it->msg = json_pack("{s:s, s:i, s:i, s:s, s:b}", "type", "response",
                        "seq", f->seq, "request_seq", f->seq, "command",
                        command, "success", fail == NULL);
    if (fail != NULL) {
        json_object_set_new(it->msg, "message", json_string(fail));
        json_object_set_new(it->msg, "body",
                            json_pack("{s:{s:i, s:s}}", "error", "id", 1,
                                      "format", fail));
    } else if ((body = answer(f, command, args)) != NULL) {
        json_object_set_new(it->msg, "body", body);
    }
    push(f, it);
    return 0;
}

/* Fail every queued answer, then report the end (once). */
static void end(struct fake_backend *f, int status, const char *why)
{
    struct item *it;

    if (f->dead)
        return;
    f->dead = 1;
    f->hold = 0;
    for (it = f->head; it != NULL; it = it->next) {
        if (it->kind != ITEM_REPLY)
            continue;
        json_decref(it->msg);
        it->msg = NULL;
        it->status = DAP_ECLOSED;
        it->due = uv_now(f->a->loop);
        dap_error_set(&it->err, DAP_ECLOSED, "the debugger went away: %s",
                      why);
    }
    it = item_new(ITEM_CLOSED, status);
    if (status < 0)
        dap_error_set(&it->err, status, "%s", why);
    it->due = uv_now(f->a->loop);
    push(f, it);
}

static void fake_stop(adapter *a, enum adapter_stop_mode mode,
                      unsigned timeout_ms)
{
    struct fake_backend *f = a->impl;

    (void)timeout_ms;
    json_array_append_new(f->requests,
                          json_pack("{s:s, s:{s:b}}", "command", "(stop)",
                                    "arguments", "terminate",
                                    mode == ADAPTER_TERMINATE));
    end(f, 0, "stopped");
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fake_free(adapter *a)
{
    struct fake_backend *f = a->impl;
    struct fake_backend **p = &live;

    while (*p != NULL && *p != f)
        p = &(*p)->next_live;
    if (*p != NULL)
        *p = f->next_live;
    while (f->head != NULL) {
        struct item *it = f->head;
        f->head = it->next;
        item_free(it);
    }
    json_decref(f->threads);
    json_decref(f->requests);
    json_decref(f->fail);
    free(f->fail_start);
    uv_close((uv_handle_t *)&f->timer, timer_closed);
}

static const struct adapter_ops fake_ops = {
    fake_new, fake_start, fake_request, fake_stop, fake_free,
};

/* ---- the fake runtime's profile (adapter.h) ---------------------------- */

static const char *const fake_filters[] = {"all", NULL};
static const char *const fake_caps[] = {"SYS_NICE", NULL};
static const char *const fake_commands[] = {"fakedbg", NULL};
static const char *const fake_env[] = {"FAKE_DEBUG", NULL};
static const char *const fake_images[] = {"fakerun", NULL};

static int fake_check(json_t *cfg, struct dap_error *err)
{
    if (json_object_get(cfg, "fakeRefuse") != NULL)
        return dap_error_set(err, DAP_ECONFIG, "fake: \"fakeRefuse\" is set");
    return 0;
}

/* REST "PORT [warn]": the port the debugger took, and a warning. */
static int fake_ready(json_t *cfg, const char *rest, int pid, int *port,
                      char *warn, size_t warnlen, struct dap_error *err)
{
    int p = atoi(rest);

    if (p <= 0)
        return dap_error_set(err, DAP_EBACKEND, "fake: no port in \"%s\"",
                             rest);
    *port = p;
    json_object_set_new(cfg, "fakePid", json_integer(pid));
    if (strstr(rest, "warn") != NULL)
        snprintf(warn, warnlen, "the fake debugger warns");
    return 0;
}

static const struct adapter_kind fake_kind = {
    .runtime = "fake",
    .description = "a scripted in-process backend (unit tests)",
    .exception_filters = fake_filters,
    .script = "fakedbg --port $port --pid $pid &\n"
              "echo \"$m ready $port\"\n",
    .ready = "ready",
    .debugger = "fakedbg",
    .port = 7000,
    .caps = fake_caps,
    .detect_commands = fake_commands,
    .detect_env = fake_env,
    .detect_images = fake_images,
    .check_fn = fake_check,
    .ready_fn = fake_ready,
};

/* ---- the test's handle ------------------------------------------------- */

int fake_backend_register(void)
{
    return adapter_kind_register(&fake_kind, &fake_ops);
}

fake_backend *fake_backend_find(const char *name)
{
    for (struct fake_backend *f = live; f != NULL; f = f->next_live) {
        if (strcmp(f->a->name, name) == 0)
            return f;
    }
    return NULL;
}

json_t *fake_backend_requests(fake_backend *f)
{
    return f->requests;
}

json_t *fake_backend_last(fake_backend *f, const char *command)
{
    for (size_t i = json_array_size(f->requests); i > 0; i--) {
        json_t *r = json_array_get(f->requests, i - 1);
        if (strcmp(json_string_value(json_object_get(r, "command")),
                   command) == 0)
            return json_object_get(r, "arguments");
    }
    return NULL;
}

int fake_backend_fail(fake_backend *f, const char *command,
                      const char *message)
{
    if (message == NULL)
        return json_object_del(f->fail, command) == 0 ? 0 : -ENOENT;
    return json_object_set_new(f->fail, command, json_string(message)) == 0
               ? 0
               : DAP_ENOMEM;
}

void fake_backend_hold(fake_backend *f, int hold)
{
    f->hold = hold;
    schedule(f);
}

void fake_backend_event(fake_backend *f, const char *event, json_t *body_new)
{
    struct item *it = item_new(ITEM_EVENT, 0);

    it->event = strdup(event);
    it->msg = body_new;
    it->due = uv_now(f->a->loop);
    push(f, it);
}

void fake_backend_die(fake_backend *f, const char *why)
{
    end(f, DAP_ECLOSED, why);
}
