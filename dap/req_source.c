/* req_source.c - "The request retrieves the source code for a given source
 * reference."
 *
 * A sourceReference names the service that knows the source.  A plain path
 * is a file on the editor's side of the mapping, which kdap reads itself
 * (some clients ask for files they could open directly).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "session_int.h"

int dap__req_source(dap_session *s, struct dap_request *req, json_t *args,
                    json_t **body)
{
    json_t *source = json_object_get(args, "source");
    json_int_t ref = json_integer_value(json_object_get(args,
                                                        "sourceReference"));
    const char *path = json_string_value(json_object_get(source, "path"));
    dap_buf content;
    char chunk[8192];
    FILE *fp;
    size_t n;

    if (ref <= 0)
        ref = json_integer_value(json_object_get(source, "sourceReference"));
    if (ref > 0)
        return dap__req_forward(s, req, args, body);
    if (path == NULL)
        return dap_error_set(&req->err, DAP_EINVAL,
                             "source needs a sourceReference or "
                             "\"source\": {\"path\": ...}");
    fp = fopen(path, "rb");
    if (fp == NULL)
        return dap_error_set(&req->err, -errno, "cannot read %s: %s", path,
                             strerror(errno));
    dap_buf_init(&content, DAP_FRAME_MAX_BODY / 2);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (dap_buf_append(&content, chunk, n) < 0) {
            fclose(fp);
            dap_buf_cleanup(&content);
            return dap_error_set(&req->err, DAP_ETOOBIG,
                                 "%s is too large to show", path);
        }
    }
    fclose(fp);
    *body = json_pack("{s:s%}", "content", content.data ? content.data : "",
                      content.len);
    dap_buf_cleanup(&content);
    if (*body == NULL)
        return dap_error_set(&req->err, DAP_EINVAL,
                             "%s is not UTF-8 text", path);
    return 0;
}
