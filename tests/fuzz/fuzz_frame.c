/* fuzz_frame.c - DAP framing plus dispatch: arbitrary bytes from an editor
 * through the session (no backends), which must never crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dap/log.h"
#include "dap/session.h"
#include "tests/fuzz/fuzz.h"

static void write_fn(void *data, const char *buf, size_t len)
{
    (void)data;
    (void)buf;
    (void)len;
}

static void finished_fn(void *data, int status)
{
    (void)data;
    (void)status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct dap_session_callbacks cb = {write_fn, finished_fn, NULL, NULL};
    uv_loop_t loop;
    dap_session *s;
    size_t cut;

    if (!init) {
        /* Quiet: the fuzzer feeds garbage on purpose. */
        if (dap_log_open("/dev/null", DAP_LOG_ERROR) < 0)
            return 0;
        init = 1;
    }
    uv_loop_init(&loop);
    if (dap_session_new(&loop, &cb, &s) < 0)
        return 0;
    /* Split the input in two reads at a data-dependent point. */
    cut = size > 0 ? data[0] % (size + 1) : 0;
    dap_session_input(s, (const char *)data, cut);
    dap_session_input(s, (const char *)data + cut, size - cut);
    fuzz_session_end(&loop, s);
    return 0;
}
