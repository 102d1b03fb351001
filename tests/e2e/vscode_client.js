#!/usr/bin/env node
// A VS Code-style DAP client session against kdap, written on Microsoft's
// @vscode/debugadapter-testsupport DebugClient (the client VS Code's own debug
// adapters are tested with). Driven by tests/e2e/test_vscode_client.py.
//
//   node vscode_client.js SPEC.json
//
// SPEC: { "kdap": path, "log": kdap log file, "attach": {attach arguments},
//         "source": file, "line": N, "httpPort": P, "httpPath": "/x",
//         "expectVar": {"name": "msg", "contains": "/x"}, "timeoutMs": 20000 }
//
// The session follows VS Code's order: initialize, attach (answered after
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
function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
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

async function main() {
  // A stdio DebugClient spawns `runtime [executable]`: exactly one argument, so the
  // log file goes as --log=FILE and the level through the environment.
  const env = Object.assign({}, process.env, { KDAP_LOG_LEVEL: 'debug' });
  const dc = new DebugClient(spec.kdap, `--log=${spec.log}`, 'kdap', { env }, false);
  dc.defaultTimeout = T;
  const events = [];
  for (const e of ['output', 'stopped', 'continued', 'thread', 'terminated', 'exited', 'breakpoint']) {
    dc.on(e, (ev) => events.push(ev.event));
  }
  await dc.start();
  const proc = dc._adapterProcess;
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
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
      expression: 'r.URL.Path', frameId: top.id, context: 'hover' }));
    assert.ok(hover.body.result.includes(spec.httpPath), 'r.URL.Path = ' + hover.body.result);
    report('evaluate', { result: hover.body.result });

    await within(T, 'continue', dc.continueRequest({ threadId: tid }));
    const body = await within(2 * T, 'HTTP answer after continue', pendingGet);
    assert.ok(body.includes(spec.httpPath), 'HTTP body: ' + body);
    report('continue', { body });

    // VS Code's disconnect when the user stops an attach session
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
