/* editor.c - see editor.h. */
#include "editor.h"

#include "dap/frame.h"
#include "tests/test.h"

static dap_buf out;
static int finished;
static int finish_status;

static void write_fn(void *data, const char *buf, size_t len)
{
    (void)data;
    ASSERT_OK(dap_buf_append(&out, buf, len));
}

static void finished_fn(void *data, int status)
{
    (void)data;
    finished++;
    finish_status = status;
}

const struct dap_session_callbacks editor_callbacks = {write_fn, finished_fn,
                                                       NULL, NULL};

void editor_init(void)
{
    dap_buf_cleanup(&out); /* what an earlier session left */
    dap_buf_init(&out, 1 << 24);
    finished = 0;
    finish_status = 0;
}

void editor_cleanup(void)
{
    dap_buf_cleanup(&out);
}

json_t *editor_drain(void)
{
    json_t *all = json_array();
    dap_frame f;
    const char *b;
    size_t n;

    dap_frame_init(&f, DAP_FRAME_MAX_BODY);
    ASSERT_OK(dap_frame_feed(&f, out.data ? out.data : "", out.len));
    while (dap_frame_next(&f, &b, &n, NULL) == 1) {
        json_t *m = json_loadb(b, n, 0, NULL);
        ASSERT(m != NULL);
        json_array_append_new(all, m);
    }
    dap_frame_cleanup(&f);
    dap_buf_reset(&out);
    return all;
}

void editor_send(dap_session *s, const char *json)
{
    dap_buf b;

    dap_buf_init(&b, 1 << 20);
    ASSERT_OK(dap_frame_write(&b, json, strlen(json)));
    dap_session_input(s, b.data, b.len);
    dap_buf_cleanup(&b);
}

int editor_finished(int *status)
{
    if (status != NULL)
        *status = finish_status;
    return finished;
}
