#!/usr/bin/python3
"""launch's workload changes against the local cluster: a workload a crashed launch left patched
(the kdap.dev/launch annotation with the originals) is put back exactly by `kdap restore`,
through the API server's strategic merge patch; what someone else changed meanwhile is kept and
named.

    /usr/bin/python3 -m unittest -v test_launch        (from tests/e2e; needs root for the cluster)
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubecluster import module_cluster, module_cluster_done  # noqa: E402

C = None
GO_IMAGE = "127.0.0.1:5000/kdap/go-hello:latest"
ANN = "kdap.dev/launch"


def setUpModule():
    global C
    C = module_cluster(echo=False)


def tearDownModule():
    module_cluster_done(C)


def deployment(name, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "app", "image": GO_IMAGE,
                                         "env": [{"name": "PORT", "value": "8080"}],
                                         "livenessProbe": {"tcpSocket": {"port": 8080},
                                                           "periodSeconds": 5}}]}}}}


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
                  "livenessProbe": {"failureThreshold": 3, "timeoutSeconds": 1}}]}}}}}
    patch = {"metadata": {"annotations": {ANN: json.dumps(saved)}},
             "spec": {"replicas": 1, "template": {"spec": {"containers": [
                 {"name": "app", "image": debug,
                  "livenessProbe": {"failureThreshold": 100000, "timeoutSeconds": 60}}]}}}}
    C.kubectl("patch", "deployment/" + name, "--type", "strategic", "-p", json.dumps(patch))
    return debug


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
