/* watch.h - list + watch of a Kubernetes collection, resumed from the last
 * resourceVersion, re-listed on 410 Expired, bounded in time.
 *
 * Design notes.
 * - The stream is parsed incrementally by kube_watch_parser (pure, unit
 *   tested, fuzzed by tests/fuzz/fuzz_watch.c): a resumable scanner finds
 *   where each top-level JSON object ends (strings and escapes tracked
 *   across chunks, so the cost is linear however the bytes are split),
 *   then json_loadb parses exactly that object.  Newlines between events
 *   are not relied upon.
 * - Cycle: LIST (items reported as ADDED) -> WATCH from the list's
 *   resourceVersion with allowWatchBookmarks -> when the server ends the
 *   watch (timeoutSeconds), WATCH again from the last resourceVersion seen
 *   (events and bookmarks); an ERROR event with code 410 or an HTTP 410
 *   -> LIST again.  Transport failures are retried a few times, one second
 *   apart.
 */
#ifndef KDAP_KUBE_WATCH_H
#define KDAP_KUBE_WATCH_H

#include <stddef.h>

#include <jansson.h>

#include "../dap/buf.h"
#include "../dap/err.h"
#include "client.h"

/* ---- the pure stream parser -------------------------------------------- */

struct kube_watch_parser {
    dap_buf buf;     /* unconsumed bytes */
    size_t scan;     /* bytes of buf already scanned */
    size_t start;    /* offset of the current object's '{' */
    int depth;       /* nesting inside the current object, 0 = between */
    int in_str;
    int esc;
};

/* One complete event object (borrowed).  Return 0 to go on, negative to
 * stop feeding (returned by kube_watch_parser_feed). */
typedef int kube_watch_object_fn(void *data, json_t *obj);

void kube_watch_parser_init(struct kube_watch_parser *p, size_t max_object);
void kube_watch_parser_cleanup(struct kube_watch_parser *p);
/* Feed bytes; fn runs for each complete object.  Returns 0, what fn
 * returned, DAP_EPROTO (not a stream of JSON objects) or DAP_ETOOBIG (an
 * object larger than max_object). */
int kube_watch_parser_feed(struct kube_watch_parser *p, const char *buf,
                           size_t len, kube_watch_object_fn *fn, void *data)
    DAP_WUR;

/* ---- the watch ---------------------------------------------------------- */

typedef struct kube_watch kube_watch;

struct kube_watch_opts {
    const char *path;            /* collection, e.g.
                                    /api/v1/namespaces/NS/pods */
    const char *field_selector;  /* or NULL */
    const char *label_selector;  /* or NULL */
    unsigned timeout_s;          /* end with DAP_ETIMEDOUT after this; 0 =
                                    never */
    unsigned request_timeout_s;  /* timeoutSeconds per WATCH request; 0 =
                                    300 */
};

/* type is "ADDED", "MODIFIED" or "DELETED"; object borrowed. */
typedef void kube_watch_event_cb(void *data, const char *type,
                                 json_t *object);
/* The watch ended for good (timeout, API error); runs at most once and
 * never after kube_watch_free. */
typedef void kube_watch_end_cb(void *data, int status,
                               const struct dap_error *err);

int kube_watch_start(kube_client *c, const struct kube_watch_opts *o,
                     kube_watch_event_cb *event_cb, kube_watch_end_cb *end_cb,
                     void *data, kube_watch **out, struct dap_error *err)
    DAP_WUR;
/* The resourceVersion the watch has reached (borrowed). */
const char *kube_watch_resource_version(const kube_watch *w);
/* Stop and release; no callback afterwards.  Safe from inside the watch's
 * own callbacks (the release then completes on the loop).  NULL is a
 * no-op. */
void kube_watch_free(kube_watch *w);

#endif
