"""Minimal HTTP/1.1 server connection (one thread per TLS connection): keep-alive, request bodies
by Content-Length or chunked, fixed-length and chunked responses, and raw access to the socket
(plus any bytes already read) for the kubelet proxy."""

import http
import select
import socket
import ssl
import urllib.parse

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


class ClientGone(Exception):
    pass


class BadRequest(Exception):
    pass


class Request:
    def __init__(self, conn, method, target, version, headers):
        self.conn = conn
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) as received
        self.h = {}
        for k, v in headers:
            lk = k.lower()
            self.h[lk] = (self.h[lk] + ", " + v) if lk in self.h else v
        u = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(u.path) or "/"
        self.raw_query = u.query
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.body = b""
        self.user = None
        self.groups = []

    def header(self, name, default=""):
        return self.h.get(name.lower(), default)

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def qbool(self, name):
        return (self.q(name) or "").lower() in ("1", "true", "yes")

    def is_websocket(self):
        return "websocket" in self.header("upgrade").lower()

    def is_upgrade(self):
        return bool(self.header("upgrade")) and "upgrade" in self.header("connection").lower()


class Connection:
    def __init__(self, sock, addr, dispatch):
        self.sock = sock
        self.addr = addr
        self.dispatch = dispatch
        self.buf = b""
        self.keep_alive = True
        self.streaming = False
        self.detached = False  # socket handed over (proxy)

    # -- reading -------------------------------------------------------------------------
    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            raise ClientGone()
        if not data:
            raise ClientGone()
        self.buf += data

    def _read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_request(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("header too large")
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("malformed request line")
        headers = []
        for ln in lines[1:]:
            if ":" not in ln:
                raise BadRequest("malformed header")
            k, v = ln.split(":", 1)
            headers.append((k.strip(), v.strip()))
        req = Request(self, parts[0].upper(), parts[1], parts[2], headers)
        if req.header("expect").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in req.header("transfer-encoding").lower():
            body = b""
            while True:
                size = int(self._read_line().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._read_line():
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
                if len(body) > MAX_BODY:
                    raise BadRequest("body too large")
            req.body = body
        else:
            n = int(req.header("content-length") or "0")
            if n > MAX_BODY:
                raise BadRequest("body too large")
            req.body = self._read_exact(n) if n else b""
        conn_hdr = req.header("connection").lower()
        if req.version == "HTTP/1.0" and "keep-alive" not in conn_hdr:
            self.keep_alive = False
        if "close" in conn_hdr:
            self.keep_alive = False
        return req

    # -- writing -------------------------------------------------------------------------
    def _send(self, data):
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            raise ClientGone()

    def _head(self, code, headers):
        reason = http.HTTPStatus(code).phrase if code in http.HTTPStatus._value2member_map_ else "Status"
        out = ["HTTP/1.1 %d %s" % (code, reason)]
        names = {k.lower() for k, _ in headers}
        for k, v in headers:
            out.append("%s: %s" % (k, v))
        if "date" not in names:
            out.append("Date: %s" % _http_date())
        if not self.keep_alive:
            out.append("Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    def respond(self, code, body, ctype="application/json", headers=()):
        hdrs = [("Audit-Id", _audit_id()), ("Cache-Control", "no-cache, private"),
                ("Content-Type", ctype), ("X-Kubernetes-Pf-Flowschema-Uid", "kdap"),
                ("X-Kubernetes-Pf-Prioritylevel-Uid", "kdap"),
                ("Content-Length", str(len(body)))] + list(headers)
        self._send(self._head(code, hdrs) + body)

    def start_chunked(self, code, ctype="application/json"):
        self.streaming = True
        hdrs = [("Audit-Id", _audit_id()), ("Cache-Control", "no-cache, private"),
                ("Content-Type", ctype), ("Transfer-Encoding", "chunked")]
        self._send(self._head(code, hdrs))

    def chunk(self, data):
        if data:
            self._send(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self):
        self._send(b"0\r\n\r\n")
        self.streaming = False

    def client_closed(self):
        """Non-blocking check whether the peer closed the connection (used while streaming)."""
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not r:
            return False
        try:
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(4096)
            finally:
                self.sock.setblocking(True)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        if not data:
            return True
        self.buf += data
        return False

    def serve(self):
        try:
            while self.keep_alive:
                try:
                    self.sock.settimeout(600)
                    req = self.read_request()
                    self.sock.settimeout(None)
                except BadRequest as e:
                    self.keep_alive = False
                    self.respond(400, str(e).encode(), "text/plain")
                    break
                self.dispatch(req)
                if self.detached:
                    return
        except ClientGone:
            pass
        finally:
            if not self.detached:
                try:
                    self.sock.close()
                except OSError:
                    pass


def _http_date():
    import email.utils
    return email.utils.formatdate(usegmt=True)


def _audit_id():
    import uuid
    return str(uuid.uuid4())
