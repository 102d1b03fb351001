"""The editor configurations in editor-configs/ are real: the VS Code extension packages with
vsce without prompts and its schema covers every attach key README.md documents; the
nvim-dap file loads in headless Neovim (stub `dap` module: nvim-dap is not installable here)
and the dap-mode file in Emacs; every configuration, snippet and template any of them offers
is valid against the extension's attach schema.  (The sessions themselves are in
test_vscode_client.py and test_emacs_client.py.)

Run: /usr/bin/python3 -m unittest -v test_editor_configs   (from tests/e2e)
Needs: node + tests/node_modules (vsce), nvim, emacs + elpa-dap-mode, python3-jsonschema.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import zipfile

from godbg import BUILD, REPO

CONFIGS = os.path.join(REPO, "editor-configs")
VSCODE = os.path.join(CONFIGS, "vscode")
VSCE = os.path.join(REPO, "tests", "node_modules", ".bin", "vsce")
HERE = os.path.dirname(os.path.abspath(__file__))
# keys an editor adds to every configuration; kdap ignores them
EDITOR_KEYS = {"type", "request", "name", "__sessionId"}


def package_json():
    with open(os.path.join(VSCODE, "package.json")) as f:
        return json.load(f)


def attach_schema():
    dbg = next(d for d in package_json()["contributes"]["debuggers"] if d["type"] == "kdap")
    return dbg["configurationAttributes"]["attach"]


def readme_attach_keys():
    """(top-level keys, per-service keys) from README.md's Configuration tables."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Configuration\n(.*?)^## ", text, re.S | re.M)
    assert m, "README.md has no '## Configuration' section"
    section = m.group(1)
    parts = re.split(r"^Per service:\s*$", section, flags=re.M)
    assert len(parts) == 2, "README.md Configuration: no 'Per service:' table"

    def keys(part):
        out = []
        for line in part.splitlines():
            if line.startswith("| `"):
                out += re.findall(r"`([A-Za-z_]+)`", line.split("|")[1])
        return out
    return keys(parts[0]), keys(parts[1])


def run(argv, timeout=120, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, **kw)


def fill_placeholders(v):
    """A snippet body as the user gets it: ${1:x} -> x, ^"\\${workspaceFolder}" -> /ws."""
    if isinstance(v, str):
        v = re.sub(r'^\^"(.*)"$', r"\1", v).replace("\\${workspaceFolder}", "/ws")
        v = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", v)
        return re.sub(r"\$\d+", "", v)
    if isinstance(v, list):
        return [fill_placeholders(x) for x in v]
    if isinstance(v, dict):
        return {k: fill_placeholders(x) for k, x in v.items()}
    return v


class SchemaMixin:
    def assert_valid_attach(self, config, where):
        import jsonschema
        schema = copy.deepcopy(attach_schema())
        props = set(schema["properties"])
        args = {k: v for k, v in config.items() if k not in EDITOR_KEYS}
        unknown = set(args) - props
        self.assertEqual(unknown, set(), "%s: keys the schema does not know" % where)
        for svc in args.get("services", []):
            unknown = set(svc) - set(schema["properties"]["services"]["items"]["properties"])
            self.assertEqual(unknown, set(), "%s: service keys the schema does not know" % where)
        try:
            jsonschema.validate(args, schema)
        except jsonschema.ValidationError as e:
            self.fail("%s does not match the attach schema: %s" % (where, e.message))


class VSCodeExtension(SchemaMixin, unittest.TestCase):
    def test_schema_covers_readme(self):
        top, per_service = readme_attach_keys()
        self.assertIn("services", top)
        self.assertIn("connect", per_service)
        schema = attach_schema()
        props = schema["properties"]
        missing = [k for k in top + per_service if k not in props]
        self.assertEqual(missing, [], "README.md attach keys missing from configurationAttributes.attach")
        svc_props = props["services"]["items"]["properties"]
        missing = [k for k in per_service if k not in svc_props]
        self.assertEqual(missing, [], "README.md per-service keys missing from services[] items")
        for k, v in list(props.items()) + list(svc_props.items()):
            self.assertIn("type", v, "schema of %s has no type" % k)
            self.assertTrue(v.get("description") or v.get("markdownDescription") or k == "services"
                            or v.get("type") == "object", "schema of %s has no description" % k)
        # the schema itself is a valid JSON schema
        import jsonschema
        jsonschema.Draft7Validator.check_schema(schema)

    def test_snippets_and_initial_configurations_are_valid(self):
        dbg = next(d for d in package_json()["contributes"]["debuggers"] if d["type"] == "kdap")
        labels = [s["label"] for s in dbg["configurationSnippets"]]
        self.assertTrue(any("services" in json.dumps(s["body"]) for s in dbg["configurationSnippets"]),
                        "a multi-service snippet")
        for s in dbg["configurationSnippets"]:
            body = fill_placeholders(s["body"])
            self.assertEqual((body["type"], body["request"]), ("kdap", "attach"), s["label"])
            self.assert_valid_attach(body, "configurationSnippet %r" % s["label"])
        for c in dbg["initialConfigurations"]:
            self.assert_valid_attach(c, "initialConfiguration %r" % c["name"])
        self.assertEqual(len(labels), len(set(labels)))
        # the launch.json snippets (compound launch included)
        pkg = package_json()
        for sn in pkg["contributes"]["snippets"]:
            with open(os.path.join(VSCODE, sn["path"])) as f:
                snippets = json.load(f)
            compound = [v for v in snippets.values() if "compounds" in "".join(v["body"])]
            self.assertTrue(compound, "a compound launch snippet in %s" % sn["path"])
            for name, v in snippets.items():
                text = fill_placeholders("\n".join(v["body"]))
                doc = json.loads("{%s}" % text if text.startswith('"') else text)
                configs = doc.get("configurations", [doc])
                for c in configs:
                    self.assert_valid_attach(c, "snippet %r" % name)
                for comp in doc.get("compounds", []):
                    names = {c["name"] for c in configs}
                    self.assertTrue(set(comp["configurations"]) <= names, "compound %r" % name)

    def test_manifest(self):
        pkg = package_json()
        self.assertEqual(pkg["contributes"]["debuggers"][0]["type"], "kdap")
        self.assertIn("kdap.adapterPath", pkg["contributes"]["configuration"]["properties"])
        self.assertTrue(os.path.exists(os.path.join(VSCODE, pkg["main"])))
        self.assertTrue(os.path.exists(os.path.join(VSCODE, "LICENSE")))

    @unittest.skipUnless(os.access(VSCE, os.X_OK), "tests/node_modules lacks @vscode/vsce (npm ci in tests/)")
    def test_vsce_package(self):
        out = tempfile.mkdtemp(prefix="kdap-vsix-", dir=BUILD)
        self.addCleanup(shutil.rmtree, out, True)
        # stdin is /dev/null: a prompt (missing LICENSE, repository, ...) fails the run
        r = run([VSCE, "package", "--out", out + "/"], cwd=VSCODE,
                env=dict(os.environ, npm_config_offline="true"))
        self.assertEqual(r.returncode, 0, "vsce package failed:\n%s%s" % (r.stdout, r.stderr))
        self.assertNotIn("WARNING", r.stdout + r.stderr, "vsce warns:\n%s%s" % (r.stdout, r.stderr))
        vsix = [f for f in os.listdir(out) if f.endswith(".vsix")]
        self.assertEqual(len(vsix), 1, os.listdir(out))
        with zipfile.ZipFile(os.path.join(out, vsix[0])) as z:
            names = set(z.namelist())
            manifest = json.loads(z.read("extension/package.json"))
        for want in ("extension/package.json", "extension/extension.js", "extension/LICENSE.txt",
                     "extension/readme.md", "extension/snippets/launch.code-snippets",
                     "extension.vsixmanifest"):
            self.assertIn(want, names)
        self.assertEqual(manifest["contributes"]["debuggers"][0]["type"], "kdap")


@unittest.skipUnless(shutil.which("nvim"), "nvim is not installed")
class NeovimConfig(SchemaMixin, unittest.TestCase):
    def test_load_with_stub_dap(self):
        tmp = tempfile.mkdtemp(prefix="kdap-nvim-", dir=BUILD)
        self.addCleanup(shutil.rmtree, tmp, True)
        # as a user installs it: <runtimepath>/lua/kdap.lua
        os.makedirs(os.path.join(tmp, "rt", "lua"))
        os.symlink(os.path.join(CONFIGS, "nvim", "kdap.lua"), os.path.join(tmp, "rt", "lua", "kdap.lua"))
        out = os.path.join(tmp, "out.json")
        env = dict(os.environ, KDAP_NVIM_OUT=out, HOME=tmp, XDG_CONFIG_HOME=tmp,
                   XDG_DATA_HOME=tmp, XDG_STATE_HOME=tmp, XDG_CACHE_HOME=tmp)
        env.pop("KDAP", None)
        r = run(["nvim", "--headless", "--clean", "-u", "NONE",
                 "--cmd", "set runtimepath^=%s" % os.path.join(tmp, "rt"),
                 "-c", "luafile %s" % os.path.join(HERE, "nvim_config_check.lua"), "-c", "qa!"],
                timeout=60, env=env, cwd=tmp)
        self.assertTrue(os.path.exists(out), "nvim wrote nothing (rc %d): %s%s" % (r.returncode, r.stdout, r.stderr))
        with open(out) as f:
            res = json.load(f)
        self.assertTrue(res["ok"], res.get("error"))

        a = res["default"]["adapters"]["kdap"]
        self.assertEqual((a["type"], a["command"]), ("executable", "kdap"))
        a = res["setup"]["adapters"]["kdap"]
        self.assertEqual(a["command"], "/opt/kdap/bin/kdap")
        self.assertEqual(a["args"], ["--log", "/tmp/kdap.log", "--log-level", "debug"])

        for phase in ("default", "setup"):
            go = res[phase]["configurations"]["go"]
            self.assertEqual(go[0]["name"], "mine", "the user's own configurations are kept")
            kd = [c for c in go if c["type"] == "kdap"]
            self.assertGreaterEqual(len(kd), 2)
            self.assertEqual(len({c["name"] for c in kd}), len(kd), "setup() twice adds nothing twice")
            self.assertTrue(any("services" in c for c in kd), "a multi-service configuration")
            for c in kd:
                c = {k: (v["__function"] if isinstance(v, dict) and "__function" in v else v)
                     for k, v in c.items()}
                self.assertEqual(c["request"], "attach")
                self.assert_valid_attach(c, "nvim configuration %r" % c["name"])


def _emacs_ok():
    if not shutil.which("emacs"):
        return False
    r = run(["emacs", "--batch", "--eval", "(progn (package-initialize) (require 'dap-mode))"], timeout=60)
    return r.returncode == 0


@unittest.skipUnless(_emacs_ok(), "emacs + elpa-dap-mode are not installed")
class EmacsConfig(SchemaMixin, unittest.TestCase):
    def test_load_in_dap_mode(self):
        home = tempfile.mkdtemp(prefix="kdap-emacs-", dir=BUILD)
        self.addCleanup(shutil.rmtree, home, True)
        r = run(["emacs", "--batch", "-l", os.path.join(HERE, "emacs_config_check.el")], timeout=60,
                env=dict(os.environ, HOME=home, KDAP_EL=os.path.join(CONFIGS, "emacs", "kdap.el")))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertTrue(res["provider"], "dap-register-debug-provider \"kdap\"")
        self.assertEqual(res["serverPath"], ["/bin/true"])
        self.assertEqual(res["request"], "attach")
        self.assertIn("kdap-executable", res["missing"] or "", "a missing kdap is a clear user error")
        names = [t["name"] for t in res["templates"]]
        self.assertIn("kdap: attach to a Go service", names)
        self.assertTrue(any("services" in t["args"] for t in res["templates"]), "a multi-service template")
        for t in res["templates"]:
            self.assertEqual(t["args"]["type"], "kdap")
            self.assert_valid_attach(t["args"], "dap-mode template %r" % t["name"])


if __name__ == "__main__":
    unittest.main()
