"""debugpy injected into a running Python program by kdap-pyinject (no gdb), then
kdap attaches with `"runtime": "python", "connect"`.

tests/apps/py-hello runs plainly (no debugpy); kdap-pyinject (built next to kdap)
starts debugpy's server inside it by PID.  A breakpoint is hit by a request, the
session disconnects, the program still answers and nothing listens on debugpy's
port afterwards: the injected server ends itself after its one session.
Run: /usr/bin/python3 -m unittest -v test_python_inject   (from tests/e2e, KDAP_BIN set)
"""

import os
import subprocess
import time
import unittest

from godbg import free_port, kdap_path
from pydbg import PY_HANDLE, PY_SRC, PyService, listening
from test_python import PyCase

DIST = "/usr/lib/python3/dist-packages"  # where Debian's python3-debugpy lives


def injector():
    return os.path.join(os.path.dirname(kdap_path()), "kdap-pyinject")


def inject(pid, port, wait_s=60):
    return subprocess.run([injector(), str(pid), str(port), DIST, str(wait_s)],
                          capture_output=True, text=True, timeout=60)


def wait_not_listening(port, timeout):
    end = time.monotonic() + timeout
    while listening(port):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


class TestPythonInject(PyCase):

    def plain(self):
        svc = PyService(self.group, "plain", debug=False)
        svc.debug_port = free_port()
        return svc

    def test_inject_attach_breakpoint_disconnect_closes_the_server(self):
        svc = self.plain()
        self.assertFalse(listening(svc.debug_port))
        t0 = time.monotonic()
        r = inject(svc.proc.pid, svc.debug_port)
        inject_s = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Python 3.", r.stdout)
        self.assertTrue(listening(svc.debug_port), "debugpy does not listen after injection")
        self.assertTrue(svc.answers(2), "the program does not answer after injection")
        print("\ninjection took %.0f ms" % (inject_s * 1000))

        c, bps = self.py_session(svc, [{"line": PY_HANDLE}])
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        get, ev = self.stop(c, svc, "/inj")
        tid = ev["body"]["threadId"]
        _, _, local = self.locals_at(c, tid)
        self.assertEqual({v["name"]: v["value"] for v in local}.get("path"), "'/inj'", local)
        names = [t["name"] for t in c.request("threads")["threads"]]
        self.assertFalse([n for n in names if "kdap" in n], "the watcher thread shows: %s" % names)
        self.cont(c, tid)
        self.assertIn("hello /inj", get.wait(10))
        self.disconnect_and_exit(c, [svc])

        self.assertTrue(svc.alive(), "the program ended with the session")
        self.assertTrue(wait_not_listening(svc.debug_port, 10),
                        "debugpy still listens on %d after the session" % svc.debug_port)
        self.assertIn("hello /after", svc.get("/after", 5))
        self.assertTrue(svc.alive())

    def test_no_client_in_time_closes_the_server(self):
        svc = self.plain()
        r = inject(svc.proc.pid, svc.debug_port, wait_s=1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_not_listening(svc.debug_port, 10),
                        "debugpy still listens with no client after its wait")
        self.assertTrue(svc.answers(2))

    def test_not_a_python_program_is_refused(self):
        p = self.group.start(["sleep", "60"])
        r = inject(p.pid, free_port())
        self.assertEqual(r.returncode, 1)
        self.assertIn("no Python interpreter", r.stderr)
        self.assertIsNone(p.poll(), "the refused program was hurt")

    def test_bad_arguments_named(self):
        r = subprocess.run([injector(), "1", "2", "/x'y", "5"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("without quotes", r.stderr)


if __name__ == "__main__":
    unittest.main()
