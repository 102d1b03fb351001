"""kdap's gdb backend end to end: real gdb 13 + gdbserver --attach on tests/apps/c-demo and
cpp-demo (started with setsid), kdap over stdio, every message schema-validated.

Run: cd tests/e2e && KDAP_BIN=build/kdap /usr/bin/python3 -m unittest -v test_gdb
"""

import base64
import json
import os
import re
import shutil
import signal
import struct
import time
import unittest

from cdbg import (C_SRC, CPP_SRC, FAMILY_SRC, GdbTarget, build_c, build_cpp, build_family,
                  line_of, proc_state, tracer_pid)
from godbg import log_file
from e2ecase import E2ECase

HAVE = shutil.which("gdb") and shutil.which("gdbserver") and shutil.which("gcc")


@unittest.skipUnless(HAVE, "needs gdb, gdbserver and gcc")
class TestGdb(E2ECase):

    def gdb_session(self, target, src=C_SRC, breakpoints=None, **extra):
        c = self.start_kdap()
        bps = self.attach(c, target.service_args(**extra), breakpoints=breakpoints,
                          source_path=src, check_caps=False)
        for cap in ("supportsDataBreakpoints", "supportsReadMemoryRequest",
                    "supportsDisassembleRequest", "supportsSteppingGranularity"):
            self.assertTrue(self.caps.get(cap), cap)
        return c, bps

    def frame0(self, c, tid):
        return self.top_frames(c, tid)[0]

    def scope_vars(self, c, fid, name):
        scopes = c.request("scopes", {"frameId": fid})["scopes"]
        ref = [s for s in scopes if s["name"] == name][0]["variablesReference"]
        return c.request("variables", {"variablesReference": ref})["variables"]

    def test_session_c(self):
        t = GdbTarget(self.group, build_c())
        line = line_of(C_SRC, "tick")
        c, bps = self.gdb_session(t, breakpoints=[{"line": line}])
        bp = bps["breakpoints"][0]
        self.assertTrue(bp["verified"], json.dumps(bp))
        self.assertEqual(bp["line"], line)
        ev = self.wait_stopped(c, 10, "breakpoint")
        self.assertIn(bp["id"], ev["body"]["hitBreakpointIds"])
        tid = ev["body"]["threadId"]

        names = sorted(t_["name"] for t_ in c.request("threads")["threads"])
        self.assertEqual(names, ["c-demo", "worker-a", "worker-b"])

        frames = self.top_frames(c, tid)
        self.assertEqual([f["name"] for f in frames[:2]], ["tick", "main"])
        self.assertEqual(frames[0]["source"]["path"], C_SRC)
        self.assertEqual(frames[1]["line"], line_of(C_SRC, "call"))
        page = c.request("stackTrace", {"threadId": tid, "startFrame": 1, "levels": 1})
        self.assertEqual([f["name"] for f in page["stackFrames"]], ["main"])
        self.assertGreaterEqual(page["totalFrames"], 2)
        fid = frames[0]["id"]

        args = self.scope_vars(c, fid, "Arguments")
        self.assertEqual([v["name"] for v in args], ["p", "n"])
        n = int(self.var(args, "n")["value"])
        p = self.var(args, "p")
        self.assertGreater(p["variablesReference"], 0)
        self.assertTrue(p.get("memoryReference", "").startswith("0x"))
        kids = c.request("variables", {"variablesReference": p["variablesReference"]})["variables"]
        self.assertEqual([k["name"] for k in kids], ["x", "y", "label"])
        self.assertIn('"origin"', self.var(kids, "label")["value"])
        self.assertEqual(self.var(kids, "x")["evaluateName"], "p->x")
        self.assertIn("sq", [v["name"] for v in self.scope_vars(c, fid, "Locals")])
        regs = [v["name"] for v in self.scope_vars(c, fid, "Registers")]
        self.assertIn("rip", regs)

        # the 1000-int global, paged
        arr = c.request("evaluate", {"expression": "numbers", "frameId": fid, "context": "watch"})
        self.assertEqual(arr["indexedVariables"], 1000)
        page = c.request("variables", {"variablesReference": arr["variablesReference"],
                                       "start": 500, "count": 3})["variables"]
        self.assertEqual([(v["name"], v["value"]) for v in page],
                         [("[500]", "500"), ("[501]", "501"), ("[502]", "502")])

        # evaluate, errors, the gdb CLI through -exec
        r = c.request("evaluate", {"expression": "n * 2", "frameId": fid, "context": "hover"})
        self.assertEqual(r["result"], str(n * 2))
        err = c.request_error("evaluate", {"expression": "nosuch", "frameId": fid, "context": "repl"})
        self.assertIn("No symbol", err["message"])
        # what the backend knew keeps its own error id (dap/err.h): the
        # debugger's refusal, a state that does not allow it, a request
        # the backend does not have
        self.assertEqual(err["body"]["error"]["id"], 1009, err)
        e = c.request_error("exceptionInfo", {"threadId": tid})
        self.assertEqual(e["body"]["error"]["id"], 1005, e)
        e = c.request_error("loadedSources")
        self.assertEqual(e["body"]["error"]["id"], 1002, e)
        r = c.request("evaluate", {"expression": "-exec info threads", "frameId": fid,
                                   "context": "repl"})
        self.assertIn("worker-a", r["result"])

        # setVariable: an argument and a struct member
        r = c.request("setVariable", {"variablesReference": [s for s in c.request(
            "scopes", {"frameId": fid})["scopes"] if s["name"] == "Arguments"][0]["variablesReference"],
            "name": "n", "value": "7"})
        self.assertEqual(r["value"], "7")
        self.assertEqual(c.request("evaluate", {"expression": "n", "frameId": fid})["result"], "7")
        fid = self.frame0(c, tid)["id"]
        args = self.scope_vars(c, fid, "Arguments")
        kids = c.request("variables", {"variablesReference": self.var(args, "p")["variablesReference"]})
        r = c.request("setVariable", {"variablesReference": self.var(args, "p")["variablesReference"],
                                      "name": "y", "value": "123"})
        self.assertEqual(r["value"], "123")
        self.assertEqual(c.request("evaluate", {"expression": "p->y", "frameId": fid})["result"], "123")

        # memory and disassembly
        addr = c.request("evaluate", {"expression": "&numbers[500]", "frameId": fid})
        mem = c.request("readMemory", {"memoryReference": addr["memoryReference"], "count": 8})
        self.assertEqual(struct.unpack("<ii", base64.b64decode(mem["data"])), (500, 501))
        ip = self.frame0(c, tid)["instructionPointerReference"]
        dis = c.request("disassemble", {"memoryReference": ip, "instructionOffset": -3,
                                        "instructionCount": 8})["instructions"]
        self.assertEqual(len(dis), 8)
        self.assertEqual(int(dis[3]["address"], 16), int(ip, 16))

        # stepping: line, instruction, out
        c.request("next", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.frame0(c, tid)["line"], line + 1)
        ip0 = int(self.frame0(c, tid)["instructionPointerReference"], 16)
        c.request("stepIn", {"threadId": tid, "granularity": "instruction"})
        self.wait_stopped(c, 10, "step")
        self.assertNotEqual(int(self.frame0(c, tid)["instructionPointerReference"], 16), ip0)
        c.request("stepOut", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.frame0(c, tid)["name"], "main")
        c.request("continue", {"threadId": tid})
        self.wait_stopped(c, 10, "breakpoint")
        # stale ids after a resume fail cleanly
        c.request("continue", {"threadId": tid})
        e = c.request_error("variables", {"variablesReference": p["variablesReference"]})
        self.assertEqual(e["body"]["error"]["id"], 1006, e)
        self.wait_stopped(c, 10, "breakpoint")
        c.request("continue", {"threadId": tid})

        # disconnect while running: breakpoints removed, process detached and alive
        self.disconnect_and_exit(c)
        time.sleep(0.2)
        self.assertEqual(tracer_pid(t.pid), 0)
        self.assertTrue(t.runs(2), "c-demo stopped printing after the disconnect")

    def test_breakpoint_kinds_while_running(self):
        t = GdbTarget(self.group, build_c())
        c, _ = self.gdb_session(t)
        time.sleep(0.2)
        # set while running: kdap halts the program, inserts and resumes
        end = line_of(C_SRC, "tick_end")
        b = c.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": [
            {"line": end, "logMessage": "n={n} sq={sq} 100% {{n}}"}]})["breakpoints"]
        self.assertTrue(b[0]["verified"], json.dumps(b))
        out = c.wait_event("output", 5, pred=lambda m: "n=" in m["body"]["output"])
        # "{{" and "}}" are literal braces (README)
        self.assertRegex(out["body"]["output"], r"^n=\d+ sq=\d+ 100% \{n\}\n$")
        self.assertFalse(c.has_event("stopped"), "a log point stopped the program")
        # conditional breakpoint on the same line, keeping the log point's id
        b2 = c.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": [
            {"line": end, "logMessage": "n={n} sq={sq} 100% {{n}}"},
            {"line": line_of(C_SRC, "tick"), "condition": "n % 7 == 3"}]})["breakpoints"]
        self.assertEqual(b2[0]["id"], b[0]["id"])
        ev = self.wait_stopped(c, 10, "breakpoint")
        tid = ev["body"]["threadId"]
        fid = self.frame0(c, tid)["id"]
        self.assertEqual(int(c.request("evaluate", {"expression": "n", "frameId": fid})["result"]) % 7, 3)
        # hit count: the 3rd hit from now
        n0 = int(c.request("evaluate", {"expression": "n", "frameId": fid})["result"])
        c.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": [
            {"line": line_of(C_SRC, "tick"), "hitCondition": "3"}]})
        c.request("continue", {"threadId": tid})
        self.wait_stopped(c, 10, "breakpoint")
        fid = self.frame0(c, tid)["id"]
        self.assertEqual(int(c.request("evaluate", {"expression": "n", "frameId": fid})["result"]), n0 + 3)
        # function breakpoint
        c.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": []})
        fb = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "tick"}]})["breakpoints"]
        self.assertTrue(fb[0]["verified"])
        c.request("continue", {"threadId": tid})
        self.wait_stopped(c, 10, "function breakpoint")
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        # data breakpoint on the global counter
        info = c.request("dataBreakpointInfo", {"name": "counter"})
        self.assertIn("write", info["accessTypes"])
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
        self.assertTrue(db["breakpoints"][0]["verified"], json.dumps(db))
        # (that it fires: test_data_breakpoint_fires)
        c.request("setDataBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": tid})
        self.assertTrue(t.runs(2))
        self.disconnect_and_exit(c)
        self.assertEqual(tracer_pid(t.pid), 0)
        self.assertTrue(t.runs(2))

    def test_data_breakpoint_fires(self):
        """A data breakpoint kdap calls verified stops the program when the value
        changes: set while running (kdap halts, watches, resumes) and while stopped."""
        t = GdbTarget(self.group, build_c())
        c, _ = self.gdb_session(t)
        info = c.request("dataBreakpointInfo", {"name": "counter"})
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
        bp = db["breakpoints"][0]
        self.assertTrue(bp["verified"], json.dumps(db))
        ev = self.wait_stopped(c, 5, "data breakpoint")
        self.assertEqual(ev["body"]["hitBreakpointIds"], [bp["id"]])
        m = re.match(r"counter: (\d+) -> (\d+)$", ev["body"].get("description", ""))
        self.assertTrue(m, json.dumps(ev))
        self.assertEqual(int(m.group(2)), int(m.group(1)) + 1)
        tid = ev["body"]["threadId"]
        fid = self.frame0(c, tid)["id"]
        self.assertEqual(c.request("evaluate", {"expression": "counter", "frameId": fid})["result"],
                         m.group(2))
        # while stopped: replaced by a conditional one on the same value
        info = c.request("dataBreakpointInfo", {"name": "counter", "frameId": fid})
        want = int(m.group(2)) + 3
        db = c.request("setDataBreakpoints", {"breakpoints": [
            {"dataId": info["dataId"], "condition": "counter == %d" % want}]})
        self.assertTrue(db["breakpoints"][0]["verified"], json.dumps(db))
        c.request("continue", {"threadId": tid})
        ev = self.wait_stopped(c, 5, "data breakpoint")
        fid = self.frame0(c, ev["body"]["threadId"])["id"]
        self.assertEqual(c.request("evaluate", {"expression": "counter", "frameId": fid})["result"],
                         str(want))
        c.request("setDataBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": tid})
        self.assertTrue(t.runs(2))
        self.assertFalse(c.has_event("stopped", pred=lambda m: m["seq"] > ev["seq"]))
        self.disconnect_and_exit(c)
        self.assertEqual(tracer_pid(t.pid), 0)

    def test_pause_touches_the_target_alone(self):
        """Pausing (and halting for a watchpoint) stops the target's threads only: the
        child process in its process group gets no SIGINT (gdbserver's all-stop
        interrupt is kill(-pid, SIGINT), the whole group)."""
        record = log_file("c-family-signals-%s.txt" % self.tag())
        t = GdbTarget(self.group, build_family(), name="family", args=[record])
        c, _ = self.gdb_session(t, src=FAMILY_SRC)
        for _ in range(2):
            c.request("pause", {"threadId": c.request("threads")["threads"][0]["id"]})
            ev = self.wait_stopped(c, 5, "pause")
            tid = ev["body"]["threadId"]
            self.assertTrue(self.top_frames(c, tid))
            time.sleep(0.3)
            self.assertFalse(t.runs(0.3), "paused, yet it ticks")
            c.request("continue", {"threadId": tid})
            self.assertTrue(t.runs(2))
        info = c.request("dataBreakpointInfo", {"name": "ticks"})
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
        self.assertTrue(db["breakpoints"][0]["verified"], json.dumps(db))
        ev = self.wait_stopped(c, 5, "data breakpoint")
        c.request("setDataBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertTrue(t.runs(2))
        self.disconnect_and_exit(c)
        time.sleep(0.3)
        with open(record) as f:
            self.assertEqual(f.read(), "", "the child process got signals meant for nobody")
        self.assertTrue(t.runs(2))

    def test_pause_signal_crash(self):
        t = GdbTarget(self.group, build_c())
        c, _ = self.gdb_session(t)
        tid0 = c.request("threads")["threads"][0]["id"]
        c.request("pause", {"threadId": tid0})
        ev = self.wait_stopped(c, 5, "pause")
        tid = ev["body"]["threadId"]
        os.kill(t.pid, signal.SIGUSR1)
        c.request("continue", {"threadId": tid})
        ev = self.wait_stopped(c, 5, "exception")
        self.assertIn("SIGUSR1", ev["body"]["description"])
        c.request("continue", {"threadId": tid})
        ev = self.wait_stopped(c, 5, "exception")
        self.assertIn("SIGSEGV", ev["body"]["description"])
        info = c.request("exceptionInfo", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(info["exceptionId"], "SIGSEGV")
        self.assertEqual(self.frame0(c, ev["body"]["threadId"])["line"], line_of(C_SRC, "crash"))
        c.request("continue", {"threadId": tid})
        ex = c.wait_event("exited", 5)
        self.assertEqual(ex["body"]["exitCode"], 128 + 11)
        c.wait_event("terminated", 5)
        c.request("disconnect", {}, timeout=10)

    def test_exit_and_terminate(self):
        t = GdbTarget(self.group, build_c())
        c, _ = self.gdb_session(t)
        os.kill(t.pid, signal.SIGUSR2)
        ev = self.wait_stopped(c, 5, "exception")
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(c.wait_event("exited", 5)["body"]["exitCode"], 3)
        c.wait_event("terminated", 5)
        c.request("disconnect", {}, timeout=10)
        # terminate kills the debuggee
        t2 = GdbTarget(self.group, build_c())
        c2, _ = self.gdb_session(t2)
        c2.request("terminate", {}, timeout=10)
        t2.app.wait(5)
        self.assertIsNotNone(t2.app.poll())

    def test_gdbserver_lost(self):
        t = GdbTarget(self.group, build_c())
        c, _ = self.gdb_session(t)
        t.gs.kill()
        c.wait_event("terminated", 10)
        c.request("disconnect", {}, timeout=10)

    def test_stop_at_connect_and_cpp(self):
        t = GdbTarget(self.group, build_cpp(), name="cpp")
        c, _ = self.gdb_session(t, src=CPP_SRC, stopAtConnect=True,
                                setupCommands=[{"text": "set print static-members off",
                                                "ignoreFailures": True}, "set width 0"])
        ev = self.wait_stopped(c, 5, "entry")
        c.request("setBreakpoints", {"source": {"path": CPP_SRC},
                                     "breakpoints": [{"line": line_of(CPP_SRC, "deposit")}]})
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        ev = self.wait_stopped(c, 10, "breakpoint")
        tid = ev["body"]["threadId"]
        frames = self.top_frames(c, tid)
        self.assertEqual(frames[0]["name"], "Account::deposit")
        this = self.var(self.scope_vars(c, frames[0]["id"], "Arguments"), "this")
        members = c.request("variables", {"variablesReference": this["variablesReference"]})["variables"]
        self.assertEqual([m["name"] for m in members], ["owner_", "balance_", "history_"])
        self.assertEqual(self.var(members, "owner_")["value"], '"alice"')
        hist = self.var(members, "history_")
        self.assertGreater(hist["variablesReference"], 0)
        items = c.request("variables", {"variablesReference": hist["variablesReference"]})["variables"]
        self.assertTrue(items and items[0]["name"] == "[0]", json.dumps(items))
        mainvars = self.scope_vars(c, frames[1]["id"], "Locals")
        self.assertEqual(self.var(mainvars, "greeting")["value"], '"hello"')
        names = self.var(mainvars, "names")
        items = c.request("variables", {"variablesReference": names["variablesReference"]})["variables"]
        self.assertEqual([i["value"] for i in items], ['"ann"', '"bob"', '"cy"'])
        c.request("continue", {"threadId": tid})
        self.disconnect_and_exit(c)
        self.assertTrue(t.runs(2))

    def test_huge_integers_and_deadline(self):
        """Integers near 2^62 are clamped (UBSan aborted on startFrame + levels), a
        command gdb does not answer in time fails its request, and the late answer
        is not taken for the next command's (results are matched by token)."""
        t = GdbTarget(self.group, build_c())
        line = line_of(C_SRC, "tick")
        c, _ = self.gdb_session(t, breakpoints=[{"line": line}], requestTimeout=2)
        tid = self.wait_stopped(c, 10, "breakpoint")["body"]["threadId"]
        big = 2 ** 62
        page = c.request("stackTrace", {"threadId": tid, "startFrame": big, "levels": big})
        self.assertEqual(page["stackFrames"], [])
        full = self.top_frames(c, tid, levels=100)
        self.assertEqual(page["totalFrames"], len(full))
        page = c.request("stackTrace", {"threadId": tid, "startFrame": 1, "levels": big})
        self.assertEqual([f["name"] for f in page["stackFrames"]], [f["name"] for f in full[1:]])
        fid = full[0]["id"]
        arr = c.request("evaluate", {"expression": "numbers", "frameId": fid, "context": "watch"})
        kids = c.request("variables", {"variablesReference": arr["variablesReference"],
                                       "start": big, "count": big})["variables"]
        self.assertEqual(kids, [])
        kids = c.request("variables", {"variablesReference": arr["variablesReference"],
                                       "start": 998, "count": big})["variables"]
        self.assertEqual([v["name"] for v in kids], ["[998]", "[999]"])
        ip = full[0]["instructionPointerReference"]
        dis = c.request("disassemble", {"memoryReference": ip, "instructionOffset": -big,
                                        "instructionCount": big}, timeout=20)["instructions"]
        self.assertEqual(len(dis), 4096)
        mem = c.request("readMemory", {"memoryReference": ip, "offset": -big, "count": -big})
        self.assertNotIn("data", mem)

        # gdb busy for 3 s with requestTimeout 2: the request fails at 2 s ...
        t0 = time.monotonic()
        e = c.request_error("evaluate", {"expression": "-exec shell sleep 3", "frameId": fid,
                                         "context": "repl"}, timeout=10)
        self.assertIn("did not answer within 2 s", e["message"])
        self.assertEqual(e["body"]["error"]["id"], 1008, e)
        self.assertLess(time.monotonic() - t0, 2.9)
        # ... and the next command gets its own answer, not the late one
        r = c.request("evaluate", {"expression": "n * 2 + 1", "frameId": fid}, timeout=10)
        n = int(c.request("evaluate", {"expression": "n", "frameId": fid})["result"])
        self.assertEqual(r["result"], str(n * 2 + 1))
        self.assertEqual(self.frame0(c, tid)["name"], "tick")
        c.request("continue", {"threadId": tid})
        self.wait_stopped(c, 10, "breakpoint")
        c.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": []})
        c.request("continue", {"threadId": tid})
        self.disconnect_and_exit(c)
        self.assertTrue(t.runs(2))

    def test_bad_config(self):
        c = self.start_kdap()
        c.initialize()
        e = c.request_error("attach", {"runtime": "gdb", "connect": "127.0.0.1:1"})
        self.assertIn("program", e["message"])
        c2 = self.start_kdap()
        c2.initialize()
        e = c2.request_error("attach", {"runtime": "gdb", "connect": "127.0.0.1:1",
                                        "program": build_c()}, timeout=20)
        self.assertIn("gdbserver", e["message"])
        # one setupCommands entry is one command: a newline would inject more
        for bad in ("-gdb-set width 0\n-gdb-exit", "set width 0\rshell touch /tmp/x"):
            c3 = self.start_kdap()
            c3.initialize()
            e = c3.request_error("attach", {"runtime": "gdb", "connect": "127.0.0.1:1",
                                            "program": build_c(), "setupCommands": [bad]})
            self.assertIn("setupCommands[0] contains a control character", e["message"])
        c4 = self.start_kdap()
        c4.initialize()
        e = c4.request_error("attach", {"runtime": "gdb", "connect": "127.0.0.1:1",
                                        "program": build_c(), "requestTimeout": 0})
        self.assertIn("requestTimeout", e["message"])


if __name__ == "__main__":
    unittest.main()
