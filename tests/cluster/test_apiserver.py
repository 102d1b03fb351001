#!/usr/bin/python3
"""Tests of the simulated API server alone (no kubelet), with the real kubectl and Debian's
python3-kubernetes.  The kubelet's part (pod status, final deletion) is simulated by PATCHing
pod status / DELETE with grace 0 through the API, with the kubelet's credentials.

    /usr/bin/python3 tests/cluster/test_apiserver.py            (or -m unittest from tests/cluster)
"""

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from api_testlib import (ApiServerProc, HERE, simulate_kubelet_finalize,  # noqa: E402
                         simulate_kubelet_start, wait_for)

MANIFEST = os.path.join(HERE, "manifests", "go-hello.yaml")
NAME_RE = r"^go-hello-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$"
HISTORY = 150


def setUpModule():
    global S
    warnings.simplefilter("ignore", ResourceWarning)  # python3-kubernetes leaves pooled sockets open
    S = ApiServerProc(env={"KDAP_APISERVER_WATCH_HISTORY": str(HISTORY),
                           "KDAP_APISERVER_BOOKMARK_SECONDS": "1"}).start()


def tearDownModule():
    S.stop()


def pods_json(ns, selector="app=go-hello"):
    p = S.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json")
    return json.loads(p.stdout)["items"]


def make_pod(ns, name, image="127.0.0.1:5000/kdap/go-hello:latest", **spec):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": dict({"containers": [{"name": "app", "image": image}]}, **spec)}
    st, obj = S.rawj("POST", "/api/v1/namespaces/%s/pods" % ns, body)
    assert st == 201, (st, obj)
    return obj


class T01Discovery(unittest.TestCase):
    def test_version_and_discovery(self):
        v = json.loads(S.kubectl("version", "-o", "json").stdout)
        self.assertEqual(v["serverVersion"]["major"], "1")
        self.assertEqual(v["serverVersion"]["minor"], "31")
        out = S.kubectl("api-resources").stdout
        for line in ("pods", "po", "deployments", "deploy", "replicasets", "services", "namespaces",
                     "selfsubjectaccessreviews"):
            self.assertRegex(out, r"(?m)\b%s\b" % line)
        st, api = S.rawj("GET", "/api")
        self.assertEqual((st, api["kind"], api["versions"]), (200, "APIVersions", ["v1"]))
        st, res = S.rawj("GET", "/apis/apps/v1")
        names = {r["name"] for r in res["resources"]}
        self.assertTrue({"deployments", "deployments/status", "deployments/scale", "replicasets"} <= names)
        st, res = S.rawj("GET", "/api/v1")
        names = {r["name"] for r in res["resources"]}
        self.assertTrue({"pods/exec", "pods/portforward", "pods/log", "pods/ephemeralcontainers",
                         "pods/status"} <= names)
        st, nodes = S.rawj("GET", "/api/v1/nodes")
        self.assertEqual([n["metadata"]["name"] for n in nodes["items"]], ["kdap-node"])
        out = S.kubectl("get", "ns", "kdap-baseline", "--show-labels").stdout
        self.assertIn("pod-security.kubernetes.io/enforce=baseline", out)
        self.assertEqual(S.raw("GET", "/healthz", token=None)[0], 200)
        self.assertEqual(S.raw("GET", "/version", token=None)[0], 200)
        self.assertEqual(S.raw("GET", "/api/v1/pods", token=None)[0], 403)


class T02Rollout(unittest.TestCase):
    NS = "t-rollout"

    def test_apply_rollout_get_delete(self):
        ns = self.NS
        S.kubectl("create", "namespace", ns)
        out = S.kubectl("apply", "-n", ns, "-f", MANIFEST).stdout
        self.assertIn("deployment.apps/go-hello created", out)
        self.assertIn("service/go-hello created", out)
        pods = wait_for(lambda: pods_json(ns), what="controller-created pod")
        self.assertEqual(len(pods), 1)
        pod = pods[0]
        self.assertRegex(pod["metadata"]["name"], NAME_RE)
        self.assertEqual(pod["metadata"]["generateName"], pod["metadata"]["name"][:-5])
        ref = pod["metadata"]["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["controller"], ref["apiVersion"]), ("ReplicaSet", True, "apps/v1"))
        self.assertEqual(pod["spec"]["nodeName"], "kdap-node")
        self.assertEqual(pod["spec"]["containers"][0]["ports"][0], {"name": "http", "containerPort": 8080,
                                                                    "protocol": "TCP"})
        self.assertEqual(pod["status"]["phase"], "Pending")
        self.assertTrue(pod["metadata"]["uid"] and pod["metadata"]["creationTimestamp"])
        hash1 = pod["metadata"]["labels"]["pod-template-hash"]
        self.assertEqual(ref["name"], "go-hello-" + hash1)

        # not rolled out yet: rollout status times out
        p = S.kubectl("rollout", "status", "deployment/go-hello", "-n", ns, "--timeout=1s", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("0 of 1 updated replicas are available", p.stdout)

        simulate_kubelet_start(S, ns)
        out = S.kubectl("rollout", "status", "deployment/go-hello", "-n", ns, "--timeout=20s").stdout
        self.assertIn('deployment "go-hello" successfully rolled out', out)
        out = S.kubectl("get", "deploy", "-n", ns).stdout
        self.assertRegex(out, r"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE")
        self.assertRegex(out, r"go-hello\s+1/1\s+1\s+1\s+\d+s")
        out = S.kubectl("get", "pods", "-n", ns).stdout
        self.assertRegex(out, r"go-hello-\S+\s+1/1\s+Running\s+0\s+")
        out = S.kubectl("get", "svc", "go-hello", "-n", ns).stdout
        self.assertRegex(out, r"go-hello\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80/TCP")
        d = json.loads(S.kubectl("get", "deploy", "go-hello", "-n", ns, "-o", "json").stdout)
        self.assertEqual(d["metadata"]["generation"], 1)
        self.assertEqual(d["status"]["observedGeneration"], 1)
        self.assertEqual(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1")
        conds = {c["type"]: c for c in d["status"]["conditions"]}
        self.assertEqual(conds["Available"]["reason"], "MinimumReplicasAvailable")
        self.assertEqual(conds["Progressing"]["reason"], "NewReplicaSetAvailable")

        # template change: new ReplicaSet, revision 2, old one scaled down once the new pod is up
        S.kubectl("set", "image", "deployment/go-hello", "-n", ns, "app=127.0.0.1:5000/kdap/go-hello:v2")
        d = json.loads(S.kubectl("get", "deploy", "go-hello", "-n", ns, "-o", "json").stdout)
        self.assertEqual(d["metadata"]["generation"], 2)
        new = wait_for(lambda: [p for p in pods_json(ns) if p["metadata"]["labels"]["pod-template-hash"] != hash1],
                       what="pod of the new ReplicaSet")
        rs = json.loads(S.kubectl("get", "rs", "-n", ns, "-o", "json").stdout)["items"]
        revs = {r["metadata"]["name"]: r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rs}
        self.assertEqual(revs["go-hello-" + hash1], "1")
        self.assertEqual(revs[new[0]["metadata"]["ownerReferences"][0]["name"]], "2")
        old_rs = [r for r in rs if r["metadata"]["name"] == "go-hello-" + hash1][0]
        self.assertEqual(old_rs["spec"]["replicas"], 1, "old RS kept until the new pod is available")
        p = S.kubectl("rollout", "status", "deployment/go-hello", "-n", ns, "--timeout=1s", check=False)
        self.assertNotEqual(p.returncode, 0)
        simulate_kubelet_start(S, ns)
        out = S.kubectl("rollout", "status", "deployment/go-hello", "-n", ns, "--timeout=20s").stdout
        self.assertIn("successfully rolled out", out)
        old_rs = json.loads(S.kubectl("get", "rs", "go-hello-" + hash1, "-n", ns, "-o", "json").stdout)
        self.assertEqual(old_rs["spec"]["replicas"], 0)
        old_pods = [p for p in pods_json(ns) if p["metadata"]["labels"]["pod-template-hash"] == hash1]
        self.assertTrue(all(p["metadata"].get("deletionTimestamp") for p in old_pods))
        self.assertEqual(old_pods[0]["metadata"]["deletionGracePeriodSeconds"], 30)
        out = S.kubectl("get", "pods", "-n", ns).stdout
        self.assertIn("Terminating", out)
        simulate_kubelet_finalize(S, ns)
        d = json.loads(S.kubectl("get", "deploy", "go-hello", "-n", ns, "-o", "json").stdout)
        self.assertEqual(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2")
        self.assertEqual((d["status"]["replicas"], d["status"]["updatedReplicas"],
                          d["status"]["availableReplicas"], d["status"]["observedGeneration"]), (1, 1, 1, 2))

        # scale subresource
        S.kubectl("scale", "deployment/go-hello", "-n", ns, "--replicas=2")
        wait_for(lambda: len(pods_json(ns)) == 2, what="scale to 2")

        # delete cascades (background): ReplicaSets go, pods are marked for graceful deletion
        out = S.kubectl("delete", "-n", ns, "-f", MANIFEST).stdout
        self.assertIn('deployment.apps "go-hello" deleted', out)
        self.assertIn('service "go-hello" deleted', out)
        wait_for(lambda: not json.loads(S.kubectl("get", "rs", "-n", ns, "-o", "json").stdout)["items"],
                 what="ReplicaSets garbage-collected")
        wait_for(lambda: all(p["metadata"].get("deletionTimestamp") for p in pods_json(ns)), what="pods terminating")
        simulate_kubelet_finalize(S, ns)
        self.assertEqual(pods_json(ns), [])
        p = S.kubectl("get", "deploy", "go-hello", "-n", ns, check=False)
        self.assertIn('Error from server (NotFound): deployments.apps "go-hello" not found', p.stderr)

        # deleting the namespace removes what is left in it
        S.kubectl("create", "configmap", "left-over", "-n", ns, "--from-literal=a=b")
        S.kubectl("delete", "namespace", ns, "--timeout=15s")
        p = S.kubectl("get", "ns", ns, check=False)
        self.assertIn('namespaces "%s" not found' % ns, p.stderr)


class T03Auth(unittest.TestCase):
    def test_whoami_and_can_i(self):
        out = S.kubectl("auth", "whoami").stdout
        self.assertRegex(out, r"Username\s+admin")
        out = S.kubectl("auth", "whoami", context="alice-cert").stdout
        self.assertRegex(out, r"Username\s+alice")
        self.assertRegex(out, r"Groups\s+\[devs system:authenticated\]")
        self.assertEqual(S.kubectl("auth", "can-i", "create", "pods").stdout.strip(), "yes")
        p = S.kubectl("auth", "can-i", "create", "pods/exec", context="restricted", check=False)
        self.assertEqual((p.returncode, p.stdout.strip()), (1, "no"))
        p = S.kubectl("auth", "can-i", "patch", "pods", "--subresource=ephemeralcontainers",
                      context="restricted", check=False)
        self.assertEqual(p.stdout.strip(), "no")
        self.assertEqual(S.kubectl("auth", "can-i", "list", "pods", context="restricted").stdout.strip(), "yes")
        # impersonation: admin may, others may not
        self.assertEqual(S.kubectl("auth", "can-i", "delete", "pods", "--as=restricted", check=False).stdout.strip(), "no")
        p = S.kubectl("get", "pods", "--as=admin", context="restricted", check=False)
        self.assertIn('users "admin" is forbidden: User "restricted" cannot impersonate resource "users" in API '
                      'group "" at the cluster scope', p.stderr)

    def test_401_bad_token(self):
        # with discovery cached (as after any earlier command), the 401 Status of the list is shown
        S.kubectl("get", "pods")
        p = S.kubectl("get", "pods", context="bad-token", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("error: You must be logged in to the server (Unauthorized)", p.stderr)
        # without a discovery cache the discovery request fails first (client-go's generic 401 text)
        p = S.kubectl("get", "pods", "--cache-dir", os.path.join(S.dir, "empty-cache"), context="bad-token",
                      check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("error: You must be logged in to the server (the server has asked for the client to "
                      "provide credentials)", p.stderr)
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods", token="not-a-token")
        self.assertEqual((st, body), (401, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                            "status": "Failure", "message": "Unauthorized",
                                            "reason": "Unauthorized", "code": 401}))

    def test_403_restricted_and_policy_reload(self):
        make_pod("default", "authz-target")
        p = S.kubectl("delete", "pod", "authz-target", context="restricted", check=False)
        self.assertIn('Error from server (Forbidden): pods "authz-target" is forbidden: User "restricted" cannot '
                      'delete resource "pods" in API group "" in the namespace "default"', p.stderr)
        p = S.kubectl("debug", "authz-target", "--image=busybox", "--target=app", "--profile=general",
                      context="restricted", check=False)
        self.assertIn('pods "authz-target" is forbidden: User "restricted" cannot patch resource '
                      '"pods/ephemeralcontainers" in API group "" in the namespace "default"', p.stderr)
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/authz-target/portforward?ports=8080",
                          token="restricted")
        self.assertEqual((st, body["reason"], body["details"]), (403, "Forbidden",
                                                                 {"name": "authz-target", "kind": "pods"}))
        self.assertIn('cannot get resource "pods/portforward"', body["message"])
        # the policy is re-read on change: forbid alice to list deployments
        path = os.path.join(S.dir, "authz.json")
        with open(path) as f:
            saved = f.read()
        pol = json.loads(saved)
        pol["alice"] = [{"verb": "list", "resource": "deployments", "apiGroup": "apps"}]
        with open(path, "w") as f:
            json.dump(pol, f)
        try:
            p = S.kubectl("get", "deploy", "-n", "kube-system", context="alice-cert", check=False)
            self.assertIn('Error from server (Forbidden): deployments.apps is forbidden: User "alice" cannot list '
                          'resource "deployments" in API group "apps" in the namespace "kube-system"', p.stderr)
        finally:
            with open(path, "w") as f:
                f.write(saved)
        S.kubectl("delete", "pod", "authz-target", "--grace-period=0", "--force", "--wait=false")


class T04DebugAndPodSecurity(unittest.TestCase):
    def test_restricted(self):
        """restricted = baseline + its own checks: kdap's node debug container as the target's
        non-root user passes, the same as root with KILL does not."""
        S.kubectl("create", "ns", "t-psa-r")
        S.kubectl("label", "ns", "t-psa-r", "pod-security.kubernetes.io/enforce=restricted")
        locked = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                  "runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
        ok = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok"},
              "spec": {"containers": [{"name": "c", "image": "x", "securityContext": locked}]}}
        st, obj = S.rawj("POST", "/api/v1/namespaces/t-psa-r/pods", ok)
        self.assertEqual(st, 201, obj)
        root = dict(locked, capabilities={"drop": ["ALL"], "add": ["KILL"]}, runAsUser=0, runAsNonRoot=False)
        bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
               "spec": {"containers": [{"name": "c", "image": "x", "securityContext": root},
                                       {"name": "d", "image": "x"}]}}
        st, obj = S.rawj("POST", "/api/v1/namespaces/t-psa-r/pods", bad)
        self.assertEqual((st, obj["reason"]), (403, "Forbidden"))
        for part in ('allowPrivilegeEscalation != false (container "d" must set '
                     'securityContext.allowPrivilegeEscalation=false)',
                     'unrestricted capabilities (container "d" must set securityContext.capabilities.drop=["ALL"]; '
                     'container "c" must not include "KILL" in securityContext.capabilities.add)',
                     'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)',
                     'runAsUser=0 (container "c" must not set runAsUser=0)',
                     'seccompProfile (pod or container "d" must set securityContext.seccompProfile.type to '
                     '"RuntimeDefault" or "Localhost")'):
            self.assertIn(part, obj["message"])
        self.assertIn('violates PodSecurity "restricted:latest"', obj["message"])

    def test_debug_general_and_baseline(self):
        make_pod("default", "dbg-target")
        p = S.kubectl("debug", "dbg-target", "--image=127.0.0.1:5000/kdap/dbg:latest", "--target=app",
                      "--profile=general", "-c", "dbg", "--", "sleep", "100")
        pod = json.loads(S.kubectl("get", "pod", "dbg-target", "-o", "json").stdout)
        ec = pod["spec"]["ephemeralContainers"][0]
        self.assertEqual((ec["name"], ec["targetContainerName"], ec["command"]), ("dbg", "app", ["sleep", "100"]))
        self.assertEqual(ec["securityContext"]["capabilities"]["add"], ["SYS_PTRACE"])
        self.assertEqual(ec["terminationMessagePolicy"], "File")

        make_pod("kdap-baseline", "psa-target")
        p = S.kubectl("debug", "psa-target", "-n", "kdap-baseline", "--image=busybox", "--target=app",
                      "--profile=general", "-c", "dbg", check=False)
        self.assertIn('Error from server (Forbidden): pods "psa-target" is forbidden: violates PodSecurity '
                      '"baseline:latest": non-default capabilities (container "dbg" must not include '
                      '"SYS_PTRACE" in securityContext.capabilities.add)', p.stderr)
        # the legacy profile adds nothing, so it is allowed
        S.kubectl("debug", "psa-target", "-n", "kdap-baseline", "--image=busybox", "--target=app",
                  "--profile=legacy", "-c", "dbg2")
        # pods themselves, and any namespace carrying the label
        S.kubectl("create", "ns", "t-psa")
        S.kubectl("label", "ns", "t-psa", "pod-security.kubernetes.io/enforce=baseline")
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv"},
                "spec": {"hostPID": True, "containers": [{"name": "c", "image": "x", "securityContext": {
                    "privileged": True, "capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}}]}}
        st, obj = S.rawj("POST", "/api/v1/namespaces/t-psa/pods", body)
        self.assertEqual((st, obj["reason"]), (403, "Forbidden"))
        self.assertEqual(obj["message"], 'pods "priv" is forbidden: violates PodSecurity "baseline:latest": host '
                         'namespaces (hostPID=true), privileged (container "c" must not set '
                         'securityContext.privileged=true), non-default capabilities (container "c" must not '
                         'include "NET_ADMIN" in securityContext.capabilities.add)'.replace("), ", "); ", 2))
        # workloads: a warning at create time, then the ReplicaSet cannot create its pods
        manifest = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ptrace"},
                               "spec": {"selector": {"matchLabels": {"app": "ptrace"}}, "template": {
                                   "metadata": {"labels": {"app": "ptrace"}}, "spec": {"containers": [{
                                       "name": "c", "image": "x", "securityContext": {"capabilities": {
                                           "add": ["SYS_PTRACE"]}}}]}}}})
        p = S.kubectl("apply", "-n", "t-psa", "-f", "-", input=manifest)
        self.assertIn('Warning: would violate PodSecurity "baseline:latest": non-default capabilities (container '
                      '"c" must not include "SYS_PTRACE" in securityContext.capabilities.add)', p.stderr)

        def failure():
            d = json.loads(S.kubectl("get", "deploy", "ptrace", "-n", "t-psa", "-o", "json").stdout)
            return [c for c in d["status"].get("conditions") or [] if c["type"] == "ReplicaFailure"]
        cond = wait_for(failure, what="ReplicaFailure condition")[0]
        self.assertEqual(cond["reason"], "FailedCreate")
        self.assertIn('violates PodSecurity "baseline:latest"', cond["message"])
        self.assertEqual(json.loads(S.kubectl("get", "pods", "-n", "t-psa", "-o", "json").stdout)["items"], [])
        S.kubectl("delete", "ns", "t-psa", "--wait=false")

    def test_ephemeral_validation(self):
        from kubernetes import client
        from kubernetes.client.rest import ApiException
        v1 = client.CoreV1Api(S.client())
        make_pod("default", "eph-target")

        def patch(containers):
            return v1.patch_namespaced_pod_ephemeralcontainers(
                "eph-target", "default", {"spec": {"ephemeralContainers": containers}})

        def expect_422(containers, field, msg):
            with self.assertRaises(ApiException) as cm:
                patch(containers)
            self.assertEqual(cm.exception.status, 422)
            body = json.loads(cm.exception.body)
            self.assertEqual((body["kind"], body["reason"], body["code"]), ("Status", "Invalid", 422))
            self.assertEqual(body["details"]["kind"], "Pod")
            causes = {(c["field"], c["message"]) for c in body["details"]["causes"]}
            self.assertIn((field, msg), causes)
            self.assertIn('Pod "eph-target" is invalid: ', body["message"])

        expect_422([{"name": "d", "image": "x", "ports": [{"containerPort": 1}]}],
                   "spec.ephemeralContainers[0].ports", "Forbidden: cannot be set for an Ephemeral Container")
        expect_422([{"name": "d", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}],
                   "spec.ephemeralContainers[0].readinessProbe", "Forbidden: cannot be set for an Ephemeral Container")
        expect_422([{"name": "d", "image": "x", "resources": {"limits": {"cpu": "1"}}}],
                   "spec.ephemeralContainers[0].resources", "Forbidden: cannot be set for an Ephemeral Container")
        expect_422([{"name": "d", "image": "x", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}],
                   "spec.ephemeralContainers[0].lifecycle", "Forbidden: cannot be set for an Ephemeral Container")
        expect_422([{"name": "app", "image": "x"}], "spec.ephemeralContainers[0].name", 'Duplicate value: "app"')
        expect_422([{"name": "d", "image": "x", "targetContainerName": "nope"}],
                   "spec.ephemeralContainers[0].targetContainerName", 'Not found: "nope"')
        expect_422([{"name": "d"}], "spec.ephemeralContainers[0].image", "Required value")
        pod = patch([{"name": "d1", "image": "x", "targetContainerName": "app", "resources": {}}])
        self.assertEqual(pod.spec.ephemeral_containers[0].name, "d1")
        expect_422([{"name": "d1", "image": "y", "targetContainerName": "app"}], "spec.ephemeralContainers",
                   'Forbidden: existing ephemeral containers "d1" may not be changed')
        # JSON patch variant appends; removing is forbidden
        st, obj = S.rawj("PATCH", "/api/v1/namespaces/default/pods/eph-target/ephemeralcontainers",
                         [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "d2", "image": "z"}}],
                         ctype="application/json-patch+json")
        self.assertEqual(st, 200, obj)
        self.assertEqual([c["name"] for c in obj["spec"]["ephemeralContainers"]], ["d1", "d2"])
        st, obj = S.rawj("PATCH", "/api/v1/namespaces/default/pods/eph-target/ephemeralcontainers",
                         [{"op": "remove", "path": "/spec/ephemeralContainers/0"}],
                         ctype="application/json-patch+json")
        self.assertEqual(st, 422)
        self.assertIn('existing ephemeral containers "d1" may not be removed', obj["message"])
        # changes outside spec.ephemeralContainers are ignored by this subresource
        st, obj = S.rawj("PATCH", "/api/v1/namespaces/default/pods/eph-target/ephemeralcontainers",
                         {"metadata": {"labels": {"x": "y"}}, "spec": {"ephemeralContainers": [{"name": "d3", "image": "z"}]}},
                         ctype="application/strategic-merge-patch+json")
        self.assertEqual(st, 200)
        self.assertNotIn("x", obj["metadata"]["labels"])
        self.assertEqual(len(obj["spec"]["ephemeralContainers"]), 3)


class T05StatusErrors(unittest.TestCase):
    def test_status_objects(self):
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/nope")
        self.assertEqual((st, body), (404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                            "message": 'pods "nope" not found', "reason": "NotFound",
                                            "details": {"name": "nope", "kind": "pods"}, "code": 404}))
        st, body = S.rawj("GET", "/apis/apps/v1/namespaces/default/deployments/nope")
        self.assertEqual((st, body["message"], body["details"]),
                         (404, 'deployments.apps "nope" not found', {"name": "nope", "group": "apps", "kind": "deployments"}))
        st, body = S.rawj("GET", "/api/v1/namespaces/default/widgets")
        self.assertEqual((st, body["message"], body["details"]), (404, "the server could not find the requested resource", {}))
        pod = make_pod("default", "err-target")
        st, body = S.rawj("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "err-target"},
                                                                       "spec": {"containers": [{"name": "a", "image": "b"}]}})
        self.assertEqual((st, body["reason"], body["message"]), (409, "AlreadyExists", 'pods "err-target" already exists'))
        # optimistic concurrency
        pod["metadata"]["labels"]["v"] = "1"
        st, upd = S.rawj("PUT", "/api/v1/namespaces/default/pods/err-target", pod)
        self.assertEqual(st, 200)
        self.assertGreater(int(upd["metadata"]["resourceVersion"]), int(pod["metadata"]["resourceVersion"]))
        pod["metadata"]["labels"]["v"] = "2"
        st, body = S.rawj("PUT", "/api/v1/namespaces/default/pods/err-target", pod)
        self.assertEqual((st, body["reason"]), (409, "Conflict"))
        self.assertEqual(body["message"], 'Operation cannot be fulfilled on pods "err-target": the object has been '
                         'modified; please apply your changes to the latest version and try again')
        # 422 with causes
        st, body = S.rawj("POST", "/api/v1/namespaces/default/pods",
                          {"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "a"}]}})
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["message"], 'Pod "bad" is invalid: spec.containers[0].image: Required value')
        self.assertEqual(body["details"], {"name": "bad", "kind": "Pod", "causes": [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}]})
        st, body = S.rawj("PUT", "/api/v1/namespaces/default/pods/err-target",
                          dict(upd, spec=dict(upd["spec"], restartPolicy="Never")))
        self.assertEqual(st, 422)
        self.assertIn("pod updates may not change fields other than", body["message"])
        # 415, 400, 405, 404 namespace
        st, body = S.rawj("PATCH", "/api/v1/namespaces/default/pods/err-target", {"a": 1}, ctype="text/plain")
        self.assertEqual((st, body["reason"]), (415, "UnsupportedMediaType"))
        st, body = S.rawj("POST", "/api/v1/namespaces/default/pods", "{not json")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))
        st, body = S.rawj("POST", "/api/v1/namespaces/default/pods/err-target", {})
        self.assertEqual((st, body["reason"]), (405, "MethodNotAllowed"))
        st, body = S.rawj("POST", "/api/v1/namespaces/nope/pods", {"metadata": {"name": "x"}})
        self.assertEqual((st, body["message"]), (404, 'namespaces "nope" not found'))
        st, body = S.rawj("PATCH", "/apis/apps/v1/namespaces/default/deployments/x", {"a": 1},
                          ctype="application/apply-patch+yaml")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))
        # a pod not started by a kubelet, deleted with grace 0, goes at once
        st, body = S.rawj("DELETE", "/api/v1/namespaces/default/pods/err-target?gracePeriodSeconds=0")
        self.assertEqual(st, 200)
        self.assertEqual(S.raw("GET", "/api/v1/namespaces/default/pods/err-target")[0], 404)


class T06Patches(unittest.TestCase):
    def test_patch_kinds(self):
        S.kubectl("create", "deployment", "patchme", "--image=img:1", "--port=8080", "-n", "default")
        base = "/apis/apps/v1/namespaces/default/deployments/patchme"
        smp = {"spec": {"template": {"spec": {"containers": [
            {"name": "img", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 9229}]},
            {"name": "side", "image": "side:1"}]}}}}
        st, d = S.rawj("PATCH", base, smp, ctype="application/strategic-merge-patch+json")
        self.assertEqual(st, 200, d)
        cs = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in cs], ["img", "side"])
        self.assertEqual(cs[0]["image"], "img:1")
        self.assertEqual([p["containerPort"] for p in cs[0]["ports"]], [8080, 9229])
        self.assertEqual(d["metadata"]["generation"], 2)
        st, d = S.rawj("PATCH", base, {"spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"}, {"name": "img", "env": [{"name": "B", "value": "2"}]}]}}}},
            ctype="application/strategic-merge-patch+json")
        cs = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in cs], ["img"])
        self.assertEqual([e["name"] for e in cs[0]["env"]], ["A", "B"])
        st, d = S.rawj("PATCH", base, {"metadata": {"labels": {"m": "1", "app": None}}},
                       ctype="application/merge-patch+json")
        self.assertEqual(d["metadata"]["labels"], {"m": "1"})
        st, d = S.rawj("PATCH", base, [{"op": "replace", "path": "/spec/replicas", "value": 0},
                                       {"op": "test", "path": "/metadata/labels/m", "value": "1"}],
                       ctype="application/json-patch+json")
        self.assertEqual((st, d["spec"]["replicas"]), (200, 0))
        st, d = S.rawj("PATCH", base, [{"op": "test", "path": "/metadata/labels/m", "value": "2"}],
                       ctype="application/json-patch+json")
        self.assertEqual((st, d["reason"]), (422, "Invalid"))
        st, d = S.rawj("PATCH", base, {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}},
                       ctype="application/merge-patch+json")
        self.assertEqual((st, d["reason"]), (409, "Conflict"))
        # kubectl patch and server-side apply
        S.kubectl("patch", "deployment", "patchme", "-p", '{"spec":{"replicas":2}}')
        self.assertEqual(S.kubectl("get", "deploy", "patchme", "-o", "jsonpath={.spec.replicas}").stdout, "2")
        out = S.kubectl("apply", "--server-side", "-n", "t-ssa", "-f", MANIFEST, check=False)
        self.assertIn('namespaces "t-ssa" not found', out.stderr)
        S.kubectl("create", "ns", "t-ssa")
        out = S.kubectl("apply", "--server-side", "-n", "t-ssa", "-f", MANIFEST).stdout
        self.assertIn("deployment.apps/go-hello serverside-applied", out)
        out = S.kubectl("apply", "--server-side", "-n", "t-ssa", "-f", MANIFEST).stdout
        self.assertIn("deployment.apps/go-hello serverside-applied", out)
        S.kubectl("delete", "ns", "t-ssa", "--wait=false")
        S.kubectl("delete", "deployment", "patchme")

    def test_selectors(self):
        for i, app in enumerate(("sel-a", "sel-b")):
            make_pod("default", "%s-pod" % app)
        out = S.kubectl("get", "pods", "-l", "app in (sel-a-pod,sel-b-pod)", "-o", "name").stdout.split()
        self.assertEqual(out, ["pod/sel-a-pod", "pod/sel-b-pod"])
        out = S.kubectl("get", "pods", "-l", "app!=sel-a-pod,app", "--field-selector",
                        "metadata.name=sel-b-pod,spec.nodeName=kdap-node,status.phase=Pending", "-o", "name").stdout
        self.assertEqual(out.split(), ["pod/sel-b-pod"])
        p = S.kubectl("get", "pods", "--field-selector", "spec.bogus=1", check=False)
        self.assertIn("field label not supported: spec.bogus", p.stderr)
        S.kubectl("delete", "pods", "-l", "app in (sel-a-pod,sel-b-pod)", "--grace-period=0", "--force")


class T07Watch(unittest.TestCase):
    def test_watch_rv_bookmark_and_expired(self):
        from kubernetes import client, watch
        from kubernetes.client.rest import ApiException
        v1 = client.CoreV1Api(S.client())
        make_pod("default", "watched")
        lst = v1.list_namespaced_pod("default", field_selector="metadata.name=watched")
        rv0 = lst.metadata.resource_version
        self.assertEqual(len(lst.items), 1)

        def bump(i):
            v1.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"n": str(i)}}})
        bump(1)
        w = watch.Watch()
        seen = []
        for ev in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=watched",
                           resource_version=rv0, allow_watch_bookmarks=True, timeout_seconds=4):
            seen.append((ev["type"], ev["raw_object"]["metadata"]["resourceVersion"]))
            if ev["type"] == "MODIFIED":
                self.assertEqual(ev["object"].metadata.labels["n"], "1")
            if ev["type"] == "BOOKMARK":
                self.assertEqual(ev["raw_object"]["kind"], "Pod")
                self.assertEqual(set(ev["raw_object"]["metadata"]), {"resourceVersion"})
                w.stop()
                break
        self.assertEqual(seen[0][0], "MODIFIED", seen)   # only events after rv0
        self.assertEqual(seen[-1][0], "BOOKMARK", seen)
        self.assertGreaterEqual(int(seen[-1][1]), int(seen[0][1]))
        # unset resourceVersion: ADDED for the current state
        w = watch.Watch()
        evs = [e["type"] for e in w.stream(v1.list_namespaced_pod, "default",
                                           field_selector="metadata.name=watched", timeout_seconds=1)]
        self.assertEqual(evs, ["ADDED"])
        # rv older than the history window: 410 Expired (the client retries once, then raises)
        for i in range(HISTORY + 10):
            bump(i + 2)
        with self.assertRaises(ApiException) as cm:
            for _ in watch.Watch().stream(v1.list_namespaced_pod, "default", resource_version=rv0,
                                          timeout_seconds=2):
                pass
        self.assertEqual(cm.exception.status, 410)
        self.assertIn("Expired: too old resource version: %s" % rv0, cm.exception.reason)
        # raw: the ERROR event, then end of stream
        st, h, data = S.raw("GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=%s" % rv0)
        self.assertEqual(st, 200)
        ev = json.loads(data.decode().splitlines()[0])
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual({k: ev["object"][k] for k in ("kind", "status", "reason", "code")},
                         {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410})
        # WatchList: ADDED for everything, then the initial-events-end bookmark
        st, h, data = S.raw("GET", "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true"
                            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
                            "&fieldSelector=metadata.name%3Dwatched")
        evs = [json.loads(x) for x in data.decode().splitlines()]
        self.assertEqual(evs[0]["type"], "ADDED")
        self.assertEqual(evs[1]["type"], "BOOKMARK")
        self.assertEqual(evs[1]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true")
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        # label selector transitions: a pod that stops matching is DELETED for the watcher
        v1.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"phase": "a"}}})
        lst = v1.list_namespaced_pod("default", label_selector="phase=a")
        got = []

        def later():
            time.sleep(0.3)
            v1.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"phase": "b"}}})
        threading.Thread(target=later).start()
        for ev in watch.Watch().stream(v1.list_namespaced_pod, "default", label_selector="phase=a",
                                       resource_version=lst.metadata.resource_version, timeout_seconds=2):
            got.append(ev["type"])
            break
        self.assertEqual(got, ["DELETED"])
        v1.delete_namespaced_pod("watched", "default", grace_period_seconds=0)


class FakeKubelet:
    """Accepts one proxied connection, records the request head, answers 101 and echoes bytes
    (upgrade) or a plain HTTP response (logs)."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.heads = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        head = head.decode()
        self.heads.append(head)
        if "upgrade: websocket" in head.lower():
            key = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", head).group(1)
            acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + acc + b"\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n")
            if rest:
                c.sendall(rest)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        else:
            body = b"line one\nline two\n"
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
        c.close()

    def close(self):
        self.ls.close()


class T08KubeletProxy(unittest.TestCase):
    def test_proxy_paths(self):
        make_pod("default", "px")
        # pod exists but is not running / kubelet absent
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/px/portforward?ports=8080")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/nope/exec?command=ls")
        self.assertEqual((st, body["message"]), (404, 'pods "nope" not found'))
        simulate_kubelet_start(S, "default", names=["px"])
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/px/exec?command=ls&container=zzz")
        self.assertEqual((st, body["message"]), (400, "container zzz is not valid for pod px"))
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/px/portforward?ports=0")
        self.assertEqual(st, 400)
        portfile = os.path.join(S.dir, "kubelet.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        st, body = S.rawj("GET", "/api/v1/namespaces/default/pods/px/log")
        self.assertEqual((st, body["reason"]), (503, "ServiceUnavailable"))

        kl = FakeKubelet()
        with open(portfile, "w") as f:
            f.write("%d\n" % kl.port)
        try:
            out = S.kubectl("logs", "px").stdout
            self.assertEqual(out, "line one\nline two\n")
            self.assertTrue(kl.heads[-1].startswith("GET /containerLogs/default/px/app HTTP/1.1"), kl.heads[-1])
            S.kubectl("logs", "-f", "--tail=5", "--timestamps", "px")
            self.assertTrue(kl.heads[-1].startswith("GET /containerLogs/default/px/app?follow=true&tailLines=5"
                                                    "&timestamps=true HTTP/1.1") or
                            kl.heads[-1].split(" ")[1].startswith("/containerLogs/default/px/app?"), kl.heads[-1])
            q = kl.heads[-1].split(" ")[1].split("?")[1].split("&")
            self.assertTrue({"follow=true", "tailLines=5", "timestamps=true"} <= set(q), q)
            # WebSocket port-forward: ports re-encoded, bytes piped both ways
            pod = json.loads(S.kubectl("get", "pod", "px", "-o", "json").stdout)
            tls = ssl.create_default_context(cafile=os.path.join(S.dir, "pki", "ca.crt"))
            s = tls.wrap_socket(socket.create_connection(("127.0.0.1", S.port)), server_hostname="127.0.0.1")
            s.sendall(("GET /api/v1/namespaces/default/pods/px/portforward?ports=8080&ports=9229,2345 HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n" % S.tokens["admin"]).encode())
            resp = b""
            while b"\r\n\r\n" not in resp:
                resp += s.recv(4096)
            self.assertTrue(resp.startswith(b"HTTP/1.1 101"), resp)
            self.assertIn(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp)
            s.sendall(b"ping-bytes")
            got = resp.split(b"\r\n\r\n", 1)[1]
            while len(got) < 10:
                got += s.recv(4096)
            self.assertEqual(got, b"ping-bytes")
            s.close()
            head = kl.heads[-1]
            self.assertTrue(head.startswith("GET /portforward/default/px?port=8080,9229,2345 HTTP/1.1"), head)
            self.assertNotIn("authorization", head.lower())
            self.assertIn("X-Kdap-Pod-Uid: %s" % pod["metadata"]["uid"], head)
            self.assertIn("Sec-WebSocket-Protocol: v4.channel.k8s.io", head)
            # exec: command repeated, booleans re-encoded
            st, h, _ = S.raw("GET", "/api/v1/namespaces/default/pods/px/exec?command=cat&command=%2Fproc%2F1%2Fcmdline"
                             "&stdout=true&stderr=true", headers={
                                 "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                 "Sec-WebSocket-Protocol": "v5.channel.k8s.io,v4.channel.k8s.io"})
            self.assertEqual(st, 101)
            path = kl.heads[-1].split(" ")[1]
            self.assertTrue(path.startswith("/exec/default/px/app?command=cat&command=%2Fproc%2F1%2Fcmdline"), path)
            self.assertIn("stdout=1", path)
            self.assertIn("stderr=1", path)
            self.assertIn("stdin=0", path)
            self.assertIn("tty=0", path)
            self.assertIn("output=1", path)
        finally:
            kl.close()
            os.unlink(portfile)
        S.kubectl("delete", "pod", "px", "--grace-period=0", "--force")


if __name__ == "__main__":
    unittest.main(verbosity=2)
