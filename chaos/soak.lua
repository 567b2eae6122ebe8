--[[
The soak run's driver (called by chaos/soak; see chaos/README-chaos.md, "Soak").

A day of load, compressed to hours: service statuses at a steady rate (default 2,000/s) over
20,000 services (1,000 hosts), round robin (each service checked every services/rate seconds, as
Engine schedules checks), 1 % of them state changes (OK -> CRITICAL HARD -> OK: 5 % of the
services in a problem at any time, a problem lasting about 10 checks), through the REAL shim
inside the Broker emulator (shim/tests/emulator.lua) into the REAL daemon, on to the mock
PagerDuty, which answers 503 to 0.5 % of the requests and, now and then (every min(300 s,
max(60 s, duration/6))), 503 or 429 to every request for 10 s.

Every `interval` seconds a line of samples.csv: elapsed_s, rss_kb, spool_bytes, wal_bytes,
open_fds, lag_s (the daemon's oldest pending event's age, `status --json`), broker_lag_s (age
of the oldest event Broker still holds unacknowledged), pending, broker_backlog, events_sent
(statuses published to Broker), events_acked, pd_received (requests PagerDuty got), pd_taken
(2xx), pd_expected (PagerDuty events the statuses sent so far call for), fault (1 when a fault
window is open or ended less than 40 s ago), rate (statuses/s published in the interval).

expected.ndjson: every PagerDuty event the stream calls for (a trigger at each HARD change to
CRITICAL, first sight included; a resolve at each recovery), with the trigger's timestamp (the
check time). At the end: PagerDuty answers 202 again, Broker and the daemon drain.

usage: lua5.4 chaos/soak.lua dir=WORK bin=PATH seconds=N interval=S [rate=2000] [services=20000]
       [hosts=1000] [change=0.01] [seed=1] [drain=180] [shim=PATH] [user=nobody]
]]
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."
local ROOT = HERE .. "/.."
package.path = HERE .. "/?.lua;" .. ROOT .. "/shim/tests/?.lua;" .. package.path
local L = require("lib")
local Gen = require("gen")
local Emulator = require("emulator")
local gettime, sleep = L.gettime, L.sleep

local A = L.args(arg)
local WORK = assert(A.dir, "dir= missing")
local BIN = assert(A.bin, "bin= missing")
local SHIM = A.shim or (ROOT .. "/shim/centreon-pagerduty.lua")
local USER = A.user or ""
local DURATION = assert(tonumber(A.seconds), "seconds= missing")
local INTERVAL = tonumber(A.interval or "60")
local RATE = tonumber(A.rate or "2000")
local SERVICES = math.tointeger(tonumber(A.services or "20000"))
local HOSTS = math.tointeger(tonumber(A.hosts or "1000"))
local CHANGE = tonumber(A.change or "0.01")
local SEED = math.tointeger(tonumber(A.seed or "1"))
local DRAIN = tonumber(A.drain or "180")
local encode = L.json_encoder(SHIM)
local rng = Gen.rng(SEED)

-- The fraction of statuses that change state is 2pq/(p+q) (p: OK -> CRITICAL, q: back);
-- with 5 % of the services in a problem at equilibrium, q = 10 * CHANGE, p = q * 5/95.
local Q = 10 * CHANGE
local P = Q * 0.05 / 0.95
local PERIOD = SERVICES / RATE -- seconds between two checks of one service

------------------------------------------------------------------------------
-- Faults of the mock PagerDuty: 0.5 % 503s all along; windows of 503 or 429 for 10 s, every
-- min(300 s, max(60 s, duration/6)). A sample is marked `fault` from a window's start to 40 s after
-- its end: a 429 pauses the routing key for throttle_min (30 s) + jitter, a 503 backs keys off.

local FAULT_EVERY = math.min(300, math.max(60, DURATION / 6))
local FAULT_LEN = 10
local windows = {}
do
  local t, k = FAULT_EVERY / 2, 0
  while t + FAULT_LEN < DURATION do
    k = k + 1
    windows[#windows + 1] = { from = t, to = t + FAULT_LEN, status = (k % 2 == 1) and 503 or 429 }
    t = t + FAULT_EVERY
  end
end
local BASELINE = '{"mode":"flaky","seed":1,"weights":{"ok":995,"503":5}}'

------------------------------------------------------------------------------
-- The daemon and the mock

local DDIR = WORK .. "/daemon"
local SPOOL, SOCK = DDIR .. "/spool", DDIR .. "/run/broker.sock"
os.execute(string.format("mkdir -p %s/spool %s/run && chmod 0750 %s", L.q(DDIR), L.q(DDIR), L.q(SPOOL)))
if USER ~= "" then os.execute(string.format("chown -R %s:$(id -gn %s) %s", L.q(USER), L.q(USER), L.q(DDIR))) end
os.execute("chmod 0755 " .. L.q(DDIR))
local mock = L.mock(WORK, HERE .. "/mock_pagerduty.py")
mock:set(BASELINE)
local CONFIG = WORK .. "/config.toml"
L.write(CONFIG, table.concat({
  "[pagerduty]",
  'routing_key = "R0UT1NGKEY0000000000000000000001"',
  string.format('url = "http://127.0.0.1:%d/v2/enqueue"', mock.port),
  'timeout = "5s"',
  "rate_limit_per_minute = 60000 # the mock is not PagerDuty: the soak is about the daemon, not pacing",
  "[listen]",
  string.format('socket = "%s"', SOCK),
  'socket_group = ""',
  "[spool]",
  string.format('dir = "%s"', SPOOL),
  'min_free = "256MiB"',
  "[log]",
  'level = "info"',
  "",
}, "\n"))
os.execute("chmod 0644 " .. L.q(CONFIG))
local daemon = L.daemon({ bin = BIN, dir = DDIR, log = DDIR .. "/daemon.log", user = USER,
                          config = function() return CONFIG end })

------------------------------------------------------------------------------
-- The services, Broker's cache

local cache = { instances = { ["1"] = "Central" }, hosts = {}, services = {} }
local hid, sid, state, lhc, lsc, checks, keys = {}, {}, {}, {}, {}, {}, {}
local per_host = SERVICES // HOSTS
local t0 = math.floor(gettime())
for h = 1, HOSTS do
  local host_id = 2000 + h
  local name = string.format("soak-host-%04d", h)
  cache.hosts[tostring(host_id)] = { name = name, instance_id = 1,
    hostgroups = { { group_id = 1, group_name = "Soak" } }, notify = true, max_check_attempts = 1 }
  for s = 1, per_host do
    local i = (h - 1) * per_host + s
    hid[i], sid[i] = host_id, i
    cache.services[host_id .. ":" .. i] = { description = string.format("svc-%05d", i), host_name = name,
      notify = true, max_check_attempts = 1 }
    state[i], lhc[i], lsc[i], checks[i] = 0, t0 - 86400, t0 - 86400, 0
    keys[i] = host_id .. "_" .. i
  end
end
local N = #hid

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

local expected_out = assert(io.open(WORK .. "/expected.ndjson", "wb"))
local expected = 0

-- The status of service i checked at t (BBDO v3, as Engine 25.05 sends it).
local function check(i, t)
  local s = state[i]
  local first = checks[i] == 0
  checks[i] = checks[i] + 1
  local new = s
  if first then
    new = rng:chance(0.05) and 2 or 0
  elseif s == 0 then
    if rng:chance(P) then new = 2 end
  elseif rng:chance(Q) then
    new = 0
  end
  if new ~= s or (first and new ~= 0) then
    state[i], lhc[i], lsc[i] = new, t, t
    expected = expected + 1
    expected_out:write(string.format('{"k":"%s","a":"%s","ts":"%s"}\n', keys[i],
      new ~= 0 and "trigger" or "resolve", iso(t)))
  end
  local word = new == 0 and "OK" or "CRITICAL"
  return {
    _type = 65565, category = 1, element = 29, host_id = hid[i], service_id = sid[i], checked = true,
    check_type = 0, state = new, state_type = 1, last_state_change = lsc[i], last_hard_state = new,
    last_hard_state_change = lhc[i], output = string.format("%s: svc-%05d check #%d", word, i, checks[i]),
    long_output = "", perfdata = string.format("value=%d;80;90;0;100", new == 0 and 42 or 95),
    flapping = false, percent_state_change = 0.0, latency = 0.1, execution_time = 0.05, last_check = t,
    next_check = t + math.ceil(PERIOD), should_be_scheduled = true, check_attempt = 1,
    notification_number = 0, no_more_notifications = false, last_notification = 0,
    acknowledgement_type = 0, scheduled_downtime_depth = 0, last_time_ok = new == 0 and t or 0,
    last_time_warning = 0, last_time_critical = new ~= 0 and t or 0, last_time_unknown = 0,
    next_notification = 0, type = 0, internal_id = 0,
  }
end

------------------------------------------------------------------------------
-- Broker

local emu = L.broker(Emulator, {
  shim = SHIM, cache = cache, real_clock = true, bbdo_version = "3.0.1",
  conf = { socket = SOCK, timeout = 2000, retry_interval = 1, log_level = 1 },
})
local pubtime = {}
local calls = { n = 0, max = 0, over = 0 }
emu.on_call = function(_, wall)
  calls.n = calls.n + 1
  if wall > calls.max then calls.max = wall end
  if wall > 2.25 then calls.over = calls.over + 1 end
end
local shim_counts, shim_problems = {}, {}

local function broker_turn()
  emu.now = gettime()
  if emu:has_event() then
    local n = 0
    while emu:has_event() and n < 500 do
      emu:deliver()
      n = n + 1
    end
    return
  end
  if emu.written_since_flush or emu.now >= emu.next_flush then emu:flush() end
  sleep(0.02) -- Broker naps 100 ms when idle; a shorter nap keeps the generator's clock even
end

------------------------------------------------------------------------------
-- Samples

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

local function rss_kb(pid)
  local s = L.read("/proc/" .. pid .. "/status") or ""
  return tonumber(s:match("VmRSS:%s*(%d+)")) or 0
end

local function open_fds(pid)
  return tonumber(L.sh("ls /proc/" .. pid .. "/fd 2>/dev/null | wc -l")) or 0
end

local function taken()
  local n = 0
  local f = io.open(mock.records, "rb")
  if not f then return 0, 0 end
  local total = 0
  for line in f:lines() do
    total = total + 1
    if line:find('"processed":true', 1, true) then n = n + 1 end
  end
  f:close()
  return total, n
end

local csv = assert(io.open(WORK .. "/samples.csv", "wb"))
csv:write("elapsed_s,rss_kb,spool_bytes,wal_bytes,open_fds,lag_s,broker_lag_s,pending,broker_backlog,"
  .. "events_sent,events_acked,pd_received,pd_taken,pd_expected,fault,rate\n")
local last_sample = { t = 0, sent = 0 }
local published = 0
local t_start
local function in_fault(elapsed)
  for _, w in ipairs(windows) do
    if elapsed >= w.from and elapsed < w.to + 40 then return 1 end
  end
  return 0
end
local function sample(now)
  local elapsed = now - t_start
  local pid = daemon.pid
  local st = daemon:cli("status --json")
  local lag = tonumber(st:match('"oldest_pending_age_seconds"%s*:%s*(%d+)')) or 0
  local pending = tonumber(st:match('"pending"%s*:%s*(%d+)')) or -1
  local held = emu.count - emu.head + 1
  local blag = held > 0 and pubtime[emu.head] and (now - pubtime[emu.head]) or 0
  local received, ok = taken()
  local rate = (published - last_sample.sent) / math.max(1e-3, elapsed - last_sample.t)
  csv:write(string.format("%.1f,%d,%d,%d,%d,%d,%.1f,%d,%d,%d,%d,%d,%d,%d,%d,%.0f\n", elapsed,
    pid and rss_kb(pid) or 0, file_size(SPOOL .. "/spool.db"), file_size(SPOOL .. "/spool.db-wal"),
    pid and open_fds(pid) or 0, lag, blag, pending, held, published, emu.acked, received, ok, expected,
    in_fault(elapsed), rate))
  csv:flush()
  expected_out:flush()
  last_sample.t, last_sample.sent = elapsed, published
  io.stderr:write(string.format("# %7.0fs rate %.0f/s backlog %d (%.1fs) pending %d lag %ds rss %d kB\n",
    elapsed, rate, held, blag, pending, lag, pid and rss_kb(pid) or 0))
end

------------------------------------------------------------------------------
-- Run

daemon:start()
L.wait_until(function() return daemon:answers(SOCK) end, 30, 0.05)
emu:start()
t_start = gettime()
io.stderr:write(string.format("# soak: %d s at %d statuses/s over %d services (each every %.1f s), %.1f %% changes, "
  .. "%d fault windows, work dir %s\n", DURATION, RATE, N, PERIOD, CHANGE * 100, #windows, WORK))
local step, next_sample, last_trim, wi, mode = 0, INTERVAL, gettime(), 1, "baseline"
local unexpected_exits = {}
local trimmed_pub = 1
while true do
  local now = gettime()
  local elapsed = now - t_start
  if elapsed >= DURATION then break end
  local w = windows[wi]
  if w and mode == "baseline" and elapsed >= w.from then
    mock:set(string.format('{"mode":"status","status":%d}', w.status))
    mode = "window"
  elseif w and mode == "window" and elapsed >= w.to then
    mock:set(BASELINE)
    mode, wi = "baseline", wi + 1
  end
  if daemon.pid and daemon:exit_status() ~= nil then -- systemd restarts it (none expected)
    unexpected_exits[#unexpected_exits + 1] = { t = elapsed, status = daemon:exit_status() }
    daemon.pid = nil
    daemon:start()
  end
  local due = math.floor(elapsed * RATE)
  while step < due do
    local i = step % N + 1
    step = step + 1
    published = published + 1
    pubtime[published] = now
    emu:publish(check(i, t0 + math.floor(step / RATE)))
  end
  broker_turn()
  if now - last_trim > 1 then
    local head = emu.head
    emu:trim()
    for k = trimmed_pub, head - 1 do pubtime[k] = nil end
    trimmed_pub = head
    L.drain_shim_log(emu, shim_counts, shim_problems)
    last_trim = now
  end
  if elapsed >= next_sample then
    sample(now)
    next_sample = next_sample + INTERVAL
  end
end
local load_seconds = gettime() - t_start

-- Drain: PagerDuty answers 202; Broker and the daemon empty their queues.
mock:set('{"mode":"ok"}')
local drain_start = gettime()
local drained, last_poll, last_count, stable_since = false, 0, -1, gettime()
while gettime() - drain_start < DRAIN do
  local now = gettime()
  broker_turn()
  if now - last_poll >= 1 then
    last_poll = now
    emu:trim()
    L.drain_shim_log(emu, shim_counts, shim_problems)
    local count = mock:count()
    if count ~= last_count then last_count, stable_since = count, now end
    if emu.acked == emu.count then
      local pending = tonumber(daemon:cli("status --json"):match('"pending"%s*:%s*(%d+)'))
      if pending == 0 and now - stable_since >= 2 then drained = true; break end
    end
  end
end
sample(gettime())
expected_out:close()
L.write(WORK .. "/status.json", daemon:cli("status --json") .. "\n")
L.write(WORK .. "/dead_letters.json", daemon:cli("dead-letters list --json") .. "\n")
emu:stop()
local stop_status = daemon:stop(30)
mock:stop()
csv:close()
L.write(WORK .. "/driver.json", encode({
  seconds = DURATION, load_seconds = load_seconds, interval = INTERVAL, rate = RATE, services = N, hosts = HOSTS,
  change = CHANGE, period = PERIOD, published = published, acknowledged = emu.acked, expected = expected,
  drained = drained, drain_seconds = gettime() - drain_start, achieved_rate = published / load_seconds,
  calls = calls, shim_log = shim_counts, shim_problems = shim_problems, lua_errors = emu.stats.errors,
  unexpected_exits = unexpected_exits, stop_status = stop_status, windows = windows, fault_len = FAULT_LEN,
  fault_every = FAULT_EVERY, lua = _VERSION,
}) .. "\n")
io.stderr:write(string.format("# soak driver done: %d statuses (%.0f/s), %d expected PagerDuty events, drained=%s\n",
  published, published / load_seconds, expected, tostring(drained)))
os.exit(0)
