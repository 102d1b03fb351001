#!/usr/bin/python3
"""The real `kubectl port-forward` (1.32) against the local cluster, in both of its modes:

- default: SPDY/3.1 tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`, a GET upgrade that
  the API server unwraps into a SPDY upgrade to the kubelet);
- KUBECTL_PORT_FORWARD_WEBSOCKETS=false: a plain SPDY/3.1 POST upgrade, proxied to the kubelet.

Each mode moves MiB-sized payloads both ways over several connections at once (checked by
SHA-256), survives one connection that the pod closes, and reports a port nobody listens on the
way a real cluster does.  The API server's log proves which mode was used (no fallback).
SpdyWire speaks SPDY/3.1 itself for what kubectl's happy path does not show (PING, SETTINGS,
WINDOW_UPDATE, resets of invalid streams, GOAWAY, the end of a pair, protocol negotiation).

    /usr/bin/python3 tests/cluster/test_kubectl_portforward.py

Needs root (the cluster); the cluster is tests/e2e/kubecluster.py's (KDAP_CLUSTER_DIR).
"""

import hashlib
import os
import ssl
import struct
import socket
import sys
import threading
import time
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from kubecluster import Cluster, KubectlPortForward  # noqa: E402

sys.path.insert(0, HERE)
import spdy  # noqa: E402

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


def portforwards_logged(off, n):
    """The API server's log lines of portforward requests since off.  It logs a request when the
    request ends, a moment after the client has gone: wait for n lines (so that none turns up
    during the next test)."""
    deadline = time.monotonic() + 15
    while True:
        lines = [ln for ln in api_log_since(off).splitlines()
                 if "/pods/echo/portforward" in ln and "/namespaces/%s/" % C.ns in ln]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


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
        self.assert_upgrades(off, 1)

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
        self.assert_upgrades(off, 1)

    def assert_upgrades(self, off, n):
        lines = portforwards_logged(off, n)
        self.assertEqual(len(lines), n, "\n".join(lines))
        for ln in lines:
            self.assertRegex(ln, r" %s /api/v1/namespaces/%s/pods/echo/portforward +101 " % (self.upgrade, C.ns))


class WebSocketTunnel(Mode, unittest.TestCase):
    websockets = True
    upgrade = "GET"


class PlainSpdy(Mode, unittest.TestCase):
    websockets = False
    upgrade = "POST"


class SpdyWire(unittest.TestCase):
    """The SPDY/3.1 details kubectl's happy path does not show, spoken directly (plain SPDY
    upgrade through the API server, as KUBECTL_PORT_FORWARD_WEBSOCKETS=false does)."""

    def setUp(self):
        self.off = api_log_offset()

    def tearDown(self):
        portforwards_logged(self.off, 1)   # each test makes one request

    def upgrade(self, protocol):
        ctx = ssl.create_default_context(cafile=C.ca_file)
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", C.port), timeout=15),
                            server_hostname="127.0.0.1")
        s.sendall(("POST /api/v1/namespaces/%s/pods/echo/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                   "X-Stream-Protocol-Version: %s\r\nContent-Length: 0\r\n\r\n"
                   % (C.ns, C.user("admin")["token"], protocol)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        return s, head.decode("latin-1"), rest

    def test_unknown_stream_protocol_is_refused(self):
        s, head, body = self.upgrade("v4.channel.k8s.io")
        s.close()
        self.assertTrue(head.startswith("HTTP/1.1 403 "), head)
        self.assertIn("X-Accepted-Stream-Protocol-Versions: portforward.k8s.io", head)

    def test_frames(self):
        s, head, rest = self.upgrade("portforward.k8s.io")
        self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
        self.assertIn("Upgrade: SPDY/3.1", head)
        self.assertIn("X-Stream-Protocol-Version: portforward.k8s.io", head)
        reader = spdy.Codec()
        reader.feed(rest)
        deflate = spdy.Codec().deflate      # the client's own header compression context
        pending = []

        def syn(sid, **headers):
            block = deflate.compress(spdy.encode_headers(list(headers.items()))) + deflate.flush(zlib.Z_SYNC_FLUSH)
            s.sendall(spdy.Codec.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", sid, 0, 0, 0) + block))

        def ping(pid):
            s.sendall(spdy.Codec.control(spdy.PING, 0, struct.pack(">I", pid)))

        def until(pred, what, timeout=10):
            """Frames received until pred(frame); returns them (the last one matched)."""
            seen, deadline = [], time.monotonic() + timeout
            while True:
                while pending:
                    f = pending.pop(0)
                    seen.append(f)
                    if pred(f):
                        return seen
                s.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    d = None
                if not d:
                    self.fail("no %s; got %s" % (what, seen))
                reader.feed(d)
                pending.extend(reader.frames())

        def is_(kind, sid, flags=None):
            return lambda f: f[0] == kind and f[1] == sid and (flags is None or f[2] == flags)

        # SETTINGS and WINDOW_UPDATE are taken without an answer; a ping is echoed
        s.sendall(spdy.Codec.control(spdy.SETTINGS, 0, struct.pack(">III", 1, 7, 65536)))
        s.sendall(spdy.Codec.control(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 0, 1 << 20)))
        ping(1)
        self.assertEqual(len(until(is_(spdy.PING, 1), "PING 1 echoed")), 1)
        # a pair (error stream half-closed at once, as client-go does), then data both ways
        syn(1, streamtype="error", port="7000", requestid="0")
        s.sendall(spdy.Codec.data(1, b"", fin=True))
        syn(3, streamtype="data", port="7000", requestid="0")
        replies = until(is_(spdy.SYN_REPLY, 3), "SYN_REPLY 3")
        self.assertIn((spdy.SYN_REPLY, 1), [(f[0], f[1]) for f in replies])
        self.assertEqual(replies[-1][3][0], {}, "an empty header block")
        s.sendall(spdy.Codec.data(3, b"hello"))
        got = until(lambda f: f[0] == "data" and f[1] == 3 and f[3], "echo on stream 3")[-1]
        self.assertEqual(got[3], b"hello")
        # invalid streams are reset, the session goes on
        syn(5, streamtype="data", requestid="1")
        self.assertEqual(until(is_(spdy.RST_STREAM, 5), "RST_STREAM 5")[-1][3], struct.pack(">II", 5, spdy.CANCEL))
        syn(7, streamtype="bogus", port="7000", requestid="2")
        self.assertEqual(until(is_(spdy.RST_STREAM, 7), "RST_STREAM 7")[-1][3], struct.pack(">II", 7, spdy.CANCEL))
        syn(6, streamtype="data", port="7000", requestid="3")
        self.assertEqual(until(is_(spdy.RST_STREAM, 6), "RST_STREAM 6")[-1][3],
                         struct.pack(">II", 6, spdy.PROTOCOL_ERROR))
        # the client is done: both streams of the pair end (FIN) once the pod side is closed
        t0 = time.monotonic()
        s.sendall(spdy.Codec.data(3, b"", fin=True))
        ends = until(is_("data", 1, spdy.FLAG_FIN), "FIN on the error stream")
        self.assertIn(("data", 3, spdy.FLAG_FIN, b""), ends)
        self.assertLess(time.monotonic() - t0, 5)
        # after GOAWAY no new stream is taken, pings still are answered
        s.sendall(spdy.Codec.control(spdy.GOAWAY, 0, struct.pack(">II", 0, 0)))
        syn(9, streamtype="error", port="7000", requestid="4")
        ping(3)
        after = until(is_(spdy.PING, 3), "PING 3 echoed")
        self.assertNotIn(9, [f[1] for f in after if f[0] in (spdy.SYN_REPLY, spdy.RST_STREAM)])
        s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
