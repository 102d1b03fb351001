"""Helpers to run the Node demo services (tests/apps/node-js-demo, node-ts-demo) with
their inspector open, for kdap's end-to-end tests and the Node benchmark.

Two ways to open the inspector, as kdap meets them in practice:
* `node --inspect=127.0.0.1:0 app.js`: the port is read from the
  "Debugger listening on ws://127.0.0.1:PORT/<uuid>" line;
* a plain `node --inspect-port=127.0.0.1:<free port> app.js`, activated later
  with SIGUSR1 (what kdap does in a pod).
Every process belongs to a godbg.ProcessGroup and is killed at cleanup.
"""

import os
import re
import signal
import subprocess
import time

from godbg import BUILD, HOST, REPO, HttpApp, free_port, log_file, source_line, wait_file_contains

JS_DIR = os.path.join(REPO, "tests", "apps", "node-js-demo")
JS_SRC = os.path.join(JS_DIR, "app.js")
TS_DIR = os.path.join(REPO, "tests", "apps", "node-ts-demo")
TS_SRC = os.path.join(TS_DIR, "src", "app.ts")
TS_OUT = os.path.join(BUILD, "node-ts-demo")
TS_JS = os.path.join(TS_OUT, "app.js")
TSC = os.path.join(REPO, "tests", "node_modules", ".bin", "tsc")

_LISTEN_RE = re.compile(r"Debugger listening on ws://127\.0\.0\.1:(\d+)/")
_APP_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


marker_line = source_line    # markers: comments in the demo sources


def build_ts():
    """Compile node-ts-demo with tsc (source maps on) into build/node-ts-demo; cached."""
    src_m = os.path.getmtime(TS_SRC)
    if os.path.exists(TS_JS) and os.path.getmtime(TS_JS) >= src_m and \
            os.path.exists(TS_JS + ".map"):
        return TS_JS
    if not os.access(TSC, os.X_OK):
        raise RuntimeError("tsc not found at %s (run scripts/setup)" % TSC)
    r = subprocess.run([TSC, "-p", TS_DIR, "--outDir", TS_OUT], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(TS_JS):
        raise RuntimeError("tsc failed:\n" + r.stdout + r.stderr)
    return TS_JS


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _wait_re(path, rx, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = rx.search(_read(path))
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("%s not seen in %s (rc %s): %s"
                       % (rx.pattern, path, proc.poll(), _read(path)[-800:]))


class NodeService(HttpApp):
    """A demo app under node with its inspector open.  app: "js" or "ts";
    mode: "inspect" (--inspect=127.0.0.1:0) or "sigusr1"."""

    def __init__(self, group, app="js", mode="inspect", name="node"):
        self.group = group
        self.name = name
        script = JS_SRC if app == "js" else build_ts()
        self.src = JS_SRC if app == "js" else TS_SRC
        tag = "%s-%s-%d" % (name, app, os.getpid())
        self.log = log_file("node-%s-%s.log" % (tag, time.monotonic_ns()))
        if mode in ("inspect", "brk"):
            flag = "--inspect" if mode == "inspect" else "--inspect-brk"
            argv = ["node", "%s=%s:0" % (flag, HOST), script, "0"]
        else:
            self.inspect_port = free_port()
            argv = ["node", "--inspect-port=%s:%d" % (HOST, self.inspect_port), script, "0"]
        self.proc = group.start(argv, log=self.log)
        self.app_port = None
        if mode == "brk":
            # nothing runs until a debugger says so: the app port comes later
            self.inspect_port = _wait_re(self.log, _LISTEN_RE, 10, self.proc)
            return
        self.app_port = _wait_re(self.log, _APP_RE, 15, self.proc)
        if mode == "sigusr1":
            os.kill(self.proc.pid, signal.SIGUSR1)
        self.inspect_port = _wait_re(self.log, _LISTEN_RE, 10, self.proc)

    @property
    def connect(self):
        return "%s:%d" % (HOST, self.inspect_port)

    def wait_app(self, timeout=10):
        """--inspect-brk: the app port, once the program runs."""
        self.app_port = _wait_re(self.log, _APP_RE, timeout, self.proc)
        return self.app_port

    def alive(self):
        return self.proc.poll() is None


__all__ = ["NodeService", "JS_SRC", "TS_SRC", "TS_JS", "marker_line", "build_ts",
           "wait_file_contains"]
