--[[
The chaos run's driver (called by chaos/run; see chaos/README-chaos.md).

A long stream of Broker events (chaos/gen.lua) goes through the REAL shim inside the Broker
emulator (shim/tests/emulator.lua: acknowledgement counter, retention, replays after a cbd
restart) to the REAL daemon (run as an unprivileged user) and on to a mock PagerDuty
(chaos/mock_pagerduty.py), while faults are injected on a seeded plan. The driver writes what
the checker (chaos/check.py) needs into the work directory:

  events.ndjson     every event Broker published, once, in order, as the shim posts it (with
                    its `_cache`): the input of the offline oracle (`centreon-pagerduty translate`)
  downtimes.ndjson  the generator's ground truth of downtimes, by line of events.ndjson: where a
                    resource's downtime starts running and where it ends (the depth drop after a
                    real end); and each Engine restart's lines
  plan.json         the fault plan; faults.ndjson: each fault action as it was done (times)
  driver.json       Broker/shim figures: events, acknowledgements, write()/flush() durations...
  status.json, dead_letters.json, incidents.json   the daemon's view at the end
  daemon/daemon.log the daemon's log (every start); pagerduty.ndjson: what PagerDuty received

usage: lua5.4 chaos/driver.lua dir=WORK seed=N mode=reduced|full bin=PATH [shim=PATH]
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
local BIN_REAL = L.sh("readlink -f " .. L.q(BIN))
local USER = A.user or ""
local encode = L.json_encoder(SHIM)

------------------------------------------------------------------------------
-- Profiles. Durations in seconds of wall time. PagerDuty fault windows never overlap each
-- other; the spool-full window rides on the long 503 outage; read-only windows and freezes
-- are placed apart from the spool-full window; kills, cbd restarts and crashes fall anywhere.

local PROFILES = {
  smoke = { -- a one-minute try of the harness itself (chaos/run does not offer it)
    load = 75, drain = 60, rate = 200, p_fail = 0.07, hosts = 100, services_per_host = 10,
    kills = 4, kill_window = { 5, 70 },
    pd = { { "outage", 1, 10, 10 }, { "storm429", 1, 3, 3 }, { "slow", 1, 3, 3 },
           { "close", 1, 3, 3 }, { "flaky", 1, 3, 3 } },
    lane_window = { 3, 73 }, spool_full_after = 8, spool_margin = 16 * 1024,
    readonly = { 1, 5, 5 }, freezes = { 1, 3, 3 }, stutters = { 0, 8, 8 }, diskfull = { 1, 20, 20 },
    cbd_restarts = 1, cbd_crashes = 1, cbd_window = { 10, 70 }, engine_restarts = 1,
    delivery = { backoff_min = "250ms", backoff_max = "3s", throttle_min = "1s", throttle_max = "4s",
                 collapse_after = "8s" },
  },
  reduced = {
    load = 180, drain = 90, rate = 200, p_fail = 0.07, hosts = 100, services_per_host = 10,
    kills = 10, kill_window = { 8, 170 },
    pd = { { "outage", 1, 20, 20 }, { "storm429", 1, 8, 8 }, { "slow", 1, 8, 8 },
           { "close", 1, 8, 8 }, { "flaky", 1, 10, 10 } },
    lane_window = { 6, 176 },
    spool_full_after = 20,           -- the spool-full window ends this long after the outage
    spool_margin = 48 * 1024,        -- max_size = bytes in use when the window opens + this
    readonly = { 1, 12, 12 }, freezes = { 2, 3, 5 }, stutters = { 1, 10, 10 }, diskfull = { 1, 20, 20 },
    cbd_restarts = 2, cbd_crashes = 2, cbd_window = { 15, 170 }, engine_restarts = 4,
    delivery = { backoff_min = "250ms", backoff_max = "5s", throttle_min = "1s", throttle_max = "8s",
                 collapse_after = "15s" },
    sync = { ack_share = 0.2, ack_delay = { 2, 8 }, centreon_down = { 1, 20, 20 }, window = { 30, 150 } },
  },
  full = {
    load = 2400, drain = 600, rate = 100, hosts = 100, services_per_host = 10,
    kills = 60, kill_window = { 20, 2370 },
    pd = { { "outage", 1, 240, 240 }, { "storm429", 3, 45, 75 }, { "slow", 2, 45, 75 },
           { "close", 2, 30, 60 }, { "flaky", 3, 60, 120 } },
    lane_window = { 40, 2350 },
    spool_full_after = 120,
    spool_margin = 256 * 1024,
    readonly = { 2, 45, 75 }, freezes = { 6, 5, 30 }, stutters = { 3, 20, 40 }, diskfull = { 2, 30, 60 },
    cbd_restarts = 6, cbd_crashes = 3, cbd_window = { 60, 2350 }, engine_restarts = 15,
    delivery = { backoff_min = "500ms", backoff_max = "30s", throttle_min = "2s", throttle_max = "30s",
                 collapse_after = "60s" },
    sync = { ack_share = 0.2, ack_delay = { 2, 20 }, centreon_down = { 3, 30, 90 }, window = { 100, 2300 } },
  },
}
local P = assert(PROFILES[MODE], "unknown mode " .. MODE)
if A.load then P.load = tonumber(A.load) end -- for trying the harness itself (short runs)

local SHIM_TIMEOUT_MS = 2000 -- the shim's default
local STALL_TOLERANCE = tonumber(os.getenv("CHAOS_STALL_TOLERANCE") or "0.25")
local PD_TIMEOUT = "2s"
local SLOW_DELAY = 3.0 -- > PD_TIMEOUT

------------------------------------------------------------------------------
-- The fault plan (deterministic per seed).

local plan_rng = Gen.rng(SEED * 7919 + 17)

local function place_sequential(items, from, to)
  -- items: { {name, dur}, ... } placed in a random order, apart, inside [from, to]
  local order = {}
  for i = 1, #items do order[i] = items[i] end
  for i = #order, 2, -1 do
    local j = plan_rng:int(1, i)
    order[i], order[j] = order[j], order[i]
  end
  local total = 0
  for _, it in ipairs(order) do total = total + it.dur end
  local free = math.max(0, (to - from) - total)
  local gaps, sum = {}, 0
  for i = 1, #order + 1 do gaps[i] = plan_rng:next() + 0.2; sum = sum + gaps[i] end
  local t = from
  for i, it in ipairs(order) do
    t = t + free * gaps[i] / sum
    it.start = t
    t = t + it.dur
  end
  return order
end

local function dur(lo, hi) return lo + plan_rng:next() * (hi - lo) end

local plan = {}
local function add(t, kind, extra)
  local e = extra or {}
  e.t, e.kind = t, kind
  plan[#plan + 1] = e
end

-- One lane: every windowed fault in a random order, apart, so that each one is exercised on
-- its own (kills, cbd restarts and crashes fall anywhere, over them). The outage's item also
-- holds the spool-full window that ends `spool_full_after` after it; a read-only window's item
-- holds the 10 s after it (its check); a stutter's, the 8 s the daemon is down before.
local STUTTER_DOWN = 8
local items = {}
for _, spec in ipairs(P.pd) do
  for _ = 1, spec[2] do
    local d = dur(spec[3], spec[4])
    items[#items + 1] = { name = spec[1], pd = d, dur = d + (spec[1] == "outage" and P.spool_full_after or 0) }
  end
end
for _ = 1, P.readonly[1] do
  local d = dur(P.readonly[2], P.readonly[3])
  items[#items + 1] = { name = "readonly", ro = d, dur = d + 10 }
end
for _ = 1, P.freezes[1] do items[#items + 1] = { name = "freeze", dur = dur(P.freezes[2], P.freezes[3]) } end
-- A daemon answering slowly (a saturated disk): down 8 s so that Broker's backlog grows past
-- one POST, then frozen 1.6 s out of every 1.85 s while the shim drains the backlog.
for _ = 1, P.stutters[1] do
  items[#items + 1] = { name = "stutter", dur = STUTTER_DOWN + dur(P.stutters[2], P.stutters[3]) }
end
-- The spool's filesystem full (a tmpfs filled by a file), with a graceful stop (SIGTERM) of the
-- daemon 1.5 s in: it must still stop within shutdown_grace; then the space comes back.
for _ = 1, P.diskfull[1] do items[#items + 1] = { name = "diskfull", dur = dur(P.diskfull[2], P.diskfull[3]) } end
for _, it in ipairs(place_sequential(items, P.lane_window[1], P.lane_window[2])) do
  local name = it.name
  if name == "readonly" then
    add(it.start, "readonly_begin", { duration = it.ro })
    add(it.start + it.ro * (0.3 + 0.4 * plan_rng:next()), "readonly_restart")
    add(it.start + it.ro, "readonly_end")
    add(it.start + it.ro + 8, "readonly_check")
  elseif name == "stutter" then
    add(it.start, "stutter_begin", { down = STUTTER_DOWN, duration = it.dur - STUTTER_DOWN })
    add(it.start + STUTTER_DOWN + 0.5, "stutter_loop", { duration = it.dur - STUTTER_DOWN - 0.5 })
  elseif name == "diskfull" then
    -- PagerDuty fails from 3 s before, so that deliveries (and the commits of their outcomes)
    -- go on while the disk is full
    add(it.start, "pd_begin", { fault = "outage (with disk full)", control = '{"mode":"status","status":503}' })
    add(it.start + 3, "diskfull_begin", { duration = it.dur - 3 })
    add(it.start + 4.5, "term", { why = "graceful stop while the disk is full" })
    add(it.start + it.dur, "diskfull_end")
    add(it.start + it.dur, "pd_end", { fault = "outage (with disk full)" })
  elseif name == "freeze" then
    add(it.start, "freeze_begin", { duration = it.dur })
    add(it.start + it.dur, "freeze_end")
  else
    local control
    if name == "outage" then control = '{"mode":"status","status":503}'
    elseif name == "storm429" then control = '{"mode":"status","status":429}'
    elseif name == "slow" then control = string.format('{"mode":"slow","delay":%.1f}', SLOW_DELAY)
    elseif name == "close" then control = '{"mode":"close"}'
    else
      control = string.format(
        '{"mode":"flaky","delay":%.1f,"seed":%d,"weights":{"ok":4,"503":2,"429":1,"close":1,"slow":1}}',
        SLOW_DELAY, SEED)
    end
    add(it.start, "pd_begin", { fault = name, control = control, duration = it.pd })
    add(it.start + it.pd, "pd_end", { fault = name })
    if name == "outage" then
      add(it.start + 2, "spool_full_begin")
      add(it.start + it.dur, "spool_full_end")
    end
  end
end

-- Random kills, 3 s apart at least, and none between the end of a read-only window and its
-- check: a kill there would restart a daemon stuck read-only and hide the bug the check looks for.
local quiet = {}
for _, e in ipairs(plan) do
  if e.kind == "readonly_end" then quiet[#quiet + 1] = { e.t - 1, e.t + 9 } end
  if e.kind == "stutter_begin" then quiet[#quiet + 1] = { e.t - 1, e.t + e.down + e.duration + 1 } end
end
local kill_times = {}
while #kill_times < P.kills do
  local t = P.kill_window[1] + plan_rng:next() * (P.kill_window[2] - P.kill_window[1])
  local ok = true
  for _, k in ipairs(kill_times) do if math.abs(k - t) < 3 then ok = false end end
  for _, q in ipairs(quiet) do if t >= q[1] and t <= q[2] then ok = false end end
  if ok then kill_times[#kill_times + 1] = t end
end
for _, t in ipairs(kill_times) do add(t, "kill", { restart_after = 0.1 + 1.9 * plan_rng:next() }) end
-- cbd restarts and crashes when Broker holds unacknowledged events, some of which the daemon
-- may already have stored (so that Broker's replay is exercised): the first restart while the
-- daemon refuses batches (spool full), the first crash while the shim drains a backlog to a
-- slow daemon (stutter), the second crash right after a daemon kill; the others anywhere.
local anchors = { restart = {}, crash = {} }
for _, e in ipairs(plan) do
  if e.kind == "spool_full_end" then anchors.restart[#anchors.restart + 1] = e.t - 6 end
  if e.kind == "stutter_loop" then anchors.crash[#anchors.crash + 1] = e.t + 3 + 2 * plan_rng:next() end
end
anchors.crash[#anchors.crash + 1] = kill_times[1] + 0.3 + plan_rng:next()
local function cbd(kind, n, list)
  for i = 1, n do
    add(list[i] or (P.cbd_window[1] + plan_rng:next() * (P.cbd_window[2] - P.cbd_window[1])), kind)
  end
end
cbd("cbd_restart", P.cbd_restarts, anchors.restart)
cbd("cbd_crash", P.cbd_crashes, anchors.crash)
-- Engine restarts (with the downtimes they send deleted, then again): part of the event stream,
-- so placed by generator step (not by wall time) with an rng of their own: the stream stays a
-- function of the seed, and the other faults stay where they were before they existed.
local restart_rng = Gen.rng(SEED * 104729 + 3)
local restart_steps = {}
for k = 1, P.engine_restarts do
  local at = math.floor(P.load * P.rate * (0.05 + 0.87 * (k - 1 + restart_rng:next()) / P.engine_restarts))
  restart_steps[k] = at
  add(at / P.rate, "engine_restart", { step = at })
end
-- The acknowledgement sync (DESIGN §4.6): Centreon's API answers 503 in a few windows, apart,
-- placed with an rng of their own (the other faults of a seed stay where they were before).
local SYNC = P.sync
local sync_auth = "token"
if SYNC then
  local sync_rng = Gen.rng(SEED * 7907 + 11)
  sync_auth = SEED % 2 == 1 and "login" or "token" -- both ways to reach Centreon, by seed
  local n, lo, hi = SYNC.centreon_down[1], SYNC.centreon_down[2], SYNC.centreon_down[3]
  local span = (SYNC.window[2] - SYNC.window[1]) / n
  for k = 1, n do
    local d = lo + sync_rng:next() * (hi - lo)
    local t = SYNC.window[1] + (k - 1) * span + sync_rng:next() * math.max(0, span - d)
    add(t, "centreon_begin", { fault = "centreon_503", duration = d })
    add(t + d, "centreon_end", { fault = "centreon_503" })
  end
end
table.sort(plan, function(a, b) return a.t < b.t end)

if A.plan_only then -- print the plan and stop (lua5.4 chaos/driver.lua plan_only=1 seed=N mode=M dir=. bin=x)
  for _, e in ipairs(plan) do
    print(string.format("%7.1f  %-16s %s %s", e.t, e.kind, e.fault or e.why or (e.step and ("step " .. e.step)) or "",
      e.duration and string.format("%.1fs", e.duration) or ""))
  end
  os.exit(0)
end

------------------------------------------------------------------------------
-- Set-up: directories (the daemon's owned by its user), mock PagerDuty, config variants.

local DDIR = WORK .. "/daemon"
local SPOOL = DDIR .. "/spool"
local SOCK = DDIR .. "/run/broker.sock"
os.execute(string.format("mkdir -p %s/spool %s/run && chmod 0750 %s", L.q(DDIR), L.q(DDIR), L.q(SPOOL)))
-- The spool on a tmpfs of its own, when this machine lets us mount one (root, not in a locked-down
-- container): the disk-full fault fills it. Without it, that fault is skipped (and said so).
local TMPFS = false
if L.sh("id -u") == "0" and A.tmpfs ~= "0" then
  TMPFS = os.execute(string.format("mount -t tmpfs -o size=64m,mode=0750 cpd-chaos-spool %s 2>/dev/null",
                                   L.q(SPOOL))) == true
end
if USER ~= "" then
  os.execute(string.format("chown -R %s:$(id -gn %s) %s", L.q(USER), L.q(USER), L.q(DDIR)))
end
os.execute("chmod 0755 " .. L.q(DDIR))

-- The sync's secret files: mode 0640, owned by the daemon's user (root ignores modes; the daemon
-- accepts root, its own user, or the spool directory's owner), in its directory.
local sync_control = WORK .. "/sync.json"
local mock_extra
if SYNC then
  local secrets = {
    { "pd-api.key", string.format("pdrest-chaos-%08d", SEED) },
    sync_auth == "login" and { "centreon.login", "pagerduty-sync:chaos pass: " .. SEED }
      or { "centreon.token", string.format("centreon-chaos-token-%08d", SEED) },
  }
  for _, f in ipairs(secrets) do
    local path = DDIR .. "/" .. f[1]
    L.write(path, f[2] .. "\n")
    os.execute("chmod 0640 " .. L.q(path))
    if USER ~= "" then os.execute(string.format("chown %s:$(id -gn %s) %s", L.q(USER), L.q(USER), L.q(path))) end
  end
  L.write_atomic(sync_control, string.format('{"ack_share":%s,"ack_delay":[%s,%s],"seed":%d,"centreon":204}',
    SYNC.ack_share, SYNC.ack_delay[1], SYNC.ack_delay[2], SEED))
  mock_extra = string.format("--sync %s --sync-control %s --pd-api-token-file %s %s %s",
    L.q(WORK .. "/sync.ndjson"), L.q(sync_control), L.q(DDIR .. "/pd-api.key"),
    sync_auth == "login" and "--centreon-login-file" or "--centreon-token-file", L.q(DDIR .. "/" .. secrets[2][1]))
end
local mock = L.mock(WORK, HERE .. "/mock_pagerduty.py", mock_extra)
local ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
local max_size_small

local function sync_text()
  if not SYNC then return "" end
  return table.concat({
    "[sync]",
    string.format('pagerduty_api_token_file = "%s/pd-api.key"', DDIR),
    string.format('pagerduty_api_url = "http://127.0.0.1:%d/pd"', mock.port),
    'poll_interval = "1s"',
    string.format('centreon_api_url = "http://127.0.0.1:%d/centreon/api/latest"', mock.port),
    sync_auth == "login" and string.format('centreon_login_file = "%s/centreon.login"', DDIR)
      or string.format('centreon_api_token_file = "%s/centreon.token"', DDIR),
    "",
  }, "\n")
end

local function config_text(variant)
  local d = P.delivery
  return table.concat({
    "[pagerduty]",
    string.format('routing_key = "%s"', ROUTING_KEY),
    string.format('url = "http://127.0.0.1:%d/v2/enqueue"', mock.port),
    string.format('timeout = "%s"', PD_TIMEOUT),
    "rate_limit_per_minute = 60000",
    "[listen]",
    string.format('socket = "%s"', SOCK),
    'socket_group = ""',
    "[spool]",
    string.format('dir = "%s"', SPOOL),
    string.format('max_size = "%s"', variant == "small" and (max_size_small .. "B") or "256MiB"),
    'min_free = "16MiB"',
    "[delivery]",
    string.format('backoff_min = "%s"', d.backoff_min),
    string.format('backoff_max = "%s"', d.backoff_max),
    string.format('throttle_min = "%s"', d.throttle_min),
    string.format('throttle_max = "%s"', d.throttle_max),
    string.format('collapse_after = "%s"', d.collapse_after),
    "[log]",
    'level = "info"',
    sync_text(),
  }, "\n")
end

local function config_path(variant)
  local path = string.format("%s/config-%s.toml", WORK, variant)
  L.write(path, config_text(variant))
  os.execute("chmod 0644 " .. L.q(path))
  return path
end
config_path("normal")

local daemon = L.daemon({ bin = BIN, dir = DDIR, log = DDIR .. "/daemon.log", config = config_path, user = USER })

-- Bytes the spool's database uses (pages in use), read as the daemon's user.
local PYTHON = L.exists("/usr/bin/python3") and "/usr/bin/python3" or "python3" -- not a pyenv shim under /root
local function spool_used_bytes()
  local out = L.sh(string.format("%s%s -c %s %s 2>&1", daemon.as_user, PYTHON, L.q(
    "import sqlite3,sys\n" ..
    "c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True)\n" ..
    "g=lambda p:c.execute('pragma '+p).fetchone()[0]\n" ..
    "print((g('page_count')-g('freelist_count'))*g('page_size'))"), L.q(SPOOL .. "/spool.db")))
  return math.tointeger(tonumber(out:match("(%d+)%s*$") or ""))
end

------------------------------------------------------------------------------
-- Records

local events_out = assert(io.open(WORK .. "/events.ndjson", "wb"))
local downtimes_out = assert(io.open(WORK .. "/downtimes.ndjson", "wb"))
local faults_out = assert(io.open(WORK .. "/faults.ndjson", "wb"))
local t_start
local function fault_log(kind, extra)
  local e = extra or {}
  e.kind, e.t, e.at = kind, gettime() - (t_start or gettime()), gettime()
  faults_out:write(encode(e), "\n")
  faults_out:flush()
  io.stderr:write(string.format("# %7.1fs %s%s\n", e.t, kind, e.fault and (" " .. e.fault) or ""))
end

do
  local p = {}
  for i, e in ipairs(plan) do
    local c = {}
    for k, v in pairs(e) do c[k] = v end
    p[i] = c
  end
  L.write(WORK .. "/plan.json", encode({ seed = SEED, mode = MODE, profile_load = P.load, plan = p }) .. "\n")
end

------------------------------------------------------------------------------
-- Broker

local gen = Gen.new({ seed = SEED, hosts = P.hosts, services_per_host = P.services_per_host, p_fail = P.p_fail,
                      t0 = math.floor(gettime()), rate = P.rate, engine_restarts = restart_steps })
local emu = L.broker(Emulator, {
  shim = SHIM, cache = gen.cache, real_clock = true, bbdo_version = "3.0.1",
  conf = { socket = SOCK, timeout = SHIM_TIMEOUT_MS, retry_interval = 1, log_level = 3 },
})

-- POSTs made by the call that just returned: the shim logs each one ("posted N events" at
-- debug level, "POST of N events ... failed" otherwise).
local seen_records = 0
local function posts_of_last_call()
  local records = emu.log and emu.log.records or {}
  if #records < seen_records then seen_records = 0 end
  local n = 0
  for i = seen_records + 1, #records do
    local text = records[i].text
    if text:find("] posted ", 1, true) or text:find("] POST of ", 1, true) then n = n + 1 end
  end
  seen_records = #records
  return n
end

local calls = { n = 0, max = 0, max_name = nil, max_at = nil, max_cpu = 0, slow = {}, over = 0,
                hist = {}, sum = 0 }
local BOUND = SHIM_TIMEOUT_MS / 1000 + STALL_TOLERANCE
local HIST_EDGES = { 0.001, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 2.25, 2.5, 3.0, 4.0, 1e9 }
emu.on_call = function(name, wall)
  local posts = posts_of_last_call()
  calls.n = calls.n + 1
  calls.sum = calls.sum + wall
  for i, edge in ipairs(HIST_EDGES) do
    if wall <= edge then calls.hist[i] = (calls.hist[i] or 0) + 1; break end
  end
  if wall > calls.max then
    calls.max, calls.max_name, calls.max_at, calls.max_cpu, calls.max_posts =
      wall, name, gettime() - t_start, emu.last_call_cpu, posts
  end
  if wall > BOUND then
    calls.over = calls.over + 1
    if posts <= 1 then calls.over_single_post = (calls.over_single_post or 0) + 1 end
  end
  if wall > 1.0 and #calls.slow < 100 then
    calls.slow[#calls.slow + 1] = { t = gettime() - t_start, call = name, wall = wall, cpu = emu.last_call_cpu,
                                    posts = posts }
  end
end

local published = 0
local function publish(ev)
  published = published + 1
  emu:publish(ev)
  local copy = {}
  for k, v in pairs(ev) do copy[k] = v end
  copy._cache = Gen.cache_of(gen.cache, ev)
  events_out:write(encode(copy), "\n")
  local m = gen.marks[ev]
  if m then -- the generator's ground truth: a downtime starts running / ends here
    gen.marks[ev] = nil
    downtimes_out:write(encode({ line = published, host_id = m.host_id, service_id = m.service_id,
                                 running = m.running, why = m.why }), "\n")
  end
end

-- The events of generator step i; an Engine restart is logged as a fault, with its lines.
local engine_restarts = 0
local function generate(i)
  local from = published + 1
  for _, ev in ipairs(gen:step(i)) do publish(ev) end
  local r = gen.restart
  if r then
    engine_restarts = engine_restarts + 1
    r.from, r.to, r.restart = from, published, engine_restarts
    downtimes_out:write(encode(r), "\n")
    fault_log("engine_restart", r)
  end
end

local shim_log = {}
local shim_problems = {}
local function drain_shim_log()
  L.drain_shim_log(emu, shim_log, shim_problems)
  seen_records = 0
end

-- One turn of Broker's output thread: deliver what is readable, else flush and nap 100 ms.
local function broker_turn()
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

------------------------------------------------------------------------------
-- Faults

local restart_at = nil          -- the supervisor starts the daemon again at this time
local term = nil                -- a graceful stop being watched: { pid, at }
local SHUTDOWN_GRACE = 10       -- the daemon's default [delivery] shutdown_grace
local readonly = nil            -- { restored_at, log_offset }
local stats = { unexpected_exits = {}, readonly_stuck = 0, readonly_restarts = 0, spool_full = nil,
                cbd_restarts = 0, cbd_crashes = 0, freezes = 0, kills = 0, stutters = 0, terms = 0,
                term_seconds = {}, term_hangs = 0, diskfull = 0 }
local frozen_pid = nil

local function set_spool_mode(ro)
  if ro then
    os.execute(string.format("chmod 0400 %s/spool.db* 2>/dev/null; chmod 0500 %s", L.q(SPOOL), L.q(SPOOL)))
  else
    os.execute(string.format("chmod 0750 %s; chmod 0640 %s/spool.db* 2>/dev/null", L.q(SPOOL), L.q(SPOOL)))
  end
end

local function kill_and_restart(after, why)
  if term then return end -- a graceful stop is being watched
  local status = daemon:kill()
  stats.kills = stats.kills + 1
  fault_log("kill", { why = why, exit_status = status, restart_after = after })
  restart_at = gettime() + after
end

local ACTIONS = {}
function ACTIONS.kill(e) if daemon.pid then kill_and_restart(e.restart_after, "random") end end
function ACTIONS.engine_restart() end -- the generator does it at its step (see generate())
function ACTIONS.pd_begin(e) mock:set(e.control); fault_log("pd_begin", { fault = e.fault, control = e.control }) end
local function set_sync(fields)
  local t = L.read(sync_control) or "{}"
  for k, v in pairs(fields) do
    t = t:gsub('"' .. k .. '":[^,}]*', '"' .. k .. '":' .. v)
  end
  L.write_atomic(sync_control, t)
end
function ACTIONS.centreon_begin(e) set_sync({ centreon = "503" }); fault_log("centreon_begin", { fault = e.fault }) end
function ACTIONS.centreon_end(e) set_sync({ centreon = "204" }); fault_log("centreon_end", { fault = e.fault }) end
function ACTIONS.pd_end(e)
  mock:set('{"mode":"ok"}')
  fault_log("pd_end", { fault = e.fault, spool_used_bytes = e.fault == "outage" and spool_used_bytes() or nil })
end
function ACTIONS.spool_full_begin()
  term = nil
  if daemon.pid then daemon:kill(); stats.kills = stats.kills + 1 end
  local used = spool_used_bytes() or 0
  max_size_small = math.max(1024 * 1024, used + P.spool_margin) -- the daemon's minimum is 1 MiB
  daemon.variant = "small"
  fault_log("spool_full_begin", { used_bytes = used, max_size = max_size_small })
  stats.spool_full = { used = used, max_size = max_size_small }
  restart_at = gettime() + 0.2
end
function ACTIONS.spool_full_end()
  term = nil
  if daemon.pid then daemon:kill(); stats.kills = stats.kills + 1 end
  daemon.variant = "normal"
  fault_log("spool_full_end", { used_bytes = spool_used_bytes() })
  restart_at = gettime() + 0.2
end
local spool_readonly_until = nil -- exits while the spool is read-only (and 2 s after) are expected
function ACTIONS.readonly_begin(e)
  set_spool_mode(true)
  spool_readonly_until = math.huge
  fault_log("readonly_begin", { duration = e.duration })
end
function ACTIONS.readonly_restart()
  if daemon.pid and not term then
    daemon:kill()
    stats.kills = stats.kills + 1
    fault_log("kill", { why = "inside the read-only window" })
    restart_at = gettime() + 0.2
  end
end
function ACTIONS.readonly_end()
  set_spool_mode(false)
  spool_readonly_until = gettime() + 2
  readonly = { restored_at = gettime() }
  fault_log("readonly_end")
end
function ACTIONS.readonly_check()
  -- Known daemon bug (see README-chaos.md): a daemon that started while the spool was
  -- read-only keeps a read-only SQLite connection and refuses every batch (503) forever.
  -- Look for it in the log written since the spool became writable again (+3 s).
  local log = L.read(daemon.log) or ""
  local since = readonly and readonly.log_offset or #log
  local tail = log:sub(since + 1)
  if tail:find("readonly database", 1, true) then
    stats.readonly_stuck = stats.readonly_stuck + 1
    fault_log("readonly_stuck", { note = "daemon still refuses batches with 'attempt to write a readonly database' " ..
      "after the spool became writable: restarted by the harness (an operator would have to)" })
    if daemon.pid then daemon:kill(); stats.kills = stats.kills + 1 end
    restart_at = gettime() + 0.2
  else
    fault_log("readonly_ok")
  end
end
function ACTIONS.diskfull_begin(e)
  if not TMPFS then fault_log("diskfull_skipped", { note = "no tmpfs for the spool (mount refused)" }); return end
  os.execute(string.format("dd if=/dev/zero of=%s/filler bs=256k 2>/dev/null", L.q(SPOOL)))
  stats.diskfull = stats.diskfull + 1
  fault_log("diskfull_begin", { duration = e.duration,
                                free = L.sh("df -k --output=avail " .. L.q(SPOOL) .. " | tail -1") })
end
function ACTIONS.diskfull_end()
  if not TMPFS then return end
  os.remove(SPOOL .. "/filler")
  fault_log("diskfull_end")
end
-- systemctl stop: SIGTERM, then (systemd: TimeoutStopSec=30s) SIGKILL; the supervisor restarts it.
function ACTIONS.term(e)
  if not daemon.pid or term then return end
  term = { pid = daemon.pid, at = gettime() }
  daemon:signal("CONT")
  daemon:signal("TERM")
  stats.terms = stats.terms + 1
  fault_log("term", { why = e.why, pid = daemon.pid })
end
function ACTIONS.freeze_begin(e)
  if daemon.pid then
    daemon:freeze()
    frozen_pid = daemon.pid
    stats.freezes = stats.freezes + 1
    fault_log("freeze_begin", { pid = daemon.pid, duration = e.duration })
  end
end
function ACTIONS.freeze_end()
  if frozen_pid and daemon.pid == frozen_pid then daemon:thaw() end
  frozen_pid = nil
  fault_log("freeze_end")
end
function ACTIONS.stutter_begin(e)
  term = nil
  if daemon.pid then daemon:kill(); stats.kills = stats.kills + 1 end
  fault_log("stutter_begin", { down = e.down, duration = e.duration })
  restart_at = gettime() + e.down
end
-- The toggling runs in a process of its own: Broker's thread (this one) is blocked in the
-- shim while the daemon is stopped. It signals only our daemon (checked through /proc).
function ACTIONS.stutter_loop(e)
  if not daemon.pid then fault_log("stutter_skipped"); return end
  stats.stutters = stats.stutters + 1
  local pid = daemon.pid
  os.execute(string.format([[(end=$(( $(date +%%s) + %d )); while [ $(date +%%s) -lt $end ]; do
    [ "$(readlink /proc/%d/exe)" = %s ] || break; kill -STOP %d; sleep 1.6; kill -CONT %d 2>/dev/null; sleep 0.25;
    done; kill -CONT %d 2>/dev/null) >/dev/null 2>&1 & echo $! > %s]],
    math.floor(e.duration + 0.5), pid, L.q(BIN_REAL), pid, pid, pid, L.q(WORK .. "/stutter.pid")))
  fault_log("stutter_loop", { pid = pid, duration = e.duration })
end
function ACTIONS.cbd_restart()
  drain_shim_log()
  local before = emu.acked
  emu:restart()
  stats.cbd_restarts = stats.cbd_restarts + 1
  fault_log("cbd_restart", { replay_from = emu.head, unacknowledged = emu.count - emu.head + 1,
                             acked_by_last_flush = emu.acked - before })
end
function ACTIONS.cbd_crash()
  drain_shim_log()
  emu:crash()
  emu:start()
  stats.cbd_crashes = stats.cbd_crashes + 1
  fault_log("cbd_crash", { replay_from = emu.head, unacknowledged = emu.count - emu.head + 1 })
end

local next_plan = 1
local function run_plan(elapsed)
  while plan[next_plan] and plan[next_plan].t <= elapsed do
    local e = plan[next_plan]
    next_plan = next_plan + 1
    ACTIONS[e.kind](e)
  end
end

-- systemd's part: start the daemon when due; restart it 2 s after it exits on its own.
local function supervise(now)
  if term then
    local status = daemon:exit_status()
    if status ~= nil then
      local took = now - term.at
      stats.term_seconds[#stats.term_seconds + 1] = took
      fault_log("term_exit", { exit_status = status, seconds = took })
      daemon.pid, term = nil, nil
      restart_at = now + 2
    elseif now - term.at > SHUTDOWN_GRACE + 5 then
      stats.term_hangs = stats.term_hangs + 1
      stats.term_seconds[#stats.term_seconds + 1] = now - term.at
      fault_log("term_hang", { seconds = now - term.at,
        note = "still running after SIGTERM; killed (systemd would after TimeoutStopSec=30s)" })
      daemon:kill()
      term = nil
      restart_at = now + 2
    end
    return
  end
  if daemon.pid and daemon:exit_status() ~= nil then
    local status = daemon:exit_status()
    daemon.pid = nil
    local readonly_exit = spool_readonly_until ~= nil and now <= spool_readonly_until
    local log = L.read(daemon.log) or ""
    local last = log:sub(-400):match("([^\n]*)\n?$") or ""
    stats.unexpected_exits[#stats.unexpected_exits + 1] = { t = now - t_start, status = status,
      spool_readonly = readonly_exit, last_log = last }
    fault_log("daemon_exited", { exit_status = status, spool_readonly = readonly_exit, last_log = last,
      note = status == 2 and "exit 2: systemd would NOT restart it (RestartPreventExitStatus=2)" or nil })
    restart_at = now + 2
  end
  if not daemon.pid and restart_at and now >= restart_at then
    restart_at = nil
    daemon:start()
    local on_readonly = spool_readonly_until == math.huge
    if on_readonly then stats.readonly_restarts = stats.readonly_restarts + 1 end
    fault_log("daemon_start", { pid = daemon.pid, variant = daemon.variant, spool_readonly = on_readonly or nil })
  end
  if readonly and not readonly.log_offset and now >= readonly.restored_at + 3 then
    readonly.log_offset = #(L.read(daemon.log) or "")
  end
end

------------------------------------------------------------------------------
-- Run

io.stderr:write(string.format("# chaos %s, seed %d: %d planned fault actions, load %ds at %d events/s, work dir %s\n",
  MODE, SEED, #plan, P.load, P.rate, WORK))
t_start = gettime()
daemon:start()
fault_log("daemon_start", { pid = daemon.pid, variant = daemon.variant })
L.wait_until(function() return daemon:answers(SOCK) end, 20, 0.05)
emu:start()
for _, ev in ipairs(gen:warmup()) do publish(ev) end

local step = 0
local last_trim = gettime()
while true do
  local now = gettime()
  local elapsed = now - t_start
  if elapsed >= P.load then break end
  run_plan(elapsed)
  supervise(now)
  local due = math.floor(elapsed * P.rate)
  while step < due do
    step = step + 1
    generate(step)
  end
  broker_turn()
  if now - last_trim > 1 then
    emu:trim()
    drain_shim_log()
    events_out:flush()
    downtimes_out:flush()
    last_trim = now
  end
end
-- Whatever the plan left open is closed (it should have closed everything already).
while plan[next_plan] do ACTIONS[plan[next_plan].kind](plan[next_plan]); next_plan = next_plan + 1 end
events_out:close()
downtimes_out:close()
local load_end = gettime()
fault_log("load_end", { published = published, acknowledged = emu.acked })

-- Drain: PagerDuty answers, the daemon runs; Broker goes on until everything is acknowledged
-- and the daemon's queue is empty. The responder acknowledges nothing more in PagerDuty; the
-- drain also waits for the sync: a listing after the last acknowledgement, nothing pending.
if SYNC then set_sync({ ack_share = "0", centreon = "204" }) end
mock:set('{"mode":"ok"}')
set_spool_mode(false)
if TMPFS then os.remove(SPOOL .. "/filler") end
if frozen_pid and daemon.pid == frozen_pid then daemon:thaw() end
local drained, sync_drained = false, nil
local last_poll, last_count, stable_since = 0, -1, gettime()
while gettime() - load_end < P.drain do
  local now = gettime()
  supervise(now)
  broker_turn()
  if now - last_poll >= 1 then
    last_poll = now
    emu:trim()
    drain_shim_log()
    local count = mock:count()
    if count ~= last_count then last_count, stable_since = count, now end
    if emu.acked == emu.count and daemon.pid then
      local status_text = daemon:cli("status --json")
      local pending = tonumber(status_text:match('"pending"%s*:%s*(%d+)'))
      local synced = true
      if SYNC then -- the daemon's clock is this one: a listing 2 s after the load's end, nothing to mirror
        local sync = status_text:match('"sync"%s*:%s*(%b{})') or ""
        local polled = tonumber(sync:match('"last_poll_ms"%s*:%s*(%d+)'))
        synced = tonumber(sync:match('"pending"%s*:%s*(%d+)')) == 0 and polled ~= nil
          and polled / 1000 >= load_end + 2
      end
      if pending == 0 and now - stable_since >= 2 then
        drained = true -- Broker and PagerDuty are done; the sync may still be at it
        sync_drained = synced
        if synced then break end
      end
    end
  end
end
local drain_seconds = gettime() - load_end
fault_log("drain_end", { drained = drained, seconds = drain_seconds })
drain_shim_log()

-- The daemon's view at the end
if daemon.pid then
  L.write(WORK .. "/status.json", daemon:cli("status --json") .. "\n")
  L.write(WORK .. "/dead_letters.json", daemon:cli("dead-letters list --json") .. "\n")
  L.write(WORK .. "/incidents.json", daemon:cli("incidents --json") .. "\n")
end
emu:stop() -- cbd stops: its last flush()
local stop_status = daemon:stop(30)
fault_log("daemon_stop", { exit_status = stop_status })
mock:stop()
if TMPFS then -- keep the spool for inspection, off the tmpfs
  os.execute(string.format("mkdir -p %s/spool-final && cp -a %s/. %s/spool-final/ && umount %s",
    L.q(WORK), L.q(SPOOL), L.q(WORK), L.q(SPOOL)))
end

calls.mean = calls.n > 0 and calls.sum / calls.n or 0
calls.bound = BOUND
calls.hist_edges = HIST_EDGES
local report = {
  seed = SEED, mode = MODE, load_seconds = P.load, drain_seconds = drain_seconds, drained = drained,
  wall_seconds = gettime() - t_start, rate = P.rate, steps = step,
  resources = #gen.all, published = published, acknowledged = emu.acked,
  unacknowledged = emu.count - emu.head + 1,
  broker_sessions = emu.sessions, writes = emu.stats.writes, write_true = emu.stats.write_true,
  flushes = emu.stats.flushes, flush_true = emu.stats.flush_true, lua_errors = emu.stats.errors,
  replayed_to_shim = emu.stats.writes - published,
  calls = calls, shim_timeout_ms = SHIM_TIMEOUT_MS, shim_log = shim_log, shim_problems = shim_problems,
  daemon_starts = daemon.starts, daemon_kills = stats.kills, unexpected_exits = stats.unexpected_exits,
  readonly_stuck = stats.readonly_stuck, readonly_restarts = stats.readonly_restarts,
  spool_full = stats.spool_full, cbd_restarts = stats.cbd_restarts, cbd_crashes = stats.cbd_crashes,
  freezes = stats.freezes, stutters = stats.stutters, lua = _VERSION, tmpfs = TMPFS,
  terms = stats.terms, term_seconds = stats.term_seconds, term_hangs = stats.term_hangs,
  diskfull = stats.diskfull, pd_timeout = PD_TIMEOUT, slow_delay = SLOW_DELAY,
  delivery = P.delivery, engine_restarts = engine_restarts, generator = gen.stats,
  sync = SYNC and { auth = sync_auth, ack_share = SYNC.ack_share, ack_delay = SYNC.ack_delay,
                    poll_interval_s = 1, load_end = load_end, drained = sync_drained } or nil,
}
L.write(WORK .. "/driver.json", encode(report) .. "\n")
io.stderr:write(string.format("# driver done: %d events published, %d acknowledged, drained=%s\n",
  published, emu.acked, tostring(drained)))
os.exit(0)
