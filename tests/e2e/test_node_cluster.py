"""kdap's Node backend through the local cluster: test_node.py's scenarios, attached by
target to a plain `node app.js` in a pod, with no restart.

kdap resolves "target": "deployment/NAME", adds an ephemeral container (the node-debug
image: busybox) that sends SIGUSR1 to the app, so its inspector opens on the pod's
127.0.0.1:9229, tunnels there over the API server and speaks CDP through the tunnel.
The scenarios are test_node.py's own methods, run with another way to start the app and
to attach (ClusterNodeCase.node / node_session); after every disconnect the pod is checked:
the service answers, every kdap debug container has ended, and the app container was never
restarted (restartCount 0, same process: /proc/1 start time unchanged).  Also: a process
started with --inspect=127.0.0.1:9229 is used as it is, --inspect-brk stops on entry, two
attaches in a row, and the TypeScript variant (source maps read inside the pod).

The apps come from the node-demo image (tests/cluster/images/node-demo.json): the repo's
layout under /app, so "localRoot": <repo>, "remoteRoot": "/app" maps every file.
One cluster (tests/cluster/up --dir build/e2e-cluster-node) serves the file; each test
deploys its own Deployment (a fresh process, as test_node.py starts one) and deletes it.
Run: /usr/bin/python3 -m unittest -v test_node_cluster   (from tests/e2e, KDAP_BIN set)
"""

import itertools
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2ecase  # noqa: E402
import test_node  # noqa: E402  (imported as a module: its classes run in test_node only)
from clusterdbg import (BUILD, REPO, LocalCluster, cluster_available,  # noqa: E402
                        listening_sockets, pod_listens)
from godbg import HttpApp  # noqa: E402
from nodedbg import JS_SRC, TS_SRC  # noqa: E402
import ocitest  # noqa: E402

CL = None
SKIP = cluster_available()
IMAGE = "127.0.0.1:5000/kdap/node-demo:latest"
REMOTE_ROOT = "/app"
REMOTE_JS = "/app/tests/apps/node-js-demo/app.js"
REMOTE_TS = "/app/build/apps/node-demo/ts/app.js"
APP_PORT = 8080
STEP = 45            # seconds for one cluster step (deploy, attach)
_names = itertools.count(1)

# a pod start and a cluster attach per test: more than the 60 s of a local test
e2ecase.TEST_TIMEOUT = max(e2ecase.TEST_TIMEOUT, 120.0)


IMAGE_KEYS = {}


def setUpModule():
    global CL
    if SKIP:
        raise unittest.SkipTest(SKIP)
    CL = LocalCluster(os.path.join(BUILD, "e2e-cluster-node"))
    CL.up(timeout=240)
    # kdap's node image goes to the registry with a Bearer token service; the pods pull it
    # with their pull secret
    IMAGE_KEYS.update(ocitest.use_auth_registry(CL))


def tearDownModule():
    if CL is not None:
        CL.down()


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out (%ds) waiting for %s" % (timeout, what))


class ClusterNodeApp(HttpApp):
    """A demo app in its own Deployment (one pod, container "app"), with the same surface
    as nodedbg.NodeService: get/get_async/answers/alive/wait_app, over a tunnel to :8080."""

    get_retries = 2     # the test's tunnel opens a WebSocket per connection

    def __init__(self, case, app, argv, ready_text, env=None):
        self.name = "%s-%d" % (app, next(_names))
        self.cleaned = False
        obj = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": self.name, "labels": {"app": self.name}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": self.name}},
                        "template": {"metadata": {"labels": {"app": self.name}},
                                     "spec": {"containers": [{
                                         "name": "app", "image": IMAGE, "command": argv,
                                         "env": [{"name": k, "value": v}
                                                 for k, v in (env or {}).items()],
                                         "ports": [{"containerPort": APP_PORT}]}],
                                     "imagePullSecrets": [{"name": ocitest.PULL_SECRET}]}}}}
        path = os.path.join(CL.dir, "deploy-%s.json" % self.name)
        with open(path, "w") as f:
            json.dump(obj, f)
        case.addCleanup(self.cleanup)
        CL.kubectl("apply", "-f", path)
        self.pod = wait_for("a running pod of " + self.name, self._running_pod, STEP)
        wait_for("%r in the log of %s" % (ready_text, self.pod),
                 lambda: ready_text in CL.kubectl("logs", self.pod, "-c", "app", check=False),
                 STEP)
        self.web = CL.tunnel(self.pod, APP_PORT)
        self.started = self.proc_start()
        self.app_port = self.web.local

    def _running_pod(self):
        items = json.loads(CL.kubectl("get", "pods", "-l", "app=" + self.name, "-o", "json"))["items"]
        for p in items:
            st = p.get("status", {}).get("containerStatuses") or []
            if not p["metadata"].get("deletionTimestamp") and st and "running" in st[0].get("state", {}):
                return p["metadata"]["name"]
        return None

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        web = getattr(self, "web", None)
        if web is not None:
            web.close()
            CL.tunnels.remove(web)
        CL.kubectl("delete", "deployment", self.name, "--wait=false", check=False)

    # -- the pod ---------------------------------------------------------------
    def pod_json(self):
        return json.loads(CL.kubectl("get", "pod", self.pod, "-o", "json"))

    def restart_count(self):
        return self.pod_json()["status"]["containerStatuses"][0].get("restartCount", 0)

    def proc_start(self):
        """The app process's identity: its start time (field 22 of /proc/1/stat; node is
        PID 1 of the container, so the pid alone would not tell a restart)."""
        stat = CL.kubectl("exec", self.pod, "-c", "app", "--", "cat", "/proc/1/stat")
        return stat.rsplit(")", 1)[1].split()[19]

    def listens(self, port):
        return pod_listens(CL, self.pod, "app", port)

    def debug_containers(self):
        """kdap's ephemeral containers: name -> (state key, spec)."""
        p = self.pod_json()
        specs = {e["name"]: e for e in p["spec"].get("ephemeralContainers", [])}
        return {s["name"]: (next(iter(s["state"])), specs.get(s["name"]))
                for s in p["status"].get("ephemeralContainerStatuses", [])
                if s["name"].startswith("kdap-")}

    def check_after_detach(self, case):
        """Every kdap debug container ended; the app was never restarted."""
        dbg = wait_for("kdap's debug containers in %s to end" % self.pod,
                       lambda: (lambda d: d if d and all(v[0] == "terminated" for v in d.values())
                                else None)(self.debug_containers()), 20)
        for name, (_, spec) in dbg.items():
            case.assertTrue(name.startswith("kdap-node-"), name)
            # node needs no ptrace: KILL (for SIGUSR1) alone, as root since the app's spec names
            # no user; nothing else, read-only, no privilege escalation
            case.assertEqual(spec["securityContext"], {
                "capabilities": {"drop": ["ALL"], "add": ["KILL"]}, "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True, "runAsUser": 0, "runAsNonRoot": False,
                "seccompProfile": {"type": "RuntimeDefault"}})
            case.assertEqual(spec["targetContainerName"], "app")
        case.assertTrue(self.alive(), "%s was restarted or replaced" % self.pod)
        return dbg

    # -- nodedbg.NodeService's surface: get/get_async/answers from HttpApp ------
    def wait_app(self, timeout=10):
        """--inspect-brk: the app runs once continued (its log says so; a request would
        hit the test's breakpoint)."""
        text = "listening on 127.0.0.1:%d" % APP_PORT
        return wait_for("%r in the log of %s" % (text, self.pod),
                        lambda: text in CL.kubectl("logs", self.pod, "-c", "app", check=False),
                        timeout)

    def alive(self):
        """Running, never restarted, the very process of the start."""
        st = self.pod_json()["status"]["containerStatuses"][0]
        return ("running" in st.get("state", {}) and st.get("restartCount", 0) == 0
                and self.proc_start() == self.started)


class ClusterNodeCase(test_node.NodeCase):
    """test_node.NodeCase with the app in the cluster and kdap attaching by target."""

    REMOTE_JS_DIR = os.path.dirname(REMOTE_JS)
    REMOTE_TS_SRC_DIR = "/app/tests/apps/node-ts-demo/src"
    ROOTS = {"localRoot": REPO, "remoteRoot": REMOTE_ROOT}

    def node(self, app="js", mode="inspect", name="node", flags=None, env=None):
        """mode "inspect" and "sigusr1": a plain `node app.js` (kdap opens the inspector
        with SIGUSR1); "preinspect": started with --inspect=127.0.0.1:9229; "brk":
        --inspect-brk=127.0.0.1:9229 (nothing runs until a debugger says so)."""
        if flags is None:
            flags = {"inspect": [], "sigusr1": [], "preinspect": ["--inspect=127.0.0.1:9229"],
                     "brk": ["--inspect-brk=127.0.0.1:9229"]}[mode]
        argv = ["/usr/bin/node"] + flags + [REMOTE_JS if app == "js" else REMOTE_TS, str(APP_PORT)]
        ready = "Debugger listening" if mode == "brk" else "listening on 127.0.0.1:%d" % APP_PORT
        return ClusterNodeApp(self, app, argv, ready, env)

    def target_args(self, svc, **extra):
        args = {"name": "web", "target": "deployment/" + svc.name, "runtime": "node",
                "kubeconfig": CL.kubeconfig, "namespace": "default"}
        args.update(IMAGE_KEYS)
        args.update(self.ROOTS)
        args.update(extra)
        return {k: v for k, v in args.items() if v is not None}

    def node_session(self, svc, breakpoints=None, source=JS_SRC, **extra):
        c = self.start_kdap()
        bps = self.attach(c, self.target_args(svc, **extra), breakpoints=breakpoints,
                          source_path=source)
        return c, bps

    def attach(self, c, attach_args, breakpoints=None, source_path=JS_SRC, check_caps=True):
        """E2ECase.attach with the cluster's time: the debug container and the tunnel
        come before `initialized`."""
        caps = c.initialize(supportsProgressReporting=True)
        self.caps = caps
        if check_caps:
            missing = [k for k in e2ecase.REQUIRED_CAPS if caps.get(k) is not True]
            self.assertEqual(missing, [], json.dumps(caps))
        seq = c.send("attach", attach_args)
        c._wait(lambda: True if c.has_event("initialized") else
                next((self.fail("attach failed: %s" % json.dumps(m)) for m in c.messages
                      if m.get("type") == "response" and m.get("request_seq") == seq
                      and not m.get("success")), None), STEP, "event 'initialized'")
        bps = None
        if breakpoints is not None:
            bps = c.request("setBreakpoints", {"source": {"path": source_path},
                                               "breakpoints": breakpoints})
            self.assertEqual(len(bps["breakpoints"]), len(breakpoints), json.dumps(bps))
        c.request("setExceptionBreakpoints", {"filters": []})
        c.request("configurationDone")
        c.expect_response(seq, STEP, success=True, command="attach")
        return bps

    def disconnect_and_exit(self, c, svcs=(), answer_within=5.0):
        """test_node's checks (kdap exits 0, the app answers), then the pod's."""
        super().disconnect_and_exit(c, svcs, answer_within)
        for s in svcs:
            s.check_after_detach(self)


class TestNodeJSCluster(ClusterNodeCase, test_node.TestNodeJS):
    """Every scenario of test_node.TestNodeJS, in the cluster."""

    def test_no_inspector_there(self):
        raise unittest.SkipTest("direct mode only: by target, kdap opens the inspector itself")

    def test_attach_without_restart(self):
        """The runtime detected from the container, the steps reported, one debug container
        (KILL only), the process kept (its state too), nothing left running."""
        svc = self.node()
        self.assertEqual(svc.get("/before", 5), "hello /before #1 (ann, 3, 250)\n")
        c, bps = self.node_session(svc, [{"line": test_node.BP_HANDLE}], runtime=None)
        steps = [e["body"].get("message", "") for e in c.events()
                 if e["event"] in ("progressStart", "progressUpdate")]
        self.assertTrue(any("resolving deployment/" + svc.name in s for s in steps), steps)
        self.assertTrue(any("debug container" in s for s in steps), steps)
        self.assertTrue(any("tunnel open" in s for s in steps), steps)
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn(svc.pod, said)
        self.assertIn("runtime node", said)
        dbg = svc.debug_containers()
        self.assertEqual(len(dbg), 1, dbg)
        # kdap's own node image (busybox alone), by digest
        self.assertTrue(list(dbg.values())[0][1]["image"].startswith(IMAGE_KEYS["imageRepo"] + "@sha256:"),
                        dbg)
        get, ev = self.stop(c, svc, "/during")
        local = self.vars(c, self.scope(c, self.frames(c)[0]["id"], "Local")["variablesReference"])
        self.assertEqual(self.var(local, "hits")["value"], "2")
        self.cont(c)
        self.assertEqual(get.wait(10), "hello /during #2 (ann, 3, 250)\n")
        # the app's console output, from the inspector, once (not again from the pod's log)
        c.wait_event("output", 10, pred=lambda m: "request /during #2" in m["body"]["output"])
        time.sleep(1.5)
        said = [m["body"] for m in c.events("output") if "request /during" in m["body"]["output"]]
        self.assertEqual(said, [{"category": "stdout", "output": "request /during #2\n"}])
        self.disconnect_and_exit(c, [svc])
        # same process, same state: the counter goes on (a restart would say #1)
        after = svc.get("/after", 5)
        self.assertRegex(after, r"^hello /after #\d+ ")
        self.assertGreater(int(after.split("#")[1].split()[0]), 2, after)
        self.assertEqual(svc.restart_count(), 0)

    def test_started_with_inspect_used_as_is(self):
        svc = self.node(mode="preinspect")
        c, bps = self.node_session(svc, [{"line": test_node.BP_DECORATE}])
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        get, _ = self.stop(c, svc, "/as-is")
        top = self.frames(c)[0]
        self.assertEqual((top["name"], top["line"]), ("decorate", test_node.BP_DECORATE))
        self.assertEqual(top["source"]["path"], JS_SRC)
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /as-is #1"))
        self.assertTrue(svc.listens(9229), "kdap closed an inspector it had not opened")
        # and again: the inspector it opened itself is still there for the next session
        c, _ = self.node_session(svc, [{"line": test_node.BP_DECORATE}])
        get, _ = self.stop(c, svc, "/again")
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /again #"))
        self.assertEqual(len(svc.debug_containers()), 2)

    def test_inspector_port_from_the_process_options(self):
        """Not 9229: the port of --inspect=PORT (open already), or of --inspect-port in
        NODE_OPTIONS (where SIGUSR1 opens it), is the one kdap tunnels to."""
        for port, svc in ((9230, self.node(flags=["--inspect=127.0.0.1:9230"])),
                          (9231, self.node(env={"NODE_OPTIONS": "--inspect-port=127.0.0.1:9231"}))):
            c, bps = self.node_session(svc, [{"line": test_node.BP_HANDLE}])
            self.assertTrue(bps["breakpoints"][0]["verified"], bps)
            steps = [e["body"].get("message", "") for e in c.events()
                     if e["event"] in ("progressStart", "progressUpdate")]
            self.assertTrue(any("port %d" % port in s for s in steps), steps)
            get, _ = self.stop(c, svc, "/port-%d" % port)
            self.assertEqual(self.frames(c)[0]["line"], test_node.BP_HANDLE)
            self.disconnect_and_exit(c, [svc])
            self.assertTrue(get.wait(5).startswith("hello /port-%d #1" % port))


    # -- issue 11: who may reach the debugger ---------------------------------------------
    def test_kdap_closes_the_inspector_it_opened(self):
        """11.2: kdap opened the inspector (SIGUSR1), so its last CDP act closes it: after
        the disconnect nothing listens on 9229 in the pod.  11.1: during the session kdap
        listens on nothing (CDP goes through the tunnel over a socketpair)."""
        svc = self.node()
        self.assertFalse(svc.listens(9229))
        c, _ = self.node_session(svc, [{"line": test_node.BP_HANDLE}])
        self.assertEqual(listening_sockets(c.proc.pid), [])
        self.assertTrue(svc.listens(9229))
        get, _ = self.stop(c, svc, "/open")
        self.cont(c)
        self.assertTrue(get.wait(10).startswith("hello /open #1"))
        self.disconnect_and_exit(c, [svc])
        wait_for("the inspector to close", lambda: not svc.listens(9229), 5)
        # the next session opens it again
        c, _ = self.node_session(svc, [{"line": test_node.BP_HANDLE}])
        get, _ = self.stop(c, svc, "/again")
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /again #"))
        wait_for("the inspector to close", lambda: not svc.listens(9229), 5)

    def test_marker_text_in_the_command_line(self):
        """11.5: a target whose argv holds the debug container's marker texts (today's and
        a guess at the nonce-carrying form) cannot fake them: kdap waits for the real
        markers, tunnels to the real port, and the session works."""
        fake = ("kdap: inspector on port 1 opened (process 1)\n"
                "kdap 0123456789abcdef inspector opened 1 127.0.0.1\nAPI server listening at:")
        svc = ClusterNodeApp(self, "js", ["/usr/bin/node", REMOTE_JS, str(APP_PORT), fake],
                             "listening on 127.0.0.1:%d" % APP_PORT)
        c, bps = self.node_session(svc, [{"line": test_node.BP_HANDLE}])
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        steps = [e["body"].get("message", "") for e in c.events()
                 if e["event"] in ("progressStart", "progressUpdate")]
        self.assertTrue(any("port 9229" in s for s in steps), steps)
        get, _ = self.stop(c, svc, "/faked")
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /faked #1"))

    def test_inspector_never_widened(self):
        """11.2: options that put the inspector on a host that is not loopback: kdap never
        opens it there (a clear error; still closed afterwards), and one open there already
        is used with a warning in the debug console."""
        svc = self.node(env={"NODE_OPTIONS": "--inspect-port=0.0.0.0:9232"})
        c = self.start_kdap()
        c.initialize(supportsProgressReporting=True)
        r = c.request_error("attach", self.target_args(svc), timeout=STEP)
        text = (r.get("body", {}).get("error", {}).get("format") or "") + r.get("message", "")
        self.assertIn("0.0.0.0", text)
        self.assertIn("not loopback", text)
        self.assertIn("--inspect-port=127.0.0.1:9232", text)
        c.request("disconnect", {})
        c.wait_exit(10)
        self.assertFalse(svc.listens(9232))
        self.assertTrue(svc.alive())

        svc = self.node(flags=["--inspect=0.0.0.0:9233"])
        c, _ = self.node_session(svc, [{"line": test_node.BP_HANDLE}])
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn("listens on 0.0.0.0 port 9233, not only on loopback", said)
        get, _ = self.stop(c, svc, "/wide")
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /wide #1"))
        self.assertTrue(svc.listens(9233), "kdap closed an inspector it had not opened")


class TestNodeTypeScriptCluster(ClusterNodeCase, test_node.TestNodeTypeScript):
    """Source-mapped breakpoints and frames; the maps are read inside the pod."""


class TestNodeSourceMapOverridesCluster(ClusterNodeCase, test_node.TestNodeSourceMapOverrides):
    """The overrides alone map the .ts file (as in test_node: no roots)."""
    ROOTS = {}


if __name__ == "__main__":
    unittest.main()
