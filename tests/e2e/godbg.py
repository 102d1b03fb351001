"""Helpers to run the real Go debuggee (tests/apps/go-hello) under a real headless delve,
and kdap itself, for the end-to-end tests and the benchmark.

Every process started here is registered in a ProcessGroup and is killed by pid
(its own session / process group, created with setsid) at cleanup, also on failure.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("KDAP_REPO") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(REPO, "build")
APP_DIR = os.path.join(REPO, "tests", "apps", "go-hello")
APP_SRC = os.path.join(APP_DIR, "main.go")
APP_BIN = os.path.join(BUILD, "go-hello")
LOG_DIR = os.path.join(BUILD, "e2e-logs")
HOST = "127.0.0.1"


def source_line(path, marker):
    """The 1-based line of `path` that holds `marker` (a comment such as LINE:bp, or text
    of the line), not followed by a word character: tests find breakpoint lines by the
    markers in the sources, never by number."""
    pat = re.compile(re.escape(marker) + r"(?!\w)")
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if pat.search(line):
                return i
    raise AssertionError("marker %r not in %s" % (marker, path))


BP_LINE = source_line(APP_SRC, "LINE:bp")      # fmt.Fprintln(w, msg) in handle()


def kdap_path():
    return os.environ.get("KDAP_BIN") or os.path.join(BUILD, "kdap")


def kdap_missing():
    """None when kdap is built, else the message that says how to build it."""
    path = kdap_path()
    if os.access(path, os.X_OK):
        return None
    return ("kdap not found at %s: build it with `cmake -S . -B build && cmake --build build` "
            "(scripts/setup installs what the build needs), or set KDAP_BIN" % path)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log_file(name):
    os.makedirs(LOG_DIR, exist_ok=True)
    return os.path.join(LOG_DIR, name)


_build_lock = threading.Lock()
_PDEATH = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def build_go_hello():
    """Build go-hello without optimisations into build/go-hello (skipped when up to date)."""
    with _build_lock:
        srcs = [os.path.join(APP_DIR, f) for f in os.listdir(APP_DIR)]
        if os.path.exists(APP_BIN) and os.path.getmtime(APP_BIN) >= max(map(os.path.getmtime, srcs)):
            return APP_BIN
        os.makedirs(BUILD, exist_ok=True)
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOPROXY="off",
                   GOCACHE=os.path.join(BUILD, "gocache"))
        env.setdefault("HOME", BUILD)
        tmp = APP_BIN + ".tmp"
        r = subprocess.run(["go", "build", "-gcflags=all=-N -l", "-o", tmp, "."],
                           cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("go build failed:\n" + r.stdout + r.stderr)
        os.replace(tmp, APP_BIN)
        return APP_BIN


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process %d exited (rc %s) before listening on %d"
                               % (proc.pid, proc.returncode, port))
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.03)
    raise RuntimeError("nothing listens on %s:%d after %.0fs" % (HOST, port, timeout))


def wait_file_contains(path, text, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if text in f.read():
                    return True
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.03)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            content = f.read()
    except FileNotFoundError:
        content = ""
    raise RuntimeError("%r not seen in %s within %.0fs (process rc %s): %s"
                       % (text, path, timeout, proc.poll() if proc else None, content[-800:]))


class ProcessGroup:
    """Owns started processes; cleanup() kills each one's process group by pid."""

    def __init__(self):
        self.procs = []
        self.files = []

    def start(self, argv, log=None, **kw):
        out = open(log, "wb") if log else subprocess.DEVNULL   # truncate: readiness is read from it
        if log:
            self.files.append(out)
        # setsid (own session and process group, killed as a group at cleanup), and
        # setpriv --pdeathsig KILL so nothing outlives a test runner that is itself killed
        p = subprocess.Popen(_PDEATH + list(argv), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def add(self, proc):
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(p, sig=signal.SIGKILL, grace=0.0):
        if p.poll() is not None:
            return
        if grace > 0:
            try:
                os.kill(p.pid, signal.SIGINT)
                p.wait(grace)
                return
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(p.pid, sig)        # start_new_session: pgid == pid
        except (ProcessLookupError, PermissionError):
            try:
                p.kill()
            except ProcessLookupError:
                pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def cleanup(self):
        # debuggers first (they detach from their targets), then everything else
        for p in reversed(self.procs):
            self.stop(p)
        for f in self.files:
            try:
                f.close()
            except OSError:
                pass
        self.procs, self.files = [], []


class HttpApp:
    """GETs to a test app on HOST:self.app_port: the one HTTP helper of every debuggee of the
    tests, here or in the cluster through a tunnel or port-forward (each answers with the
    path it was asked: "hello PATH #N").  A subclass may change the defaults below."""

    get_timeout = 5.0
    answer_timeout = 2.0
    # a tunnel that opens a WebSocket per connection closes one whose WebSocket failed (a
    # TLS handshake lost under load: the request never left this machine): try again
    get_retries = 0

    def get(self, path, timeout=None):
        """GET path; returns the body text (raises on timeout/error)."""
        for attempt in range(self.get_retries + 1):
            c = http.client.HTTPConnection(HOST, self.app_port, timeout=timeout or self.get_timeout)
            try:
                c.request("GET", path)
                return c.getresponse().read().decode()
            except (http.client.RemoteDisconnected, ConnectionResetError):
                if attempt == self.get_retries:
                    raise
                time.sleep(0.2)
            finally:
                c.close()

    def get_async(self, path, timeout=30.0):
        """GET in a thread (it blocks while the app is stopped). Returns an AsyncGet."""
        return AsyncGet(self, path, timeout)

    def answers(self, timeout=None, path="/alive"):
        """True if the app answers `path` within `timeout` (i.e. is not halted)."""
        try:
            return path in self.get(path, timeout or self.answer_timeout)
        except OSError:
            return False


class GoService(HttpApp):
    """go-hello listening on a free port, with a headless multi-client delve attached."""

    def __init__(self, group, name="svc", with_delve=True):
        self.group = group
        self.name = name
        self.bin = build_go_hello()
        self.app_port = free_port()
        tag = "%s-%d" % (name, self.app_port)
        self.app_log = log_file("go-hello-%s.log" % tag)
        self.app = group.start([self.bin, "%s:%d" % (HOST, self.app_port)], log=self.app_log)
        wait_port(self.app_port, 10, self.app)
        self.dlv = None
        self.dlv_port = None
        if with_delve:
            self.start_delve(tag)

    def start_delve(self, tag=None):
        self.dlv_port = free_port()
        self.dlv_log = log_file("dlv-%s.log" % (tag or self.name))
        env = dict(os.environ)
        env.setdefault("HOME", BUILD)
        env["XDG_CONFIG_HOME"] = os.path.join(BUILD, "dlv-config")
        self.dlv = self.group.start(
            ["dlv", "--headless", "--accept-multiclient", "--api-version=2",
             "--listen=%s:%d" % (HOST, self.dlv_port), "attach", str(self.app.pid)],
            log=self.dlv_log, env=env)
        wait_file_contains(self.dlv_log, "API server listening at", 20, self.dlv)
        return self.dlv_port

    @property
    def connect(self):
        return "%s:%d" % (HOST, self.dlv_port)

    def kill_delve(self):
        ProcessGroup.stop(self.dlv)


class AsyncGet:
    def __init__(self, svc, path, timeout):
        self.result = None
        self.error = None
        self.done = threading.Event()

        def run():
            try:
                self.result = svc.get(path, timeout)
            except Exception as e:  # noqa: BLE001 - reported to the test
                self.error = e
            finally:
                self.done.set()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout=10.0):
        if not self.done.wait(timeout):
            raise AssertionError("HTTP request still pending after %.1fs" % timeout)
        if self.error is not None:
            raise self.error
        return self.result
