"""A chaos TCP proxy for the fault suite: it sits between kdap and the API server (kdap's
kubeconfig points at it, see kubeconfig_through) and, on the test's word, cuts every
connection, stalls them (bytes held both ways, connections left open, as an idle tunnel
behind a load balancer dies silently), slows them to a trickle, or refuses new ones (the
API server gone for a moment).  TLS passes through untouched: it relays bytes.

One selector thread relays every connection, so a mode change applies to all of them at
once and between two reads, never in the middle of a write.

    with ChaosProxy("127.0.0.1", 6443) as p:
        kubeconfig_through(CL.kubeconfig, path, p)
        ...
        p.cut()              # every connection reset, new ones accepted
        p.stall(True)        # nothing moves until stall(False) or cut()
        p.trickle(200)       # at most 200 bytes/s each way per connection
        p.refuse(True)       # new connections closed at once
"""
import selectors
import socket
import struct
import threading
import time

import yaml


class ChaosProxy:
    def __init__(self, host, port):
        self.upstream = (host, port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.pairs = []            # [client, server] sockets
        self.pending = {}          # socket -> bytes waiting to go to it
        self.accepted = 0          # connections since start
        self.cuts = 0
        self._stall = False
        self._refuse = False
        self._rate = 0             # bytes/s per direction, 0 = unlimited
        self._budget = {}
        self._last = time.monotonic()
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self.thread.start()

    # -- the test's controls ----------------------------------------------------------
    def cut(self):
        """Reset every open connection (RST, as a dropped NAT entry or a dead peer looks);
        new connections are accepted as before.  Returns how many were cut."""
        return self._call(self._cut_all)

    def stall(self, on=True):
        """Hold every byte both ways (connections stay open) until stall(False)."""
        self._call(lambda: setattr(self, "_stall", on))

    def trickle(self, rate):
        """At most `rate` bytes per second each way per connection (0: no limit)."""
        self._call(lambda: setattr(self, "_rate", int(rate)))

    def refuse(self, on=True):
        """Close new connections at once (as a restarting API server refuses them)."""
        self._call(lambda: setattr(self, "_refuse", on))

    def open_connections(self):
        return self._call(lambda: len(self.pairs))

    def close(self):
        self._stop = True
        self._wake()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- the relay ----------------------------------------------------------------------
    def _call(self, fn):
        """Run fn on the relay thread's state, between two of its steps."""
        with self.lock:
            r = fn()
        self._wake()
        return r

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _cut_all(self):
        n = len(self.pairs)
        for pair in list(self.pairs):
            self._drop(pair, reset=True)
        self.cuts += 1
        return n

    def _drop(self, pair, reset=False):
        if pair not in self.pairs:
            return
        self.pairs.remove(pair)
        for s in pair:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            self.pending.pop(s, None)
            self._budget.pop(s, None)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _accept(self):
        try:
            c, _ = self.lsock.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self._refuse:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            return
        try:
            u = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            c.close()
            return
        for s in (c, u):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = [c, u]
        self.pairs.append(pair)
        self.sel.register(c, selectors.EVENT_READ, (pair, u))
        self.sel.register(u, selectors.EVENT_READ, (pair, c))

    def _refill(self):
        now = time.monotonic()
        if self._rate:
            add = (now - self._last) * self._rate
            for s in list(self._budget):
                self._budget[s] = min(self._rate, self._budget[s] + add)
        self._last = now

    def _flush(self):
        """Write what is pending, as far as stall and trickle allow."""
        if self._stall:
            return
        for pair in list(self.pairs):
            for dst in pair:
                buf = self.pending.get(dst)
                if not buf:
                    continue
                n = len(buf)
                if self._rate:
                    n = min(n, int(self._budget.setdefault(dst, 0)))
                    if n <= 0:
                        continue
                try:
                    w = dst.send(buf[:n])
                except BlockingIOError:
                    continue
                except OSError:
                    self._drop(pair)
                    break
                self.pending[dst] = buf[w:]
                if self._rate:
                    self._budget[dst] -= w

    def _run(self):
        while not self._stop:
            busy = any(self.pending.get(s) for p in self.pairs for s in p)
            events = self.sel.select(0.02 if busy else 0.5)
            with self.lock:
                self._refill()
                for key, _ in events:
                    if key.fileobj is self.lsock:
                        self._accept()
                        continue
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except BlockingIOError:
                            pass
                        continue
                    pair, dst = key.data
                    if pair not in self.pairs:
                        continue
                    # hold reading while this direction has a backlog (the kernel's window
                    # then pushes back on the sender, as a slow link does)
                    if len(self.pending.get(dst, b"")) > 256 * 1024:
                        continue
                    try:
                        data = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(pair)
                        continue
                    self.pending[dst] = self.pending.get(dst, b"") + data
                self._flush()
        with self.lock:
            for pair in list(self.pairs):
                self._drop(pair)
            self.sel.close()
            self.lsock.close()


def kubeconfig_through(src, dst, proxy):
    """Copy kubeconfig `src` to `dst` with every cluster's server on the proxy's port.  The
    host stays (the serving certificate names it), so TLS is verified as before."""
    with open(src) as f:
        cfg = yaml.safe_load(f)
    for cl in cfg.get("clusters") or []:
        server = cl["cluster"]["server"]
        scheme, rest = server.split("://", 1)
        hostport = rest.split("/", 1)[0]
        host = hostport.rsplit(":", 1)[0]
        cl["cluster"]["server"] = "%s://%s:%d" % (scheme, host, proxy.port)
    with open(dst, "w") as f:
        yaml.safe_dump(cfg, f)
    return dst


def upstream_of(kubeconfig):
    """(host, port) of the kubeconfig's current context's API server."""
    with open(kubeconfig) as f:
        cfg = yaml.safe_load(f)
    ctx = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])["context"]
    server = next(c for c in cfg["clusters"] if c["name"] == ctx["cluster"])["cluster"]["server"]
    hostport = server.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return host, int(port)
