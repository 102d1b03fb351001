#!/usr/bin/python3
"""kdap's Kubernetes client (kube/) end to end against the local cluster (tests/cluster): every
authentication mode, kubeconfig merging, the API error messages, watch resume/re-list, exec,
port-forward integrity (100 MiB each way, 50 connections, closed port, pod deleted mid-transfer),
and that no secret ever reaches kdap's log or output.

    /usr/bin/python3 -m unittest -v test_kube        (from tests/e2e; needs root for the cluster)
"""
import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubecluster import KDAP, PortForward, module_cluster, module_cluster_done  # noqa: E402

C = None
PLUGIN_MARKER = "plugin-output-marker-7f3a9c"


def setUpModule():
    global C
    C = module_cluster()


def tearDownModule():
    module_cluster_done(C)


def kubeconfig_text(cluster=None, user=None, context_ns=None, current="t"):
    return C.kubeconfig_text(cluster=cluster, user=user, ns=context_ns, current=current)


def admin_token():
    return C.user("admin")["token"]


class TestAuth(unittest.TestCase):
    def doctor(self, *args, env=None, code=0):
        p = C.kdap("doctor", *args, env=env, timeout=60)
        self.assertEqual(p.returncode, code, p.stdout + p.stderr)
        return p.stdout + p.stderr

    def test_token_context(self):
        out = self.doctor("-n", C.ns)
        self.assertIn("you are:     admin", out)
        self.assertIn("result: OK", out)

    def test_client_cert_data(self):
        out = self.doctor("--context", "alice-cert", "-n", C.ns)
        self.assertIn("you are:     alice", out)
        self.assertIn("client certificate", out)

    def test_client_cert_files(self):
        u = C.user("alice")
        C.write("alice.crt", base64.b64decode(u["client-certificate-data"]).decode())
        C.write("alice.key", base64.b64decode(u["client-key-data"]).decode())
        kc = C.write("cert-files.kubeconfig", kubeconfig_text(
            user={"client-certificate": "alice.crt", "client-key": "./alice.key"}))
        out = self.doctor("--kubeconfig", kc)
        self.assertIn("you are:     alice", out)

    def test_token_file_and_reread(self):
        tok = C.write("token", admin_token() + "\n")
        kc = C.write("tokenfile.kubeconfig", kubeconfig_text(user={"tokenFile": "token"}))
        out = self.doctor("--kubeconfig", kc)
        self.assertIn("you are:     admin", out)
        self.assertIn("tokenFile " + tok, out)
        # A watch re-connects every 5 s: a token file changed in between is read again.
        proc = subprocess.Popen([KDAP, "kube-request", "--kubeconfig", kc, "--watch", "--timeout",
                                 "20", "GET", "/api/v1/namespaces/%s/pods" % C.ns],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=C.env())
        time.sleep(1.5)
        C.write("token", "not-a-valid-token\n")
        out, err = proc.communicate(timeout=30)
        C.outputs.append(out + err)
        self.assertIn("ADDED echo", out)
        self.assertEqual(proc.returncode, 1, out + err)
        self.assertIn("rejected the credentials", err)

    def plugin(self, name, api, body, expiry_s=None):
        """An exec plugin (python) counting its runs in NAME.count and saving KUBERNETES_EXEC_INFO."""
        code = r'''#!/usr/bin/python3
import json, os, sys, datetime
d = os.path.dirname(os.path.abspath(__file__))
cnt = os.path.join(d, "%(name)s.count")
n = int(open(cnt).read()) + 1 if os.path.exists(cnt) else 1
open(cnt, "w").write(str(n))
open(os.path.join(d, "%(name)s.info"), "w").write(os.environ.get("KUBERNETES_EXEC_INFO", ""))
if not sys.stdin.isatty() and sys.stdin.read(1) != "":
    sys.exit(7)
status = %(body)s
status["kdapMarker"] = "%(marker)s"
if %(expiry)r is not None:
    t = datetime.datetime.utcnow() + datetime.timedelta(seconds=%(expiry)r)
    status["expirationTimestamp"] = t.strftime("%%Y-%%m-%%dT%%H:%%M:%%SZ")
print(json.dumps({"apiVersion": "%(api)s", "kind": "ExecCredential", "status": status}))
''' % {"name": name, "body": body, "api": api, "expiry": expiry_s, "marker": PLUGIN_MARKER}
        path = C.write(name + ".py", code, 0o755)
        try:
            os.unlink(os.path.join(C.tmp, name + ".count"))
        except FileNotFoundError:
            pass
        return path

    def count(self, name):
        with open(os.path.join(C.tmp, name + ".count")) as f:
            return int(f.read())

    def test_exec_plugin_v1_cached(self):
        self.plugin("p1", "client.authentication.k8s.io/v1",
                    '{"token": %r}' % admin_token(), expiry_s=3600)
        kc = C.write("p1.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./p1.py",
            "interactiveMode": "Never", "provideClusterInfo": True,
            "env": [{"name": "KDAP_TEST", "value": "1"}]}}))
        out = self.doctor("--kubeconfig", kc)
        self.assertIn("you are:     admin", out)
        self.assertEqual(self.count("p1"), 1, "the credential is cached until it expires")
        with open(os.path.join(C.tmp, "p1.info")) as f:
            info = json.load(f)
        self.assertEqual(info["kind"], "ExecCredential")
        self.assertEqual(info["apiVersion"], "client.authentication.k8s.io/v1")
        self.assertIs(info["spec"]["interactive"], False)
        self.assertEqual(info["spec"]["cluster"]["server"], "https://127.0.0.1:%d" % C.port)

    def test_exec_plugin_v1beta1_expiry(self):
        # Expires after 2 s; the watch reconnects every 5 s and must run the plugin again.
        self.plugin("p2", "client.authentication.k8s.io/v1beta1",
                    '{"token": %r}' % admin_token(), expiry_s=2)
        kc = C.write("p2.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./p2.py"}}))
        p = C.kdap("kube-request", "--kubeconfig", kc, "--watch", "--timeout", "12", "GET",
                   "/api/v1/namespaces/%s/pods" % C.ns, timeout=40)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("END timeout", p.stdout)
        self.assertGreaterEqual(self.count("p2"), 2, "an expired credential is refreshed")

    def test_exec_plugin_rerun_on_401(self):
        # First run gives a rejected token, the second the good one.
        body = ('({"token": "rejected-token"} if n == 1 else {"token": %r})' % admin_token())
        self.plugin("p3", "client.authentication.k8s.io/v1", body)
        kc = C.write("p3.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./p3.py",
            "interactiveMode": "IfAvailable"}}))
        out = self.doctor("--kubeconfig", kc)
        self.assertIn("you are:     admin", out)
        self.assertEqual(self.count("p3"), 2)

    def test_exec_plugin_client_cert(self):
        u = C.user("alice")
        body = json.dumps({"clientCertificateData": base64.b64decode(u["client-certificate-data"]).decode(),
                           "clientKeyData": base64.b64decode(u["client-key-data"]).decode()})
        self.plugin("p4", "client.authentication.k8s.io/v1beta1", body)
        kc = C.write("p4.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./p4.py"}}))
        out = self.doctor("--kubeconfig", kc)
        self.assertIn("you are:     alice", out)

    def test_exec_plugin_errors(self):
        kc = C.write("p5.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/plugin",
            "interactiveMode": "Never", "installHint": "install it with apt"}}))
        out = self.doctor("--kubeconfig", kc, code=1)
        self.assertIn("cannot run the exec credential plugin /nonexistent/plugin", out)
        self.assertIn("install it with apt", out)
        C.write("bad.py", "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":\"x\",'"
                "'\"status\":{\"token\":\"%s\"}}'\n" % PLUGIN_MARKER, 0o755)
        kc = C.write("p6.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./bad.py",
            "interactiveMode": "Never"}}))
        out = self.doctor("--kubeconfig", kc, code=1)
        self.assertIn("different apiVersion", out)
        C.write("fail.sh", "#!/bin/sh\nexit 3\n", 0o755)
        kc = C.write("p7.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./fail.sh",
            "interactiveMode": "Never"}}))
        out = self.doctor("--kubeconfig", kc, code=1)
        self.assertIn("failed with exit status 3", out)

    def test_exec_plugin_background_child(self):
        """A plugin that leaves a child holding its stdout: kdap finishes when the
        plugin exits (not when the child does, nor at the 60 s timeout), and the
        plugin runs as the leader of its own process group."""
        C.write("bg.sh", "#!/bin/sh\n"
                "cd \"$(dirname \"$0\")\"\n"
                "ps -o pgid= -p $$ | tr -d ' ' > bg.pgid\n"
                "echo $$ > bg.pid\n"
                "sleep 100 2>/dev/null &\n"
                "echo $! > bg.child\n"
                "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'"
                "'\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}\\n'\n"
                % admin_token(), 0o755)
        kc = C.write("bg.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./bg.sh",
            "interactiveMode": "Never"}}))
        t0 = time.monotonic()
        try:
            out = self.doctor("--kubeconfig", kc)
            took = time.monotonic() - t0
        finally:
            with open(os.path.join(C.tmp, "bg.child")) as f:
                child = int(f.read())
            try:
                os.kill(child, 9)
            except ProcessLookupError:
                pass
        self.assertIn("you are:     admin", out)
        self.assertLess(took, 10, "auth waited for the plugin's background child")
        with open(os.path.join(C.tmp, "bg.pid")) as f, \
                open(os.path.join(C.tmp, "bg.pgid")) as g:
            self.assertEqual(f.read().strip(), g.read().strip(),
                             "the plugin leads its own process group")

    def test_exec_plugin_timeout_kills_its_group(self):
        """A plugin that never finishes, with a child holding its stdout: at the 60 s
        timeout kdap kills the plugin's whole process group (the child too, or its pipe
        would stay open), and says so."""
        C.write("hang.sh", "#!/bin/sh\n"
                "cd \"$(dirname \"$0\")\"\n"
                "sleep 300 2>/dev/null &\n"
                "echo $! > hang.child\n"
                "exec sleep 300 2>/dev/null\n", 0o755)
        kc = C.write("hang.kubeconfig", kubeconfig_text(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "./hang.sh",
            "interactiveMode": "Never"}}))
        t0 = time.monotonic()
        try:
            p = C.kdap("doctor", "--kubeconfig", kc, timeout=90)
        finally:
            with open(os.path.join(C.tmp, "hang.child")) as f:
                child = int(f.read())
            alive = os.path.exists("/proc/%d" % child) and \
                "State:\tZ" not in open("/proc/%d/status" % child).read()
            if alive:
                os.kill(child, 9)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("did not finish in 60 s", p.stdout + p.stderr)
        self.assertLess(time.monotonic() - t0, 75)
        self.assertFalse(alive, "the plugin's child outlived the timeout")

    def test_in_cluster(self):
        sa = os.path.join(C.tmp, "sa")
        os.makedirs(sa, exist_ok=True)
        with open(os.path.join(sa, "token"), "w") as f:
            f.write(admin_token())
        with open(C.ca_file) as src, open(os.path.join(sa, "ca.crt"), "w") as dst:
            dst.write(src.read())
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write(C.ns)
        env = C.env(KUBECONFIG=None, HOME=C.tmp, KUBERNETES_SERVICE_HOST="127.0.0.1",
                    KUBERNETES_SERVICE_PORT=str(C.port), KDAP_SERVICEACCOUNT_DIR=sa)
        out = self.doctor(env=env)
        self.assertIn("in-cluster configuration", out)
        self.assertIn("namespace:   " + C.ns, out)
        self.assertIn("result: OK", out)


class TestConfig(unittest.TestCase):
    def test_merge_first_wins(self):
        ctx_only = C.write("ctx-only", json.dumps({
            "current-context": "merged",
            "contexts": [{"name": "merged", "context": {"cluster": "kdap-local", "user": "alice",
                                                       "namespace": C.ns}}]}))
        env = C.env(KUBECONFIG="%s:%s/missing:%s" % (ctx_only, C.tmp, C.kubeconfig))
        p = C.kdap("doctor", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("you are:     alice", p.stdout)
        self.assertIn("context:     merged", p.stdout)
        # A cluster of the same name in an earlier file wins entirely.
        shadow = C.write("shadow", json.dumps({"clusters": [{"name": "kdap-local", "cluster": {
            "server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}]}))
        env = C.env(KUBECONFIG="%s:%s" % (shadow, C.kubeconfig))
        p = C.kdap("doctor", env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("https://127.0.0.1:1", p.stdout + p.stderr)
        self.assertIn("NOT REACHABLE", p.stdout)

    def test_config_errors_name_file_context_field(self):
        p = C.kdap("doctor", "--context", "nope")
        self.assertEqual(p.returncode, 1)
        self.assertIn('context "nope" is not in kubeconfig ' + C.kubeconfig, p.stderr)
        self.assertIn("kdap-local", p.stderr)
        bad = C.write("badyaml", "clusters:\n- name: [x\n")
        p = C.kdap("doctor", "--kubeconfig", bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn(bad, p.stderr)
        self.assertIn("line", p.stderr)
        kc = C.write("nokey", kubeconfig_text(user={"client-certificate": "/nonexistent.crt",
                                                    "client-key": "/nonexistent.key"}))
        p = C.kdap("doctor", "--kubeconfig", kc)
        self.assertIn("cannot read /nonexistent.crt (client-certificate of user \"u\" in %s)" % kc,
                      p.stderr)

    def test_tls_server_name_and_ca(self):
        cl = {"server": "https://127.0.0.1:%d" % C.port, "certificate-authority": C.ca_file,
              "tls-server-name": "kubernetes"}
        kc = C.write("tsn", kubeconfig_text(cluster=cl, user={"token": admin_token()}))
        p = C.kdap("doctor", "--kubeconfig", kc)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        cl["tls-server-name"] = "wrong.example.com"
        kc = C.write("tsn-bad", kubeconfig_text(cluster=cl, user={"token": admin_token()}))
        p = C.kdap("doctor", "--kubeconfig", kc)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not trusted", p.stderr)
        self.assertIn("tls-server-name", p.stderr)
        # A CA that did not sign the server's certificate.
        alice_crt = base64.b64decode(C.user("alice")["client-certificate-data"]).decode()
        cl = {"server": "https://127.0.0.1:%d" % C.port,
              "certificate-authority-data": base64.b64encode(alice_crt.encode()).decode()}
        kc = C.write("wrongca", kubeconfig_text(cluster=cl, user={"token": admin_token()}))
        p = C.kdap("doctor", "--kubeconfig", kc)
        self.assertEqual(p.returncode, 1)
        self.assertIn("certificate-authority-data of cluster \"c\" in %s" % kc, p.stderr)

    def test_insecure_warns(self):
        cl = {"server": "https://127.0.0.1:%d" % C.port, "insecure-skip-tls-verify": True}
        kc = C.write("insecure", kubeconfig_text(cluster=cl, user={"token": admin_token()}))
        env = C.env()
        p = C.kdap("doctor", "--kubeconfig", kc, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("WARNING:     insecure-skip-tls-verify", p.stdout)
        with open(env["KDAP_LOG"]) as f:
            self.assertIn("NOT verified", f.read())


class TestApiErrors(unittest.TestCase):
    def req(self, *args, **kw):
        return C.kdap("kube-request", *args, **kw)

    def test_401(self):
        p = C.kdap("doctor", "--context", "bad-token")
        self.assertEqual(p.returncode, 1)
        self.assertIn('the API server rejected the credentials of user "bad-token" of context '
                      '"bad-token"', p.stderr)

    def test_403(self):
        p = C.kdap("doctor", "--context", "restricted", "-n", C.ns)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout, r"MISSING create\s+pods/portforward")
        self.assertRegex(p.stdout, r"ok\s+get\s+pods\s")
        p = self.req("--context", "restricted", "POST", "/api/v1/namespaces/%s/pods" % C.ns,
                     '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}')
        self.assertIn('forbidden: user "restricted" of context "restricted"', p.stderr)
        self.assertIn("may not create pods in namespace " + C.ns, p.stderr)

    def test_404_409_422(self):
        p = self.req("GET", "/api/v1/namespaces/%s/pods/nope" % C.ns)
        self.assertIn('not found (404): pods "nope" not found', p.stderr)
        p = self.req("POST", "/api/v1/namespaces", '{"apiVersion":"v1","kind":"Namespace",'
                     '"metadata":{"name":"%s"}}' % C.ns)
        self.assertIn("conflict (409, AlreadyExists)", p.stderr)
        p = self.req("POST", "/api/v1/namespaces/%s/pods" % C.ns,
                     '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},'
                     '"spec":{"containers":[{"name":"a"}]}}')
        self.assertIn("invalid (422)", p.stderr)
        self.assertIn("spec.containers[0].image", p.stderr)

    def test_namespace_and_pod_security(self):
        p = C.kdap("doctor", "-n", "kdap-baseline")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Pod Security enforce: baseline", p.stdout)
        p = C.kdap("doctor", "-n", "no-such-namespace-x")
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not exist", p.stdout)


class FakeApi(http.server.BaseHTTPRequestHandler):
    """Plain-HTTP fake API server for the watch protocol: scripted by the test."""
    protocol_version = "HTTP/1.1"
    log = []
    script = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        FakeApi.log.append(self.path)
        status, events, hold = FakeApi.script(self.path)
        if events is None:
            body = json.dumps(status).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for ev in events:
            data = json.dumps(ev).encode()
            # split every event over two chunks
            for part in (data[:7], data[7:] + b"\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        time.sleep(hold)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class TestWatch(unittest.TestCase):
    def test_resume_and_relist_on_410(self):
        lists = [0]

        def script(path):
            if "watch=1" not in path:
                lists[0] += 1
                rv = "10" if lists[0] == 1 else "20"
                return ({"kind": "PodList", "metadata": {"resourceVersion": rv},
                         "items": [{"metadata": {"name": "a", "resourceVersion": rv}}]}, None, 0)
            if "resourceVersion=10" in path:
                return 200, [{"type": "MODIFIED", "object": {"metadata": {"name": "a",
                                                                           "resourceVersion": "11"}}},
                             {"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                          "reason": "Expired",
                                                          "message": "too old resource version"}}], 0
            if "resourceVersion=20" in path:
                return 200, [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "25"}}},
                             {"type": "DELETED", "object": {"metadata": {"name": "a",
                                                                          "resourceVersion": "26"}}}], 0
            return 200, [], 30

        FakeApi.log = []
        FakeApi.script = staticmethod(script)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            kc = C.write("fake", kubeconfig_text(
                cluster={"server": "http://127.0.0.1:%d" % srv.server_address[1]},
                user={"token": "fake-token"}))
            p = C.kdap("kube-request", "--kubeconfig", kc, "--watch", "--timeout", "3", "GET",
                       "/api/v1/namespaces/x/pods?fieldSelector=metadata.name=a", timeout=20)
        finally:
            srv.shutdown()
            srv.server_close()
        self.assertEqual(p.stdout.split("\n")[:5],
                         ["ADDED a 10", "MODIFIED a 11", "ADDED a 20", "DELETED a 26", "END timeout"],
                         p.stdout + p.stderr)
        paths = FakeApi.log
        self.assertNotIn("watch=1", paths[0])
        self.assertIn("resourceVersion=10", paths[1])
        self.assertIn("allowWatchBookmarks=true", paths[1])
        self.assertIn("fieldSelector=metadata.name%3Da", paths[1])
        self.assertNotIn("watch=1", paths[2])
        self.assertIn("resourceVersion=20", paths[3])
        self.assertIn("resourceVersion=26", paths[4])


class TestExec(unittest.TestCase):
    def test_exec_exit_codes_and_stdin(self):
        p = C.kdap("exec", "-n", C.ns, "pod/echo", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "out\n")
        self.assertIn("err", p.stderr)
        data = "".join(chr(32 + (i * 7) % 90) for i in range(300000))
        p = C.kdap("exec", "-i", "-n", C.ns, "pod/echo", "--", "cat", stdin=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, data)
        with open(C.logs[-1]) as f:
            self.assertIn("over v5.channel.k8s.io", f.read())

    def test_exec_errors(self):
        p = C.kdap("exec", "-n", C.ns, "pod/nope", "--", "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn('pods "nope" not found', p.stderr)
        p = C.kdap("exec", "-n", C.ns, "-c", "zz", "pod/echo", "--", "true")
        self.assertIn("container zz is not valid", p.stderr)
        p = C.kdap("exec", "--context", "restricted", "-n", C.ns, "pod/echo", "--", "true")
        self.assertIn('forbidden: user "restricted" of context "restricted"', p.stderr)
        self.assertIn("may not get pods/exec in namespace " + C.ns, p.stderr)


def pump(sock, data, timeout=120):
    """Send data and read as many bytes back concurrently; returns what came back."""
    got = bytearray()
    err = []

    def reader():
        try:
            while len(got) < len(data):
                b = sock.recv(1 << 17)
                if not b:
                    break
                got.extend(b)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=reader)
    t.start()
    view = memoryview(data)
    for i in range(0, len(data), 1 << 16):
        sock.sendall(view[i:i + (1 << 16)])
    t.join(timeout)
    return bytes(got)


class TestPortForward(unittest.TestCase):
    def test_100mib_each_way(self):
        pf = PortForward(C, "echo", ":7000")
        try:
            data = os.urandom(100 << 20)
            s = pf.connect(60)
            t0 = time.time()
            got = pump(s, data, 300)
            dt = time.time() - t0
            s.close()
            self.assertEqual(len(got), len(data))
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
            print("\n  100 MiB each way in %.1f s (%.1f MiB/s each way)" % (dt, 100 / dt),
                  file=sys.stderr)
        finally:
            self.assertEqual(pf.stop(), 0, pf.stderr())

    def test_50_concurrent(self):
        pf = PortForward(C, "echo", ":7000")
        results = {}

        def one(i):
            try:
                data = os.urandom(256 << 10)
                s = pf.connect(60)
                got = pump(s, data, 120)
                s.close()
                results[i] = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
            except OSError as e:
                results[i] = repr(e)

        try:
            threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            self.assertEqual([results.get(i) for i in range(50)], [True] * 50, pf.stderr())
        finally:
            self.assertEqual(pf.stop(), 0)

    def test_slow_reader_is_bounded(self):
        # The pod sends 64 MiB as fast as it can; we read nothing for a while: kdap's memory
        # must not grow by the amount sent (back-pressure through the WebSocket).
        pf = PortForward(C, "echo", ":7002")
        try:
            s = pf.connect(30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"%d" % (64 << 20))
            time.sleep(4)
            rss = int(open("/proc/%d/statm" % pf.proc.pid).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            self.assertLess(rss, 48 << 20, "kdap buffers the unread stream (RSS %d MiB)" % (rss >> 20))
            total = 0
            while total < 64 << 20:
                b = s.recv(1 << 20)
                if not b:
                    break
                total += len(b)
            self.assertEqual(total, 64 << 20)
            s.close()
        finally:
            self.assertEqual(pf.stop(), 0)

    def test_nothing_listening(self):
        pf = PortForward(C, "echo", ":7999")
        try:
            s = pf.connect(30)
            s.settimeout(20)
            self.assertEqual(s.recv(100), b"")
            s.close()
            deadline = time.time() + 10
            while "failed to connect" not in pf.stderr() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("port-forward to pod %s/echo port 7999 failed: error forwarding port 7999"
                          % C.ns, pf.stderr())
        finally:
            self.assertEqual(pf.stop(), 0)

    def test_errors_before_forwarding(self):
        p = C.kdap("port-forward", "-n", C.ns, "pod/nope", "7000", timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn('pods "nope" not found', p.stderr)
        pf = PortForward(C, "echo", ":7000", "--context", "restricted")
        try:
            s = pf.connect(30)
            s.settimeout(20)
            self.assertEqual(s.recv(100), b"")
            deadline = time.time() + 10
            while "pods/portforward" not in pf.stderr() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("may not get pods/portforward in namespace " + C.ns, pf.stderr())
        finally:
            pf.stop()

    def test_zz_pod_deleted_mid_transfer(self):
        C.echo_pod("victim")
        pf = PortForward(C, "victim", ":7000")
        s = pf.connect(30)
        stop = threading.Event()
        state = {"sent": 0, "error": None}

        def writer():
            chunk = os.urandom(1 << 16)
            try:
                while not stop.is_set():
                    s.sendall(chunk)
                    state["sent"] += len(chunk)
            except OSError as e:
                state["error"] = e

        def reader():
            try:
                while s.recv(1 << 16):
                    pass
            except OSError:
                pass

        tw = threading.Thread(target=writer, daemon=True)
        tr = threading.Thread(target=reader, daemon=True)
        tw.start()
        tr.start()
        time.sleep(1.5)
        self.assertGreater(state["sent"], 0)
        C.kubectl("delete", "pod", "victim", "--grace-period=0", "--wait=false")
        try:
            pf.proc.wait(30)
        except subprocess.TimeoutExpired:
            pf.stop(signal.SIGKILL)
            self.fail("kdap port-forward hangs after the pod was deleted")
        tr.join(20)
        self.assertFalse(tr.is_alive(), "the local connection was not closed")
        stop.set()
        s.close()
        code = pf.stop()
        err = pf.stderr()
        self.assertEqual(code, 1, err)
        self.assertIn("pod %s/victim was deleted" % C.ns, err)
        self.assertNotIn("LeakSanitizer", err)
        self.assertNotIn("AddressSanitizer", err)


class TestZSecrets(unittest.TestCase):
    def test_no_secret_in_logs_or_output(self):
        secrets = C.secrets() + [PLUGIN_MARKER, "fake-token"]
        texts = list(C.outputs)
        for path in C.logs:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    texts.append(f.read())
        self.assertGreater(len(texts), 20)
        for t in C.outputs:
            # under -DKDAP_SANITIZE=ON every kdap run must end clean
            self.assertNotIn("Sanitizer", t)
            self.assertNotIn("runtime error:", t)
        for t in texts:
            for s in secrets:
                self.assertNotIn(s, t, "a secret leaked into kdap's log or output")


if __name__ == "__main__":
    unittest.main()
