#!/usr/bin/python3
"""launch's workload changes against the local cluster: `kdap deploy` (launch's deploy step:
the image patched, replicas, probes relaxed, the rollout watched; ErrImagePull and a crash loop
fail fast with the workload put back), a redeploy of the same image rolls nothing, and a workload
a crashed launch left patched (the kdap.dev/launch annotation with the originals) is put back
exactly by `kdap restore`, through the API server's strategic merge patch; what someone else
changed meanwhile is kept and named.

    /usr/bin/python3 -m unittest -v test_launch        (from tests/e2e; needs root for the cluster)
"""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dapclient import DapClient  # noqa: E402
from kubecluster import KDAP, PortForward, module_cluster, module_cluster_done  # noqa: E402

APP_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "go-hello", "main.go")
DEBUG_REPO = os.environ.get("KDAP_IMAGE_REPO", "127.0.0.1:5000/kdap/debug")

C = None
GO_IMAGE = "127.0.0.1:5000/kdap/go-hello:latest"
SHELL_IMAGE = "127.0.0.1:5000/kdap/busybox:latest"  # /bin/sh with no stdin: exits at once
ANN = "kdap.dev/launch"


def setUpModule():
    global C
    C = module_cluster(echo=False)


def tearDownModule():
    module_cluster_done(C)


def deployment(name, replicas=2):
    # readiness on the port: a pod that never listens is never available, as in a real cluster
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "app", "image": GO_IMAGE,
                                         "env": [{"name": "PORT", "value": "8080"}],
                                         "livenessProbe": {"tcpSocket": {"port": 8080},
                                                           "periodSeconds": 5},
                                         "readinessProbe": {"tcpSocket": {"port": 8080},
                                                            "periodSeconds": 1}}]}}}}


def spec_of(name):
    d = json.loads(C.kubectl("get", "deployment/" + name, "-o", "json").stdout)
    return d["spec"], d["metadata"].get("annotations", {})


def crashed_launch(name, session):
    """What a launch leaves when kdap dies mid-session: the debug image (a digest the registry
    does not have), replicas 1, the liveness probe relaxed, and the annotation whose restore
    patch holds the originals."""
    debug = "127.0.0.1:5000/kdap/go-hello@sha256:" + "0" * 64
    saved = {"session": session, "since": "2026-12-03T17:00:00Z", "container": "app",
             "set": {"image": debug, "replicas": 1},
             "restore": {"spec": {"replicas": 2, "template": {"spec": {"containers": [
                 {"name": "app", "image": GO_IMAGE,
                  "livenessProbe": {"failureThreshold": 3, "timeoutSeconds": 1},
                  "readinessProbe": {"failureThreshold": 3, "timeoutSeconds": 1}}]}}}}}
    patch = {"metadata": {"annotations": {ANN: json.dumps(saved)}},
             "spec": {"replicas": 1, "template": {"spec": {"containers": [
                 {"name": "app", "image": debug,
                  "livenessProbe": {"failureThreshold": 100000, "timeoutSeconds": 60},
                  "readinessProbe": {"failureThreshold": 100000, "timeoutSeconds": 60}}]}}}}
    C.kubectl("patch", "deployment/" + name, "--type", "strategic", "-p", json.dumps(patch))
    return debug


def digest_of(ref):
    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "docker://" + ref],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("skopeo inspect %s: %s" % (ref, p.stderr))
    return ref.rsplit(":", 1)[0] + "@" + json.loads(p.stdout)["Digest"]


def app_container(spec):
    return [c for c in spec["template"]["spec"]["containers"] if c["name"] == "app"][0]


def new_deployment(name, replicas=2):
    C.kubectl("apply", "--server-side", "--field-manager", "test", "-f", "-",
              stdin=json.dumps(deployment(name, replicas)))
    C.kubectl("rollout", "status", "deployment/" + name, "--timeout=60s", timeout=70)
    return spec_of(name)[0]


class TestDeploy(unittest.TestCase):
    def test_deploy_redeploy_and_restore(self):
        before = new_deployment("svc-d")
        image = digest_of(GO_IMAGE)
        t0 = time.monotonic()
        p = C.kdap("deploy", "--namespace", C.ns, "deployment/svc-d", "--image", image,
                   "--replicas", "1", timeout=150)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("deployment/svc-d: rolled out", p.stdout)
        self.assertIn("patched, generation 2", p.stderr)
        spec, ann = spec_of("svc-d")
        self.assertIn(ANN, ann)
        self.assertEqual(spec["replicas"], 1)
        app = app_container(spec)
        self.assertEqual(app["image"], image)
        self.assertEqual(app["livenessProbe"]["failureThreshold"], 100000)
        self.assertEqual(app["livenessProbe"]["timeoutSeconds"], 60)
        # what kubectl sees is what kdap waited for
        C.kubectl("rollout", "status", "deployment/svc-d", "--timeout=1s")
        pods = json.loads(C.kubectl("get", "pods", "-l", "app=svc-d", "-o", "json").stdout)
        running = [x for x in pods["items"] if not x["metadata"].get("deletionTimestamp")]
        self.assertTrue(all(x["spec"]["containers"][0]["image"] == image for x in running))

        # the same image again: nothing rolls, the originals stay the first ones
        t0 = time.monotonic()
        p = C.kdap("deploy", "--namespace", C.ns, "deployment/svc-d", "--image", image,
                   "--replicas", "1")
        again = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("unchanged: its pods already run this", p.stdout)
        self.assertEqual(spec_of("svc-d")[0]["template"], spec["template"])
        sys.stderr.write("deploy with rollout %.2f s, same image again %.2f s\n" % (took, again))

        p = C.kdap("restore", "--namespace", C.ns, "deployment/svc-d")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        after, ann = spec_of("svc-d")
        self.assertNotIn(ANN, ann)
        self.assertEqual(after, before)

    def assert_fails_fast_and_restores(self, name, image, reason):
        before = new_deployment(name, replicas=1)
        p = C.kdap("deploy", "--namespace", C.ns, "deployment/" + name, "--image", image,
                   "--timeout", "100", timeout=150)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("deployment/%s: pod %s-" % (name, name), p.stderr)
        self.assertIn(reason, p.stderr)
        self.assertIn("the workload is back as it was", p.stderr)
        after, ann = spec_of(name)
        self.assertNotIn(ANN, ann)
        self.assertEqual(after, before)

    def test_image_pull_error_fails_fast_and_restores(self):
        self.assert_fails_fast_and_restores(
            "svc-e", "127.0.0.1:5000/kdap/go-hello@sha256:" + "1" * 64, "ErrImagePull")

    def test_crash_loop_fails_fast_and_restores(self):
        self.assert_fails_fast_and_restores("svc-f", SHELL_IMAGE, "CrashLoopBackOff")

    def test_another_session_is_refused(self):
        new_deployment("svc-g", replicas=1)
        crashed_launch("svc-g", "s-other")
        p = C.kdap("deploy", "--namespace", C.ns, "deployment/svc-g", "--image", GO_IMAGE)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("being debugged by kdap session s-other (since 2026-12-03T17:00:00Z)",
                      p.stderr)
        self.assertIn("kdap restore", p.stderr)


class TestLaunchRequest(unittest.TestCase):
    """F5 with "request": "launch" and an "image": deployed, stopped at a breakpoint, put back."""

    def kdap(self):
        err = open(os.path.join(C.tmp, "kdap-%s.stderr" % self._testMethodName), "wb")
        self.addCleanup(err.close)
        c = DapClient.spawn([KDAP], stderr=err, env=C.env())
        self.addCleanup(c.close)
        return c

    def test_launch_break_disconnect_restores(self):
        before = new_deployment("svc-l")
        image = digest_of(GO_IMAGE)
        c = self.kdap()
        c.initialize()
        t0 = time.monotonic()
        seq = c.send("launch", {"name": "svc-l", "target": "deployment/svc-l", "image": image,
                                "replicas": 1, "kubeconfig": C.kubeconfig, "namespace": C.ns,
                                "imageRepo": DEBUG_REPO})
        c.wait_event("initialized", 90)
        bps = c.request("setBreakpoints", {"source": {"path": os.path.normpath(APP_SRC)},
                                           "breakpoints": [{"line": 27}]})
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        c.request("configurationDone")
        c.expect_response(seq, 60, success=True)
        launch_s = time.monotonic() - t0
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn("deployment/svc-l: rolled out", said)

        spec, ann = spec_of("svc-l")
        self.assertIn(ANN, ann)
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(app_container(spec)["image"], image)
        self.assertEqual(app_container(spec)["livenessProbe"]["failureThreshold"], 100000)

        pods = json.loads(C.kubectl("get", "pods", "-l", "app=svc-l", "-o", "json").stdout)
        pod = [x["metadata"]["name"] for x in pods["items"]
               if not x["metadata"].get("deletionTimestamp")
               and x["spec"]["containers"][0]["image"] == image][0]
        pf = PortForward(C, pod, ":8080")
        self.addCleanup(pf.stop)
        got = {}

        def get():
            import http.client
            h = http.client.HTTPConnection("127.0.0.1", pf.port, timeout=30)
            h.request("GET", "/from-launch")
            got["body"] = h.getresponse().read().decode()
        th = threading.Thread(target=get)
        th.start()
        ev = c.wait_event("stopped", 30)
        frames = c.request("stackTrace", {"threadId": ev["body"]["threadId"], "levels": 1})
        self.assertEqual(frames["stackFrames"][0]["name"], "main.handle")
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        th.join(15)
        self.assertIn("/from-launch", got.get("body", ""))

        c.request("disconnect", {"terminateDebuggee": False}, timeout=30)
        c.wait_exit(15)
        said = " ".join(e["body"]["output"] for e in c.events("output"))
        self.assertIn("deployment/svc-l is back as it was", said)
        after, ann = spec_of("svc-l")
        self.assertNotIn(ANN, ann)
        self.assertEqual(after, before)
        sys.stderr.write("launch (deploy, rollout, attach) to configured %.2f s\n" % launch_s)

    def test_launch_errors_name_the_key(self):
        c = self.kdap()
        c.initialize()
        for args, needle in (({"target": "deployment/x"}, '"image"'),
                             ({"target": "pod/x", "image": GO_IMAGE}, "deployment/NAME"),
                             ({"target": "deployment/x", "image": GO_IMAGE, "probes": "off"},
                              '"relax"'),
                             ({"target": "deployment/x", "build": {"command": ["true"]}},
                              '"build" is not available')):
            r = c.request_error("launch", dict(args, kubeconfig=C.kubeconfig, namespace=C.ns))
            self.assertIn(needle, r["body"]["error"]["format"])
        c.request("disconnect", {})
        c.wait_exit(10)


class TestRestore(unittest.TestCase):
    def test_restore_puts_the_spec_back_exactly(self):
        C.kubectl("apply", "--server-side", "--field-manager", "test", "-f", "-",
                  stdin=json.dumps(deployment("svc-a")))
        C.kubectl("rollout", "status", "deployment/svc-a", "--timeout=60s", timeout=70)
        before, ann = spec_of("svc-a")
        self.assertNotIn(ANN, ann)
        debug = crashed_launch("svc-a", "s-crashed")
        patched, _ = spec_of("svc-a")
        self.assertEqual(patched["template"]["spec"]["containers"][0]["image"], debug)
        self.assertNotEqual(patched, before)

        p = C.kdap("restore", "--namespace", C.ns, "deployment/svc-a")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("deployments/svc-a: restored (patched by kdap session s-crashed)",
                      p.stdout)
        after, ann = spec_of("svc-a")
        self.assertEqual(after, before)
        self.assertNotIn(ANN, ann)
        C.kubectl("rollout", "status", "deployment/svc-a", "--timeout=60s", timeout=70)

        # nothing left: a second restore says so and changes nothing
        p = C.kdap("restore", "--namespace", C.ns, "deployment/svc-a")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("deployments/svc-a: nothing to restore", p.stdout)
        self.assertEqual(spec_of("svc-a")[0], before)

    def test_restore_of_the_namespace_keeps_a_change_made_meanwhile(self):
        C.kubectl("apply", "--server-side", "--field-manager", "test", "-f", "-",
                  stdin=json.dumps(deployment("svc-b")))
        before, _ = spec_of("svc-b")
        crashed_launch("svc-b", "s-gone")
        C.kubectl("scale", "deployment/svc-b", "--replicas=4")

        p = C.kdap("restore", "--namespace", C.ns)  # all the namespace's patched ones
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("deployments/svc-b: restored (patched by kdap session s-gone); "
                      "replicas were changed to 4 during the session: kept", p.stdout)
        self.assertNotIn("svc-a", p.stdout)
        after, ann = spec_of("svc-b")
        self.assertNotIn(ANN, ann)
        self.assertEqual(after["replicas"], 4)
        before["replicas"] = 4
        self.assertEqual(after, before)

    def test_restore_refuses_bad_arguments(self):
        p = C.kdap("restore", "--namespace", C.ns, "svc-a")
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: kdap restore", p.stderr)
        p = C.kdap("restore", "--namespace", C.ns, "pod/x")
        self.assertEqual(p.returncode, 2)
        p = C.kdap("restore", "--namespace", C.ns, "deployment/missing")
        self.assertEqual(p.returncode, 1)
        self.assertIn("deployments/missing", p.stderr)


if __name__ == "__main__":
    unittest.main()
