"""go-hello in the local cluster (tests/cluster/), made debuggable, for the editor-client
tests.

    cl = LocalCluster(os.path.join(BUILD, "e2e-cluster-x"))    # private --dir
    cl.up()                                   # tests/cluster/up --dir DIR
    app = cl.deploy_go_hello()                # kubectl apply + rollout status; app.pod
    args = cluster_attach_args(cl, app)       # the attach arguments an editor would send
    ... app.http_port (a tunnel to the pod's :8080) ...
    cl.down()                                 # tunnels closed, go-hello deleted, tests/cluster/down

`cluster_attach_args` is the one place that knows how kdap reaches delve in the cluster:
  "tunnel": the test does what kdap's cluster attach does (an ephemeral debug container running
            a headless delve next to the app, `kubectl debug --target=app --profile=general`,
            and a port-forward tunnel to it); kdap gets `"connect": "127.0.0.1:PORT"`.
  "target": kdap does it all; it gets `{"target": "deployment/go-hello", "kubeconfig": ...,
            "namespace": ...}` and the test sets up nothing.
The editor tests run both; DEFAULT_MODE / $KDAP_E2E_CLUSTER_ATTACH pick one for callers that
do not say.

Only 127.0.0.1 is ever contacted (the cluster's API server, the registry and the tunnels).
"""

import base64
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
import ocitest  # noqa: E402 (this directory is on sys.path for every user of this module)
from godbg import HttpApp  # noqa: E402
REPO = os.environ.get("KDAP_REPO") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(REPO, "build")
CLUSTER_UP = os.path.join(REPO, "tests", "cluster", "up")
CLUSTER_DOWN = os.path.join(REPO, "tests", "cluster", "down")
GO_HELLO_MANIFEST = os.path.join(REPO, "tests", "cluster", "manifests", "go-hello.yaml")
DLV_PORT = 2345           # delve inside the pod (127.0.0.1 of the pod's network namespace)
APP_PORT = 8080
# the go-hello image is built on this machine from tests/apps/go-hello, so the source paths
# recorded in the binary are this checkout's: no localRoot/remoteRoot needed
APP_SRC = os.path.join(REPO, "tests", "apps", "go-hello", "main.go")

DEFAULT_MODE = "tunnel"


def attach_mode():
    return os.environ.get("KDAP_E2E_CLUSTER_ATTACH", DEFAULT_MODE)


class ClusterError(RuntimeError):
    pass


class Tunnel:
    """A local port whose connections are each forwarded to a pod port over their own
    Kubernetes port-forward WebSocket (v4.channel.k8s.io, one WebSocket per connection): the
    stand-in until kdap's own tunnel is used.  Written on python3-websocket rather than
    python3-kubernetes' portforward, whose proxy loop misses frames that arrive together in
    one TLS record until more data comes."""

    def __init__(self, kubeconfig, pod, port, namespace="default", log=print):
        import yaml
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        if not cluster["server"].startswith("https://127.0.0.1:"):
            raise ClusterError("refusing a cluster that is not on 127.0.0.1: %s" % cluster["server"])
        ca = tempfile.NamedTemporaryFile(prefix="kdap-tunnel-", suffix=".crt", delete=False)
        ca.write(base64.b64decode(cluster["certificate-authority-data"]))
        ca.close()
        self.url = "%s/api/v1/namespaces/%s/pods/%s/portforward?ports=%d" % (
            cluster["server"].replace("https://", "wss://"), namespace, pod, port)
        self.token, self.ca = user["token"], ca.name
        self.log = log
        self.conns = []
        self.lock = threading.Lock()
        self.closed = False
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.local = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import websocket
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            try:
                ws = websocket.create_connection(
                    self.url, header=["Authorization: Bearer %s" % self.token],
                    subprotocols=["v4.channel.k8s.io"], sslopt={"ca_certs": self.ca}, timeout=30)
                ws.settimeout(None)
            except Exception as e:  # noqa: BLE001 - reported, the local connection is closed
                self.log("    tunnel: cannot open the port-forward: %s" % e)
                conn.close()
                continue
            with self.lock:
                if self.closed:
                    conn.close()
                    ws.close()
                    return
                self.conns.append((conn, ws))
            threading.Thread(target=self._down, args=(ws, conn), daemon=True).start()
            threading.Thread(target=self._up, args=(conn, ws), daemon=True).start()

    def _down(self, ws, conn):
        """pod -> local: data on channel 0; the first message of each channel is the port
        number; channel 1 carries errors."""
        seen = set()
        try:
            while True:
                msg = ws.recv()
                if not msg:
                    break
                msg = msg if isinstance(msg, bytes) else msg.encode()
                ch, data = msg[0], msg[1:]
                if ch not in seen:
                    seen.add(ch)
                    continue
                if ch == 0:
                    conn.sendall(data)
                elif data:
                    self.log("    tunnel error: %s" % data.decode(errors="replace"))
        except Exception:  # noqa: BLE001 - the connection ends either way
            pass
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    @staticmethod
    def _up(conn, ws):
        import websocket
        try:
            while True:
                data = conn.recv(32768)
                if not data:
                    break
                ws.send(b"\x00" + data, opcode=websocket.ABNF.OPCODE_BINARY)
        except Exception:  # noqa: BLE001
            pass
        try:
            ws.close(timeout=1)
        except Exception:  # noqa: BLE001
            pass

    def close(self):
        with self.lock:
            self.closed = True
            conns, self.conns = self.conns, []
        self.srv.close()
        for conn, ws in conns:
            for f in (lambda: conn.shutdown(socket.SHUT_RDWR), conn.close, ws.shutdown):
                try:
                    f()
                except Exception:  # noqa: BLE001
                    pass
        try:
            os.unlink(self.ca)
        except OSError:
            pass


class GoHelloInCluster(HttpApp):
    """The deployed go-hello: its pod, a tunnel to its HTTP port, and what was added to it."""

    get_timeout = 10.0
    answer_timeout = 5.0

    def __init__(self, cluster, pod):
        self.cluster = cluster
        self.pod = pod
        self.web = cluster.tunnel(pod, APP_PORT)
        self.http_port = self.app_port = self.web.local
        self.debug_container = None


class LocalCluster:
    """tests/cluster/up|down for one private --dir, kubectl against it, tunnels, cleanup."""

    def __init__(self, dir, namespace="default", log=None):
        self.dir = dir
        self.ns = namespace
        self.kubeconfig = os.path.join(dir, "kubeconfig")
        self.tunnels = []
        self.started = False
        self._lockf = None
        self.log = log or (lambda msg: None)

    # -- lifecycle ----------------------------------------------------------
    def _lock(self, wait):
        """One user of self.dir at a time (two runs of the same test would stop each
        other's cluster): an flock on DIR.lock, held until down()."""
        import fcntl
        self._lockf = open(self.dir.rstrip("/") + ".lock", "w")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._lockf.close()
                    self._lockf = None
                    raise ClusterError("%s is in use by another run (%s.lock held for %.0fs)"
                                       % (self.dir, self.dir, wait))
                time.sleep(0.5)

    def up(self, timeout=300, lock_wait=60):
        """Start (or reuse) the cluster in self.dir. The first run on a machine builds the
        images (go build); later ones take a few seconds."""
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        self._lock(lock_wait)
        self.started = True
        with open(os.path.join(BUILD, "e2e-logs", "cluster-up-%s.log" % os.path.basename(self.dir))
                  if os.path.isdir(os.path.join(BUILD, "e2e-logs")) else os.devnull, "ab") as out:
            r = subprocess.run([CLUSTER_UP, "--dir", self.dir], stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout)
        if r.returncode != 0:
            raise ClusterError("tests/cluster/up --dir %s failed (rc %d)" % (self.dir, r.returncode))

    def down(self, timeout=120):
        """Close every tunnel, delete go-hello, stop the cluster. Safe to call twice."""
        for t in self.tunnels:
            t.close()
        self.tunnels = []
        if not self.started:
            return
        self.started = False
        try:
            if os.path.exists(self.kubeconfig):
                self.kubectl("delete", "-f", GO_HELLO_MANIFEST, "--ignore-not-found", "--wait=false",
                             check=False, timeout=30)
            r = subprocess.run([CLUSTER_DOWN, "--dir", self.dir], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                               text=True)
        finally:
            if self._lockf is not None:
                self._lockf.close()      # releases the flock
                self._lockf = None
        if r.returncode != 0:
            raise ClusterError("tests/cluster/down --dir %s failed: %s" % (self.dir, r.stdout[-2000:]))

    # -- kubectl ----------------------------------------------------------------
    def kubectl(self, *args, check=True, timeout=60):
        r = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, KUBECONFIG=self.kubeconfig))
        if check and r.returncode != 0:
            raise ClusterError("kubectl %s failed: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def tunnel(self, pod, port):
        t = Tunnel(self.kubeconfig, pod, port, self.ns, log=self.log)
        self.tunnels.append(t)
        return t

    # -- go-hello -------------------------------------------------------------
    def deploy_go_hello(self, timeout=90):
        self.kubectl("apply", "-f", GO_HELLO_MANIFEST)
        self.kubectl("rollout", "status", "deployment/go-hello", "--timeout=%ds" % timeout,
                     timeout=timeout + 10)
        items = json.loads(self.kubectl("get", "pods", "-l", "app=go-hello", "-o", "json"))["items"]
        pod = next((p["metadata"]["name"] for p in items
                    if p.get("status", {}).get("phase") == "Running"
                    and not p["metadata"].get("deletionTimestamp")), None)
        if not pod:
            raise ClusterError("no running go-hello pod after the rollout")
        return GoHelloInCluster(self, pod)

    def ephemeral_status(self, pod, name):
        st = json.loads(self.kubectl("get", "pod", pod, "-o",
                                     "jsonpath={.status.ephemeralContainerStatuses}") or "[]")
        return next((s for s in st if s["name"] == name), None)

    def start_delve(self, pod, name=None, timeout=60):
        """An ephemeral debug container with a headless delve attached to the app (PID 1 of
        the target container), listening on the pod's 127.0.0.1:DLV_PORT. Returns its name.
        delve runs without --accept-multiclient: it ends (and so does the container) when
        the debugger client detaches."""
        name = name or "kdap-dlv-%d" % (int(time.time() * 1000) % 10000000)
        # kdap's own debugger image (`up` pushes none): the one an attach by target uses too
        image = ocitest.debugger_image("go")
        self.kubectl("debug", pod, "--image=%s" % image, "--target=app", "--profile=general",
                     "-c", name, "--", "/usr/bin/dlv", "--headless", "--api-version=2",
                     "--listen=127.0.0.1:%d" % DLV_PORT, "--only-same-user=false", "attach", "1")
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.ephemeral_status(pod, name)
            if st and "terminated" in st.get("state", {}):
                break
            if st and "running" in st.get("state", {}) and "listening" in self.kubectl(
                    "logs", pod, "-c", name, check=False):
                return name
            time.sleep(0.2)
        logs = self.kubectl("logs", pod, "-c", name, check=False)
        raise ClusterError("the delve debug container did not start listening: %s; logs: %s"
                           % (json.dumps(st), logs[-1000:]))

    def wait_container_terminated(self, pod, name, timeout=20):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.ephemeral_status(pod, name) or {}
            if "terminated" in st.get("state", {}):
                return st
            time.sleep(0.2)
        raise ClusterError("debug container %s still not terminated: %s" % (name, json.dumps(st)))


def cluster_attach_args(cluster, app, mode=None):
    """The attach arguments an editor sends to kdap to debug go-hello in `cluster`.

    "tunnel" (today): start delve in an ephemeral container and a port-forward tunnel to it
    here, and return `connect`.  "target" (when kdap does it itself): return `target`."""
    mode = mode or attach_mode()
    if mode == "target":
        return {"name": "go-hello", "runtime": "go", "target": "deployment/go-hello",
                "kubeconfig": cluster.kubeconfig, "namespace": cluster.ns,
                "imageRepo": ocitest.CLUSTER_REPO}
    if mode != "tunnel":
        raise ValueError("KDAP_E2E_CLUSTER_ATTACH must be 'tunnel' or 'target', not %r" % mode)
    app.debug_container = cluster.start_delve(app.pod)
    dlv = cluster.tunnel(app.pod, DLV_PORT)
    return {"name": "go-hello", "runtime": "go", "connect": "127.0.0.1:%d" % dlv.local}


def check_cluster_after_detach(cluster, app, timeout=20):
    """After the editor disconnected: the service answers, and every debugger added to the
    pod has ended (the delve container this module or kdap added has terminated; ephemeral
    containers cannot be removed, they must end). Returns their names."""
    if not app.answers(10):
        raise ClusterError("go-hello does not answer after the disconnect (left halted?)")
    deadline = time.monotonic() + timeout
    while True:
        st = json.loads(cluster.kubectl("get", "pod", app.pod, "-o",
                                        "jsonpath={.status.ephemeralContainerStatuses}") or "[]")
        running = [s["name"] for s in st if "terminated" not in s.get("state", {})]
        if not running:
            break
        if time.monotonic() > deadline:
            raise ClusterError("debug containers still running after the disconnect: %s" % running)
        time.sleep(0.2)
    names = [s["name"] for s in st]
    if app.debug_container and app.debug_container not in names:
        raise ClusterError("debug container %s not in the pod's status" % app.debug_container)
    if not names:
        raise ClusterError("no debug container was ever added to %s" % app.pod)
    return names


def cluster_available():
    """None if the local cluster can run here, else the reason it cannot."""
    import shutil
    if os.geteuid() != 0:
        return "the local cluster needs root (pods run in Linux namespaces)"
    for tool in ("kubectl", "docker-registry", "dlv", "go", "unshare", "nsenter"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/setup installs it)" % tool
    if not os.access(CLUSTER_UP, os.X_OK):
        return "tests/cluster/up is missing"
    try:
        import websocket  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as e:
        return "python3 module missing: %s" % e
    return None


# -- what a process listens on ------------------------------------------------------------
def listening_sockets(pid):
    """The listening sockets process `pid` holds: [("tcp", "ADDR:PORT") | ("unix", PATH)],
    from its /proc/PID/fd socket inodes matched against /proc/net/tcp, tcp6 (state 0A) and
    /proc/net/unix (__SO_ACCEPTCON).  Same network namespace as the caller."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    found = []
    for name in ("tcp", "tcp6"):
        with open("/proc/net/" + name) as f:
            for line in list(f)[1:]:
                p = line.split()
                if p[3] == "0A" and p[9] in inodes:
                    found.append(("tcp", "%s:%d" % (p[1].split(":")[0], int(p[1].split(":")[1], 16))))
    with open("/proc/net/unix") as f:
        for line in list(f)[1:]:
            p = line.split()
            if int(p[3], 16) & 0x10000 and p[6] in inodes:
                found.append(("unix", p[7] if len(p) > 7 else "(unnamed)"))
    return found


def process_tree(pid):
    """pid and its descendants (kdap and the gdb it runs)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for t in os.listdir("/proc/%d/task" % p) if os.path.isdir("/proc/%d/task" % p) else []:
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
    return out


def pod_listens(cluster, pod, container, port):
    """Something listens on `port` in the pod's network namespace (its /proc/net/tcp*,
    read by `kubectl exec` in `container`)."""
    for _ in range(3):
        text = cluster.kubectl("exec", pod, "-c", container, "--", "cat", "/proc/net/tcp",
                               "/proc/net/tcp6")
        if "local_address" in text:
            break   # an exec under load has been seen to return nothing: ask again
    else:
        raise ClusterError("kubectl exec read no /proc/net/tcp in %s" % pod)
    for line in text.splitlines():
        p = line.split()
        if len(p) > 3 and p[3] == "0A" and ":" in p[1] and int(p[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


def try_use(kind, where, probe=b"GET /json/list HTTP/1.0\r\n\r\n", timeout=3.0):
    """Connect to a listening socket as another process would and send `probe`: the bytes
    that came back (b"" when it closed or said nothing), or None if it could not connect."""
    if kind == "tcp":
        hexaddr, port = where.split(":")
        host = "127.0.0.1" if len(hexaddr) == 8 else "::1"
        s = socket.socket(socket.AF_INET if len(hexaddr) == 8 else socket.AF_INET6)
        addr = (host, int(port))
    else:
        s = socket.socket(socket.AF_UNIX)
        addr = where
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        return None
    got = b""
    try:
        s.sendall(probe)
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError:
        pass
    finally:
        s.close()
    return got
