"""kdap attaches to a Go service running in the local cluster by name ("target"), the
way a user's F5 does: ephemeral debugger, tunnel, DAP, clean exit; and every error a
user will meet, each a DAP error response with the cause and the fix, fast, with nothing
left running in the cluster.

One cluster (tests/cluster/up in a private --dir) serves the whole file.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterdbg import (APP_SRC, BUILD, LocalCluster, cluster_available,  # noqa: E402
                        listening_sockets, try_use)
from dapclient import DapClient  # noqa: E402
from godbg import BP_LINE, kdap_path, log_file, source_line  # noqa: E402
import ocitest  # noqa: E402
from ocitest import CLUSTER_REPO as REPO  # noqa: E402

CL = None
SKIP = cluster_available()
NODE_MANIFEST = os.path.join(os.path.dirname(APP_SRC), "..", "..", "cluster", "manifests", "node-hello.yaml")
NODE_DIR = os.path.normpath(os.path.join(os.path.dirname(APP_SRC), "..", "node-hello"))
NODE_SRC = os.path.join(NODE_DIR, "app.js")


def urlget(port, path):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
        return r.read().decode()


def setUpModule():
    global CL
    if SKIP:
        raise unittest.SkipTest(SKIP)
    CL = LocalCluster(os.path.join(BUILD, "e2e-cluster-attach"))
    CL.up()


def tearDownModule():
    if CL is not None:
        CL.down()


def kubectl(*args, check=True):
    return CL.kubectl(*args, check=check)


def debug_containers(pod, ns="default"):
    """kdap's ephemeral containers of `pod`: name -> state key."""
    p = json.loads(kubectl("get", "pod", pod, "-n", ns, "-o", "json"))
    return {s["name"]: next(iter(s["state"])) for s in
            p["status"].get("ephemeralContainerStatuses", []) if s["name"].startswith("kdap-")}


def wait_all_terminated(pod, ns="default", timeout=20):
    """None of kdap's debug containers runs any more.  (One whose image could not be
    pulled stays "waiting" forever: ephemeral containers cannot be removed, and it runs
    nothing.)"""
    deadline = time.monotonic() + timeout
    st = {}
    while time.monotonic() < deadline:
        st = debug_containers(pod, ns)
        if all(v != "running" for v in st.values()):
            return st
        time.sleep(0.2)
    raise AssertionError("kdap's debug containers still running in %s: %s" % (pod, st))


def deploy(name, ns="default", replicas=1, command=None, wait=True, image="go-hello", security=None,
           pull_secret=None):
    """A Deployment of the go-hello image (optionally another image, command, securityContext,
    a pull secret)."""
    c = {"name": "app", "image": "127.0.0.1:5000/kdap/%s:latest" % image,
         "ports": [{"containerPort": 8080}], "env": [{"name": "PORT", "value": "8080"}]}
    if command:
        c["command"] = command
    if security:
        c["securityContext"] = security
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}}}}
    if pull_secret:
        obj["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": pull_secret}]
    subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(obj), text=True, check=True,
                   capture_output=True, env=dict(os.environ, KUBECONFIG=CL.kubeconfig), timeout=60)
    if wait and replicas:
        kubectl("rollout", "status", "deployment/%s" % name, "-n", ns, "--timeout=90s")
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-l", "app=%s" % name, "-o", "json"))["items"]
    return [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]


class ClusterAttach(unittest.TestCase):

    def kdap(self, image_repo_env=True):
        """kdap over stdio; KDAP_IMAGE_REPO names the cluster's registry too (as a developer's
        environment would), unless image_repo_env is false."""
        err = open(log_file("kdap-cluster-%s.stderr" % self._testMethodName), "wb")
        self.addCleanup(err.close)
        env = dict(os.environ, KDAP_IMAGE_REPO=REPO)
        if not image_repo_env:
            env.pop("KDAP_IMAGE_REPO")
        c = DapClient.spawn([kdap_path(), "--log", log_file("kdap-cluster-%s.log" % self._testMethodName),
                             "--log-level", "debug"], stderr=err, env=env)
        self.addCleanup(c.close)
        return c

    def attach_error(self, args, needles, within=10.0, progress=True):
        """attach must fail with an error response naming the cause, within `within` s."""
        c = self.kdap(image_repo_env="imageRepo" not in args)
        c.initialize(supportsProgressReporting=progress)
        args = {k: v for k, v in dict({"name": "svc", "kubeconfig": CL.kubeconfig,
                                       "imageRepo": REPO}, **args).items() if v is not None}
        t0 = time.monotonic()
        r = c.request_error("attach", args, timeout=within + 5)
        took = time.monotonic() - t0
        text = (r.get("body", {}).get("error", {}).get("format") or "") + " " + r.get("message", "")
        for n in needles:
            self.assertIn(n.lower(), text.lower(), "error lacks %r: %s" % (n, text))
        self.assertLess(took, within, "error took %.1fs: %s" % (took, text))
        c.request("disconnect", {})
        c.wait_exit(10)
        return text

    # -- the user story ---------------------------------------------------------------
    def test_attach_break_inspect_disconnect(self):
        app = CL.deploy_go_hello()
        c = self.kdap()
        c.initialize(supportsProgressReporting=True)
        t0 = time.monotonic()
        seq = c.send("attach", {"name": "go-hello", "target": "deployment/go-hello",
                                "kubeconfig": CL.kubeconfig, "imageRepo": REPO, "namespace": "default"})
        c.wait_event("initialized", 30)
        bps = c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        attach_s = time.monotonic() - t0

        # progress for each step, and a one-line summary naming pod, container and runtime
        steps = [e["body"].get("message", "") for e in c.events()
                 if e["event"] in ("progressStart", "progressUpdate")]
        self.assertTrue(any("resolving deployment/go-hello" in s for s in steps), steps)
        self.assertTrue(any("debug container" in s and "capabilities: SYS_PTRACE, KILL, DAC_READ_SEARCH; no other" in s
                            for s in steps), steps)
        self.assertTrue(any("tunnel open" in s for s in steps), steps)
        self.assertTrue(c.has_event("progressEnd"))
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn(app.pod, said)
        self.assertIn("runtime go", said)

        # exactly one debug container, targeting the app container: every capability dropped
        # but SYS_PTRACE, KILL and DAC_READ_SEARCH, no privilege escalation, a read-only root
        pod = json.loads(kubectl("get", "pod", app.pod, "-o", "json"))
        ecs = [e for e in pod["spec"].get("ephemeralContainers", []) if e["name"].startswith("kdap-go-")]
        self.assertEqual(len(ecs), 1, ecs)
        self.assertEqual(ecs[0]["targetContainerName"], "app")
        self.assertEqual(ecs[0]["securityContext"], {
            "capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE", "KILL", "DAC_READ_SEARCH"]},
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsUser": 0,
            "runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}})
        # and the kubelet enforces it: inside the debug container the rest is gone
        st = kubectl("exec", app.pod, "-c", ecs[0]["name"], "--", "cat", "/proc/self/status")
        self.assertIn("CapBnd:\t0000000000080024", st)     # DAC_READ_SEARCH (2), KILL (5), SYS_PTRACE (19)
        self.assertIn("CapEff:\t0000000000080024", st)
        self.assertIn("NoNewPrivs:\t1", st)
        r = subprocess.run(["kubectl", "exec", app.pod, "-c", ecs[0]["name"], "--", "touch", "/tmp/x"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, KUBECONFIG=CL.kubeconfig))
        self.assertIn("Read-only file system", r.stderr)

        result = {}
        th = threading.Thread(target=lambda: result.update(body=app.get("/from-the-cluster", 30)))
        th.start()
        ev = c.wait_event("stopped", 30)
        tid = ev["body"]["threadId"]
        frames = c.request("stackTrace", {"threadId": tid, "levels": 5})["stackFrames"]
        self.assertEqual(frames[0]["name"], "main.handle")
        self.assertEqual(frames[0]["source"]["path"], APP_SRC)
        scopes = c.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
        values = {}
        for sc in scopes:
            for v in c.request("variables", {"variablesReference": sc["variablesReference"]})["variables"]:
                values[v["name"]] = v["value"]
        self.assertIn("/from-the-cluster", values.get("msg", ""), values)
        c.request("continue", {"threadId": tid})
        th.join(15)
        self.assertIn("/from-the-cluster", result.get("body", ""))
        # the container's log streams as output while the session lasts
        c.wait_event("output", 10, pred=lambda e: "served /from-the-cluster" in e["body"]["output"])

        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_exit(10)
        self.assertTrue(app.answers(10), "the service stopped answering after the disconnect")
        st = wait_all_terminated(app.pod)
        self.assertTrue(st)
        print("attach-to-ready %.2fs" % attach_s, file=sys.stderr)

    def test_no_socket_another_process_can_use(self):
        """Issue 11.1: while a cluster session lasts, kdap listens on nothing (its backend
        speaks through the tunnel over a socketpair), so no other local process can open a
        port-forward with the developer's credentials through kdap."""
        app = CL.deploy_go_hello()
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"name": "go-hello", "target": "deployment/go-hello",
                                "kubeconfig": CL.kubeconfig, "imageRepo": REPO})
        c.wait_event("initialized", 30)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        found = listening_sockets(c.proc.pid)
        usable = {w: try_use(k, w, b"Content-Length: 2\r\n\r\n{}") for k, w in found}
        self.assertEqual(found, [], "kdap listens during the session: %s" % usable)
        # the session works through the tunnel all the same
        self.assertTrue(c.request("threads")["threads"])
        c.request("disconnect", {})
        c.wait_exit(10)
        wait_all_terminated(app.pod)

    def test_target_log_cut_between_characters(self):
        """A log line of the target longer than kdap's 8 KiB line limit, of multi-byte
        characters, goes out in pieces cut between characters: every output event is valid
        and has its body (a cut inside a character lost it), and the pieces make the line."""
        import urllib.parse
        app = CL.deploy_go_hello()
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"name": "go-hello", "target": "deployment/go-hello",
                                "kubeconfig": CL.kubeconfig, "namespace": "default"})
        c.wait_event("initialized", 30)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        # "YYYY/MM/DD hh:mm:ss served /" is 28 bytes: 8192 falls inside a 3-byte character
        word = "\u20ac" * 3001
        app.get("/" + urllib.parse.quote(word), 30)

        def joined():
            return "".join(e["body"]["output"] for e in c.events("output")
                           if "\u20ac" in (e.get("body") or {}).get("output", ""))
        c._wait(lambda: True if "served /" + word + "\n" in joined() else None, 15,
                "the long log line, whole")
        c.check()
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_exit(10)

    def test_sigterm_while_stopped_detaches(self):
        """The editor's process manager sends SIGTERM while a breakpoint holds the service:
        kdap detaches (breakpoints removed, delve gone, debug container ended) and exits, and
        the held request completes."""
        app = CL.deploy_go_hello()
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"target": "deployment/go-hello", "kubeconfig": CL.kubeconfig, "imageRepo": REPO})
        c.wait_event("initialized", 30)
        c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        result = {}
        th = threading.Thread(target=lambda: result.update(body=app.get("/held", 30)))
        th.start()
        c.wait_event("stopped", 30)
        c.proc.send_signal(signal.SIGTERM)
        self.assertEqual(c.wait_exit(5), 0)
        th.join(15)
        self.assertIn("hello /held", result.get("body", ""))
        self.assertTrue(app.answers(10))
        wait_all_terminated(app.pod)

    def test_label_selector_and_process_pattern(self):
        app = CL.deploy_go_hello()
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"services": [{"name": "hello", "target": "app=go-hello",
                                              "process": "go-hello", "runtime": "go"}],
                                "kubeconfig": CL.kubeconfig, "imageRepo": REPO})
        c.wait_event("initialized", 30)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        self.assertTrue(c.request("threads")["threads"])
        c.request("disconnect", {})
        c.wait_exit(10)
        self.assertTrue(app.answers(10))
        wait_all_terminated(app.pod)

    def test_go_and_node_in_one_session(self):
        """Two services, two runtimes, one session: threads of both, a breakpoint in each,
        ids that never collide, each stop naming its own service."""
        go = CL.deploy_go_hello()
        kubectl("apply", "-f", NODE_MANIFEST)
        kubectl("rollout", "status", "deployment/node-hello", "--timeout=90s")
        node_pod = json.loads(kubectl("get", "pods", "-l", "app=node-hello", "-o", "json"))["items"][0]["metadata"]["name"]
        web = CL.tunnel(node_pod, 8080)
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"kubeconfig": CL.kubeconfig, "imageRepo": REPO, "services": [
            {"name": "go-hello", "target": "deployment/go-hello"},
            {"name": "node-hello", "target": "deployment/node-hello", "runtime": "node",
             "localRoot": NODE_DIR, "remoteRoot": "/app"}]})
        c.wait_event("initialized", 40)
        for src, line in ((APP_SRC, BP_LINE), (NODE_SRC, source_line(NODE_SRC, "res.end(msg);"))):
            bps = c.request("setBreakpoints", {"source": {"path": src}, "breakpoints": [{"line": line}]})
            self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        c.request("configurationDone")
        c.expect_response(seq, 40, success=True)
        names = [t["name"] for t in c.request("threads")["threads"]]
        self.assertTrue(any(n.startswith("go-hello: ") for n in names), names)
        self.assertTrue(any(n.startswith("node-hello: ") for n in names), names)

        for get, src, svc in ((lambda: go.get("/to-go", 30), APP_SRC, "go-hello"),
                              (lambda: urlget(web.local, "/to-node"), NODE_SRC, "node-hello")):
            n0 = len(c.events("stopped"))
            th = threading.Thread(target=get)
            th.start()
            c._wait(lambda: True if len(c.events("stopped")) > n0 else None, 30, "a stop in %s" % svc)
            ev = c.events("stopped")[-1]
            self.assertIs(ev["body"].get("allThreadsStopped"), False, ev)
            tid = ev["body"]["threadId"]
            byid = {t["id"]: t["name"] for t in c.request("threads")["threads"]}
            self.assertTrue(byid.get(tid, "").startswith(svc + ": "), (tid, byid))
            top = c.request("stackTrace", {"threadId": tid, "levels": 1})["stackFrames"][0]
            self.assertEqual(top["source"]["path"], src)
            c.request("continue", {"threadId": tid})
            th.join(15)
        c.request("disconnect", {})
        c.wait_exit(10)
        self.assertTrue(go.answers(10))
        self.assertIn("hello /again", urlget(web.local, "/again"))
        wait_all_terminated(go.pod)
        kubectl("delete", "-f", NODE_MANIFEST, "--wait=false")

    # -- errors, each with the cause and the fix ---------------------------------------
    def test_no_such_workload_names_close_ones(self):
        CL.deploy_go_hello()
        self.attach_error({"target": "deployment/go-helo"}, ["not found", "go-hello"], within=5)
        self.attach_error({"target": "pod/nope-1"}, ["pod", "not found"], within=5)

    def test_no_running_pod(self):
        deploy("sleepy", replicas=0, wait=False)
        self.attach_error({"target": "deployment/sleepy"}, ["no pod", "scaled to zero"], within=5)

    def test_rbac_forbidden(self):
        CL.deploy_go_hello()
        text = self.attach_error({"target": "deployment/go-hello", "context": "restricted"},
                                 ["forbidden"], within=5)
        self.assertTrue("ephemeralcontainers" in text or "pods" in text, text)

    def test_pod_security_baseline(self):
        pods = deploy("hello-psa", ns="kdap-baseline")
        self.attach_error({"target": "deployment/hello-psa", "namespace": "kdap-baseline"},
                          ["PodSecurity", "SYS_PTRACE", "label"], within=5)
        self.assertEqual(debug_containers(pods[0], "kdap-baseline"), {})

    def attach_ok(self, args, pod=None, bp=None):
        """attach must succeed; with bp = (source, line) a request to the pod's :8080 stops
        there (the debugger wrote its breakpoint into the target) and completes after continue."""
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", dict({"name": "svc", "kubeconfig": CL.kubeconfig, "imageRepo": REPO}, **args))
        c.wait_event("initialized", 40)
        if bp:
            bps = c.request("setBreakpoints", {"source": {"path": bp[0]}, "breakpoints": [{"line": bp[1]}]},
                            timeout=20)
            self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        c.request("configurationDone", timeout=20)
        c.expect_response(seq, 40, success=True)
        self.assertTrue(c.request("threads")["threads"])
        if bp:
            result = {}
            web = CL.tunnel(pod, 8080)
            th = threading.Thread(target=lambda: result.update(body=urlget(web.local, "/as-user")), daemon=True)
            th.start()
            ev = c.wait_event("stopped", 30)
            self.assertEqual(ev["body"]["reason"], "breakpoint", ev)
            c.request("continue", {"threadId": ev["body"]["threadId"]}, timeout=20)
            th.join(30)
            self.assertIn("/as-user", result.get("body", ""))
        c.request("disconnect", {})
        c.wait_exit(10)

    def debug_spec(self, pod, ns="default"):
        p = json.loads(kubectl("get", "pod", pod, "-n", ns, "-o", "json"))
        return [e for e in p["spec"]["ephemeralContainers"] if e["name"].startswith("kdap-")][-1]

    def test_node_under_pod_security_baseline(self):
        """node's debug container needs no SYS_PTRACE (KILL only): baseline admits it."""
        pods = deploy("node-psa", ns="kdap-baseline", image="node-hello", command=["node", "/app/app.js"])
        self.attach_ok({"target": "deployment/node-psa", "namespace": "kdap-baseline", "runtime": "node"})
        self.assertEqual(self.debug_spec(pods[0], "kdap-baseline")["securityContext"]["capabilities"],
                         {"drop": ["ALL"], "add": ["KILL"]})

    def test_node_under_pod_security_restricted(self):
        """A node service that restricted admits (non-root user in its spec, nothing
        escalated) can be debugged there: kdap's container is as restricted as it."""
        kubectl("create", "namespace", "kdap-restricted", check=False)
        kubectl("label", "--overwrite", "namespace", "kdap-restricted",
                "pod-security.kubernetes.io/enforce=restricted")
        locked = {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,
                  "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                  "seccompProfile": {"type": "RuntimeDefault"}}
        pods = deploy("node-r", ns="kdap-restricted", image="node-hello", command=["node", "/app/app.js"],
                      security=locked)
        self.attach_ok({"target": "deployment/node-r", "namespace": "kdap-restricted", "runtime": "node"})
        sc = self.debug_spec(pods[0], "kdap-restricted")["securityContext"]
        self.assertEqual((sc["runAsUser"], sc["runAsNonRoot"], sc["capabilities"]), (1000, True, {"drop": ["ALL"]}))

    def test_non_root_targets(self):
        """node runs as the target's user with no capability at all; go and gdb stay root with
        SYS_PTRACE, KILL (stopping another user's threads) and DAC_READ_SEARCH / DAC_OVERRIDE
        (its /proc/PID/auxv and mem are mode 0400/0600, owned by it; gdbserver writes mem),
        attach and stop at a breakpoint."""
        user = {"runAsUser": 1000, "runAsGroup": 1000}
        pods = deploy("node-user", image="node-hello", command=["node", "/app/app.js"], security=user)
        self.attach_ok({"target": "deployment/node-user", "runtime": "node"})
        sc = self.debug_spec(pods[0])["securityContext"]
        self.assertEqual((sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"], sc["capabilities"]),
                         (1000, 1000, True, {"drop": ["ALL"]}))
        c_src = os.path.join(os.path.dirname(os.path.dirname(APP_SRC)), "c-hello", "main.c")
        with open(c_src) as f:
            c_line = next(i for i, t in enumerate(f, 1) if "if (write(fd, resp" in t)
        for app, args, bp in (("go-hello", {"runtime": "go"}, (APP_SRC, BP_LINE)),
                              ("c-hello", {"runtime": "gdb",
                                           "program": os.path.join(BUILD, "apps", "c-hello", "c-hello")},
                               (c_src, c_line))):
            pods = deploy(app.split("-")[0] + "-user", image=app, security=user)
            self.attach_ok(dict({"target": "deployment/%s-user" % app.split("-")[0]}, **args), pods[0], bp)
            sc = self.debug_spec(pods[0])["securityContext"]
            self.assertEqual((sc["runAsUser"], sc["capabilities"]["add"]),
                             (0, ["SYS_PTRACE", "KILL", "DAC_OVERRIDE" if app == "c-hello" else "DAC_READ_SEARCH"]))

    def test_debugger_image_cannot_be_pulled(self):
        CL.deploy_go_hello()
        # a tag is resolved to its digest first: one that names nothing fails before the pod
        self.attach_error({"target": "deployment/go-hello",
                           "debuggerImage": "127.0.0.1:5000/kdap/no-such-debugger:latest"},
                          ["debuggerImage", "has no image kdap/no-such-debugger:latest"], within=10)
        # a digest is used as it is: the kubelet cannot pull it, kdap says so at once
        self.attach_error({"target": "deployment/go-hello",
                           "debuggerImage": "127.0.0.1:5000/kdap/no-such-debugger@sha256:" + "0" * 64},
                          ["ErrImagePull", "debuggerImage"], within=10)

    def test_no_image_repository(self):
        CL.deploy_go_hello()
        self.attach_error({"target": "deployment/go-hello", "imageRepo": None},
                          ['"imageRepo"', "KDAP_IMAGE_REPO", '"debuggerImage"'], within=5)

    def test_debugger_image_by_digest_and_tag(self):
        """kdap's own image goes in by digest; a user's tag is resolved to the same digest."""
        app = CL.deploy_go_hello()
        ref = ocitest.debugger_image("go")
        self.assertTrue(ref.startswith(REPO + "@sha256:"), ref)
        for args, say in (({}, "nothing uploaded"), ({"debuggerImage": REPO + ":go"}, "is " + ref)):
            c = self.kdap()
            c.initialize(supportsProgressReporting=True)
            seq = c.send("attach", dict({"target": "deployment/go-hello", "kubeconfig": CL.kubeconfig,
                                         "imageRepo": REPO}, **args))
            c.wait_event("initialized", 30)
            c.request("configurationDone")
            c.expect_response(seq, 30, success=True)
            steps = [e["body"].get("message", "") for e in c.events()
                     if e["event"] in ("progressStart", "progressUpdate")]
            self.assertTrue(any(say in s for s in steps), steps)
            pod = json.loads(kubectl("get", "pod", app.pod, "-o", "json"))
            images = [e["image"] for e in pod["spec"]["ephemeralContainers"]]
            self.assertEqual(images[-1], ref)
            c.request("disconnect", {})
            c.wait_exit(10)
        wait_all_terminated(app.pod)

    def test_architecture_from_the_image_when_nodes_are_hidden(self):
        """A user who may not read nodes: kdap takes the architecture from the target image's
        config in its registry, and says so."""
        pods = deploy("arch-from-image")
        authz = os.path.join(CL.dir, "authz.json")
        with open(authz) as f:
            saved = f.read()
        policy = json.loads(saved)
        policy.setdefault("admin", []).append({"verb": "get", "resource": "nodes"})
        with open(authz, "w") as f:
            json.dump(policy, f)
        try:
            c = self.kdap()
            c.initialize(supportsProgressReporting=True)
            seq = c.send("attach", {"target": "deployment/arch-from-image", "kubeconfig": CL.kubeconfig,
                                    "imageRepo": REPO})
            c.wait_event("initialized", 30)
            c.request("configurationDone")
            c.expect_response(seq, 30, success=True)
            said = " ".join(e["body"]["output"] for e in c.events("output"))
            self.assertIn("debugger image for linux/amd64 (the architecture of the target's image "
                          "127.0.0.1:5000/kdap/go-hello", said)
            c.request("disconnect", {})
            c.wait_exit(10)
        finally:
            with open(authz, "w") as f:
                f.write(saved)
        wait_all_terminated(pods[0])

    def test_debugger_binary_of_another_architecture(self):
        CL.deploy_go_hello()
        fake = os.path.join(BUILD, "e2e-arm64-dlv")
        with open("/bin/busybox", "rb") as f:
            elf = bytearray(f.read(4096))
        elf[18:20] = (183).to_bytes(2, "little")   # e_machine EM_AARCH64
        with open(fake, "wb") as f:
            f.write(elf)
        text = self.attach_error({"target": "deployment/go-hello",
                                  "imageRepo": REPO + "-arm-refused",
                                  "debuggerBinaries": {"dlv": fake}},
                                 ["built for arm64", "node", "debuggerBinaries.dlv"], within=10)
        self.assertIn("amd64", text)
        tags = subprocess.run(["skopeo", "list-tags", "--tls-verify=false",
                               "docker://" + REPO + "-arm-refused"], capture_output=True, text=True)
        self.assertNotEqual(tags.returncode, 0, "nothing may have been pushed: " + tags.stdout)

    def test_authenticated_registry_and_pull_secret(self):
        """kdap pushes its image to the registry with a Bearer token service (credentials from
        REGISTRY_AUTH_FILE, TLS with the cluster CA); the kubelet pulls it with the pod's pull
        secret.  Without the secret, the fast failure says what is missing."""
        reg = ocitest.auth_registry(CL.dir)
        subprocess.run(["kubectl", "apply", "-f", "-"], input=ocitest.pull_secret_yaml("kdap-pull", reg),
                       text=True, check=True, capture_output=True,
                       env=dict(os.environ, KUBECONFIG=CL.kubeconfig), timeout=60)
        # an image no node has yet (a kubelet with the image does not pull it again, as
        # a real one does with IfNotPresent): a busybox of its own, one byte longer
        busybox = os.path.join(BUILD, "e2e-busybox-%d" % os.getpid())
        shutil.copyfile("/bin/busybox", busybox)
        with open(busybox, "ab") as f:
            f.write(os.urandom(8))
        os.chmod(busybox, 0o755)
        for name, secret in (("no-secret", False), ("with-secret", True)):
            pods = deploy(name, pull_secret="kdap-pull" if secret else None)
            args = {"target": "deployment/" + name, "kubeconfig": CL.kubeconfig,
                    "imageRepo": reg["repo"], "imageCA": reg["ca"],
                    "debuggerBinaries": {"busybox": busybox}}
            c = DapClient.spawn([kdap_path(), "--log", log_file("kdap-cluster-auth-%s.log" % name),
                                 "--log-level", "debug"],
                                env=dict(os.environ, REGISTRY_AUTH_FILE=reg["authfile"]))
            self.addCleanup(c.close)
            c.initialize()
            if secret:
                seq = c.send("attach", args)
                c.wait_event("initialized", 30)
                c.request("configurationDone")
                c.expect_response(seq, 30, success=True)
                self.assertTrue(c.request("threads")["threads"])
                pod = json.loads(kubectl("get", "pod", pods[0], "-o", "json"))
                self.assertTrue(pod["spec"]["ephemeralContainers"][-1]["image"].startswith(
                    reg["repo"] + "@sha256:"))
                c.request("disconnect", {})
            else:
                r = c.request_error("attach", args, timeout=20)
                text = r.get("body", {}).get("error", {}).get("format", "") + r.get("message", "")
                for n in ("pull secret", reg["registry"], "imagePullSecrets"):
                    self.assertIn(n, text)
                self.assertNotIn(reg["password"], text)
                c.request("disconnect", {})
            c.wait_exit(10)
            wait_all_terminated(pods[0])

    def test_process_pattern_nothing_or_several(self):
        pods = deploy("two-sleepers", command=["/bin/sh", "-c",
                                                "sleep 1000 & sleep 1001 & exec /app/go-hello"])
        self.attach_error({"target": "deployment/two-sleepers", "process": "no-such-process"},
                          ["no process matches", "no-such-process"], within=15)
        self.attach_error({"target": "deployment/two-sleepers", "process": "sleep"},
                          ["matches 2 processes", "process"], within=15)
        wait_all_terminated(pods[0])

    def test_pod_deleted_mid_session(self):
        pods = deploy("doomed")
        c = self.kdap()
        c.initialize()
        seq = c.send("attach", {"target": "deployment/doomed", "kubeconfig": CL.kubeconfig, "imageRepo": REPO})
        c.wait_event("initialized", 30)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        kubectl("delete", "deployment", "doomed", "--wait=false")
        kubectl("delete", "pod", pods[0], "--grace-period=1", "--wait=false", check=False)
        c.wait_event("terminated", 20)
        c.wait_exit(10)


if __name__ == "__main__":
    unittest.main()
