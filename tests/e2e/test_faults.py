"""The fault suite (issue 15): what a debug session does when the cluster misbehaves under it.

Each case asserts what the session did (recovered, or ended with a message saying why), how
long that took, that no debuggee is left halted (the service answers, its TracerPid is 0) and
that nothing of kdap's is left running in the cluster afterwards (its debug containers have
ended, within the watchdog's window when kdap died).

Faults: a chaos TCP proxy between kdap and the API server (chaos.py: cut, stall, trickle,
refuse), a liveness probe failing on a stopped process, the debugger killed in the pod, kdap
SIGKILLed at each step of the attach.  One local cluster (tests/cluster/up, private --dir)
serves the file.
"""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import ChaosProxy, kubeconfig_through, upstream_of  # noqa: E402
from clusterdbg import APP_SRC, BUILD, LocalCluster, cluster_available  # noqa: E402
from dapclient import DapClient  # noqa: E402
from godbg import BP_LINE, HttpApp, kdap_path, log_file  # noqa: E402
from ocitest import CLUSTER_REPO as REPO  # noqa: E402

CL = None
SKIP = cluster_available()
WATCHDOG_S = 30     # KUBE_DEBUG_CLIENT_WAIT_S: a debugger nobody reached detaches after it


def setUpModule():
    global CL
    if SKIP:
        raise unittest.SkipTest(SKIP)
    CL = LocalCluster(os.path.join(BUILD, "e2e-cluster-faults"))
    CL.up()


def tearDownModule():
    if CL is not None:
        CL.down()


def kubectl(*args, check=True, timeout=60):
    return CL.kubectl(*args, check=check, timeout=timeout)


def http_liveness(period, failures):
    """An httpGet liveness probe of go-hello (any path answers) with a 1 s timeout and grace."""
    return {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": period,
            "failureThreshold": failures, "timeoutSeconds": 1, "terminationGracePeriodSeconds": 1}


class App(HttpApp):
    """One Deployment of go-hello (optionally with a liveness probe) and a way to reach it."""

    get_timeout = 10.0
    answer_timeout = 5.0

    def __init__(self, name, liveness=None):
        c = {"name": "app", "image": "127.0.0.1:5000/kdap/go-hello:latest",
             "ports": [{"containerPort": 8080}], "env": [{"name": "PORT", "value": "8080"}]}
        if liveness:
            c["livenessProbe"] = liveness
        obj = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "labels": {"app": name}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                                     "spec": {"containers": [c], "terminationGracePeriodSeconds": 1}}}}
        subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(obj), text=True, check=True,
                       capture_output=True, env=dict(os.environ, KUBECONFIG=CL.kubeconfig), timeout=60)
        kubectl("rollout", "status", "deployment/" + name, "--timeout=90s", timeout=100)
        self.name = name
        self.pod = self.pods()[0]
        self.web = CL.tunnel(self.pod, 8080)
        self.app_port = self.web.local

    def pods(self):
        items = json.loads(kubectl("get", "pods", "-l", "app=" + self.name, "-o", "json"))["items"]
        return [p["metadata"]["name"] for p in items
                if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]

    def get_async(self, path, timeout=60.0):
        result = {}

        def run():
            try:
                result["body"] = self.get(path, timeout)
            except OSError as e:
                result["error"] = e
        th = threading.Thread(target=run, daemon=True)
        th.start()
        return th, result

    def tracer_pid(self):
        st = kubectl("exec", self.pod, "-c", "app", "--", "cat", "/proc/1/status", timeout=20)
        return int(re.search(r"TracerPid:\s*(\d+)", st).group(1))

    def debug_containers(self):
        """kdap's ephemeral containers of the pod: name -> state key."""
        p = json.loads(kubectl("get", "pod", self.pod, "-o", "json"))
        return {s["name"]: next(iter(s["state"])) for s in
                p["status"].get("ephemeralContainerStatuses", []) if s["name"].startswith("kdap-")}

    def left_as_found(self, within):
        """Within `within` s: no debug container of kdap's runs, the process is traced by
        nobody and the service answers.  Returns the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + within
        last = None
        while time.monotonic() < deadline:
            dcs = self.debug_containers()
            last = (dcs, None)
            if dcs and all(v != "running" for v in dcs.values()):
                tp = self.tracer_pid()
                last = (dcs, tp)
                if tp == 0 and self.answers(3):
                    return time.monotonic() - t0
            time.sleep(0.3)
        raise AssertionError("cluster not left as found within %.0f s (debug containers, TracerPid): %r"
                             % (within, last))

    def delete(self):
        kubectl("delete", "deployment", self.name, "--wait=false", check=False)


class Faults(unittest.TestCase):

    def kdap(self, tag="", env=None):
        name = self._testMethodName + tag
        err = open(log_file("kdap-faults-%s.stderr" % name), "wb")
        self.addCleanup(err.close)
        c = DapClient.spawn([kdap_path(), "--log", log_file("kdap-faults-%s.log" % name),
                             "--log-level", "debug"], stderr=err,
                            env=dict(os.environ, KDAP_IMAGE_REPO=REPO, **(env or {})))
        self.addCleanup(c.close)
        return c

    def attach(self, c, app, kubeconfig=None, bp=True, progress=False):
        c.initialize(supportsProgressReporting=progress)
        seq = c.send("attach", {"name": app.name, "target": "deployment/" + app.name,
                                "kubeconfig": kubeconfig or CL.kubeconfig, "imageRepo": REPO})
        self.configure(c, seq, bp)

    def held(self, name, liveness=None):
        """App `name` attached with the breakpoint, and a request held at it: (app, kdap,
        stopped event, request thread, its result)."""
        app = App(name, liveness=liveness)
        self.addCleanup(app.delete)
        c = self.kdap()
        self.attach(c, app)
        th, result = app.get_async("/held")
        ev = c.wait_event("stopped", 30)
        return app, c, ev, th, result

    def configure(self, c, seq, bp):
        """After `attach` (request `seq`): a breakpoint on BP_LINE if bp, configurationDone."""
        c.wait_event("initialized", 60)
        if bp:
            r = c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
            self.assertTrue(r["breakpoints"][0]["verified"], r)
        c.request("configurationDone")
        c.expect_response(seq, 60, success=True)

    # -- the chaos proxy itself ---------------------------------------------------------------
    def test_chaos_proxy(self):
        """The proxy relays TLS to the API server; cut resets what is open and lets the next
        connection through; stall holds bytes until released; refuse closes new connections;
        trickle limits the rate."""
        with ChaosProxy(*upstream_of(CL.kubeconfig)) as p:
            kc = kubeconfig_through(CL.kubeconfig, log_file("faults-chaos.kubeconfig"), p)
            env = dict(os.environ, KUBECONFIG=kc)

            def kget(timeout=20):
                return subprocess.run(["kubectl", "get", "--raw", "/version"], env=env, capture_output=True,
                                      text=True, timeout=timeout)
            self.assertIn("gitVersion", kget().stdout)
            self.assertGreaterEqual(p.accepted, 1)
            ctx = ssl.create_default_context(cafile=os.path.join(CL.dir, "pki", "ca.crt"))
            raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            self.assertEqual(p.open_connections(), 1)
            self.assertEqual(p.cut(), 1)
            with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
                tls.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
                if not tls.recv(1):
                    raise ConnectionError("closed")
            tls.close()
            self.assertIn("gitVersion", kget().stdout)   # cut connections only, not the proxy

            p.stall(True)
            raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            raw.settimeout(1.0)
            tls_done = threading.Event()

            def hs():
                try:
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
                    tls_done.set()
                except OSError:
                    pass
            th = threading.Thread(target=hs, daemon=True)
            th.start()
            time.sleep(0.8)
            self.assertFalse(tls_done.is_set(), "a stalled proxy let a TLS handshake through")
            p.stall(False)
            th.join(3)
            raw.close()

            p.refuse(True)
            try:
                s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
                s.settimeout(3)
                with s:
                    self.assertEqual(s.recv(1), b"")
            except ConnectionResetError:
                pass
            p.refuse(False)

            p.trickle(1000)
            t0 = time.monotonic()
            out = kget(timeout=30)
            self.assertIn("gitVersion", out.stdout)
            self.assertGreater(time.monotonic() - t0, 1.5, "a TLS handshake and a GET (> 2 KB) at 1000 B/s")
            p.trickle(0)

    # -- cut, replaced, restarted: the session ends saying why, nothing is left halted ----------
    # (kdap does not reconnect yet: issue 15's reconnect and re-attach are still to come; these
    # cases hold what must hold meanwhile)
    def ended_saying(self, c, needles, within, t0):
        """`terminated` within `within` s, an important output naming each needle; the
        seconds since t0 (the fault)."""
        c.wait_event("terminated", within)
        took = time.monotonic() - t0
        said = " ".join(e["body"]["output"] for e in c.events("output") if e["body"].get("category") == "important")
        for n in needles:
            self.assertIn(n, said)
        c.wait_exit(10)
        return took

    def test_tunnel_cut(self):
        """Every connection to the API server reset (the chaos proxy's cut) while stopped at a
        breakpoint: the session ends saying the tunnel to the pod was lost (reset), the held request completes (the
        debugger lost its client and detached) and the debug container ends."""
        app = App("cut")
        self.addCleanup(app.delete)
        with ChaosProxy(*upstream_of(CL.kubeconfig)) as p:
            kc = kubeconfig_through(CL.kubeconfig, log_file("faults-cut.kubeconfig"), p)
            c = self.kdap()
            self.attach(c, app, kubeconfig=kc)
            th, result = app.get_async("/held")
            c.wait_event("stopped", 30)
            t0 = time.monotonic()
            self.assertGreaterEqual(p.cut(), 1)
            took = self.ended_saying(c, ['service "cut"', "tunnel: port-forward to pod default/" + app.pod,
                                         "was lost (connection reset by peer)"], 10, t0)
            th.join(10)
            self.assertIn("hello /held", result.get("body", ""))
        app.left_as_found(10)
        print("tunnel cut -> session ended in %.2fs" % took, file=sys.stderr)

    def test_pod_replaced(self):
        """The debugged pod is deleted and its Deployment replaces it: the session ends naming
        the service; the new pod runs with no debug container of kdap's."""
        app = App("repl")
        self.addCleanup(app.delete)
        c = self.kdap()
        self.attach(c, app, bp=False)
        t0 = time.monotonic()
        kubectl("delete", "pod", app.pod, "--wait=false")
        took = self.ended_saying(c, ['service "repl"'], 20, t0)
        kubectl("rollout", "status", "deployment/repl", "--timeout=60s", timeout=70)
        new = [p for p in app.pods() if p != app.pod]
        self.assertEqual(len(new), 1, new)
        app.pod = new[0]
        self.assertEqual(app.debug_containers(), {})
        print("pod replaced -> session ended in %.2fs" % took, file=sys.stderr)

    def test_liveness_restart_while_stopped(self):
        """Held at a breakpoint past its liveness probe's budget, the container is killed and
        restarted by the kubelet: the session ends naming the service, the restarted process is
        traced by nobody and serves."""
        app, c, _, _, _ = self.held("liverestart", http_liveness(period=1, failures=2))
        took = self.ended_saying(c, ['service "liverestart"'], 20, time.monotonic())

        def restarted():
            st = json.loads(kubectl("get", "pod", app.pod, "-o", "json"))["status"]["containerStatuses"][0]
            return st["restartCount"] >= 1 and "running" in st["state"]
        deadline = time.monotonic() + 30
        while not restarted():
            self.assertLess(time.monotonic(), deadline, "the kubelet never restarted the container")
            time.sleep(0.3)
        app.left_as_found(20)
        print("liveness restart while stopped -> session ended in %.2fs" % took, file=sys.stderr)

    # -- a tunnel that dies silently ------------------------------------------------------------
    def test_stalled_tunnel_declared_dead(self):
        """With pings every 0.5 s and 1.5 s to live (KDAP_TUNNEL_PING/DEAD), an idle session
        through the chaos proxy outlives many such windows (pings are answered), and once the
        proxy stalls every connection kdap declares the tunnel dead within the window and says
        so; the debugger in the pod then loses its client and detaches."""
        app = App("stall")
        self.addCleanup(app.delete)
        with ChaosProxy(*upstream_of(CL.kubeconfig)) as p:
            kc = kubeconfig_through(CL.kubeconfig, log_file("faults-stall.kubeconfig"), p)
            c = self.kdap(env={"KDAP_TUNNEL_PING": "0.5", "KDAP_TUNNEL_DEAD": "1.5"})
            self.attach(c, app, kubeconfig=kc, bp=False)
            time.sleep(4)   # idle: nothing but pings and pongs on the tunnel
            self.assertFalse(c.has_event("terminated"), "an idle tunnel whose pongs come is alive")
            self.assertTrue(c.request("threads")["threads"])
            p.stall(True)
            t0 = time.monotonic()
            said = c.wait_event("output", 10, pred=lambda e: "connection is dead" in e["body"]["output"])
            took = time.monotonic() - t0
            self.assertIn('"stall"', said["body"]["output"])
            self.assertLess(took, 1.5 + 1.0, "declared dead within its window (+ the loop's slack)")
            c.wait_event("terminated", 10)
            c.wait_exit(10)
            p.stall(False)
        app.left_as_found(15)
        print("stalled tunnel -> declared dead in %.2fs (window 1.5 s)" % took, file=sys.stderr)

    # -- liveness probes ------------------------------------------------------------------
    def test_liveness_probe_warning(self):
        """A service with an httpGet liveness probe stops at a breakpoint: the debug console
        says at once that the kubelet will restart it, when (failureThreshold x periodSeconds +
        timeoutSeconds), and what avoids it (launch with probes: relax); a step does not repeat it;
        continued in time, nothing is restarted."""
        app, c, ev, th, result = self.held("live", http_liveness(period=2, failures=3))
        t_stop = time.monotonic()
        warn = c.wait_event("output", 5, pred=lambda e: "liveness probe" in e["body"]["output"])
        said = warn["body"]["output"]
        self.assertLess(time.monotonic() - t_stop, 1.0, "the warning comes with the stop")
        self.assertEqual(warn["body"]["category"], "important")
        for needle in ('service "live"', "container app", "httpGet :8080/healthz every 2 s, 3 failures, 1 s timeout",
                       "about 7 s", '"launch"', '"probes": "relax"'):
            self.assertIn(needle, said)
        # a step keeps it halted: no second warning for it
        n_warn = len([e for e in c.events("output") if "liveness probe" in e["body"]["output"]])
        c.request("next", {"threadId": ev["body"]["threadId"]})
        c.wait_event("stopped", 20, pred=lambda e: e["body"]["reason"] == "step")
        self.assertEqual(n_warn, len([e for e in c.events("output") if "liveness probe" in e["body"]["output"]]))
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        th.join(20)
        self.assertIn("hello /held", result.get("body", ""))
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_exit(10)
        app.left_as_found(20)
        cs = json.loads(kubectl("get", "pod", app.pod, "-o", "json"))["status"]["containerStatuses"][0]
        self.assertEqual(cs["restartCount"], 0, "continued in time: the probe restarted nothing")

    # -- kdap killed ---------------------------------------------------------------------------
    def test_kdap_killed_at_each_attach_step(self):
        """kdap SIGKILLed before the debug container runs, while the debugger starts, after the
        attach, and while stopped at a breakpoint (four services at once, each killed at its
        step): every debuggee ends up running untraced and every debug container ended, within
        the watchdog's window (and at once when a debugger had kdap as its client)."""
        steps = {
            "before-run": lambda e: e.get("event") == "progressUpdate"
            and "added to pod" in e["body"].get("message", ""),
            "dbg-start": lambda e: e.get("event") == "progressUpdate"
            and "waiting for the debugger" in e["body"].get("message", ""),
            "attached": None,
            "stopped": None,
        }
        apps = {s: App("k-" + s) for s in steps}
        for a in apps.values():
            self.addCleanup(a.delete)
        outcome = {}
        errors = []
        # One kdap at a time through the image step: docker-registry 2.8 answers a manifest
        # HEAD with HTTP 500 ("invalid checksum digest format") while another client rewrites
        # that manifest, which is not what this test is about.
        image_step = threading.Lock()

        def past_image(c):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    "debugger image" in e["body"].get("output", "") + e["body"].get("message", "")
                    for e in c.events() if e.get("event") in ("output", "progressUpdate")):
                time.sleep(0.01)

        def run(step):
            try:
                app = apps[step]
                c = self.kdap("-" + step)
                with image_step:
                    c.initialize(supportsProgressReporting=True)
                    seq = c.send("attach", {"name": app.name, "target": "deployment/" + app.name,
                                            "kubeconfig": CL.kubeconfig, "imageRepo": REPO})
                    past_image(c)
                if steps[step] is not None:
                    self._wait_any(c, steps[step], 60)
                    c.proc.kill()
                    c.proc.wait(5)
                    outcome[step] = ("window", app.left_as_found(WATCHDOG_S + 5), None)
                    return
                self.configure(c, seq, bp=step == "stopped")
                held = None
                if step == "stopped":
                    held = app.get_async("/held")
                    c.wait_event("stopped", 30)
                c.proc.kill()
                c.proc.wait(5)
                t0 = time.monotonic()
                if held:
                    held[0].join(10)
                    held_s = time.monotonic() - t0
                    self.assertIn("hello /held", held[1].get("body", ""), "the paused request completes")
                else:
                    held_s = None
                outcome[step] = ("at once", app.left_as_found(10), held_s)
            except Exception as e:  # noqa: BLE001 - reported below, with the step
                errors.append("%s: %r" % (step, e))
        threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in steps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WATCHDOG_S + 120)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(outcome), sorted(steps))
        print("kdap SIGKILL -> cluster as found: %s" % ", ".join(
            "%s %.1fs%s" % (s, outcome[s][1], "" if outcome[s][2] is None else
                            " (paused request done in %.2fs)" % outcome[s][2]) for s in sorted(outcome)),
            file=sys.stderr)

    @staticmethod
    def _wait_any(c, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(e) for e in c.events()):
                return
            time.sleep(0.01)
        raise AssertionError("the attach never reached the step")

    # -- the debugger killed in the pod -----------------------------------------------------
    def test_debugger_killed_in_the_pod(self):
        """delve dies in the debug container (OOM-killed, say): the session ends with a
        message naming the service, the process runs on untraced, the container has ended."""
        app = App("dbgkill")
        self.addCleanup(app.delete)
        c = self.kdap()
        self.attach(c, app, bp=False)
        (dc,) = [n for n, st in app.debug_containers().items() if st == "running"]
        ps = kubectl("exec", app.pod, "-c", dc, "--", "ps", "-o", "pid,args", timeout=20)
        # delve itself, not the container's shell (whose script names dlv too)
        pid = next(f[0] for f in (line.split() for line in ps.splitlines())
                   if len(f) > 1 and f[1].endswith("/dlv"))
        t0 = time.monotonic()
        kubectl("exec", app.pod, "-c", dc, "--", "kill", "-9", pid, timeout=20)
        c.wait_event("terminated", 15)
        took = time.monotonic() - t0
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn('"dbgkill"', said)
        c.wait_exit(10)
        app.left_as_found(10)
        print("debugger killed -> session ended in %.2fs" % took, file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
