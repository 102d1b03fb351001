"""Shared helpers for the cluster tests (test_apiserver.py, test_e2e_kubectl.py).

Starts tests/cluster/apiserver.py on a free port in a temporary directory, runs the real
/usr/bin/kubectl against it, and builds python3-kubernetes clients from its kubeconfig.
"""

import datetime
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KUBECTL = "/usr/bin/kubectl"


def now_ts():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiServerProc:
    """An apiserver.py process on 127.0.0.1:<free port> with its own DIR."""

    def __init__(self, env=None, cluster_dir=None):
        self.own_dir = cluster_dir is None
        self.dir = cluster_dir or tempfile.mkdtemp(prefix="kdap-apiserver-")
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.port = None

    def start(self, timeout=20):
        for f in ("apiserver.ready",):
            try:
                os.unlink(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass
        self.out = open(os.path.join(self.dir, "apiserver.stdout"), "ab")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "apiserver.py"), "--dir", self.dir,
                                      "--port", "0"], stdout=self.out, stderr=subprocess.STDOUT, env=self.env)
        ready = os.path.join(self.dir, "apiserver.ready")
        deadline = time.time() + timeout
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("apiserver exited with %s; see %s" % (self.proc.returncode, self.dir))
            if time.time() > deadline:
                raise RuntimeError("apiserver not ready after %ds" % timeout)
            time.sleep(0.05)
        with open(os.path.join(self.dir, "apiserver.port")) as f:
            self.port = int(f.read())
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.kubelet_kubeconfig = os.path.join(self.dir, "kubelet.kubeconfig")
        with open(os.path.join(self.dir, "pki", "tokens.json")) as f:
            self.tokens = json.load(f)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "out", None):
            self.out.close()
        if self.own_dir and not os.environ.get("KDAP_KEEP_TEST_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients ---------------------------------------------------------------------------
    def kubectl(self, *args, context=None, check=True, timeout=30, input=None, kubeconfig=None):
        cmd = [KUBECTL, "--kubeconfig", kubeconfig or self.kubeconfig,
               "--cache-dir", os.path.join(self.dir, "kubectl-cache")]
        if context:
            cmd += ["--context", context]
        cmd += list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d):\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def client(self, context=None, kubelet=False):
        from kubernetes import config
        return config.new_client_from_config(
            config_file=self.kubelet_kubeconfig if kubelet else self.kubeconfig, context=context)

    def raw(self, method, path, body=None, token="admin", headers=None, ctype=None):
        """One HTTPS request; returns (status, headers, body bytes)."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "pki", "ca.crt"))
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=15)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + self.tokens.get(token, token)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None:
            h["Content-Type"] = ctype or "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def rawj(self, *a, **kw):
        st, h, data = self.raw(*a, **kw)
        return st, json.loads(data) if data else None


def simulate_kubelet_start(apiserver, namespace, label_selector=None, names=None):
    """Does what the kubelet would do for pods not running yet: PATCH status (merge patch) to
    Running + Ready, with the kubelet's own credentials.  Returns the names of the pods it touched."""
    from kubernetes import client
    v1 = client.CoreV1Api(apiserver.client(kubelet=True))
    done = []
    for p in v1.list_namespaced_pod(namespace, label_selector=label_selector or "").items:
        if names and p.metadata.name not in names:
            continue
        if p.status.phase == "Running" or p.metadata.deletion_timestamp:
            continue
        ts = now_ts()
        body = {"status": {
            "phase": "Running", "podIP": "10.244.0.%d" % (len(done) + 10), "hostIP": "127.0.0.1",
            "podIPs": [{"ip": "10.244.0.%d" % (len(done) + 10)}], "startTime": ts,
            "conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": ts},
                           {"type": "Ready", "status": "True", "lastTransitionTime": ts},
                           {"type": "ContainersReady", "status": "True", "lastTransitionTime": ts},
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts}],
            "containerStatuses": [{"name": c.name, "ready": True, "started": True, "restartCount": 0,
                                   "image": c.image, "imageID": "", "containerID": "kdap://" + c.name,
                                   "state": {"running": {"startedAt": ts}}} for c in p.spec.containers]}}
        v1.api_client.call_api(
            "/api/v1/namespaces/{namespace}/pods/{name}/status", "PATCH",
            path_params={"namespace": namespace, "name": p.metadata.name},
            header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"], _preload_content=False)
        done.append(p.metadata.name)
    return done


def simulate_kubelet_finalize(apiserver, namespace):
    """Removes pods marked for deletion, as the kubelet does after stopping their containers
    (DELETE with gracePeriodSeconds=0).  Returns the names removed."""
    from kubernetes import client
    v1 = client.CoreV1Api(apiserver.client(kubelet=True))
    gone = []
    for p in v1.list_namespaced_pod(namespace).items:
        if p.metadata.deletion_timestamp:
            v1.delete_namespaced_pod(p.metadata.name, namespace, grace_period_seconds=0)
            gone.append(p.metadata.name)
    return gone


def wait_for(fn, timeout=15, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


KDAP_BIN = os.environ.get("KDAP_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "kdap")


def kdap_debugger_image(runtime, repo="127.0.0.1:5000/kdap/debug"):
    """REPO@sha256:... of kdap's debugger image for `runtime`, pushed by `kdap image debugger`
    (`up` pushes no debugger image: a real cluster has none either)."""
    p = subprocess.run([KDAP_BIN, "image", "debugger", "--runtime", runtime, "--repo", repo, "-q"],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    if p.returncode != 0 or len(p.stdout.split()) != 1:
        raise AssertionError("kdap image debugger --runtime %s: %s" % (runtime, p.stderr))
    return p.stdout.strip()
