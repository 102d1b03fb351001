/* req_threads.c - "The request retrieves a list of all threads."
 *
 * One list for the whole session: every service's threads, with kdap's ids,
 * and, when the session holds several services, names prefixed with the
 * service's so the editor's thread view tells them apart.  A service that
 * fails to answer is left out (and logged) rather than failing the view.
 */
#include <stdio.h>
#include <string.h>

#include "fanout.h"
#include "log.h"

static json_t *threads_args(dap_session *s, struct dap_request *req,
                            struct dap_service *svc)
{
    (void)s;
    (void)req;
    (void)svc;
    return json_null();
}

static void threads_done(dap_session *s, struct dap_request *req)
{
    json_t *all = json_array();
    json_t *part;
    size_t i;

    json_array_foreach(req->parts, i, part)
    {
        struct dap_service *svc = dap__part_service(s, part);
        json_t *threads;
        json_t *t;
        size_t k;

        if (svc == NULL)
            continue;
        if (!dap__part_ok(part)) {
            DAP_LOGW("service %s: threads failed: %s", svc->name,
                     dap__part_error(part));
            continue;
        }
        threads = json_object_get(dap__part_body(part), "threads");
        if (!json_is_array(threads))
            continue;
        /* Remap under the "threads" key: that is what marks "id" as a
         * thread id. */
        json_t *wrap = json_pack("{s:O}", "threads", threads);
        int rc = dap__remap_to_client(s, svc, wrap);
        json_decref(wrap);
        if (rc < 0)
            continue;
        json_array_foreach(threads, k, t)
        {
            if (s->nsvc > 1) {
                const char *name = json_string_value(json_object_get(t, "name"));
                char buf[512];
                snprintf(buf, sizeof(buf), "%s: %s", svc->name,
                         name != NULL ? name : "");
                json_object_set_new(t, "name", json_string(buf));
            }
            json_array_append(all, t);
        }
    }
    dap__respond(s, req, json_pack("{s:o}", "threads", all));
}

int dap__req_threads(dap_session *s, struct dap_request *req, json_t *args,
                     json_t **body)
{
    (void)args;
    (void)body;
    return dap__fanout(s, req, "threads", threads_args, threads_done);
}
