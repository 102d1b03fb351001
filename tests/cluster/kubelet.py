#!/usr/bin/python3
"""Simulated kubelet of kdap's local test cluster (node `kdap-node`).

    tests/cluster/kubelet.py --dir DIR

Talks to the API server only through its REST API with DIR/kubelet.kubeconfig (list + watch pods
of this node and all services; merge-PATCH pods/NAME/status; DELETE with gracePeriodSeconds=0 once
a deleted pod's containers are gone).  Runs pods with Linux namespaces (see README.md "Pods"):

- per pod: a named network namespace `kdap-<tag>-<uid8>` (veth `eth0` with 10.244.0.x/24 wired to
  bridge br0 in the cluster's own netns `kdap-<tag>-net`; no route anywhere else, nothing in the
  host namespace) and a sandbox process holding the pod's UTS (hostname = pod name) and IPC ns;
- per container: its own PID + mount namespace, overlay root over the image rootfs pulled from
  the cluster's registries (127.0.0.1:5000; :5001/:5002 with the pod's imagePullSecrets), /proc, minimal /dev, /etc/hosts (services), session leader (kl_nsinit.py);
- ephemeral containers with targetContainerName join the target's PID namespace.

Serves the API server's proxied node requests on 127.0.0.1:<port> (DIR/kubelet.port):
exec/attach (WebSocket v5/v4/v4.base64/channel.k8s.io), portforward (WebSocket v4, "",
v4.base64; SPDY/3.1 `portforward.k8s.io`, spdy.py), containerLogs (follow, tailLines, timestamps, sinceTime/sinceSeconds, previous,
limitBytes).  State under DIR/kubelet/.  Log: DIR/kubelet.log.
"""
import argparse
import base64
import ctypes
import fcntl
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oci  # noqa: E402
import profiling  # noqa: E402
import spdy  # noqa: E402
import wsframe  # noqa: E402

NODE = "kdap-node"
PY = "/usr/bin/python3"
NSINIT = os.path.join(HERE, "kl_nsinit.py")
BUSYBOX = "/bin/busybox"
SUBNET = "10.244.0."
DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BACKOFF_BASE = float(os.environ.get("KDAP_KUBELET_BACKOFF", "10"))
BACKOFF_MAX = 300.0

libc = ctypes.CDLL(None, use_errno=True)
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
CLONE_NEWNET = 0x40000000

LOG = None
LOG_LOCK = threading.Lock()


def log(msg, *args):
    line = "%s %s\n" % (time.strftime("%H:%M:%S"), (msg % args) if args else msg)
    with LOG_LOCK:
        (LOG or sys.stderr).write(line)
        (LOG or sys.stderr).flush()


def now_ts():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ts_nano(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def parse_ts(s):
    """RFC 3339 (with optional fraction) -> epoch seconds."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        raise ValueError("bad time %r" % s)
    import calendar
    t = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)) + (0, 0, 0))
    if m.group(7):
        t += float(m.group(7))
    if m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        t -= sign * (int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60)
    return t


def run(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


# ================================================================================================
# API client

class ApiClient:
    def __init__(self, kubeconfig):
        with open(kubeconfig) as f:
            text = f.read()
        try:
            import yaml
            cfg = yaml.safe_load(text)
        except ImportError:
            cfg = json.loads(text)
        ctx_name = cfg["current-context"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        u = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = u.hostname, u.port or 443
        self.token = user["token"]
        self.ssl = ssl.create_default_context()
        self.ssl.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.ssl.set_alpn_protocols(["http/1.1"])
        self.local = threading.local()

    def _conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json"):
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json",
                   "User-Agent": "kdap-kubelet/0.1"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = ctype
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self.local.conn = None
                conn.close()
                if attempt:
                    raise
        try:
            obj = json.loads(raw) if raw else {}
        except ValueError:
            obj = {"message": raw.decode(errors="replace")}
        return resp.status, obj

    def watch(self, path):
        """Yields watch events (dicts) of one watch request until the server ends it."""
        conn = self._conn(timeout=None)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.token,
                                                "Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read()
                try:
                    obj = json.loads(body)
                except ValueError:
                    obj = {"message": body.decode(errors="replace")}
                yield {"type": "ERROR", "object": dict(obj, code=obj.get("code", resp.status))}
                return
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            conn.close()


# ================================================================================================
# helpers: namespaces, processes

def setns_path(path, nstype=0):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, nstype) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)


def in_netns(netns_path, fn):
    """Run fn() in a fresh thread whose network namespace is netns_path (sockets created there stay
    in that namespace). Returns fn's result or raises its exception."""
    out = {}

    def body():
        try:
            setns_path(netns_path, CLONE_NEWNET)
            out["r"] = fn()
        except BaseException as e:  # noqa: B902
            out["e"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["r"]


def connect_in_netns(netns_path, port, timeout=5.0):
    """containerd-like: dial localhost:port inside the pod network namespace, tcp4 then tcp6."""
    def dial():
        errs = []
        for fam, addr, label in ((socket.AF_INET, ("127.0.0.1", port), "IPv4: dial tcp4 127.0.0.1:%d" % port),
                                 (socket.AF_INET6, ("::1", port), "IPv6 dial tcp6 [::1]:%d" % port)):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(addr)
                s.settimeout(None)
                return s
            except OSError as e:
                s.close()
                errs.append("%s: connect: %s" % (label, (e.strerror or str(e)).lower()))
        raise ConnectionError(" ".join(errs))
    return in_netns(netns_path, dial)


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def kill(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError, TypeError):
        return False


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sweep(tag, dir_):
    """Kill every process of this cluster (tagged environment, in one of its network namespaces,
    or rooted under DIR), delete its network namespaces. Used at kubelet start and by `down`."""
    ns_inodes = set()
    names = []
    if os.path.isdir("/run/netns"):
        for n in os.listdir("/run/netns"):
            if n.startswith("kdap-%s-" % tag):
                names.append(n)
                try:
                    ns_inodes.add(os.stat("/run/netns/" + n).st_ino)
                except OSError:
                    pass
    marker = ("KDAP_CLUSTER_TAG=%s" % tag).encode()
    me = os.getpid()
    victims = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in (me, os.getppid()):
            continue
        pid = int(p)
        hit = False
        try:
            if os.stat("/proc/%d/ns/net" % pid).st_ino in ns_inodes:
                hit = True
        except OSError:
            continue
        if not hit:
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    hit = marker in f.read().split(b"\0")
            except OSError:
                pass
        if not hit:
            try:
                r = os.readlink("/proc/%d/root" % pid)
                hit = r.startswith(dir_ + "/")
            except OSError:
                pass
        if hit:
            victims.append(pid)
    for pid in victims:
        kill(pid, signal.SIGKILL)
    deadline = time.time() + 3
    while time.time() < deadline and any(alive(p) for p in victims):
        time.sleep(0.05)
    for n in names:
        run("ip", "netns", "del", n, check=False)
    # leftover mounts under DIR in the host namespace (there should be none)
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in sorted((m for m in mounts if m.startswith(dir_ + "/")), reverse=True):
            run("umount", "-l", m, check=False)
    except OSError:
        pass
    return victims, names


# ================================================================================================
# WebSocket (server side, RFC 6455; x/net/websocket-like message semantics)

class WSClosed(Exception):
    pass


class WebSocket:
    def __init__(self, sock, rbuf=b"", base64_mode=False):
        self.sock = sock
        self.rbuf = bytearray(rbuf)   # consumed from the front in place (no copy of the rest)
        self.b64 = base64_mode
        self.wlock = threading.Lock()
        self.closed = False

    def _read(self, n):
        buf = self.rbuf
        if n > 4096 and len(buf) < n:   # a payload: received straight into its own buffer
            out = bytearray(n)
            have = len(buf)
            out[:have] = buf
            buf.clear()
            view = memoryview(out)
            while have < n:
                k = self.sock.recv_into(view[have:])
                if not k:
                    raise WSClosed()
                have += k
            return out
        while len(buf) < n:
            d = self.sock.recv(262144)
            if not d:
                raise WSClosed()
            buf += d
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def recv_message(self):
        """One frame = one message (continuation frames are separate messages, like x/net).
        Returns (opcode, payload); handles ping/close internally."""
        while True:
            b0, b1 = self._read(2)
            op = b0 & 0x0F
            ln = b1 & 0x7F
            if ln == 126:
                ln = struct.unpack(">H", self._read(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", self._read(8))[0]
            if ln > 32 << 20:
                raise WSClosed()
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(ln)
            if mask:
                data = wsframe.unmask(data, mask)
            if op == 8:
                self.close(data[:2] if len(data) >= 2 else b"\x03\xe8")
                raise WSClosed()
            if op == 9:
                self._send_frame(0xA, data)
                continue
            if op == 0xA:
                continue
            return op, data

    def _send_frame(self, op, *parts):
        """One frame whose payload is the concatenation of parts (joined once, with the header)."""
        hdr = wsframe.header(op, sum(len(p) for p in parts))
        with self.wlock:
            if self.closed and op != 8:
                raise WSClosed()
            self.sock.sendall(b"".join((hdr,) + parts))

    def send(self, channel, data=b""):
        if self.b64:
            self._send_frame(1, bytes([ord("0") + channel]), base64.b64encode(data))
        else:
            self._send_frame(2, bytes([channel]), data)

    def decode(self, op, data):
        """-> (channel, payload) or None for empty messages."""
        if not data:
            return None
        if self.b64:
            ch = data[0] - ord("0")
            try:
                return ch, base64.b64decode(data[1:])
            except ValueError:
                return ch, b""
        return data[0], data[1:]

    def close(self, code=b"\x03\xe8"):
        with self.wlock:
            if self.closed:
                return
            self.closed = True
            try:
                self.sock.sendall(b"\x88" + bytes([len(code)]) + code)
            except OSError:
                pass

    def shutdown(self):
        self.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ================================================================================================
# containers

class CState:
    """One container (regular or ephemeral) of a pod worker."""

    def __init__(self, spec, ephemeral=False):
        self.spec = spec
        self.name = spec["name"]
        self.ephemeral = ephemeral
        self.proc = None            # Popen (nsenter/unshare wrapper)
        self.pid = None             # host pid of the container's main process
        self.restart_count = 0
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.image_id = ""
        self.container_id = ""
        self.started = False
        self.ready = False
        self.next_start = 0.0       # restart / pull back-off deadline
        self.backoff = 0.0
        self.pull_backoff = 0.0
        self.pull_error_at = 0.0
        self.pull_error = None
        self.run_started = 0.0
        self.exec_env = []
        self.workdir = "/"
        self.security = {"caps": []}
        self.log_path = None
        self.pumps = []
        self.stdin_w = None
        self.probe_ok = None
        self.probe_fail = 0
        self.next_probe = 0.0
        self.live_fail = 0          # consecutive liveness probe failures
        self.next_live = 0.0
        self.kill_at = None         # liveness kill: SIGKILL deadline after the SIGTERM
        self.done = False           # will never run again (ephemeral finished / restartPolicy)
        self.rootdir = None

    def running(self):
        return self.proc is not None and "running" in self.state


def image_user(rootfs, user):
    """The image config's User ("", "uid", "name", "uid:gid", "name:group") -> (uid, gid) with
    names looked up in the image's /etc/passwd and /etc/group, as runc does; None when unset."""
    def lookup(path, name):
        try:
            with open(os.path.join(rootfs, path)) as f:
                for ln in f:
                    parts = ln.strip().split(":")
                    if len(parts) > 3 and parts[0] == name:
                        return parts
        except OSError:
            pass
        return None
    u, _, g = (user or "").partition(":")
    if not u:
        return None, None
    if u.isdigit():
        uid, gid = int(u), 0
    else:
        ent = lookup("etc/passwd", u)
        if ent is None:
            raise ValueError("unable to find user %s: no matching entries in passwd file" % u)
        uid, gid = int(ent[2]), int(ent[3])
    if g:
        ent = None if g.isdigit() else lookup("etc/group", g)
        if not g.isdigit() and ent is None:
            raise ValueError("unable to find group %s: no matching entries in group file" % g)
        gid = int(g) if g.isdigit() else int(ent[2])
    return uid, gid


def container_security(pod_spec, spec, image_cfg, pod_ref, rootfs):
    """What the runtime applies to a container's process, from its and the pod's securityContext
    (container fields win) and the image's User: (dict for kl_nsinit.py, None) or (None, the
    kubelet's CreateContainerConfigError message)."""
    psc = pod_spec.get("securityContext") or {}
    sc = spec.get("securityContext") or {}
    caps = container_caps(spec)
    if caps == ["ALL"]:
        from kl_nsinit import CAPS
        caps = CAPS
    uid, gid = sc.get("runAsUser", psc.get("runAsUser")), sc.get("runAsGroup", psc.get("runAsGroup"))
    try:
        iuid, igid = image_user(rootfs, image_cfg.get("User"))
    except ValueError as e:
        return None, str(e)
    if uid is None:
        uid = iuid
        if gid is None:
            gid = igid
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root and not uid:
        what = "container has runAsNonRoot and image will run as root" if uid is None else \
            "container's runAsUser breaks non-root policy"
        return None, '%s (pod: "%s", container: %s)' % (what, pod_ref, spec["name"])
    groups = list(psc.get("supplementalGroups") or []) + ([psc["fsGroup"]] if psc.get("fsGroup") is not None else [])
    return {"caps": caps, "uid": uid, "gid": gid, "groups": groups,
            # privileged implies allowPrivilegeEscalation; otherwise only an explicit false sets no_new_privs
            "no_new_privs": sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged"),
            "readonly_root": bool(sc.get("readOnlyRootFilesystem"))}, None


def container_caps(spec):
    sc = spec.get("securityContext") or {}
    if sc.get("privileged"):
        return ["ALL"]
    caps = set(DEFAULT_CAPS)
    c = sc.get("capabilities") or {}
    add = [x.upper().replace("CAP_", "") for x in c.get("add") or []]
    drop = [x.upper().replace("CAP_", "") for x in c.get("drop") or []]
    if "ALL" in drop:
        caps = set()
    caps -= set(drop)
    if "ALL" in add:
        return ["ALL"]
    caps |= set(add)
    return sorted(caps)


def expand_vars(s, env):
    def rep(m):
        if m.group(0).startswith("$$"):
            return "$(" + m.group(1) + ")"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: ("$(" + m.group(1) + ")") if m.group(1) else env.get(m.group(2), m.group(0)), s)


# ================================================================================================
# pod worker

class PodWorker(threading.Thread):
    def __init__(self, kubelet, pod):
        super().__init__(daemon=True, name="pod-" + pod["metadata"]["name"])
        self.k = kubelet
        self.pod = pod
        self.uid = pod["metadata"]["uid"]
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.wake = threading.Event()
        self.lock = threading.RLock()
        self.containers = {}        # name -> CState
        self.ephemerals = {}
        self.netns = "kdap-%s-%s" % (kubelet.tag, self.uid.replace("-", "")[:8])
        self.netns_path = "/run/netns/" + self.netns
        self.ip = None
        self.ip_index = None
        self.sandbox = None
        self.dir = os.path.join(kubelet.state_dir, "pods", self.uid)
        self.deleted = False        # DELETED event seen (object gone)
        self.stopping = False
        self.finished = False
        self.last_status = None
        self.start_time = None
        self.conditions = {}
        self.sandbox_error = None
        self.hosts_content = None
        for c in pod["spec"].get("containers", []):
            self.containers[c["name"]] = CState(c)

    # ---- events from the watch
    def update(self, pod):
        with self.lock:
            self.pod = pod
        self.wake.set()

    def mark_deleted(self):
        self.deleted = True
        self.wake.set()

    @property
    def deleting(self):
        return self.deleted or bool(self.pod["metadata"].get("deletionTimestamp"))

    def all_states(self):
        return list(self.containers.values()) + list(self.ephemerals.values())

    # ---- main loop
    def run(self):
        try:
            self._run()
        except Exception:
            log("pod %s/%s: worker crashed:\n%s", self.ns, self.name, traceback.format_exc())
            self.teardown(0)
        finally:
            self.finished = True
            self.k.worker_done(self)

    def _run(self):
        self.start_time = now_ts()
        self.report()
        while not self.deleting and not self.k.stopping:
            if self.sandbox is None:
                try:
                    self.create_sandbox()
                except Exception as e:
                    self.sandbox_error = str(e)
                    log("pod %s/%s: sandbox failed: %s", self.ns, self.name, e)
                    self.destroy_sandbox()
                    self.wake.wait(2)
                    self.wake.clear()
                    continue
            with self.lock:
                spec = self.pod["spec"]
            for c in spec.get("containers", []):
                self.sync_container(self.containers[c["name"]], spec.get("restartPolicy", "Always"))
            for ec in spec.get("ephemeralContainers") or []:
                cs = self.ephemerals.get(ec["name"])
                if cs is None:
                    cs = self.ephemerals[ec["name"]] = CState(ec, ephemeral=True)
                self.sync_container(cs, "Never")
            self.probe_all()
            self.report()
            self.wake.wait(0.25 if any(c.running() for c in self.all_states()) else 0.5)
            self.wake.clear()
        if self.k.stopping and not self.deleting:
            self.teardown(1)
            return
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        if self.deleted:
            grace = 0
        log("pod %s/%s: deleting (grace %ss)", self.ns, self.name, grace)
        self.teardown(grace)
        if not self.deleted:
            self.report(final=True)
            st, obj = self.k.api.request(
                "DELETE", "/api/v1/namespaces/%s/pods/%s" % (self.ns, self.name),
                {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                 "preconditions": {"uid": self.uid}})
            if st not in (200, 202, 404, 409):
                log("pod %s/%s: final DELETE: %s %s", self.ns, self.name, st, obj.get("message"))
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- sandbox
    def create_sandbox(self):
        os.makedirs(self.dir, exist_ok=True)
        self.ip_index = self.k.alloc_ip(self.uid)
        self.ip = SUBNET + str(self.ip_index)
        host_veth = "veth%d" % self.ip_index
        run("ip", "netns", "del", self.netns, check=False)
        run("ip", "-n", self.k.netns, "link", "del", host_veth, check=False)
        run("ip", "netns", "add", self.netns)
        run("ip", "-n", self.k.netns, "link", "add", host_veth, "type", "veth", "peer", "name", "eth0",
            "netns", self.netns)
        run("ip", "-n", self.k.netns, "link", "set", host_veth, "master", "br0", "up")
        run("ip", "-n", self.netns, "addr", "add", self.ip + "/24", "dev", "eth0")
        run("ip", "-n", self.netns, "link", "set", "eth0", "up")
        run("ip", "-n", self.netns, "link", "set", "lo", "up")
        hostname = (self.pod["spec"].get("hostname") or self.name)[:63].rstrip("-.")
        self.hostname = hostname
        etc = os.path.join(self.dir, "etc")
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "hostname"), "w") as f:
            f.write(hostname + "\n")
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("# kdap test cluster: no DNS server; services resolve through /etc/hosts\n"
                    "search %s.svc.cluster.local svc.cluster.local cluster.local\n"
                    "nameserver 127.0.0.1\noptions ndots:5\n" % self.ns)
        self.write_hosts(self.k.hosts_for(self))
        self.sandbox = subprocess.Popen(
            ["nsenter", "--net=" + self.netns_path, "--", "unshare", "--uts", "--ipc", "--",
             BUSYBOX, "sh", "-c", 'hostname "$0" && exec ' + BUSYBOX + ' sleep 2147483647', hostname],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=self.k.child_env())
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                with open("/proc/%d/cmdline" % self.sandbox.pid, "rb") as f:
                    if b"sleep" in f.read():
                        break
            except OSError:
                pass
            if self.sandbox.poll() is not None:
                raise RuntimeError("sandbox exited with %s" % self.sandbox.returncode)
            time.sleep(0.01)
        self.sandbox_error = None
        log("pod %s/%s: sandbox up: netns %s ip %s pid %d", self.ns, self.name, self.netns, self.ip,
            self.sandbox.pid)

    def destroy_sandbox(self):
        if self.sandbox is not None:
            kill(self.sandbox.pid, signal.SIGKILL)
            try:
                self.sandbox.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.sandbox = None
        if os.path.exists(self.netns_path):
            run("ip", "netns", "del", self.netns, check=False)
        if self.ip_index is not None:
            run("ip", "-n", self.k.netns, "link", "del", "veth%d" % self.ip_index, check=False)
            self.k.free_ip(self.ip_index)
            self.ip_index = None

    def write_hosts(self, content):
        if content == self.hosts_content:
            return
        path = os.path.join(self.dir, "etc", "hosts")
        with open(path, "a+") as f:   # rewrite in place: the inode is bind-mounted into containers
            f.seek(0)
            f.truncate()
            f.write(content)
        self.hosts_content = content

    # ---- containers
    def sync_container(self, cs, policy):
        if cs.done or time.time() < cs.next_start:
            if cs.pull_error and "ErrImagePull" == cs.state.get("waiting", {}).get("reason") \
                    and time.time() - cs.pull_error_at > 2.0:
                cs.state = {"waiting": {"reason": "ImagePullBackOff",
                                        "message": 'Back-off pulling image "%s": ErrImagePull: %s'
                                                   % (cs.spec["image"], cs.pull_error)}}
            if not cs.done and cs.proc is None and "terminated" in cs.state and time.time() < cs.next_start:
                cs.last_state = {"terminated": cs.state["terminated"]}
                cs.state = {"waiting": {"reason": "CrashLoopBackOff",
                                        "message": "back-off %ds restarting failed container=%s pod=%s_%s(%s)"
                                                   % (cs.backoff, cs.name, self.name, self.ns, self.uid)}}
            if cs.proc is not None:
                self.check_exit(cs, policy)
            return
        if cs.proc is not None:
            self.check_exit(cs, policy)
            return
        self.start_container(cs)

    def check_exit(self, cs, policy):
        rc = cs.proc.poll()
        if rc is None:
            return
        for t in cs.pumps:
            t.join(2)
        code = 128 - rc if rc < 0 else rc
        if cs.stdin_w is not None:
            try:
                cs.stdin_w.close()
            except OSError:
                pass
            cs.stdin_w = None
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": cs.state.get("running", {}).get("startedAt", now_ts()),
                "finishedAt": now_ts(), "containerID": cs.container_id}
        msg = self.termination_message(cs)
        if msg:
            term["message"] = msg
        cs.state = {"terminated": term}
        cs.proc = None
        cs.pid = None
        cs.ready = False
        cs.probe_ok = None
        log("pod %s/%s: container %s exited with %d", self.ns, self.name, cs.name, code)
        restart = (policy == "Always") or (policy == "OnFailure" and code != 0)
        if cs.ephemeral or not restart or self.deleting:
            cs.done = True
            return
        ran = time.time() - cs.run_started
        if ran > 600:
            cs.backoff = 0
        if cs.restart_count == 0 and cs.backoff == 0:
            cs.next_start = time.time()
            cs.backoff = BACKOFF_BASE
        else:
            cs.next_start = time.time() + cs.backoff
            cs.backoff = min(BACKOFF_MAX, cs.backoff * 2) if cs.backoff else BACKOFF_BASE
        cs.pending_restart = True

    def termination_message(self, cs):
        path = cs.spec.get("terminationMessagePath") or "/dev/termination-log"
        if path.startswith("/dev/") or not cs.rootdir:
            return None
        try:
            with open(os.path.join(cs.rootdir, "upper", path.lstrip("/")), "rb") as f:
                return f.read(4096).decode(errors="replace") or None
        except OSError:
            return None

    def pull_auths(self):
        """{registry host: (user, password)} from the pod's imagePullSecrets
        (kubernetes.io/dockerconfigjson or the older kubernetes.io/dockercfg); a missing or
        malformed secret is skipped, as the real kubelet does (the pull then goes without it)."""
        auths = {}
        for ref in self.pod["spec"].get("imagePullSecrets") or []:
            name = ref.get("name", "")
            code, sec = self.k.api.request("GET", "/api/v1/namespaces/%s/secrets/%s"
                                           % (self.ns, urllib.parse.quote(name, safe="")))
            if code != 200:
                log("pod %s/%s: imagePullSecret %r not found (%d): pulling without it", self.ns, self.name,
                    name, code)
                continue
            data = sec.get("data") or {}
            try:
                if sec.get("type") == "kubernetes.io/dockerconfigjson":
                    entries = json.loads(base64.b64decode(data[".dockerconfigjson"]))["auths"]
                elif sec.get("type") == "kubernetes.io/dockercfg":
                    entries = json.loads(base64.b64decode(data[".dockercfg"]))
                else:
                    continue
                for key, ent in entries.items():
                    host = key.split("://", 1)[-1].split("/", 1)[0]
                    if ent.get("auth"):
                        user, _, pw = base64.b64decode(ent["auth"]).decode().partition(":")
                    else:
                        user, pw = ent.get("username", ""), ent.get("password", "")
                    auths.setdefault(host, (user, pw))
            except (KeyError, ValueError, TypeError, AttributeError):
                log("pod %s/%s: imagePullSecret %r is malformed: pulling without it", self.ns, self.name, name)
        return auths

    def pull(self, cs):
        image = cs.spec["image"]
        try:
            res = self.k.pull(image, cs.spec.get("imagePullPolicy"), self.pull_auths())
            cs.pull_error = None
            cs.pull_backoff = 0
            return res
        except (oci.ImageError, OSError, ValueError) as e:
            msg = str(e)
            cs.pull_error = msg
            cs.pull_error_at = time.time()
            cs.state = {"waiting": {"reason": "ErrImagePull",
                                    "message": 'Failed to pull image "%s": %s' % (image, msg)}}
            cs.pull_backoff = min(BACKOFF_MAX, cs.pull_backoff * 2) if cs.pull_backoff else BACKOFF_BASE
            cs.next_start = time.time() + cs.pull_backoff
            log("pod %s/%s: pull %s failed: %s", self.ns, self.name, image, msg)
            return None

    def container_env(self, cs, image_cfg):
        env = {}
        order = []
        for e in image_cfg.get("Env") or []:
            k, _, v = e.partition("=")
            if k not in env:
                order.append(k)
            env[k] = v
        env.setdefault("HOSTNAME", self.hostname)
        if "HOSTNAME" not in order:
            order.append("HOSTNAME")
        for e in cs.spec.get("env") or []:
            if "value" in e:
                v = expand_vars(e.get("value") or "", env)
            elif "valueFrom" in e and "fieldRef" in e["valueFrom"]:
                fp = e["valueFrom"]["fieldRef"].get("fieldPath", "")
                v = {"metadata.name": self.name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
                     "status.podIP": self.ip or "", "spec.nodeName": NODE, "status.hostIP": "127.0.0.1",
                     "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default")
                     }.get(fp, "")
                if fp.startswith("metadata.labels['"):
                    v = (self.pod["metadata"].get("labels") or {}).get(fp[17:-2], "")
            else:
                v = ""
            if e["name"] not in env:
                order.append(e["name"])
            env[e["name"]] = v
        return ["%s=%s" % (k, env[k]) for k in order], env

    def start_container(self, cs):
        if self.deleting or self.k.stopping:
            return
        if cs.ephemeral:
            target = cs.spec.get("targetContainerName")
            tcs = self.containers.get(target) if target else None
            if target and (tcs is None or not tcs.running()):
                cs.state = {"waiting": {"reason": "ContainerCreating",
                                        "message": "waiting for target container %s" % target}}
                return
        if cs.restart_count or "terminated" in cs.state or "waiting" in cs.state and \
                cs.state["waiting"].get("reason") == "CrashLoopBackOff":
            pass
        img = self.pull(cs)
        if img is None:
            return
        cfg = img["config"].get("config") or {}
        env_list, env = self.container_env(cs, cfg)
        spec = cs.spec
        entry = cfg.get("Entrypoint") or []
        cmd = cfg.get("Cmd") or []
        if spec.get("command"):
            argv = list(spec["command"]) + list(spec.get("args") or [])
        elif spec.get("args"):
            argv = list(entry) + list(spec["args"])
        else:
            argv = list(entry) + list(cmd)
        argv = [expand_vars(a, env) for a in argv]
        workdir = spec.get("workingDir") or cfg.get("WorkingDir") or "/"
        sec, why = container_security(self.pod["spec"], spec, cfg, "%s_%s(%s)" % (self.name, self.ns, self.uid),
                                      img["rootfs"])
        if why:
            cs.state = {"waiting": {"reason": "CreateContainerConfigError", "message": why}}
            cs.next_start = time.time() + 2
            return
        restarting = "terminated" in cs.state or cs.state.get("waiting", {}).get("reason") == "CrashLoopBackOff"
        if restarting and cs.started:
            cs.restart_count += 1
            if "terminated" in cs.state:
                cs.last_state = {"terminated": cs.state["terminated"]}
        cid = hashlib.sha256(("%s/%s/%d/%f" % (self.uid, cs.name, cs.restart_count, time.time())).encode()).hexdigest()
        root = os.path.join(self.dir, "containers", "%s-%d" % (cs.name, cs.restart_count))
        shutil.rmtree(root, ignore_errors=True)
        for d in ("upper", "work", "rootfs"):
            os.makedirs(os.path.join(root, d))
        logdir = os.path.join(self.dir, "logs", cs.name)
        os.makedirs(logdir, exist_ok=True)
        cs.log_path = os.path.join(logdir, "%d.log" % cs.restart_count)
        open(cs.log_path, "w").close()
        fifo = os.path.join(root, "status.fifo")
        os.mkfifo(fifo, 0o600)
        r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        nsspec = {
            "status_fifo": fifo, "rootfs": os.path.join(root, "rootfs"), "lower": img["rootfs"],
            "upper": os.path.join(root, "upper"), "work": os.path.join(root, "work"),
            "files": {"/etc/hosts": os.path.join(self.dir, "etc", "hosts"),
                      "/etc/hostname": os.path.join(self.dir, "etc", "hostname"),
                      "/etc/resolv.conf": os.path.join(self.dir, "etc", "resolv.conf")},
            "workdir": workdir, "argv": argv, "env": env_list, **sec,
        }
        spec_path = os.path.join(root, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(nsspec, f)
        sb = self.sandbox.pid
        cmd = ["nsenter", "--net=" + self.netns_path, "--uts=/proc/%d/ns/uts" % sb, "--ipc=/proc/%d/ns/ipc" % sb]
        target = cs.spec.get("targetContainerName") if cs.ephemeral else None
        if target:
            cmd += ["--pid=/proc/%d/ns/pid" % self.containers[target].pid, "--",
                    "unshare", "--mount", "--propagation", "private", "--"]
        else:
            cmd += ["--", "unshare", "--pid", "--mount", "--fork", "--propagation", "private", "--"]
        cmd += [PY, "-I", "-S", NSINIT, "container", spec_path]
        want_stdin = bool(spec.get("stdin"))
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=self.k.child_env())
        status = b""
        deadline = time.time() + 15
        while time.time() < deadline:
            select.select([r], [], [], 0.05)
            try:
                d = os.read(r, 4096)
            except BlockingIOError:
                continue
            if d:
                status += d
            elif status:
                break               # all writers gone after the helper wrote: exec happened (or failed)
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.005)   # the helper has not opened the FIFO yet
        os.close(r)
        os.unlink(fifo)
        pid = None
        err = None
        for line in status.decode(errors="replace").splitlines():
            if line.startswith("pid "):
                pid = int(line[4:])
            elif line.startswith("error "):
                err = line[6:]
        cs.image_id = img["image_id"]
        cs.container_id = "kdap://" + cid
        cs.rootdir = root
        cs.exec_env, cs.workdir, cs.security = env_list, workdir, sec
        cs.started = True
        cs.run_started = time.time()
        cs.pumps = [threading.Thread(target=self.k.pump_log, args=(proc.stdout, cs.log_path, "stdout"), daemon=True),
                    threading.Thread(target=self.k.pump_log, args=(proc.stderr, cs.log_path, "stderr"), daemon=True)]
        for t in cs.pumps:
            t.start()
        if err or pid is None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for t in cs.pumps:
                t.join(2)
            err = err or "container did not start"
            log("pod %s/%s: container %s failed to start: %s", self.ns, self.name, cs.name, err)
            cs.state = {"terminated": {"exitCode": 128 if proc.returncode in (0, None) else
                                       (128 - proc.returncode if proc.returncode < 0 else proc.returncode),
                                       "reason": "StartError", "message": err,
                                       "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now_ts(),
                                       "containerID": cs.container_id}}
            cs.proc = None
            policy = "Never" if cs.ephemeral else self.pod["spec"].get("restartPolicy", "Always")
            if cs.ephemeral or policy == "Never":
                cs.done = True
            else:
                cs.next_start = time.time() + (cs.backoff or BACKOFF_BASE)
                cs.backoff = min(BACKOFF_MAX, (cs.backoff or BACKOFF_BASE) * 2)
            return
        cs.proc, cs.pid = proc, pid
        cs.stdin_w = proc.stdin
        cs.state = {"running": {"startedAt": now_ts()}}
        cs.probe_ok = None
        cs.probe_fail = 0
        rp = cs.spec.get("readinessProbe")
        cs.next_probe = time.time() + (rp.get("initialDelaySeconds", 0) if rp else 0)
        lp = cs.spec.get("livenessProbe")
        cs.live_fail, cs.kill_at = 0, None
        cs.next_live = time.time() + (lp.get("initialDelaySeconds", 0) if lp else 0)
        cs.ready = not cs.ephemeral and rp is None
        log("pod %s/%s: container %s started: pid %d argv %s", self.ns, self.name, cs.name, pid, argv)
        self.k.hosts_dirty.set()

    # ---- probes
    def probe_all(self):
        for cs in self.containers.values():
            if not cs.running():
                continue
            self.probe_liveness(cs)
            rp = cs.spec.get("readinessProbe")
            if not rp or time.time() < cs.next_probe:
                continue
            ok = self.probe(cs, rp)
            cs.next_probe = time.time() + rp.get("periodSeconds", 10)
            if ok:
                cs.probe_fail = 0
                cs.probe_ok = True
            else:
                cs.probe_fail += 1
                if cs.probe_ok is None or cs.probe_fail >= rp.get("failureThreshold", 3):
                    cs.probe_ok = False
            ready = bool(cs.probe_ok)
            if ready != cs.ready:
                cs.ready = ready
                self.k.hosts_dirty.set()

    def probe_liveness(self, cs):
        """As the kubelet's prober: every periodSeconds after initialDelaySeconds; failureThreshold
        failures in a row kill the container (the stop signal, then SIGKILL after the probe's
        terminationGracePeriodSeconds, else the pod's, default 30); restartPolicy decides the rest.
        A process stopped by a debugger still has its listening socket, so a tcpSocket probe passes
        and an httpGet one times out, as on a real node."""
        lp = cs.spec.get("livenessProbe")
        if not lp:
            return
        now = time.time()
        if cs.kill_at is not None:
            if now >= cs.kill_at and cs.pid:
                kill(cs.pid, signal.SIGKILL)
                kill(cs.proc.pid, signal.SIGKILL)
            return
        if now < cs.next_live:
            return
        ok = self.probe(cs, lp)
        cs.next_live = time.time() + lp.get("periodSeconds", 10)
        cs.live_fail = 0 if ok else cs.live_fail + 1
        if ok or cs.live_fail < lp.get("failureThreshold", 3):
            return
        grace = lp.get("terminationGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        log("pod %s/%s: container %s failed liveness probe %d times, will be restarted (grace %ss)",
            self.ns, self.name, cs.name, cs.live_fail, grace)
        cs.kill_at = time.time() + float(grace)
        if cs.pid:
            kill(cs.pid, signal.SIGTERM)

    def resolve_port(self, cs, port):
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in cs.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        return None

    def probe(self, cs, rp):
        timeout = rp.get("timeoutSeconds", 1)
        try:
            if "tcpSocket" in rp:
                port = self.resolve_port(cs, rp["tcpSocket"].get("port"))
                s = connect_in_netns(self.netns_path, port, timeout)
                s.close()
                return True
            if "httpGet" in rp:
                hg = rp["httpGet"]
                port = self.resolve_port(cs, hg.get("port"))
                s = connect_in_netns(self.netns_path, port, timeout)
                s.settimeout(timeout)
                try:
                    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kube-probe/1.31\r\n"
                               "Connection: close\r\n\r\n" % (hg.get("path", "/"), self.ip, port)).encode())
                    line = s.makefile("rb").readline().split()
                finally:
                    s.close()
                return len(line) >= 2 and 200 <= int(line[1]) < 400
            if "exec" in rp:
                code, _, _ = self.k.exec_sync(self, cs, rp["exec"].get("command") or [], timeout)
                return code == 0
        except Exception:
            return False
        return True

    # ---- status
    def cstatus(self, cs):
        st = {"name": cs.name, "image": cs.spec["image"], "imageID": cs.image_id,
              "state": cs.state, "lastState": cs.last_state,
              "ready": bool(cs.ready and cs.running()), "restartCount": cs.restart_count}
        if cs.container_id:
            st["containerID"] = cs.container_id
        if not cs.ephemeral:
            st["started"] = cs.running()
        else:
            st["ready"] = False
        return st

    def cond(self, ctype, ok, reason=None):
        prev = self.conditions.get(ctype)
        status = "True" if ok else "False"
        if prev is None or prev["status"] != status:
            self.conditions[ctype] = c = {"type": ctype, "status": status, "lastProbeTime": None,
                                          "lastTransitionTime": now_ts()}
            if reason and not ok:
                c["reason"] = reason
        return self.conditions[ctype]

    def phase(self):
        cs = list(self.containers.values())
        if not cs:
            return "Pending"
        if any(not c.started for c in cs):
            return "Pending"
        if all(c.done for c in cs):
            codes = [c.state.get("terminated", {}).get("exitCode", 1) for c in cs]
            return "Succeeded" if all(x == 0 for x in codes) else "Failed"
        return "Running"

    def status(self):
        cs = list(self.containers.values())
        ready = bool(cs) and all(c.ready and c.running() for c in cs)
        phase = self.phase()
        conds = [self.cond("PodReadyToStartContainers", self.sandbox is not None),
                 self.cond("Initialized", True),
                 self.cond("Ready", ready, "ContainersNotReady"),
                 self.cond("ContainersReady", ready, "ContainersNotReady"),
                 self.cond("PodScheduled", True)]
        st = {"phase": phase, "conditions": conds, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
              "startTime": self.start_time,
              "containerStatuses": [self.cstatus(c) for c in cs]}
        if self.ip and self.sandbox is not None:
            st["podIP"] = self.ip
            st["podIPs"] = [{"ip": self.ip}]
        if self.ephemerals:
            st["ephemeralContainerStatuses"] = [self.cstatus(c) for c in self.ephemerals.values()]
        if self.sandbox_error:
            st["message"] = self.sandbox_error
        return st

    def report(self, final=False):
        if self.deleted:
            return
        st = self.status()
        if st == self.last_status:
            return
        code, obj = self.k.api.request("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (self.ns, self.name),
                                       {"status": st}, "application/merge-patch+json")
        if code == 200:
            self.last_status = json.loads(json.dumps(st))
        elif code != 404:
            log("pod %s/%s: status patch: %s %s", self.ns, self.name, code, obj.get("message"))

    # ---- stop
    def teardown(self, grace):
        procs = [c for c in self.all_states() if c.proc is not None]
        for c in procs:
            if c.pid:
                kill(c.pid, signal.SIGTERM)
        deadline = time.time() + float(grace or 0)
        while time.time() < deadline and any(c.proc.poll() is None for c in procs):
            time.sleep(0.05)
        for c in procs:
            if c.proc.poll() is None:
                if c.pid:
                    kill(c.pid, signal.SIGKILL)
                kill(c.proc.pid, signal.SIGKILL)
        for c in procs:
            try:
                c.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for t in c.pumps:
                t.join(1)
            rc = c.proc.returncode
            code = 137 if rc is None else (128 - rc if rc < 0 else rc)
            c.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                      "startedAt": c.state.get("running", {}).get("startedAt", now_ts()),
                                      "finishedAt": now_ts(), "containerID": c.container_id}}
            c.proc, c.pid, c.ready, c.done = None, None, False, True
        self.destroy_sandbox()
        self.k.hosts_dirty.set()


# ================================================================================================
# kubelet

class Kubelet:
    def __init__(self, dir_):
        self.dir = dir_
        self.tag = hashlib.sha1(dir_.encode()).hexdigest()[:6]
        self.netns = "kdap-%s-net" % self.tag
        self.state_dir = os.path.join(dir_, "kubelet")
        self.images_dir = os.path.join(self.state_dir, "images")
        self.workers = {}           # uid -> PodWorker
        self.services = {}          # (ns, name) -> svc
        self.lock = threading.RLock()
        self.ip_used = {}
        self.stopping = False
        self.hosts_dirty = threading.Event()
        self.pull_locks = {}
        self.pulled = {}
        self.api = None

    def child_env(self):
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KDAP_CLUSTER_TAG": self.tag}

    # ---- node setup
    def setup_node(self):
        victims, names = sweep(self.tag, self.dir)
        if victims or names:
            log("cleaned up a previous run: %d processes, netns %s", len(victims), names)
        shutil.rmtree(os.path.join(self.state_dir, "pods"), ignore_errors=True)
        os.makedirs(os.path.join(self.state_dir, "pods"), exist_ok=True)
        os.makedirs(self.images_dir, exist_ok=True)
        run("ip", "netns", "add", self.netns)
        run("ip", "-n", self.netns, "link", "set", "lo", "up")
        run("ip", "-n", self.netns, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.netns, "link", "set", "br0", "up")

    def teardown_node(self):
        run("ip", "netns", "del", self.netns, check=False)

    def alloc_ip(self, uid):
        with self.lock:
            for i in range(2, 255):
                if i not in self.ip_used:
                    self.ip_used[i] = uid
                    return i
        raise RuntimeError("no free pod IP")

    def free_ip(self, i):
        with self.lock:
            self.ip_used.pop(i, None)

    # ---- images
    def pull(self, image, policy, auths=None):
        _, _, tag, digest, norm = oci.parse_reference(image)
        if policy is None:
            policy = "Always" if tag == "latest" and not digest else "IfNotPresent"
        with self.lock:
            lk = self.pull_locks.setdefault(norm, threading.Lock())
        with lk:
            cached = self.pulled.get(norm)
            if cached and policy != "Always":
                return cached
            if policy == "Never":
                raise oci.ImageError('Container image "%s" is not present with pull policy of Never' % image)
            res = oci.pull_and_extract(image, self.images_dir, log=log, cluster_dir=self.dir, auths=auths)
            self.pulled[norm] = res
            return res

    # ---- logs
    def pump_log(self, pipe, path, stream):
        f = open(path, "ab", buffering=0)
        partial = b""
        try:
            while True:
                d = pipe.read1(32768) if hasattr(pipe, "read1") else os.read(pipe.fileno(), 32768)
                if not d:
                    break
                data = partial + d
                lines = data.split(b"\n")
                partial = lines.pop()
                out = b"".join(b"%s %s F %s\n" % (ts_nano().encode(), stream.encode(), ln) for ln in lines)
                if len(partial) > 16384:
                    out += b"%s %s P %s\n" % (ts_nano().encode(), stream.encode(), partial)
                    partial = b""
                if out:
                    f.write(out)
        except (OSError, ValueError):
            pass
        finally:
            if partial:
                f.write(b"%s %s F %s\n" % (ts_nano().encode(), stream.encode(), partial))
            f.close()
            try:
                pipe.close()
            except OSError:
                pass

    # ---- services -> /etc/hosts
    def hosts_for(self, w):
        lines = ["# Kubernetes-managed hosts file (kdap test kubelet: services resolve to one ready pod).",
                 "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
        if w.ip:
            lines.append("%s\t%s" % (w.ip, w.pod["spec"].get("hostname") or w.name))
        with self.lock:
            services = list(self.services.values())
            workers = [x for x in self.workers.values() if x.ip and x.sandbox is not None and not x.deleting]
        for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
            sel = (svc.get("spec") or {}).get("selector")
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            if not sel:
                continue
            eps = sorted((x for x in workers if x.ns == ns and
                          all((x.pod["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())
                          and x.containers and all(c.ready and c.running() for c in x.containers.values())),
                         key=lambda x: x.name)
            if not eps:
                continue
            names = ["%s.%s" % (name, ns), "%s.%s.svc" % (name, ns), "%s.%s.svc.cluster.local" % (name, ns)]
            if ns == w.ns:
                names.insert(0, name)
            lines.append("%s\t%s" % (eps[0].ip, " ".join(names)))
        return "\n".join(lines) + "\n"

    def hosts_loop(self):
        while not self.stopping:
            self.hosts_dirty.wait(2)
            self.hosts_dirty.clear()
            with self.lock:
                workers = list(self.workers.values())
            for w in workers:
                if w.sandbox is not None and not w.finished:
                    try:
                        w.write_hosts(self.hosts_for(w))
                    except OSError:
                        pass
            time.sleep(0.1)

    # ---- watches
    def upsert_pod(self, pod):
        if (pod.get("spec") or {}).get("nodeName") != NODE:
            return
        uid = pod["metadata"]["uid"]
        with self.lock:
            w = self.workers.get(uid)
            if w is None:
                if pod["metadata"].get("deletionTimestamp") and not pod.get("status", {}).get("startTime"):
                    # never started here: nothing to stop, just confirm the deletion
                    threading.Thread(target=self.api.request, args=(
                        "DELETE", "/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"],
                                                                      pod["metadata"]["name"]),
                        {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}), daemon=True).start()
                    return
                if self.stopping:
                    return
                w = self.workers[uid] = PodWorker(self, pod)
                log("pod %s/%s: added (uid %s)", w.ns, w.name, uid)
                w.start()
            else:
                w.update(pod)
        self.hosts_dirty.set()

    def remove_pod(self, uid):
        with self.lock:
            w = self.workers.get(uid)
        if w:
            w.mark_deleted()
        self.hosts_dirty.set()

    def worker_done(self, w):
        with self.lock:
            if self.workers.get(w.uid) is w:
                del self.workers[w.uid]
        self.hosts_dirty.set()

    def watch_loop(self, kind, path, on_list, on_event):
        rv = None
        while not self.stopping:
            try:
                if rv is None:
                    code, obj = self.api.request("GET", path)
                    if code != 200:
                        raise RuntimeError("list %s: %s %s" % (kind, code, obj.get("message")))
                    rv = obj["metadata"]["resourceVersion"]
                    on_list(obj.get("items") or [])
                sep = "&" if "?" in path else "?"
                for ev in self.api.watch(path + sep + "watch=1&allowWatchBookmarks=true&timeoutSeconds=300"
                                         "&resourceVersion=" + rv):
                    if self.stopping:
                        return
                    typ, obj = ev.get("type"), ev.get("object") or {}
                    if typ == "ERROR":
                        log("watch %s: error %s %s: re-listing", kind, obj.get("code"), obj.get("message"))
                        rv = None
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion") or rv
                    if typ != "BOOKMARK":
                        on_event(typ, obj)
            except Exception as e:
                if self.stopping:
                    return
                log("watch %s: %s; retrying", kind, e)
                rv = None
                time.sleep(1)

    def on_pod_list(self, items):
        uids = set()
        for p in items:
            uids.add(p["metadata"]["uid"])
            self.upsert_pod(p)
        with self.lock:
            gone = [u for u in self.workers if u not in uids]
        for u in gone:
            self.remove_pod(u)

    def on_pod_event(self, typ, pod):
        if typ == "DELETED":
            self.remove_pod(pod["metadata"]["uid"])
        else:
            self.upsert_pod(pod)

    def on_svc_list(self, items):
        with self.lock:
            self.services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in items}
        self.hosts_dirty.set()

    def on_svc_event(self, typ, svc):
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        with self.lock:
            if typ == "DELETED":
                self.services.pop(key, None)
            else:
                self.services[key] = svc
        self.hosts_dirty.set()

    # ---- lookup for node requests
    def find(self, ns, name, uid=None):
        with self.lock:
            if uid and uid in self.workers:
                return self.workers[uid]
            for w in self.workers.values():
                if w.ns == ns and w.name == name and not w.deleted:
                    return w
        return None

    # ---- exec
    def exec_spawn(self, w, cs, argv, tty=False, stdin=False):
        """Start argv inside container cs; returns (Popen, master_fd or None, error or None)."""
        d = tempfile.mkdtemp(prefix="exec-", dir=os.path.join(w.dir))
        r, wfd = os.pipe()
        spec = {"status_fd": wfd, "pid": cs.pid, "argv": argv, "env": cs.exec_env, "workdir": cs.workdir,
                "tty": tty, **cs.security}
        path = os.path.join(d, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        master = None
        try:
            if tty:
                try:   # a pty of the container's own devpts, so ttyname() works inside it
                    master = os.open("/proc/%d/root/dev/ptmx" % cs.pid, os.O_RDWR | os.O_NOCTTY)
                    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))            # TIOCSPTLCK: unlock
                    slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)    # TIOCGPTPEER
                except OSError:
                    if master is not None:
                        os.close(master)
                    master, slave = os.openpty()
                proc = subprocess.Popen([PY, "-I", "-S", NSINIT, "exec", path], stdin=slave, stdout=slave,
                                        stderr=slave, pass_fds=[wfd], start_new_session=True,
                                        env=self.child_env())
                os.close(slave)
            else:
                proc = subprocess.Popen([PY, "-I", "-S", NSINIT, "exec", path],
                                        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=[wfd],
                                        start_new_session=True, env=self.child_env())
        finally:
            os.close(wfd)
        status = b""
        while True:
            rl, _, _ = select.select([r], [], [], 10)
            if not rl:
                break
            chunk = os.read(r, 4096)
            if not chunk:
                break
            status += chunk
        os.close(r)
        shutil.rmtree(d, ignore_errors=True)
        err = None
        for line in status.decode(errors="replace").splitlines():
            if line.startswith("error "):
                err = line[6:]
        if err:
            proc.wait()
            if master is not None:
                os.close(master)
        return proc, master, err

    def exec_sync(self, w, cs, argv, timeout):
        proc, _, err = self.exec_spawn(w, cs, argv)
        if err:
            return 126, b"", err.encode()
        try:
            out, errb = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return -1, b"", b"timeout"
        return proc.returncode, out, errb


# ================================================================================================
# node server (requests proxied by the API server)

EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
                  "channel.k8s.io", "base64.channel.k8s.io"]
PF_PROTOCOLS = ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"]


def forward_error(w, port, err):
    """The kubelet's text for a port the runtime could not dial (containerd's error inside)."""
    return ("error forwarding port %d to pod %s, uid %s: failed to connect to localhost:%d inside namespace "
            "\"%s\", %s" % (port, w.name, w.uid, port, w.netns, err))


class SpdyPortForward:
    """Stream pairing and forwarding of one SPDY port-forward connection (k8s httpStreamHandler):
    a pair is complete with its `error` and `data` stream (30 s to get both); then the runtime
    dials the port in the pod and copies both ways.  As containerd does, when one direction ends
    the other gets 1 s to finish, then the pod connection closes and both streams are closed
    (FIN); a failed dial is reported as text on the error stream."""

    CREATION_TIMEOUT = 30.0

    def __init__(self, w):
        self.w = w
        self.pairs = {}
        self.lock = threading.Lock()

    def check(self, st):
        port = st.header("port")
        if not port:
            return '"port" header is required'
        if not port.isdigit() or not 0 < int(port) < 65536:
            return 'unable to parse "%s" as a port' % port
        kind = st.header("streamtype")
        if not kind:
            return '"streamType" header is required'
        if kind not in ("error", "data"):
            return 'invalid stream type "%s"' % kind
        return None

    def opened(self, st):
        kind = st.header("streamtype")
        rid = st.header("requestid")
        if not rid:   # clients before request ids: consecutive stream ids (error, then data)
            rid = str(st.id if kind == "error" else st.id - 2)
        with self.lock:
            pair = self.pairs.get(rid)
            if pair is None:
                pair = self.pairs[rid] = {}
                _later(self.CREATION_TIMEOUT, self.expire, rid, pair)
            dup = kind in pair
            if not dup:
                pair[kind] = st
            complete = not dup and len(pair) == 2
            if complete:
                del self.pairs[rid]
        if dup:
            err = pair.get("error")
            if err is not None:
                err.write(("error processing stream for request %s: %s stream already assigned"
                           % (rid, kind)).encode())
        elif complete:
            threading.Thread(target=self.forward, args=(pair["error"], pair["data"]), daemon=True).start()

    def expire(self, rid, pair):
        with self.lock:
            if self.pairs.get(rid) is not pair:
                return
            del self.pairs[rid]
        if "error" in pair:
            pair["error"].write(b"timed out waiting for streams")
        for st in pair.values():
            st.close()

    @profiling.profiled("kubelet-pod-to-spdy")
    def forward(self, err, data):
        port = int(data.header("port"))
        try:
            pod = connect_in_netns(self.w.netns_path, port)
        except (ConnectionError, OSError) as e:
            err.write(forward_error(self.w, port, e).encode())
            err.close()
            data.close()
            return
        client_done = threading.Event()

        def to_pod(d):
            try:
                pod.sendall(d)         # blocking: back-pressure to the client
            except OSError:
                pass

        def client_ended():
            client_done.set()
            _later(1.0, _shutdown, pod)

        data.attach(to_pod, client_ended)
        try:
            while True:
                d = pod.recv(32768)
                if not d or not data.write(d):
                    break
        except OSError:
            pass
        client_done.wait(1.0)
        _shutdown(pod)
        pod.close()
        data.close()
        err.close()


def _later(delay, fn, *args):
    """fn(*args) after delay seconds, on a daemon thread (a pending one must not hold up the
    kubelet's exit)."""
    t = threading.Timer(delay, fn, args)
    t.daemon = True
    t.start()


def _shutdown(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class NodeServer:
    def __init__(self, kubelet):
        self.k = kubelet
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def serve(self):
        while not self.k.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    # ---- HTTP
    @profiling.profiled("kubelet-node")
    def handle(self, c):
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                if len(buf) > 1 << 16:
                    return
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = (headers[k.strip().lower()] + ", " if k.strip().lower() in headers
                                              else "") + v.strip()
            u = urllib.parse.urlsplit(target)
            q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            parts = [urllib.parse.unquote(p) for p in u.path.split("/") if p]
            route = parts[0] if parts else ""
            if route in ("exec", "attach") and len(parts) == 4:
                self.exec_attach(c, rest, method, headers, q, route, *parts[1:])
            elif route == "portforward" and len(parts) == 3:
                self.portforward(c, rest, method, headers, q, parts[1], parts[2])
            elif route == "containerLogs" and len(parts) == 4:
                self.logs(c, headers, q, *parts[1:])
            elif route in ("healthz", "readyz"):
                self.plain(c, 200, "ok")
            else:
                self.plain(c, 404, "404 page not found")
        except (OSError, WSClosed):
            pass
        except Exception:
            log("node server: %s", traceback.format_exc())
            try:
                self.plain(c, 500, "internal error")
            except OSError:
                pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def plain(c, code, text):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  500: "Internal Server Error"}.get(code, "Error")
        body = (text + ("\n" if text and not text.endswith("\n") else "")).encode()
        c.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (code, reason.encode(), len(body), body))

    def upgrade(self, c, rest, method, headers, supported):
        """WebSocket handshake. Returns the WebSocket or None (response already sent)."""
        if method != "GET" or "websocket" not in headers.get("upgrade", "").lower() or \
                "upgrade" not in headers.get("connection", "").lower():
            self.plain(c, 400, "Upgrade request required (this kubelet speaks WebSocket only, no SPDY)")
            return None
        if headers.get("sec-websocket-version") != "13" or not headers.get("sec-websocket-key"):
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")
            return None
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        chosen = None
        if not offered:
            chosen = ""
        else:
            for p in offered:
                if p in supported:
                    chosen = p
                    break
        if chosen is None:
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest())
        resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
               b"Sec-WebSocket-Accept: " + accept + b"\r\n"
        if chosen:
            resp += b"Sec-WebSocket-Protocol: " + chosen.encode() + b"\r\n"
        c.sendall(resp + b"\r\n")
        ws = WebSocket(c, rest, base64_mode="base64" in chosen)
        ws.protocol = chosen
        return ws

    def lookup(self, c, headers, ns, name, container=None):
        w = self.k.find(ns, name, headers.get("x-kdap-pod-uid"))
        if w is None:
            self.plain(c, 404, 'pod "%s" not found in namespace "%s"' % (name, ns))
            return None, None
        if container is None:
            return w, None
        cs = w.containers.get(container) or w.ephemerals.get(container)
        if cs is None:
            self.plain(c, 404, 'container "%s" not found in pod "%s"' % (container, name))
            return w, None
        return w, cs

    # ---- exec / attach
    def exec_attach(self, c, rest, method, headers, q, route, ns, name, container):
        w, cs = self.lookup(c, headers, ns, name, container)
        if cs is None:
            return

        def flag(*names):
            return any(q.get(n, [""])[0] in ("1", "true", "True") for n in names)
        stdin, stdout = flag("stdin", "input"), flag("stdout", "output")
        stderr, tty = flag("stderr", "error"), flag("tty")
        if tty:
            stderr = False
        command = q.get("command", [])
        if route == "exec" and not command:
            return self.plain(c, 400, "you must specify at least one command for the container")
        if not (stdin or stdout or stderr):
            return self.plain(c, 400, "you must specify at least 1 of stdin, stdout, stderr")
        if not cs.running():
            return self.plain(c, 400, 'container %s is not running' % container)
        ws = self.upgrade(c, rest, method, headers, EXEC_PROTOCOLS)
        if ws is None:
            return
        v4plus = ws.protocol.startswith("v4") or ws.protocol.startswith("v5")
        v5 = ws.protocol.startswith("v5")
        ready_ch = 1 if stdout else 2 if stderr else 3
        ws.send(ready_ch, b"")
        if route == "attach":
            return self.attach(ws, w, cs, stdin, stdout, stderr, v4plus)
        proc, master, err = self.k.exec_spawn(w, cs, command, tty=tty, stdin=stdin)
        if err:
            self.send_status(ws, v4plus, None, "failed to exec in container: failed to start exec in container "
                             "%s: OCI runtime exec failed: exec failed: unable to start container process: %s: "
                             "unknown" % (container, err), command)
            return ws.shutdown()
        outs = []
        if master is not None:
            outs.append(threading.Thread(target=self.pump_fd, args=(ws, master, 1), daemon=True))
        else:
            outs.append(threading.Thread(target=self.pump_pipe, args=(ws, proc.stdout, 1 if stdout else None),
                                         daemon=True))
            outs.append(threading.Thread(target=self.pump_pipe, args=(ws, proc.stderr, 2 if stderr else None),
                                         daemon=True))
        for t in outs:
            t.start()
        done = threading.Event()

        def reader():
            stdin_open = True
            try:
                while not done.is_set():
                    op, data = ws.recv_message()
                    m = ws.decode(op, data)
                    if m is None:
                        continue
                    ch, payload = m
                    if ch == 0 and stdin and stdin_open:
                        try:
                            if master is not None:
                                os.write(master, payload)
                            elif proc.stdin:
                                proc.stdin.write(payload)
                                proc.stdin.flush()
                        except (OSError, ValueError):
                            pass
                    elif ch == 4 and master is not None:
                        self.resize(master, payload)
                    elif ch == 255 and v5:
                        if len(payload) != 1:
                            raise WSClosed()
                        if payload[0] == 0:
                            stdin_open = False
                            if master is not None:
                                try:
                                    os.write(master, b"\x04")
                                except OSError:
                                    pass
                            elif proc.stdin:
                                try:
                                    proc.stdin.close()
                                except OSError:
                                    pass
            except (WSClosed, OSError):
                if not done.is_set():
                    # client went away: stop the command
                    kill(proc.pid, signal.SIGKILL)
                    for p in children_of(proc.pid):
                        kill(p, signal.SIGKILL)
        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        code = proc.wait()
        for t in outs:
            t.join(5)
        done.set()
        if master is not None:
            try:
                os.close(master)
            except OSError:
                pass
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            self.send_status(ws, v4plus, code, None, command)
        except (OSError, WSClosed):
            pass
        ws.shutdown()

    @staticmethod
    def resize(master, payload):
        dec = json.JSONDecoder()
        text = payload.decode(errors="replace").strip()
        while text:
            try:
                obj, end = dec.raw_decode(text)
            except ValueError:
                return
            text = text[end:].strip()
            lower = {k.lower(): v for k, v in obj.items()}
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", int(lower.get("height", 0)), int(lower.get("width", 0)), 0, 0))
            except (OSError, ValueError):
                pass

    @staticmethod
    def send_status(ws, v4plus, code, error, command):
        if code == 0 and error is None:
            if v4plus:
                ws.send(3, json.dumps({"metadata": {}, "status": "Success"}).encode())
            return
        if error is not None:
            st = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError",
                  "details": {"causes": [{"message": error}]}, "code": 500}
        else:
            st = {"metadata": {}, "status": "Failure",
                  "message": "command terminated with non-zero exit code: error executing command [%s], exit "
                             "code %d" % (" ".join(command), code),
                  "reason": "NonZeroExitCode",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        ws.send(3, json.dumps(st).encode() if v4plus else st["message"].encode())

    @staticmethod
    def pump_pipe(ws, pipe, ch):
        try:
            while True:
                d = pipe.read1(32768)
                if not d:
                    break
                if ch is not None:
                    ws.send(ch, d)
        except (OSError, ValueError, WSClosed):
            pass

    @staticmethod
    def pump_fd(ws, fd, ch):
        try:
            while True:
                d = os.read(fd, 32768)
                if not d:
                    break
                ws.send(ch, d)
        except (OSError, WSClosed):
            pass

    def attach(self, ws, w, cs, stdin, stdout, stderr, v4plus):
        proc = cs.proc
        path = cs.log_path
        stop = threading.Event()

        def reader():
            try:
                while not stop.is_set():
                    op, data = ws.recv_message()
                    m = ws.decode(op, data)
                    if m and m[0] == 0 and stdin and cs.stdin_w is not None:
                        try:
                            cs.stdin_w.write(m[1])
                            cs.stdin_w.flush()
                        except (OSError, ValueError):
                            pass
            except (WSClosed, OSError):
                pass
            stop.set()
        threading.Thread(target=reader, daemon=True).start()
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                partial = b""
                while not stop.is_set():
                    d = f.read(65536)
                    if d:
                        partial += d
                        *lines, partial = partial.split(b"\n")
                        for ln in lines:
                            rec = ln.split(b" ", 3)
                            if len(rec) < 4:
                                continue
                            ch = 1 if rec[1] == b"stdout" else 2
                            if (ch == 1 and stdout) or (ch == 2 and stderr):
                                ws.send(ch, rec[3] + (b"\n" if rec[2] == b"F" else b""))
                        continue
                    if proc.poll() is not None:
                        break
                    time.sleep(0.1)
            rc = proc.poll()
            if rc is not None:
                self.send_status(ws, v4plus, 128 - rc if rc < 0 else rc, None, [cs.name])
        except (OSError, WSClosed):
            pass
        stop.set()
        ws.shutdown()

    # ---- port-forward
    def portforward(self, c, rest, method, headers, q, ns, name):
        w, _ = self.lookup(c, headers, ns, name)
        if w is None:
            return
        if "websocket" not in headers.get("upgrade", "").lower():
            return self.portforward_spdy(c, rest, headers, w)   # the real kubelet's test, too
        raw = []
        for v in q.get("port", []):
            raw += v.split(",")
        if not raw:
            return self.plain(c, 400, 'query parameter "port" is required')
        ports = []
        for p in raw:
            try:
                n = int(p)
                if not 0 < n < 65536:
                    raise ValueError
            except ValueError:
                return self.plain(c, 400, 'unable to parse "%s" as a port: invalid port' % p)
            ports.append(n)
        if w.sandbox is None:
            return self.plain(c, 400, "pod %s has no network namespace yet" % name)
        ws = self.upgrade(c, rest, method, headers, PF_PROTOCOLS)
        if ws is None:
            return
        for i, p in enumerate(ports):
            ws.send(2 * i, struct.pack("<H", p))
            ws.send(2 * i + 1, struct.pack("<H", p))
        socks = {}
        remaining = [len(ports)]
        rlock = threading.Lock()

        def finished():
            with rlock:
                remaining[0] -= 1
                if remaining[0] <= 0:
                    ws.shutdown()

        for i, p in enumerate(ports):
            try:
                socks[i] = connect_in_netns(w.netns_path, p)
            except (ConnectionError, OSError) as e:
                try:
                    ws.send(2 * i + 1, forward_error(w, p, e).encode())
                except (OSError, WSClosed):
                    pass
                finished()
        if not socks:
            return

        @profiling.profiled("kubelet-pod-to-ws")
        def pod_to_ws(i, s):
            try:
                while True:
                    d = s.recv(32768)
                    if not d:
                        break
                    ws.send(2 * i, d)
            except (OSError, WSClosed):
                pass
            finished()

        threads = [threading.Thread(target=pod_to_ws, args=(i, s), daemon=True) for i, s in socks.items()]
        for t in threads:
            t.start()
        try:
            while True:
                op, data = ws.recv_message()
                # binary messages: the payload as a view, not a copy of up to 128 KiB
                m = (data[0], memoryview(data)[1:]) if data and not ws.b64 else ws.decode(op, data)
                if m is None:
                    continue
                ch, payload = m
                if ch % 2 == 0 and ch // 2 in socks and payload:
                    try:
                        socks[ch // 2].sendall(payload)   # blocking: back-pressure to the client
                    except OSError:
                        pass
        except (WSClosed, OSError):
            pass
        for s in socks.values():
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        for s in socks.values():
            s.close()
        ws.shutdown()

    def portforward_spdy(self, c, rest, headers, w):
        """kubectl's port-forward (plain, or tunnelled in a WebSocket and unwrapped by the API
        server): SPDY/3.1, one stream pair (error, data) per forwarded connection, paired by the
        `requestid` header, ports in the `port` header (k8s httpstream.go + containerd)."""
        offered = [p.strip() for p in headers.get("x-stream-protocol-version", "").split(",") if p.strip()]
        if not offered:
            return self.plain(c, 400, "unable to upgrade: X-Stream-Protocol-Version is required")
        if "portforward.k8s.io" not in offered:
            body = ("unable to upgrade: unable to negotiate protocol: client supports [%s], server accepts "
                    "[portforward.k8s.io]\n" % " ".join(offered)).encode()
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      b"X-Accepted-Stream-Protocol-Versions: portforward.k8s.io\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
            return
        if "upgrade" not in headers.get("connection", "").lower() or \
                "spdy/3.1" not in headers.get("upgrade", "").lower():
            return self.plain(c, 400, "unable to upgrade: missing upgrade headers in request")
        if w.sandbox is None:
            return self.plain(c, 400, "pod %s has no network namespace yet" % w.name)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                  b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
        spdy.ServerSession(c, rest, SpdyPortForward(w)).serve()

    # ---- logs
    def logs(self, c, headers, q, ns, name, container):
        w, cs = self.lookup(c, headers, ns, name, container)
        if cs is None:
            return

        def qv(k):
            return q.get(k, [""])[0]
        follow = qv("follow") in ("true", "1")
        timestamps = qv("timestamps") in ("true", "1")
        previous = qv("previous") in ("true", "1")
        tail = int(qv("tailLines")) if qv("tailLines").lstrip("-").isdigit() else None
        limit = int(qv("limitBytes")) if qv("limitBytes").isdigit() else None
        since = None
        try:
            if qv("sinceTime"):
                since = parse_ts(qv("sinceTime"))
            elif qv("sinceSeconds").isdigit():
                since = time.time() - int(qv("sinceSeconds"))
        except ValueError:
            return self.plain(c, 400, 'invalid sinceTime "%s"' % qv("sinceTime"))
        logdir = os.path.join(w.dir, "logs", cs.name)
        if previous:
            n = cs.restart_count - 1
            path = os.path.join(logdir, "%d.log" % n)
            if n < 0 or not os.path.exists(path):
                return self.plain(c, 400, 'previous terminated container "%s" in pod "%s" not found'
                                  % (container, name))
            follow = False
        else:
            path = cs.log_path
            if path is None or not os.path.exists(path):
                return self.plain(c, 400, 'container "%s" in pod "%s" is waiting to start: ContainerCreating'
                                  % (container, name))
        proc = cs.proc if not previous else None
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n")
        sent = [0]

        def emit(data):
            if limit is not None:
                data = data[:max(0, limit - sent[0])]
            if data:
                c.sendall(b"%x\r\n%s\r\n" % (len(data), data))
                sent[0] += len(data)
            return limit is None or sent[0] < limit

        def fmt(rec):
            parts = rec.split(b" ", 3)
            if len(parts) < 4:
                return None, b""
            ts, _stream, tagv, content = parts
            line = content + (b"\n" if tagv == b"F" else b"")
            return ts, (ts + b" " + line) if timestamps else line

        with open(path, "rb") as f:
            data = f.read()
            recs = data.split(b"\n")
            partial = recs.pop()
            out = []
            for r in recs:
                ts, line = fmt(r)
                if ts is None:
                    continue
                if since is not None:
                    try:
                        if parse_ts(ts.decode()) < since:
                            continue
                    except ValueError:
                        pass
                out.append(line)
            if tail is not None and tail >= 0:
                out = out[-tail:] if tail else []
            go_on = emit(b"".join(out))
            if follow and go_on:
                c.setblocking(True)
                # Woken by inotify when the log grows, as the real kubelet follows with fsnotify
                # (a fixed poll shows each new line up to a period late).  A file object, so the
                # descriptor closes with this frame however it returns.
                wake = [c]
                ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
                if ino >= 0:
                    wake.append(os.fdopen(ino, "rb", buffering=0))
                    libc.inotify_add_watch(ino, os.fsencode(path), 0x2)  # IN_MODIFY
                while True:
                    d = f.read(65536)
                    if d:
                        partial += d
                        *recs, partial = partial.split(b"\n")
                        chunk = b"".join(fmt(r)[1] for r in recs)
                        if chunk and not emit(chunk):
                            break
                        continue
                    if cs.proc is not proc or proc is None or proc.poll() is not None:
                        time.sleep(0.2)
                        d = f.read()
                        if d:
                            partial += d
                            *recs, partial = partial.split(b"\n")
                            emit(b"".join(fmt(r)[1] for r in recs))
                        break
                    rl, _, _ = select.select(wake, [], [], 0.2)
                    if wake[-1] in rl and wake[-1] is not c:
                        wake[-1].read(4096)  # the events: only the wake-up matters
                    if c in rl:
                        try:
                            if not c.recv(4096, socket.MSG_PEEK):
                                return
                            c.recv(4096)
                        except OSError:
                            return
        try:
            c.sendall(b"0\r\n\r\n")
        except OSError:
            pass


# ================================================================================================

def main():
    global LOG
    ap = argparse.ArgumentParser(description="kdap test-cluster kubelet")
    ap.add_argument("--dir", default=os.path.join(HERE, "..", "..", "build", "cluster"))
    args = ap.parse_args()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    LOG = open(os.path.join(d, "kubelet.log"), "a")
    if os.geteuid() != 0:
        print("kubelet: must run as root (namespaces, mounts)", file=sys.stderr)
        return 1
    k = Kubelet(d)
    for f in ("kubelet.port", "kubelet.ready"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    k.setup_node()
    srv = NodeServer(k)
    with open(os.path.join(d, "kubelet.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    with open(os.path.join(d, "kubelet.port"), "w") as f:
        f.write("%d\n" % srv.port)

    stop_ev = threading.Event()

    def on_signal(*_):
        stop_ev.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threading.Thread(target=srv.serve, daemon=True, name="node-server").start()
    kc = os.path.join(d, "kubelet.kubeconfig")
    while not os.path.exists(kc) and not stop_ev.is_set():
        time.sleep(0.1)
    k.api = ApiClient(kc)
    threading.Thread(target=k.watch_loop, daemon=True, name="watch-pods", args=(
        "pods", "/api/v1/pods?fieldSelector=" + urllib.parse.quote("spec.nodeName=" + NODE),
        k.on_pod_list, k.on_pod_event)).start()
    threading.Thread(target=k.watch_loop, daemon=True, name="watch-services", args=(
        "services", "/api/v1/services", k.on_svc_list, k.on_svc_event)).start()
    threading.Thread(target=k.hosts_loop, daemon=True, name="hosts").start()
    with open(os.path.join(d, "kubelet.ready"), "w") as f:
        f.write("127.0.0.1:%d\n" % srv.port)
    log("kubelet listening on 127.0.0.1:%d (pid %d, tag %s)", srv.port, os.getpid(), k.tag)
    while not stop_ev.wait(1):
        pass
    log("kubelet stopping")
    k.stopping = True
    with k.lock:
        workers = list(k.workers.values())
    for w in workers:
        w.wake.set()
    for w in workers:
        w.join(10)
    sweep(k.tag, d)
    k.teardown_node()
    for f in ("kubelet.port", "kubelet.ready", "kubelet.pid"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    log("kubelet stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
