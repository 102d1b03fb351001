"""Common base of the editor-client tests (test_vscode_client.py, test_emacs_client.py):
a real editor's DAP client drives kdap over stdio against go-hello, first under a local
headless delve, then in the local cluster (tests/cluster/, private --dir under build/).

A subclass implements `run_editor(spec)`: it starts the editor's client with the session
described by `spec` (kdap, log, attach arguments, breakpoint, HTTP request, expected
variable) and returns the parsed JSON lines the client printed.  Every process is started in
its own process group (ProcessGroup) and killed at cleanup, also on timeout; the cluster is
stopped with tests/cluster/down in tearDown.
"""

import json
import os
import re
import subprocess
import threading
import time
import unittest

import clusterdbg
from pydbg import PY_CALL, PY_SRC, PyService
from godbg import (APP_SRC, BP_LINE, BUILD, REPO, GoService, ProcessGroup, kdap_missing, kdap_path,
                   log_file)

CASE_TIMEOUT = float(os.environ.get("KDAP_EDITOR_TEST_TIMEOUT", "150"))
CLIENT_TIMEOUT = float(os.environ.get("KDAP_EDITOR_CLIENT_TIMEOUT", "75"))
STEP_TIMEOUT = int(os.environ.get("KDAP_EDITOR_STEP_TIMEOUT", "20"))


class EditorClientCase(unittest.TestCase):
    editor = "editor"          # subclass: "vscode", "emacs"; names logs and the cluster dir

    # -- fixtures ---------------------------------------------------------------
    def setUp(self):
        self.group = ProcessGroup()
        self.addCleanup(self.group.cleanup)
        self.timed_out = False
        self._watchdog = threading.Timer(CASE_TIMEOUT, self._on_timeout)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.addCleanup(self._watchdog.cancel)
        if kdap_missing():
            self.fail(kdap_missing())

    def _on_timeout(self):
        self.timed_out = True
        self.group.cleanup()

    def tag(self):
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.id().split(".", 1)[-1])

    def spec(self, attach, http_port, http_path, source=APP_SRC, line=BP_LINE,
             hover="r.URL.Path"):
        return {
            "kdap": kdap_path(),
            "log": log_file("kdap-%s.log" % self.tag()),
            "attach": attach,
            "source": source,
            "line": line,
            "hoverExpr": hover,
            "httpPort": http_port,
            "httpPath": http_path,
            "expectVar": {"name": "msg", "contains": http_path},
            "timeoutMs": STEP_TIMEOUT * 1000,
        }

    # -- running the editor's client ----------------------------------------------
    def run_client(self, argv, env=None, timeout=CLIENT_TIMEOUT, cwd=None):
        """Run argv in its own process group; returns the JSON lines it printed. The
        client's stderr goes to build/e2e-logs/<editor>-<test>.stderr."""
        err_path = log_file("%s.stderr" % self.tag())
        err = open(err_path, "wb")
        self.addCleanup(err.close)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             start_new_session=True, env=env, cwd=cwd)
        self.group.add(p)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            ProcessGroup.stop(p)
            out, _ = p.communicate()
            self.fail("%s client still running after %.0fs; killed. Output so far:\n%s\n"
                      "stderr: %s" % (self.editor, timeout, out.decode(errors="replace"),
                                      self._tail(err_path)))
        lines = []
        for raw in out.decode(errors="replace").splitlines():
            raw = raw.strip()
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    pass
        final = lines[-1] if lines else {}
        if final.get("ok") is not True or p.returncode != 0:
            self.fail("%s client failed (rc %s): %s\nsteps: %s\nstderr (%s): %s\nkdap log: %s"
                      % (self.editor, p.returncode, final.get("error", "no result line"),
                         json.dumps([l.get("step") for l in lines if "step" in l]),
                         err_path, self._tail(err_path), self._tail(self.last_spec["log"])))
        return {l["step"]: l for l in lines if "step" in l}

    @staticmethod
    def _tail(path, n=3000):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(none)"

    def run_editor(self, spec):
        raise NotImplementedError

    def session(self, spec):
        self.last_spec = spec
        try:
            os.unlink(spec["log"])
        except OSError:
            pass
        steps = self.run_editor(spec)
        if self.timed_out:
            self.fail("test exceeded %.0fs; every process was killed" % CASE_TIMEOUT)
        return steps

    # -- the two setups ---------------------------------------------------------------
    def local_setup(self):
        """go-hello + a headless delve on 127.0.0.1 (tests/e2e/godbg.py)."""
        svc = GoService(self.group, "%s-local" % self.editor)
        return svc, {"name": "go-hello", "runtime": "go", "connect": svc.connect}

    def cluster_setup(self, mode=None):
        """go-hello in a private local cluster, debuggable as cluster_attach_args() makes it
        (mode "tunnel": the test adds delve and a tunnel; "target": kdap does it; default
        $KDAP_E2E_CLUSTER_ATTACH or clusterdbg.DEFAULT_MODE). The cluster is stopped
        (tests/cluster/down) in cleanup, also on failure."""
        why = clusterdbg.cluster_available()
        if why:
            self.skipTest(why)
        cl = clusterdbg.LocalCluster(os.path.join(BUILD, "e2e-cluster-%s" % self.editor))
        self.addCleanup(cl.down)
        t0 = time.monotonic()
        cl.up()
        app = cl.deploy_go_hello()
        attach = clusterdbg.cluster_attach_args(cl, app, mode)
        self.setup_seconds = time.monotonic() - t0
        return cl, app, attach

    def check_cluster_after(self, cl, app):
        clusterdbg.check_cluster_after_detach(cl, app)


class EditorScenarios:
    """The sessions every editor runs, mixed into an EditorClientCase subclass that
    defines NAME ("emacs", "vscode"), run_editor() and check(steps, spec): the same
    user story locally, through the cluster with a tunnel the test opens, and with
    kdap's own "target"."""

    def test_local(self):
        svc, attach = self.local_setup()
        spec = self.spec(attach, svc.app_port, "/from-%s-local" % self.NAME)
        steps = self.session(spec)
        self.check(steps, spec)
        self.assertTrue(svc.answers(5), "go-hello halted after the session")

    def test_local_python(self):
        """py-hello under debugpy --listen; the breakpoint where msg names the path."""
        svc = PyService(self.group, "%s-py" % self.NAME)
        attach = {"name": "py-hello", "runtime": "python", "connect": svc.connect}
        spec = self.spec(attach, svc.app_port, "/from-%s-python" % self.NAME,
                         source=PY_SRC, line=PY_CALL, hover="path")
        steps = self.session(spec)
        self.check(steps, spec)
        self.assertTrue(svc.answers(5), "py-hello halted after the session")

    def cluster_session(self, mode):
        cl, app, attach = self.cluster_setup(mode)
        spec = self.spec(attach, app.http_port, "/from-%s-cluster-%s" % (self.NAME, mode))
        steps = self.session(spec)
        self.check(steps, spec)
        self.check_cluster_after(cl, app)

    def test_cluster_tunnel(self):
        """delve in an ephemeral container and a port-forward tunnel set up by the test;
        the editor attaches with "connect"."""
        self.cluster_session("tunnel")

    def test_cluster_target(self):
        """kdap does it all: the editor attaches with "target": "deployment/go-hello"."""
        self.cluster_session("target")


__all__ = ["EditorClientCase", "EditorScenarios", "APP_SRC", "BP_LINE", "BUILD", "REPO", "STEP_TIMEOUT"]
