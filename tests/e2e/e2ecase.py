"""Common base for kdap's end-to-end tests: processes, watchdog, kdap sessions, checks."""

import json
import os
import re
import threading
import unittest

from dapclient import DapClient, check_ids, check_sequence
from godbg import (APP_DIR, APP_SRC, BP_LINE, GoService, ProcessGroup, kdap_missing, kdap_path,
                   log_file)

TEST_TIMEOUT = float(os.environ.get("KDAP_E2E_TEST_TIMEOUT", "60"))

REQUIRED_CAPS = [
    "supportsConfigurationDoneRequest", "supportsConditionalBreakpoints",
    "supportsHitConditionalBreakpoints", "supportsLogPoints", "supportsFunctionBreakpoints",
    "supportsSetVariable", "supportsEvaluateForHovers", "supportsTerminateRequest",
    "supportsDelayedStackTraceLoading",
]


def go_service_args(svc, name=None, **extra):
    """One `services[]` entry (or top-level attach arguments) for a GoService."""
    args = {"runtime": "go", "connect": svc.connect}
    if name:
        args["name"] = name
    args.update(extra)
    return args


class E2ECase(unittest.TestCase):
    """Each test owns a ProcessGroup (killed at cleanup) and a watchdog that kills
    everything if the test runs longer than TEST_TIMEOUT, so nothing can hang."""

    def setUp(self):
        self.group = ProcessGroup()
        self.clients = []
        self.addCleanup(self.group.cleanup)
        self._watchdog = threading.Timer(TEST_TIMEOUT, self._on_timeout)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.addCleanup(self._watchdog.cancel)
        self.timed_out = False

    def _on_timeout(self):
        self.timed_out = True
        for c in self.clients:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.kill()
        self.group.cleanup()

    def tearDown(self):
        if self.timed_out:
            self.fail("test exceeded %.0fs; every process was killed" % TEST_TIMEOUT)
        for c in self.clients:
            c.check()
            problems = check_ids(c.messages)
            self.assertEqual(problems, [], "ids outside (0, 2^31) from kdap")
            problems = check_sequence(c.messages, c.sent)
            self.assertEqual(problems, [], "seq / request_seq problems in kdap's messages")

    # -- processes ------------------------------------------------------------
    def tag(self):
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.id().split(".", 1)[-1])

    def go_service(self, name="svc"):
        return GoService(self.group, name)

    def kdap_argv(self, *extra, log=True):
        path = kdap_path()
        if kdap_missing():
            self.fail(kdap_missing())
        argv = [path]
        if log:
            argv += ["--log", log_file("kdap-%s.log" % self.tag()), "--log-level", "debug"]
        return argv + list(extra)

    def start_kdap(self, *extra, env=None, log=True, tolerate=None):
        """Spawn kdap over stdio; its stderr goes to build/e2e-logs/kdap-<test>.stderr."""
        argv = self.kdap_argv(*extra, log=log)
        err = open(log_file("kdap-%s.stderr" % self.tag()), "ab")
        self.addCleanup(err.close)
        c = DapClient.spawn(argv, env=env, stderr=err, name="kdap", tolerate=tolerate)
        self.clients.append(c)
        self.addCleanup(self._close_client, c)
        return c

    @staticmethod
    def _close_client(c):
        if c.proc is not None and c.proc.poll() is None:
            c.close(timeout=2)

    # -- sessions -------------------------------------------------------------
    def attach(self, c, attach_args, breakpoints=None, function_breakpoints=None,
               source_path=APP_SRC, check_caps=True):
        """initialize -> attach -> (initialized) -> breakpoints -> configurationDone.
        Returns the setBreakpoints response body (or None)."""
        caps = c.initialize()
        self.caps = caps
        if check_caps:
            missing = [k for k in REQUIRED_CAPS if caps.get(k) is not True]
            self.assertEqual(missing, [], "capabilities missing from initialize: %s" % json.dumps(caps))
            self.assertIsInstance(caps.get("exceptionBreakpointFilters"), list,
                                  "initialize must list exceptionBreakpointFilters")
        seq = c.send("attach", attach_args)
        # wait for `initialized`, but fail at once (with kdap's message) if attach fails
        c._wait(lambda: True if c.has_event("initialized") else
                next((self.fail("attach failed: %s" % json.dumps(m)) for m in c.messages
                      if m.get("type") == "response" and m.get("request_seq") == seq
                      and not m.get("success")), None), 15, "event 'initialized'")
        c.wait_event("initialized", 1)
        bps = None
        if breakpoints is not None:
            bps = c.request("setBreakpoints", {"source": {"path": source_path},
                                               "breakpoints": breakpoints})
            self.assertEqual(len(bps["breakpoints"]), len(breakpoints), json.dumps(bps))
        if function_breakpoints is not None:
            c.request("setFunctionBreakpoints", {"breakpoints": function_breakpoints})
        c.request("setExceptionBreakpoints", {"filters": []})
        c.request("configurationDone")
        c.expect_response(seq, 15, success=True, command="attach")
        return bps

    def session(self, svc, breakpoints=None, **kw):
        """A kdap session attached to one service given at the top level."""
        c = self.start_kdap()
        bps = self.attach(c, go_service_args(svc), breakpoints=breakpoints, **kw)
        return c, bps

    def bp_line(self, **extra):
        d = {"line": BP_LINE}
        d.update(extra)
        return d

    def wait_stopped(self, c, timeout=10, reason=None):
        ev = c.wait_event("stopped", timeout)
        if reason is not None:
            self.assertEqual(ev["body"].get("reason"), reason, json.dumps(ev))
        return ev

    def top_frames(self, c, thread_id, levels=20):
        return c.request("stackTrace", {"threadId": thread_id, "startFrame": 0,
                                        "levels": levels})["stackFrames"]

    def locals_of(self, c, frame_id):
        scopes = c.request("scopes", {"frameId": frame_id})["scopes"]
        self.assertTrue(scopes, "no scopes for frame %d" % frame_id)
        loc = [s for s in scopes if s["name"].lower().startswith("local")] or scopes
        ref = loc[0]["variablesReference"]
        self.assertGreater(ref, 0)
        return ref, c.request("variables", {"variablesReference": ref})["variables"]

    def var(self, variables, name):
        for v in variables:
            if v["name"] == name:
                return v
        self.fail("variable %r not in %s" % (name, [v["name"] for v in variables]))

    def disconnect_and_exit(self, c, svcs=(), answer_within=2.0):
        """disconnect, close stdin; kdap must exit 0 within 5 s and every app answer HTTP."""
        c.request("disconnect", {"restart": False, "terminateDebuggee": False}, timeout=10)
        for s in svcs:
            self.assertTrue(s.answers(answer_within),
                            "%s does not answer HTTP within %.0fs after disconnect (left halted)"
                            % (s.name, answer_within))
        c.close_input()
        rc = c.wait_exit(5)
        self.assertIsNotNone(rc, "kdap did not exit within 5 s after stdin closed")
        self.assertEqual(rc, 0, "kdap exit code after disconnect")


__all__ = ["E2ECase", "go_service_args", "APP_DIR", "APP_SRC", "BP_LINE", "REQUIRED_CAPS"]
