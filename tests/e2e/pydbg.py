"""The Python demo service (tests/apps/py-hello) under Debian's debugpy, for kdap's
end-to-end tests and the Python benchmark.

`python3 -m debugpy --listen 127.0.0.1:PORT app.py 0`: debugpy listens before the
program runs, so once the program says where it serves HTTP, debugpy's port is
ready.  Never probe that port: `--listen` serves its first connection only.
Every process belongs to a godbg.ProcessGroup and is killed at cleanup.
"""

import os
import re
import time

from godbg import HOST, REPO, HttpApp, free_port, log_file
from nodedbg import _wait_re, marker_line

PY = "/usr/bin/python3"  # Debian's, which python3-debugpy is for
PY_DIR = os.path.join(REPO, "tests", "apps", "py-hello")
PY_SRC = os.path.join(PY_DIR, "app.py")
PY_HANDLE = marker_line(PY_SRC, "PY_BP_HANDLE")
PY_CALL = marker_line(PY_SRC, "PY_BP_CALL")
PY_RETURN = marker_line(PY_SRC, "PY_BP_RETURN")
PY_DECORATE = marker_line(PY_SRC, "PY_BP_DECORATE")
PY_BOOM = marker_line(PY_SRC, "PY_BP_BOOM")

_APP_RE = re.compile(r"py-hello listening on 127\.0\.0\.1:(\d+)")
# debugpy's own warning about frozen stdlib modules is noise here.
PY_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONUNBUFFERED": "1"}


def listening(port):
    """Whether something listens on 127.0.0.1:PORT, read from /proc/net/tcp: a
    connection would use up a debugpy that serves one client."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if local.endswith(want) and state == "0A":
                return True
    return False


class PyService(HttpApp):
    """py-hello under `python3 -m debugpy --listen` (debug=True), or plain."""

    def __init__(self, group, name="py", debug=True):
        self.group = group
        self.name = name
        self.log = log_file("py-%s-%d-%d.log" % (name, os.getpid(), time.monotonic_ns()))
        env = dict(os.environ)
        env.update(PY_ENV)
        argv = [PY, "-X", "frozen_modules=off"]
        self.debug_port = None
        if debug:
            self.debug_port = free_port()
            argv += ["-m", "debugpy", "--listen", "%s:%d" % (HOST, self.debug_port)]
        self.proc = group.start(argv + [PY_SRC, "0"], log=self.log, env=env)
        self.app_port = _wait_re(self.log, _APP_RE, 20, self.proc)

    @property
    def connect(self):
        return "%s:%d" % (HOST, self.debug_port)

    def alive(self):
        return self.proc.poll() is None


__all__ = ["PyService", "PY", "PY_SRC", "PY_DIR", "PY_HANDLE", "PY_CALL", "PY_RETURN",
           "PY_DECORATE", "PY_BOOM", "listening"]
