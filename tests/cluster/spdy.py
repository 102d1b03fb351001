"""SPDY/3.1 as Kubernetes speaks it: the server side of a `kubectl port-forward` session.

The peers are moby/spdystream (kubectl's client-go and the real kubelet both use it) through
k8s.io/apimachinery's httpstream/spdy, so this module does what spdystream does on the wire:

- frames: 8-byte header; control frames `1 | version(15) | type(16) | flags(8) | length(24)`,
  data frames `0 | stream id(31) | flags(8) | length(24)`; FIN = 0x01 on both, UNIDIRECTIONAL =
  0x02 on SYN_STREAM;
- name/value header blocks (`u32 count`, then `u32 len, name, u32 len, value` with several
  values joined by NUL) compressed with zlib and SPDY/3's dictionary, one zlib stream per
  direction for the whole session (each block ends in a sync flush);
- the client opens odd streams (SYN_STREAM); the server answers each with a SYN_REPLY with an
  empty header block, or rejects it with RST_STREAM CANCEL; a stream id not above the last one
  (or even) gets RST_STREAM PROTOCOL_ERROR; DATA on an unknown stream is dropped;
- PING from the client (odd id) is echoed; GOAWAY stops new streams;
- SETTINGS and WINDOW_UPDATE are parsed and checked, then ignored: spdystream implements no
  SPDY/3.1 flow control (it never sends WINDOW_UPDATE and ignores the peer's), so neither side
  waits on a window and back-pressure is TCP's (blocking writes).  A peer that enforced the
  64 KiB initial windows would stall against kubectl after 64 KiB.
"""

import struct
import threading
import zlib

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
PROTOCOL_ERROR, CANCEL = 1, 5    # RST_STREAM status codes used here


def _dictionary():
    """SPDY/3's zlib dictionary (draft-mbelshe-httpbis-spdy-00 2.6.10.1): length-prefixed header
    names and values, then a run of status lines, dates and media types."""
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status").split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
            "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
            "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
            "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
            "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer broke the framing: the session cannot go on (spdystream stops reading)."""


def encode_headers(headers):
    """headers: list of (name, value); names are sent lowercased, values of one name NUL-joined."""
    merged = {}
    for k, v in headers:
        merged.setdefault(k.lower(), []).append(v)
    out = [struct.pack(">I", len(merged))]
    for k, vs in merged.items():
        kb, vb = k.encode(), "\0".join(vs).encode()
        out += [struct.pack(">I", len(kb)), kb, struct.pack(">I", len(vb)), vb]
    return b"".join(out)


def decode_headers(block):
    """-> {name: [values]}; raises ProtocolError on a truncated block."""
    try:
        (n,), off, out = struct.unpack_from(">I", block), 4, {}
        for _ in range(n):
            (ln,) = struct.unpack_from(">I", block, off)
            name = block[off + 4:off + 4 + ln].decode("latin-1").lower()
            off += 4 + ln
            (lv,) = struct.unpack_from(">I", block, off)
            value = block[off + 4:off + 4 + lv].decode("latin-1")
            off += 4 + lv
            if off > len(block):
                raise ProtocolError("truncated header block")
            out.setdefault(name, []).extend(value.split("\0"))
        return out
    except struct.error:
        raise ProtocolError("truncated header block")


class Codec:
    """Frame reader and writer of one session.  feed() bytes as they arrive, then take parsed
    frames from frames(): (kind, stream_id, flags, payload) where kind is "data" or a control
    type, payload the raw frame body except for SYN_STREAM/SYN_REPLY/HEADERS, whose header block
    is decoded into `headers` (a dict) and which come as (kind, stream_id, flags, (headers, body))."""

    def __init__(self):
        self.buf = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def feed(self, data):
        self.buf += data

    def frames(self):
        buf = self.buf
        while len(buf) >= 8:
            w0, w1 = struct.unpack_from(">II", buf)
            length = w1 & 0xFFFFFF
            if len(buf) < 8 + length:
                return
            body = bytes(buf[8:8 + length])
            del buf[:8 + length]
            flags = w1 >> 24
            if not w0 & 0x80000000:
                sid = w0 & 0x7FFFFFFF
                if sid == 0:
                    raise ProtocolError("stream id zero is disallowed")
                yield "data", sid, flags, body
                continue
            ftype = w0 & 0xFFFF
            yield self._control(ftype, flags, body)

    def _control(self, ftype, flags, body):
        fixed = {RST_STREAM: 8, PING: 4, GOAWAY: 8, WINDOW_UPDATE: 8}
        if ftype in fixed and len(body) != fixed[ftype]:
            raise ProtocolError("invalid control frame (type %d, length %d)" % (ftype, len(body)))
        if ftype in (SYN_STREAM, SYN_REPLY, HEADERS):
            head = 10 if ftype == SYN_STREAM else 4
            if len(body) < head:
                raise ProtocolError("invalid control frame")
            sid = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            if sid == 0:
                raise ProtocolError("stream id zero is disallowed")
            try:
                block = self.inflate.decompress(body[head:])
            except zlib.error as e:
                raise ProtocolError("header block: %s" % e)
            return ftype, sid, flags, (decode_headers(block), body[:head])
        if ftype == SETTINGS:
            if len(body) < 4 or len(body) != 4 + 8 * struct.unpack_from(">I", body)[0]:
                raise ProtocolError("invalid SETTINGS frame")
            return ftype, 0, flags, body
        if ftype in (RST_STREAM, WINDOW_UPDATE, PING, GOAWAY):
            first = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            if ftype == RST_STREAM and (first == 0 or struct.unpack_from(">I", body, 4)[0] == 0):
                raise ProtocolError("invalid RST_STREAM")
            if ftype == PING and first == 0:
                raise ProtocolError("PING id zero")
            return ftype, first, flags, body
        raise ProtocolError("unknown frame type %d" % ftype)

    # -- writing --------------------------------------------------------------------------------
    @staticmethod
    def control(ftype, flags, body):
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, flags << 24 | len(body)) + body

    @staticmethod
    def data(sid, payload, fin=False):
        return struct.pack(">II", sid, (FLAG_FIN if fin else 0) << 24 | len(payload)) + payload

    def syn_reply(self, sid, headers=(), fin=False):
        block = self.deflate.compress(encode_headers(headers)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return self.control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", sid) + block)

    def rst(self, sid, status):
        return self.control(RST_STREAM, 0, struct.pack(">II", sid, status))


class Stream:
    """One client-opened stream.  Data for it is handed to on_data (in the session's reader
    thread: a blocking handler is the back-pressure) once attach()ed; what arrives before is
    kept.  on_end runs once when the client will send no more (FIN, RST_STREAM, session end)."""

    def __init__(self, session, sid, headers, remote_fin):
        self.session, self.id, self.headers = session, sid, headers
        self.lock = threading.Lock()
        self.pending, self.on_data, self.on_end = [], None, None
        self.remote_done, self.local_done = remote_fin, False

    def header(self, name):
        v = self.headers.get(name)
        return v[0] if v else ""

    def attach(self, on_data, on_end):
        with self.lock:
            pending, self.pending = self.pending, []
            self.on_data = on_data
            done = self.remote_done
            if not done:
                self.on_end = on_end
        for d in pending:
            on_data(d)
        if done:
            on_end()

    def _deliver(self, data):
        with self.lock:
            if self.on_data is None:
                self.pending.append(data)
                return
        self.on_data(data)

    def _remote_end(self):
        with self.lock:
            self.remote_done = True
            cb, self.on_end = self.on_end, None
        if cb is not None:
            cb()

    def write(self, data):
        """Sends data in frames of at most 32 KiB (the size Go's io.Copy writes); False once the
        stream or the session is closed."""
        if self.local_done:
            return False
        for i in range(0, len(data), 32768):
            if not self.session.send(Codec.data(self.id, data[i:i + 32768])):
                return False
        return True

    def close(self):
        """Half-close: an empty DATA frame with FIN (spdystream's Stream.Close)."""
        if not self.local_done:
            self.local_done = True
            self.session.send(Codec.data(self.id, b"", fin=True))
        self.session.forget(self)


class ServerSession:
    """The server end of one SPDY connection over a blocking socket-like object (sendall/recv).
    handler.check(stream) -> None to accept or an error string to reset the stream;
    handler.opened(stream) runs after the SYN_REPLY went out."""

    def __init__(self, sock, rbuf, handler):
        self.sock, self.handler = sock, handler
        self.codec = Codec()
        self.codec.feed(rbuf)
        self.wlock = threading.Lock()
        self.streams = {}
        self.last_id = 0
        self.gone_away = False
        self.closed = False

    def send(self, frame):
        with self.wlock:
            if self.closed:
                return False
            try:
                self.sock.sendall(frame)
                return True
            except OSError:
                self.closed = True
                return False

    def forget(self, stream):
        if stream.local_done and stream.remote_done:
            self.streams.pop(stream.id, None)

    def serve(self):
        """Reads frames until the client goes away or breaks the protocol; then every stream ends."""
        try:
            while True:
                for frame in self.codec.frames():
                    self._dispatch(*frame)
                d = self.sock.recv(262144)
                if not d:
                    break
                self.codec.feed(d)
        except (OSError, ProtocolError):
            pass
        finally:
            with self.wlock:
                self.closed = True
            for st in list(self.streams.values()):
                st._remote_end()
            self.streams.clear()

    def _dispatch(self, kind, sid, flags, payload):
        if kind == "data":
            st = self.streams.get(sid)
            if st is None or st.remote_done:
                return
            if payload:
                st._deliver(payload)
            if flags & FLAG_FIN:
                st._remote_end()
                self.forget(st)
        elif kind == SYN_STREAM:
            headers, _ = payload
            if self.gone_away:
                return
            if sid % 2 == 0 or sid <= self.last_id:
                self.send(self.codec.rst(sid, PROTOCOL_ERROR))
                return
            self.last_id = sid
            st = Stream(self, sid, headers, bool(flags & FLAG_FIN))
            st.local_done = bool(flags & FLAG_UNIDIRECTIONAL)
            if self.handler.check(st) is not None:
                self.send(self.codec.rst(sid, CANCEL))
                return
            self.streams[sid] = st
            self.send(self.codec.syn_reply(sid))
            self.handler.opened(st)
        elif kind == RST_STREAM:
            st = self.streams.pop(sid, None)
            if st is not None:
                st.local_done = True
                st._remote_end()
        elif kind == PING:
            if sid % 2 == 1:  # the client's; our own pings (we send none) would be even
                self.send(Codec.control(PING, 0, payload))
        elif kind == GOAWAY:
            self.gone_away = True
        # SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY: checked by the codec, no effect (see above)
