--[[
Shared pieces of the chaos run and the latency benchmark: files, processes, the real daemon
(run as an unprivileged user, supervised like systemd would), the mock PagerDuty, and a Broker
emulator (shim/tests/emulator.lua) that can run for hours.
]]
local socket = require("socket")
local L = {}
L.gettime, L.sleep = socket.gettime, socket.sleep

-- The command line's `key=value` arguments, as a table.
function L.args(argv)
  local A = {}
  for _, a in ipairs(argv) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then A[k] = v end
  end
  return A
end

function L.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

function L.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function L.write_atomic(path, data)
  L.write(path .. ".tmp", data)
  assert(os.rename(path .. ".tmp", path))
end

function L.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function L.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function L.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end

function L.wait_until(cond, timeout, step)
  local deadline = L.gettime() + (timeout or 10)
  while true do
    local v = cond()
    if v or L.gettime() > deadline then return v end
    L.sleep(step or 0.02)
  end
end

-- The shim's JSON encoder (integers stay integers, floats stay floats), from a private copy.
function L.json_encoder(shim)
  local quiet = function() end
  local env = setmetatable({
    broker_log = { set_parameters = quiet, info = quiet, warning = quiet, error = quiet },
    broker = { bbdo_version = function() return "3.0.1" end },
  }, { __index = _G })
  assert(loadfile(shim, "t", env))()
  return env.centreon_pagerduty.json_encode
end

------------------------------------------------------------------------------
-- The daemon, as an unprivileged user (root ignores file modes), restarted like systemd.

local Daemon = {}
Daemon.__index = Daemon
L.Daemon = Daemon

-- opts: bin, dir (owned by the user), log, config(variant) -> path, user ("nobody"), group
function L.daemon(opts)
  local d = setmetatable({ bin = opts.bin, dir = opts.dir, log = opts.log, config = opts.config,
    n = 0, pid = nil, starts = 0, kills = 0, exits = {}, variant = "normal",
    user = opts.user or "" }, Daemon)
  -- as root: setpriv to the unprivileged user (and its primary group); else as ourselves
  d.as_user = d.user ~= "" and string.format("setpriv --reuid=%s --regid=%s --clear-groups ",
    d.user, L.sh("id -gn " .. L.q(d.user))) or ""
  return d
end

function Daemon:start()
  assert(not self.pid, "daemon already running")
  self.n = self.n + 1
  local pidf = string.format("%s/pid.%d", self.dir, self.n)
  local exitf = string.format("%s/exit.%d", self.dir, self.n)
  local config = self.config(self.variant)
  os.execute(string.format("(%s%s run -c %s >>%s 2>&1 & echo $! >%s; wait $!; echo $? >%s) >/dev/null 2>&1 &",
    self.as_user, L.q(self.bin), L.q(config), L.q(self.log), L.q(pidf), L.q(exitf)))
  -- the file exists as soon as the shell opens it for the redirection: wait for the number
  L.wait_until(function() return tonumber(L.read(pidf) or "") ~= nil end, 5, 0.005)
  self.pid = tonumber(L.read(pidf) or "")
  assert(self.pid, "daemon did not start")
  self.exitf, self.started_at, self.frozen = exitf, L.gettime(), false
  self.starts = self.starts + 1
  return self.pid
end

-- nil while running, else its exit status.
function Daemon:exit_status()
  if not self.exitf then return nil end
  local s = L.read(self.exitf)
  return s and tonumber(s:match("%d+"))
end

function Daemon:running() return self.pid ~= nil and self:exit_status() == nil end

function Daemon:signal(sig)
  if self.pid then os.execute(string.format("kill -%s %d 2>/dev/null", sig, self.pid)) end
end

function Daemon:kill()
  if not self.pid then return nil end
  self:signal("KILL")
  L.wait_until(function() return self:exit_status() ~= nil end, 5, 0.005)
  local status = self:exit_status()
  self.pid, self.frozen = nil, false
  self.kills = self.kills + 1
  return status
end

function Daemon:stop(grace)
  if not self.pid then return nil end
  self:signal("CONT")
  self:signal("TERM")
  if not L.wait_until(function() return self:exit_status() ~= nil end, grace or 20, 0.02) then
    self:signal("KILL")
    L.wait_until(function() return self:exit_status() ~= nil end, 5, 0.02)
  end
  local status = self:exit_status()
  self.pid, self.frozen = nil, false
  return status
end

function Daemon:freeze() self:signal("STOP"); self.frozen = true end
function Daemon:thaw() self:signal("CONT"); self.frozen = false end

-- Whether the daemon answers HTTP on its socket (any answer).
function Daemon:answers(socket_path)
  local unix = require("socket.unix")
  local s = unix()
  s:settimeout(1)
  if not s:connect(socket_path) then s:close(); return false end
  s:send("GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
  local line = s:receive("*l")
  s:close()
  return line ~= nil and line:match("^HTTP/1%.%d %d+") ~= nil
end

-- A CLI command as the daemon's user (never creates root-owned files in the spool).
function Daemon:cli(args)
  return L.sh(string.format("%s%s -c %s %s 2>&1", self.as_user, L.q(self.bin), L.q(self.config("normal")), args))
end

------------------------------------------------------------------------------
-- The mock PagerDuty (chaos/mock_pagerduty.py)

local Mock = {}
Mock.__index = Mock

-- `extra`: more arguments, already quoted (chaos/run's acknowledgement sync: --sync ...).
function L.mock(dir, script, extra)
  local m = setmetatable({ records = dir .. "/pagerduty.ndjson", control = dir .. "/pagerduty.json",
    portfile = dir .. "/pagerduty.port", pidfile = dir .. "/pagerduty.pid" }, Mock)
  L.write_atomic(m.control, '{"mode":"ok"}')
  os.execute(string.format("python3 %s %s --control %s --portfile %s --pidfile %s%s >>%s 2>&1 &",
    L.q(script), L.q(m.records), L.q(m.control), L.q(m.portfile), L.q(m.pidfile),
    extra and (" " .. extra) or "", L.q(dir .. "/pagerduty.log")))
  if not L.wait_until(function() return L.exists(m.portfile) and L.exists(m.pidfile) end, 15) then
    error("mock PagerDuty did not start: " .. (L.read(dir .. "/pagerduty.log") or ""))
  end
  m.port = tonumber(L.read(m.portfile))
  m.pid = tonumber(L.read(m.pidfile))
  return m
end

function Mock:set(json_text) L.write_atomic(self.control, json_text) end

function Mock:count()
  local n = 0
  local f = io.open(self.records, "rb")
  if not f then return 0 end
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

function Mock:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    L.wait_until(function()
      local stat = L.read("/proc/" .. self.pid .. "/stat")
      return not stat or stat:match("^%d+ %b() Z")
    end, 5)
    self.pid = nil
  end
end

------------------------------------------------------------------------------
-- The Broker emulator for long runs: events are counted instead of measured with `#`, and
-- acknowledged ones are dropped from memory (the emulator keeps every event otherwise).

function L.broker(Emulator, opts)
  local emu = Emulator.new(opts)
  emu.count, emu.trimmed = 0, 0
  function emu:publish(ev)
    self.count = self.count + 1
    self.queue[self.count] = ev
  end
  function emu:has_event() return self.cursor <= self.count and not self:blocked() end
  function emu:pending() return self.count - self.head + 1 end
  function emu:trim()
    for i = self.trimmed + 1, self.head - 1 do self.queue[i] = nil end
    if self.head - 1 > self.trimmed then self.trimmed = self.head - 1 end
    if #self.written > 10000 then self.written = {} end
  end
  return emu
end

-- Shim log records of the current session, counted by kind; the list is emptied as it is read.
function L.drain_shim_log(emu, counts, keep)
  local records = emu.log and emu.log.records
  if not records or #records == 0 then return end
  for _, r in ipairs(records) do
    counts[r.kind] = (counts[r.kind] or 0) + 1
    if keep and (r.kind == "error" or r.kind == "warning") and #keep < 200 then
      keep[#keep + 1] = string.format("%.3f %s %s", L.gettime(), r.kind, r.text)
    end
  end
  emu.log.records = {}
end

function L.percentile(sorted, p)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

return L
