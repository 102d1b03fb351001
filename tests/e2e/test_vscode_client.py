"""kdap driven by Microsoft's DebugClient (@vscode/debugadapter-testsupport, the client VS
Code's debug adapters are tested with) over stdio, as VS Code runs the adapter the
editor-configs/vscode extension declares: attach, a breakpoint hit by an HTTP request,
threads, stack, scopes, variables, evaluate, continue, disconnect, kdap exits 0.

  test_local:   go-hello + headless delve on 127.0.0.1
  test_cluster_tunnel: go-hello in the local cluster (private dir build/e2e-cluster-vscode); the test adds
                delve (ephemeral container) and a port-forward tunnel, kdap gets "connect"
  test_cluster_target: the same, but kdap does it: "target": "deployment/go-hello"
  (clusterdbg.cluster_attach_args() is the one place that knows the difference;
  the cluster is stopped with tests/cluster/down afterwards)

Run: /usr/bin/python3 -m unittest -v test_vscode_client   (from tests/e2e; KDAP_BIN)
Needs: node, tests/node_modules (npm ci in tests/).  Logs: build/e2e-logs/.
"""

import json
import os
import shutil
import unittest

from editorcase import REPO, EditorClientCase, EditorScenarios, log_file

NODE_MODULES = os.path.join(REPO, "tests", "node_modules")
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vscode_client.js")
EXTENSION = os.path.join(REPO, "editor-configs", "vscode", "extension.js")


@unittest.skipUnless(shutil.which("node"), "node is not installed")
@unittest.skipUnless(os.path.isdir(os.path.join(NODE_MODULES, "@vscode", "debugadapter-testsupport")),
                     "tests/node_modules lacks @vscode/debugadapter-testsupport (npm ci in tests/)")
class VSCodeClient(EditorScenarios, EditorClientCase):
    NAME = "vscode"
    editor = "vscode"

    def run_editor(self, spec):
        spec = dict(spec, extension=EXTENSION)
        path = log_file("%s.spec.json" % self.tag())
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        return self.run_client(["node", CLIENT, path],
                               env=dict(os.environ, KDAP_NODE_MODULES=NODE_MODULES))

    def check(self, steps, spec):
        self.assertEqual(steps["adapter"]["command"], spec["kdap"])
        self.assertEqual(steps["stopped"]["reason"], "breakpoint")
        self.assertEqual(steps["stackTrace"]["line"], spec["line"])
        self.assertEqual(os.path.realpath(steps["stackTrace"]["file"]), os.path.realpath(spec["source"]))
        self.assertIn(spec["httpPath"], steps["variables"]["value"])
        self.assertIn(spec["httpPath"], steps["continue"]["body"])
        self.assertEqual(steps["exit"]["code"], 0)


if __name__ == "__main__":
    unittest.main()
