#!/usr/bin/python3
"""Tests of the kubelet half of the local cluster (kubelet, registry, images, up/down), with the
real /usr/bin/kubectl and Debian's python3-kubernetes.

    /usr/bin/python3 tests/cluster/test_kubelet.py [-k pattern]

Needs root.  Uses its own cluster directory ($KDAP_KUBELET_TEST_DIR, default
build/cluster-kubelet-test) so that it can check that `down` leaves nothing behind without
disturbing a cluster someone else is using; the last test runs `down`.
"""
import base64
import json
import os
import random
import re
import socket
import ssl
import string
import struct
import subprocess
import sys
import time
import unittest
import urllib.parse
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import cluster_ctl  # noqa: E402
from api_testlib import kdap_debugger_image  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
REG = "127.0.0.1:5000/kdap/"
DIR = os.path.abspath(os.environ.get("KDAP_KUBELET_TEST_DIR") or os.path.join(REPO, "build", "cluster-kubelet-test"))
NS = "kl-" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
KUBECONFIG = os.path.join(DIR, "kubeconfig")


def wait_for(fn, timeout=30, interval=0.2, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def kubectl(*args, check=True, timeout=60, ns=True):
    cmd = [KUBECTL, "--kubeconfig", KUBECONFIG] + (["-n", NS] if ns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def v1():
    from kubernetes import client, config
    return client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))


def get_pod(name):
    return json.loads(kubectl("get", "pod", name, "-o", "json").stdout)


def create_pod(name, image, labels=None, command=None, restart="Always", **extra):
    c = {"name": "app", "image": REG + image}
    if command:
        c["command"] = command
    c.update(extra)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [c], "restartPolicy": restart, "terminationGracePeriodSeconds": 5}}
    v1().create_namespaced_pod(NS, body)


def wait_ready(name, timeout=60):
    def ready():
        p = get_pod(name)
        cs = (p["status"].get("containerStatuses") or [{}])[0]
        return p if p["status"].get("phase") == "Running" and cs.get("ready") else None
    return wait_for(ready, timeout, what="pod %s ready" % name)


def host_pid(pod, container="app"):
    """Host pid of a container's main process, found through the kubelet's state (NSpid)."""
    out = kubectl("exec", pod, "-c", container, "--", "cat", "/proc/1/cmdline").stdout
    argv0 = out.split("\0")[0]
    uid = get_pod(pod)["metadata"]["uid"]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/status" % p) as f:
                st = f.read()
            root = os.readlink("/proc/%s/root" % p)
        except OSError:
            continue
        m = re.search(r"NSpid:\s+(\d+)\s+1\n", st)
        if m and uid in root and open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")[0].decode() == argv0:
            return int(p)
    return None


class WSPortForward:
    """Minimal v4.channel.k8s.io port-forward client over TLS to the API server (one port).
    Used for the DAP session: python3-kubernetes' portforward selects on the raw socket and misses
    WebSocket frames already buffered inside the SSL object (a client bug, not a server one)."""

    def __init__(self, ns, pod, port):
        import yaml
        cfg = yaml.safe_load(open(KUBECONFIG))
        cl = cfg["clusters"][0]["cluster"]
        tok = next(u["user"]["token"] for u in cfg["users"] if u["name"] == "admin")
        u = urllib.parse.urlsplit(cl["server"])
        ctx = ssl.create_default_context(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
        ctx.set_alpn_protocols(["http/1.1"])
        self.s = ctx.wrap_socket(socket.create_connection((u.hostname, u.port)), server_hostname=u.hostname)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /api/v1/namespaces/%s/pods/%s/portforward?ports=%d HTTP/1.1\r\nHost: %s\r\n"
                        "Authorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
                        % (ns, pod, port, u.netloc, tok, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise ConnectionError("closed during handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        self.data = b""
        self.error = ""
        self.port = port
        for _ in range(2):
            ch, payload = self.frame()
            assert payload == struct.pack("<H", port), (ch, payload)

    def frame(self):
        def need(n):
            while len(self.buf) < n:
                d = self.s.recv(65536)
                if not d:
                    raise ConnectionError("websocket closed")
                self.buf += d
        while True:
            need(2)
            op, n, off = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if n == 126:
                need(4)
                n, off = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                need(10)
                n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
            need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            if op == 8:
                raise ConnectionError("websocket closed")
            if op in (1, 2) and payload:
                return payload[0], payload[1:]

    def send(self, data):
        mask = os.urandom(4)
        payload = b"\x00" + data
        n = len(payload)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        m = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
        self.s.sendall(hdr + mask + (int.from_bytes(payload, "little") ^ m).to_bytes(n, "little"))

    def recv(self):
        while True:
            ch, payload = self.frame()
            if ch == 0:
                return payload
            self.error += payload.decode(errors="replace")

    def close(self):
        self.s.close()


class DAP:
    def __init__(self, pf):
        self.pf, self.buf, self.seq = pf, b"", 0

    def request(self, command, args):
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": args}).encode()
        self.pf.send(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return self.seq

    def message(self):
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.pf.recv()
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(rest) < n:
            rest += self.pf.recv()
        self.buf = rest[n:]
        return json.loads(rest[:n])

    def response(self, seq):
        while True:
            m = self.message()
            if m.get("type") == "response" and m.get("request_seq") == seq:
                return m


def setUpModule():
    warnings.simplefilter("ignore", ResourceWarning)
    t0 = time.time()
    p = subprocess.run([os.path.join(HERE, "up"), "--dir", DIR], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("up failed:\n%s\n%s" % (p.stdout, p.stderr))
    assert "export KUBECONFIG=%s" % KUBECONFIG in p.stdout, p.stdout
    sys.stderr.write("[up took %.2fs]\n" % (time.time() - t0))
    kubectl("create", "namespace", NS, ns=False)


def tearDownModule():
    if os.environ.get("KDAP_KEEP_CLUSTER"):
        return
    subprocess.run([os.path.join(HERE, "down"), "--dir", DIR], capture_output=True, timeout=120)


class T1Pods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        create_pod("hello", "go-hello:latest", labels={"app": "hello"},
                   readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})
        cls.pod = wait_ready("hello")

    def test_01_status(self):
        st = get_pod("hello")["status"]
        self.assertRegex(st["podIP"], r"^10\.244\.0\.\d+$")
        cs = st["containerStatuses"][0]
        self.assertEqual(cs["image"], REG + "go-hello:latest")
        self.assertRegex(cs["imageID"], r"^127\.0\.0\.1:5000/kdap/go-hello@sha256:[0-9a-f]{64}$")
        self.assertTrue(cs["containerID"].startswith("kdap://"))
        self.assertTrue(cs["started"] and cs["ready"])
        self.assertIn("startedAt", cs["state"]["running"])
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            self.assertEqual(conds.get(t), "True", t)
        self.assertRegex(kubectl("get", "pods").stdout, r"hello\s+1/1\s+Running\s+0")

    def test_02_isolation(self):
        out = kubectl("exec", "hello", "--", "cat", "/proc/1/cmdline").stdout
        self.assertEqual(out.split("\0")[0], "/app/go-hello")
        self.assertEqual(kubectl("exec", "hello", "--", "hostname").stdout.strip(), "hello")
        ps = kubectl("exec", "hello", "--", "ps", "-o", "pid,comm").stdout.split("\n")[1:]
        pids = [int(line.split()[0]) for line in ps if line.strip()]
        self.assertEqual(min(pids), 1)
        self.assertLess(len(pids), 5, ps)   # the app, sh/ps of this exec: nothing from the host
        self.assertEqual(kubectl("exec", "hello", "--", "cat", "/etc/hostname").stdout.strip(), "hello")
        pid = host_pid("hello")
        self.assertIsNotNone(pid)
        for ns in ("pid", "mnt", "net", "uts", "ipc"):
            self.assertNotEqual(os.readlink("/proc/%d/ns/%s" % (pid, ns)), os.readlink("/proc/self/ns/" + ns), ns)
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        self.assertEqual(int(fields[3]), pid, "session leader (sid == pid)")
        self.assertNotIn("10.244.", subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout)
        # exit codes
        self.assertEqual(kubectl("exec", "hello", "--", "sh", "-c", "exit 3", check=False).returncode, 3)

    def test_03_logs(self):
        self.assertIn("go-hello listening on :8080", kubectl("logs", "hello").stdout)
        ts = kubectl("logs", "hello", "--timestamps", "--tail=1").stdout
        self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z .*go-hello listening")
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", KUBECONFIG, "-n", NS, "logs", "-f", "hello"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("go-hello listening", proc.stdout.readline())
            time.sleep(0.5)
            self.assertIsNone(proc.poll(), "logs -f must keep following")
        finally:
            proc.kill()
            proc.wait()

    def test_04_python_exec_and_portforward(self):
        from kubernetes.stream import portforward, stream
        api = v1()
        out = stream(api.connect_get_namespaced_pod_exec, "hello", NS, command=["cat", "/proc/1/cmdline"],
                     stderr=True, stdin=False, stdout=True, tty=False)
        self.assertTrue(out.startswith("/app/go-hello"), out)
        resp = stream(api.connect_get_namespaced_pod_exec, "hello", NS, command=["sh", "-c", "read x; echo got $x; exit 4"],
                      stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
        resp.write_stdin("abc\n")
        resp.run_forever(timeout=10)
        self.assertEqual(resp.returncode, 4)
        self.assertIn("got abc", resp.read_stdout())
        pf = portforward(api.connect_get_namespaced_pod_portforward, "hello", NS, ports="8080")
        s = pf.socket(8080)
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(b"GET /via-portforward HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                d = s.recv(4096)
            except socket.timeout:
                break
            if not d:
                break
            data += d
        s.close()
        pf.close()
        self.assertIn(b"HTTP/1.1 200 OK", data)
        self.assertRegex(data.decode(), r"hello /via-portforward #\d+")
        # nothing listens on 9229 inside the pod: error on the port's error channel
        with self.assertRaises(ConnectionError):
            pf2 = WSPortForward(NS, "hello", 9229)
            try:
                pf2.recv()
            finally:
                msg = pf2.error
                pf2.close()
        self.assertRegex(msg, r"error forwarding port 9229 to pod hello, uid [0-9a-f-]+: failed to connect to "
                              r"localhost:9229 inside namespace .*connection refused")

    def test_05_ephemeral_debug_containers(self):
        kubectl("debug", "hello", "--target=app", "--profile=general", "--image=" + REG + "busybox:latest",
                "-c", "dbg", "--", "sh", "-c", "ps -o pid,comm; cat /proc/1/cmdline; echo; sleep 60")
        out = wait_for(lambda: "/app/go-hello" in kubectl("logs", "hello", "-c", "dbg", check=False).stdout
                       and kubectl("logs", "hello", "-c", "dbg").stdout, what="debug container output")
        self.assertRegex(out, r"\n\s+1 go-hello\n")      # sees the app as PID 1, like a real cluster
        st = get_pod("hello")["status"]["ephemeralContainerStatuses"][0]
        self.assertEqual(st["name"], "dbg")
        self.assertIn("running", st["state"])
        self.assertIn("go-hello", kubectl("exec", "hello", "-c", "dbg", "--", "ps").stdout)
        # a real debugger: dlv in its own image attaches to PID 1 and is reached through port-forward
        kubectl("debug", "hello", "--target=app", "--profile=general", "--image=" + kdap_debugger_image("go"),
                "-c", "dlv", "--", "dlv", "dap", "--listen=127.0.0.1:40000")
        wait_for(lambda: "listening" in kubectl("logs", "hello", "-c", "dlv", check=False).stdout,
                 what="dlv listening")
        pf = WSPortForward(NS, "hello", 40000)
        dap = DAP(pf)
        r = dap.response(dap.request("initialize", {"adapterID": "go", "clientID": "test"}))
        self.assertTrue(r["success"])
        r = dap.response(dap.request("attach", {"mode": "local", "processId": 1}))
        self.assertTrue(r["success"], r)
        r = dap.response(dap.request("threads", {}))
        self.assertTrue(r["body"]["threads"])
        dap.response(dap.request("disconnect", {"terminateDebuggee": False}))
        pf.close()
        wait_for(lambda: "terminated" in ([s for s in get_pod("hello")["status"]["ephemeralContainerStatuses"]
                                           if s["name"] == "dlv"][0]["state"]), what="dlv exited")
        self.assertIn("hello /after-debug", kubectl("exec", "hello", "--", "wget", "-q", "-O-",
                                                    "http://127.0.0.1:8080/after-debug").stdout)

    def test_06_bad_image(self):
        create_pod("badimg", "does-not-exist:latest")
        seen = {}

        def waiting():
            cs = (get_pod("badimg")["status"].get("containerStatuses") or [{}])[0]
            w = cs.get("state", {}).get("waiting", {})
            if w.get("reason"):
                seen[w["reason"]] = w.get("message", "")
            return "ImagePullBackOff" in seen and "ErrImagePull" in seen
        wait_for(waiting, 40, interval=0.1, what="ErrImagePull then ImagePullBackOff")
        self.assertIn("not found", seen["ErrImagePull"])
        self.assertIn("manifest unknown", seen["ImagePullBackOff"])
        self.assertEqual(get_pod("badimg")["status"]["phase"], "Pending")

    def test_07_crashloop(self):
        create_pod("crash", "busybox:latest", command=["sh", "-c", "echo boom; exit 2"])

        def backoff():
            cs = (get_pod("crash")["status"].get("containerStatuses") or [{}])[0]
            return cs if cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" else None
        cs = wait_for(backoff, 40, what="CrashLoopBackOff")
        self.assertGreaterEqual(cs["restartCount"], 1)
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 2)
        self.assertIn("boom", kubectl("logs", "crash", "--previous").stdout)

    def test_08_services(self):
        create_pod("server", "go-hello:latest", labels={"app": "srv"})
        create_pod("client", "busybox:latest", command=["sleep", "3600"])
        v1().create_namespaced_service(NS, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "srv"},
                                            "spec": {"selector": {"app": "srv"},
                                                     "ports": [{"port": 8080, "targetPort": 8080}]}})
        wait_ready("server")
        wait_ready("client")
        out = wait_for(lambda: kubectl("exec", "client", "--", "wget", "-q", "-O-",
                                       "http://srv:8080/by-name", check=False).stdout, what="service by name")
        self.assertRegex(out, r"hello /by-name #\d+")
        fq = kubectl("exec", "client", "--", "wget", "-q", "-O-", "http://srv.%s.svc.cluster.local:8080/fq" % NS).stdout
        self.assertIn("hello /fq", fq)

    def test_09_delete(self):
        create_pod("victim", "c-hello:latest")
        wait_ready("victim")
        pid = host_pid("victim")
        uid = get_pod("victim")["metadata"]["uid"]
        t0 = time.time()
        kubectl("delete", "pod", "victim", "--wait=true", timeout=60)
        self.assertLess(time.time() - t0, 20)
        self.assertFalse(cluster_ctl.pid_alive(pid), "container process gone")
        self.assertNotIn("-" + uid.replace("-", "")[:8], subprocess.run(["ip", "netns"], capture_output=True,
                                                                       text=True).stdout)
        logs = open(os.path.join(DIR, "kubelet.log")).read()
        self.assertIn("pod %s/victim: deleting" % NS, logs)


    def test_10_liveness_probe_restarts_a_stopped_process(self):
        """A liveness probe that fails failureThreshold times in a row kills the container (the
        stop signal, SIGKILL after the probe's grace period) and restartPolicy restarts it, as a
        debugger stopped at a breakpoint gets it killed on a real node; a probe that passes never
        does."""
        create_pod("live", "go-hello:latest",
                   livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1,
                                  "timeoutSeconds": 1, "failureThreshold": 2,
                                  "terminationGracePeriodSeconds": 1})
        wait_ready("live")
        time.sleep(3)  # three periods of passing probes
        cs = get_pod("live")["status"]["containerStatuses"][0]
        self.assertEqual(cs["restartCount"], 0, "a passing liveness probe restarts nothing")
        pid = host_pid("live")
        os.kill(pid, 19)  # SIGSTOP: the socket still listens, nobody answers
        t0 = time.time()

        def restarted():
            c = get_pod("live")["status"]["containerStatuses"][0]
            return c if c["restartCount"] >= 1 and "running" in c["state"] else None
        cs = wait_for(restarted, 20, what="the liveness restart")
        took = time.time() - t0
        self.assertFalse(cluster_ctl.pid_alive(pid), "the stopped process was killed")
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 137)  # SIGTERM waits for SIGCONT
        # 2 failures 1 s apart, each up to its 1 s timeout, then 1 s grace; the loop's 0.25 s tick
        self.assertLess(took, 8, "killed within failureThreshold x period + timeout + grace")
        self.assertGreater(took, 2, "not before the second failure")
        self.assertIn("container app failed liveness probe 2 times", open(os.path.join(DIR, "kubelet.log")).read())


class T2SecurityContext(unittest.TestCase):
    """The kubelet enforces what securityContext says, seen from inside the container."""

    @staticmethod
    def status(pod, container="app", field=None):
        out = kubectl("exec", pod, "-c", container, "--", "cat", "/proc/1/status").stdout
        vals = dict(ln.split(":\t", 1) for ln in out.splitlines() if ":\t" in ln)
        return vals if field is None else vals[field].strip()

    def test_a_default_set_and_no_flags(self):
        create_pod("plain", "busybox:latest", command=["sleep", "300"])
        wait_ready("plain")
        st = self.status("plain")
        self.assertEqual(st["CapBnd"].strip(), "00000000a80425fb")   # containerd's default set
        self.assertEqual(st["CapEff"].strip(), "00000000a80425fb")
        self.assertEqual(st["CapAmb"].strip(), "0000000000000000")
        self.assertEqual(st["NoNewPrivs"].strip(), "0")
        kubectl("exec", "plain", "--", "touch", "/written")

    def test_drop_all_read_only_no_new_privs(self):
        sc = {"capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE"]}, "allowPrivilegeEscalation": False,
              "readOnlyRootFilesystem": True, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}
        create_pod("locked", "busybox:latest", command=["sleep", "300"], securityContext=sc)
        wait_ready("locked")
        st = self.status("locked")
        for f in ("CapBnd", "CapEff", "CapPrm"):
            self.assertEqual(st[f].strip(), "0000000000080000", f)   # SYS_PTRACE (19) alone
        self.assertEqual(st["CapInh"].strip(), "0000000000000000")
        self.assertEqual(st["CapAmb"].strip(), "0000000000000000")
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        # an exec into it gets the same
        out = kubectl("exec", "locked", "--", "cat", "/proc/self/status").stdout
        self.assertIn("CapEff:\t0000000000080000", out)
        self.assertIn("NoNewPrivs:\t1", out)
        # the root file system is read-only; /dev/shm is the writable tmpfs it is everywhere
        for path in ("/x", "/tmp/x", "/root/x"):
            p = kubectl("exec", "locked", "--", "touch", path, check=False)
            self.assertNotEqual(p.returncode, 0, path)
            self.assertIn("Read-only file system", p.stderr, path)
        kubectl("exec", "locked", "--", "touch", "/dev/shm/x")
        # a dropped capability is really gone: DAC_OVERRIDE (root cannot read a mode-0 directory)
        probe = ["sh", "-c", "mkdir -m 0 /dev/shm/d && ls /dev/shm/d"]
        p = kubectl("exec", "locked", "--", *probe, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Permission denied", p.stderr)
        self.assertEqual(kubectl("exec", "plain", "--", *probe, check=False).returncode, 0)

    def test_run_as_user_and_group(self):
        sc = {"runAsUser": 1000, "runAsGroup": 2000, "capabilities": {"add": ["SYS_PTRACE"]}}
        create_pod("asuser", "busybox:latest", command=["sleep", "300"], securityContext=sc)
        wait_ready("asuser")
        st = self.status("asuser")
        self.assertEqual(st["Uid"].split(), ["1000"] * 4)
        self.assertEqual(st["Gid"].split(), ["2000"] * 4)
        # a non-root process keeps no capability (Kubernetes sets no ambient ones); the bounding set
        # is the container's
        self.assertEqual(st["CapEff"].strip(), "0000000000000000")
        self.assertEqual(st["CapPrm"].strip(), "0000000000000000")
        self.assertEqual(st["CapBnd"].strip(), "00000000a80c25fb")   # default + SYS_PTRACE
        self.assertEqual(kubectl("exec", "asuser", "--", "id", "-u").stdout.strip(), "1000")

    def test_run_as_non_root_refuses_root(self):
        create_pod("nonroot", "busybox:latest", command=["sleep", "300"],
                   securityContext={"runAsNonRoot": True})

        def waiting():
            cs = (get_pod("nonroot")["status"].get("containerStatuses") or [{}])[0]
            return cs.get("state", {}).get("waiting", {}).get("reason") == "CreateContainerConfigError" and cs
        cs = wait_for(waiting, 30, what="CreateContainerConfigError")
        self.assertIn("container has runAsNonRoot and image will run as root", cs["state"]["waiting"]["message"])


class T9Down(unittest.TestCase):
    def test_zz_down(self):
        if os.environ.get("KDAP_KEEP_CLUSTER"):
            self.skipTest("KDAP_KEEP_CLUSTER set")
        t0 = time.time()
        p = subprocess.run([os.path.join(HERE, "down"), "--dir", DIR], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        procs, netns, mounts = cluster_ctl.leftovers(DIR)
        self.assertEqual((procs, netns, mounts), ([], [], []))
        with open("/proc/mounts") as f:
            self.assertNotIn(DIR, f.read())
        self.assertFalse(os.path.exists(os.path.join(DIR, "kubelet.ready")))
        sys.stderr.write("[down took %.2fs]\n" % (time.time() - t0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
