#!/usr/bin/env node
// A VS Code-style DAP client session against kdap, written on Microsoft's
// @vscode/debugadapter-testsupport DebugClient (the client VS Code's own debug
// adapters are tested with). Driven by tests/e2e/test_vscode_client.py.
//
//   node vscode_client.js SPEC.json
//
// SPEC: { "kdap": path, "log": kdap log file, "attach": {attach arguments},
//         "extension": editor-configs/vscode/extension.js (it describes the adapter),
//         "source": file, "line": N, "httpPort": P, "httpPath": "/x",
//         "expectVar": {"name": "msg", "contains": "/x"}, "timeoutMs": 20000 }
//
// kdap is spawned as the extension's DebugAdapterExecutable says. The session
// follows VS Code's order: initialize, attach (answered after
// configurationDone), on `initialized` setBreakpoints + setExceptionBreakpoints
// + configurationDone; then an HTTP request to the service stops at the
// breakpoint; threads, stackTrace, scopes, variables, evaluate; continue (the
// HTTP request completes); disconnect; kdap must exit by itself.
//
// Prints one JSON line per step ({"step": ..., ...}) and a final {"ok": true};
// exits 1 with {"ok": false, "error": ...} on the first failure.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const assert = require('assert');

const modules = process.env.KDAP_NODE_MODULES ||
  path.join(__dirname, '..', 'node_modules');
const { DebugClient } = require(path.join(modules, '@vscode', 'debugadapter-testsupport'));

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const T = spec.timeoutMs || 20000;

function report(step, data) {
  process.stdout.write(JSON.stringify(Object.assign({ step }, data || {})) + '\n');
}

// ProtocolClient.send has no timeout of its own: every request gets one here
let adapterGone = new Promise(() => {});   // rejects when kdap exits unexpectedly

function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
    adapterGone.then(() => {}, (e) => { throw new Error(`${what}: ${e.message}`); }),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function httpGet(port, p, ms) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p}: no answer within ${ms} ms`)));
    req.on('error', reject);
  });
}

// editor-configs/vscode/extension.js under a stub `vscode` module: activate it, and ask its
// factory for the adapter of a session, as VS Code does when a kdap session starts
function adapterFromExtension(extPath, settings) {
  const Module = require('module');
  const factories = {};
  const stub = {
    workspace: { getConfiguration: () => ({ get: (k) => settings[k] }), workspaceFolders: undefined },
    debug: { registerDebugAdapterDescriptorFactory: (type, f) => { factories[type] = f; return { dispose() {} }; } },
    DebugAdapterExecutable: class { constructor(command, args, options) { Object.assign(this, { command, args, options }); } },
  };
  const load = Module._load;
  Module._load = function (request, ...rest) {
    return request === 'vscode' ? stub : load.call(this, request, ...rest);
  };
  let ext;
  try { ext = require(extPath); } finally { Module._load = load; }
  const subscriptions = [];
  ext.activate({ subscriptions });
  assert.ok(factories.kdap, 'the extension registers a factory for type kdap');
  assert.strictEqual(subscriptions.length, 1);
  return factories.kdap.createDebugAdapterDescriptor({ type: 'kdap', name: 'kdap test', configuration: spec.attach });
}

async function main() {
  const desc = adapterFromExtension(spec.extension,
    { adapterPath: spec.kdap, logFile: spec.log, logLevel: 'debug' });
  assert.strictEqual(desc.command, spec.kdap);
  // A stdio DebugClient spawns `runtime [executable]`: exactly one argument, which is
  // what the extension passes (--log-level=LVL; the log file goes through KDAP_LOG)
  assert.deepStrictEqual(desc.args, ['--log-level=debug']);
  const env = Object.assign({}, process.env, (desc.options || {}).env);
  assert.strictEqual(env.KDAP_LOG, spec.log);
  report('adapter', { command: desc.command, args: desc.args });
  const dc = new DebugClient(desc.command, desc.args[0], 'kdap', { env }, false);
  dc.defaultTimeout = T;
  const events = [];
  for (const e of ['output', 'stopped', 'continued', 'thread', 'terminated', 'exited', 'breakpoint']) {
    dc.on(e, (ev) => events.push(ev.event));
  }
  await dc.start();
  const proc = dc._adapterProcess;
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  let expectExit = false;
  adapterGone = new Promise((_, reject) => {
    proc.on('error', (e) => reject(new Error(`kdap could not be started: ${e.message}`)));
    proc.on('exit', (code, sig) => {
      if (!expectExit) reject(new Error(`kdap exited early (code ${code}, signal ${sig}); stderr: ${stderr}`));
    });
  });
  adapterGone.catch(() => {});
  let pendingGet = null;

  try {
    const init = await within(T, 'initialize', dc.initializeRequest({
      clientID: 'vscode', clientName: 'Visual Studio Code', adapterID: 'kdap',
      pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true,
      supportsVariableType: true, supportsVariablePaging: true,
      supportsRunInTerminalRequest: true, locale: 'en', supportsProgressReporting: true,
      supportsInvalidatedEvent: true, supportsMemoryReferences: true,
    }));
    assert.ok(init.body.supportsConfigurationDoneRequest, 'supportsConfigurationDoneRequest');
    report('initialize', { caps: Object.keys(init.body).length });

    const initialized = dc.waitForEvent('initialized', T);
    // VS Code adds type, request, name and __sessionId to what launch.json says
    const attachArgs = Object.assign({ type: 'kdap', request: 'attach', name: 'kdap test',
      __sessionId: '00000000-0000-4000-8000-000000000001' }, spec.attach);
    const attach = within(T, 'attach', dc.attachRequest(attachArgs));
    attach.catch(() => {});   // reported below, or by `initialized` not coming
    await Promise.race([initialized, attach.then(() => initialized)]);
    report('initialized');

    const bps = await within(T, 'setBreakpoints', dc.setBreakpointsRequest({
      source: { path: spec.source, name: path.basename(spec.source) },
      breakpoints: [{ line: spec.line }], lines: [spec.line], sourceModified: false,
    }));
    assert.strictEqual(bps.body.breakpoints.length, 1);
    assert.ok(bps.body.breakpoints[0].verified, 'breakpoint verified: ' + JSON.stringify(bps.body));
    report('setBreakpoints', { verified: true, line: bps.body.breakpoints[0].line });
    await within(T, 'setExceptionBreakpoints', dc.setExceptionBreakpointsRequest({ filters: [] }));
    await within(T, 'configurationDone', dc.configurationDoneRequest());
    await attach;
    report('attach');

    const threads0 = await within(T, 'threads', dc.threadsRequest());
    assert.ok(threads0.body.threads.length > 0, 'threads after attach');

    const stopped = dc.waitForEvent('stopped', T);
    pendingGet = httpGet(spec.httpPort, spec.httpPath, 3 * T);
    pendingGet.catch(() => {});
    const ev = await stopped;
    assert.strictEqual(ev.body.reason, 'breakpoint', JSON.stringify(ev.body));
    const tid = ev.body.threadId;
    report('stopped', { reason: ev.body.reason, threadId: tid });

    const threads = await within(T, 'threads', dc.threadsRequest());
    assert.ok(threads.body.threads.some((t) => t.id === tid), 'stopped thread listed in threads');
    const st = await within(T, 'stackTrace', dc.stackTraceRequest({ threadId: tid, startFrame: 0, levels: 20 }));
    const top = st.body.stackFrames[0];
    assert.ok(/handle/.test(top.name), 'top frame is handle(): ' + top.name);
    assert.strictEqual(top.line, spec.line);
    assert.strictEqual(path.resolve(top.source.path), path.resolve(spec.source));
    report('stackTrace', { frames: st.body.stackFrames.length, top: top.name,
      file: top.source.path, line: top.line });

    const scopes = await within(T, 'scopes', dc.scopesRequest({ frameId: top.id }));
    const local = scopes.body.scopes.find((s) => /^local/i.test(s.name)) || scopes.body.scopes[0];
    const vars = await within(T, 'variables', dc.variablesRequest({ variablesReference: local.variablesReference }));
    const v = vars.body.variables.find((x) => x.name === spec.expectVar.name);
    assert.ok(v, `variable ${spec.expectVar.name} in ${vars.body.variables.map((x) => x.name)}`);
    assert.ok(v.value.includes(spec.expectVar.contains), `${v.name} = ${v.value}`);
    report('variables', { name: v.name, value: v.value });
    const hover = await within(T, 'evaluate', dc.evaluateRequest({
      expression: spec.hoverExpr, frameId: top.id, context: 'hover' }));
    assert.ok(hover.body.result.includes(spec.httpPath), spec.hoverExpr + ' = ' + hover.body.result);
    report('evaluate', { result: hover.body.result });

    await within(T, 'continue', dc.continueRequest({ threadId: tid }));
    const body = await within(2 * T, 'HTTP answer after continue', pendingGet);
    assert.ok(body.includes(spec.httpPath), 'HTTP body: ' + body);
    report('continue', { body });

    // VS Code's disconnect when the user stops an attach session; kdap may end by itself
    // once it has answered it
    expectExit = true;
    await within(T, 'disconnect', dc.disconnectRequest({ restart: false, terminateDebuggee: false,
      suspendDebuggee: false }));
    report('disconnect');
    const after = await within(3 * T, 'HTTP after disconnect', httpGet(spec.httpPort, '/after-disconnect', T));
    report('after', { body: after });
    // never dc.stop() after our own disconnect (it sends a second one that never resolves);
    // closing stdin is what VS Code does to an executable adapter
    proc.stdin.end();
    const ex = await within(10000, 'kdap exit after stdin closed', exited);
    assert.strictEqual(ex.code, 0, 'kdap exit status ' + JSON.stringify(ex));
    report('exit', { code: ex.code, events: [...new Set(events)] });
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack || e) }) + '\n');
    if (proc.exitCode === null) proc.kill('SIGTERM');
    process.exitCode = 1;
  }
}

main().then(() => process.exit(), (e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
});
