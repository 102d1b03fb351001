"""Proves the test harness itself, without kdap: the schema validator catches what it
must, the framing reader finds garbage, and the client + process helpers run a real
session directly against headless delve (delve's seq:0 is the one known violation)."""

import io
import json
import unittest

from dapclient import DapClient, SchemaValidator, check_ids, encode, read_frame
from godbg import APP_SRC, BP_LINE, HOST, GoService, ProcessGroup


class TestValidator(unittest.TestCase):

    def setUp(self):
        self.v = SchemaValidator.shared()

    def test_valid_messages(self):
        for m in (
            {"seq": 1, "type": "response", "request_seq": 1, "success": True, "command": "threads",
             "body": {"threads": [{"id": 1, "name": "main"}]}},
            {"seq": 2, "type": "event", "event": "stopped",
             "body": {"reason": "breakpoint", "threadId": 1, "allThreadsStopped": False}},
            {"seq": 3, "type": "response", "request_seq": 2, "success": False, "command": "foo",
             "message": "not supported", "body": {"error": {"id": 1, "format": "x", "showUser": True}}},
            {"seq": 4, "type": "event", "event": "kdapCustom", "body": {"x": 1}},
            {"seq": 5, "type": "response", "request_seq": 3, "success": True, "command": "configurationDone"},
        ):
            self.assertEqual(self.v.errors(m), [], json.dumps(m))

    def test_invalid_messages(self):
        cases = [
            ({"seq": 1, "type": "event", "event": "stopped", "body": {"threadId": 1}},
             "StoppedEvent", "$.body"),                                   # no reason
            ({"seq": 1, "type": "response", "request_seq": 1, "success": True,
              "command": "stackTrace", "body": {"stackFrames": [{"id": "1", "name": "f", "line": 1,
                                                                 "column": 0}]}},
             "StackTraceResponse", "$.body.stackFrames[0].id"),
            ({"seq": 1, "type": "response", "request_seq": 1, "success": False, "command": "x",
              "message": "m"}, "ErrorResponse", "$"),                       # no body
            ({"seq": 0, "type": "event", "event": "initialized"}, "InitializedEvent", "$.seq"),
            ({"seq": 1, "type": "response", "request_seq": 1, "success": True, "command": "threads",
              "body": {"threads": [{"id": 2 ** 31, "name": "t"}]}}, "ThreadsResponse",
             "$.body.threads[0].id"),
            ({"seq": 1, "type": "bogus"}, "ProtocolMessage", "$.type"),
        ]
        for msg, definition, path in cases:
            errs = self.v.errors(msg)
            self.assertTrue(errs, "no violation found in %s" % json.dumps(msg))
            self.assertEqual(errs[0][0], definition)
            self.assertIn(path, [e[1] for e in errs], errs)

    def test_framing_garbage(self):
        data = (b"hello\n" + encode({"a": 1}) + b"Content-Length: 2\r\n\r\n{}" + b"junk\r\n\r\n"
                + encode({"b": 2}))
        f = io.BufferedReader(io.BytesIO(data))
        garbage = []
        bodies = []
        while True:
            b = read_frame(f, garbage)
            if b is None:
                break
            bodies.append(json.loads(b))
        self.assertEqual(bodies, [{"a": 1}, {}, {"b": 2}])
        self.assertEqual(len(garbage), 3)

    def test_check_ids(self):
        ok = [{"type": "event", "event": "stopped", "body": {"threadId": 5, "reason": "x"}}]
        self.assertEqual(check_ids(ok), [])
        bad = [{"type": "response", "command": "stackTrace",
                "body": {"stackFrames": [{"id": 2 ** 31, "name": "f"}]}},
               {"type": "event", "event": "stopped", "body": {"threadId": 0}}]
        self.assertEqual(len(check_ids(bad)), 2)


class TestDirectDelve(unittest.TestCase):
    """The DAP client and the go-hello/delve helpers against delve itself."""

    def setUp(self):
        self.group = ProcessGroup()
        self.addCleanup(self.group.cleanup)

    def test_session_against_delve(self):
        svc = GoService(self.group, "direct")
        # delve 1.20 sends seq 0 everywhere (kdap must renumber); nothing else may be invalid
        c = DapClient.connect(HOST, svc.dlv_port, name="delve",
                              tolerate=lambda m, e: e[1] in ("$.seq",) and m.get("seq") == 0)
        self.addCleanup(c.close)
        c.initialize()
        seq = c.send("attach", {"mode": "remote"})
        c.wait_event("initialized", 10)
        bps = c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
        self.assertTrue(bps["breakpoints"][0]["verified"])
        c.request("configurationDone")
        c.expect_response(seq, 10, success=True)
        get = svc.get_async("/direct")
        ev = c.wait_event("stopped", 10)
        tid = ev["body"]["threadId"]
        frames = c.request("stackTrace", {"threadId": tid, "levels": 5})["stackFrames"]
        self.assertEqual((frames[0]["name"], frames[0]["line"]), ("main.handle", BP_LINE))
        res = c.request("evaluate", {"expression": "msg", "context": "watch", "frameId": frames[0]["id"]})
        self.assertEqual(res["result"], '"hello /direct #1"')
        c.request("continue", {"threadId": tid})
        self.assertEqual(get.wait(5), "hello /direct #1\n")
        c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": []})
        c.request("disconnect", {"terminateDebuggee": False})
        self.assertTrue(svc.answers(2))
        c.check()


if __name__ == "__main__":
    unittest.main()
