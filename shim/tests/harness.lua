-- Minimal test harness for the shim tests: H.test(name, fn), assertions,
-- temporary directories, fixtures, and the daemon the shim posts to.
--
-- Daemon: by default each test starts tests/fake_daemon.py on a private socket.
-- With SHIM_TEST_SOCKET=/path/to/broker.sock the tests use that daemon instead
-- (e.g. the real `centreon-pagerduty run -c CONFIG`); tests that need to control
-- the daemon's answers or to read what it received are then skipped.
local socket = require("socket")

local H = {}
H.DIR = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "."
package.path = H.DIR .. "/?.lua;" .. package.path
H.SHIM = os.getenv("SHIM_PATH") or (H.DIR .. "/../centreon-pagerduty.lua")
-- One copy of the fixtures, the Rust tests' (tests/fixtures at the repository's root).
H.FIXTURES = H.DIR .. "/../../tests/fixtures"
H.json = require("json")
H.Emulator = require("emulator")
H.Emulator.default_shim = H.SHIM
H.gettime = socket.gettime
H.sleep = socket.sleep

local tests = {}
local cleanups = {}
local SKIP = setmetatable({}, { __tostring = function() return "skip" end })

function H.test(name, fn) tests[#tests + 1] = { name = name, fn = fn } end
function H.defer(fn) cleanups[#cleanups + 1] = fn end
function H.skip(reason) error({ [SKIP] = true, reason = reason }, 0) end

------------------------------------------------------------------------------
-- Assertions

local function show(v)
  if type(v) == "string" then
    if #v > 200 then v = v:sub(1, 200) .. "..." end
    return string.format("%q", v)
  end
  if type(v) == "number" then return tostring(v) .. " (" .. math.type(v) .. ")" end
  return tostring(v)
end
H.show = show

function H.ok(cond, msg)
  if not cond then error((msg or "assertion failed"), 2) end
  return cond
end

function H.eq(actual, expected, msg)
  if actual ~= expected or math.type(actual) ~= math.type(expected) then
    error(string.format("%sexpected %s, got %s", msg and (msg .. ": ") or "", show(expected), show(actual)), 2)
  end
end

-- Deep equality; numbers must agree in value and in integer/float subtype.
-- Returns nil when equal, else a description of the first difference.
function H.diff(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then return path .. ": " .. show(a) .. " vs " .. show(b) end
  if type(a) == "number" then
    if a ~= b or math.type(a) ~= math.type(b) then return path .. ": " .. show(a) .. " vs " .. show(b) end
    return nil
  end
  if type(a) ~= "table" then
    if a ~= b then return path .. ": " .. show(a) .. " vs " .. show(b) end
    return nil
  end
  for k, v in pairs(a) do
    local d = H.diff(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k, v in pairs(b) do
    if a[k] == nil then return path .. "." .. tostring(k) .. ": missing, expected " .. show(v) end
  end
  return nil
end

function H.deep_eq(actual, expected, msg)
  local d = H.diff(actual, expected)
  if d then error((msg and (msg .. ": ") or "") .. d, 2) end
end

------------------------------------------------------------------------------
-- Files

function H.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end

function H.tmpdir()
  local dir = H.sh("mktemp -d /tmp/cpd-shim.XXXXXX")
  H.defer(function() os.execute("rm -rf '" .. dir .. "'") end)
  return dir
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

function H.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function H.exists(path) return H.read(path) ~= nil end

function H.fixture(scenario)
  local dir = H.FIXTURES .. "/" .. scenario
  return {
    events = H.json.decode_lines(assert(H.read(dir .. "/events.ndjson"))),
    shim = H.json.decode_lines(assert(H.read(dir .. "/shim.ndjson"))),
    cache = H.json.decode(assert(H.read(dir .. "/cache.json"))),
  }
end

-- tests/fixtures/normaliser-fields.txt: element → { field = true } (the `*` line's fields in each),
-- what the shim sends of an event of that element (besides its _cache, listed there too).
function H.normaliser_fields()
  local text = assert(H.read(H.FIXTURES .. "/normaliser-fields.txt"))
  local common, by_element = {}, {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^%s*#") and line:match("%S") then
      local head, rest = line:match("^%s*(%S+)%s+(.-)%s*$")
      local fields = {}
      for f in rest:gmatch("%S+") do fields[#fields + 1] = f end
      if head == "*" then
        for _, f in ipairs(fields) do common[f] = true end
      else
        for pair in head:gmatch("[^,]+") do
          local category, element = pair:match("^(%d+):(%d+)$")
          assert(category == "1", "not a NEB element: " .. pair)
          local set = by_element[tonumber(element)] or {}
          by_element[tonumber(element)] = set
          for _, f in ipairs(fields) do set[f] = true end
        end
      end
    end
  end
  for _, set in pairs(by_element) do
    for f in pairs(common) do set[f] = true end
  end
  return by_element
end

-- A decoded event with only the fields the shim sends of its element (a copy).
function H.sent_fields(ev, fields)
  fields = fields or H.normaliser_fields()
  local kept = fields[ev.element]
  if not kept then return H.Emulator.deep_copy(ev) end
  local out = {}
  for k, v in pairs(ev) do
    if kept[k] then out[k] = H.Emulator.deep_copy(v) end
  end
  return out
end

------------------------------------------------------------------------------
-- The daemon

local Daemon = {}
Daemon.__index = Daemon

-- A fake daemon on a private socket (not started when opts.start == false), or
-- the external daemon of SHIM_TEST_SOCKET (the test is skipped if it needs to
-- control the daemon: opts.need_control, or opts.start == false).
function H.daemon(opts)
  opts = opts or {}
  local external = os.getenv("SHIM_TEST_SOCKET")
  if external and external ~= "" then
    if opts.need_control or opts.start == false then H.skip("needs the fake daemon (SHIM_TEST_SOCKET is set)") end
    return setmetatable({ socket = external, external = true, controllable = false }, Daemon)
  end
  local dir = H.tmpdir()
  local d = setmetatable({
    dir = dir, socket = dir .. "/broker.sock", records = dir .. "/records",
    control = dir .. "/control.json", pidfile = dir .. "/daemon.pid", controllable = true, seen = 0,
  }, Daemon)
  d:set({})
  H.defer(function() d:stop() end)
  if opts.start ~= false then d:start() end
  return d
end

function Daemon:start()
  if self.external then return end
  os.remove(self.pidfile)
  os.execute(string.format(
    "python3 '%s/fake_daemon.py' '%s' '%s' --control '%s' --pidfile '%s' >>'%s/daemon.log' 2>&1 &",
    H.DIR, self.socket, self.records, self.control, self.pidfile, self.dir))
  local deadline = socket.gettime() + 10
  while not H.exists(self.pidfile) do
    if socket.gettime() > deadline then
      error("fake daemon did not start: " .. (H.read(self.dir .. "/daemon.log") or ""))
    end
    socket.sleep(0.01)
  end
  self.pid = tonumber(H.read(self.pidfile))
end

function Daemon:stop()
  if self.external or not self.pid then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  local deadline = socket.gettime() + 5
  -- gone, or a zombie waiting for its reaper (its parent shell has exited)
  while socket.gettime() < deadline do
    local stat = H.read("/proc/" .. self.pid .. "/stat")
    if not stat or stat:match("^%d+ %b() Z") then break end
    socket.sleep(0.01)
  end
  self.pid = nil
end

-- conf: {status=200, delay=0, action="answer"|"close"|"hang"|"hang_noread"}
function Daemon:set(conf)
  if self.external then H.skip("needs the fake daemon") end
  local parts = {}
  for k, v in pairs(conf) do
    parts[#parts + 1] = string.format("%q:%s", k, type(v) == "string" and string.format("%q", v) or tostring(v))
  end
  H.write(self.control, "{" .. table.concat(parts, ",") .. "}")
end

-- Every request received so far: {head=, body=, lines={decoded...}, done=}
function Daemon:requests()
  if self.external then H.skip("needs the fake daemon to read requests") end
  local out = {}
  for i = 1, 1e6 do
    local id = string.format("%s/%06d", self.records, i)
    local head = H.read(id .. ".head")
    if not head then break end
    local body = H.read(id .. ".body")
    out[i] = { head = head, body = body, done = H.read(id .. ".done"),
               lines = body and H.json.decode_lines(body) or {} }
  end
  return out
end

-- Requests received since the previous call of new_requests().
function Daemon:new_requests()
  local all = self:requests()
  local out = {}
  for i = self.seen + 1, #all do out[#out + 1] = all[i] end
  self.seen = #all
  return out
end

-- All event lines posted (and answered 200) so far, decoded, in order.
function Daemon:accepted_lines()
  local out = {}
  for _, r in ipairs(self:requests()) do
    if r.done and r.done:match("^answer 200") then
      for _, l in ipairs(r.lines) do out[#out + 1] = l end
    end
  end
  return out
end

------------------------------------------------------------------------------
-- Emulator with the shim, fast settings by default

function H.emulator(opts)
  opts = opts or {}
  local conf = { timeout = 500, retry_interval = 1, max_buffer_age = 1 }
  for k, v in pairs(opts.conf or {}) do conf[k] = v end
  opts.conf = conf
  return H.Emulator.new(opts)
end

-- A synthetic BBDO v3 service status.
function H.service_status(host_id, service_id, n, extra)
  local ev = { _type = 65565, category = 1, element = 29, host_id = host_id, service_id = service_id,
               state = 0, state_type = 1, check_attempt = 1, last_check = 1781000000 + n,
               output = "OK - check " .. n, long_output = "", perfdata = "time=" .. n .. "s",
               execution_time = 0.25, latency = 0.5, flapping = false, scheduled_downtime_depth = 0,
               acknowledgement_type = 0, checked = true, type = 0, internal_id = 0, seq = n }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

-- The `seq` of each line (the synthetic events carry their number there).
function H.seqs(lines)
  local out = {}
  for _, l in ipairs(lines) do out[#out + 1] = l.seq end
  return out
end

-- { a, a + 1, ..., b }.
function H.range(a, b)
  local t = {}
  for i = a, b do t[#t + 1] = i end
  return t
end

------------------------------------------------------------------------------

function H.run()
  local passed, failed, skipped = 0, 0, 0
  local only = os.getenv("SHIM_TEST_ONLY")
  local label = _VERSION:gsub("Lua ", "lua")
  local file = (arg and arg[0] or "?"):match("[^/]*$")
  for _, t in ipairs(tests) do
    if not only or t.name:find(only, 1, true) then
      local started = socket.gettime()
      local ok, err = xpcall(t.fn, function(e)
        if type(e) == "table" and e[SKIP] then return e end
        return debug.traceback(tostring(e), 2)
      end)
      for i = #cleanups, 1, -1 do pcall(cleanups[i]) end
      cleanups = {}
      local took = string.format("%.2fs", socket.gettime() - started)
      if ok then
        passed = passed + 1
        print(string.format("ok      %s %s: %s (%s)", label, file, t.name, took))
      elseif type(err) == "table" and err[SKIP] then
        skipped = skipped + 1
        print(string.format("skip    %s %s: %s: %s", label, file, t.name, err.reason))
      else
        failed = failed + 1
        print(string.format("not ok  %s %s: %s (%s)\n%s", label, file, t.name, took,
                            tostring(err):gsub("\n", "\n        ")))
      end
    end
  end
  print(string.format("# result %d %d %d", passed, failed, skipped))
  os.exit(failed == 0 and 0 or 1)
end

return H
