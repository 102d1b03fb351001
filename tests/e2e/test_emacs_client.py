"""kdap driven by GNU Emacs 28 + dap-mode in --batch (tests/e2e/emacs_client.el), with
editor-configs/emacs/kdap.el loaded as a user's init file loads it: dap-breakpoint-toggle in a
buffer visiting main.go, dap-debug with the kdap template, an HTTP request stops the service
(dap-stopped-hook), the active frame and a local are read, dap-continue, dap-disconnect,
kdap exits 0.

  test_local:   go-hello + headless delve on 127.0.0.1
  test_cluster_tunnel: go-hello in the local cluster (private dir build/e2e-cluster-emacs); the test adds
                delve (ephemeral container) and a port-forward tunnel, kdap gets "connect"
  test_cluster_target: the same, but kdap does it: "target": "deployment/go-hello"
  (clusterdbg.cluster_attach_args() is the one place that knows the difference;
  the cluster is stopped with tests/cluster/down afterwards)

Run: /usr/bin/python3 -m unittest -v test_emacs_client   (from tests/e2e; KDAP_BIN)
Needs: emacs (28) and elpa-dap-mode.  Logs: build/e2e-logs/.
"""

import json
import os
import shutil
import subprocess
import unittest

from editorcase import BUILD, REPO, STEP_TIMEOUT, EditorClientCase, EditorScenarios

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emacs_client.el")
KDAP_EL = os.path.join(REPO, "editor-configs", "emacs", "kdap.el")


def dap_mode_missing():
    if not shutil.which("emacs"):
        return "emacs is not installed"
    try:
        r = subprocess.run(["emacs", "--batch", "--eval",
                            "(progn (package-initialize) (require 'dap-mode))"],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "emacs --batch did not load dap-mode within 60 s"
    return None if r.returncode == 0 else "dap-mode is not installed (elpa-dap-mode)"


_MISSING = dap_mode_missing()


@unittest.skipIf(_MISSING, _MISSING)
class EmacsClient(EditorScenarios, EditorClientCase):
    NAME = "emacs"
    editor = "emacs"

    def run_editor(self, spec):
        env = dict(os.environ,
                   KDAP_EL=KDAP_EL, KDAP_BIN=spec["kdap"], KDAP_LOG=spec["log"],
                   KDAP_ATTACH_JSON=json.dumps(spec["attach"]),
                   KDAP_SRC=spec["source"], KDAP_LINE=str(spec["line"]),
                   KDAP_HTTP_PORT=str(spec["httpPort"]), KDAP_HTTP_PATH=spec["httpPath"],
                   KDAP_EXPECT_VAR=spec["expectVar"]["name"],
                   KDAP_EXPECT_VALUE=spec["expectVar"]["contains"],
                   KDAP_STEP_TIMEOUT=str(STEP_TIMEOUT))
        # a HOME of its own: dap-mode keeps breakpoints in ~/.emacs.d/.dap-breakpoints
        env["HOME"] = os.path.join(BUILD, "e2e-emacs-home")
        os.makedirs(env["HOME"], exist_ok=True)
        # --batch loads no init file but the site start files (Debian's elpa load-path)
        return self.run_client(["emacs", "--batch", "-l", CLIENT], env=env)

    def check(self, steps, spec):
        self.assertEqual(steps["breakpoint"]["count"], 1)
        self.assertEqual(steps["stopped"]["line"], spec["line"])
        self.assertIn("handle", steps["stopped"]["frame"])
        self.assertEqual(os.path.realpath(steps["stopped"]["file"]), os.path.realpath(spec["source"]))
        self.assertIn(spec["httpPath"], steps["variable"]["value"])
        self.assertIn(spec["httpPath"], steps["continued"]["body"])
        self.assertEqual(steps["exit"]["status"], 0)


if __name__ == "__main__":
    unittest.main()
