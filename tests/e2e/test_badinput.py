"""kdap under bad input, bad configuration and lost backends: it must answer with DAP
error responses (success:false, message, body.error{id, format, showUser}), never crash,
never hang, and write nothing but DAP frames on stdout."""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from dapclient import DapClient, encode
from e2ecase import E2ECase, go_service_args
from godbg import free_port, log_file, kdap_path

MiB = 1024 * 1024


def error_text(resp):
    err = (resp.get("body") or {}).get("error") or {}
    return "%s %s" % (resp.get("message", ""), err.get("format", ""))


class TestBadInput(E2ECase):

    # -- helpers ---------------------------------------------------------------
    def assert_error(self, resp, *words):
        self.assertFalse(resp["success"])
        self.assertTrue(resp.get("message"), "error response without message: %s" % json.dumps(resp))
        err = (resp.get("body") or {}).get("error")
        self.assertIsInstance(err, dict, "error response without body.error: %s" % json.dumps(resp))
        for k in ("id", "format", "showUser"):
            self.assertIn(k, err, "body.error without %s: %s" % (k, json.dumps(resp)))
        if words:
            text = error_text(resp).lower()
            self.assertTrue(any(w.lower() in text for w in words),
                            "error should mention one of %s: %s" % (words, json.dumps(resp)))

    def alive_or_closed_cleanly(self, c, what):
        """After bad input kdap either resyncs (answers a new initialize) or closes
        cleanly (terminated event, then exit without a signal) within 5 s."""
        try:
            seq = c.send("initialize", {"clientID": "kdap-e2e", "adapterID": "kdap",
                                         "pathFormat": "path", "linesStartAt1": True,
                                         "columnsStartAt1": True})
        except BrokenPipeError:
            seq = None  # kdap already closed its stdin: the clean close is checked below
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for m in list(c.messages):
                if seq is not None and m.get("type") == "response" and m.get("request_seq") == seq:
                    return "resynced"
            if c.eof:
                break
            time.sleep(0.02)
        if not c.eof:
            rc = c.proc.poll()
            self.fail("%s: kdap neither answered a following request nor closed within 5 s "
                      "(hang; rc=%s)" % (what, rc))
        rc = c.wait_exit(5)
        self.assertIsNotNone(rc, "%s: kdap closed stdout but did not exit" % what)
        self.assertGreaterEqual(rc, 0, "%s: kdap killed by signal %s (crash)" % (what, -rc))
        self.assertTrue(c.has_event("terminated"),
                        "%s: kdap closed without a terminated event" % what)
        return "closed"

    def fresh(self, **kw):
        c = self.start_kdap(**kw)
        c.initialize()
        return c

    def finish(self, c):
        """stdin closed -> kdap exits 0 within 5 s."""
        if c.proc.poll() is None:
            c.close_input()
            rc = c.wait_exit(5)
            self.assertIsNotNone(rc, "kdap did not exit within 5 s of stdin closing")
            self.assertEqual(rc, 0)

    # -- command line ----------------------------------------------------------
    def test_version_and_help(self):
        for flag in ("--version", "--help"):
            r = subprocess.run([kdap_path(), flag], capture_output=True, timeout=5,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, "%s: rc %d %r" % (flag, r.returncode, r.stderr[:300]))
            self.assertTrue(r.stdout.strip(), "%s printed nothing" % flag)
        r = subprocess.run([kdap_path(), "--help"], capture_output=True, timeout=5, text=True)
        for opt in ("--log", "--log-level"):
            self.assertIn(opt, r.stdout, "--help does not mention %s" % opt)

    def test_stdin_closed_at_once(self):
        c = self.start_kdap()
        self.finish(c)

    def test_stdin_closed_after_initialize(self):
        c = self.fresh()
        self.finish(c)

    def test_logging_goes_to_the_log_not_stdout(self):
        path = log_file("kdap-%s.envlog" % self.tag())
        if os.path.exists(path):
            os.unlink(path)
        env = dict(os.environ, KDAP_LOG=path, KDAP_LOG_LEVEL="debug")
        c = self.start_kdap(env=env, log=False)
        c.initialize()
        c.request_error("noSuchCommand", {})
        self.finish(c)
        self.assertTrue(os.path.exists(path) and os.path.getsize(path) > 0,
                        "KDAP_LOG=%s with KDAP_LOG_LEVEL=debug wrote nothing" % path)
        # default logging (no file): still nothing but DAP on stdout (checked in tearDown)
        c2 = self.start_kdap("--log-level", "debug", log=False)
        c2.initialize()
        c2.request_error("noSuchCommand", {})
        self.finish(c2)
        path2 = log_file("kdap-%s.log" % self.tag())
        c3 = self.start_kdap()   # --log FILE --log-level debug
        c3.initialize()
        self.finish(c3)
        self.assertTrue(os.path.getsize(path2) > 0, "--log %s wrote nothing" % path2)

    # -- framing ---------------------------------------------------------------
    def test_garbage_frames(self):
        c = self.fresh()
        c.send_raw(b"this is not a header\r\n\r\n")
        c.send_raw(b"Content-Length: abc\r\n\r\n")
        c.send_raw(b"\x00\xff\xfe garbage \x01\r\n\r\n")
        how = self.alive_or_closed_cleanly(c, "garbage frames")
        if how == "resynced":
            self.finish(c)

    def test_framing_variants(self):
        """Unknown headers are ignored, frames may arrive split or coalesced, lengths are
        in bytes (UTF-8), and kdap's own frames count bytes too."""
        c = self.fresh()
        body = json.dumps({"seq": c.next_seq(), "type": "request", "command": "threads"}).encode()
        c.send_raw(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body) + body)
        c.expect_response(c.seq, 5)
        # one frame byte by byte
        frame = encode({"seq": c.next_seq(), "type": "request", "command": "threads"})
        for i in range(len(frame)):
            c.send_raw(frame[i:i + 1])
        c.expect_response(c.seq, 5)
        # three frames in one write
        first = c.seq + 1
        c.send_raw(b"".join(encode({"seq": c.next_seq(), "type": "request", "command": "threads"})
                            for _ in range(3)))
        for s in range(first, first + 3):
            c.expect_response(s, 5)
        # non-ASCII: the command name comes back in the error response; byte lengths must match
        r = c.request_error("\u00fcn\u00efc\u00f6d\u00e9\u2603", {"x": "\U0001F600" * 10})
        self.assert_error(r)
        self.assertEqual(r["command"], "\u00fcn\u00efc\u00f6d\u00e9\u2603")
        c.request_error("fooBar")          # the stream is still in sync
        self.finish(c)

    def test_invalid_json(self):
        for body in (b"{not json!}", b"[1,2,3]", b"null", b'"a string"', b"\xff\xfe\xfd",
                     b'{"seq":1,"type":"request","command":"threads"'):
            c = self.fresh()
            c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            how = self.alive_or_closed_cleanly(c, "body %r" % body)
            if how == "resynced":
                self.finish(c)

    def test_oversize_content_length(self):
        for header in (b"Content-Length: %d\r\n\r\n" % (16 * MiB + 1),
                       b"Content-Length: 99999999999999999999999999\r\n\r\n",
                       b"Content-Length: -5\r\n\r\n"):
            c = self.fresh()
            c.send_raw(header + b"{}")
            how = self.alive_or_closed_cleanly(c, "header %r" % header)
            if how == "resynced":
                self.finish(c)

    def test_conflicting_content_lengths_resync(self):
        """A header block with two different Content-Lengths is dropped as a whole: the
        next valid message is answered (it used to be eaten as the second length's body)."""
        c = self.fresh()
        c.send_raw(b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n")
        self.assert_error(c.request_error("fooBar", {}, timeout=5), "not supported")
        c.send_raw(b"Content-Length: 2\r\ncontent-length: 40\r\n\r\n{}")
        self.assert_error(c.request_error("fooBaz", {}, timeout=5), "not supported")
        self.assertTrue(any(e["body"]["output"].find("conflicting Content-Length") >= 0
                            for e in c.events("output")),
                        "no output event said why the block was dropped")
        self.finish(c)

    # -- text cut inside a character -------------------------------------------
    def test_error_text_cut_on_a_character_boundary(self):
        """Error texts are formatted into bounded buffers; cut inside a multi-byte
        character they used to make jansson refuse the response, which was never sent."""
        c = self.fresh()
        for cmd in ("a" + "\u20ac" * 300, "\u20ac" * 400, "ab" + "\U0001F600" * 300):
            r = c.request_error(cmd, {}, timeout=5)
            self.assert_error(r, "the request")
            self.assertEqual(r["command"], cmd)
        r = c.request_error("attach", {"runtime": "go", "connect": "\u20ac" * 700}, timeout=5)
        self.assert_error(r)
        self.finish(c)

    def test_output_text_cut_on_a_character_boundary(self):
        """A service name longer than an output line: the console messages are cut between
        characters and every output event keeps its body (schema-checked by the client)."""
        svc = self.go_service()
        c = self.start_kdap()
        name = "\u20ac" * 400
        self.attach(c, go_service_args(svc, name))
        outs = [e for e in c.events("output") if "attached to" in e["body"]["output"]]
        self.assertTrue(outs, "no 'attached to' console message")
        self.assertIn("\u20ac" * 300, outs[0]["body"]["output"])
        self.assertTrue(c.request("threads")["threads"])
        self.disconnect_and_exit(c, [svc])

    # -- responses too large to send -------------------------------------------
    def test_unsendable_responses_are_answered(self):
        """A response over the 16 MiB frame limit becomes an error naming the limit (it
        used to be dropped: the editor waited forever); breakpoints per request are capped."""
        root = os.path.join(log_file("badinput-root-%s" % self.tag()))
        os.makedirs(root, exist_ok=True)
        big = os.path.join(root, "control.c")
        with open(big, "wb") as f:
            f.write(bytes([1]) * (4 * MiB))     # each byte becomes \u0001: 24 MiB of JSON
        svc = self.go_service()
        c = self.start_kdap()
        self.attach(c, go_service_args(svc, localRoot=root, remoteRoot="/nowhere"))
        t0 = time.monotonic()
        r = c.request_error("setBreakpoints", {"source": {"path": os.path.join(root, "a.go")},
                                               "breakpoints": [{"line": i + 1}
                                                               for i in range(100000)]},
                            timeout=10)
        self.assert_error(r, "10000")
        r = c.request_error("source", {"source": {"path": big}}, timeout=10)
        self.assert_error(r, "16 MiB")
        self.assertLess(time.monotonic() - t0, 20)
        self.assertTrue(c.request("threads")["threads"])     # still serving
        self.disconnect_and_exit(c, [svc])

    # -- file reads ------------------------------------------------------------
    def source_root(self):
        root = log_file("badinput-src-%s" % self.tag())
        subprocess.run(["rm", "-rf", root], check=True)
        os.makedirs(os.path.join(root, "sub"))
        with open(os.path.join(root, "ok.go"), "w") as f:
            f.write("package main // \u20ac\n")
        os.mkfifo(os.path.join(root, "fifo.go"))
        os.symlink("/proc/self/fd/0", os.path.join(root, "stdin.go"))
        os.symlink("/etc/passwd", os.path.join(root, "passwd.go"))
        return root

    def test_source_reads_only_files_it_may_show(self):
        """`source` by path reads regular files under a service's mapped roots, off the
        loop: a FIFO or a link to kdap's own stdin used to block the adapter for good."""
        root = self.source_root()
        svc = self.go_service()
        c = self.start_kdap()
        self.attach(c, go_service_args(svc, localRoot=root, remoteRoot="/nowhere"))
        body = c.request("source", {"source": {"path": os.path.join(root, "ok.go")}}, timeout=5)
        self.assertEqual(body["content"], "package main // \u20ac\n")
        for path, words in ((os.path.join(root, "fifo.go"), ("regular file",)),
                            (os.path.join(root, "stdin.go"), ("symbolic link",)),
                            (os.path.join(root, "passwd.go"), ("symbolic link",)),
                            (os.path.join(root, "sub"), ("regular file",)),
                            (os.path.join(root, "missing.go"), ("no such file",)),
                            (os.path.join(root, "sub", "..", "..", "..", "etc", "passwd"),
                             ("localRoot",)),
                            ("/proc/self/fd/0", ("localRoot",)),
                            ("/dev/tty", ("localRoot",)),
                            ("/etc/shadow", ("localRoot",)),
                            ("relative/ok.go", ("localRoot",))):
            t0 = time.monotonic()
            r = c.request_error("source", {"source": {"path": path}}, timeout=5)
            self.assert_error(r, *words)
            self.assertLess(time.monotonic() - t0, 5, path)
        self.assertTrue(c.request("threads")["threads"])     # the loop never blocked
        self.disconnect_and_exit(c, [svc])

    def test_source_of_a_file_the_debugger_named(self):
        """Without mapping rules `source` still shows the files a debugger named (a stack
        frame's), and nothing else."""
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        get = svc.get_async("/named")
        ev = self.wait_stopped(c, 10, "breakpoint")
        frame = self.top_frames(c, ev["body"]["threadId"])[0]
        body = c.request("source", {"source": {"path": frame["source"]["path"]}}, timeout=5)
        self.assertIn("package main", body["content"])
        self.assert_error(c.request_error("source", {"source": {"path": "/etc/passwd"}}, timeout=5),
                          "localRoot")
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertTrue(get.wait(5).startswith("hello /named"))
        self.disconnect_and_exit(c, [svc])

    def test_attach_kubeconfig_not_a_regular_file(self):
        """A kubeconfig that is a pipe (here kdap's own stdin) is refused at once instead
        of being read until EOF, which ate the editor's next requests."""
        c = self.fresh()
        fifo = log_file("badinput-fifo-%s" % self.tag())
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)
        for kc in ("/proc/self/fd/0", fifo):
            t0 = time.monotonic()
            r = c.request_error("attach", {"target": "deployment/x", "kubeconfig": kc}, timeout=5)
            self.assert_error(r, "regular file")
            self.assertLess(time.monotonic() - t0, 5)
        self.assert_error(c.request_error("fooBar", {}, timeout=5), "not supported")
        self.finish(c)

    # -- descriptors and the log file --------------------------------------------
    @staticmethod
    def fd_lister(path, seen, then):
        """A python3 program at `path` that writes its descriptors ([fd, target], listdir's
        own left out) to `seen` as JSON, then runs the statements `then`."""
        with open(path, "w") as f:
            f.write("#!/usr/bin/python3\n"
                    "import json, os, sys\n"
                    "fds = []\n"
                    "for n in os.listdir('/proc/self/fd'):\n"
                    "    try:\n"
                    "        fds.append([int(n), os.readlink('/proc/self/fd/' + n)])\n"
                    "    except OSError:\n"
                    "        pass\n"
                    "with open(%r, 'w') as f:\n"
                    "    json.dump(fds, f)\n" % seen + then)
        os.chmod(path, 0o755)

    def assert_no_fds(self, seen, who):
        self.assertTrue(os.path.exists(seen), "%s did not run" % who)
        with open(seen) as f:
            fds = json.load(f)
        self.assertEqual([fd for fd in fds if fd[0] > 2], [],
                         "descriptors of kdap inherited by %s" % who)

    def fresh_dir(self, what):
        d = log_file("badinput-%s-%s" % (what, self.tag()))
        subprocess.run(["rm", "-rf", d], check=True)
        os.makedirs(d)
        return d

    def test_no_descriptor_inherited_and_a_private_log(self):
        """An exec credential plugin kdap spawns sees nothing of kdap's beyond 0-2 (the log
        file and libcurl's socketpair used to be inherited); the log is created 0600, an old
        0644 one is made private, and a symbolic link is never followed."""
        d = self.fresh_dir("fds")
        seen = os.path.join(d, "plugin-fds.json")
        plugin = os.path.join(d, "plugin.py")
        self.fd_lister(plugin, seen, "print(json.dumps({'apiVersion': "
                       "'client.authentication.k8s.io/v1', 'kind': 'ExecCredential', "
                       "'status': {'token': 'fd-test-token'}}))\n")
        kubeconfig = os.path.join(d, "kubeconfig")
        with open(kubeconfig, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                       "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u",
                                                              "namespace": "n"}}],
                       "clusters": [{"name": "k", "cluster": {
                           "server": "https://127.0.0.1:%d" % free_port(),
                           "insecure-skip-tls-verify": True}}],
                       "users": [{"name": "u", "user": {"exec": {
                           "apiVersion": "client.authentication.k8s.io/v1",
                           "command": plugin, "interactiveMode": "Never"}}}]}, f)
        logpath = os.path.join(d, "kdap.log")
        c = self.start_kdap("--log", logpath, "--log-level", "debug", log=False)
        c.initialize()
        self.assertEqual(os.stat(logpath).st_mode & 0o777, 0o600, "log file mode")
        r = c.request_error("attach", {"target": "deployment/x", "kubeconfig": kubeconfig},
                            timeout=20)
        self.assert_error(r)
        self.assert_no_fds(seen, "the exec plugin (%s)" % error_text(r))
        self.finish(c)
        # an old world-readable log is made private
        os.chmod(logpath, 0o644)
        c = self.start_kdap("--log", logpath, log=False)
        c.initialize()
        self.assertEqual(os.stat(logpath).st_mode & 0o777, 0o600, "old log file mode")
        self.finish(c)
        # a symbolic link planted where the log goes is not followed
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("untouched\n")
        link = os.path.join(d, "link.log")
        os.symlink(victim, link)
        c = self.start_kdap("--log", link, "--log-level", "debug", log=False)
        c.initialize()
        self.finish(c)
        with open(victim) as f:
            self.assertEqual(f.read(), "untouched\n", "the log followed a symbolic link")

    @unittest.skipUnless(shutil.which("gdb") and shutil.which("gdbserver") and shutil.which("gcc"),
                         "needs gdb, gdbserver and gcc")
    def test_gdb_inherits_no_descriptor(self):
        """gdb, which kdap starts for a C service, gets its three pipes and nothing else."""
        from cdbg import GdbTarget, build_c
        d = self.fresh_dir("gdbfds")
        seen = os.path.join(d, "gdb-fds.json")
        wrapper = os.path.join(d, "gdb-wrapper.py")
        self.fd_lister(wrapper, seen, "os.execvp('gdb', ['gdb'] + sys.argv[1:])\n")
        t = GdbTarget(self.group, build_c())
        c = self.start_kdap("--log", os.path.join(d, "kdap.log"), log=False)
        self.attach(c, t.service_args(gdbPath=wrapper), check_caps=False)
        self.assert_no_fds(seen, "gdb")
        self.assertTrue(c.request("threads")["threads"])
        self.disconnect_and_exit(c)

    # -- an editor that does not read ------------------------------------------
    @staticmethod
    def rss_mib(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    @staticmethod
    def cpu_ticks(pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])     # utime + stime

    # one synchronous burst: 20000 lines of 4 KB (80 MB), then the evaluate's answer
    SPAM = ("(() => { const x = 'x'.repeat(4000);"
            " for (let i = 0; i < 20000; i++) console.log('spam %d %s', i, x);"
            " return 'spammed'; })()")

    def test_output_bounded_while_the_editor_does_not_read(self):
        """A debuggee printing fast while the editor does not read kdap's stdout: kdap's
        memory stays bounded (output events over the high-water mark are dropped; it grew
        by the whole 80 MB), then every response arrives, one notice says what was
        dropped, and output flows again."""
        from nodedbg import NodeService
        svc = NodeService(self.group, "js", "inspect", "spam")
        env = dict(os.environ)
        # under ASan, freed memory sits in a quarantine (256 MiB by default) that would
        # count as growth: keep it small
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
        c = self.start_kdap(env=env, log=False)
        # the burst's evaluate answers only once kdap has taken in all of it
        self.attach(c, {"runtime": "node", "connect": svc.connect, "name": "web",
                        "requestTimeout": 55})
        c.request("evaluate", {"expression": "1 + 1", "context": "repl"})
        pid = c.proc.pid
        base = peak = self.rss_mib(pid)
        c.pause_reading()
        seqs = [c.send("evaluate", {"expression": self.SPAM, "context": "repl"})]
        # the editor is away for at least 5 s, and until kdap has taken in the whole burst
        # (its CPU time stops growing)
        t0 = time.monotonic()
        ticks, still = self.cpu_ticks(pid), 0.0
        while time.monotonic() - t0 < 45 and (time.monotonic() - t0 < 5 or still < 1.0):
            peak = max(peak, self.rss_mib(pid))
            if len(seqs) < 4 and time.monotonic() - t0 > len(seqs):
                seqs.append(c.send("threads"))
            time.sleep(0.1)
            now = self.cpu_ticks(pid)
            still = still + 0.1 if now == ticks else 0.0
            ticks = now
        away = time.monotonic() - t0
        c.resume_reading()
        self.assertIn("spammed", c.expect_response(seqs[0], 60)["body"]["result"])
        for seq in seqs[1:]:
            c.expect_response(seq, 30)
        notice = c.wait_event("output", 30, pred=lambda m: "were dropped" in m["body"]["output"])
        self.assertEqual(notice["body"]["category"], "important")
        c.request("evaluate", {"expression": "console.log('after the flood')", "context": "repl"})
        c.wait_event("output", 10, pred=lambda m: "after the flood" in m["body"]["output"])
        notices = [e for e in c.events("output") if "were dropped" in e["body"]["output"]]
        self.assertEqual(len(notices), 1, "one notice of the dropped output")
        print("kdap RSS %.1f -> %.1f MiB, the editor away %.1f s"
              % (base, peak, away))
        self.assertLess(peak - base, 48, "kdap grew from %.0f to %.0f MiB while the editor did "
                        "not read" % (base, peak))
        self.disconnect_and_exit(c)

    def test_undrained_stderr_never_blocks(self):
        """Logging to a stderr nobody reads (an editor that ignores the adapter's stderr)
        used to block kdap as soon as the pipe was full."""
        c = DapClient.spawn([kdap_path(), "--log-level", "debug"], stderr=subprocess.PIPE,
                            name="kdap")
        self.clients.append(c)
        self.addCleanup(self._close_client, c)
        c.initialize()
        t0 = time.monotonic()
        for _ in range(20):
            seqs = [c.send("threads") for _ in range(100)]
            for seq in seqs:
                self.assert_error(c.expect_response(seq, 5, success=False), "attach")
        self.assertLess(time.monotonic() - t0, 30)
        self.finish(c)
        c.proc.stderr.close()

    # -- malformed requests ----------------------------------------------------
    def test_missing_seq_and_command(self):
        # a response to a request without seq cannot carry a valid request_seq:
        # tolerate exactly that schema violation on error responses
        c = self.start_kdap(tolerate=lambda m, e: (m.get("type") == "response" and not m.get("success")
                                                     and e[1] == "$.request_seq"))
        c.initialize()
        c.send_message({"type": "request", "command": "threads"})
        r = c._wait(lambda: next((m for m in c.messages if m.get("type") == "response"
                                   and m.get("command") == "threads"), None), 5,
                    "an error response to a request without seq")
        self.assert_error(r, "seq")
        seq = c.next_seq()
        c.send_message({"seq": seq, "type": "request"})
        self.assert_error(c.expect_response(seq, 5, success=False), "command")
        seq = c.next_seq()
        c.send_message({"seq": seq, "type": "request", "command": 42})
        self.assert_error(c.expect_response(seq, 5, success=False), "command")
        seq = c.next_seq()
        c.send_message({"seq": seq, "type": "request", "command": "threads", "arguments": "x"})
        self.assert_error(c.expect_response(seq, 5, success=False))
        c.request_error("noSuchCommand")   # still serving
        self.finish(c)

    def test_unknown_command(self):
        c = self.fresh()
        r = c.request_error("fooBarBaz", {"x": 1})
        self.assert_error(r, "not supported")
        self.assertEqual(r["command"], "fooBarBaz")
        self.finish(c)

    def test_nul_escapes_answered(self):
        """A string holding \\u0000 (jansson refused it by default: the request was dropped
        and never answered) gets an error naming where the NUL is, whatever the request
        and wherever the string; kdap hands strings on as C strings, which a NUL would cut
        (a kubeconfig path "/tmp/x\\u0000y" would be "/tmp/x")."""
        c = self.fresh()
        for cmd, args, where in (
                ("attach", {"runtime": "go", "kubeconfig": "/tmp/x\x00y",
                            "target": "deployment/a"}, "arguments.kubeconfig"),
                ("source", {"source": {"path": "/etc/passwd\x00.go"}}, "arguments.source.path"),
                ("setBreakpoints", {"source": {"path": "/a.go"},
                                    "breakpoints": [{"line": 1}, {"line": 2, "condition": "\x00"}]},
                 "arguments.breakpoints[1].condition"),
                ("threads\x00x", {}, "command"),
                ("\x00", None, "command")):
            r = c.request_error(cmd, args, timeout=5)
            self.assert_error(r, "NUL")
            self.assertIn('"%s"' % where, error_text(r))
            self.assertEqual(r["command"], cmd)
        self.assert_error(c.request_error("threads", timeout=5), "attach")   # still in sync
        self.finish(c)

    def test_wrong_argument_types(self):
        c = self.fresh()
        for cmd, args in (("attach", {"connect": 1234}),
                          ("attach", {"services": "abc"}),
                          ("attach", {"services": [{"runtime": "go", "connect": ["x"]}]}),
                          ("setBreakpoints", {"source": "main.go", "breakpoints": 7}),
                          ("stackTrace", {"threadId": "one"}),
                          ("variables", {"variablesReference": "x"}),
                          ("evaluate", {"expression": 5})):
            r = c.request_error(cmd, args, timeout=5)
            self.assert_error(r)
        r = c.request_error("attach", {"runtime": "go", "connect": 1234})
        self.assert_error(r, "connect")
        self.finish(c)

    def test_wrong_argument_types_attached(self):
        svc = self.go_service()
        c, _ = self.session(svc)
        for cmd, args in (("stackTrace", {"threadId": "one"}),
                          ("stackTrace", {"threadId": 2 ** 31 - 1}),
                          ("scopes", {"frameId": "x"}),
                          ("scopes", {"frameId": 987654}),
                          ("variables", {"variablesReference": 987654}),
                          ("variables", {"variablesReference": "x"}),
                          ("setBreakpoints", {"source": {"path": 3}, "breakpoints": [{"line": "x"}]}),
                          ("continue", {"threadId": "x"}),
                          ("evaluate", {"expression": ["st.Hits"]})):
            r = c.request_error(cmd, args, timeout=5)
            self.assert_error(r)
        self.assertTrue(c.request("threads")["threads"])
        self.disconnect_and_exit(c, [svc])

    # -- attach errors ---------------------------------------------------------
    def test_attach_without_target(self):
        for args in ({}, {"runtime": "go"}, {"services": []}):
            c = self.fresh()
            r = c.request_error("attach", args, timeout=5)
            self.assert_error(r, "connect", "target")
            self.assertTrue(r["body"]["error"]["showUser"], "attach errors must be shown to the user")
            self.finish(c)

    def test_connect_to_closed_port(self):
        port = free_port()
        c = self.fresh()
        t0 = time.monotonic()
        seq = c.send("attach", {"runtime": "go", "connect": "127.0.0.1:%d" % port})
        r = c.expect_response(seq, 5, success=False)
        self.assertLess(time.monotonic() - t0, 5)
        self.assert_error(r, str(port), "connect")
        self.assertTrue(r["body"]["error"]["showUser"])
        self.finish(c)

    # -- lost backend ----------------------------------------------------------
    def test_delve_killed_mid_session(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        svc.kill_delve()
        t0 = time.monotonic()
        c.wait_event("terminated", 5)
        self.assertLess(time.monotonic() - t0, 5)
        # the editor then disconnects and closes the pipe
        seq = c.send("disconnect", {})
        try:
            c.expect_response(seq, 3)
        except AssertionError:
            pass     # kdap may already be closing; it must still exit
        c.close_input()
        rc = c.wait_exit(5)
        self.assertIsNotNone(rc, "kdap did not exit within 5 s after delve died")
        self.assertEqual(rc, 0, "kdap must exit cleanly when its backend is gone")


    def test_delve_killed_while_stopped(self):
        svc = self.go_service()
        c, _ = self.session(svc, breakpoints=[self.bp_line()])
        svc.get_async("/dying", timeout=3)
        self.wait_stopped(c, 10, "breakpoint")
        svc.kill_delve()
        c.wait_event("terminated", 5)
        c.close_input()
        rc = c.wait_exit(5)
        self.assertIsNotNone(rc, "kdap did not exit within 5 s after delve died")
        self.assertGreaterEqual(rc, 0, "kdap killed by a signal")

    def test_one_of_two_delves_killed(self):
        """Losing one backend is not the end of the session: no `terminated`, the other
        service keeps working (breakpoints, stops, continue, disconnect)."""
        a, b = self.go_service("a"), self.go_service("b")
        c = self.start_kdap()
        self.attach(c, {"services": [go_service_args(a, "alpha"), go_service_args(b, "beta")]},
                    breakpoints=[self.bp_line()])
        a.kill_delve()
        time.sleep(1.0)
        self.assertFalse(c.has_event("terminated"), "terminated sent while beta is still attached")
        self.assertIsNone(c.proc.poll(), "kdap exited while beta is still attached")
        names = [t["name"] for t in c.request("threads")["threads"]]
        self.assertTrue(names and all(n.startswith("beta: ") for n in names), names)
        get = b.get_async("/survivor")
        ev = self.wait_stopped(c, 10, "breakpoint")
        c.request("continue", {"threadId": ev["body"]["threadId"]})
        self.assertEqual(get.wait(5), "hello /survivor #1\n")
        self.disconnect_and_exit(c, [b])


if __name__ == "__main__":
    unittest.main()
