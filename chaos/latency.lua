--[[
End-to-end latency benchmark (called by chaos/latency; see chaos/BENCHMARKS-latency.md):
from the shim's write() of a status that pages to the mock PagerDuty receiving the event.

A steady background of HARD OK statuses (`background` events/s over 1,000 services, each
checked once a second) plus `alert_rate` HARD state changes per second (100 other services
toggling OK <-> CRITICAL with max_check_attempts 1: every change is an alert, a trigger or a
resolve), BBDO v2 and v3 mixed, through the REAL shim in the Broker emulator to the REAL
daemon and on to the mock PagerDuty. The shim runs with its defaults (socket apart); the
daemon with its defaults apart from url, socket and spool paths (and rate_limit_per_minute
when asked).

broker=idle: Broker's output thread idles when nothing is readable (flush(), then 100 ms),
as the emulator does; broker=busy: it never idles, so only write() posts (an urgent event at
once, steady ones when max_buffer_age or max_buffer_size say so): the worst case for latency.

usage: lua5.4 chaos/latency.lua dir=WORK bin=PATH alerts=2000 alert_rate=20 background=1000
         broker=idle|busy [rate_limit=N] [shim=PATH]
shim=PATH: another version of the shim (e.g. `git show REV:shim/centreon-pagerduty.lua`, to
compare before and after a change; BENCHMARKS.md, "End to end").
Writes WORK/alerts.ndjson (one line per alert: key, n, action, t_publish, t_write) and
WORK/run.json (with the write()/flush() calls over 10, 50 and 100 ms, and those over 20 ms:
when, which, how long); the mock's records are WORK/pagerduty.ndjson, the daemon's log WORK/daemon.log.
]]
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."
local ROOT = HERE .. "/.."
package.path = HERE .. "/?.lua;" .. ROOT .. "/shim/tests/?.lua;" .. package.path
local L = require("lib")
local Emulator = require("emulator")
local gettime, sleep = L.gettime, L.sleep

local A = L.args(arg)
local WORK = assert(A.dir)
local BIN = assert(A.bin)
local SHIM = A.shim or (ROOT .. "/shim/centreon-pagerduty.lua")
local ALERTS = tonumber(A.alerts or 2000)
local ALERT_RATE = tonumber(A.alert_rate or 20)
local BACKGROUND = tonumber(A.background or 1000)
local BROKER = A.broker or "idle"
local encode = L.json_encoder(SHIM)

local SOCK = WORK .. "/broker.sock"
local mock = L.mock(WORK, HERE .. "/mock_pagerduty.py")
local config = WORK .. "/centreon-pagerduty.toml"
L.write(config, table.concat({
  "[pagerduty]",
  'routing_key = "R0UT1NGKEY0000000000000000000001"',
  string.format('url = "http://127.0.0.1:%d/v2/enqueue"', mock.port),
  A.rate_limit and string.format("rate_limit_per_minute = %d", tonumber(A.rate_limit)) or "",
  "[listen]",
  string.format('socket = "%s"', SOCK),
  "[spool]",
  string.format('dir = "%s/spool"', WORK),
  "",
}, "\n"))
local daemon = L.daemon({ bin = BIN, dir = WORK, log = WORK .. "/daemon.log", config = function() return config end })
daemon:start()

local function main()
assert(L.wait_until(function() return daemon:answers(SOCK) end, 20, 0.05), "daemon not ready")

-- broker_cache: 100 hosts x 10 background services, 10 hosts x 10 alerting services
local cache = { instances = { ["1"] = "Central" }, hosts = {}, services = {} }
local background, alerting = {}, {}
for h = 1, 110 do
  local host_id = 3000 + h
  cache.hosts[tostring(host_id)] = { name = string.format("lat-host-%03d", h), instance_id = 1,
                                     hostgroups = { { group_id = 1, group_name = "Latency" } } }
  for s = 1, 10 do
    local service_id = (h - 1) * 10 + s
    cache.services[host_id .. ":" .. service_id] = { description = string.format("lat-svc-%04d", service_id) }
    local r = { host_id = host_id, service_id = service_id, state = 0, last_check = 0, changes = 0,
                key = host_id .. "_" .. service_id }
    if h <= 100 then background[#background + 1] = r else alerting[#alerting + 1] = r end
  end
end

local seq = 0
local function status(r, t)
  seq = seq + 1
  local last_check = math.max(r.last_check + 1, math.floor(t))
  r.last_check = last_check
  local out = (r.state == 0 and "OK: " or "CRITICAL: ") .. "value " .. (seq % 100)
  if seq % 2 == 0 then
    return { _type = 65565, category = 1, element = 29, host_id = r.host_id, service_id = r.service_id,
      checked = true, check_type = 0, state = r.state, state_type = 1, last_state_change = r.last_change or 0,
      last_hard_state = r.state, last_hard_state_change = r.last_change or 0, last_time_ok = last_check,
      last_time_warning = 0, last_time_critical = 0, last_time_unknown = 0, output = out, long_output = "",
      perfdata = "value=" .. (seq % 100) .. ";80;90;0;100", flapping = false, percent_state_change = 0.0,
      latency = 0.25, execution_time = 0.5, last_check = last_check, next_check = last_check + 60,
      should_be_scheduled = true, check_attempt = 1, notification_number = 0, no_more_notifications = false,
      last_notification = 0, next_notification = 0, acknowledgement_type = 0, scheduled_downtime_depth = 0,
      type = 0, internal_id = 0 }
  end
  local ev = { _type = 65560, category = 1, element = 24, acknowledged = false, acknowledgement_type = 0,
    active_checks = true, check_interval = 1.0, check_period = "24x7", check_type = 0, check_attempt = 1,
    state = r.state, scheduled_downtime_depth = 0, enabled = true, event_handler = "",
    event_handler_enabled = true, execution_time = 0.5, flap_detection = true, checked = true,
    host_id = r.host_id, flapping = false, last_check = last_check, last_hard_state = r.state,
    last_update = last_check, latency = 0.25, max_check_attempts = 1, next_check = last_check + 60,
    no_more_notifications = false, notification_number = 0, notify = true, obsess_over_service = true,
    passive_checks = false, percent_state_change = 0.0, retry_interval = 1.0, should_be_scheduled = true,
    state_type = 1, check_command = "generic-active-service", output = out .. "\n",
    perfdata = "value=" .. (seq % 100) .. ";80;90;0;100", service_id = r.service_id }
  if r.last_change then ev.last_hard_state_change, ev.last_state_change = r.last_change, r.last_change end
  return ev
end

local emu = L.broker(Emulator, { shim = SHIM, cache = cache, real_clock = true, bbdo_version = "3.0.1",
                                 conf = { socket = SOCK } })
local alert_at = {}       -- queue index -> alert record
local alerts_out = assert(io.open(WORK .. "/alerts.ndjson", "wb"))
local calls = { n = 0, max = 0, slow = {}, over = { [0.01] = 0, [0.05] = 0, [0.1] = 0 } }
emu.on_call = function(name, wall)
  calls.n = calls.n + 1
  if wall > calls.max then calls.max = wall end
  for limit, n in pairs(calls.over) do if wall > limit then calls.over[limit] = n + 1 end end
  -- the slow calls (a POST waiting for a slow commit): when, which, how long
  if wall > 0.02 and #calls.slow < 1000 then
    calls.slow[#calls.slow + 1] = { t = gettime() - wall, call = name, wall = wall }
  end
end

local function deliver()
  local index = emu.cursor
  local a = alert_at[index]
  local t = gettime()
  emu:deliver()
  if a then
    alert_at[index] = nil
    a.t_write = t
    alerts_out:write(encode(a), "\n")
  end
end

local function broker_turn()
  emu.now = gettime()
  if emu:has_event() then
    local n = 0
    while emu:has_event() and n < 300 do deliver(); n = n + 1 end
    return
  end
  if BROKER == "busy" then sleep(0.001); return end -- never idle: no flush()
  if emu.written_since_flush or emu.now >= emu.next_flush then emu:flush() end
  sleep(0.1)
end

emu:start()
-- warm-up: every service seen OK once (first sight), then 3 s of background
local t0 = gettime()
for _, r in ipairs(background) do emu:publish(status(r, t0 - 120)) end
for _, r in ipairs(alerting) do emu:publish(status(r, t0 - 120)) end
while gettime() - t0 < 3 do
  broker_turn()
end

local started = gettime()
local bg_done, al_done, bg_i, al_i = 0, 0, 0, 0
local per_key = {}
local total_seconds = ALERTS / ALERT_RATE
while al_done < ALERTS do
  local now = gettime()
  local el = now - started
  local bg_due = math.floor(el * BACKGROUND)
  while bg_done < bg_due do
    bg_done = bg_done + 1
    bg_i = bg_i % #background + 1
    emu:publish(status(background[bg_i], now))
  end
  local al_due = math.min(ALERTS, math.floor(el * ALERT_RATE))
  while al_done < al_due do
    al_done = al_done + 1
    al_i = al_i % #alerting + 1
    local r = alerting[al_i]
    r.state = r.state == 0 and 2 or 0
    r.last_change = math.max(r.last_check + 1, math.floor(now))
    local ev = status(r, now)
    per_key[r.key] = (per_key[r.key] or 0) + 1
    emu:publish(ev)
    -- t_publish: when the event reached Broker (its due time), not when this loop got to it
    alert_at[emu.count] = { key = r.key, n = per_key[r.key], action = r.state == 0 and "resolve" or "trigger",
                            last_check = ev.last_check, t_publish = started + al_done / ALERT_RATE }
  end
  broker_turn()
  if el > total_seconds + 60 then break end
end
local sent_at = gettime()
-- Broker goes on (background continues) until PagerDuty has every alert, or 120 s
local deadline = sent_at + 120
local last_count_check = 0
while gettime() < deadline do
  local now = gettime()
  local el = now - started
  local bg_due = math.floor(el * BACKGROUND)
  while bg_done < bg_due do
    bg_done = bg_done + 1
    bg_i = bg_i % #background + 1
    emu:publish(status(background[bg_i], now))
  end
  broker_turn()
  if now - last_count_check > 0.5 then
    last_count_check = now
    emu:trim()
    if mock:count() >= ALERTS then break end
  end
end
alerts_out:close()
emu:stop()
daemon:stop(30)
mock:stop()
L.write(WORK .. "/run.json", encode({
  alerts = ALERTS, alert_rate = ALERT_RATE, background = BACKGROUND, broker = BROKER,
  rate_limit = A.rate_limit and tonumber(A.rate_limit) or nil, background_events = bg_done,
  seconds = sent_at - started, max_call = calls.max, calls = calls.n, lua = _VERSION,
  calls_over_10ms = calls.over[0.01], calls_over_50ms = calls.over[0.05], calls_over_100ms = calls.over[0.1],
  slow_calls = calls.slow, shim = SHIM,
  acked = emu.acked, published = emu.count,
}) .. "\n")
end

-- whatever happens, stop what this run started
local ok, err = xpcall(main, debug.traceback)
daemon:stop(30)
mock:stop()
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
