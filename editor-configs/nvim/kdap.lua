-- kdap for Neovim's nvim-dap (https://github.com/mfussenegger/nvim-dap).
--
-- kdap is a Debug Adapter Protocol server that puts the debuggers of several
-- services (delve for Go) into one debug session; nvim-dap starts it over
-- stdio.  Install: see README.md next to this file.  In short, put this file
-- at ~/.config/nvim/lua/kdap.lua and, after nvim-dap is loaded:
--
--   require('kdap').setup({ command = '/path/to/kdap/build/kdap' })
--
-- setup() is also run once, with defaults, when the module is first
-- required, so `require('kdap')` alone works when kdap is on PATH (or $KDAP
-- names it).  Options (all optional):
--   command   the kdap executable (default: $KDAP, else 'kdap' on PATH)
--   log       a log file (kdap --log FILE)
--   log_level 'error' | 'warn' | 'info' | 'debug' (debug logs every DAP message)
--   filetypes the filetypes whose configurations get the kdap entries ({ 'go' })
--
-- The configurations use kdap's attach arguments (README.md, "Configuration"):
-- services, name, runtime, connect, localRoot, remoteRoot, substitutePath,
-- stopOnEntry, ...  Add your own to dap.configurations.go, or use a project's
-- .vscode/launch.json: require('dap.ext.vscode').load_launchjs(nil, { kdap = { 'go' } }).

local M = {}

local function default_command()
  local env = os.getenv('KDAP')
  if env ~= nil and env ~= '' then
    return env
  end
  return 'kdap'
end

-- The configurations this module adds (a function, so cwd is read when a
-- session starts, not when the module loads).
function M.configurations()
  local cwd = vim.fn.getcwd()
  return {
    {
      type = 'kdap', request = 'attach', name = 'kdap: attach to a Go service',
      runtime = 'go',
      connect = function()
        return vim.fn.input('delve at HOST:PORT: ', '127.0.0.1:2345')
      end,
    },
    {
      type = 'kdap', request = 'attach', name = 'kdap: attach to a Go service built elsewhere',
      runtime = 'go', connect = '127.0.0.1:2345',
      localRoot = cwd, remoteRoot = '/src',
    },
    {
      -- a debugpy that listens: python -m debugpy --listen 127.0.0.1:5678 app.py
      type = 'kdap', request = 'attach', name = 'kdap: attach to a Python service',
      runtime = 'python', connect = '127.0.0.1:5678',
      pathMappings = { { localRoot = cwd, remoteRoot = '/app' } },
    },
    {
      -- kdap adds an ephemeral delve container (SYS_PTRACE only) to a pod of the
      -- workload and tunnels to it; the cluster is the one kubectl uses
      -- (or kubeconfig / context / namespace).  kdap builds the debugger image
      -- from your delve and pushes it to imageRepo, here KDAP_IMAGE_REPO from
      -- the environment (a repository the cluster can pull from)
      type = 'kdap', request = 'attach', name = 'kdap: attach to a deployment in the cluster',
      imageRepo = os.getenv('KDAP_IMAGE_REPO'),
      runtime = 'go',
      target = function()
        return vim.fn.input('workload: ', 'deployment/')
      end,
    },
    {
      type = 'kdap', request = 'attach', name = 'kdap: two services, one session',
      services = {
        { name = 'checkout', runtime = 'go', connect = '127.0.0.1:2345',
          localRoot = cwd .. '/checkout', remoteRoot = '/src' },
        { name = 'payments', runtime = 'go', connect = '127.0.0.1:2346',
          localRoot = cwd .. '/payments', remoteRoot = '/src' },
      },
    },
  }
end

function M.setup(opts)
  opts = opts or {}
  local dap = require('dap')
  local args = {}
  if opts.log then
    table.insert(args, '--log')
    table.insert(args, opts.log)
  end
  if opts.log_level then
    table.insert(args, '--log-level')
    table.insert(args, opts.log_level)
  end
  dap.adapters.kdap = {
    type = 'executable',
    command = opts.command or default_command(),
    args = args,
  }
  for _, ft in ipairs(opts.filetypes or { 'go' }) do
    local list = dap.configurations[ft] or {}
    -- replace the entries of an earlier setup() instead of adding them twice
    local kept = {}
    for _, c in ipairs(list) do
      if c.type ~= 'kdap' or not M._names[c.name] then
        table.insert(kept, c)
      end
    end
    for _, c in ipairs(M.configurations()) do
      table.insert(kept, c)
    end
    dap.configurations[ft] = kept
  end
  return M
end

M._names = {}
for _, c in ipairs(M.configurations()) do
  M._names[c.name] = true
end

M.setup()
return M
