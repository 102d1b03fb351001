-- kdap for Neovim's nvim-dap.  Put this file on your runtimepath (e.g.
-- ~/.config/nvim/lua/kdap.lua) and `require('kdap')` after nvim-dap, or
-- paste it into your config.  Set KDAP to the kdap executable if it is not
-- on PATH.
local dap = require('dap')

dap.adapters.kdap = {
  type = 'executable',
  command = os.getenv('KDAP') or 'kdap',
  -- args = { '--log', '/tmp/kdap.log', '--log-level', 'debug' },
}

local function configs()
  return {
    {
      type = 'kdap', request = 'attach', name = 'kdap: attach to a Go service',
      runtime = 'go', connect = '127.0.0.1:2345',
      localRoot = vim.fn.getcwd(), remoteRoot = '/src',
    },
    {
      type = 'kdap', request = 'attach', name = 'kdap: two services, one session',
      services = {
        { name = 'checkout', runtime = 'go', connect = '127.0.0.1:2345',
          localRoot = vim.fn.getcwd() .. '/checkout', remoteRoot = '/src' },
        { name = 'payments', runtime = 'go', connect = '127.0.0.1:2346',
          localRoot = vim.fn.getcwd() .. '/payments', remoteRoot = '/src' },
      },
    },
  }
end

dap.configurations.go = vim.list_extend(dap.configurations.go or {}, configs())
