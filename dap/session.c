/* session.c - the session object: input, output, services and their events.
 *
 * Request handling lives in handlers.c and req_*.c, id/path translation in
 * remap.c.  This file owns the lifetime rules:
 * - a service's adapter is never freed inside one of its callbacks; dead
 *   services are reaped from a zero timer (the loop turns first);
 * - every request gets exactly one response, also when its backend dies
 *   (adapters fail their pending requests) or the session ends (freeing the
 *   session answers what is still live);
 * - finished_fn runs once, from the loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "msg.h"
#include "session_int.h"
#include "utf8.h"

#define SHUTDOWN_TIMEOUT_MS 4000
/* Output queued for the editor: above HIGH_WATER `output` events are
 * dropped and log streams paused, below LOW_WATER they flow again. */
#define HIGH_WATER (4u << 20)
#define LOW_WATER (512u << 10)
#define TERMINATED_GRACE_MS 2000

static const char *const state_names[] = {"new",      "ready",    "attaching",
                                          "attached", "stopping", "done"};

static void send_terminated(dap_session *s);

void dap__set_state(dap_session *s, enum dap_sess_state st)
{
    if (s->state == st)
        return;
    DAP_LOGI("session %s -> %s", state_names[s->state], state_names[st]);
    s->state = st;
}

int dap_session_new(uv_loop_t *loop, const struct dap_session_callbacks *cb,
                    dap_session **out)
{
    dap_session *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return DAP_ENOMEM;
    s->loop = loop;
    s->cb = *cb;
    s->out_seq = 1;
    s->lines_start_at_1 = 1;
    s->columns_start_at_1 = 1;
    dap_frame_init(&s->in, DAP_FRAME_MAX_BODY);
    dap_buf_init(&s->out, DAP_FRAME_MAX_BODY + 64);
    dap_idmap_init(&s->threads, "thread", 1, INT32_MAX);
    dap_idmap_init(&s->frames, "frame", 1, INT32_MAX);
    dap_idmap_init(&s->vars, "variables", 1, INT32_MAX);
    dap_idmap_init(&s->bps, "breakpoint", 1, INT32_MAX);
    dap_idmap_init(&s->sources, "source", 1, INT32_MAX);
    s->named_paths = json_object();
    uv_timer_init(loop, &s->reaper);
    uv_timer_init(loop, &s->grace);
    s->reaper.data = s;
    s->attach = &attach_cluster;
    s->grace.data = s;
    *out = s;
    return 0;
}

static void service_free(dap_session *s, struct dap_service *svc)
{
    if (svc == NULL)
        return;
    dap__attach_drop(s, svc);
    json_decref(svc->cfg);
    adapter_free(svc->ad);
    dap_pathmap_cleanup(&svc->paths);
    free(svc->name);
    free(svc->runtime);
    free(svc->where);
    free(svc->local_root);
    kube_deploy_free(svc->deploy);
    kube_restore_free(svc->restore);
    free(svc->launch_name);
    free(svc->launch_image);
    free(svc);
}

void dap__services_drop(dap_session *s)
{
    for (size_t i = 0; i < s->nsvc; i++)
        service_free(s, s->svc[i]);
    free(s->svc);
    s->svc = NULL;
    s->nsvc = 0;
    s->focused = NULL;
    dap_idmap_clear(&s->threads);
    dap_idmap_clear(&s->frames);
    dap_idmap_clear(&s->vars);
    dap_idmap_clear(&s->bps);
    dap_idmap_clear(&s->sources);
}

static void handle_closed(uv_handle_t *h)
{
    dap_session *s = h->data;

    if (--s->closing == 0)
        free(s);
}

void dap_session_free(dap_session *s)
{
    if (s == NULL)
        return;
    dap__source_detach_all(s);
    dap__attach_detach(s);
    /* Answer whatever is still waiting, so no request goes unanswered. */
    while (s->live != NULL)
        dap__respond_err(s, s->live, DAP_ECANCELLED,
                         "the session ended before this request completed");
    dap__services_drop(s);
    kube_client_free(s->kube);
    s->kube = NULL;
    dap_frame_cleanup(&s->in);
    dap_buf_cleanup(&s->out);
    dap_idmap_cleanup(&s->threads);
    dap_idmap_cleanup(&s->frames);
    dap_idmap_cleanup(&s->vars);
    dap_idmap_cleanup(&s->bps);
    dap_idmap_cleanup(&s->sources);
    json_decref(s->named_paths);
    s->closing = 2;
    uv_close((uv_handle_t *)&s->reaper, handle_closed);
    uv_close((uv_handle_t *)&s->grace, handle_closed);
}

/* ---- output ------------------------------------------------------------ */


/* A response that cannot be serialised (over the frame limit, or out of
 * memory) becomes an error response to the same request: the editor waits
 * for an answer to every request, and "too large" is one it can show. */
static json_t *unsendable_response(json_t *msg, int rc)
{
    const char *command = json_string_value(json_object_get(msg, "command"));
    char text[512];

    if (rc == DAP_ETOOBIG)
        dap_utf8_snprintf(text, sizeof(text),
                          "the response to '%s' is larger than the %u MiB "
                          "limit of a DAP message: ask for less (fewer "
                          "breakpoints, a smaller file, a page of variables)",
                          command, DAP_FRAME_MAX_BODY >> 20);
    else
        dap_utf8_snprintf(text, sizeof(text),
                          "the response to '%s' could not be built: %s",
                          command, dap_strerror(rc));
    return dap_msg_error_new(
        json_integer_value(json_object_get(msg, "request_seq")), command, rc,
        NULL, text);
}

int dap__congested(dap_session *s)
{
    if (!s->congested && s->cb.pending_fn != NULL &&
        s->cb.pending_fn(s->cb.data) > HIGH_WATER) {
        s->congested = 1;
        DAP_LOGW("the editor is not reading kdap's output: dropping output "
                 "events until it does");
    }
    return s->congested;
}

void dap_session_drained(dap_session *s)
{
    if (!s->congested || s->cb.pending_fn(s->cb.data) > LOW_WATER)
        return;
    s->congested = 0;
    if (s->out_dropped > 0) {
        unsigned long n = s->out_dropped;
        size_t bytes = s->out_dropped_bytes;
        s->out_dropped = 0;
        s->out_dropped_bytes = 0;
        dap__output(s, "important",
                    "kdap: %lu output events (%zu KiB of text) were dropped: "
                    "the editor did not read them as fast as the program "
                    "wrote them",
                    n, (bytes + 1023) / 1024);
    }
    for (size_t i = 0; i < s->nsvc; i++)
        if (s->svc[i]->attach != NULL)
            s->attach->resume_fn(s->svc[i]->attach);
}

/* Drop an `output` event while the editor is behind (see HIGH_WATER):
 * responses and the other events always go out. */
static int drop_output(dap_session *s, json_t *msg)
{
    const char *text;

    if (!json_is_string(json_object_get(msg, "event")) ||
        strcmp(json_string_value(json_object_get(msg, "event")), "output") !=
            0 ||
        !dap__congested(s))
        return 0;
    text = json_string_value(
        json_object_get(json_object_get(msg, "body"), "output"));
    s->out_dropped++;
    s->out_dropped_bytes += text != NULL ? strlen(text) : 0;
    return 1;
}

void dap__send(dap_session *s, json_t *msg_new)
{
    const char *frame;
    size_t len;
    int rc;

    if (msg_new == NULL) {
        DAP_LOGE("out of memory building a message");
        return;
    }
    if (drop_output(s, msg_new)) {
        json_decref(msg_new);
        return;
    }
    json_object_set_new(msg_new, "seq", json_integer(s->out_seq));
    /* One serialisation into a buffer reused for every message: this is
     * the hot path of every response and event. */
    rc = dap_frame_encode(&s->out, msg_new, &frame, &len);
    if (rc < 0 && json_object_get(msg_new, "request_seq") != NULL) {
        /* A response (only they have request_seq): it must be answered. */
        json_t *alt = unsendable_response(msg_new, rc);
        DAP_LOGE("cannot serialise the response to %s (%s); answering with "
                 "an error",
                 json_string_value(json_object_get(msg_new, "command")),
                 dap_strerror(rc));
        json_decref(msg_new);
        msg_new = alt;
        if (msg_new != NULL) {
            json_object_set_new(msg_new, "seq", json_integer(s->out_seq));
            rc = dap_frame_encode(&s->out, msg_new, &frame, &len);
        }
    }
    json_decref(msg_new);
    if (rc < 0 || msg_new == NULL) {
        /* Only events get here (or no memory at all): the seq is not used,
         * so the editor sees no gap. */
        DAP_LOGE("cannot serialise a message (%s); dropped", dap_strerror(rc));
        return;
    }
    s->out_seq++;
    if (dap_log_enabled(DAP_LOG_DEBUG)) {
        const char *body = strstr(frame, "\r\n\r\n") + 4;
        size_t n = len - (size_t)(body - frame);
        DAP_LOGD("-> editor %.*s", (int)(n > 2000 ? 2000 : n), body);
    }
    s->cb.write_fn(s->cb.data, frame, len);
    /* Do not keep a huge buffer around after one huge message. */
    if (s->out.alloc > (1u << 20))
        dap_buf_cleanup(&s->out);
}

void dap__event(dap_session *s, const char *event, json_t *body_new)
{
    /* Every event but these two has a required body: a body that could not
     * be built (text jansson refused) must not become an event the schema
     * rejects. */
    if (body_new == NULL && strcmp(event, "initialized") != 0 &&
        strcmp(event, "terminated") != 0) {
        DAP_LOGE("event %s without its body (it could not be built); "
                 "dropped",
                 event);
        return;
    }
    dap__send(s, dap_msg_event_new(event, body_new));
}

void dap__output(dap_session *s, const char *category, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = dap_utf8_vsnprintf(text, sizeof(text) - 1, fmt, ap);
    va_end(ap);
    if (n == 0 || text[n - 1] != '\n') {
        text[n] = '\n';
        text[n + 1] = '\0';
    }
    dap__send(s, dap_msg_output_new(category, text));
}

/* ---- input ------------------------------------------------------------- */

void dap_session_handle(dap_session *s, const char *body, size_t len)
{
    json_error_t jerr;
    /* NUL escapes parse, so that such a request is answered (dap__dispatch
     * refuses it there, naming where it is) rather than dropped. */
    json_t *msg = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);

    if (msg == NULL || !json_is_object(msg)) {
        DAP_LOGE("invalid JSON from the editor (%s at byte %d); message "
                 "dropped",
                 msg == NULL ? jerr.text : "not an object",
                 msg == NULL ? jerr.position : 0);
        dap__output(s, "console",
                    "kdap: dropped a message that is not a JSON object (%s)",
                    msg == NULL ? jerr.text : "not an object");
        json_decref(msg);
        return;
    }
    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("<- editor %.*s", (int)(len > 2000 ? 2000 : len), body);
    dap__dispatch(s, msg);
    json_decref(msg);
}

void dap_session_input(dap_session *s, const char *buf, size_t len)
{
    struct dap_error err = {0};
    const char *body;
    size_t blen;
    int rc;

    if (s->state == SS_DONE)
        return;
    rc = dap_frame_feed(&s->in, buf, len);
    while (rc >= 0) {
        rc = dap_frame_next(&s->in, &body, &blen, &err);
        if (rc == 0)
            return;
        if (rc == DAP_EPROTO) {
            DAP_LOGE("bad frame from the editor: %s; resynchronising",
                     err.msg);
            dap__output(s, "console", "kdap: %s; input resynchronised",
                        err.msg);
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        dap_session_handle(s, body, blen);
        if (s->state == SS_DONE)
            return;
    }
    /* Fatal framing error (oversize): say so and end the session cleanly. */
    DAP_LOGE("fatal input error: %s", rc == DAP_ETOOBIG && err.msg[0]
                                          ? err.msg
                                          : dap_strerror(rc));
    dap__output(s, "important", "kdap: %s; closing the session",
                err.msg[0] ? err.msg : dap_strerror(rc));
    send_terminated(s);
    dap_session_shutdown(s, "fatal input error");
}

/* ---- services ---------------------------------------------------------- */

struct dap_service *dap__service_by_id(dap_session *s, uint32_t id)
{
    if (id == 0 || id > s->nsvc)
        return NULL;
    return s->svc[id - 1];
}

size_t dap__services_alive(dap_session *s)
{
    size_t n = 0;

    for (size_t i = 0; i < s->nsvc; i++)
        n += s->svc[i]->state != SVC_GONE;
    return n;
}

void dap__reset_stopped_ids(dap_session *s, struct dap_service *svc)
{
    dap_idmap_clear_backend(&s->frames, svc->id);
    dap_idmap_clear_backend(&s->vars, svc->id);
}

static struct dap_service *svc_of(dap_session *s, adapter *a)
{
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->ad == a)
            return s->svc[i];
    }
    return NULL;
}

static int all_stopped(dap_session *s)
{
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->state == SVC_READY && !s->svc[i]->stopped)
            return 0;
    }
    return 1;
}

/* Thread exits for every thread of a service that is gone. */
static void threads_exited(dap_session *s, struct dap_service *svc)
{
    for (size_t i = 0; i < s->threads.count; i++) {
        if (s->threads.ents[i].backend != svc->id)
            continue;
        dap__event(s, "thread",
                   json_pack("{s:s, s:i}", "reason", "exited", "threadId",
                             (int)s->threads.ents[i].local));
    }
}

static void send_terminated(dap_session *s)
{
    if (s->terminated_sent)
        return;
    s->terminated_sent = 1;
    dap__event(s, "terminated", NULL);
}

static void grace_cb(uv_timer_t *t)
{
    dap_session *s = t->data;

    DAP_LOGI("no disconnect after terminated; exiting");
    dap__finish(s, 0);
}

/* A service ended on its own (its debugger died or the debuggee exited). */
static void service_lost(dap_session *s, struct dap_service *svc,
                         const char *why)
{
    svc->state = SVC_GONE;
    dap__reset_stopped_ids(s, svc);
    if (s->state != SS_ATTACHED)
        return;
    dap__output(s, "important", "kdap: service \"%s\" ended: %s", svc->name,
                why);
    threads_exited(s, svc);
    dap__schedule_reap(s);
    if (dap__services_alive(s) == 0) {
        send_terminated(s);
        /* The editor answers terminated with disconnect; if it does not,
         * do not linger. */
        uv_timer_start(&s->grace, grace_cb, TERMINATED_GRACE_MS, 0);
    }
}

static void on_event(void *data, adapter *a, const char *event, json_t *body)
{
    dap_session *s = data;
    struct dap_service *svc = svc_of(s, a);
    json_t *b;

    if (svc == NULL || svc->state != SVC_READY || s->state != SS_ATTACHED)
        return;
    b = json_incref(body); /* remapped in place (see adapter.h) */
    if (strcmp(event, "stopped") == 0) {
        svc->stopped = 1;
        s->focused = svc;
        dap__reset_stopped_ids(s, svc);
        if (svc->attach != NULL && s->attach->stopped_fn != NULL)
            s->attach->stopped_fn(svc->attach, json_string_value(json_object_get(
                                                   b, "reason")));
    } else if (strcmp(event, "continued") == 0) {
        svc->stopped = 0;
        dap__reset_stopped_ids(s, svc);
    } else if (strcmp(event, "terminated") == 0) {
        json_decref(b);
        service_lost(s, svc, "the debugger ended the session");
        return;
    } else if (strcmp(event, "exited") == 0 && s->nsvc > 1) {
        dap__output(s, "important", "kdap: service \"%s\" exited with code %lld",
                    svc->name,
                    (long long)json_integer_value(
                        json_object_get(body, "exitCode")));
        json_decref(b);
        return;
    }
    if (b != NULL && dap__remap_to_client(s, svc, b) < 0) {
        json_decref(b);
        return;
    }
    if (b != NULL && s->nsvc > 1) {
        if (strcmp(event, "stopped") == 0)
            json_object_set_new(b, "allThreadsStopped",
                                json_boolean(all_stopped(s)));
        else if (strcmp(event, "continued") == 0)
            json_object_set_new(b, "allThreadsContinued", json_false());
    }
    dap__event(s, event, b);
}

static void attach_cancel(dap_session *s, struct dap_service *svc);

static void service_ready(dap_session *s, struct dap_service *svc, int status,
                          const struct dap_error *err)
{
    struct dap_request *req = s->attach_req;
    int pending = 0;

    if (status < 0) {
        svc->state = SVC_GONE;
        DAP_LOGE("service %s: %s", svc->name, err->msg);
        /* Remember the first failure for the attach response, and stop
         * the services still resolving: the attach fails as a whole. */
        if (req != NULL && req->extra == NULL) {
            req->extra = json_pack("{s:i, s:s}", "code", status, "message",
                                   err->msg);
            for (size_t i = 0; i < s->nsvc; i++) {
                struct dap_service *o = s->svc[i];
                if (o != svc && o->state == SVC_STARTING && o->ad == NULL) {
                    attach_cancel(s, o);
                    o->state = SVC_GONE;
                }
            }
        }
    } else {
        svc->state = SVC_READY;
        DAP_LOGI("service %s attached (%s)", svc->name, svc->where);
        if (svc->attach != NULL)
            s->attach->attached_fn(svc->attach);
    }
    for (size_t i = 0; i < s->nsvc; i++)
        pending += s->svc[i]->state == SVC_STARTING;
    if (pending > 0 || req == NULL)
        return;
    s->attach_req = NULL;
    if (req->extra != NULL) {
        int code = (int)json_integer_value(json_object_get(req->extra, "code"));
        char msg[512];
        dap_utf8_snprintf(msg, sizeof(msg), "%s",
                 json_string_value(json_object_get(req->extra, "message")));
        /* Detach the services that did attach: all or nothing. */
        dap__set_state(s, SS_READY);
        for (size_t i = 0; i < s->nsvc; i++) {
            if (s->svc[i]->state == SVC_READY) {
                s->svc[i]->state = SVC_STOPPING;
                adapter_stop(s->svc[i]->ad, ADAPTER_DETACH, 3000);
            }
        }
        dap__schedule_reap(s);
        dap__respond_err(s, req, code, "%s", msg);
        return;
    }
    dap__set_state(s, SS_ATTACHED);
    for (size_t i = 0; i < s->nsvc; i++) {
        struct dap_service *v = s->svc[i];
        const char *root = adapter_inferred_root(v->ad);
        dap__output(s, "console", "kdap: attached to %s service \"%s\" at %s",
                    v->runtime, v->name, v->where);
        if (v->local_root == NULL)
            continue;
        if (root != NULL && dap_pathmap_add(&v->paths, v->local_root, root) == 0)
            dap__output(s, "console",
                        "kdap: service \"%s\": remoteRoot \"%s\" inferred from "
                        "the binary's source paths (localRoot \"%s\")",
                        v->name, root, v->local_root);
        else if (root == NULL)
            dap__output(s, "important",
                        "kdap: service \"%s\": no file under localRoot \"%s\" "
                        "is among the binary's sources, so remoteRoot could "
                        "not be inferred: set \"remoteRoot\" to the directory "
                        "the binary was built in",
                        v->name, v->local_root);
    }
    dap__event(s, "initialized", NULL);
    dap__respond(s, req, NULL);
}

static void on_ready(void *data, adapter *a, int status,
                     const struct dap_error *err)
{
    dap_session *s = data;
    struct dap_service *svc = svc_of(s, a);

    if (svc != NULL)
        service_ready(s, svc, status, err);
}

static void maybe_stop_done(dap_session *s);

static void on_closed(void *data, adapter *a, int status,
                      const struct dap_error *err)
{
    dap_session *s = data;
    struct dap_service *svc = svc_of(s, a);

    if (svc == NULL)
        return;
    if (svc->state == SVC_STOPPING) {
        svc->state = SVC_GONE;
        if (status < 0)
            DAP_LOGW("service %s: %s", svc->name, err ? err->msg : "");
        else
            DAP_LOGI("service %s detached", svc->name);
        maybe_stop_done(s);
        return;
    }
    if (svc->state == SVC_GONE)
        return;
    service_lost(s, svc,
                 status < 0 && err != NULL ? err->msg : "connection closed");
    maybe_stop_done(s);
}

static const struct adapter_callbacks *adapter_cbs(dap_session *s)
{
    static struct adapter_callbacks cb = {
        .event_fn = on_event,
        .ready_fn = on_ready,
        .closed_fn = on_closed,
    };

    cb.data = s;
    return &cb;
}

int dap__service_add(dap_session *s, const char *name, const char *runtime,
                     json_t *cfg, const char *where, struct dap_error *err)
{
    struct dap_service *svc;
    struct dap_service **arr;
    int rc;

    svc = calloc(1, sizeof(*svc));
    arr = realloc(s->svc, (s->nsvc + 1) * sizeof(*arr));
    if (svc == NULL || arr == NULL) {
        free(svc);
        if (arr != NULL)
            s->svc = arr;
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    s->svc = arr;
    svc->id = (uint32_t)s->nsvc + 1;
    svc->name = strdup(name);
    svc->runtime = strdup(runtime != NULL ? runtime : "?");
    svc->where = strdup(where);
    svc->state = SVC_STARTING;
    if (json_is_string(json_object_get(cfg, "localRoot")) &&
        json_object_get(cfg, "remoteRoot") == NULL)
        svc->local_root =
            strdup(json_string_value(json_object_get(cfg, "localRoot")));
    rc = dap_pathmap_init(&svc->paths, cfg, err);
    /* A service with a target gets its backend once the tunnel is open
     * (on_attach_connected); one with "connect" gets it now. */
    if (rc == 0 && json_object_get(cfg, "connect") == NULL)
        svc->cfg = json_deep_copy(cfg);
    else if (rc == 0)
        rc = adapter_new(s->loop, runtime, name, cfg, adapter_cbs(s),
                         &svc->ad, err);
    if (rc < 0) {
        service_free(s, svc);
        return rc;
    }
    s->svc[s->nsvc++] = svc;
    return 0;
}

/* ---- the attach orchestration's callbacks (attach/attach.h) ---------- */

/* A service still attaching, by id; NULL once it is not. */
static struct dap_service *attaching(dap_session *s, uint32_t id)
{
    struct dap_service *svc = dap__service_by_id(s, id);

    return svc != NULL && svc->state == SVC_STARTING ? svc : NULL;
}

static void progress_end(dap_session *s, struct dap_service *svc,
                         const char *msg)
{
    char pid[40];

    if (!svc->progress)
        return;
    svc->progress = 0;
    snprintf(pid, sizeof(pid), "kdap-attach-%u", svc->id);
    dap__event(s, "progressEnd",
               json_pack("{s:s, s:s}", "progressId", pid, "message", msg));
}

static void on_attach_progress(void *data, uint32_t id, const char *msg)
{
    dap_session *s = data;
    struct dap_service *svc = attaching(s, id);
    char pid[40];
    char title[300];

    if (svc == NULL || !s->client_progress)
        return;
    snprintf(pid, sizeof(pid), "kdap-attach-%u", svc->id);
    if (svc->progress) {
        dap__event(s, "progressUpdate",
                   json_pack("{s:s, s:s}", "progressId", pid, "message", msg));
        return;
    }
    svc->progress = 1;
    dap_utf8_snprintf(title, sizeof(title), "Attaching to %s", svc->name);
    dap__event(s, "progressStart",
               json_pack("{s:s, s:s, s:s}", "progressId", pid, "title", title,
                         "message", msg));
}

static void on_attach_output(void *data, uint32_t id, const char *category,
                             const char *text)
{
    dap_session *s = data;

    if (dap__service_by_id(s, id) != NULL)
        dap__send(s, dap_msg_output_new(category, text));
}

/* The target's log: once the whole session is attached, prefixed with the
 * service's name when there are several. */
static void on_attach_log(void *data, uint32_t id, const char *text,
                          size_t len)
{
    dap_session *s = data;
    struct dap_service *svc = dap__service_by_id(s, id);
    char line[8192 + 300];

    if (svc == NULL || s->state != SS_ATTACHED)
        return;
    dap_utf8_snprintf(line, sizeof(line), "%s%s%.*s",
                      s->nsvc > 1 ? svc->name : "", s->nsvc > 1 ? ": " : "",
                      (int)len, text);
    dap__send(s, dap_msg_output_new("stdout", line));
}

static int on_attach_busy(void *data)
{
    return dap__congested(data);
}

/* A target service's debugger can be reached: its backend now, with the
 * tunnel. */
static int on_attach_connected(void *data, uint32_t id, json_t *cfg,
                               const char *where,
                               const struct adapter_tunnel *t,
                               struct dap_error *err)
{
    dap_session *s = data;
    struct dap_service *svc = attaching(s, id);
    const char *runtime = json_string_value(json_object_get(cfg, "runtime"));
    int rc;

    if (svc == NULL)
        return dap_error_set(err, DAP_ECANCELLED, "the attach was cancelled");
    progress_end(s, svc, "attached");
    rc = adapter_new(s->loop, runtime, svc->name, cfg, adapter_cbs(s),
                     &svc->ad, err);
    if (rc < 0)
        return rc;
    adapter_set_tunnel(svc->ad, t);
    free(svc->runtime);
    svc->runtime = strdup(runtime);
    free(svc->where);
    svc->where = strdup(where);
    rc = adapter_start(svc->ad);
    if (rc < 0)
        return dap_error_set(err, rc, "cannot start the %s backend: %s",
                             runtime, dap_strerror(rc));
    return 0;
}

static void on_attach_failed(void *data, uint32_t id,
                             const struct dap_error *err)
{
    dap_session *s = data;
    struct dap_service *svc = attaching(s, id);

    if (svc == NULL)
        return;
    progress_end(s, svc, "failed");
    service_ready(s, svc, err->code, err);
}

static const struct attach_callbacks *attach_cbs(dap_session *s)
{
    static struct attach_callbacks cb = {
        .progress_fn = on_attach_progress,
        .output_fn = on_attach_output,
        .log_fn = on_attach_log,
        .busy_fn = on_attach_busy,
        .connected_fn = on_attach_connected,
        .failed_fn = on_attach_failed,
    };

    cb.data = s;
    return &cb;
}

/* A service still attaching is given up (another failed, or the session
 * stops): its progress ends, its orchestration goes. */
static void attach_cancel(dap_session *s, struct dap_service *svc)
{
    kube_deploy_free(svc->deploy); /* what it patched, the restore undoes */
    svc->deploy = NULL;
    progress_end(s, svc, "cancelled");
    dap__attach_drop(s, svc);
}

void dap_session_set_attach(dap_session *s, const struct attach_ops *ops)
{
    s->attach = ops;
}

void dap__attach_drop(dap_session *s, struct dap_service *svc)
{
    attach_svc *a = svc->attach;

    svc->attach = NULL;
    if (a != NULL)
        s->attach->free_fn(a);
}

/* ---- launch: deploy first, put back last --------------------------------- */

int dap__launch_init(dap_session *s, struct dap_service *svc, json_t *cfg,
                     struct dap_error *err)
{
    const char *target = json_string_value(json_object_get(cfg, "target"));
    json_t *image = json_object_get(cfg, "image");
    json_t *rep = json_object_get(cfg, "replicas");
    json_t *probes = json_object_get(cfg, "probes");

    if (json_object_get(cfg, "build") != NULL)
        return dap_error_set(err, DAP_EUNSUPPORTED,
                             "\"build\" is not available in this build yet: "
                             "build and push the image yourself and give its "
                             "reference as \"image\"");
    if (!json_is_string(image))
        return dap_error_set(err, DAP_ECONFIG,
                             "launch needs \"image\": the reference of the "
                             "debug image to deploy (REPO@sha256:... or "
                             "REPO:TAG)");
    if (target == NULL || strncmp(target, "deployment/", 11) != 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "launch needs \"target\": \"deployment/NAME\", "
                             "the workload to deploy the image to");
    if (rep != NULL && (!json_is_integer(rep) || json_integer_value(rep) < 1))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"replicas\" must be a whole number >= 1 (1 is "
                             "what most want while debugging)");
    if (probes != NULL && !json_is_string(probes))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"probes\" must be \"relax\", \"keep\" or "
                             "\"remove\"");
    if (kube_probes_parse(json_string_value(probes), &svc->launch_probes,
                          err) < 0)
        return DAP_ECONFIG;
    svc->launch_name = strdup(target + 11);
    svc->launch_image = strdup(json_string_value(image));
    svc->launch_replicas = rep != NULL ? (long)json_integer_value(rep) : -1;
    svc->sess = s;
    if (svc->launch_name == NULL || svc->launch_image == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    return 0;
}

static void on_deploy_progress(void *data, const char *what)
{
    struct dap_service *svc = data;

    dap__output(svc->sess, "console", "deployment/%s: %s\n", svc->launch_name,
                what);
}

static void on_deployed(void *data, int status, int rolled,
                        const struct dap_error *err)
{
    struct dap_service *svc = data;
    dap_session *s = svc->sess;

    svc->deploy = NULL;
    if (status < 0) {
        service_ready(s, svc, status, err);
        return;
    }
    dap__output(s, "console", "deployment/%s: %s\n", svc->launch_name,
                rolled ? "rolled out" : "already runs this image: no rollout");
    svc->launch_deployed = 1;
    dap__service_start_all(s);
}

static int deploy_start(dap_session *s, struct dap_service *svc,
                        struct dap_error *err)
{
    struct kube_deploy_opts o;
    char since[32];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    memset(&o, 0, sizeof(o));
    o.ns = kube_client_config(s->kube)->namespace;
    o.name = svc->launch_name;
    o.change.container = json_string_value(json_object_get(svc->cfg,
                                                           "container"));
    o.change.image = svc->launch_image;
    o.change.replicas = svc->launch_replicas;
    o.change.probes = svc->launch_probes;
    o.change.session = s->launch_id;
    o.change.since = since;
    return kube_deploy_start(s->kube, &o, on_deploy_progress, on_deployed, svc,
                             &svc->deploy, err);
}

static void maybe_stop_done(dap_session *s);

static void on_put_back(void *data, int status, const char *session,
                        const char *note, const struct dap_error *err)
{
    struct dap_service *svc = data;
    dap_session *s = svc->sess;

    svc->restore = NULL;
    svc->restore_state = 2;
    if (status < 0)
        dap__output(s, "stderr",
                    "deployment/%s could not be put back (%s): run `kdap "
                    "restore -n %s deployment/%s`\n",
                    svc->launch_name, err ? err->msg : "?",
                    kube_client_config(s->kube)->namespace, svc->launch_name);
    else if (session[0] != '\0')
        dap__output(s, "console", "deployment/%s is back as it was%s%s\n",
                    svc->launch_name, note[0] ? "; " : "", note);
    maybe_stop_done(s);
}

/* Every launched workload put back before the session answers its end:
 * 1 while some are still on their way. */
static int restores_pending(dap_session *s)
{
    int pending = 0;

    for (size_t i = 0; i < s->nsvc; i++) {
        struct dap_service *svc = s->svc[i];
        char path[512];
        struct dap_error e;

        if (svc->launch_name == NULL || s->kube == NULL ||
            svc->restore_state == 2)
            continue;
        if (svc->restore_state == 0) {
            snprintf(path, sizeof(path),
                     "/apis/apps/v1/namespaces/%s/deployments/%s",
                     kube_client_config(s->kube)->namespace, svc->launch_name);
            svc->restore_state = 1;
            if (kube_restore_start(s->kube, path, on_put_back, svc,
                                   &svc->restore, &e) < 0) {
                svc->restore_state = 2;
                dap__output(s, "stderr", "deployment/%s: %s\n",
                            svc->launch_name, e.msg);
                continue;
            }
        }
        pending = 1;
    }
    return pending;
}

void dap__service_start_all(dap_session *s)
{
    for (size_t i = 0; i < s->nsvc; i++) {
        struct dap_service *svc = s->svc[i];
        struct dap_error e;
        int rc;

        if (svc->state != SVC_STARTING || svc->deploy != NULL)
            continue;
        if (svc->launch_name != NULL && !svc->launch_deployed) {
            rc = deploy_start(s, svc, &e);
            if (rc < 0)
                service_ready(s, svc, rc, &e);
            continue;
        }
        if (svc->ad != NULL) {
            rc = adapter_start(svc->ad);
            if (rc < 0)
                dap_error_set(&e, rc, "cannot start the %s backend: %s",
                              svc->runtime, dap_strerror(rc));
        } else {
            rc = s->attach->start_fn(s->loop, s->kube, svc->id, svc->name,
                                     svc->cfg, attach_cbs(s), &svc->attach,
                                     &e);
        }
        if (rc < 0)
            service_ready(s, svc, rc, &e);
    }
}

/* ---- ending ------------------------------------------------------------ */

static void reap_cb(uv_timer_t *t)
{
    dap_session *s = t->data;

    /* Adapters of gone services are freed here, outside their callbacks;
     * the service records stay so their ids keep failing cleanly. */
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->state == SVC_GONE && s->svc[i]->ad != NULL) {
            adapter_free(s->svc[i]->ad);
            s->svc[i]->ad = NULL;
        }
        if (s->svc[i]->state == SVC_GONE)
            dap__attach_drop(s, s->svc[i]); /* the tunnel */
    }
    if (s->state == SS_DONE && s->cb.finished_fn != NULL) {
        void (*fn)(void *, int) = s->cb.finished_fn;
        s->cb.finished_fn = NULL;
        fn(s->cb.data, s->finish_status);
    }
}

void dap__schedule_reap(dap_session *s)
{
    uv_timer_start(&s->reaper, reap_cb, 0, 0);
}

void dap__finish(dap_session *s, int status)
{
    if (s->state == SS_DONE)
        return;
    dap__set_state(s, SS_DONE);
    uv_timer_stop(&s->grace);
    s->finish_status = status;
    dap__schedule_reap(s);
}

/* Called whenever a service finished stopping: when all have, the pending
 * disconnect/terminate/shutdown completes. */
static void maybe_stop_done(dap_session *s)
{
    struct dap_request *req;

    if (s->state != SS_STOPPING)
        return;
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->state == SVC_STOPPING)
            return;
    }
    if (restores_pending(s))
        return;
    dap__schedule_reap(s);
    req = s->stop_req;
    s->stop_req = NULL;
    if (req == NULL) {
        dap__finish(s, 0);
        return;
    }
    if (strcmp(req->command, "terminate") == 0) {
        /* The editor follows up with disconnect. */
        dap__set_state(s, SS_ATTACHED);
        dap__respond(s, req, NULL);
        send_terminated(s);
        uv_timer_start(&s->grace, grace_cb, TERMINATED_GRACE_MS, 0);
        return;
    }
    dap__respond(s, req, NULL);
    dap__finish(s, 0);
}

void dap__stop_all(dap_session *s, enum adapter_stop_mode mode)
{
    int any = 0;

    dap__set_state(s, SS_STOPPING);
    for (size_t i = 0; i < s->nsvc; i++) {
        struct dap_service *svc = s->svc[i];
        if (svc->state == SVC_STARTING && svc->ad == NULL) {
            /* Still resolving in the cluster: nothing to detach yet. */
            attach_cancel(s, svc);
            svc->state = SVC_GONE;
        } else if (svc->state == SVC_READY || svc->state == SVC_STARTING) {
            svc->state = SVC_STOPPING;
            adapter_stop(svc->ad, mode, SHUTDOWN_TIMEOUT_MS);
            any = 1;
        }
    }
    if (!any)
        maybe_stop_done(s);
}

void dap_session_shutdown(dap_session *s, const char *why)
{
    if (s->state == SS_DONE)
        return;
    DAP_LOGI("shutting down: %s", why);
    if (s->state == SS_STOPPING)
        return; /* already on its way */
    if (s->attach_req != NULL) {
        struct dap_request *req = s->attach_req;
        s->attach_req = NULL;
        dap__respond_err(s, req, DAP_ECANCELLED, "cancelled: %s", why);
    }
    dap__stop_all(s, ADAPTER_DETACH);
}
