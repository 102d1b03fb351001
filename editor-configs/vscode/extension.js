// The whole extension: run the kdap executable as the debug adapter for
// "type": "kdap", with the path and log settings from the user's settings.
//
// kdap.adapterPath may use ${workspaceFolder}, ${userHome} and a leading ~
// (VS Code does not expand variables in settings by itself).  The log level
// goes as one argument (--log-level=LVL), the log file through KDAP_LOG.
'use strict';

const vscode = require('vscode');
const fs = require('fs');
const os = require('os');
const path = require('path');

function expand(p, folder) {
  let s = String(p || '').trim();
  if (s === '~' || s.startsWith('~/')) s = path.join(os.homedir(), s.slice(1));
  s = s.replace(/\$\{userHome\}/g, os.homedir());
  if (folder) s = s.replace(/\$\{workspaceFolder\}/g, folder);
  return s;
}

// The DebugAdapterExecutable for one session (exported for the tests).
function adapterFor(session, cfg, folders) {
  const folder = (session && session.workspaceFolder && session.workspaceFolder.uri.fsPath) ||
    (folders && folders[0] && folders[0].uri.fsPath) || '';
  const command = expand(cfg.get('adapterPath') || 'kdap', folder);
  if (path.isAbsolute(command) && !fs.existsSync(command)) {
    throw new Error(`kdap: ${command} does not exist; build kdap (cmake --build build) ` +
      'or set "kdap.adapterPath" to the kdap executable');
  }
  const args = [];
  if (cfg.get('logLevel')) args.push(`--log-level=${cfg.get('logLevel')}`);
  const options = {};
  if (cfg.get('logFile')) options.env = { KDAP_LOG: expand(cfg.get('logFile'), folder) };
  return { command, args, options };
}

function activate(context) {
  const factory = {
    createDebugAdapterDescriptor(session) {
      const cfg = vscode.workspace.getConfiguration('kdap', session.workspaceFolder);
      const a = adapterFor(session, cfg, vscode.workspace.workspaceFolders);
      return new vscode.DebugAdapterExecutable(a.command, a.args, a.options);
    },
  };
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('kdap', factory));
}

function deactivate() {}

module.exports = { activate, deactivate, adapterFor };
