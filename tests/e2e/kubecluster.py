"""Helpers for kdap's Kubernetes tests (test_kube*.py, bench/portforward.py): bring the local
cluster up (tests/cluster/up) or reuse one, a test namespace with an echo pod, kdap subprocesses
with their logs kept for the secret check.

Environment: KDAP_BIN (default build/kdap), KDAP_REPO, KDAP_CLUSTER_DIR (default
build/kube-cluster; a cluster this module started is stopped again unless KDAP_KEEP_CLUSTER).
"""
import base64
import json
import os
import random
import re
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("KDAP_REPO") or os.path.abspath(os.path.join(HERE, "..", ".."))
KDAP = os.environ.get("KDAP_BIN") or os.path.join(REPO, "build", "kdap")
UP = os.path.join(REPO, "tests", "cluster", "up")
DOWN = os.path.join(REPO, "tests", "cluster", "down")
KUBECTL = "/usr/bin/kubectl" if os.path.exists("/usr/bin/kubectl") else "kubectl"
NODE_IMAGE = "127.0.0.1:5000/kdap/node-hello:latest"

# Ports inside the echo pod: 7000 echoes, 7001 swallows, 7002 sends N bytes on request and keeps
# the connection open (the local API server drops what it still buffers for a slow client when the
# pod side closes first, so the tests end connections from the client side), 7003 echoes the first
# bytes it gets and closes the connection.
ECHO_JS = r"""
const net = require('net');
net.createServer(s => { s.once('data', d => s.end(d)); s.on('error', () => {}); }).listen(7003, '127.0.0.1');
net.createServer(s => s.pipe(s)).listen(7000, '127.0.0.1');
net.createServer(s => { s.on('data', () => {}); s.on('error', () => {}); }).listen(7001, '127.0.0.1');
net.createServer(s => {
  s.once('data', d => {
    let left = parseInt(d.toString()), chunk = Buffer.alloc(65536, 120);
    const more = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n;
      if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', more); return; } }
      };
    more(); });
  s.on('error', () => {});
}).listen(7002, '127.0.0.1');
"""


def environ(**changes):
    """os.environ with `changes` (a value of None removes the variable): the environment of
    every kdap, kubectl or skopeo the tests start."""
    env = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def rand_suffix(n=5):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


class Cluster:
    def __init__(self):
        self.dir = os.path.abspath(os.environ.get("KDAP_CLUSTER_DIR")
                                   or os.path.join(REPO, "build", "kube-cluster"))
        self.started_here = False
        self.ns = "kube-e2e-" + rand_suffix()
        self.tmp = tempfile.mkdtemp(prefix="kdap-kube-")
        self.logs = []        # kdap log files to grep for secrets
        self.outputs = []     # everything kdap printed

    def alive(self):
        try:
            with open(os.path.join(self.dir, "apiserver.pid")) as f:
                os.kill(int(f.read()), 0)
            return (os.path.exists(os.path.join(self.dir, "apiserver.ready"))
                    and os.path.exists(os.path.join(self.dir, "kubelet.ready")))
        except (OSError, ValueError):
            return False

    def up(self):
        if not os.path.exists(UP):
            raise RuntimeError("tests/cluster/up does not exist")
        self.started_here = not self.alive()
        p = subprocess.run([UP, "--dir", self.dir], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("tests/cluster/up failed:\n%s\n%s" % (p.stdout, p.stderr))
        m = re.search(r"export KUBECONFIG=(\S+)", p.stdout)
        self.kubeconfig = m.group(1) if m else os.path.join(self.dir, "kubeconfig")
        with open(os.path.join(self.dir, "apiserver.port")) as f:
            self.port = int(f.read().strip())
        self.ca_file = os.path.join(self.dir, "pki", "ca.crt")
        self.cfg = self.load_kubeconfig()

    def down(self):
        if self.started_here and not os.environ.get("KDAP_KEEP_CLUSTER"):
            subprocess.run([DOWN, "--dir", self.dir], capture_output=True, timeout=120)

    def load_kubeconfig(self):
        import yaml
        with open(self.kubeconfig) as f:
            return yaml.safe_load(f)

    def user(self, name):
        return next(u["user"] for u in self.cfg["users"] if u["name"] == name)

    def secrets(self):
        """Every credential of the local kubeconfig, in the forms a leak would take."""
        out = []
        for u in self.cfg["users"]:
            for k in ("token",):
                if u["user"].get(k):
                    out.append(u["user"][k])
            if u["user"].get("client-key-data"):
                out.append(u["user"]["client-key-data"][:40])
                pem = base64.b64decode(u["user"]["client-key-data"]).decode()
                out += [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")][:3]
        return out

    def kubectl(self, *args, check=True, timeout=60, ns=True, stdin=None):
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if ns:
            cmd += ["-n", self.ns]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                           input=stdin)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s: %s %s" % (" ".join(args), p.stdout, p.stderr))
        return p

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def env(self, **extra):
        log = os.path.join(self.tmp, "kdap-%d.log" % len(self.logs))
        self.logs.append(log)
        return environ(**dict({"KUBECONFIG": self.kubeconfig, "KDAP_LOG": log,
                               "KDAP_LOG_LEVEL": "debug"}, **extra))

    def kubeconfig_text(self, server=None, cluster=None, user=None, ns=None, current="t"):
        """A kubeconfig (JSON) of one context "t": `cluster` (default: `server`, by default
        this API server, with its CA when https), `user` (default none), namespace `ns`
        (default the test namespace)."""
        cl = cluster or {"server": server or "https://127.0.0.1:%d" % self.port}
        if cluster is None and cl["server"].startswith("https://"):
            cl["certificate-authority"] = self.ca_file
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": "c", "cluster": cl}],
            "users": [{"name": "u", "user": user or {}}],
            "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u",
                                                   "namespace": ns or self.ns}}]})

    def kdap(self, *args, timeout=60, env=None, stdin=None):
        p = subprocess.run([KDAP] + list(args), capture_output=True, text=True, timeout=timeout,
                           env=env or self.env(), input=stdin)
        self.outputs.append(p.stdout + p.stderr)
        return p

    def echo_pod(self, name="echo"):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
               "spec": {"terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "echo", "image": NODE_IMAGE,
                                        "command": ["/usr/bin/node", "-e", ECHO_JS]}]}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        self.kubectl("wait", "--for=condition=Ready", "pod/" + name, "--timeout=120s", timeout=130)
        # node listens a moment after the container starts
        deadline = time.time() + 20
        while time.time() < deadline:
            p = self.kubectl("exec", name, "--", "sh", "-c",
                             "cat /proc/net/tcp | grep -c ':1B5A'", check=False)
            if p.returncode == 0 and p.stdout.strip() not in ("", "0"):
                break
            time.sleep(0.3)
        return name


def module_cluster(echo=True):
    """setUpModule of a kube test file: the cluster up, a fresh namespace (with the echo pod)."""
    import unittest
    if os.geteuid() != 0:
        raise unittest.SkipTest("the local cluster needs root")
    if not os.path.exists(KDAP):
        raise RuntimeError("%s is missing: build kdap first" % KDAP)
    c = Cluster()
    c.up()
    c.kubectl("create", "namespace", c.ns, ns=False)
    if echo:
        c.echo_pod("echo")
    return c


def module_cluster_done(c):
    """tearDownModule: the namespace deleted, the cluster stopped if module_cluster started it."""
    if c is None:
        return
    try:
        c.kubectl("delete", "namespace", c.ns, "--wait=false", ns=False, check=False)
    finally:
        c.down()


class PortForward:
    """`kdap port-forward` running in the background; .port is the local port."""

    def __init__(self, cluster, pod, mapping, *extra, env=None):
        self.c = cluster
        self.err_path = os.path.join(cluster.tmp, "pf-%s.err" % rand_suffix())
        self.errf = open(self.err_path, "w")
        self.proc = subprocess.Popen([KDAP, "port-forward", "-n", cluster.ns] + list(extra)
                                     + ["pod/" + pod, mapping],
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True,
                                     env=env or cluster.env(), start_new_session=True)
        line = self._readline(20)
        m = re.match(r"Forwarding from ([\d.]+):(\d+) -> (\d+)", line or "")
        if not m:
            self.stop()
            raise AssertionError("kdap port-forward did not start: %r %s" % (line, self.stderr()))
        self.port = int(m.group(2))

    def _readline(self, timeout):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return None
        return self.proc.stdout.readline()

    def connect(self, timeout=30):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stderr(self):
        if not self.errf.closed:
            self.errf.flush()
        with open(self.err_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError("kdap port-forward did not exit on signal %d" % sig)
        err = self.stderr()
        self.errf.close()
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.c.outputs.append(out + err)
        return self.proc.returncode


class KubectlPortForward:
    """`kubectl port-forward pod/POD :P...` in the background; .ports maps remote -> local port.
    websockets=False sets KUBECTL_PORT_FORWARD_WEBSOCKETS=false (plain SPDY instead of SPDY in a
    WebSocket).  Its output is kept in .out / .err (lists of lines)."""

    def __init__(self, cluster, pod, remote_ports, websockets=True):
        env = dict(os.environ, KUBECONFIG=cluster.kubeconfig)
        env.pop("KUBECTL_PORT_FORWARD_WEBSOCKETS", None)
        if not websockets:
            env["KUBECTL_PORT_FORWARD_WEBSOCKETS"] = "false"
        self.proc = subprocess.Popen([KUBECTL, "-n", cluster.ns, "port-forward", "pod/" + pod]
                                     + [":%d" % p for p in remote_ports],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.out, self.err = [], []
        self.ports = {}
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.ports) == len(remote_ports) or self.proc.poll() is not None, 30)
        if not ok or len(self.ports) != len(remote_ports):
            self.stop()
            raise AssertionError("kubectl port-forward did not start: %s %s" % (self.out, self.err))

    def _read(self, stream, lines):
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                lines.append(line)
                m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$", line)
                if m:
                    self.ports[int(m.group(2))] = int(m.group(1))
                self.cond.notify_all()

    def connect(self, remote):
        s = socket.create_connection(("127.0.0.1", self.ports[remote]), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait(5)
        for t in self.readers:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return "\n".join(self.out), "\n".join(self.err)
