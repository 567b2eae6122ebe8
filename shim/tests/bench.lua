--[[
Benchmark: the cost the shim adds to Broker's output thread (run by bench.sh).

  lua bench.lua shim SOCKET BATCH [EVENTS]   the shim, max_buffer_size BATCH, posting to the
                                             daemon on SOCKET: EVENTS (default 20000) steady-state
                                             BBDO v2 service statuses after one untimed warm-up round
  lua bench.lua old URL [EVENTS]             EMULATION of the old connectors' way: one blocking
                                             HTTP POST (luasocket socket.http) per event to URL
  lua bench.lua encode [EVENTS]              the shim's write() path without any I/O (enrich + encode +
                                             buffer + urgency test), for profiling
  lua bench.lua urgency [EVENTS]             the urgency test alone (the shim's is_urgent, reached through
                                             debug.getupvalue) over EVENTS (default 500) events of the
                                             workload, 2 million calls: the events stay in the CPU cache,
                                             as in write(), where the encoder has just read every field

Workload (shim, encode, urgency modes), from the environment:
  BENCH_CHANGES=0.01   that fraction of the events are HARD state changes (OK <-> CRITICAL, alternately,
                       of 50 other services on 5 other hosts): each can change what PagerDuty hears, so
                       the shim posts it at once; default 0: steady statuses only
  BENCH_RATE=1000      the shim's clock (max_buffer_age, the pacing of urgent POSTs) advances 1/RATE s per
                       event written: Broker handing over RATE events a second; default: the real clock

What is timed is only the calls Broker's output thread makes into the Lua code:
write() for every event, then flush() until it returns true (urgency mode: is_urgent() per
event). CPU time is os.clock() (this process), wall time is socket.gettime(). Events are
generated before timing (in Broker, building the event table is Broker's own cost). One line:
  RESULT mode=... lua=... batch=... events=... changes=... cpu_us=... wall_us=... posts=...
         sev_calls=... cache_calls=...   (urgency mode: ns=... per event)
posts: the POSTs made (counted from the shim's debug log line "posted N events").
sev_calls and cache_calls: broker_cache:get_severity() calls, and all broker_cache calls, per
event written (timed part only).

broker_cache costs what Broker's costs where it matters (measured in a real cbd 25.05, see
tests/fixtures/real-broker-25.05/README.md): get_severity() for a resource without a severity
throws and catches a C++ exception in Broker, about 2 µs (BENCH_SEVERITY_US, default 2: 12 % of
a ~33 µs/event shim thread for two calls per service event), burnt here as CPU; get_host() and
get_service() build a table of some 80 fields at every call, as Broker's create_as_table does.
]]
local socket = require("socket")
local gettime = socket.gettime
local DIR = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "."
local SHIM = os.getenv("SHIM_PATH") or (DIR .. "/../centreon-pagerduty.lua")

local mode = arg[1]
local HOSTS, SERVICES_PER_HOST = 50, 10 -- 500 services, like fixtures/steady_10k
local CHANGES = tonumber(os.getenv("BENCH_CHANGES") or "0") or 0
local RATE = tonumber(os.getenv("BENCH_RATE") or "")
local ALERTING_HOSTS = 5 -- 50 services that change state (BENCH_CHANGES)

------------------------------------------------------------------------------
-- broker_cache and broker_log as Broker gives them (cheap lookups; groups are new
-- tables at every call, as Broker builds them)

local GROUPS = { "Linux", "Web", "Databases", "Storage", "Network" }
local HOSTNAME, DESCRIPTION = {}, {}
for h = 40000, 40000 + HOSTS + ALERTING_HOSTS - 1 do HOSTNAME[h] = string.format("steady-node-%04d", h - 40000) end
for s = 60000, 60000 + (HOSTS + ALERTING_HOSTS) * SERVICES_PER_HOST - 1 do
  DESCRIPTION[s] = string.format("Disk-/data%05d", s - 60000)
end

-- CPU burnt by get_severity() for a resource without a severity: a calibrated busy loop.
local SEVERITY_US = tonumber(os.getenv("BENCH_SEVERITY_US") or "2") or 2
local spin_per_us
do
  local n, c0 = 0, os.clock()
  repeat
    for _ = 1, 10000 do n = n + 1 end
  until os.clock() - c0 >= 0.02
  spin_per_us = n / ((os.clock() - c0) * 1e6)
end
local SEVERITY_SPIN = math.floor(SEVERITY_US * spin_per_us)
local function burn()
  local x = 0
  for _ = 1, SEVERITY_SPIN do x = x + 1 end
  return x
end

-- A definition as get_host()/get_service() answer it: ~80 fields, a new table per call.
local DEFINITION_FIELDS = {}
for i = 1, 70 do DEFINITION_FIELDS[i] = "field_" .. i end
local function answer_definition(fields)
  local t = {}
  for i = 1, 70 do t[DEFINITION_FIELDS[i]] = i end
  for k, v in pairs(fields) do t[k] = v end
  return t
end

local calls = { all = 0, get_severity = 0, posts = 0 }
local cache = {}
function cache:get_hostname(h) calls.all = calls.all + 1; return HOSTNAME[h] end
function cache:get_service_description(_, s) calls.all = calls.all + 1; return DESCRIPTION[s] end
function cache:get_hostgroups(h)
  calls.all = calls.all + 1
  return { { group_id = 90 + h % 5, group_name = GROUPS[h % 5 + 1] } }
end
function cache:get_servicegroups() calls.all = calls.all + 1; return {} end
function cache:get_severity()
  calls.all, calls.get_severity = calls.all + 1, calls.get_severity + 1
  burn()
  return nil
end
function cache:get_notes_url() calls.all = calls.all + 1; return nil end
function cache:get_action_url() calls.all = calls.all + 1; return nil end
function cache:get_instance_name(id) calls.all = calls.all + 1; return id == 1 and "Central" or nil end
function cache:get_host(h)
  calls.all = calls.all + 1
  return answer_definition({ host_id = h, name = HOSTNAME[h], instance_id = 1, address = "10.0.0.1",
                             alias = HOSTNAME[h], notify = true, max_check_attempts = 3 })
end
function cache:get_service(h, s)
  calls.all = calls.all + 1
  return answer_definition({ host_id = h, service_id = s, description = DESCRIPTION[s], notify = true,
                             max_check_attempts = 3 })
end
local log = {}
function log:set_parameters() end
function log:info(_, text)
  if text:find("] posted ", 1, true) then calls.posts = calls.posts + 1 end
end
function log:warning() end
function log:error(_, text) if os.getenv("BENCH_VERBOSE") then io.stderr:write("shim error: ", text, "\n") end end

-- The shim's clock with BENCH_RATE: advanced by tick() at each event written.
local clock = { now = 1781000000.0 }
local tick
if RATE then
  local step = 1 / RATE
  tick = function() clock.now = clock.now + step end
end

local function load_shim(conf)
  local env = setmetatable({ broker = { bbdo_version = function() return "2.0.0" end },
                             broker_log = log, broker_cache = cache }, { __index = _G })
  if RATE then env.CENTREON_PAGERDUTY_NOW = function() return clock.now end end
  assert(loadfile(SHIM, "t", env))()
  env.init(conf or {})
  return env
end

------------------------------------------------------------------------------
-- Steady-state BBDO v2 service statuses (the fields of fixtures/steady_10k, ~920 bytes
-- of JSON, ~1030 with the _cache the shim adds): all OK, only times and perfdata move.

local T0 = 1781000000
local function service_status(i, round)
  local h = 40000 + (i - 1) // SERVICES_PER_HOST
  local s = 60000 + i - 1
  local t = T0 + round * 300 + i % 300
  local used = 30 + (i * 7 + round * 3) % 40
  return {
    _type = 65560, category = 1, element = 24, acknowledged = false, acknowledgement_type = 0,
    active_checks = true, check_interval = 5.0, check_period = "24x7", check_type = 0, check_attempt = 1,
    state = 0, scheduled_downtime_depth = 0, enabled = true, event_handler = "", event_handler_enabled = true,
    execution_time = 0.5 + (i % 1000) / 997, flap_detection = true, checked = true, host_id = h,
    flapping = false, last_check = t, last_hard_state = 0, last_state_change = T0, last_time_ok = t,
    last_update = t, latency = (i % 200) / 1000, max_check_attempts = 3, next_check = t + 300,
    no_more_notifications = false, notification_number = 0, notify = true, obsess_over_service = true,
    passive_checks = false, percent_state_change = 0.0, retry_interval = 1.0, should_be_scheduled = true,
    state_type = 1, check_command = "generic-active-service",
    output = string.format("OK - /data%05d used %d%%\n", i - 1, used),
    perfdata = string.format("used=%d%%;80;90;0;100 size=500GB", used), service_id = s,
  }
end

-- With BENCH_CHANGES: every 1/CHANGES-th event is a HARD change of one of the alerting
-- services (i beyond the steady ones), toggling OK <-> CRITICAL, as Engine reports it (the new
-- state in last_hard_state, both change times = last_check).
local alert_state = {}
local function change(j, t)
  local i = HOSTS * SERVICES_PER_HOST + j
  local ev = service_status(i, 0)
  local state = alert_state[j] == 2 and 0 or 2
  alert_state[j] = state
  ev.state, ev.last_hard_state, ev.last_check, ev.last_update = state, state, t, t
  ev.last_hard_state_change, ev.last_state_change = t, t
  ev.output = (state == 0 and "OK" or "CRITICAL") .. string.format(" - /data%05d\n", i - 1)
  return ev
end

local function generate(n, first_round)
  local events, services = {}, HOSTS * SERVICES_PER_HOST
  local every = CHANGES > 0 and math.max(1, math.floor(1 / CHANGES + 0.5)) or nil
  local changed, steady = 0, 0
  for k = 1, n do
    if every and k % every == 0 then
      changed = changed + 1
      events[k] = change((changed - 1) % (ALERTING_HOSTS * SERVICES_PER_HOST) + 1, T0 + first_round * 300 + k)
    else
      local round = first_round + steady // services
      events[k] = service_status(steady % services + 1, round)
      steady = steady + 1
    end
  end
  return events
end

-- Every alerting service seen OK once (the warm-up: their first change is not a first sight).
local function alerting_ok()
  local events = {}
  for j = 1, ALERTING_HOSTS * SERVICES_PER_HOST do
    local ev = service_status(HOSTS * SERVICES_PER_HOST + j, 0)
    events[j] = ev
    alert_state[j] = 0
  end
  return events
end

local function report(fields)
  local keys = { "mode", "lua", "batch", "events", "changes", "cpu_us", "wall_us", "ns", "posts", "sev_calls",
                 "cache_calls", "note" }
  local out = { "RESULT" }
  for _, k in ipairs(keys) do
    if fields[k] ~= nil then
      local v = fields[k]
      if type(v) == "number" and math.type(v) == "float" then v = string.format("%.2f", v) end
      out[#out + 1] = k .. "=" .. tostring(v)
    end
  end
  print(table.concat(out, " "))
end

local LUA = _VERSION:gsub("Lua ", "")

-- broker_cache calls per event since `since` (a copy of `calls`).
local function calls_per_event(since, n)
  return (calls.get_severity - since.get_severity) / n, (calls.all - since.all) / n
end
local function snapshot() return { all = calls.all, get_severity = calls.get_severity } end

-- Times write() of every event then flush() until true. Returns cpu, wall (seconds).
local function timed_run(env, events)
  local write, flush = env.write, env.flush
  collectgarbage()
  collectgarbage()
  local c0, w0 = os.clock(), gettime()
  if tick then
    for i = 1, #events do tick(); write(events[i]) end
  else
    for i = 1, #events do write(events[i]) end
  end
  local tries = 0
  while not flush() do
    tries = tries + 1
    if tries > 1000 then error("flush() never returned true: is the daemon up?") end
  end
  return os.clock() - c0, gettime() - w0
end

------------------------------------------------------------------------------

if mode == "shim" then
  local path, batch, n = arg[2], math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4] or 20000))
  assert(path and batch and n, "usage: bench.lua shim SOCKET BATCH [EVENTS]")
  -- warm-up round, untimed, by another shim instance: the daemon sees every service once
  local warm = load_shim({ socket = path, max_buffer_size = 1000, timeout = 5000 })
  local saved_changes = CHANGES
  CHANGES = 0
  for _, ev in ipairs(generate(HOSTS * SERVICES_PER_HOST, 0)) do warm.write(ev) end
  CHANGES = saved_changes
  for _, ev in ipairs(alerting_ok()) do warm.write(ev) end
  assert(warm.flush(), "warm-up: the daemon did not answer")
  local env = load_shim({ socket = path, max_buffer_size = batch, max_buffer_age = 1, timeout = 5000,
                          retry_interval = 1, log_level = 1 })
  local events = generate(n, 1)
  local since = snapshot()
  local posts = calls.posts
  local cpu, wall = timed_run(env, events)
  local sev, all = calls_per_event(since, n)
  assert(env.centreon_pagerduty.buffered() == 0)
  report({ mode = "shim", lua = LUA, batch = batch, events = n, changes = CHANGES, cpu_us = cpu / n * 1e6,
           wall_us = wall / n * 1e6, posts = calls.posts - posts, sev_calls = sev, cache_calls = all })

elseif mode == "encode" then
  local n = math.tointeger(tonumber(arg[2] or 20000))
  -- a socket nobody listens on and a long retry window: write() never posts
  local env = load_shim({ socket = "/nonexistent/bench.sock", max_buffer_size = 1e9,
                          max_batch_bytes = 16 * 1024 * 1024, retry_interval = 3600 })
  local events = generate(n, 1)
  local write = env.write
  collectgarbage()
  collectgarbage()
  local since = snapshot()
  local c0, w0 = os.clock(), gettime()
  for i = 1, n do write(events[i]) end
  local cpu, wall = os.clock() - c0, gettime() - w0
  local sev, all = calls_per_event(since, n)
  local count, bytes = env.centreon_pagerduty.buffered()
  report({ mode = "encode", lua = LUA, batch = "-", events = n, changes = CHANGES, cpu_us = cpu / n * 1e6,
           wall_us = wall / n * 1e6, sev_calls = sev, cache_calls = all,
           note = string.format("%d-bytes/event", bytes // count) })

elseif mode == "urgency" then
  -- is_urgent(), found among the upvalues of write() -> do_write()
  local n = math.tointeger(tonumber(arg[2] or 500))
  local env = load_shim({ socket = "/nonexistent/bench.sock", retry_interval = 3600 })
  local function upvalue(f, name)
    for i = 1, 255 do
      local k, v = debug.getupvalue(f, i)
      if k == nil then return nil end
      if k == name then return v end
    end
  end
  local do_write = upvalue(env.write, "do_write")
  local is_urgent = do_write and upvalue(do_write, "is_urgent")
  if not is_urgent then
    report({ mode = "urgency", lua = LUA, batch = "-", events = n, changes = CHANGES, note = "no-urgency-test" })
    os.exit(0)
  end
  local events = generate(n, 1)
  local urgent = 0
  for i = 1, n do if is_urgent(events[i]) then urgent = urgent + 1 end end -- warm-up, and the count
  local rounds = math.max(1, 2000000 // n)
  collectgarbage()
  collectgarbage()
  local c0 = os.clock()
  for _ = 1, rounds do
    for i = 1, n do is_urgent(events[i]) end
  end
  local cpu = os.clock() - c0
  report({ mode = "urgency", lua = LUA, batch = "-", events = n * rounds, changes = CHANGES,
           ns = cpu / (n * rounds) * 1e9, note = string.format("%d-urgent-of-%d", urgent, n) })

elseif mode == "old" then
  -- EMULATION of the old connectors (reference/centreon-broker.md §3): every event becomes
  -- a PagerDuty event built from the Broker event and broker_cache, JSON-encoded, and
  -- POSTed at once with a blocking HTTP client; the next event waits for the answer.
  local url, n = arg[2], math.tointeger(tonumber(arg[3] or 20000))
  assert(url and n, "usage: bench.lua old URL [EVENTS]")
  local http = require("socket.http")
  local ltn12 = require("ltn12")
  local json_encode = load_shim({ socket = "/nonexistent", retry_interval = 3600 }).centreon_pagerduty.json_encode
  local STATES = { [0] = "OK", "WARNING", "CRITICAL", "UNKNOWN" }
  local function post_alert(ev)
    local host = cache:get_hostname(ev.host_id)
    local service = cache:get_service_description(ev.host_id, ev.service_id)
    local groups = {}
    for _, g in ipairs(cache:get_hostgroups(ev.host_id)) do groups[#groups + 1] = g.group_name end
    local output = ev.output:match("^[^\n]*")
    local body = json_encode({
      routing_key = "R0UT1NGKEY0000000000000000000001", event_action = "trigger",
      dedup_key = ev.host_id .. "_" .. ev.service_id,
      payload = { summary = host .. "/" .. service .. ": " .. STATES[ev.state] .. " - " .. output,
                  source = host, severity = "info", timestamp = os.date("!%Y-%m-%dT%H:%M:%SZ", ev.last_check),
                  component = service, group = table.concat(groups, ", "), class = "service",
                  custom_details = { Output = output, Hostgroups = table.concat(groups, ", "),
                                     perfdata = ev.perfdata } },
      links = { { href = "https://centreon.example.com/centreon/main.php?p=20201&o=svcd&host_name=" .. host ..
                  "&service_description=" .. service, text = "Link to Centreon service" } },
      client = "Centreon", client_url = "https://centreon.example.com",
    })
    local answer = {}
    local ok, code = http.request({
      url = url, method = "POST",
      headers = { ["content-type"] = "application/json", ["content-length"] = tostring(#body) },
      source = ltn12.source.string(body), sink = ltn12.sink.table(answer),
    })
    if ok == nil or code ~= 202 then error("POST failed: " .. tostring(code)) end
    return true
  end
  local env = { write = post_alert, flush = function() return true end }
  local events = generate(n, 1)
  local cpu, wall = timed_run(env, events)
  report({ mode = "old-emulation", lua = LUA, batch = 1, events = n, cpu_us = cpu / n * 1e6,
           wall_us = wall / n * 1e6, posts = n })

else
  io.stderr:write("usage: lua bench.lua shim SOCKET BATCH [EVENTS] | old URL [EVENTS] | encode [EVENTS]" ..
                  " | urgency [EVENTS]\n")
  os.exit(2)
end
