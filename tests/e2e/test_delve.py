"""kdap end to end over stdio against the real go-hello under a real headless delve.

Run: /usr/bin/python3 -m unittest discover -s tests/e2e -p 'test_*.py'
Every message kdap sends is validated against the official DAP schema (dapclient.py).
"""

import http.client
import json
import os
import shutil
import tempfile
import time
import unittest

from e2ecase import APP_DIR, APP_SRC, BP_LINE, E2ECase, go_service_args
from godbg import HOST

INT31 = 2 ** 31


class TestSingleService(E2ECase):

    def stop_at_bp(self, c, svc, path, bp_id=None, reason="breakpoint"):
        """GET path (in a thread) and wait for kdap's stopped event; returns (get, event)."""
        get = svc.get_async(path)
        ev = self.wait_stopped(c, 10, reason)
        body = ev["body"]
        self.assertIn("threadId", body, "stopped event without threadId: %s" % json.dumps(ev))
        if bp_id is not None:
            self.assertIn(bp_id, body.get("hitBreakpointIds", []), json.dumps(ev))
        return get, ev

    def test_breakpoint_variables_evaluate_continue_disconnect(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line()])
        bp = bps["breakpoints"][0]
        self.assertTrue(bp["verified"], json.dumps(bp))
        self.assertEqual(bp["line"], BP_LINE)
        self.assertTrue(0 < bp["id"] < INT31)

        get, ev = self.stop_at_bp(c, svc, "/path-xyz", bp["id"])
        tid = ev["body"]["threadId"]
        threads = c.request("threads")["threads"]
        self.assertIn(tid, [t["id"] for t in threads], "stopped thread not in threads")
        self.assertEqual(len({t["id"] for t in threads}), len(threads), "duplicate thread ids")
        self.assertFalse([t["name"] for t in threads if t["name"].startswith(("default: ", "service-1: "))],
                         "thread names are prefixed only when there is more than one service")

        frames = self.top_frames(c, tid)
        top = frames[0]
        self.assertEqual(top["name"], "main.handle")
        self.assertEqual(top["line"], BP_LINE)
        self.assertEqual(top["source"]["path"], APP_SRC)
        self.assertEqual(len({f["id"] for f in frames}), len(frames), "duplicate frame ids")

        ref, variables = self.locals_of(c, top["id"])
        self.assertEqual(self.var(variables, "msg")["value"], '"hello /path-xyz #1"')
        self.assertEqual(self.var(variables, "hits")["value"], "1")
        r = self.var(variables, "r")
        self.assertGreater(r["variablesReference"], 0)
        self.assertTrue(c.request("variables", {"variablesReference": r["variablesReference"]})["variables"])

        for expr, ctx, want in (("st.Hits", "repl", "1"), ("msg", "watch", '"hello /path-xyz #1"'),
                                ("hits", "hover", "1"), ("hits + 1", "repl", "2")):
            res = c.request("evaluate", {"expression": expr, "context": ctx, "frameId": top["id"]})
            self.assertEqual(res["result"], want, "evaluate %s (%s)" % (expr, ctx))
        err = c.request_error("evaluate", {"expression": "no_such_var", "context": "repl",
                                           "frameId": top["id"]})
        self.assertIn("error", err["body"])
        res = c.request("evaluate", {"expression": "st.Hits", "context": "repl"})   # no frameId
        self.assertEqual(res["result"], "1")

        body = c.request("continue", {"threadId": tid})
        self.assertEqual(get.wait(5), "hello /path-xyz #1\n")
        if "allThreadsContinued" in body:
            self.assertIsInstance(body["allThreadsContinued"], bool)

        # stale references after a resume: error responses, not crashes
        for cmd, args in (("scopes", {"frameId": top["id"]}),
                          ("variables", {"variablesReference": ref}),
                          ("evaluate", {"expression": "msg", "context": "watch", "frameId": top["id"]})):
            e = c.request_error(cmd, args)
            self.assertTrue(e.get("message"), json.dumps(e))
        # still alive and working
        self.assertTrue(c.request("threads")["threads"])
        self.disconnect_and_exit(c, [svc])

    def test_stack_trace_paging(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line()])
        get, ev = self.stop_at_bp(c, svc, "/stack")
        tid = ev["body"]["threadId"]
        full = c.request("stackTrace", {"threadId": tid})
        frames = full["stackFrames"]
        self.assertGreaterEqual(len(frames), 5, json.dumps(full)[:500])
        page1 = c.request("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 2})
        self.assertEqual(len(page1["stackFrames"]), 2)
        self.assertGreaterEqual(page1.get("totalFrames", 0), 5, "totalFrames missing or too small")
        page2 = c.request("stackTrace", {"threadId": tid, "startFrame": 2, "levels": 3})
        self.assertEqual([f["name"] for f in page2["stackFrames"]], [f["name"] for f in frames[2:5]])
        self.assertEqual([f["line"] for f in page2["stackFrames"]], [f["line"] for f in frames[2:5]])
        ids = [f["id"] for f in page1["stackFrames"] + page2["stackFrames"]]
        self.assertEqual(len(set(ids)), len(ids), "frame ids not unique across pages")
        # a frame id from a later page is usable
        self.assertTrue(c.request("scopes", {"frameId": page2["stackFrames"][0]["id"]})["scopes"])
        c.request("continue", {"threadId": tid})
        get.wait(5)
        self.disconnect_and_exit(c, [svc])

    def test_variables_paging_indexed(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        # a request with 5 values of one header -> r.Header["X-Many"] is a []string of 5
        done = {}

        def many():
            conn = http.client.HTTPConnection(HOST, svc.app_port, timeout=20)
            conn.putrequest("GET", "/many")
            for v in "abcde":
                conn.putheader("X-Many", v)
            conn.endheaders()
            done["body"] = conn.getresponse().read().decode()
            conn.close()
        import threading
        t = threading.Thread(target=many, daemon=True)
        t.start()
        ev = self.wait_stopped(c, 10, "breakpoint")
        tid = ev["body"]["threadId"]
        top = self.top_frames(c, tid, 1)[0]
        res = c.request("evaluate", {"expression": 'r.Header["X-Many"]', "context": "watch",
                                     "frameId": top["id"]})
        ref = res["variablesReference"]
        self.assertGreater(ref, 0, json.dumps(res))
        self.assertEqual(res.get("indexedVariables"), 5, json.dumps(res))
        page = c.request("variables", {"variablesReference": ref, "filter": "indexed",
                                       "start": 1, "count": 2})["variables"]
        self.assertEqual([v["value"] for v in page], ['"b"', '"c"'], json.dumps(page))
        page = c.request("variables", {"variablesReference": ref, "filter": "indexed",
                                       "start": 4, "count": 10})["variables"]
        self.assertEqual([v["value"] for v in page], ['"e"'], json.dumps(page))
        c.request("continue", {"threadId": tid})
        t.join(5)
        self.assertEqual(done.get("body"), "hello /many #1\n")
        self.disconnect_and_exit(c, [svc])

    def test_variables_paging_locals(self):
        """start/count on a named (non-indexed) container: Locals."""
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get, ev = self.stop_at_bp(c, svc, "/locals")
        tid = ev["body"]["threadId"]
        top = self.top_frames(c, tid, 1)[0]
        ref, full = self.locals_of(c, top["id"])
        self.assertGreaterEqual(len(full), 4, [v["name"] for v in full])
        page = c.request("variables", {"variablesReference": ref, "start": 1, "count": 2})["variables"]
        self.assertEqual([v["name"] for v in page], [v["name"] for v in full[1:3]],
                         "variables start=1 count=2 must return children 1..2 of %s"
                         % [v["name"] for v in full])
        beyond = c.request("variables", {"variablesReference": ref, "start": len(full) + 5,
                                         "count": 2})["variables"]
        self.assertEqual(beyond, [], "start beyond the end must give an empty array")
        c.request("continue", {"threadId": tid})
        get.wait(5)
        self.disconnect_and_exit(c, [svc])

    def test_conditional_breakpoint(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line(condition="hits == 3")])
        self.assertTrue(bps["breakpoints"][0]["verified"], json.dumps(bps))
        self.assertEqual(svc.get("/c1", 3), "hello /c1 #1\n")
        self.assertEqual(svc.get("/c2", 3), "hello /c2 #2\n")
        get, ev = self.stop_at_bp(c, svc, "/c3")
        top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
        _, variables = self.locals_of(c, top["id"])
        self.assertEqual(self.var(variables, "msg")["value"], '"hello /c3 #3"')
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(get.wait(5), "hello /c3 #3\n")
        self.assertEqual(len(c.events("stopped")), 1)
        self.disconnect_and_exit(c, [svc])

    def test_hit_condition(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line(hitCondition="2")])
        self.assertTrue(bps["breakpoints"][0]["verified"], json.dumps(bps))
        self.assertEqual(svc.get("/h1", 3), "hello /h1 #1\n")
        get, ev = self.stop_at_bp(c, svc, "/h2")
        top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
        res = c.request("evaluate", {"expression": "msg", "context": "watch", "frameId": top["id"]})
        self.assertEqual(res["result"], '"hello /h2 #2"')
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        get.wait(5)
        self.assertEqual(svc.get("/h3", 3), "hello /h3 #3\n")
        self.disconnect_and_exit(c, [svc])

    def test_logpoint(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line(logMessage="logpoint says {msg}")])
        self.assertEqual(svc.get("/log-1", 3), "hello /log-1 #1\n")
        out = c.wait_event("output", 5, lambda e: "logpoint says" in e["body"]["output"])
        self.assertIn("hello /log-1 #1", out["body"]["output"])
        self.assertFalse(c.has_event("stopped"), "a log point must not stop")
        self.disconnect_and_exit(c, [svc])

    def test_logpoint_literal_braces(self):
        svc = self.go_service()
        c, bps = self.session(svc, breakpoints=[self.bp_line(logMessage="{{lit}} says {msg}")])
        self.assertEqual(svc.get("/brace-1", 3), "hello /brace-1 #1\n")
        out = c.wait_event("output", 5, lambda e: "says" in e["body"]["output"])
        # "{{" and "}}" are literal braces (README), also where delve parses
        # the message itself
        self.assertIn('{lit} says "hello /brace-1 #1"', out["body"]["output"])
        self.disconnect_and_exit(c, [svc])

    def test_function_breakpoint(self):
        svc = self.go_service()
        c, _ = self.session(svc)
        res = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "main.handle"}]})
        self.assertEqual(len(res["breakpoints"]), 1)
        self.assertTrue(res["breakpoints"][0]["verified"], json.dumps(res))
        get = svc.get_async("/fn")
        ev = self.wait_stopped(c, 10, "function breakpoint")
        self.assertIn(res["breakpoints"][0]["id"], ev["body"].get("hitBreakpointIds", []), json.dumps(ev))
        top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
        self.assertEqual(top["name"], "main.handle")
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(get.wait(5), "hello /fn #1\n")
        self.disconnect_and_exit(c, [svc])

    def test_set_variable(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get, ev = self.stop_at_bp(c, svc, "/setvar")
        top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
        ref, _ = self.locals_of(c, top["id"])
        res = c.request("setVariable", {"variablesReference": ref, "name": "hits", "value": "42"})
        self.assertEqual(res["value"], "42")
        res = c.request("evaluate", {"expression": "hits", "context": "repl", "frameId": top["id"]})
        self.assertEqual(res["result"], "42")
        c.request_error("setVariable", {"variablesReference": ref, "name": "hits",
                                        "value": "not a number"})
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        get.wait(5)
        self.disconnect_and_exit(c, [svc])

    def test_stepping(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get, ev = self.stop_at_bp(c, svc, "/step")
        tid = ev["body"]["threadId"]
        old = self.top_frames(c, tid, 1)[0]

        c.request("stepIn", {"threadId": tid})
        ev = self.wait_stopped(c, 10, "step")
        self.assertEqual(ev["body"]["threadId"], tid)
        self.assertEqual(self.top_frames(c, tid, 1)[0]["name"], "fmt.Fprintln")

        c.request("stepOut", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.top_frames(c, tid, 1)[0]["name"], "main.handle")

        c.request("next", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertTrue(self.top_frames(c, tid, 1))
        # the frame id from before the steps is stale now
        c.request_error("scopes", {"frameId": old["id"]})

        c.request("continue", {"threadId": tid})
        self.assertEqual(get.wait(5), "hello /step #1\n")
        self.disconnect_and_exit(c, [svc])

    def test_pause_and_continue(self):
        svc = self.go_service()
        c, _ = self.session(svc)
        threads = c.request("threads")["threads"]
        self.assertTrue(threads)
        c.request("pause", {"threadId": threads[0]["id"]})
        ev = self.wait_stopped(c, 10, "pause")
        self.assertFalse(svc.answers(0.5), "the app answers HTTP while paused")
        tid = ev["body"].get("threadId") or threads[0]["id"]
        c.request("continue", {"threadId": tid})
        self.assertTrue(svc.answers(3), "the app does not answer after continue")
        self.disconnect_and_exit(c, [svc])

    def test_breakpoints_in_unknown_file(self):
        svc = self.go_service()
        c, _ = self.session(svc)
        res = c.request("setBreakpoints", {"source": {"path": "/nonexistent/elsewhere/other.go"},
                                           "breakpoints": [{"line": 3}, {"line": 9}]})
        self.assertEqual(len(res["breakpoints"]), 2, "one entry per requested breakpoint")
        self.assertFalse(any(b["verified"] for b in res["breakpoints"]), json.dumps(res))
        self.assertTrue(svc.answers(2))
        self.disconnect_and_exit(c, [svc])

    def test_stdin_closed_while_stopped(self):
        """The editor dies while the app is stopped: kdap exits within 5 s and (as on
        disconnect) does not leave the app halted."""
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get = svc.get_async("/orphan")
        self.wait_stopped(c, 10, "breakpoint")
        c.close_input()
        rc = c.wait_exit(5)
        self.assertIsNotNone(rc, "kdap did not exit within 5 s of stdin closing")
        self.assertGreaterEqual(rc, 0, "kdap killed by a signal")
        self.assertTrue(svc.answers(2.0), "app left halted after the editor went away")
        self.assertEqual(get.wait(2), "hello /orphan #1\n")

    def test_pipelined_and_large_requests(self):
        """Many requests in flight at once, and large frames both ways."""
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get, ev = self.stop_at_bp(c, svc, "/pipe")
        tid = ev["body"]["threadId"]
        top = self.top_frames(c, tid, 1)[0]
        ref, _ = self.locals_of(c, top["id"])
        seqs = []
        for _ in range(25):
            seqs.append(c.send("threads"))
            seqs.append(c.send("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 5}))
            seqs.append(c.send("scopes", {"frameId": top["id"]}))
            seqs.append(c.send("variables", {"variablesReference": ref}))
            seqs.append(c.send("evaluate", {"expression": "msg", "context": "watch", "frameId": top["id"]}))
        for s in seqs:
            c.expect_response(s, 20, success=True)
        # a ~600 KB request and its response (one log message per line, 300 lines)
        big = "x" * 2000
        bps = [{"line": n, "logMessage": big + " {msg}"} for n in range(1, 301)]
        res = c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": bps}, timeout=30)
        self.assertEqual(len(res["breakpoints"]), 300)
        self.assertEqual([b.get("line") for b in res["breakpoints"]][BP_LINE - 1], BP_LINE)
        c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": []})
        c.request("continue", {"threadId": tid})
        get.wait(5)
        self.disconnect_and_exit(c, [svc])

    def test_source_request(self):
        # kdap reads files under a service's mapped roots (or ones a debugger named)
        svc = self.go_service()
        c = self.start_kdap()
        self.attach(c, go_service_args(svc, localRoot=APP_DIR, remoteRoot=APP_DIR))
        body = c.request("source", {"source": {"path": APP_SRC}, "sourceReference": 0})
        self.assertIn("fmt.Fprintln(w, msg)", body["content"])
        self.disconnect_and_exit(c, [svc])

    def test_disconnect_while_stopped(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()],
                            function_breakpoints=[{"name": "main.handle"}])
        get = svc.get_async("/held")
        self.wait_stopped(c, 10)
        t0 = time.monotonic()
        c.request("disconnect", {"terminateDebuggee": False}, timeout=10)
        self.assertEqual(get.wait(3), "hello /held #1\n", "the held request was not released")
        self.assertTrue(svc.answers(2.0), "app halted after disconnect (breakpoints left behind?)")
        self.assertTrue(svc.answers(2.0))
        self.assertLess(time.monotonic() - t0, 8)
        c.close_input()
        self.assertEqual(c.wait_exit(5), 0, "kdap must exit 0 within 5 s of stdin closing")

    def test_terminate(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        c.request("terminate", {})
        c.wait_event("terminated", 5)
        seq = c.send("disconnect", {})
        c.expect_response(seq, 5)
        c.close_input()
        self.assertIsNotNone(c.wait_exit(5), "kdap did not exit after terminate + stdin closed")

    def test_path_mapping_and_reattach(self):
        """localRoot/remoteRoot, then (same delve, a second kdap) substitutePath."""
        svc = self.go_service()
        local = tempfile.mkdtemp(prefix="kdap-local-")
        self.addCleanup(shutil.rmtree, local, True)
        shutil.copy(APP_SRC, local)
        local_src = os.path.join(local, "main.go")
        variants = [
            {"localRoot": local, "remoteRoot": APP_DIR},
            {"substitutePath": [{"from": local, "to": APP_DIR}]},
            # remoteRoot inferred from the sources the binary recorded
            {"localRoot": local},
        ]
        for i, mapping in enumerate(variants, 1):
            c = self.start_kdap()
            bps = self.attach(c, go_service_args(svc, "mapped", **mapping),
                              breakpoints=[self.bp_line()], source_path=local_src)
            self.assertTrue(bps["breakpoints"][0]["verified"], "%s: %s" % (mapping, json.dumps(bps)))
            get = svc.get_async("/map%d" % i)
            ev = self.wait_stopped(c, 10, "breakpoint")
            top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
            self.assertEqual(top["source"]["path"], local_src, "frame path not mapped back: %s" % mapping)
            c.request("continue", {"threadId": ev["body"]["threadId"]})
            self.assertTrue(get.wait(5).startswith("hello /map%d #" % i))
            if "remoteRoot" not in mapping and "substitutePath" not in mapping:
                said = [e["body"]["output"] for e in c.events("output")]
                self.assertTrue(any("inferred" in o and APP_DIR in o for o in said), said)
            self.disconnect_and_exit(c, [svc])

    def test_remote_root_not_inferable(self):
        """localRoot with no file the binary knows: attach works, and kdap says how to fix the mapping."""
        svc = self.go_service()
        local = tempfile.mkdtemp(prefix="kdap-elsewhere-")
        self.addCleanup(shutil.rmtree, local, True)
        with open(os.path.join(local, "other.go"), "w") as f:
            f.write("package other\n")
        c = self.start_kdap()
        self.attach(c, go_service_args(svc, "unmapped", localRoot=local))
        said = [e["body"] for e in c.events("output")]
        self.assertTrue(any("remoteRoot" in b["output"] and b.get("category") == "important"
                            for b in said), said)
        self.disconnect_and_exit(c, [svc])


class TestTwoServices(E2ECase):

    def test_two_services(self):
        a, b = self.go_service("a"), self.go_service("b")
        c = self.start_kdap()
        bps = self.attach(c, {"services": [go_service_args(a, "alpha"), go_service_args(b, "beta")]},
                          breakpoints=[self.bp_line()])
        self.assertTrue(bps["breakpoints"][0]["verified"], json.dumps(bps))

        threads = c.request("threads")["threads"]
        names = [t["name"] for t in threads]
        self.assertTrue(any(n.startswith("alpha: ") for n in names), names)
        self.assertTrue(any(n.startswith("beta: ") for n in names), names)
        self.assertTrue(all(n.startswith(("alpha: ", "beta: ")) for n in names), names)
        self.assertEqual(len({t["id"] for t in threads}), len(threads), "thread ids collide")

        # a stop in alpha: beta keeps running
        get_a = a.get_async("/from-a")
        ev_a = self.wait_stopped(c, 10, "breakpoint")
        bp_id = bps["breakpoints"][0]["id"]
        self.assertIn(bp_id, ev_a["body"].get("hitBreakpointIds", []), json.dumps(ev_a))
        self.assertIs(ev_a["body"].get("allThreadsStopped"), False,
                      "with one of two services stopped allThreadsStopped must be false: %s"
                      % json.dumps(ev_a))
        tid_a = ev_a["body"]["threadId"]
        by_id = {t["id"]: t["name"] for t in c.request("threads")["threads"]}
        self.assertTrue(by_id.get(tid_a, "").startswith("alpha: "), (tid_a, by_id))
        # then a stop in beta too (same file, same breakpoint); beta hitting it at all
        # shows it was not halted by alpha's stop
        get_b = b.get_async("/from-b")
        ev_b = self.wait_stopped(c, 10, "breakpoint")
        tid_b = ev_b["body"]["threadId"]
        self.assertIn(bp_id, ev_b["body"].get("hitBreakpointIds", []), json.dumps(ev_b))
        self.assertNotEqual(tid_a, tid_b)
        by_id = {t["id"]: t["name"] for t in c.request("threads")["threads"]}
        self.assertTrue(by_id.get(tid_b, "").startswith("beta: "), (tid_b, by_id))

        fa = self.top_frames(c, tid_a)
        fb = self.top_frames(c, tid_b)
        self.assertFalse({f["id"] for f in fa} & {f["id"] for f in fb},
                         "frame ids of the two services collide")
        ref_a, va = self.locals_of(c, fa[0]["id"])
        ref_b, vb = self.locals_of(c, fb[0]["id"])
        self.assertNotEqual(ref_a, ref_b)
        self.assertEqual(self.var(va, "msg")["value"], '"hello /from-a #1"')
        self.assertEqual(self.var(vb, "msg")["value"], '"hello /from-b #1"')
        for fid, want in ((fa[0]["id"], '"hello /from-a #1"'), (fb[0]["id"], '"hello /from-b #1"')):
            res = c.request("evaluate", {"expression": "msg", "context": "watch", "frameId": fid})
            self.assertEqual(res["result"], want)

        # resuming alpha leaves beta stopped, and beta's references valid
        body = c.request("continue", {"threadId": tid_a})
        self.assertIs(body.get("allThreadsContinued"), False, json.dumps(body))
        self.assertEqual(get_a.wait(5), "hello /from-a #1\n")
        self.assertFalse(get_b.done.is_set(), "beta resumed by continuing alpha")
        self.assertTrue(c.request("variables", {"variablesReference": ref_b})["variables"])
        c.request_error("variables", {"variablesReference": ref_a})
        c.request("continue", {"threadId": tid_b})
        self.assertEqual(get_b.wait(5), "hello /from-b #1\n")

        # pause one service only: the other keeps serving
        c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": []})
        beta_tid = next(t["id"] for t in c.request("threads")["threads"] if t["name"].startswith("beta: "))
        c.request("pause", {"threadId": beta_tid})
        ev = self.wait_stopped(c, 10, "pause")
        self.assertIs(ev["body"].get("allThreadsStopped"), False, json.dumps(ev))
        by_id = {t["id"]: t["name"] for t in c.request("threads")["threads"]}
        self.assertTrue(by_id.get(ev["body"].get("threadId"), "").startswith("beta: "), (ev, by_id))
        self.assertTrue(a.answers(2.0), "alpha halted by pausing beta")
        self.assertFalse(b.answers(0.5), "beta answers while paused")
        # disconnect with beta paused: kdap resumes it
        self.disconnect_and_exit(c, [a, b])


    def test_breakpoints_routed_by_path_mapping(self):
        """Each service has its own localRoot: a breakpoint in alpha's copy of main.go
        must stop alpha only, and alpha's frames show alpha's local path."""
        a, b = self.go_service("a"), self.go_service("b")
        roots = {}
        for n in ("alpha", "beta"):
            d = tempfile.mkdtemp(prefix="kdap-%s-" % n)
            self.addCleanup(shutil.rmtree, d, True)
            shutil.copy(APP_SRC, d)
            roots[n] = d
        c = self.start_kdap()
        bps = self.attach(c, {"services": [
            go_service_args(a, "alpha", localRoot=roots["alpha"], remoteRoot=APP_DIR),
            go_service_args(b, "beta", localRoot=roots["beta"], remoteRoot=APP_DIR)]},
            breakpoints=[self.bp_line()], source_path=os.path.join(roots["alpha"], "main.go"))
        self.assertTrue(bps["breakpoints"][0]["verified"], json.dumps(bps))
        self.assertEqual(b.get("/not-here", 3), "hello /not-here #1\n")   # beta: no breakpoint
        get = a.get_async("/here")
        ev = self.wait_stopped(c, 10, "breakpoint")
        top = self.top_frames(c, ev["body"]["threadId"], 1)[0]
        self.assertEqual(top["source"]["path"], os.path.join(roots["alpha"], "main.go"))
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(get.wait(5), "hello /here #1\n")
        self.disconnect_and_exit(c, [a, b])


if __name__ == "__main__":
    unittest.main()
