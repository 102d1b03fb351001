"""kdap end to end over stdio against real Node 20 inspectors (runtime "node").

The demo services (tests/apps/node-js-demo, node-ts-demo) run under
`node --inspect=127.0.0.1:0` or are activated with SIGUSR1; kdap attaches with
`"runtime": "node", "connect": "127.0.0.1:PORT"` and speaks CDP to them.  Every
message kdap sends is validated against the DAP schema (dapclient.py).
Run: /usr/bin/python3 -m unittest -v test_node   (from tests/e2e, KDAP_BIN set)
"""

import json
import os
import time
import unittest

from e2ecase import E2ECase
from godbg import HOST, free_port
from nodedbg import JS_SRC, TS_SRC, NodeService, marker_line

JS_DIR = os.path.dirname(JS_SRC)
LAZY_SRC = os.path.join(JS_DIR, "lazy.js")
BP_HANDLE = marker_line(JS_SRC, "BP_HANDLE")
BP_LOG = marker_line(JS_SRC, "BP_LOG")
BP_DECORATE = marker_line(JS_SRC, "BP_DECORATE")
BP_HEADER = marker_line(JS_SRC, "BP_HEADER")
LAZY_BP = marker_line(LAZY_SRC, "LAZY_BP")
TS_GREET = marker_line(TS_SRC, "TS_BP_GREET")
TS_HANDLE = marker_line(TS_SRC, "TS_BP_HANDLE")


class NodeCase(E2ECase):
    # Where the demo sources are as the debuggee sees them: here, the same
    # paths; test_node_cluster.py runs these scenarios in a pod (under /app).
    REMOTE_JS_DIR = JS_DIR
    REMOTE_TS_SRC_DIR = os.path.dirname(TS_SRC)

    def node(self, app="js", mode="inspect", name="node"):
        return NodeService(self.group, app, mode, name)

    def node_session(self, svc, breakpoints=None, source=JS_SRC, **extra):
        c = self.start_kdap()
        args = {"runtime": "node", "connect": svc.connect, "name": "web"}
        args.update(extra)
        bps = self.attach(c, args, breakpoints=breakpoints, source_path=source)
        return c, bps

    def stop(self, c, svc, path, reason="breakpoint", timeout=10):
        get = svc.get_async(path)
        ev = self.wait_stopped(c, timeout, reason)
        self.assertEqual(ev["body"]["threadId"], 1)
        return get, ev

    def frames(self, c):
        return self.top_frames(c, 1, 50)

    def scope(self, c, frame_id, prefix):
        scopes = c.request("scopes", {"frameId": frame_id})["scopes"]
        for s in scopes:
            if s["name"].startswith(prefix):
                return s
        self.fail("no %s scope in %s" % (prefix, scopes))

    def vars(self, c, ref, **kw):
        args = {"variablesReference": ref}
        args.update(kw)
        return c.request("variables", args)["variables"]

    def evaluate(self, c, expr, frame_id=None, context="repl"):
        args = {"expression": expr, "context": context}
        if frame_id is not None:
            args["frameId"] = frame_id
        return c.request("evaluate", args)

    def cont(self, c):
        c.request("continue", {"threadId": 1})


class TestNodeJS(NodeCase):

    def test_breakpoint_stack_scopes_variables_evaluate_set_steps_disconnect(self):
        svc = self.node()
        c, bps = self.node_session(svc, [{"line": BP_HANDLE}])
        bp = bps["breakpoints"][0]
        self.assertTrue(bp["verified"], json.dumps(bp))
        self.assertEqual(bp["line"], BP_HANDLE)

        get, ev = self.stop(c, svc, "/a")
        self.assertIn(bp["id"], ev["body"].get("hitBreakpointIds", []))
        threads = c.request("threads")["threads"]
        self.assertEqual(len(threads), 1)
        self.assertIn("app.js", threads[0]["name"])

        frames = self.frames(c)
        top = frames[0]
        self.assertEqual(top["name"], "handle")
        self.assertEqual(top["line"], BP_HANDLE)
        self.assertEqual(top["source"]["path"], JS_SRC)
        internal = [f for f in frames if f.get("source", {}).get("sourceReference")]
        self.assertTrue(internal, "node internals should be shown by sourceReference")
        src = c.request("source", {"source": internal[0]["source"],
                                   "sourceReference": internal[0]["source"]["sourceReference"]})
        self.assertGreater(len(src["content"]), 50)

        scopes = c.request("scopes", {"frameId": top["id"]})["scopes"]
        names = [s["name"] for s in scopes]
        self.assertTrue(names[0].startswith("Local"), names)
        self.assertFalse(scopes[0]["expensive"])
        glob = [s for s in scopes if s["name"] == "Global"]
        self.assertTrue(glob and glob[0]["expensive"], scopes)

        local = self.vars(c, scopes[0]["variablesReference"])
        self.assertEqual(self.var(local, "this")["type"], "Server")
        self.assertEqual(self.var(local, "hits")["value"], "1")
        self.assertEqual(self.var(local, "msg")["value"], "'hello /a #1'")
        self.assertEqual(self.var(local, "msg")["type"], "string")
        acct = self.var(local, "acct")
        self.assertEqual(acct["type"], "Account")
        self.assertGreater(acct["variablesReference"], 0)
        props = self.vars(c, acct["variablesReference"])
        self.assertEqual(self.var(props, "owner")["value"], "'ann'")
        self.assertEqual(self.var(props, "balance")["value"], "10")
        # a class getter (on the prototype) is listed on the object, not invoked
        doubled = self.var(props, "doubled")
        self.assertEqual(doubled["value"], "(...)")
        self.assertTrue(doubled.get("presentationHint", {}).get("lazy"), doubled)
        got = self.vars(c, doubled["variablesReference"])
        self.assertEqual(got[0]["value"], "20")
        # arrays: paging through indexedVariables
        big = self.var(local, "big")
        self.assertEqual(big.get("indexedVariables"), 250)
        page = self.vars(c, big["variablesReference"], filter="indexed", start=100, count=10)
        self.assertEqual([v["name"] for v in page], [str(i) for i in range(100, 110)])
        self.assertEqual(page[0]["value"], "200")
        lst = self.vars(c, self.var(local, "list")["variablesReference"])
        self.assertEqual(self.var(lst, "1")["value"], "'two'")
        # Map entries through [[Entries]]
        closure = self.scope(c, top["id"], "Closure")
        stats = self.var(self.vars(c, closure["variablesReference"]), "stats")
        paths = self.var(self.vars(c, stats["variablesReference"]), "paths")
        self.assertIn("Map", paths["value"])
        entries = self.var(self.vars(c, paths["variablesReference"]), "[[Entries]]")
        ents = [v for v in self.vars(c, entries["variablesReference"]) if v["name"].isdigit()]
        self.assertEqual(len(ents), 1)
        ent = self.vars(c, ents[0]["variablesReference"])
        self.assertEqual(self.var(ent, "key")["value"], "'/a'")

        # evaluate: repl, hover, watch, errors
        self.assertEqual(self.evaluate(c, "hits + 41", top["id"])["result"], "42")
        self.assertEqual(self.evaluate(c, "acct.owner", top["id"], "hover")["result"], "'ann'")
        w = self.evaluate(c, "acct", top["id"], "watch")
        self.assertGreater(w["variablesReference"], 0)
        err = c.request_error("evaluate", {"expression": "nosuchname.x", "frameId": top["id"],
                                           "context": "repl"})
        self.assertIn("nosuchname", err.get("message", ""))

        # setVariable: a local (scope) and an object property
        r = c.request("setVariable", {"variablesReference": scopes[0]["variablesReference"],
                                      "name": "hits", "value": "5"})
        self.assertEqual(r["value"], "5")
        self.assertEqual(self.evaluate(c, "hits", top["id"])["result"], "5")
        r = c.request("setVariable", {"variablesReference": acct["variablesReference"],
                                      "name": "balance", "value": "90 + 9"})
        self.assertEqual(r["value"], "99")
        self.assertEqual(self.evaluate(c, "acct.balance", top["id"])["result"], "99")

        # steps: into decorate, out again, over
        c.request("stepIn", {"threadId": 1})
        self.wait_stopped(c, 10, "step")
        f = self.frames(c)
        self.assertEqual(f[0]["name"], "decorate")
        c.request("stepOut", {"threadId": 1})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.frames(c)[0]["name"], "handle")
        c.request("next", {"threadId": 1})
        self.wait_stopped(c, 10, "step")
        self.assertGreater(self.frames(c)[0]["line"], BP_HANDLE)
        self.cont(c)
        self.assertTrue(get.wait(10).startswith("hello /a #1 (ann, 3, 250)"))

        # console output of the app arrives as an output event
        out = c.wait_event("output", 5, pred=lambda m: "request /a #1" in m["body"]["output"])
        self.assertEqual(out["body"]["category"], "stdout")

        # evaluate while running (Runtime.evaluate)
        self.assertEqual(self.evaluate(c, "1 + 2")["result"], "3")
        self.assertEqual(self.evaluate(c, "globalThis.demoHandle.name")["result"], "'handle'")

        srcs = c.request("loadedSources")["sources"]
        self.assertIn(JS_SRC, [s.get("path") for s in srcs])
        self.assertTrue([s for s in srcs if s.get("sourceReference")], "internals listed")

        # stopped again, then disconnect while stopped: the app must go on
        get, ev = self.stop(c, svc, "/b")
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /b"))
        self.assertTrue(svc.alive())

    def test_conditions_hit_counts_log_points(self):
        svc = self.node()
        c, bps = self.node_session(svc, [{"line": BP_HANDLE, "hitCondition": "2"},
                                         {"line": BP_LOG, "logMessage": "log {req.url} n={hits} {{ok}}"}])
        self.assertTrue(all(b["verified"] for b in bps["breakpoints"]), bps)
        r = c.request("setBreakpoints", {"source": {"path": JS_SRC},
                                         "breakpoints": [{"line": BP_DECORATE,
                                                          "condition": "text.includes('/c')"}]})
        # one source, one setBreakpoints: the previous two are gone now
        self.assertTrue(r["breakpoints"][0]["verified"])
        r = c.request("setBreakpoints", {"source": {"path": JS_SRC},
                                         "breakpoints": [
                                             {"line": BP_HANDLE, "hitCondition": "2"},
                                             {"line": BP_LOG, "logMessage": "log {req.url} n={hits} {{ok}}"},
                                             {"line": BP_DECORATE, "condition": "text.includes('/c')"},
                                             {"line": BP_HEADER, "logMessage": "hdr {hits}",
                                              "hitCondition": "%2"}]})
        ids = [b["id"] for b in r["breakpoints"]]
        self.assertEqual(len(set(ids)), 4)
        # hit 1 of BP_HANDLE: no stop; decorate condition false: no stop
        self.assertTrue(svc.get("/a1", 5).startswith("hello /a1"))
        out = c.wait_event("output", 5, pred=lambda m: "log /a1 n=1" in m["body"]["output"])
        # "{{" and "}}" are literal braces (README)
        self.assertIn("log /a1 n=1 {ok}", out["body"]["output"])
        self.assertEqual(out["body"]["category"], "console")
        # hit 2: stops at BP_HANDLE, then at BP_DECORATE (condition true)
        get, ev = self.stop(c, svc, "/c")
        self.assertIn(ids[0], ev["body"]["hitBreakpointIds"])
        self.assertEqual(self.frames(c)[0]["line"], BP_HANDLE)
        n_stops = len(c.events("stopped"))
        self.cont(c)
        c.wait_event("stopped", 10, pred=lambda m: len(c.events("stopped")) > n_stops)
        self.assertEqual(self.frames(c)[0]["line"], BP_DECORATE)
        self.cont(c)
        self.assertTrue(get.wait(10).startswith("hello /c"))
        # hit 3 of BP_HANDLE: no stop there; decorate stops
        n_stops = len(c.events("stopped"))
        get = svc.get_async("/c3")
        c.wait_event("stopped", 10, pred=lambda m: len(c.events("stopped")) > n_stops)
        self.assertEqual(self.frames(c)[0]["line"], BP_DECORATE)
        self.cont(c)
        get.wait(10)
        # the counted log point logged on its 2nd hit only (hits 1 and 3 silent)
        out = c.wait_event("output", 5, pred=lambda m: m["body"]["output"].startswith("hdr "))
        self.assertEqual(out["body"]["output"], "hdr 2\n")
        self.assertEqual(out["body"]["category"], "console")
        self.assertFalse([m for m in c.events("output")
                          if m["body"]["output"] in ("hdr 1\n", "hdr 3\n")])
        self.disconnect_and_exit(c, [svc])

    def test_backend_errors_keep_their_ids(self):
        # What the backend knew reaches the editor as distinct error ids
        # (dap/err.h): not stopped, the debugger's own refusal, stale, not
        # supported.
        svc = self.node()
        c, _ = self.node_session(svc, [{"line": BP_HANDLE}])
        tid = c.request("threads")["threads"][0]["id"]
        err = c.request_error("stackTrace", {"threadId": tid})
        self.assertEqual(err["body"]["error"]["id"], 1012, err)
        self.assertEqual(err["message"], "notStopped")
        get, _ = self.stop(c, svc, "/e")
        top = self.frames(c)[0]
        scopes = c.request("scopes", {"frameId": top["id"]})["scopes"]
        err = c.request_error("evaluate", {"expression": "nosuchname.x", "frameId": top["id"],
                                           "context": "repl"})
        self.assertEqual(err["body"]["error"]["id"], 1009, err)
        self.assertIn("nosuchname", err["body"]["error"]["format"])
        err = c.request_error("exceptionInfo", {"threadId": tid})
        self.assertEqual(err["body"]["error"]["id"], 1005, err)
        err = c.request_error("readMemory", {"memoryReference": "0x10", "count": 4})
        self.assertEqual(err["body"]["error"]["id"], 1002, err)
        self.cont(c)
        self.assertTrue(get.wait(10).startswith("hello /e"))
        get, _ = self.stop(c, svc, "/f")
        err = c.request_error("variables", {"variablesReference": scopes[0]["variablesReference"]})
        self.assertEqual(err["body"]["error"]["id"], 1006, err)
        self.cont(c)
        get.wait(10)
        self.disconnect_and_exit(c, [svc])

    def test_breakpoint_before_the_script_loads(self):
        svc = self.node()
        c, _ = self.node_session(svc)
        r = c.request("setBreakpoints", {"source": {"path": LAZY_SRC},
                                         "breakpoints": [{"line": LAZY_BP}]})
        bp = r["breakpoints"][0]
        self.assertFalse(bp["verified"], bp)
        get = svc.get_async("/lazy")
        ev = c.wait_event("breakpoint", 10,
                          pred=lambda m: m["body"]["breakpoint"]["id"] == bp["id"]
                          and m["body"]["breakpoint"]["verified"])
        self.assertEqual(ev["body"]["breakpoint"]["line"], LAZY_BP)
        self.wait_stopped(c, 10, "breakpoint")
        top = self.frames(c)[0]
        self.assertEqual(top["source"]["path"], LAZY_SRC)
        self.assertEqual(top["name"], "lazyGreeting")
        self.assertEqual(self.evaluate(c, "upper", top["id"])["result"], "'HELLO /LAZY #1'")
        self.cont(c)
        self.assertIn("(lazy)", get.wait(10))
        self.disconnect_and_exit(c, [svc])

    def test_exceptions_all_uncaught_and_output(self):
        svc = self.node()
        c, _ = self.node_session(svc)
        filters = [f["filter"] for f in self.caps["exceptionBreakpointFilters"]]
        self.assertIn("node:all", filters)
        self.assertIn("node:uncaught", filters)
        c.request("setExceptionBreakpoints", {"filters": ["node:all"]})
        get, ev = self.stop(c, svc, "/throw", reason="exception")
        self.assertIn("caught boom", ev["body"].get("text", ""))
        info = c.request("exceptionInfo", {"threadId": 1})
        self.assertEqual(info["breakMode"], "always")
        self.assertIn("Error: caught boom", info["description"])
        self.assertEqual(info["exceptionId"], "Error")
        self.cont(c)
        self.assertIn("caught caught boom", get.wait(10))

        c.request("setExceptionBreakpoints", {"filters": ["node:uncaught"]})
        self.assertIn("caught caught boom", svc.get("/throw", 5))   # caught: no stop
        get, ev = self.stop(c, svc, "/uncaught", reason="exception")
        self.assertIn("unhandled boom", ev["body"].get("text", ""))
        self.assertEqual(c.request("exceptionInfo", {"threadId": 1})["breakMode"], "unhandled")
        self.cont(c)
        get.wait(10)

        c.request("setExceptionBreakpoints", {"filters": []})
        svc.get("/crash", 5)
        # the app's own handler reports it on stderr (an output event too)
        c.wait_event("output", 5, pred=lambda m: "uncaught exception: crash boom"
                     in m["body"]["output"] and m["body"]["category"] == "stderr")
        # really uncaught: Runtime.exceptionThrown as stderr output, then the
        # process exits and the session says so
        svc.get("/die", 5)
        out = c.wait_event("output", 5, pred=lambda m: "RangeError: fatal boom"
                           in m["body"]["output"])
        self.assertEqual(out["body"]["category"], "stderr")
        self.assertIn("Uncaught", out["body"]["output"])
        c.wait_event("terminated", 10)
        c.request("disconnect", {})
        c.close_input()
        self.assertEqual(c.wait_exit(5), 0)

    def test_function_breakpoint_and_pause(self):
        svc = self.node()
        c, _ = self.node_session(svc)
        r = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "demoHandle"},
                                                                 {"name": "noSuchFunction"}]})
        self.assertTrue(r["breakpoints"][0]["verified"], r)
        self.assertFalse(r["breakpoints"][1]["verified"], r)
        self.assertIn("noSuchFunction", r["breakpoints"][1].get("message", ""))
        get, ev = self.stop(c, svc, "/f", reason="function breakpoint")
        self.assertEqual(self.frames(c)[0]["name"], "handle")
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        self.cont(c)
        get.wait(10)
        # pause while idle: takes effect when JavaScript runs next
        c.request("pause", {"threadId": 1})
        get = svc.get_async("/p")
        self.wait_stopped(c, 10, "pause")
        self.cont(c)
        get.wait(10)
        self.disconnect_and_exit(c, [svc])

    def test_lone_surrogate_and_deadline(self):
        """A string with a lone UTF-16 surrogate (V8 sends "\\ud800", which jansson
        refuses) reaches the editor with U+FFFD; an inspector that does not answer
        within requestTimeout fails the request, and the late answer is dropped."""
        svc = self.node()
        c, _ = self.node_session(svc, [{"line": BP_HANDLE}], requestTimeout=2)
        # while running (Runtime.evaluate) and as a property (getProperties)
        self.assertEqual(self.evaluate(c, "'x\\ud800y' + 'z\\udc00'")["result"],
                         "'x\ufffdyz\ufffd'")
        w = self.evaluate(c, "({s: 'a\\ud83d', pair: '\\ud83d\\ude00'})", context="watch")
        props = self.vars(c, w["variablesReference"])
        self.assertEqual(self.var(props, "s")["value"], "'a\ufffd'")
        self.assertEqual(self.var(props, "pair")["value"], "'\U0001f600'")
        # paused: a local holding one
        get, _ = self.stop(c, svc, "/s")
        top = self.frames(c)[0]
        r = self.evaluate(c, "msg.slice(0, 7) + '\\udfff'", top["id"], "watch")
        self.assertEqual(r["result"], "'hello /\ufffd'")
        self.cont(c)
        get.wait(10)
        c.request("setBreakpoints", {"source": {"path": JS_SRC}, "breakpoints": []})
        # the program busy for 3 s: the request fails after 2 s, the next one
        # gets its own answer once the program is free again
        t0 = time.monotonic()
        e = c.request_error("evaluate", {"expression": "(() => { const t = Date.now() + 3000; "
                                         "while (Date.now() < t); return 1; })()",
                                         "context": "repl"}, timeout=10)
        self.assertIn("did not answer Runtime.evaluate within 2 s", e["message"])
        self.assertEqual(e["body"]["error"]["id"], 1008, e)
        self.assertLess(time.monotonic() - t0, 2.9)
        self.assertEqual(self.evaluate(c, "6 * 7")["result"], "42")
        self.disconnect_and_exit(c, [svc])

    def test_sigusr1_attach_twice(self):
        svc = self.node(mode="sigusr1")
        for round_ in range(2):
            c, bps = self.node_session(svc, [{"line": BP_HANDLE}])
            self.assertTrue(bps["breakpoints"][0]["verified"])
            get, _ = self.stop(c, svc, "/r%d" % round_)
            self.disconnect_and_exit(c, [svc])
            get.wait(5)
        self.assertTrue(svc.alive())

    def test_inspect_brk_stops_on_entry(self):
        svc = self.node(mode="brk")
        c, bps = self.node_session(svc, [{"line": BP_HANDLE}])
        # runIfWaitingForDebugger went out with configurationDone: node breaks on start
        self.wait_stopped(c, 10, "entry")
        top = self.frames(c)[0]
        self.assertEqual(top["source"]["path"], JS_SRC)
        self.cont(c)
        svc.wait_app()
        get, ev = self.stop(c, svc, "/brk")
        self.assertEqual(self.frames(c)[0]["line"], BP_HANDLE)
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(get.wait(5).startswith("hello /brk"))

    def test_same_line_twice_is_explained(self):
        svc = self.node()
        c, bps = self.node_session(svc, [{"line": BP_DECORATE}, {"line": BP_DECORATE,
                                                                 "condition": "true"}])
        first, second = bps["breakpoints"]
        self.assertTrue(first["verified"])
        self.assertFalse(second["verified"])
        self.assertIn("already exists", second.get("message", ""))
        self.disconnect_and_exit(c, [svc])

    def test_local_and_remote_roots(self):
        # the editor's copy of the sources lives elsewhere: kdap maps the paths
        svc = self.node()
        local_root = "/editor/workspace/web"
        local_src = os.path.join(local_root, "app.js")
        c, bps = self.node_session(svc, [{"line": BP_HANDLE}], source=local_src,
                                   localRoot=local_root, remoteRoot=self.REMOTE_JS_DIR)
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        get, _ = self.stop(c, svc, "/roots")
        self.assertEqual(self.frames(c)[0]["source"]["path"], local_src)
        self.disconnect_and_exit(c, [svc])
        get.wait(5)

    def test_no_inspector_there(self):
        c = self.start_kdap()
        c.initialize()
        port = free_port()
        err = c.request_error("attach", {"runtime": "node", "connect": "%s:%d" % (HOST, port)},
                              timeout=15)
        self.assertIn("no Node inspector", err.get("message", ""))
        c.close_input()
        self.assertIsNotNone(c.wait_exit(5))


class TestNodeTypeScript(NodeCase):

    def test_source_mapped_breakpoints_and_frames(self):
        svc = self.node(app="ts")
        c, bps = self.node_session(svc, [{"line": TS_GREET}], source=TS_SRC)
        bp = bps["breakpoints"][0]
        self.assertTrue(bp["verified"], bp)
        self.assertEqual(bp["line"], TS_GREET)
        self.assertEqual(bp["source"]["path"], TS_SRC)
        get, ev = self.stop(c, svc, "/t")
        frames = self.frames(c)
        self.assertEqual(frames[0]["name"], "greet")
        self.assertEqual(frames[0]["source"]["path"], TS_SRC)
        self.assertEqual(frames[0]["line"], TS_GREET)
        self.assertEqual(frames[1]["name"], "handle")
        self.assertEqual(frames[1]["source"]["path"], TS_SRC)
        local = self.vars(c, self.scope(c, frames[0]["id"], "Local")["variablesReference"])
        self.assertEqual(self.var(local, "who")["value"], "'/t'")
        self.assertEqual(self.evaluate(c, "g.count", frames[0]["id"])["result"], "1")
        # a second breakpoint in the .ts file while running
        self.cont(c)
        get.wait(10)
        r = c.request("setBreakpoints", {"source": {"path": TS_SRC},
                                         "breakpoints": [{"line": TS_HANDLE}]})
        self.assertTrue(r["breakpoints"][0]["verified"], r)
        self.assertEqual(r["breakpoints"][0]["line"], TS_HANDLE)
        get, _ = self.stop(c, svc, "/u")
        self.assertEqual(self.frames(c)[0]["line"], TS_HANDLE)
        self.disconnect_and_exit(c, [svc])
        self.assertEqual(get.wait(5), "hi /u #2\n")


class TestNodeSourceMapOverrides(NodeCase):

    def test_source_map_path_overrides(self):
        svc = self.node(app="ts")
        remote = "/remote/ts-demo/app.ts"
        c, bps = self.node_session(
            svc, [{"line": TS_GREET}], source=remote,
            sourceMapPathOverrides={self.REMOTE_TS_SRC_DIR + "/*": "/remote/ts-demo/*"})
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        get, _ = self.stop(c, svc, "/o")
        top = self.frames(c)[0]
        self.assertEqual(top["source"]["path"], remote)
        self.assertEqual(top["line"], TS_GREET)
        self.disconnect_and_exit(c, [svc])
        get.wait(5)


if __name__ == "__main__":
    unittest.main()
