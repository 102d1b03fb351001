"""kdap end to end over stdio against Debian's debugpy (runtime "python").

tests/apps/py-hello runs under `python3 -m debugpy --listen 127.0.0.1:PORT`; kdap
attaches with `"runtime": "python", "connect": "127.0.0.1:PORT"`.  Every message
kdap sends is validated against the DAP schema (dapclient.py).
Run: /usr/bin/python3 -m unittest -v test_python   (from tests/e2e, KDAP_BIN set)
"""

import json
import os
import time
import unittest

from e2ecase import APP_DIR, APP_SRC, BP_LINE, E2ECase, go_service_args
from godbg import HOST, free_port, log_file
from pydbg import (PY_BOOM, PY_CALL, PY_DECORATE, PY_HANDLE, PY_RETURN, PY_SRC, PyService,
                   listening)


class PyCase(E2ECase):

    def py(self, name="py"):
        return PyService(self.group, name)

    def py_session(self, svc, breakpoints=None, **extra):
        c = self.start_kdap()
        args = {"runtime": "python", "connect": svc.connect, "name": "shop"}
        args.update(extra)
        bps = self.attach(c, args, breakpoints=breakpoints, source_path=PY_SRC)
        return c, bps

    def stop(self, c, svc, path, reason="breakpoint", timeout=15):
        get = svc.get_async(path)
        ev = self.wait_stopped(c, timeout, reason)
        return get, ev

    def vars(self, c, ref, **kw):
        args = {"variablesReference": ref}
        args.update(kw)
        return c.request("variables", args)["variables"]

    def locals_at(self, c, thread_id):
        top = self.top_frames(c, thread_id)[0]
        scopes = c.request("scopes", {"frameId": top["id"]})["scopes"]
        self.assertEqual(scopes[0]["name"], "Locals", scopes)
        return top, scopes[0]["variablesReference"], self.vars(c, scopes[0]["variablesReference"])

    def cont(self, c, tid):
        c.request("continue", {"threadId": tid})

    def assert_detached(self, c, svc):
        """disconnect: kdap exits 0, the program answers and runs with no breakpoint
        left; `--listen` takes the next client, so a second session attaches."""
        self.disconnect_and_exit(c, [svc])
        self.assertTrue(svc.alive(), "the program ended with the session")
        self.assertTrue(listening(svc.debug_port), "debugpy --listen stopped listening")
        self.assertIn("hello /after", svc.get("/after", 5), "a breakpoint outlived the session")
        c2, _ = self.py_session(svc)
        self.assertEqual(len(c2.request("threads")["threads"]) > 0, True)
        self.disconnect_and_exit(c2, [svc])


class TestPython(PyCase):

    def test_breakpoint_variables_paging_evaluate_set_steps_disconnect(self):
        svc = self.py()
        c, bps = self.py_session(svc, [{"line": PY_HANDLE}])
        bp = bps["breakpoints"][0]
        self.assertTrue(bp["verified"], json.dumps(bp))
        self.assertEqual(bp["line"], PY_HANDLE)

        get, ev = self.stop(c, svc, "/a")
        tid = ev["body"]["threadId"]
        self.assertIn(tid, [t["id"] for t in c.request("threads")["threads"]])
        top, ref, local = self.locals_at(c, tid)
        # debugpy's own answers wait for a 40 ms delayed ACK until kdap sets TCP_NODELAY
        # on its socket in the program (at this first stop): no request may take that
        times = []
        for _ in range(7):
            t0 = time.monotonic()
            self.top_frames(c, tid)
            times.append(time.monotonic() - t0)
        self.assertLess(sorted(times)[3], 0.035, "stackTrace still waits for delayed ACKs: %s"
                        % ["%.1f ms" % (t * 1000) for t in times])
        self.assertEqual(top["name"], "handle")
        self.assertEqual(top["line"], PY_HANDLE)
        self.assertEqual(top["source"]["path"], PY_SRC)
        self.assertEqual(self.var(local, "path")["value"], "'/a'")
        self.assertEqual(self.var(local, "hits")["value"], "1")
        acct = self.var(local, "acct")
        self.assertEqual(acct["type"], "Account")
        owner = self.var(self.vars(c, acct["variablesReference"]), "owner")
        self.assertEqual(owner["value"], "'ann'")
        # a list of 250: debugpy pages it as the first 100 and a range of the rest
        items = self.var(local, "items")
        self.assertEqual(items["type"], "list")
        children = self.vars(c, items["variablesReference"])
        indexed = [v["value"] for v in children if v["name"].isdigit()]
        self.assertEqual(indexed, [str(i) for i in range(100)])
        rest = self.var(children, "more")
        page = self.vars(c, rest["variablesReference"])
        self.assertEqual([v["value"] for v in page[:3]], ["100", "101", "102"])
        table = self.var(local, "table")
        self.assertIn("'k3'", [v["name"] for v in self.vars(c, table["variablesReference"])])

        r = c.request("evaluate", {"expression": "hits + 41", "frameId": top["id"],
                                   "context": "repl"})
        self.assertEqual(r["result"], "42")
        err = c.request_error("evaluate", {"expression": "no_such_name", "frameId": top["id"],
                                           "context": "watch"})
        self.assertIn("no_such_name", json.dumps(err))
        r = c.request("setVariable", {"variablesReference": ref, "name": "hits", "value": "41"})
        self.assertEqual(r["value"], "41")

        # steps: over the assignment, into decorate, out again
        c.request("next", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.top_frames(c, tid)[0]["line"], PY_HANDLE + 1)
        c.request("setBreakpoints", {"source": {"path": PY_SRC},
                                     "breakpoints": [{"line": PY_CALL}]})
        self.cont(c, tid)
        self.wait_stopped(c, 10, "breakpoint")
        c.request("stepIn", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        frames = self.top_frames(c, tid)
        self.assertEqual(frames[0]["name"], "decorate")
        self.assertEqual(frames[1]["name"], "handle")
        c.request("stepOut", {"threadId": tid})
        self.wait_stopped(c, 10, "step")
        self.assertEqual(self.top_frames(c, tid)[0]["name"], "handle")
        # a frame id from before the program ran is stale, never another frame
        stale = c.request_error("scopes", {"frameId": top["id"]})
        self.assertIn("not valid", stale.get("message", ""))
        c.request("setBreakpoints", {"source": {"path": PY_SRC}, "breakpoints": []})
        self.cont(c, tid)
        self.assertEqual(get.wait(10), "hello /a #41 (ann, 250) 5\n",
                         "setVariable did not reach the program")
        self.assert_detached(c, svc)

    def test_condition_hit_count_log_point(self):
        svc = self.py()
        c, bps = self.py_session(svc, [
            {"line": PY_HANDLE, "condition": "path == '/two'"},
            {"line": PY_CALL, "hitCondition": "3"},
            {"line": PY_RETURN, "logMessage": "hits={hits} path={path}"},
        ])
        self.assertTrue(all(b["verified"] for b in bps["breakpoints"]), json.dumps(bps))
        self.assertEqual(svc.get("/one", 10).split(" #")[0], "hello /one")
        self.assertFalse(c.has_event("stopped"), "the condition was false for /one")
        c.wait_event("output", 10, lambda m: "hits=1 path=/one" in m["body"]["output"])
        get, ev = self.stop(c, svc, "/two")
        tid = ev["body"]["threadId"]
        self.assertEqual(self.top_frames(c, tid)[0]["line"], PY_HANDLE)
        self.cont(c, tid)
        get.wait(10)
        # the third time PY_CALL runs: /one, /two, then this one
        get, ev = self.stop(c, svc, "/three")
        self.assertEqual(self.top_frames(c, ev["body"]["threadId"])[0]["line"], PY_CALL)
        _, _, local = self.locals_at(c, ev["body"]["threadId"])
        self.assertEqual(self.var(local, "hits")["value"], "3")
        self.cont(c, ev["body"]["threadId"])
        get.wait(10)
        self.assert_detached(c, svc)

    def test_exceptions_raised_and_uncaught(self):
        svc = self.py()
        c, _ = self.py_session(svc)
        filters = [f["filter"] for f in self.caps["exceptionBreakpointFilters"]]
        self.assertIn("python:raised", filters)
        self.assertIn("python:uncaught", filters)
        c.request("setExceptionBreakpoints", {"filters": ["python:raised"]})
        get, ev = self.stop(c, svc, "/raise", reason="exception")
        tid = ev["body"]["threadId"]
        info = c.request("exceptionInfo", {"threadId": tid})
        self.assertIn("ValueError", info["exceptionId"])
        self.assertIn("caught boom", info.get("description", ""))
        self.cont(c, tid)
        self.assertEqual(get.wait(10).split(" (")[0], "caught caught boom")

        c.request("setExceptionBreakpoints", {"filters": ["python:uncaught"]})
        self.assertEqual(svc.get("/raise", 10).split(" (")[0], "caught caught boom")
        self.assertFalse(c.has_event("stopped", lambda m: m is not ev),
                         "a caught exception stopped under python:uncaught")
        get = svc.get_async("/uncaught")
        ev2 = c.wait_event("stopped", 15, lambda m: m is not ev)
        self.assertEqual(ev2["body"]["reason"], "exception")
        tid2 = ev2["body"]["threadId"]
        self.assertEqual(self.top_frames(c, tid2)[0]["line"], PY_BOOM)
        info = c.request("exceptionInfo", {"threadId": tid2})
        self.assertIn("KeyError", info["exceptionId"])
        self.cont(c, tid2)
        get.wait(10)
        self.assert_detached(c, svc)

    def test_disconnect_while_stopped_resumes_the_program(self):
        svc = self.py()
        c, _ = self.py_session(svc, [{"line": PY_DECORATE}])
        get, _ = self.stop(c, svc, "/held")
        self.disconnect_and_exit(c, [])
        self.assertEqual(get.wait(5).split(" #")[0], "hello /held",
                         "the request stopped at the breakpoint never finished")
        self.assertTrue(svc.answers(2))

    def test_path_mappings_as_vscode_python_writes_them(self):
        svc = self.py()
        local = "/home/dev/shop"
        c, bps = self.py_session(svc, [{"line": PY_HANDLE}],
                                 pathMappings=[{"localRoot": local,
                                                "remoteRoot": os.path.dirname(PY_SRC)}])
        c.request("setBreakpoints", {"source": {"path": PY_SRC}, "breakpoints": []})
        r = c.request("setBreakpoints", {"source": {"path": local + "/app.py"},
                                         "breakpoints": [{"line": PY_HANDLE}]})
        self.assertTrue(r["breakpoints"][0]["verified"], json.dumps(r))
        get, ev = self.stop(c, svc, "/m")
        top = self.top_frames(c, ev["body"]["threadId"])[0]
        self.assertEqual(top["source"]["path"], local + "/app.py")
        self.cont(c, ev["body"]["threadId"])
        get.wait(10)
        self.assert_detached(c, svc)

    def test_go_and_python_in_one_session(self):
        go, py = self.go_service("orders"), self.py("shop")
        c = self.start_kdap()
        py_dir = os.path.dirname(PY_SRC)
        self.attach(c, {"services": [
            go_service_args(go, "orders", localRoot=APP_DIR, remoteRoot=APP_DIR),
            {"name": "shop", "runtime": "python", "connect": py.connect,
             "localRoot": py_dir, "remoteRoot": py_dir}]})
        r = c.request("setBreakpoints", {"source": {"path": APP_SRC},
                                         "breakpoints": [{"line": BP_LINE}]})
        self.assertTrue(r["breakpoints"][0]["verified"], json.dumps(r))
        r = c.request("setBreakpoints", {"source": {"path": PY_SRC},
                                         "breakpoints": [{"line": PY_HANDLE}]})
        self.assertTrue(r["breakpoints"][0]["verified"], json.dumps(r))
        names = [t["name"] for t in c.request("threads")["threads"]]
        self.assertTrue(any(n.startswith("orders: ") for n in names), names)
        self.assertTrue(any(n.startswith("shop: ") for n in names), names)

        get_py = py.get_async("/both")
        ev = self.wait_stopped(c, 15, "breakpoint")
        self.assertIs(ev["body"].get("allThreadsStopped"), False, json.dumps(ev))
        tid_py = ev["body"]["threadId"]
        by_id = {t["id"]: t["name"] for t in c.request("threads")["threads"]}
        self.assertTrue(by_id[tid_py].startswith("shop: "), by_id)
        self.assertEqual(self.top_frames(c, tid_py)[0]["source"]["path"], PY_SRC)
        get_go = go.get_async("/both")
        ev2 = c.wait_event("stopped", 15, lambda m: m is not ev)
        tid_go = ev2["body"]["threadId"]
        self.assertTrue(by_id.get(tid_go, "orders: ").startswith("orders: "))
        self.assertEqual(self.top_frames(c, tid_go)[0]["source"]["path"], APP_SRC)
        self.assertIs(ev2["body"].get("allThreadsStopped"), True, json.dumps(ev2))
        for tid in (tid_py, tid_go):
            self.cont(c, tid)
        get_py.wait(10)
        get_go.wait(10)
        self.disconnect_and_exit(c, [go, py])

    def test_a_python_subprocess_runs_untraced(self):
        """debugpy holds a subprocess it traces until a debugger of its own attaches
        (debugpyAttach); kdap lets it go, so the program never hangs in one, and says so."""
        svc = self.py()
        c, _ = self.py_session(svc, [{"line": PY_RETURN}])
        get = svc.get_async("/spawn")
        ev = self.wait_stopped(c, 15, "breakpoint")
        self.assertFalse(c.has_event("debugpyAttach"), "debugpy's own event reached the editor")
        c.wait_event("output", 10, lambda m: "undebugged" in m["body"]["output"])
        self.cont(c, ev["body"]["threadId"])
        self.assertIn("hello /spawn", get.wait(10))
        self.disconnect_and_exit(c, [svc])

    def test_cluster_target_is_refused_naming_connect(self):
        """No debug container for python yet: "target" fails at once, before the cluster
        is asked anything, and says what works instead."""
        kc = log_file("kubeconfig-%s" % self.tag())
        with open(kc, "w") as f:   # a cluster nothing answers for: it must not be asked
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                    "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                    "users: [{name: x, user: {token: t}}]\n"
                    "contexts: [{name: x, context: {cluster: x, user: x}}]\n")
        c = self.start_kdap()
        c.initialize()
        r = c.request_error("attach", {"runtime": "python", "target": "deployment/shop",
                                       "kubeconfig": kc}, timeout=15)
        msg = r.get("message", "")
        self.assertIn("cannot attach in the cluster yet", msg)
        self.assertIn("\"connect\"", msg)
        self.assertIn("debugpy", msg)
        self.assertIn("error", r.get("body", {}), "an error response must carry body.error")

    def test_nothing_listening_is_a_clear_error(self):
        port = free_port()
        c = self.start_kdap()
        c.initialize()
        r = c.request_error("attach", {"runtime": "python", "connect": "%s:%d" % (HOST, port)},
                            timeout=15)
        msg = r.get("message", "") + json.dumps(r.get("body", {}))
        self.assertIn("debugpy", msg)
        self.assertIn("--listen", msg)
        self.assertIn("error", r.get("body", {}), "an error response must carry body.error")


if __name__ == "__main__":
    unittest.main()
