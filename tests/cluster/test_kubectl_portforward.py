#!/usr/bin/python3
"""The real `kubectl port-forward` (1.32) against the local cluster, in both of its modes:

- default: SPDY/3.1 tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`, a GET upgrade that
  the API server unwraps into a SPDY upgrade to the kubelet);
- KUBECTL_PORT_FORWARD_WEBSOCKETS=false: a plain SPDY/3.1 POST upgrade, proxied to the kubelet.

Each mode moves MiB-sized payloads both ways over several connections at once (checked by
SHA-256), survives one connection that the pod closes, and reports a port nobody listens on the
way a real cluster does.  The API server's log proves which mode was used (no fallback).

    /usr/bin/python3 tests/cluster/test_kubectl_portforward.py

Needs root (the cluster); the cluster is tests/e2e/kubecluster.py's (KDAP_CLUSTER_DIR).
"""

import hashlib
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from kubecluster import Cluster, KubectlPortForward  # noqa: E402

C = None
PAYLOAD = 3 << 20     # per connection, each way
CONNS = 4


def setUpModule():
    global C
    C = Cluster()
    C.ns = "kubectl-pf-" + C.ns.rsplit("-", 1)[1]
    C.up()
    C.kubectl("create", "namespace", C.ns, ns=False)
    C.echo_pod("echo")


def tearDownModule():
    if C is not None:
        C.kubectl("delete", "namespace", C.ns, "--wait=false", ns=False, check=False)
        C.down()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(1 << 17, n - len(buf)))
        if not b:
            break
        buf += b
    return bytes(buf)


def recv_to_eof(s, timeout):
    s.settimeout(timeout)
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(buf)
        buf += b


def api_log_offset():
    return os.path.getsize(os.path.join(C.dir, "apiserver.log"))


def api_log_since(off):
    with open(os.path.join(C.dir, "apiserver.log"), "rb") as f:
        f.seek(off)
        return f.read().decode(errors="replace")


class Mode:
    websockets = True
    upgrade = "GET"          # what kubectl's first (and only) portforward request must be

    def test_data_both_ways_and_a_pod_side_close(self):
        off = api_log_offset()
        pf = KubectlPortForward(C, "echo", [7000, 7003], self.websockets)
        try:
            conns = [pf.connect(7000) for _ in range(CONNS)]
            for i, s in enumerate(conns):      # every stream pair is up before the pod closes one
                s.sendall(b"ping %d" % i)
                self.assertEqual(recv_exact(s, len(b"ping %d" % i)), b"ping %d" % i)
            closing = pf.connect(7003)
            closing.sendall(b"bye")
            t0 = time.monotonic()
            self.assertEqual(recv_to_eof(closing, 15), b"bye", "the pod's reply, then its close")
            closed_after = time.monotonic() - t0
            closing.close()

            results = [None] * CONNS

            def transfer(i, s):
                data = os.urandom(PAYLOAD)
                got = {}
                r = threading.Thread(target=lambda: got.update(d=recv_exact(s, PAYLOAD)))
                r.start()
                s.sendall(data)
                r.join(120)
                results[i] = (hashlib.sha256(data).hexdigest(), hashlib.sha256(got.get("d", b"")).hexdigest(),
                              len(got.get("d", b"")))
            threads = [threading.Thread(target=transfer, args=(i, s)) for i, s in enumerate(conns)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(150)
            for i, (sent, echoed, n) in enumerate(results):
                self.assertEqual(n, PAYLOAD, "connection %d: echoed %d of %d bytes" % (i, n, PAYLOAD))
                self.assertEqual(sent, echoed, "connection %d: SHA-256 of the echo" % i)
            for s in conns:
                s.close()
            late = pf.connect(7000)            # still forwarding after the pod closed one
            late.sendall(b"still there")
            self.assertEqual(recv_exact(late, 11), b"still there")
            late.close()
            self.assertIsNone(pf.proc.poll(), "kubectl exited: %s" % pf.err)
        finally:
            out, err = pf.stop()
        self.assertLess(closed_after, 10)
        self.assertEqual(out.count("Handling connection for"), CONNS + 2, out)
        self.assertNotIn("error", err.lower(), err)
        self.assert_upgrades(api_log_since(off), 1)

    def test_port_nobody_listens_on(self):
        off = api_log_offset()
        pf = KubectlPortForward(C, "echo", [7999], self.websockets)
        try:
            s = pf.connect(7999)
            self.assertEqual(recv_to_eof(s, 15), b"", "kubectl closes the connection")
            s.close()
            code = pf.wait_exit(15)
        finally:
            out, err = pf.stop()
        self.assertEqual(code, 1, "kubectl exits after the error: %s" % err)
        local = pf.ports[7999]
        # client-go: "an error occurred forwarding L -> R: <the kubelet's error stream>" (klog
        # quotes it: \" inside), then the whole connection is dropped ("lost connection to pod")
        self.assertRegex(err, r'an error occurred forwarding %d -> 7999: error forwarding port 7999 to pod '
                         r'echo, uid [0-9a-f-]{36}: failed to connect to localhost:7999 inside namespace '
                         r'\\"kdap-[0-9a-f]+-[0-9a-f]{8}\\", IPv4: dial tcp4 127\.0\.0\.1:7999: connect: connection '
                         r'refused IPv6 dial tcp6 \[::1\]:7999: connect: ' % local)
        self.assertIn("error: lost connection to pod", err)
        self.assert_upgrades(api_log_since(off), 1)

    def assert_upgrades(self, log, n):
        lines = [ln for ln in log.splitlines() if "/pods/echo/portforward" in ln and "/namespaces/%s/" % C.ns in ln]
        self.assertEqual(len(lines), n, "\n".join(lines))
        for ln in lines:
            self.assertRegex(ln, r" %s /api/v1/namespaces/%s/pods/echo/portforward +101 " % (self.upgrade, C.ns))


class WebSocketTunnel(Mode, unittest.TestCase):
    websockets = True
    upgrade = "GET"


class PlainSpdy(Mode, unittest.TestCase):
    websockets = False
    upgrade = "POST"


if __name__ == "__main__":
    unittest.main(verbosity=2)
