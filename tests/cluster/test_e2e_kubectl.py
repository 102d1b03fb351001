#!/usr/bin/python3
"""End-to-end tests of the local cluster (API server + kubelet + registry + images), with the
real kubectl and Debian's python3-kubernetes.

Needs root (the kubelet uses namespaces) and brings the cluster up with tests/cluster/up
(idempotent).  The cluster directory is $KDAP_CLUSTER_DIR or build/cluster; a cluster this
test started is stopped again with tests/cluster/down, one that was already up is left running.

    /usr/bin/python3 tests/cluster/test_e2e_kubectl.py

Skips (loudly) only while tests/cluster/kubelet.py does not exist yet.
"""

import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from api_testlib import HERE, KUBECTL, kdap_debugger_image, wait_for  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
KUBELET = os.path.join(HERE, "kubelet.py")
MANIFEST = os.path.join(HERE, "manifests", "go-hello.yaml")
REGISTRY = "127.0.0.1:5000/kdap"
DEBUG_IMAGE = REGISTRY + "/busybox:latest"        # busybox: sh, cat, sleep



class Cluster:
    def __init__(self):
        self.dir = os.path.abspath(os.environ.get("KDAP_CLUSTER_DIR") or os.path.join(REPO, "build", "cluster"))
        self.started_here = False
        self.ns = "e2e-" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(6))

    def _alive(self):
        try:
            with open(os.path.join(self.dir, "apiserver.pid")) as f:
                os.kill(int(f.read()), 0)
            return os.path.exists(os.path.join(self.dir, "apiserver.ready"))
        except (OSError, ValueError):
            return False

    def up(self):
        if not os.path.exists(os.path.join(HERE, "up")):
            raise RuntimeError("tests/cluster/up does not exist yet (the kubelet half of the cluster is incomplete)")
        self.started_here = not self._alive()
        p = subprocess.run([os.path.join(HERE, "up"), "--dir", self.dir], capture_output=True, text=True,
                           timeout=600)
        if p.returncode != 0:
            raise RuntimeError("tests/cluster/up failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        m = re.search(r"export KUBECONFIG=(\S+)", p.stdout)
        self.kubeconfig = m.group(1) if m else os.path.join(self.dir, "kubeconfig")

    def down(self):
        if self.started_here and not os.environ.get("KDAP_KEEP_CLUSTER"):
            subprocess.run([os.path.join(HERE, "down"), "--dir", self.dir], capture_output=True, timeout=120)

    def kubectl(self, *args, context=None, check=True, timeout=60, ns=True):
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if context:
            cmd += ["--context", context]
        if ns:
            cmd += ["-n", self.ns]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d):\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def client(self, context=None):
        from kubernetes import config
        return config.new_client_from_config(config_file=self.kubeconfig, context=context)


def setUpModule():
    global C
    if not os.path.exists(KUBELET):
        print("\n*** SKIPPING test_e2e_kubectl: %s does not exist yet (the kubelet half of the cluster). "
              "These tests must not be skipped once it exists. ***\n" % KUBELET, file=sys.stderr)
        raise unittest.SkipTest("tests/cluster/kubelet.py does not exist yet")
    warnings.simplefilter("ignore", ResourceWarning)
    C = Cluster()
    C.up()
    C.kubectl("create", "namespace", C.ns, ns=False)
    C.kubectl("apply", "-f", MANIFEST)
    C.kubectl("rollout", "status", "deployment/go-hello", "--timeout=120s", timeout=130)


def tearDownModule():
    if "C" not in globals():
        return
    try:
        C.kubectl("delete", "namespace", C.ns, "--wait=true", "--timeout=60s", ns=False, check=False, timeout=70)
    finally:
        C.down()


def app_pod():
    items = json.loads(C.kubectl("get", "pods", "-l", "app=go-hello", "-o", "json").stdout)["items"]
    running = [p for p in items if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    assert running, items
    return running[0]


def ec_status(pod_name, container):
    pod = json.loads(C.kubectl("get", "pod", pod_name, "-o", "json").stdout)
    for s in pod["status"].get("ephemeralContainerStatuses") or []:
        if s["name"] == container:
            return s
    return None


class E2E(unittest.TestCase):
    def test_01_pod_running(self):
        pod = app_pod()
        self.assertEqual(pod["spec"]["nodeName"], "kdap-node")
        self.assertTrue(pod["status"].get("podIP"))
        cs = pod["status"]["containerStatuses"][0]
        self.assertTrue(cs["ready"])
        self.assertIn("running", cs["state"])
        out = C.kubectl("get", "pods").stdout
        self.assertRegex(out, r"go-hello-\S+\s+1/1\s+Running")

    def test_02_exec_cat_cmdline(self):
        pod = app_pod()["metadata"]["name"]
        out = C.kubectl("exec", pod, "-c", "app", "--", "cat", "/proc/1/cmdline").stdout
        self.assertEqual(out.split("\0")[0], "/app/go-hello")
        p = C.kubectl("exec", pod, "--", "sh", "-c", "exit 3", check=False)
        self.assertEqual(p.returncode, 3)
        p = C.kubectl("exec", pod, "--", "cat", "/proc/1/cmdline", context="restricted", check=False)
        self.assertIn('is forbidden: User "restricted" cannot', p.stderr)

    def test_03_logs_follow(self):
        pod = app_pod()["metadata"]["name"]
        self.assertIn("go-hello listening on :8080", C.kubectl("logs", pod).stdout)
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", C.kubeconfig, "-n", C.ns, "logs", "-f", pod],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killer = threading.Timer(30, proc.kill)  # never hang the suite on a silent stream
        killer.start()
        try:
            line = proc.stdout.readline()
            self.assertIn("go-hello listening on :8080", line)
            time.sleep(1)
            self.assertIsNone(proc.poll(), "logs -f must keep following")
        finally:
            killer.cancel()
            proc.kill()
            proc.wait()

    def test_04_python_exec_and_portforward(self):
        from kubernetes import client
        from kubernetes.stream import portforward, stream
        v1 = client.CoreV1Api(C.client())
        pod = app_pod()["metadata"]["name"]
        out = stream(v1.connect_get_namespaced_pod_exec, pod, C.ns, command=["cat", "/proc/1/cmdline"],
                     container="app", stderr=True, stdin=False, stdout=True, tty=False)
        self.assertTrue(out.startswith("/app/go-hello"), out)
        resp = stream(v1.connect_get_namespaced_pod_exec, pod, C.ns, command=["sh", "-c", "echo oops >&2; exit 7"],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=20)
        self.assertEqual(resp.returncode, 7)
        self.assertIn("oops", resp.read_stderr())
        pf = portforward(v1.connect_get_namespaced_pod_portforward, pod, C.ns, ports="8080")
        s = pf.socket(8080)
        s.setblocking(True)
        s.settimeout(20)
        s.sendall(b"GET /from-python HTTP/1.1\r\nHost: go-hello\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                d = s.recv(4096)
            except socket.timeout:
                break
            if not d:
                break
            data += d
            if b"hello /from-python" in data:
                break
        s.close()
        pf.close()
        self.assertIn(b"HTTP/1.1 200 OK", data)
        self.assertRegex(data.decode(), r"hello /from-python #\d+")

    def test_05_python_watch(self):
        from kubernetes import client, watch
        v1 = client.CoreV1Api(C.client())
        lst = v1.list_namespaced_pod(C.ns)
        pod = app_pod()["metadata"]["name"]

        def touch():
            time.sleep(0.5)
            v1.patch_namespaced_pod(pod, C.ns, {"metadata": {"annotations": {"e2e": "touched"}}})
        threading.Thread(target=touch).start()
        for ev in watch.Watch().stream(v1.list_namespaced_pod, C.ns, resource_version=lst.metadata.resource_version,
                                       timeout_seconds=10):
            if ev["type"] == "MODIFIED" and (ev["object"].metadata.annotations or {}).get("e2e") == "touched":
                break
        else:
            self.fail("no MODIFIED event")

    def test_06_debug_ephemeral(self):
        pod = app_pod()["metadata"]["name"]
        C.kubectl("debug", pod, "--target=app", "--profile=general", "--image=" + DEBUG_IMAGE, "-c", "dbg",
                  "--", "sh", "-c", "cat /proc/1/cmdline; echo; sleep 3")
        st = wait_for(lambda: (ec_status(pod, "dbg") or {}).get("state", {}).get("running") or
                      (ec_status(pod, "dbg") or {}).get("state", {}).get("terminated"), timeout=60,
                      what="ephemeral container running")
        self.assertTrue(st)
        out = wait_for(lambda: C.kubectl("logs", pod, "-c", "dbg", check=False).stdout, timeout=20,
                       what="debug container output")
        self.assertIn("/app/go-hello", out)
        wait_for(lambda: (ec_status(pod, "dbg") or {}).get("state", {}).get("terminated"), timeout=30,
                 what="ephemeral container terminated")
        # the debugger image itself
        C.kubectl("debug", pod, "--target=app", "--profile=general",
                  "--image=" + kdap_debugger_image("go"), "-c", "dlv",
                  "--", "dlv", "version")
        wait_for(lambda: (ec_status(pod, "dlv") or {}).get("state", {}).get("terminated"), timeout=60,
                 what="dlv version finished")
        self.assertIn("Delve Debugger", C.kubectl("logs", pod, "-c", "dlv").stdout)

    def test_07_debug_unknown_image(self):
        pod = app_pod()["metadata"]["name"]
        C.kubectl("debug", pod, "--target=app", "--image=" + REGISTRY + "/does-not-exist:latest", "-c", "bad")
        reasons = set()

        def waiting():
            s = ec_status(pod, "bad") or {}
            r = s.get("state", {}).get("waiting", {}).get("reason")
            if r:
                reasons.add(r)
            return "ImagePullBackOff" in reasons
        wait_for(waiting, timeout=60, what="ImagePullBackOff")
        self.assertIn("ErrImagePull", reasons)

    def test_08_baseline_rejects_ptrace(self):
        C.kubectl("run", "psa", "-n", "kdap-baseline", "--image=" + REGISTRY + "/go-hello:latest", ns=False)
        try:
            p = C.kubectl("debug", "psa", "-n", "kdap-baseline", "--target=psa", "--profile=general",
                          "--image=" + DEBUG_IMAGE, "-c", "dbg", ns=False, check=False)
            self.assertIn('violates PodSecurity "baseline:latest": non-default capabilities (container "dbg" must '
                          'not include "SYS_PTRACE" in securityContext.capabilities.add)', p.stderr)
        finally:
            C.kubectl("delete", "pod", "psa", "-n", "kdap-baseline", "--wait=false", ns=False, check=False)

    def test_09_service_name_resolves(self):
        pod = app_pod()["metadata"]["name"]
        out = C.kubectl("exec", pod, "--", "sh", "-c",
                        "wget -q -O- http://go-hello/svc 2>&1 || wget -q -O- http://go-hello:8080/svc 2>&1",
                        check=False).stdout
        self.assertRegex(out, r"hello /svc #\d+")

    def test_99_delete(self):
        out = C.kubectl("delete", "-f", MANIFEST).stdout
        self.assertIn('deployment.apps "go-hello" deleted', out)
        wait_for(lambda: not json.loads(C.kubectl("get", "pods", "-o", "json").stdout)["items"], timeout=60,
                 what="pods gone after delete")


if __name__ == "__main__":
    unittest.main(verbosity=2)
