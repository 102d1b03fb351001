/* main.c - kdap's entry point: command line, the one libuv loop, stdio.
 *
 * stdin carries DAP from the editor and stdout carries DAP back; nothing
 * else ever goes to stdout.  Logs go to --log FILE / KDAP_LOG (stderr when
 * unset).  When stdin closes, or on SIGTERM/SIGINT, the session detaches
 * every service (debuggees keep running) and kdap exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "../dap/fds.h"
#include "../dap/frame.h"
#include "../dap/log.h"
#include "../dap/session.h"
#include "cmd.h"

#ifndef KDAP_VERSION
#define KDAP_VERSION "0.0.0"
#endif

struct app {
    uv_loop_t *loop;
    dap_session *session;
    uv_handle_type in_type;
    uv_handle_type out_type;
    union {
        uv_pipe_t pipe;
        uv_tty_t tty;
    } in, out;
    uv_fs_t fsreq;           /* stdin as a plain file */
    char fsbuf[65536];
    uv_signal_t sigterm;
    uv_signal_t sigint;
    int writes;              /* uv_write requests in flight */
    size_t queued;           /* their bytes, not yet taken by the editor */
    int finishing;           /* session finished: exit once flushed */
    int exit_code;
    int signals;
};

static struct app app;

static void version(void)
{
    printf("kdap %s\n", KDAP_VERSION);
    cmd_print_versions(stdout);
}

/* ---- exit -------------------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_all(void)
{
    dap_session_free(app.session);
    app.session = NULL;
    if (app.in_type == UV_NAMED_PIPE || app.in_type == UV_TTY) {
        if (!uv_is_closing((uv_handle_t *)&app.in))
            uv_close((uv_handle_t *)&app.in, close_cb);
    }
    if (app.out_type == UV_NAMED_PIPE || app.out_type == UV_TTY) {
        if (!uv_is_closing((uv_handle_t *)&app.out))
            uv_close((uv_handle_t *)&app.out, close_cb);
    }
    if (!uv_is_closing((uv_handle_t *)&app.sigterm))
        uv_close((uv_handle_t *)&app.sigterm, close_cb);
    if (!uv_is_closing((uv_handle_t *)&app.sigint))
        uv_close((uv_handle_t *)&app.sigint, close_cb);
}

static void maybe_exit(void)
{
    if (app.finishing && app.writes == 0)
        close_all();
}

static void on_finished(void *data, int status)
{
    (void)data;
    DAP_LOGI("session finished (%s)", dap_strerror(status));
    app.finishing = 1;
    app.exit_code = status < 0 ? 1 : 0;
    maybe_exit();
}

/* ---- stdout ------------------------------------------------------------ */

struct write_req {
    uv_write_t req;
    size_t len;
    char data[];
};

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;

    if (status < 0)
        DAP_LOGE("writing to the editor failed: %s", uv_strerror(status));
    app.queued -= w->len;
    free(w);
    app.writes--;
    if (app.session != NULL)
        dap_session_drained(app.session);
    maybe_exit();
}

static size_t pending_out(void *data)
{
    (void)data;
    return app.queued;
}

static void write_out(void *data, const char *buf, size_t len)
{
    struct write_req *w;
    uv_buf_t b;
    int rc;

    (void)data;
    if (app.out_type != UV_NAMED_PIPE && app.out_type != UV_TTY) {
        /* A plain file or /dev/null: blocking writes are fine there. */
        while (len > 0) {
            ssize_t n = write(STDOUT_FILENO, buf, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return;
            buf += n;
            len -= (size_t)n;
        }
        return;
    }
    /* Most messages fit in the pipe at once: write them directly and only
     * queue (with a copy) what the pipe did not take. */
    if (app.writes == 0) {
        b = uv_buf_init((char *)buf, (unsigned)len);
        rc = uv_try_write((uv_stream_t *)&app.out, &b, 1);
        if (rc > 0) {
            buf += rc;
            len -= (size_t)rc;
        }
        if (len == 0)
            return;
    }
    w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        DAP_LOGE("out of memory writing to the editor");
        return;
    }
    memcpy(w->data, buf, len);
    w->len = len;
    b = uv_buf_init(w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&app.out, &b, 1, write_cb);
    if (rc < 0) {
        DAP_LOGE("writing to the editor failed: %s", uv_strerror(rc));
        free(w);
        return;
    }
    app.writes++;
    app.queued += len;
}

/* ---- stdin ------------------------------------------------------------- */

static void input_ended(const char *why)
{
    if (app.session != NULL)
        dap_session_shutdown(app.session, why);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];

    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0 && app.session != NULL) {
        dap_session_input(app.session, buf->base, (size_t)n);
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        input_ended(n == UV_EOF ? "the editor closed stdin"
                                : "reading stdin failed");
    }
}

static void fs_read_cb(uv_fs_t *req)
{
    ssize_t n = req->result;

    uv_fs_req_cleanup(req);
    if (n > 0 && app.session != NULL) {
        uv_buf_t b = uv_buf_init(app.fsbuf, sizeof(app.fsbuf));
        dap_session_input(app.session, app.fsbuf, (size_t)n);
        if (app.session != NULL && !app.finishing &&
            uv_fs_read(app.loop, &app.fsreq, STDIN_FILENO, &b, 1, -1,
                       fs_read_cb) == 0)
            return;
    }
    input_ended("end of input file");
}

static int open_stdio(void)
{
    int rc;

    app.in_type = uv_guess_handle(STDIN_FILENO);
    app.out_type = uv_guess_handle(STDOUT_FILENO);
    if (app.in_type == UV_TTY) {
        rc = uv_tty_init(app.loop, &app.in.tty, STDIN_FILENO, 1);
    } else if (app.in_type == UV_NAMED_PIPE || app.in_type == UV_TCP) {
        app.in_type = UV_NAMED_PIPE;
        rc = uv_pipe_init(app.loop, &app.in.pipe, 0);
        if (rc == 0)
            rc = uv_pipe_open(&app.in.pipe, STDIN_FILENO);
    } else {
        uv_buf_t b = uv_buf_init(app.fsbuf, sizeof(app.fsbuf));
        app.in_type = UV_FILE;
        rc = uv_fs_read(app.loop, &app.fsreq, STDIN_FILENO, &b, 1, -1,
                        fs_read_cb);
    }
    if (rc < 0) {
        DAP_LOGE("cannot use stdin: %s", uv_strerror(rc));
        return rc;
    }
    if (app.in_type != UV_FILE) {
        rc = uv_read_start((uv_stream_t *)&app.in, alloc_cb, read_cb);
        if (rc < 0)
            return rc;
    }
    if (app.out_type == UV_TTY) {
        rc = uv_tty_init(app.loop, &app.out.tty, STDOUT_FILENO, 0);
    } else if (app.out_type == UV_NAMED_PIPE || app.out_type == UV_TCP) {
        app.out_type = UV_NAMED_PIPE;
        rc = uv_pipe_init(app.loop, &app.out.pipe, 0);
        if (rc == 0)
            rc = uv_pipe_open(&app.out.pipe, STDOUT_FILENO);
    } else {
        app.out_type = UV_FILE;
        rc = 0;
    }
    if (rc < 0)
        DAP_LOGE("cannot use stdout: %s", uv_strerror(rc));
    return rc;
}

/* ---- signals ----------------------------------------------------------- */

static void signal_cb(uv_signal_t *h, int signum)
{
    (void)h;
    if (++app.signals > 1) {
        DAP_LOGW("second signal %d: exiting without detaching", signum);
        _exit(1);
    }
    input_ended(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

int main(int argc, char **argv)
{
    const char *log_path = getenv("KDAP_LOG");
    const char *level_s = getenv("KDAP_LOG_LEVEL");
    enum dap_log_level level = DAP_LOG_WARN;
    struct dap_session_callbacks cb = {
        .write_fn = write_out,
        .finished_fn = on_finished,
        .data = &app,
        .pending_fn = pending_out,
    };
    int rc;

    /* Whatever the editor (or shell) let kdap inherit is not passed on to
     * the plugins and debuggers kdap starts. */
    (void)dap_fds_cloexec(STDERR_FILENO + 1);
    /* kdap doctor / port-forward / exec / kube-request / restore / deploy
     * (cmd/kube.c). */
    if (cmd_kube_is_command(argc, argv))
        return cmd_kube_main(argc, argv);
    /* kdap image debugger / push (cmd/image.c). */
    if (argc > 1 && strcmp(argv[1], "image") == 0)
        return cmd_image_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            version();
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            return cmd_help_write(stdout, CMD_HELP_TEXT) == 0 ? 0 : 1;
        } else if (strcmp(argv[i], "--man") == 0) {
            return cmd_help_write(stdout, CMD_HELP_MAN) == 0 ? 0 : 1;
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_path = argv[++i];
        } else if (strncmp(argv[i], "--log=", 6) == 0) {
            log_path = argv[i] + 6;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            level_s = argv[++i];
        } else if (strncmp(argv[i], "--log-level=", 12) == 0) {
            level_s = argv[i] + 12;
        } else {
            fprintf(stderr, "kdap: unknown argument '%s' (kdap --help "
                            "lists the options)\n", argv[i]);
            return 2;
        }
    }
    if (level_s != NULL && dap_log_level_parse(level_s, &level) < 0) {
        fprintf(stderr,
                "kdap: unknown log level '%s': use error, warn, info or "
                "debug\n",
                level_s);
        return 2;
    }
    rc = dap_log_open(log_path, level);
    if (rc < 0)
        fprintf(stderr, "kdap: cannot open log %s: %s; logging to stderr\n",
                log_path, strerror(-rc));

    signal(SIGPIPE, SIG_IGN);
    app.loop = uv_default_loop();
    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_start(&app.sigterm, signal_cb, SIGTERM);
    uv_signal_start(&app.sigint, signal_cb, SIGINT);
    /* Signals must not keep kdap alive on their own. */
    uv_unref((uv_handle_t *)&app.sigterm);
    uv_unref((uv_handle_t *)&app.sigint);

    if (dap_session_new(app.loop, &cb, &app.session) < 0) {
        DAP_LOGE("out of memory");
        return 1;
    }
    DAP_LOGI("kdap %s started (pid %d)", KDAP_VERSION, (int)getpid());
    if (open_stdio() < 0) {
        close_all();
        uv_run(app.loop, UV_RUN_DEFAULT);
        return 1;
    }
    uv_run(app.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(app.loop) != 0)
        DAP_LOGW("handles still open at exit");
    DAP_LOGI("exit %d", app.exit_code);
    dap_log_close();
    return app.exit_code;
}
