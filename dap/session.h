/* session.h - one debug session with the editor: N services, one DAP stream.
 *
 * The session reads complete DAP messages (framing is the caller's), runs
 * them through the handler table, talks to the services' backends, remaps
 * every id and path, and writes DAP messages through the writer it was given.
 * It never touches stdio itself, so tests can drive it with in-memory
 * writers.
 */
#ifndef KDAP_SESSION_H
#define KDAP_SESSION_H

#include <stddef.h>
#include <uv.h>

#include "err.h"

typedef struct dap_session dap_session;

struct dap_session_callbacks {
    /* Write one framed message (the session frames it). */
    void (*write_fn)(void *data, const char *buf, size_t len);
    /* The session is over (after disconnect, shutdown, or a fatal input
     * error): the owner should flush and exit.  Called once, from the loop.
     */
    void (*finished_fn)(void *data, int status);
    void *data;
    /* Bytes written but not yet taken by the editor (NULL: never
     * congested).  Above a high-water mark the session drops `output`
     * events and pauses the target-log streams, never a response; the
     * writer calls dap_session_drained() as its queue empties. */
    size_t (*pending_fn)(void *data);
};

int dap_session_new(uv_loop_t *loop, const struct dap_session_callbacks *cb,
                    dap_session **out) DAP_WUR;
/* Free everything.  Backends still attached are dropped without detaching:
 * call dap_session_shutdown() first and wait for finished_fn.  NULL ok. */
void dap_session_free(dap_session *s);

/* Feed raw bytes from the editor (framing included). */
void dap_session_input(dap_session *s, const char *buf, size_t len);
/* The writer's queue shrank: below the low-water mark the session says
 * what output it dropped (once) and resumes the streams it paused. */
void dap_session_drained(dap_session *s);
/* Handle one already-unframed message body. */
void dap_session_handle(dap_session *s, const char *body, size_t len);
/* The editor went away (stdin closed) or a signal asked us to stop: detach
 * every service (debuggees keep running), then finished_fn. */
void dap_session_shutdown(dap_session *s, const char *why);

/* Attach the services that name a "target" through `ops` instead of the
 * cluster (attach/attach.h): a unit test stands in for the cluster so. */
struct attach_ops;
void dap_session_set_attach(dap_session *s, const struct attach_ops *ops);

#endif
