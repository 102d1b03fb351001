"""A small Debug Adapter Protocol client for kdap's end-to-end tests and benchmarks.

Two clients share one framing implementation:

* DapClient: a reader thread collects every message the peer sends (requests,
  responses, events), validates each one against the official DAP JSON schema
  (draft-04) and lets a test send requests, wait for their responses and wait
  for events, always with a timeout.  Anything on the peer's stdout that is not
  a well-formed DAP frame is recorded as "garbage" and fails the test.
* SyncDap: no thread, no validation: send a request and read until its
  response.  Used by the benchmark, where the client's own overhead must be
  small and identical on both paths.

Both talk to a subprocess over its stdio (kdap) or to a TCP socket (delve).
Only the Python standard library and Debian's python3-jsonschema are used.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

INT31 = 2 ** 31

_HEADER_RE = re.compile(rb"^([A-Za-z0-9-]+):\s*(.*?)\s*$")


class DapError(AssertionError):
    """A protocol-level failure seen by the client (a test failure)."""


# --------------------------------------------------------------------------
# schema


def schema_path():
    """The official DAP schema, vendored in the tree (tests/schema/, see README "Vendored")."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "schema", "debugAdapterProtocol.json")


class SchemaValidator:
    """Validates DAP messages against debugAdapterProtocol.json (draft-04).

    responses -> <Command>Response (or Response); failed ones -> ErrorResponse;
    events    -> <Event>Event (or Event); requests -> <Command>Request (or Request).
    The schema's definitions are the $ref base.
    """

    _cache = {}

    def __init__(self, path=None):
        import jsonschema  # python3-jsonschema (Debian)

        path = path or schema_path()
        if not os.path.exists(path):
            raise FileNotFoundError(
                "DAP schema not found at %s (it is part of the tree: restore it with "
                "git checkout -- tests/schema)" % path)
        with open(path, encoding="utf-8") as f:
            self.schema = json.load(f)
        self.defs = self.schema["definitions"]
        self._resolver = jsonschema.RefResolver.from_schema(self.schema)
        self._jsonschema = jsonschema
        # the schema annotates integers with format int32/uint32/int64/uint64: enforce the ranges
        fc = jsonschema.FormatChecker(formats=())
        for fmt, lo, hi in (("int32", -2 ** 31, 2 ** 31 - 1), ("uint32", 0, 2 ** 32 - 1),
                            ("int64", -2 ** 63, 2 ** 63 - 1), ("uint64", 0, 2 ** 64 - 1)):
            def check(v, lo=lo, hi=hi):
                return not isinstance(v, int) or isinstance(v, bool) or lo <= v <= hi
            fc.checks(fmt)(check)
        self._format_checker = fc
        self._validators = {}

    @classmethod
    def shared(cls, path=None):
        key = path or schema_path()
        if key not in cls._cache:
            cls._cache[key] = cls(key)
        return cls._cache[key]

    def _validator(self, name):
        v = self._validators.get(name)
        if v is None:
            v = self._jsonschema.Draft4Validator(self.defs[name], resolver=self._resolver,
                                                 format_checker=self._format_checker)
            self._validators[name] = v
        return v

    @staticmethod
    def _cap(s):
        return s[:1].upper() + s[1:] if isinstance(s, str) else ""

    def definition_for(self, msg):
        if not isinstance(msg, dict):
            return "ProtocolMessage"
        t = msg.get("type")
        if t == "response":
            if msg.get("success") is False:
                return "ErrorResponse"
            name = self._cap(msg.get("command")) + "Response"
            return name if name in self.defs else "Response"
        if t == "event":
            name = self._cap(msg.get("event")) + "Event"
            return name if name in self.defs else "Event"
        if t == "request":
            name = self._cap(msg.get("command")) + "Request"
            return name if name in self.defs else "Request"
        return "ProtocolMessage"

    def errors(self, msg):
        """List of (definition, json path, message) for every violation."""
        name = self.definition_for(msg)
        out = []
        if not isinstance(msg, dict) or msg.get("type") not in ("request", "response", "event"):
            out.append((name, "$.type", "type must be request, response or event: %r"
                        % (msg.get("type") if isinstance(msg, dict) else msg)))
        for e in self._validator(name).iter_errors(msg):
            path = "$" + "".join("[%d]" % p if isinstance(p, int) else "." + str(p)
                                 for p in e.absolute_path)
            out.append((name, path, e.message))
        return out


# --------------------------------------------------------------------------
# framing


def encode(msg):
    body = json.dumps(msg, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_frame(rfile, garbage=None):
    """Read one frame; returns the body bytes, or None at EOF.

    Lines that are not headers are appended to `garbage` (a list) and skipped,
    so a frame after stray output is still found.
    """
    length = None
    while True:
        line = rfile.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                if garbage is not None:
                    garbage.append(line)
                continue
            break
        m = _HEADER_RE.match(line.rstrip(b"\r\n"))
        if not m or not line.endswith(b"\r\n"):
            if garbage is not None:
                garbage.append(line)
            length = None
            continue
        if m.group(1).lower() == b"content-length":
            try:
                length = int(m.group(2))
            except ValueError:
                if garbage is not None:
                    garbage.append(line)
                length = None
    body = b""
    while len(body) < length:
        chunk = rfile.read(length - len(body))
        if not chunk:
            return None
        body += chunk
    return body


class _Transport:
    def __init__(self, rfile, wfile, closer):
        self.rfile, self.wfile, self._closer = rfile, wfile, closer
        self.wlock = threading.Lock()

    def write(self, data):
        with self.wlock:
            self.wfile.write(data)
            self.wfile.flush()

    def close_write(self):
        with self.wlock:
            try:
                self.wfile.close()
            except OSError:
                pass

    def close(self):
        self.close_write()
        self._closer()


def _stdio_transport(proc):
    return _Transport(proc.stdout, proc.stdin, lambda: None)


def _tcp_transport(host, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=2.0)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rfile = sock.makefile("rb")
    wfile = sock.makefile("wb")

    def closer():
        for f in (rfile,):
            try:
                f.close()
            except OSError:
                pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    t = _Transport(rfile, wfile, closer)
    t.sock = sock
    return t


# --------------------------------------------------------------------------
# threaded client (tests)


DEFAULT_INITIALIZE = {
    "clientID": "kdap-e2e",
    "clientName": "kdap e2e tests",
    "adapterID": "kdap",
    "locale": "en-us",
    "pathFormat": "path",
    "linesStartAt1": True,
    "columnsStartAt1": True,
    "supportsVariableType": True,
    "supportsVariablePaging": True,
    "supportsRunInTerminalRequest": False,
    "supportsProgressReporting": False,
}


class DapClient:
    """A DAP client that records and validates everything the peer sends."""

    def __init__(self, transport, name="peer", validate=True, tolerate=None, proc=None):
        self.t = transport
        self.name = name
        self.proc = proc
        self.validator = SchemaValidator.shared() if validate else None
        # tolerate(msg, (definition, path, message)) -> True to ignore a violation
        self.tolerate = tolerate
        self.seq = 0
        self.messages = []        # every message received, in order
        self.sent = []            # every message sent
        self.violations = []      # schema violations (strings)
        self.garbage = []         # non-DAP bytes read from the peer
        self.eof = False
        self.eof_time = None
        self._reported_v = self._reported_g = 0
        self._consumed = set()    # indexes of events returned by wait_event
        self._cond = threading.Condition()
        self._reading = threading.Event()     # cleared: the reader stops reading
        self._reading.set()
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader-" + name,
                                        daemon=True)
        self._reader.start()

    # -- construction -------------------------------------------------------
    @classmethod
    def spawn(cls, argv, env=None, stderr=None, name="kdap", **kw):
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                env=env, bufsize=-1)   # buffered; writes are flushed
        return cls(_stdio_transport(proc), name=name, proc=proc, **kw)

    @classmethod
    def connect(cls, host, port, name="delve", timeout=5.0, **kw):
        return cls(_tcp_transport(host, port, timeout), name=name, **kw)

    # -- reader -------------------------------------------------------------
    def _read_loop(self):
        garbage = []
        try:
            while True:
                self._reading.wait()
                body = read_frame(self.t.rfile, garbage)
                if garbage:
                    with self._cond:
                        self.garbage.extend(garbage)
                    garbage = []
                if body is None:
                    break
                try:
                    msg = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    with self._cond:
                        self.garbage.append(b"invalid JSON body (%s): %r" % (str(e).encode(), body[:200]))
                        self._cond.notify_all()
                    continue
                self._receive(msg)
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.eof = True
                self.eof_time = time.monotonic()
                self._cond.notify_all()

    def _receive(self, msg):
        problems = []
        if self.validator is not None:
            for err in self.validator.errors(msg):
                if self.tolerate and self.tolerate(msg, err):
                    continue
                problems.append("%s: schema violation of %s at %s: %s\n  message: %s" % (
                    self.name, err[0], err[1], err[2], json.dumps(msg)[:600]))
        with self._cond:
            self.violations.extend(problems)
            self.messages.append(msg)
            self._cond.notify_all()

    # -- checks -------------------------------------------------------------
    def check(self):
        """Raise if the peer sent anything invalid so far."""
        with self._cond:
            self._raise_violations_locked()

    def pause_reading(self):
        """Stop reading the peer's output (after the frame being read), as an editor
        that is busy elsewhere: the peer's writes back up."""
        self._reading.clear()

    def resume_reading(self):
        self._reading.set()

    # -- sending ------------------------------------------------------------
    def send_raw(self, data):
        self.t.write(data)

    def send_message(self, msg):
        self.sent.append(msg)
        self.t.write(encode(msg))

    def send(self, command, arguments=None):
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send_message(msg)
        return self.seq

    def next_seq(self):
        self.seq += 1
        return self.seq

    # -- waiting ------------------------------------------------------------
    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._raise_violations_locked()
                found = pred()
                if found is not None:
                    return found
                if self.eof:
                    found = pred()
                    if found is not None:
                        return found
                    raise DapError("%s closed its output while waiting for %s; last messages: %s"
                                   % (self.name, what, self._tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DapError("timeout (%.1fs) waiting for %s from %s; last messages: %s"
                                   % (timeout, what, self.name, self._tail()))
                self._cond.wait(left)

    def _raise_violations_locked(self):
        # each problem is raised once (a test failing on it is not failed again in tearDown)
        v, g = self.violations[self._reported_v:], self.garbage[self._reported_g:]
        self._reported_v, self._reported_g = len(self.violations), len(self.garbage)
        if v:
            raise DapError("\n".join(v[:5]))
        if g:
            raise DapError("%s wrote non-DAP bytes on its output: %r" % (self.name, g[:5]))

    def _tail(self, n=6):
        return json.dumps(self.messages[-n:])[:1500]

    def expect_response(self, seq, timeout=10.0, success=None, command=None):
        """Wait for the response to request `seq`; optionally assert its success flag."""
        def pred():
            for m in self.messages:
                if m.get("type") == "response" and m.get("request_seq") == seq:
                    return m
            return None
        r = self._wait(pred, timeout, "the response to request seq %d%s"
                       % (seq, " (%s)" % command if command else ""))
        if command is not None and r.get("command") != command:
            raise DapError("response to %d has command %r, expected %r: %s"
                           % (seq, r.get("command"), command, json.dumps(r)))
        if success is True and not r.get("success"):
            raise DapError("%s failed: %s" % (r.get("command"), json.dumps(r)[:800]))
        if success is False and r.get("success"):
            raise DapError("%s unexpectedly succeeded: %s" % (r.get("command"), json.dumps(r)[:800]))
        return r

    def request(self, command, arguments=None, timeout=10.0):
        """Send a request, assert success, return the response body ({} if none)."""
        seq = self.send(command, arguments)
        r = self.expect_response(seq, timeout, success=True, command=command)
        return r.get("body") or {}

    def request_error(self, command, arguments=None, timeout=10.0):
        """Send a request that must fail; return the whole error response."""
        seq = self.send(command, arguments)
        return self.expect_response(seq, timeout, success=False)

    def wait_event(self, name, timeout=10.0, pred=None):
        """Return the oldest not yet consumed event `name` (matching pred)."""
        def find():
            for i, m in enumerate(self.messages):
                if (i not in self._consumed and m.get("type") == "event"
                        and m.get("event") == name and (pred is None or pred(m))):
                    self._consumed.add(i)
                    return m
            return None
        return self._wait(find, timeout, "event %r" % name)

    def events(self, name=None):
        with self._cond:
            return [m for m in self.messages if m.get("type") == "event"
                    and (name is None or m.get("event") == name)]

    def has_event(self, name, pred=None):
        return any(pred is None or pred(e) for e in self.events(name))

    def wait_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- shutdown -----------------------------------------------------------
    def close_input(self):
        """Close the peer's input (stdin / our socket's write side)."""
        self.t.close_write()
        if hasattr(self.t, "sock"):
            try:
                self.t.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait_exit(self, timeout=5.0):
        """For a spawned peer: its exit code, or None if it is still running."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self, timeout=5.0):
        """Close our side, then make sure a spawned peer is gone. Returns its exit code."""
        self.close_input()
        rc = None
        if self.proc is not None:
            rc = self.wait_exit(timeout)
            if rc is None:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        try:
            self.t.close()
        except OSError:
            pass
        return rc

    # -- helpers for common sequences --------------------------------------
    def initialize(self, **extra):
        args = dict(DEFAULT_INITIALIZE)
        args.update(extra)
        return self.request("initialize", args)


# --------------------------------------------------------------------------
# synchronous client (benchmark)


class SyncDap:
    """Minimal blocking DAP client: no thread, no validation."""

    def __init__(self, transport, proc=None):
        self.t = transport
        self.proc = proc
        self.seq = 0
        self.events = []
        self.responses = {}      # responses read while waiting for something else

    @classmethod
    def spawn(cls, argv, env=None, stderr=None):
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                env=env, bufsize=-1)   # buffered; writes are flushed
        return cls(_stdio_transport(proc), proc)

    @classmethod
    def connect(cls, host, port, timeout=5.0):
        return cls(_tcp_transport(host, port, timeout))

    def send(self, command, arguments=None):
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.t.write(encode(msg))
        return self.seq

    def read(self):
        body = read_frame(self.t.rfile)
        if body is None:
            raise DapError("peer closed the connection")
        return json.loads(body)

    def response(self, seq):
        r = self.responses.pop(seq, None)
        if r is not None:
            return r
        while True:
            m = self.read()
            if m.get("type") == "response":
                if m.get("request_seq") == seq:
                    return m
                self.responses[m.get("request_seq")] = m
            elif m.get("type") == "event":
                self.events.append(m)

    def request(self, command, arguments=None):
        r = self.response(self.send(command, arguments))
        if not r.get("success"):
            raise DapError("%s failed: %s" % (command, json.dumps(r)[:500]))
        return r.get("body") or {}

    def wait_event(self, name):
        for i, e in enumerate(self.events):
            if e.get("event") == name:
                return self.events.pop(i)
        while True:
            m = self.read()
            if m.get("type") == "event":
                if m.get("event") == name:
                    return m
                self.events.append(m)
            elif m.get("type") == "response":
                self.responses[m.get("request_seq")] = m

    def close(self, timeout=5.0):
        self.t.close_write()
        rc = None
        if self.proc is not None:
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            self.t.close()
        except OSError:
            pass
        return rc


def check_sequence(messages, sent):
    """seq starts at 1 and grows by 1 for every message the adapter sends; every response
    answers a request we sent, with that request's command. Returns a list of problems."""
    problems = []
    for i, m in enumerate(messages, 1):
        if m.get("seq") != i:
            problems.append("message #%d has seq %r (expected %d): %s" % (i, m.get("seq"), i,
                                                                         json.dumps(m)[:200]))
            break
    by_seq = {r.get("seq"): r for r in sent if isinstance(r.get("seq"), int)}
    seen = {}
    for m in messages:
        if m.get("type") != "response":
            continue
        rs = m.get("request_seq")
        req = by_seq.get(rs)
        if req is None:
            continue        # e.g. the answer to a request sent without seq
        if isinstance(req.get("command"), str) and m.get("command") != req["command"]:
            problems.append("response to %d (%s) has command %r" % (rs, req["command"], m.get("command")))
        seen[rs] = seen.get(rs, 0) + 1
        if seen[rs] == 2:
            problems.append("two responses to request %d" % rs)
    return problems


def check_ids(messages):
    """Every id an adapter hands out must be an int in (0, 2^31) (0 allowed where
    the protocol gives it a meaning: variablesReference/sourceReference 0 = none).
    Returns a list of problems."""
    problems = []

    def bad(path, v, allow_zero):
        if not isinstance(v, int) or isinstance(v, bool) or v >= INT31 or v < 0 or (v == 0 and not allow_zero):
            problems.append("%s = %r" % (path, v))

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                p = path + "." + k
                if k in ("threadId", "frameId"):
                    bad(p, v, False)
                elif k in ("variablesReference", "sourceReference", "namedVariables",
                           "indexedVariables"):
                    bad(p, v, True)
                elif k == "id" and (path.endswith("stackFrames[]") or path.endswith("threads[]")
                                    or path.endswith("breakpoints[]") or path.endswith("breakpoint")):
                    bad(p, v, False)
                elif k == "hitBreakpointIds" and isinstance(v, list):
                    for x in v:
                        bad(p + "[]", x, False)
                walk(v, p)
        elif isinstance(o, list):
            for x in o:
                walk(x, path + "[]")

    for m in messages:
        if m.get("type") in ("response", "event"):
            walk(m.get("body"), "%s(%s).body" % (m.get("type"), m.get("command") or m.get("event")))
    return problems
