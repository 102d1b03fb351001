-- Loaded by test_editor_configs.py in `nvim --headless --clean`: a stub `dap`
-- module stands in for nvim-dap (not installable here), editor-configs/nvim/kdap.lua
-- is required from the runtimepath as a user's config does, and the resulting
-- dap.adapters / dap.configurations are written as JSON to $KDAP_NVIM_OUT.
local stub = { adapters = {}, configurations = { go = { { type = 'go', request = 'launch', name = 'mine' } } } }
package.preload['dap'] = function() return stub end
vim.fn.input = function(_, default) return default or '' end   -- connect = function() ... input()

local function plain(v)
  if type(v) == 'function' then
    return { __function = plain(v()) }
  elseif type(v) == 'table' then
    local t = {}
    for k, x in pairs(v) do t[k] = plain(x) end
    return t
  end
  return v
end

local out = {}
local ok, err = pcall(function()
  local kdap = require('kdap')
  out.default = plain({ adapters = stub.adapters, configurations = stub.configurations })
  kdap.setup({ command = '/opt/kdap/bin/kdap', log = '/tmp/kdap.log', log_level = 'debug' })
  out.setup = plain({ adapters = stub.adapters, configurations = stub.configurations })
end)
out.ok = ok
out.error = ok and vim.NIL or tostring(err)
local f = assert(io.open(os.getenv('KDAP_NVIM_OUT'), 'w'))
f:write(vim.fn.json_encode(out))
f:close()
