"""kdap debugs a C service in the local cluster by name: `"target": "deployment/c-hello",
"runtime": "gdb", "program": <the binary the image holds>`. kdap adds an ephemeral
container running `gdbserver --once --attach 127.0.0.1:PORT PID`, tunnels to it and drives a
local gdb (sysroot `target:`: the libraries come from the pod over the connection).

Covers: breakpoint in handle() hit by an HTTP request through `kdap port-forward`, stack,
variables, continue, disconnect (the service keeps serving, gdbserver exits, the container
ends); kdap killed mid-session (gdbserver --once detaches); nobody ever connecting (the
watchdog ends gdbserver after KUBE_DEBUG_CLIENT_WAIT_S, the process runs on, TracerPid 0);
a missing `program` (an error naming the key, before the pod is touched).

One cluster (tests/cluster/up --dir build/e2e-gdb-cluster) serves the file and is stopped
at the end.  Run: cd tests/e2e && KDAP_BIN=../../build/kdap python3 -m unittest -v test_gdb_cluster
"""
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterdbg import (BUILD, REPO, LocalCluster, cluster_available,  # noqa: E402
                        listening_sockets, process_tree)
from dapclient import DapClient  # noqa: E402
from godbg import HttpApp, kdap_path, log_file, source_line  # noqa: E402
import ocitest  # noqa: E402

APP = "c-hello"
IMAGE = "127.0.0.1:5000/kdap/c-hello:latest"
# tests/cluster/images/c-hello.json builds this file and copies it to /app/c-hello
PROGRAM = os.path.join(BUILD, "apps", "c-hello", "c-hello")
SRC = os.path.join(REPO, "tests", "apps", "c-hello", "main.c")
FAMILY = "c-family"
FAMILY_IMAGE = "127.0.0.1:5000/kdap/c-family:latest"
FAMILY_PROGRAM = os.path.join(BUILD, "apps", "c-family", "c-family")
CLIENT_WAIT_S = 30      # ATTACH_CLIENT_WAIT_S in attach/target.h

CL = None
SKIP = cluster_available()
if SKIP is None and not os.path.exists("/usr/bin/gdb"):
    SKIP = "gdb is not installed"


def line_of(text):
    return source_line(SRC, text)


IMAGE_KEYS = {}


def setUpModule():
    global CL
    if SKIP:
        raise unittest.SkipTest(SKIP)
    CL = LocalCluster(os.path.join(BUILD, "e2e-gdb-cluster"))
    CL.up()
    # kdap's gdbserver image goes to the registry with a Bearer token service; the pods pull
    # it with their pull secret
    IMAGE_KEYS.update(ocitest.use_auth_registry(CL))


def tearDownModule():
    if CL is not None:
        try:
            for app in (APP, FAMILY):
                CL.kubectl("delete", "deployment", app, "--ignore-not-found", "--wait=false",
                           check=False, timeout=30)
        finally:
            CL.down()


class PortForward(HttpApp):
    """`kdap port-forward pod/NAME 0:8080` in the background; .port is the local port."""

    get_timeout = 10.0
    answer_timeout = 5.0

    def __init__(self, pod, remote=8080):
        self.err = open(log_file("gdb-cluster-pf-%s.err" % pod), "wb")
        self.proc = subprocess.Popen([kdap_path(), "port-forward", "--kubeconfig", CL.kubeconfig,
                                      "pod/" + pod, "0:%d" % remote],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = self.proc.stdout.readline() if sel.select(20) else ""
        m = re.match(r"Forwarding from [\d.]+:(\d+) -> %d" % remote, line or "")
        if not m:
            self.stop()
            raise AssertionError("kdap port-forward did not start: %r" % line)
        self.port = self.app_port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc.stdout.close()
        self.err.close()


def deploy(app=APP, image=IMAGE):
    """A Deployment of `app` (once per class); its running pod's name."""
    c = {"name": "app", "image": image}
    if app == APP:
        c.update({"ports": [{"containerPort": 8080}], "env": [{"name": "PORT", "value": "8080"}]})
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": app, "labels": {"app": app}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}},
                                 "spec": {"containers": [c],
                                          "imagePullSecrets": [{"name": ocitest.PULL_SECRET}]}}}}
    subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(obj), text=True, check=True,
                   capture_output=True, env=dict(os.environ, KUBECONFIG=CL.kubeconfig), timeout=60)
    CL.kubectl("rollout", "status", "deployment/" + app, "--timeout=90s", timeout=100)
    pods = json.loads(CL.kubectl("get", "pods", "-l", "app=" + app, "-o", "json"))["items"]
    return next(p["metadata"]["name"] for p in pods
                if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))


def debug_containers(pod):
    """kdap's gdb debug containers of `pod`: name -> state key."""
    p = json.loads(CL.kubectl("get", "pod", pod, "-o", "json"))
    return {s["name"]: next(iter(s["state"])) for s in
            p["status"].get("ephemeralContainerStatuses", []) if s["name"].startswith("kdap-gdb-")}


def wait_terminated(pod, timeout=20):
    deadline = time.monotonic() + timeout
    st = {}
    while time.monotonic() < deadline:
        st = debug_containers(pod)
        if all(v == "terminated" for v in st.values()):
            return st
        time.sleep(0.3)
    raise AssertionError("kdap's gdb debug containers still running in %s: %s" % (pod, st))


def in_app(pod, *command):
    return CL.kubectl("exec", pod, "-c", "app", "--", *command, timeout=20)


def tracer_pid(pod):
    status = in_app(pod, "cat", "/proc/1/status")
    return int(re.search(r"TracerPid:\s*(\d+)", status).group(1))


class GdbInCluster(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pod = deploy()
        cls.web = PortForward(cls.pod)

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()

    def kdap(self):
        err = open(log_file("kdap-gdb-cluster-%s.stderr" % self._testMethodName), "wb")
        self.addCleanup(err.close)
        c = DapClient.spawn([kdap_path(), "--log",
                             log_file("kdap-gdb-cluster-%s.log" % self._testMethodName),
                             "--log-level", "debug"], stderr=err)
        self.addCleanup(c.close)
        return c

    def attach(self, c, line):
        """attach by target with a breakpoint at `line`; returns the breakpoint."""
        c.initialize(supportsProgressReporting=True)
        seq = c.send("attach", {"name": APP, "target": "deployment/" + APP, "runtime": "gdb",
                                "program": PROGRAM, "kubeconfig": CL.kubeconfig, **IMAGE_KEYS})
        deadline = time.monotonic() + 60
        while not c.has_event("initialized"):
            done = [m for m in c.messages if m.get("type") == "response"
                    and m.get("request_seq") == seq]
            self.assertFalse(done, "attach failed: %s" % done)
            self.assertLess(time.monotonic(), deadline, "no initialized event within 60 s")
            time.sleep(0.1)
        bps = c.request("setBreakpoints", {"source": {"path": SRC},
                                           "breakpoints": [{"line": line}]}, timeout=20)
        c.request("configurationDone", timeout=20)
        c.expect_response(seq, 60, success=True)
        return bps["breakpoints"][0]

    def request_in_background(self, path):
        result = {}

        def run():
            try:
                result["body"] = self.web.get(path, 40)
            except OSError as e:
                result["error"] = e
        th = threading.Thread(target=run, daemon=True)
        th.start()
        return th, result

    # -- the user story ---------------------------------------------------------------
    def test_1_attach_break_inspect_disconnect(self):
        self.assertTrue(os.path.exists(PROGRAM), "the c-hello image build left no %s" % PROGRAM)
        line = line_of("if (write(fd, resp")
        c = self.kdap()
        t0 = time.monotonic()
        bp = self.attach(c, line)
        attach_s = time.monotonic() - t0
        self.assertTrue(bp["verified"], bp)
        self.assertEqual(bp["line"], line, bp)
        steps = [e["body"].get("message", "") for e in c.events()
                 if e["event"] in ("progressStart", "progressUpdate")]
        self.assertTrue(any("debug container kdap-gdb-" in s and "SYS_PTRACE" in s for s in steps),
                        steps)
        self.assertTrue(any("tunnel open" in s and "attaching gdb" in s for s in steps), steps)
        st = debug_containers(self.pod)
        self.assertEqual(list(st.values()).count("running"), 1, st)
        # issue 11.1: neither kdap nor its gdb listens on anything another process could
        # use (gdb's private socket took gdb's connection alone and is gone)
        for pid in process_tree(c.proc.pid):
            self.assertEqual(listening_sockets(pid), [], "process %d listens" % pid)

        th, result = self.request_in_background("/from-gdb")
        ev = c.wait_event("stopped", 30)
        self.assertEqual(ev["body"]["reason"], "breakpoint", ev)
        tid = ev["body"]["threadId"]
        threads = c.request("threads")["threads"]
        self.assertGreaterEqual(len(threads), 3, threads)   # main (accept), ticker, worker
        frames = c.request("stackTrace", {"threadId": tid, "levels": 5}, timeout=20)["stackFrames"]
        self.assertEqual([f["name"] for f in frames[:2]], ["handle", "worker"], frames)
        self.assertEqual(frames[0]["source"]["path"], SRC)
        self.assertEqual(frames[0]["line"], line)
        values = {}
        for sc in c.request("scopes", {"frameId": frames[0]["id"]})["scopes"]:
            if sc["name"] == "Registers":
                continue
            for v in c.request("variables", {"variablesReference": sc["variablesReference"]},
                               timeout=20)["variables"]:
                values[v["name"]] = v["value"]
        self.assertIn('"/from-gdb"', values.get("path", ""), values)
        self.assertEqual(values.get("msg"), "[512]", values)     # a char array, expandable
        r = c.request("evaluate", {"expression": "(const char *)msg", "frameId": frames[0]["id"],
                                   "context": "watch"}, timeout=20)
        self.assertIn("hello /from-gdb #", r["result"], r)
        self.assertGreaterEqual(int(values.get("n", "0")), 1, values)
        # the libraries came from the pod (sysroot target:): libc's frames are symbolic
        r = c.request("evaluate", {"expression": "-exec info sharedlibrary", "context": "repl",
                                   "frameId": frames[0]["id"]}, timeout=20)
        libc = [ln for ln in r["result"].splitlines() if "libc.so" in ln]
        self.assertTrue(libc and " Yes" in libc[0], r["result"])
        self.assertIn(frames[-1]["name"], ("clone3", "clone", "start_thread"), frames)
        c.request("continue", {"threadId": tid})
        th.join(20)
        self.assertIn("hello /from-gdb #", result.get("body", ""), result)

        # halting a running PID 1 (gdbserver's kill(-1, SIGINT), relayed by the debug
        # container's shell): pause, and a breakpoint changed while it runs
        c.request("pause", {"threadId": tid})
        ev = c.wait_event("stopped", 10, pred=lambda e: e["body"]["reason"] == "pause")
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        bps = c.request("setBreakpoints", {"source": {"path": SRC}, "breakpoints": []}, timeout=20)
        self.assertEqual(bps["breakpoints"], [])
        self.assertTrue(self.web.answers(10, "/no-breakpoint"))

        c.request("disconnect", {"terminateDebuggee": False}, timeout=20)
        c.wait_exit(15)
        self.assertTrue(self.web.answers(10, "/after-detach"), "c-hello halted after the detach")
        wait_terminated(self.pod)
        self.assertEqual(tracer_pid(self.pod), 0)
        print("gdb attach-to-ready %.2fs" % attach_s, file=sys.stderr)

    def test_2_kdap_killed_mid_session(self):
        """kdap dies while the service is stopped at a breakpoint: the tunnel goes, gdbserver
        (--once) detaches, removing its breakpoints, and the request is answered."""
        c = self.kdap()
        self.attach(c, line_of("if (write(fd, resp"))
        th, result = self.request_in_background("/orphaned")
        c.wait_event("stopped", 30)
        c.proc.kill()
        c.proc.wait(5)
        th.join(30)
        self.assertIn("hello /orphaned #", result.get("body", ""), result)
        self.assertTrue(self.web.answers(10, "/after-kill"))
        wait_terminated(self.pod)
        self.assertEqual(tracer_pid(self.pod), 0)

    def test_3_watchdog_when_nobody_connects(self):
        """The debug container kdap makes, added as it is but never connected to by kdap:
        gdbserver holds c-hello stopped, then the watchdog ends it and c-hello runs on.
        Meanwhile another container of the pod (it shares the pod's network) connects to
        the debugger's ports, without the session's secret: it gets no reply from
        gdbserver, and its connections do not count as kdap's for the watchdog."""
        pod = json.loads(CL.kubectl("get", "pod", self.pod, "-o", "json"))
        made = [e for e in pod["spec"].get("ephemeralContainers", [])
                if e["name"].startswith("kdap-gdb-")]
        if not made:
            self.skipTest("needs the debug container of test_1")
        ec = made[-1]
        image = ec["image"]
        name = "kdap-gdb-orphan%04d" % (int(time.time()) % 10000)
        command = list(ec["command"])
        command[-1] = "47999"                  # another port: kdap will not connect to it
        # kubectl 1.31 cannot patch the ephemeralcontainers subresource; `kubectl debug`
        # with --profile=general adds the same container (SYS_PTRACE, targetContainerName)
        CL.kubectl("debug", self.pod, "--image=" + ec["image"], "--target=app",
                   "--profile=general", "-c", name, "--env=KDAP_GATE_SECRET=" + "5e" * 16,
                   "--", *command, timeout=30)
        ec = {"name": name}
        t0 = time.monotonic()
        deadline = t0 + 30
        while "Listening on port" not in CL.kubectl("logs", self.pod, "-c", ec["name"], check=False):
            self.assertLess(time.monotonic(), deadline, "gdbserver did not start")
            time.sleep(0.3)
        self.assertNotEqual(tracer_pid(self.pod), 0)
        # the intruder: a connection to the gate's port that stays open past the watchdog
        # (the old watchdog took any connection for kdap's), one without a secret, one with
        # a wrong one, one to gdbserver's own port
        probe = "printf '+$qSupported#37' | nc -w 3 127.0.0.1 %d; echo \"[$?]\""
        intruder = "intruder%04d" % (int(time.time()) % 10000)
        CL.kubectl("debug", self.pod, "--image=" + image, "-c", intruder, "--",
                   "sh", "-c", "{ sleep %d | nc 127.0.0.1 47999; } & " % (CLIENT_WAIT_S + 20) +
                   "; ".join([probe % 47999,
                              "{ echo wrong; printf '+$qSupported#37'; } | "
                              "nc -w 3 127.0.0.1 47999; echo '[wrong]'",
                              probe % 48000, "echo done"]), timeout=30)
        deadline = time.monotonic() + 40
        said = ""
        while "done" not in said:
            self.assertLess(time.monotonic(), deadline, "the intruder did not finish: " + said)
            time.sleep(0.5)
            said = CL.kubectl("logs", self.pod, "-c", intruder, check=False)
        self.assertNotIn("$", said, "the intruder got a reply from gdbserver")
        self.assertNotIn("PacketSize", said)
        self.assertFalse(self.web.answers(2, "/while-held"), "c-hello answered while held")
        self.assertTrue(self.web.answers(CLIENT_WAIT_S + 15, "/after-watchdog"))
        took = time.monotonic() - t0
        self.assertGreater(took, CLIENT_WAIT_S - 8)
        wait_terminated(self.pod)
        self.assertEqual(tracer_pid(self.pod), 0)
        self.assertIn("no debugger client came",
                      CL.kubectl("logs", self.pod, "-c", ec["name"], check=False))

    # -- errors -----------------------------------------------------------------------
    def test_4_program_missing(self):
        before = debug_containers(self.pod)
        for args, needles in (({}, ['"program"', "debug info"]),
                              ({"program": "/nonexistent/c-hello"},
                               ['"program"', "/nonexistent/c-hello", "No such file"])):
            c = self.kdap()
            c.initialize()
            t0 = time.monotonic()
            r = c.request_error("attach", dict({"target": "deployment/" + APP, "runtime": "gdb",
                                                "kubeconfig": CL.kubeconfig, **IMAGE_KEYS},
                                               **args), timeout=15)
            text = (r.get("body", {}).get("error", {}).get("format") or "") + " " + r["message"]
            for n in needles:
                self.assertIn(n, text)
            self.assertLess(time.monotonic() - t0, 5)
            c.request("disconnect", {})
            c.wait_exit(10)
        self.assertEqual(debug_containers(self.pod), before, "the pod was touched")


class GdbFamilyInCluster(unittest.TestCase):
    """c-family: PID 1 of its container with a child process that records every signal it
    gets.  gdbserver's all-stop interrupt, kill(-PID, SIGINT), is kill(-1, SIGINT) there:
    every process of the container.  Pausing must stop the target alone."""

    def test_pause_and_watch_touch_the_target_alone(self):
        pod = deploy(FAMILY, FAMILY_IMAGE)
        self.assertEqual(in_app(pod, "cat", "/tmp/child-signals"), "")
        self.assertTrue(os.path.exists(FAMILY_PROGRAM), FAMILY_PROGRAM)
        err = open(log_file("kdap-gdb-cluster-family.stderr"), "wb")
        self.addCleanup(err.close)
        c = DapClient.spawn([kdap_path(), "--log", log_file("kdap-gdb-cluster-family.log"),
                             "--log-level", "debug"], stderr=err)
        self.addCleanup(c.close)
        c.initialize()
        seq = c.send("attach", {"name": FAMILY, "target": "deployment/" + FAMILY,
                                "runtime": "gdb", "program": FAMILY_PROGRAM,
                                "kubeconfig": CL.kubeconfig, **IMAGE_KEYS})
        c.wait_event("initialized", 60)
        c.request("configurationDone", timeout=20)
        c.expect_response(seq, 60, success=True)
        for _ in range(2):
            tid = c.request("threads", timeout=20)["threads"][0]["id"]
            c.request("pause", {"threadId": tid}, timeout=20)
            ev = c.wait_event("stopped", 10, pred=lambda e: e["body"]["reason"] == "pause")
            c.request("continue", {"threadId": ev["body"]["threadId"]}, timeout=20)
        # a data breakpoint in the cluster fires (set while running: kdap stops the
        # threads, watches, resumes)
        info = c.request("dataBreakpointInfo", {"name": "ticks"}, timeout=20)
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]},
                       timeout=20)
        self.assertTrue(db["breakpoints"][0]["verified"], db)
        ev = c.wait_event("stopped", 10, pred=lambda e: e["body"]["reason"] == "data breakpoint")
        self.assertRegex(ev["body"].get("description", ""), r"^ticks: \d+ -> \d+$")
        c.request("setDataBreakpoints", {"breakpoints": []}, timeout=20)
        c.request("continue", {"threadId": ev["body"]["threadId"]}, timeout=20)
        c.request("disconnect", {"terminateDebuggee": False}, timeout=20)
        c.wait_exit(15)
        wait_terminated(pod)
        self.assertEqual(tracer_pid(pod), 0)
        self.assertEqual(in_app(pod, "cat", "/tmp/child-signals"), "",
                         "the target's child process got the debugger's signals")
        self.assertIn("c-family", in_app(pod, "cat", "/proc/1/cmdline"))


if __name__ == "__main__":
    unittest.main()
