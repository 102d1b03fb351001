// The whole extension: run the kdap executable as the debug adapter for
// "type": "kdap", with the path and log settings from the user's settings.
const vscode = require('vscode');

function activate(context) {
  const factory = {
    createDebugAdapterDescriptor() {
      const cfg = vscode.workspace.getConfiguration('kdap');
      const args = [];
      if (cfg.get('logFile')) args.push('--log', cfg.get('logFile'));
      if (cfg.get('logLevel')) args.push('--log-level', cfg.get('logLevel'));
      return new vscode.DebugAdapterExecutable(cfg.get('adapterPath') || 'kdap', args);
    },
  };
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('kdap', factory));
}

function deactivate() {}

module.exports = { activate, deactivate };
