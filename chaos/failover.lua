--[[
The failover run's driver (called by chaos/failover; see chaos/README-chaos.md, "Failover").

Centreon-HA (DESIGN §4.7): two central nodes, A and B, each with its own cbd (a Broker
emulator with the REAL shim, shim/tests/emulator.lua), its own REAL daemon, spool directory and
socket; one mock PagerDuty. The generator's stream (chaos/gen.lua: the pollers) goes to the
active node's Broker:

  A active ── PagerDuty 503 ── daemon A SIGKILLed ── (pacemaker notices) ── failover: B active
     ── PagerDuty back ── (B drains) ── failback: A active again, its spool idle > resync_after

Broker's retention (--retention):
  node    (default, what cbd does) each node's cbd keeps its own retention: the events A's cbd
          got from the pollers but never saw acknowledged by the shim stay in A's retention
          (memory written to A's local /var/lib/centreon-broker at cbd's stop) and are replayed
          to daemon A when A's cbd starts again, at the failback: old events after the truth
          moved on. The pollers send B only what A's cbd never received.
  shared  one retention for both nodes: the same emulated Broker output, its `socket`
          parameter switched to B's daemon (a stop, then a start: it replays to B what A never
          acknowledged) and back to A at the failback.

Under pacemaker the daemon's unit is not restarted by systemd (pacemaker's drop-in sets
Restart=no): a SIGKILLed daemon stays down until the cluster notices (`detect` seconds) and
moves the group: A's cbd stops (its last flush() fails: the daemon is gone), B's daemon starts,
then B's cbd. At the failback B's cbd stops (last flush), B's daemon gets SIGTERM, A's daemon
starts on its old spool, then A's cbd.

Writes into the work directory what chaos/failover_check.py needs:
  events.ndjson     every event the pollers sent, once, in order, with its `_cache` (the truth)
  downtimes.ndjson  the generator's ground truth of downtimes (by line of events.ndjson)
  phases.json       each phase: wall time, events.ndjson line, what each Broker held
  faults.ndjson     each action as done; driver.json: figures
  a/, b/            each daemon's directory: spool/, run/broker.sock, daemon.log
  a-status.json, a-dead_letters.json, b-status.json, b-dead_letters.json
  pagerduty.ndjson  every request PagerDuty received

usage: lua5.4 chaos/failover.lua dir=WORK seed=N mode=reduced|full bin=PATH [shim=PATH]
       [retention=node|shared] [user=nobody]
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
local SEED = assert(math.tointeger(tonumber(A.seed)), "seed= missing")
local MODE = A.mode or "reduced"
local BIN = assert(A.bin, "bin= missing")
local SHIM = A.shim or (ROOT .. "/shim/centreon-pagerduty.lua")
local USER = A.user or ""
local RETENTION = A.retention or "node"
assert(RETENTION == "node" or RETENTION == "shared", "retention= node or shared")
local encode = L.json_encoder(SHIM)

-- Wall-time plan (seconds from the start). resync_after stands for the "days later" of a real
-- failover: the failback comes much more than resync_after after A's last ingest.
local PROFILES = {
  reduced = {
    rate = 200, hosts = 100, services_per_host = 10, p_fail = 0.07,
    pd_down = 15, kill = { 22, 30 }, detect = { 3, 6 }, pd_up = 48, failback = 80, load = 110,
    drain = 45, resync_after = "3s",
    delivery = { backoff_min = "250ms", backoff_max = "5s", throttle_min = "1s", throttle_max = "8s",
                 collapse_after = "15s" },
  },
  full = {
    rate = 100, hosts = 100, services_per_host = 10, p_fail = 0.07,
    pd_down = 60, kill = { 90, 150 }, detect = { 10, 30 }, pd_up = 300, failback = 480, load = 600,
    drain = 180, resync_after = "30s",
    delivery = { backoff_min = "500ms", backoff_max = "30s", throttle_min = "2s", throttle_max = "30s",
                 collapse_after = "60s" },
  },
}
local P = assert(PROFILES[MODE], "unknown mode " .. MODE)
local rng = Gen.rng(SEED * 7919 + 101)
local function between(r) return r[1] + rng:next() * (r[2] - r[1]) end
local T_KILL = between(P.kill)
local T_FAILOVER = T_KILL + between(P.detect)

local SHIM_TIMEOUT_MS = 2000
local ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"

------------------------------------------------------------------------------
-- Records

local events_out = assert(io.open(WORK .. "/events.ndjson", "wb"))
local downtimes_out = assert(io.open(WORK .. "/downtimes.ndjson", "wb"))
local faults_out = assert(io.open(WORK .. "/faults.ndjson", "wb"))
local t_start = gettime()
local function log(kind, extra)
  local e = extra or {}
  e.kind, e.t, e.at = kind, gettime() - t_start, gettime()
  faults_out:write(encode(e), "\n")
  faults_out:flush()
  io.stderr:write(string.format("# %7.1fs %s\n", e.t, kind))
end

------------------------------------------------------------------------------
-- The mock PagerDuty and the two nodes' daemons

local mock = L.mock(WORK, HERE .. "/mock_pagerduty.py")

local function node(name)
  local dir = WORK .. "/" .. name
  os.execute(string.format("mkdir -p %s/spool %s/run && chmod 0750 %s/spool", L.q(dir), L.q(dir), L.q(dir)))
  if USER ~= "" then os.execute(string.format("chown -R %s:$(id -gn %s) %s", L.q(USER), L.q(USER), L.q(dir))) end
  os.execute("chmod 0755 " .. L.q(dir))
  local n = { name = name, dir = dir, sock = dir .. "/run/broker.sock", spool = dir .. "/spool" }
  local d = P.delivery
  local text = table.concat({
    "[pagerduty]",
    string.format('routing_key = "%s"', ROUTING_KEY),
    string.format('url = "http://127.0.0.1:%d/v2/enqueue"', mock.port),
    'timeout = "2s"',
    "rate_limit_per_minute = 60000",
    "[listen]",
    string.format('socket = "%s"', n.sock),
    'socket_group = ""',
    "[spool]",
    string.format('dir = "%s"', n.spool),
    'max_size = "256MiB"',
    'min_free = "16MiB"',
    "[delivery]",
    string.format('backoff_min = "%s"', d.backoff_min),
    string.format('backoff_max = "%s"', d.backoff_max),
    string.format('throttle_min = "%s"', d.throttle_min),
    string.format('throttle_max = "%s"', d.throttle_max),
    string.format('collapse_after = "%s"', d.collapse_after),
    "[ha]",
    string.format('resync_after = "%s"', P.resync_after),
    "cluster = true",  -- as the README's pacemaker instructions set it
    "[log]",
    'level = "info"',
    "",
  }, "\n")
  local config = string.format("%s/config-%s.toml", WORK, name)
  L.write(config, text)
  os.execute("chmod 0644 " .. L.q(config))
  n.daemon = L.daemon({ bin = BIN, dir = dir, log = dir .. "/daemon.log", user = USER,
                        config = function() return config end })
  return n
end
local nodes = { a = node("a"), b = node("b") }
-- the oracle's configuration: the same rules (check.py reads config-normal.toml)
os.execute(string.format("cp %s %s", L.q(WORK .. "/config-a.toml"), L.q(WORK .. "/config-normal.toml")))

local function start_daemon(n)
  n.daemon:start()
  local ok = L.wait_until(function() return n.daemon:answers(n.sock) end, 30, 0.05)
  log("daemon_start", { node = n.name, pid = n.daemon.pid, answers = ok })
end

------------------------------------------------------------------------------
-- Brokers: one per node (retention=node) or one whose socket is switched (retention=shared)

local gen = Gen.new({ seed = SEED, hosts = P.hosts, services_per_host = P.services_per_host, p_fail = P.p_fail,
                      t0 = math.floor(gettime()), rate = P.rate, engine_restarts = {} })
local calls = { n = 0, max = 0, over = 0 }
local BOUND = SHIM_TIMEOUT_MS / 1000 + tonumber(os.getenv("CHAOS_STALL_TOLERANCE") or "0.25")
local function broker_for(sock)
  local emu = L.broker(Emulator, {
    shim = SHIM, cache = gen.cache, real_clock = true, bbdo_version = "3.0.1",
    conf = { socket = sock, timeout = SHIM_TIMEOUT_MS, retry_interval = 1, log_level = 3 },
  })
  emu.on_call = function(_, wall)
    calls.n = calls.n + 1
    if wall > calls.max then calls.max = wall end
    if wall > BOUND then calls.over = calls.over + 1 end
  end
  return emu
end
local brokers = {}
if RETENTION == "node" then
  brokers.a, brokers.b = broker_for(nodes.a.sock), broker_for(nodes.b.sock)
else
  brokers.a = broker_for(nodes.a.sock)
  brokers.b = brokers.a
end

local active = nil -- the node whose cbd runs
local shim_counts, shim_problems = {}, {}
local function held(emu) return emu.count - emu.head + 1 end

local published = 0
local function publish(ev)
  published = published + 1
  brokers[active.name]:publish(ev)
  local copy = {}
  for k, v in pairs(ev) do copy[k] = v end
  copy._cache = Gen.cache_of(gen.cache, ev)
  events_out:write(encode(copy), "\n")
  local m = gen.marks[ev]
  if m then
    gen.marks[ev] = nil
    downtimes_out:write(encode({ line = published, host_id = m.host_id, service_id = m.service_id,
                                 running = m.running, why = m.why }), "\n")
  end
end

local function broker_turn(emu)
  emu.now = gettime()
  if emu:has_event() then
    local n = 0
    while emu:has_event() and n < 300 do
      emu:deliver()
      n = n + 1
    end
    return
  end
  if emu.written_since_flush or emu.now >= emu.next_flush then emu:flush() end
  sleep(0.1)
end

-- cbd stops (pacemaker): its last flush(), then the Lua state is dropped; what the shim did not
-- acknowledge stays in that Broker's retention.
local function stop_cbd(emu, why)
  L.drain_shim_log(emu, shim_counts, shim_problems)
  emu:stop()
  L.drain_shim_log(emu, shim_counts, shim_problems)
  log("cbd_stop", { why = why, held = held(emu), acknowledged = emu.acked, published_to_it = emu.count })
end

------------------------------------------------------------------------------
-- Run

local phases = { seed = SEED, mode = MODE, retention = RETENTION, resync_after = P.resync_after, plan = {
  pd_down = P.pd_down, kill = T_KILL, failover = T_FAILOVER, pd_up = P.pd_up, failback = P.failback,
  load = P.load } }
local function phase(name, extra)
  local p = extra or {}
  p.t, p.at, p.line = gettime() - t_start, gettime(), published
  p.a_held, p.b_held = held(brokers.a), held(brokers.b)
  phases[name] = p
  log(name, p)
end

io.stderr:write(string.format("# failover %s, seed %d, retention %s: kill at %.1fs, failover at %.1fs, "
  .. "failback at %ds, work dir %s\n", MODE, SEED, RETENTION, T_KILL, T_FAILOVER, P.failback, WORK))
start_daemon(nodes.a)
active = nodes.a
brokers.a:start()
for _, ev in ipairs(gen:warmup()) do publish(ev) end
phase("start")

local step, last_trim, restart_at = 0, gettime(), nil
local stage = "a" -- a, a_killed, b, a_again
local unexpected_exits = {}
local function supervise(now)
  for _, n in pairs(nodes) do
    local d = n.daemon
    if d.pid and d:exit_status() ~= nil then
      local status = d:exit_status()
      d.pid = nil
      unexpected_exits[#unexpected_exits + 1] = { node = n.name, t = now - t_start, status = status }
      log("daemon_exited", { node = n.name, exit_status = status })
      if n == active then restart_at = now + 2 end -- pacemaker recovers it in place
    end
  end
  if restart_at and now >= restart_at and not active.daemon.pid then
    restart_at = nil
    start_daemon(active)
  end
end

while true do
  local now = gettime()
  local elapsed = now - t_start
  if elapsed >= P.load then break end
  if elapsed >= P.pd_down and not phases.pd_down then
    mock:set('{"mode":"status","status":503}')
    phase("pd_down")
  end
  if stage == "a" and elapsed >= T_KILL then
    local status = nodes.a.daemon:kill()
    phase("kill_a", { exit_status = status })
    stage = "a_killed"
  end
  if stage == "a_killed" and elapsed >= T_FAILOVER then
    stop_cbd(brokers.a, "failover: the group moves to B")
    start_daemon(nodes.b)
    active = nodes.b
    if RETENTION == "shared" then brokers.b.conf.socket = nodes.b.sock end
    brokers.b:start()
    -- what A's cbd held (lines acknowledged+1 .. failover): retention=node, replayed to A at the
    -- failback; retention=shared, replayed to B now
    phase("failover", { acknowledged = brokers.a.acked })
    stage = "b"
  end
  if elapsed >= P.pd_up and phases.pd_down and not phases.pd_up then
    mock:set('{"mode":"ok"}')
    phase("pd_up")
  end
  if stage == "b" and elapsed >= P.failback then
    stop_cbd(brokers.b, "failback: the group moves to A")
    local status = nodes.b.daemon:stop(20)
    -- what B leaves in its spool (read-only, the daemon is stopped): undelivered until B is active again
    L.write(WORK .. "/b-status-at-stop.json", nodes.b.daemon:cli("status --json") .. "\n")
    log("daemon_stop", { node = "b", exit_status = status })
    start_daemon(nodes.a)
    active = nodes.a
    if RETENTION == "shared" then brokers.a.conf.socket = nodes.a.sock end
    brokers.a:start()
    phase("failback", { b_stop_status = status, a_replays = held(brokers.a) })
    stage = "a_again"
  end
  supervise(now)
  local due = math.floor(elapsed * P.rate)
  while step < due do
    step = step + 1
    for _, ev in ipairs(gen:step(step)) do publish(ev) end
  end
  broker_turn(brokers[active.name]) -- A's cbd runs on after the kill, until pacemaker moves the group
  if now - last_trim > 1 then
    for _, emu in pairs(brokers) do emu:trim() end
    L.drain_shim_log(brokers[active.name], shim_counts, shim_problems)
    events_out:flush()
    downtimes_out:flush()
    last_trim = now
  end
end
events_out:close()
downtimes_out:close()
phase("load_end", { acknowledged = brokers.a.acked })

-- Drain: Broker A runs until every event it holds is acknowledged and A's queue is empty.
mock:set('{"mode":"ok"}')
local emu = brokers.a
local load_end = gettime()
local drained, last_poll, last_count, stable_since = false, 0, -1, gettime()
while gettime() - load_end < P.drain do
  local now = gettime()
  supervise(now)
  broker_turn(emu)
  if now - last_poll >= 1 then
    last_poll = now
    emu:trim()
    L.drain_shim_log(emu, shim_counts, shim_problems)
    local count = mock:count()
    if count ~= last_count then last_count, stable_since = count, now end
    if held(emu) == 0 and nodes.a.daemon.pid then
      local pending = tonumber(nodes.a.daemon:cli("status --json"):match('"pending"%s*:%s*(%d+)'))
      if pending == 0 and now - stable_since >= 2 then drained = true; break end
    end
  end
end
phase("drain_end", { drained = drained, seconds = gettime() - load_end })

for _, n in pairs(nodes) do
  L.write(string.format("%s/%s-status.json", WORK, n.name), n.daemon:cli("status --json") .. "\n")
  L.write(string.format("%s/%s-dead_letters.json", WORK, n.name), n.daemon:cli("dead-letters list --json") .. "\n")
end
stop_cbd(emu, "end")
local stop_status = nodes.a.daemon:stop(30)
log("daemon_stop", { node = "a", exit_status = stop_status })
mock:stop()
L.write(WORK .. "/phases.json", encode(phases) .. "\n")

local report = {
  seed = SEED, mode = MODE, retention = RETENTION, rate = P.rate, steps = step, resources = #gen.all,
  published = published, drained = drained, wall_seconds = gettime() - t_start,
  a = { published_to_it = brokers.a.count, acknowledged = brokers.a.acked, held = held(brokers.a),
        sessions = brokers.a.sessions, writes = brokers.a.stats.writes, lua_errors = brokers.a.stats.errors,
        starts = nodes.a.daemon.starts },
  b = { published_to_it = brokers.b.count, acknowledged = brokers.b.acked, held = held(brokers.b),
        sessions = brokers.b.sessions, writes = brokers.b.stats.writes, lua_errors = brokers.b.stats.errors,
        starts = nodes.b.daemon.starts },
  calls = calls, shim_timeout_ms = SHIM_TIMEOUT_MS, shim_log = shim_counts, shim_problems = shim_problems,
  unexpected_exits = unexpected_exits, generator = gen.stats, delivery = P.delivery, lua = _VERSION,
}
L.write(WORK .. "/driver.json", encode(report) .. "\n")
io.stderr:write(string.format("# driver done: %d events published, drained=%s\n", published, tostring(drained)))
os.exit(0)
