--[[
Reproduction of a shim bug found by the chaos run: one flush() lasts longer than `timeout`.

After a failed POST, Broker keeps calling write(): the events are buffered. Once
retry_interval is over, flush() posts the backlog. The daemon (here shim/tests/fake_daemon.py)
answers each POST after 1.5 s, under the 2 s timeout. pump() checks the call's budget only
between POSTs and gives each POST a full timeout, so the call lasts ~3 s (up to ~2 x timeout).

usage: lua5.4 chaos/repro/shim-call-budget.lua     exit 1 while the bug is there, 0 once fixed
]]
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."
local ROOT = HERE .. "/../.."
package.path = ROOT .. "/shim/tests/?.lua;" .. package.path
local socket = require("socket")
local Emulator = require("emulator")
local dir = io.popen("mktemp -d /tmp/cpd-repro.XXXXXX"):read("l")
local TIMEOUT_MS = 2000
local emu = Emulator.new{ shim = ROOT .. "/shim/centreon-pagerduty.lua", real_clock = true,
  conf = { socket = dir .. "/d.sock", timeout = TIMEOUT_MS, max_buffer_size = 10, retry_interval = 1 } }
emu:start()
for i = 1, 25 do
  emu:publish({ _type = 65565, category = 1, element = 29, host_id = 1, service_id = i, state = 0,
                state_type = 1, last_check = 1781000000 + i })
end
while emu:has_event() do emu:deliver() end -- no daemon yet: the first POST fails, the rest is buffered
local f = io.open(dir .. "/ctl.json", "w"); f:write('{"status":200,"delay":1.5}'); f:close()
os.execute(string.format(
  "python3 %s/shim/tests/fake_daemon.py %s/d.sock %s/rec --control %s/ctl.json --pidfile %s/pid >/dev/null 2>&1 &",
  ROOT, dir, dir, dir, dir))
local deadline = socket.gettime() + 10
while not io.open(dir .. "/pid") and socket.gettime() < deadline do socket.sleep(0.05) end
socket.sleep(1.2) -- the retry window is over
local r = emu:flush()
local wall = emu.last_call_wall
print(string.format("flush() returned %s after %.3f s; the shim's timeout is %.3f s; %d events still buffered",
  tostring(r), wall, TIMEOUT_MS / 1000, emu.env.centreon_pagerduty.buffered()))
os.execute("kill $(cat " .. dir .. "/pid) 2>/dev/null; rm -rf " .. dir)
if wall > TIMEOUT_MS / 1000 + 0.1 then
  print("BUG: one call blocked Broker longer than the shim's timeout")
  os.exit(1)
end
print("ok: the call stayed within the timeout")
