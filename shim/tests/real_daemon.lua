--[[
End-to-end helpers: the REAL centreon-pagerduty daemon as a child process, with a
config in a temporary directory (socket and spool there too), delivering to a mock
PagerDuty (tests/mock_pagerduty.py on 127.0.0.1:<free port>).

  local R = require("real_daemon")
  local env = R.start({ delivery = {...}, pagerduty = {...}, alerts = {...} })
  env.socket                 the daemon's socket, for the shim's `socket` parameter
  env:stop() / env:start()   SIGTERM and wait / start again (same config and spool)
  env:freeze() / env:thaw()  SIGSTOP / SIGCONT
  env:mock_set{status=, delay=}
  env:pd_events()            every POST /v2/enqueue received: {status=, body=raw, event=decoded}
  env:wait_pd(n, timeout)    waits until at least n were received, returns them
  env:metrics()              the daemon's /metrics as {name_with_labels = number}

The binary is CENTREON_PAGERDUTY_BIN, else target/debug/centreon-pagerduty at the
repository root; without one, R.start() skips the test.
]]
local socket = require("socket")
local unix = require("socket.unix")
local H = require("harness")

local R = {}
R.ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"

function R.bin()
  local path = os.getenv("CENTREON_PAGERDUTY_BIN")
  if not path or path == "" then path = H.DIR .. "/../../target/debug/centreon-pagerduty" end
  local f = io.open(path, "rb")
  if f then
    f:close()
    return path
  end
  return nil, path
end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
R.sh_quote = sh_quote

local function alive(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() Z")
end
R.alive = alive

local function signal(pid, sig)
  if pid then os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null") end
end

-- Waits until `cond()` is true or `timeout` seconds pass. Returns cond()'s last value.
function R.wait_until(cond, timeout, step)
  local deadline = socket.gettime() + (timeout or 10)
  while true do
    local v = cond()
    if v or socket.gettime() > deadline then return v end
    socket.sleep(step or 0.02)
  end
end

-- One HTTP/1.1 request over a Unix socket. Returns status, body (or nil, error).
function R.http(path, method, target, body, timeout)
  local s = unix()
  s:settimeout(timeout or 5)
  local ok, err = s:connect(path)
  if not ok then s:close(); return nil, err end
  body = body or ""
  ok, err = s:send(method .. " " .. target .. " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" ..
                   "Content-Length: " .. #body .. "\r\n\r\n" .. body)
  if not ok then s:close(); return nil, err end
  local answer, e2, partial = s:receive("*a")
  s:close()
  answer = answer or partial
  if not answer or answer == "" then return nil, e2 end
  local status = tonumber(answer:match("^HTTP/1%.%d (%d+)"))
  local head_end = answer:find("\r\n\r\n", 1, true)
  local payload = head_end and answer:sub(head_end + 4) or ""
  if answer:lower():find("\r\ntransfer%-encoding: *chunked") then
    local out, i = {}, 1
    while true do
      local size_hex, nl = payload:match("^(%x+)[^\r\n]*\r\n()", i)
      local size = size_hex and tonumber(size_hex, 16)
      if not size or size == 0 then break end
      out[#out + 1] = payload:sub(nl, nl + size - 1)
      i = nl + size + 2
    end
    payload = table.concat(out)
  end
  return status, payload
end

------------------------------------------------------------------------------

local Env = {}
Env.__index = Env

local DEFAULT_DELIVERY = {
  backoff_min = "100ms", backoff_max = "1s", throttle_min = "200ms", throttle_max = "1s",
  config_probe = "500ms",
}

local function toml_value(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = toml_value(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  return tostring(v)
end

local function section(name, values, defaults)
  local merged = {}
  for k, v in pairs(defaults or {}) do merged[k] = v end
  for k, v in pairs(values or {}) do merged[k] = v end
  local keys = {}
  for k in pairs(merged) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = { "[" .. name .. "]" }
  for _, k in ipairs(keys) do out[#out + 1] = k .. " = " .. toml_value(merged[k]) end
  return table.concat(out, "\n") .. "\n"
end

-- opts: pagerduty, delivery, alerts, centreon, spool, log (tables of TOML keys),
-- start_daemon (default true), mock (default true)
function R.start(opts)
  opts = opts or {}
  local bin, tried = R.bin()
  if not bin then
    H.skip("no daemon binary at " .. tried .. " (cargo build -p centreon-pagerduty, or set CENTREON_PAGERDUTY_BIN)")
  end
  local dir
  if os.getenv("SHIM_E2E_KEEP") then -- keep the config, logs and records for a post-mortem
    dir = H.sh("mktemp -d /tmp/cpd-e2e.XXXXXX")
    io.stderr:write("# SHIM_E2E_KEEP: " .. dir .. "\n")
  else
    dir = H.tmpdir()
  end
  local env = setmetatable({
    bin = bin, dir = dir, socket = dir .. "/broker.sock", config = dir .. "/centreon-pagerduty.toml",
    log = dir .. "/daemon.log", records = dir .. "/pagerduty", control = dir .. "/pagerduty.json",
  }, Env)
  H.defer(function() env:cleanup() end)
  local pagerduty = { routing_key = R.ROUTING_KEY, rate_limit_per_minute = 60000, timeout = "2s" }
  if opts.mock ~= false then
    env:start_mock()
    pagerduty.url = "http://127.0.0.1:" .. env.port .. "/v2/enqueue"
  end
  H.write(env.config, table.concat({
    section("pagerduty", opts.pagerduty, pagerduty),
    section("listen", nil, { socket = env.socket, socket_group = "" }),
    section("spool", opts.spool, { dir = dir .. "/spool", max_size = "256MiB", min_free = "1MiB" }),
    section("centreon", opts.centreon, { url = "https://centreon.example.com" }),
    section("alerts", opts.alerts, {}),
    section("delivery", opts.delivery, DEFAULT_DELIVERY),
    section("log", opts.log, { level = "debug" }),
  }, "\n"))
  if opts.start_daemon ~= false then env:start() end
  return env
end

function Env:start_mock()
  H.write(self.control, "{}")
  local portfile, pidfile = self.dir .. "/pagerduty.port", self.dir .. "/pagerduty.pid"
  os.execute(string.format("python3 %s %s --portfile %s --pidfile %s --control %s >>%s 2>&1 &",
    sh_quote(H.DIR .. "/mock_pagerduty.py"), sh_quote(self.records), sh_quote(portfile),
    sh_quote(pidfile), sh_quote(self.control), sh_quote(self.dir .. "/pagerduty.log")))
  if not R.wait_until(function() return H.exists(pidfile) and H.exists(portfile) end, 10) then
    error("mock PagerDuty did not start: " .. (H.read(self.dir .. "/pagerduty.log") or ""))
  end
  self.mock_pid = tonumber(H.read(pidfile))
  self.port = tonumber(H.read(portfile))
end

-- conf: {status = 202, delay = seconds}
function Env:mock_set(conf)
  local parts = {}
  for k, v in pairs(conf) do parts[#parts + 1] = string.format("%q:%s", k, tostring(v)) end
  H.write(self.control, "{" .. table.concat(parts, ",") .. "}")
end

-- Starts the daemon and waits until it answers HTTP on its socket.
function Env:start()
  assert(not self.pid, "daemon already running")
  local pidfile = self.dir .. "/daemon.pid"
  os.remove(pidfile)
  os.execute(string.format("%s run -c %s >>%s 2>&1 & echo $! >%s",
    sh_quote(self.bin), sh_quote(self.config), sh_quote(self.log), sh_quote(pidfile)))
  self.pid = tonumber(H.read(pidfile))
  local ready = R.wait_until(function()
    if not alive(self.pid) then return "exited" end
    -- any HTTP answer: the server is up (a /v1/health of 503 is the daemon's business)
    return R.http(self.socket, "GET", "/v1/health", nil, 1) ~= nil
  end, 20)
  if ready ~= true then
    local why = ready == "exited" and "exited" or "not ready within 20 s"
    self:kill() -- never leave it behind
    error("daemon " .. why .. ":\n" .. (H.read(self.log) or ""))
  end
  self.starts = (self.starts or 0) + 1
end

-- SIGTERM, then waits for the exit (SIGKILL after `grace` seconds).
function Env:stop(grace)
  if not self.pid then return end
  signal(self.pid, "CONT")
  signal(self.pid, "TERM")
  if not R.wait_until(function() return not alive(self.pid) end, grace or 15) then
    signal(self.pid, "KILL")
    R.wait_until(function() return not alive(self.pid) end, 5)
  end
  self.pid = nil
end

function Env:kill()
  if not self.pid then return end
  signal(self.pid, "KILL")
  R.wait_until(function() return not alive(self.pid) end, 5)
  self.pid = nil
end

function Env:freeze() signal(self.pid, "STOP") end
function Env:thaw() signal(self.pid, "CONT") end

function Env:cleanup()
  if self.pid then
    signal(self.pid, "CONT")
    self:stop(5)
  end
  if self.mock_pid then
    signal(self.mock_pid, "TERM")
    R.wait_until(function() return not alive(self.mock_pid) end, 5)
    self.mock_pid = nil
  end
end

function Env:pd_count()
  return tonumber(H.read(self.records .. "/count") or "0") or 0
end

-- Every event received by the mock PagerDuty, in arrival order.
function Env:pd_events()
  local out = {}
  for i = 1, self:pd_count() do
    local base = string.format("%s/%06d", self.records, i)
    local body = assert(H.read(base .. ".body"))
    local meta = assert(H.read(base .. ".meta"))
    local ok, event = pcall(H.json.decode, body)
    out[i] = { status = tonumber(meta:match("^(%d+)")), body = body, event = ok and event or nil,
               error = not ok and event or nil }
  end
  return out
end

-- Waits until the mock received at least n events (error after `timeout` s), then
-- `quiet` seconds more to see whether anything else comes. Returns pd_events().
function Env:wait_pd(n, timeout, quiet)
  R.wait_until(function() return self:pd_count() >= n end, timeout or 15)
  if quiet and quiet > 0 then socket.sleep(quiet) end
  return self:pd_events()
end

-- /metrics as { ["name{labels}"] = value } (names without the centreon_pagerduty_ prefix).
function Env:metrics()
  local status, body = R.http(self.socket, "GET", "/metrics")
  if status ~= 200 then error("GET /metrics: " .. tostring(status) .. " " .. tostring(body)) end
  local m = {}
  for line in body:gmatch("[^\n]+") do
    local name, value = line:match("^centreon_pagerduty_(%S+) (%S+)$")
    if name then m[name] = tonumber(value) end
  end
  return m
end

function Env:daemon_log() return H.read(self.log) or "" end

------------------------------------------------------------------------------
-- Checks on what PagerDuty received

-- { dedup_key = { "trigger critical", "acknowledge", "resolve", ... } } in arrival order,
-- counting only the events that were answered 202.
function R.by_key(events)
  local keys = {}
  for _, e in ipairs(events) do
    if e.status == 202 and e.event then
      local ev = e.event
      local list = keys[ev.dedup_key] or {}
      keys[ev.dedup_key] = list
      local what = ev.event_action
      if what == "trigger" then what = what .. " " .. tostring(ev.payload and ev.payload.severity) end
      list[#list + 1] = what
    end
  end
  return keys
end

function R.show_keys(keys)
  local names = {}
  for k in pairs(keys) do names[#names + 1] = k end
  table.sort(names)
  local out = {}
  for _, k in ipairs(names) do out[#out + 1] = k .. ": " .. table.concat(keys[k], ", ") end
  return "{" .. table.concat(out, "; ") .. "}"
end

-- Fails unless PagerDuty received exactly `expected` ({key = {actions...}}), per key in order.
function R.check_keys(events, expected, context)
  local got = R.by_key(events)
  local d = H.diff(got, expected)
  if d then
    error(string.format("%sPagerDuty received %s, expected %s (%s)", context and (context .. ": ") or "",
      R.show_keys(got), R.show_keys(expected), d), 2)
  end
end

------------------------------------------------------------------------------
-- The fixtures' lifecycles and what PagerDuty must receive (fixtures/README.md, "Scenarios")

R.SCENARIOS = { "v2_service_lifecycle", "v2_host_lifecycle", "v3_service_host_lifecycle", "downtime_ack" }
R.EXPECTED = {
  v2_service_lifecycle = {
    ["101_2001"] = { "trigger warning", "trigger critical", "resolve" },
  },
  v2_host_lifecycle = {
    ["201_H"] = { "trigger critical", "resolve" },
    ["202_H"] = { "trigger error", "resolve" },
  },
  v3_service_host_lifecycle = {
    ["301_3001"] = { "trigger critical", "resolve" },
    ["301_3002"] = { "trigger error", "resolve" },
    ["301_H"] = { "trigger critical", "resolve" },
  },
  downtime_ack = {
    ["401_4001"] = { "trigger critical", "acknowledge", "resolve" },
    ["401_4002"] = { "trigger critical", "resolve" },
  },
}

function R.count(expected)
  local n = 0
  for _, list in pairs(expected) do n = n + #list end
  return n
end

-- The four lifecycles in one stream, round robin (each resource keeps its own order),
-- with one merged broker_cache. Returns events, cache, expected.
function R.mixed_lifecycles()
  local cache = { instances = {}, hosts = {}, services = {} }
  local streams, expected = {}, {}
  for _, scenario in ipairs(R.SCENARIOS) do
    local fx = H.fixture(scenario)
    for _, part in ipairs({ "instances", "hosts", "services" }) do
      for k, v in pairs(fx.cache[part]) do cache[part][k] = v end
    end
    for k, v in pairs(R.EXPECTED[scenario]) do expected[k] = v end
    streams[#streams + 1] = fx.events
  end
  local mixed = {}
  for i = 1, 1000 do
    local any = false
    for _, s in ipairs(streams) do
      if s[i] then mixed[#mixed + 1] = s[i]; any = true end
    end
    if not any then break end
  end
  return mixed, cache, expected
end

return R
