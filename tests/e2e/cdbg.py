"""Helpers for the gdb backend's tests and benchmark: build tests/apps/c-demo and cpp-demo
with gcc/g++ (-g -O0) into build/, start one as its own session leader (setsid, as a
container's main process is) and attach a real gdbserver to it:
`gdbserver --attach 127.0.0.1:PORT PID`.  Everything is registered in a ProcessGroup."""

import os
import subprocess
import threading
import time

from godbg import BUILD, HOST, REPO, ProcessGroup, free_port, log_file, source_line, wait_file_contains

C_SRC = os.path.join(REPO, "tests", "apps", "c-demo", "main.c")
CPP_SRC = os.path.join(REPO, "tests", "apps", "cpp-demo", "main.cpp")
FAMILY_SRC = os.path.join(REPO, "tests", "apps", "c-family", "main.c")
C_BIN = os.path.join(BUILD, "c-demo")
CPP_BIN = os.path.join(BUILD, "cpp-demo")
FAMILY_BIN = os.path.join(BUILD, "c-family")
CDT_ADAPTER = os.path.join(REPO, "tests", "node_modules", "cdt-gdb-adapter", "dist",
                           "debugTargetAdapter.js")

_lock = threading.Lock()


def line_of(src, tag):
    """The line number carrying the marker comment LINE:<tag>."""
    return source_line(src, "LINE:" + tag)


def build(src, out, cxx=False):
    with _lock:
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            return out
        os.makedirs(BUILD, exist_ok=True)
        cc = ["g++"] if cxx else ["gcc", "-pthread"]
        r = subprocess.run(cc + ["-g", "-O0", "-o", out + ".tmp", src], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("build of %s failed:\n%s" % (src, r.stderr))
        os.replace(out + ".tmp", out)
        return out


def build_c():
    return build(C_SRC, C_BIN)


def build_cpp():
    return build(CPP_SRC, CPP_BIN, cxx=True)


def build_family():
    return build(FAMILY_SRC, FAMILY_BIN)


def tracer_pid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return None


def proc_state(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("State:"):
                return line.split()[1]
    return None


class GdbTarget:
    """A demo program under gdbserver --attach on a free port."""

    def __init__(self, group, binary, name="c", args=()):
        self.group = group
        self.binary = binary
        self.port = free_port()
        tag = "%s-%d" % (name, self.port)
        self.app_log = log_file("%s-demo-%s.log" % (name, tag))
        self.app = group.start([binary] + list(args), log=self.app_log)  # setsid: pgid == pid
        wait_file_contains(self.app_log, "ready pid", 10, self.app)
        self.gs_log = log_file("gdbserver-%s.log" % tag)
        self.gs = None
        self.start_gdbserver()

    def start_gdbserver(self):
        self.gs = self.group.start(["gdbserver", "--attach", "%s:%d" % (HOST, self.port),
                                    str(self.app.pid)], log=self.gs_log)
        wait_file_contains(self.gs_log, "Listening on port", 10, self.gs)

    @property
    def connect(self):
        return "%s:%d" % (HOST, self.port)

    @property
    def pid(self):
        return self.app.pid

    def ticks(self):
        with open(self.app_log, encoding="utf-8", errors="replace") as f:
            return f.read().count("tick ")

    def runs(self, within=2.0):
        """True if the program prints new ticks within `within` seconds."""
        before = self.ticks()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.ticks() > before:
                return True
            time.sleep(0.05)
        return False

    def service_args(self, **extra):
        args = {"runtime": "gdb", "connect": self.connect, "program": self.binary,
                "sysroot": "/"}
        args.update(extra)
        return args

    def cdt_attach_args(self):
        return {"program": self.binary, "gdb": "gdb",
                "target": {"type": "remote", "host": HOST, "port": str(self.port)},
                "initCommands": ["set sysroot /"]}
