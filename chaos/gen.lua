--[[
The chaos run's Broker event generator: a deterministic stream (per seed) of the raw events
Centreon Broker hands to a Lua stream connector, for many resources flapping between OK and
WARNING/CRITICAL/UNKNOWN (hosts: UP/DOWN/UNREACHABLE), SOFT then HARD, with increasing
last_check, BBDO v2 and v3 mixed per event (as Broker 22.04-23.04 mixes them), and sometimes
acknowledgements (normal and sticky, some removed by hand), downtimes (service and host, fixed
ones starting at once or later, with adaptive statuses) and Engine restarts — field names and
"absent when 0" rules as in tests/fixtures.

Downtimes are shaped as a real Engine + Broker 25.05 sends them
(tests/fixtures/real-broker-25.05/README.md, DESIGN §4.2 Downtime):
- every downtime event in effect (started, ended) reaches Lua twice, identical; those of a
  downtime not in effect (only scheduled, deleted before it started, deleted by an Engine stop)
  once or twice (the capture shows them once); unset times are -1 in v3;
- a real end (expiry, or a deletion by hand: `cancelled`) of a started downtime is followed at
  once by the depth drop: an adaptive status (v3 services) or a full status (hosts, v2) with
  scheduled_downtime_depth 0, without a new check; then the end's second copy;
- an Engine restart (opts.engine_restarts: the steps at which one happens): the instance stop
  (element 44, running false: the shim's filter drops it), a deleted downtime event (once or
  twice) for every downtime the poller has, started or not, although nobody deleted them; at the
  start the instance, sometimes every definition again (27/30 or 12/23, scheduled_downtime_depth
  0 even in downtime), and the same downtimes again (same id, entry_time, start_time; the started
  ones with a new actual_start_time, twice; the scheduled ones once or twice); statuses keep
  depth 1 throughout;
- Engine renumbers at each start: the next new downtime takes the highest id still scheduled + 1,
  so an id comes back for another downtime (a downtime is id + entry_time + start_time).

The ground truth of downtimes: `g.marks[ev]` is set on the event at which a resource's downtime
truly starts running (its first started event: running = true) and on the one at which the
daemon must see that it stopped (the depth drop after a real end: running = false); an Engine
restart changes nothing. The driver writes them with the event's line (downtimes.ndjson) for
the checker.

  local Gen = require("gen")
  local g = Gen.new{ seed = 42, hosts = 20, services_per_host = 10, t0 = 1781000000, rate = 150,
                     engine_restarts = { 5000, 12000 } }
  g:warmup()            -> events: one HARD OK status per resource (first sight, silent)
  g:step(i)             -> events of step i (1 to 6 events, an Engine restart more); `i` sets
                           the Centreon clock; g.restart: what the last restart did, if step i was one
  g.marks               -> event table -> { host_id, service_id, running, why } (see above)
  g.cache               -> broker_cache content (names, groups, poller, notify,
                           max_check_attempts) for the emulator
  Gen.cache_of(cache, ev) -> the `_cache` the shim adds to `ev` (for the offline oracle)
]]
local Gen = {}
Gen.__index = Gen

------------------------------------------------------------------------------
-- A small deterministic PRNG (xorshift64*), independent of math.random and of Lua's version.

local Rng = {}
Rng.__index = Rng

function Gen.rng(seed)
  local s = (seed * 0x9E3779B97F4A7C15) ~ 0x2545F4914F6CDD1D
  if s == 0 then s = 1 end
  local r = setmetatable({ s = s }, Rng)
  for _ = 1, 8 do r:next() end
  return r
end

-- A float in [0, 1).
function Rng:next()
  local s = self.s
  s = s ~ (s >> 12)
  s = s ~ (s << 25)
  s = s ~ (s >> 27)
  self.s = s
  local x = s * 0x2545F4914F6CDD1D
  return ((x >> 11) & 0x1FFFFFFFFFFFFF) / 9007199254740992.0
end

-- An integer in [a, b].
function Rng:int(a, b) return a + math.floor(self:next() * (b - a + 1)) end
function Rng:chance(p) return self:next() < p end
function Rng:pick(list) return list[self:int(1, #list)] end
function Rng:weighted(items) -- { {value, weight}, ... }
  local total = 0
  for _, it in ipairs(items) do total = total + it[2] end
  local x = self:next() * total
  for _, it in ipairs(items) do
    x = x - it[2]
    if x < 0 then return it[1] end
  end
  return items[#items][1]
end

------------------------------------------------------------------------------

local SERVICE_PROBLEMS = { { 1, 4 }, { 2, 5 }, { 3, 1 } }   -- WARNING, CRITICAL, UNKNOWN
local HOST_PROBLEMS = { { 1, 4 }, { 2, 1 } }                -- DOWN, UNREACHABLE
local SERVICE_WORDS = { [0] = "OK", "WARNING", "CRITICAL", "UNKNOWN" }
local HOST_WORDS = { [0] = "UP", "DOWN", "UNREACHABLE" }

-- opts: seed, hosts, services_per_host, t0 (Centreon clock at step 0), rate (steps per
-- second of the Centreon clock), p_fail, p_fail_host, p_ack, p_downtime, engine_restarts (a
-- list of steps)
function Gen.new(opts)
  local self = setmetatable({}, Gen)
  self.rng = Gen.rng(opts.seed or 1)
  self.t0 = opts.t0 or 1781000000
  self.rate = opts.rate or 100
  self.p_fail = opts.p_fail or 0.06
  self.p_fail_host = opts.p_fail_host or 0.01
  self.p_ack = opts.p_ack or 0.12
  self.p_ack_delete = opts.p_ack_delete or 0.03
  self.p_downtime = opts.p_downtime or 0.004
  self.host_weight = opts.host_weight or 0.06
  self.next_downtime = 5000   -- the last downtime id Engine gave
  self.used_ids = {}          -- downtime ids given so far (reuse after a restart is counted)
  self.reschedule = {}        -- resources whose downtime was deleted just before a restart
  self.restart_at = {}
  for _, i in ipairs(opts.engine_restarts or {}) do self.restart_at[i] = true end
  self.engine_start = self.t0 - 3600
  self.engine_pid = 4000
  self.marks = setmetatable({}, { __mode = "k" })
  self.stats = { downtimes = 0, future = 0, started = 0, ended = 0, deleted_unstarted = 0,
                 restarts = 0, id_reuses = 0, id_reuses_same_resource = 0, definitions = 0 }
  self.hosts, self.services = {}, {}
  self.cache = { instances = { ["1"] = "Central" }, hosts = {}, services = {} }
  local nh, ns = opts.hosts or 20, opts.services_per_host or 10
  for h = 1, nh do
    local host_id = 1000 + h
    local name = string.format("chaos-host-%02d", h)
    self.hosts[h] = self:resource(host_id, 0, name)
    -- notify and max_check_attempts as Broker's cache has them from Engine's definitions (the
    -- shim adds them to the `_cache` of statuses): the definitions an Engine restart sends
    -- again then change nothing in what the shim adds
    self.cache.hosts[tostring(host_id)] = { name = name, instance_id = 1,
      hostgroups = { { group_id = 1, group_name = "Chaos" } },
      notify = true, max_check_attempts = self.hosts[h].max }
    for s = 1, ns do
      local service_id = (h - 1) * ns + s
      local description = string.format("svc-%03d", service_id)
      local r = self:resource(host_id, service_id, name, description)
      self.services[#self.services + 1] = r
      self.cache.services[host_id .. ":" .. service_id] = { description = description, host_name = name,
        notify = true, max_check_attempts = r.max }
    end
  end
  self.all = {}
  for _, r in ipairs(self.hosts) do self.all[#self.all + 1] = r end
  for _, r in ipairs(self.services) do self.all[#self.all + 1] = r end
  return self
end

function Gen:resource(host_id, service_id, host_name, description)
  return {
    host_id = host_id, service_id = service_id, is_host = service_id == 0,
    host_name = host_name, description = description,
    state = 0, state_type = 1, hard = 0, attempt = 1,
    max = self.rng:int(1, 3), last_check = 0, last_hard_change = 0, last_state_change = 0,
    ack = 0, ack_state = nil, checks = 0,
    -- dt: the downtime Engine has for the resource (one at a time): { id, entry, start,
    -- actual_start, started, left (checks until it ends), starts_in (checks until a future one
    -- starts), cancel (deleted by hand before it starts), cancelled }
    dt = nil,
  }
end

-- scheduled_downtime_depth: 1 while the resource's downtime runs (also across Engine restarts).
function Gen.depth(r) return (r.dt and r.dt.started) and 1 or 0 end

-- The Centreon clock at step i.
function Gen:clock(i) return self.t0 + i // self.rate end

------------------------------------------------------------------------------
-- Event builders (BBDO v2 omits keys whose value is 0 / -1; v3 has every key).

local function words(r) return r.is_host and HOST_WORDS or SERVICE_WORDS end

function Gen:output(r)
  local w = words(r)[r.state]
  local line = string.format("%s: %s check #%d", w, r.is_host and "host" or r.description, r.checks)
  local long = ""
  if r.state ~= 0 and self.rng:chance(0.3) then -- a plugin's long output: a few lines to a few KB
    local lines = {}
    for k = 1, self.rng:int(2, 120) do
      lines[k] = string.format("item %03d of %s: value %d, threshold 80/90, status %s", k,
        r.is_host and r.host_name or r.description, self.rng:int(0, 100), k % 7 == 0 and "CRITICAL" or "OK")
    end
    long = table.concat(lines, "\n")
  end
  local perf = string.format("value=%d;80;90;0;100 time=%.3fs;;;0;", self.rng:int(0, 100), self.rng:next())
  return line, long, perf
end

function Gen:status(r, t, v3)
  local line, long, perf = self:output(r)
  local lhc = r.last_hard_change
  if v3 then
    local ev = {
      _type = r.is_host and 65568 or 65565, category = 1, element = r.is_host and 32 or 29,
      host_id = r.host_id, checked = true, check_type = 0, state = r.state, state_type = r.state_type,
      last_state_change = r.last_state_change, last_hard_state = r.hard, last_hard_state_change = lhc,
      output = line, long_output = long, perfdata = perf, flapping = false,
      percent_state_change = 0.0, latency = self.rng:next(), execution_time = self.rng:next() * 2,
      last_check = t, next_check = t + 300, should_be_scheduled = true, check_attempt = r.attempt,
      notification_number = 0, no_more_notifications = false, last_notification = 0,
      acknowledgement_type = r.ack, scheduled_downtime_depth = Gen.depth(r),
    }
    if r.is_host then
      ev.last_time_up, ev.last_time_down, ev.last_time_unreachable = 0, 0, 0
      ev.next_host_notification = 0
      if long ~= "" then ev.output, ev.long_output = long, "" end -- Engine's host quirk
    else
      ev.service_id = r.service_id
      ev.last_time_ok, ev.last_time_warning, ev.last_time_critical, ev.last_time_unknown = 0, 0, 0, 0
      ev.next_notification, ev.type, ev.internal_id = 0, 0, 0
    end
    ev[r.is_host and "last_time_" .. (r.state == 0 and "up" or r.state == 1 and "down" or "unreachable")
      or "last_time_" .. SERVICE_WORDS[r.state]:lower()] = t
    return ev
  end
  local ev = {
    _type = r.is_host and 65550 or 65560, category = 1, element = r.is_host and 14 or 24,
    acknowledged = r.ack > 0, acknowledgement_type = r.ack, active_checks = true,
    check_interval = 5.0, check_period = "24x7", check_type = 0, check_attempt = r.attempt,
    state = r.state, scheduled_downtime_depth = Gen.depth(r), enabled = true, event_handler = "",
    event_handler_enabled = true, execution_time = self.rng:next() * 2, flap_detection = true,
    checked = true, host_id = r.host_id, flapping = false, last_check = t, last_hard_state = r.hard,
    last_update = t, latency = self.rng:next(), max_check_attempts = r.max, next_check = t + 300,
    no_more_notifications = false, notification_number = 0, notify = true, passive_checks = false,
    percent_state_change = 0.0, retry_interval = 1.0, should_be_scheduled = true,
    state_type = r.state_type, check_command = r.is_host and "base_host_alive" or "generic-active-service",
    output = line .. "\n" .. long, perfdata = perf,
  }
  if lhc > 0 then ev.last_hard_state_change = lhc end
  if r.last_state_change > 0 then ev.last_state_change = r.last_state_change end
  if r.is_host then
    ev.obsess_over_host = true
  else
    ev.obsess_over_service = true
    ev.service_id = r.service_id
  end
  return ev
end

function Gen:acknowledgement(r, t, v3, deleted)
  if v3 then
    return { _type = 65581, category = 1, element = 45, host_id = r.host_id, service_id = r.service_id,
      instance_id = 1, type = r.is_host and 0 or 1, author = "chaos", comment_data = "on it",
      sticky = r.ack == 2, notify_contacts = true, entry_time = r.ack_entry,
      deletion_time = deleted and t or 0, persistent_comment = true, state = r.ack_state }
  end
  local ev = { _type = 65537, category = 1, element = 1, host_id = r.host_id, instance_id = 1,
    type = r.is_host and 0 or 1, author = "chaos", comment_data = "on it", sticky = r.ack == 2,
    notify_contacts = true, entry_time = r.ack_entry, persistent_comment = true, state = r.ack_state }
  if not r.is_host then ev.service_id = r.service_id end
  if deleted then ev.deletion_time = t end
  return ev
end

-- phase: "scheduled" (not started yet), "started", "ended" (a real end: expiry, or deletion by
-- hand when dt.cancelled), "stopped" (Engine stops: every downtime is sent deleted, cancelled
-- when it had not started, as Broker 25.05 does). Unset times: -1 in v3, absent in v2.
function Gen:downtime(r, t, v3, phase)
  local dt = r.dt
  local over = phase == "ended" or phase == "stopped"
  local cancelled = (phase == "ended" and dt.cancelled) or (phase == "stopped" and not dt.started)
  if v3 then
    return { _type = 65572, category = 1, element = 36, id = dt.id, instance_id = 1, host_id = r.host_id,
      service_id = r.service_id, author = "chaos", comment_data = "maintenance",
      type = r.is_host and 2 or 1, duration = dt.duration, triggered_by = 0, entry_time = dt.entry,
      actual_start_time = dt.started and dt.actual_start or -1, actual_end_time = over and t or -1,
      start_time = dt.start, deletion_time = over and t or -1, end_time = dt.start + dt.duration,
      started = dt.started, cancelled = cancelled, fixed = true }
  end
  local ev = { _type = 65541, category = 1, element = 5, author = "chaos", type = r.is_host and 2 or 1,
    duration = dt.duration, end_time = dt.start + dt.duration, entry_time = dt.entry, fixed = true,
    host_id = r.host_id, instance_id = 1, internal_id = dt.id, start_time = dt.start,
    cancelled = cancelled, started = dt.started, comment_data = "maintenance" }
  if dt.started then ev.actual_start_time = dt.actual_start end
  if over then ev.actual_end_time, ev.deletion_time = t, t end
  if not r.is_host then ev.service_id = r.service_id end
  return ev
end

local function copy(ev)
  local c = {}
  for k, v in pairs(ev) do c[k] = v end
  return c
end

-- An event and its identical second copy (each downtime event reaches Lua twice).
local function twice(out, ev)
  out[#out + 1] = ev
  out[#out + 1] = copy(ev)
  return ev
end

-- The events of a downtime that is not in effect — only scheduled, deleted before it started,
-- deleted by an Engine stop: the capture shows them once (lines 403, 417, 488, 606), the rule
-- says twice; both, at random.
function Gen:once_or_twice(out, ev)
  if self.rng:chance(0.5) then return twice(out, ev) end
  out[#out + 1] = ev
  return ev
end

-- The instance event (element 44): running false when Engine stops, true when it starts.
function Gen:instance(t, running)
  return { _type = 65580, category = 1, element = 44, instance_id = 1, name = "Central",
    engine = "Centreon Engine", version = "25.05.0", engine_config_version = "", pid = self.engine_pid,
    running = running, start_time = self.engine_start, end_time = running and 0 or t,
    header = { conf_version = 0 } }
end

-- A definition as Engine sends it at its start (v3 27/30, v2 12/23): scheduled_downtime_depth
-- 0 even in downtime (Engine 25.05 does so); the daemon takes names, enabled, notify, volatile.
function Gen:definition(r, t, v3)
  local ev = {
    category = 1, host_id = r.host_id, enabled = true, notify = true, max_check_attempts = r.max,
    scheduled_downtime_depth = 0, checked = true, state = r.state, state_type = r.state_type,
    check_attempt = r.attempt, last_check = r.last_check, last_hard_state = r.hard,
    last_hard_state_change = r.last_hard_change, last_state_change = r.last_state_change,
    acknowledgement_type = r.ack, acknowledged = r.ack > 0, active_checks = true, passive_checks = false,
    flap_detection = true, flapping = false, check_period = "24x7", notification_period = "24x7",
    check_interval = 5.0, retry_interval = 1.0, last_update = t, output = "", perfdata = "",
    default_notify = true, notify_on_downtime = true, notification_interval = 0.0,
    check_command = r.is_host and "base_host_alive" or "generic-active-service",
  }
  if r.is_host then
    ev.element, ev._type = v3 and 30 or 12, v3 and 65566 or 65548
    ev.name, ev.alias, ev.display_name, ev.address = r.host_name, r.host_name, r.host_name, "127.0.0.1"
    ev.instance_id = 1
    ev.obsess_over_host = true
  else
    ev.element, ev._type = v3 and 27 or 23, v3 and 65563 or 65559
    ev.service_id = r.service_id
    ev.host_name, ev.description, ev.display_name = r.host_name, r.description, r.description
    ev.is_volatile = false
    ev.obsess_over_service = true
  end
  return ev
end

function Gen:adaptive(r, field, value)
  local ev
  if r.is_host then
    ev = { _type = 65592, category = 1, element = 56, host_id = r.host_id }
  else
    ev = { _type = 65591, category = 1, element = 55, host_id = r.host_id, service_id = r.service_id,
           type = 0, internal_id = 0 }
  end
  ev[field] = value
  return ev
end

------------------------------------------------------------------------------
-- The check state machine (Engine's SOFT/HARD logic, simplified).

function Gen:check(r, t)
  local rng = self.rng
  local prev = r.state
  r.checks = r.checks + 1
  if r.state == 0 then
    if rng:chance(r.is_host and self.p_fail_host or self.p_fail) then
      r.state = rng:weighted(r.is_host and HOST_PROBLEMS or SERVICE_PROBLEMS)
      r.attempt = 1
      if r.max == 1 then
        r.state_type, r.hard, r.last_hard_change = 1, r.state, t
      else
        r.state_type = 0
      end
    else
      r.state_type, r.attempt = 1, 1 -- OK again, HARD (after a soft recovery too)
    end
  elseif r.state_type == 0 then -- SOFT problem
    if rng:chance(0.25) then
      r.state, r.state_type, r.attempt = 0, 0, 1 -- soft recovery
    else
      r.attempt = r.attempt + 1
      if rng:chance(0.2) then r.state = rng:weighted(r.is_host and HOST_PROBLEMS or SERVICE_PROBLEMS) end
      if r.attempt >= r.max then r.state_type, r.hard, r.last_hard_change = 1, r.state, t end
    end
  else -- HARD problem
    local u = rng:next()
    if u < 0.28 then
      r.state, r.state_type, r.attempt, r.hard, r.last_hard_change = 0, 1, 1, 0, t
    elseif u < 0.40 then
      local s = rng:weighted(r.is_host and HOST_PROBLEMS or SERVICE_PROBLEMS)
      if s ~= r.state then r.state, r.hard, r.last_hard_change = s, s, t end
    end
  end
  if r.state ~= prev then r.last_state_change = t end
  -- Engine's acknowledgement rules: recovery ends any; a normal one ends on a state change.
  if r.ack > 0 and (r.state == 0 or (r.ack == 1 and r.state ~= r.ack_state)) then r.ack = 0 end
end

------------------------------------------------------------------------------

function Gen:warmup()
  local out = {}
  for _, r in ipairs(self.all) do
    local t = self:clock(0) - 60
    r.last_check = t
    r.last_state_change = t - 86400
    r.last_hard_change = t - 86400
    out[#out + 1] = self:status(r, t, self.rng:chance(0.5))
  end
  return out
end

function Gen:pick()
  if self.rng:chance(self.host_weight) then return self.rng:pick(self.hosts) end
  return self.rng:pick(self.services)
end

-- Ground truth for the checker (see the header).
function Gen:mark(ev, r, running, why)
  self.marks[ev] = { host_id = r.host_id, service_id = r.service_id, running = running, why = why }
end

-- A new downtime on r: fixed, starting now or (30 %) a little later; Engine gives it the next id.
function Gen:new_downtime(r, t, v3)
  local rng = self.rng
  self.next_downtime = self.next_downtime + 1
  local id = self.next_downtime
  local before = self.used_ids[id]
  if before then
    self.stats.id_reuses = self.stats.id_reuses + 1
    if before == r then self.stats.id_reuses_same_resource = self.stats.id_reuses_same_resource + 1 end
  end
  self.used_ids[id] = r
  local future = rng:chance(0.3)
  local starts_in = future and rng:int(1, 4) or 0
  r.dt = { id = id, entry = t, start = t + 5 * starts_in, duration = 3600, started = false,
           left = rng:int(3, 12), starts_in = starts_in, cancel = future and rng:chance(0.25) }
  self.stats.downtimes = self.stats.downtimes + 1
  local out = {}
  if future then
    self.stats.future = self.stats.future + 1
    self:once_or_twice(out, self:downtime(r, t, v3, "scheduled"))
    return out
  end
  if rng:chance(0.3) then self:once_or_twice(out, self:downtime(r, t, v3, "scheduled")) end
  return self:start_downtime(r, t, v3, out)
end

-- The downtime starts: the started event (twice), sometimes the depth in an adaptive status.
function Gen:start_downtime(r, t, v3, out)
  local dt = r.dt
  dt.started, dt.actual_start = true, t
  self.stats.started = self.stats.started + 1
  self:mark(twice(out, self:downtime(r, t, v3, "started")), r, true, "start")
  if v3 and self.rng:chance(0.5) then out[#out + 1] = self:adaptive(r, "scheduled_downtime_depth", 1) end
  return out
end

-- A real end of a started downtime (expiry, or deleted by hand): the end, at once the depth drop
-- (a v3 service: an adaptive status, mostly; a host or v2: a full status without a new check,
-- as Engine sends for a host downtime), then the end's second copy.
function Gen:end_downtime(r, t, v3)
  local rng = self.rng
  r.dt.cancelled = rng:chance(0.4)
  local ended = self:downtime(r, t, v3, "ended")
  r.dt = nil
  self.stats.ended = self.stats.ended + 1
  local drop
  if v3 and not r.is_host and rng:chance(0.8) then
    drop = self:adaptive(r, "scheduled_downtime_depth", 0)
  else
    drop = self:status(r, r.last_check, v3)
  end
  self:mark(drop, r, false, "end")
  return { ended, drop, copy(ended) }
end

-- Engine restarts (DESIGN §4.2 Downtime; the real Broker 25.05 capture): every downtime sent
-- deleted, then the same ones again at the start; no status, no depth change.
function Gen:engine_restart(i)
  local rng = self.rng
  local t = self:clock(i)
  local out = {}
  -- Before it, sometimes, the newest downtimes deleted by hand (their ids are then given
  -- again after the start: the first one is scheduled again on the same resource).
  local known = {}
  for _, r in ipairs(self.all) do if r.dt then known[#known + 1] = r end end
  table.sort(known, function(a, b) return a.dt.id > b.dt.id end)
  local deleted = {}
  for _ = 1, (rng:chance(0.7) and math.min(#known, rng:int(1, 3)) or 0) do
    local r = table.remove(known, 1)
    if r.dt.started then
      for _, ev in ipairs(self:end_downtime(r, math.max(t, r.last_check + 1), rng:chance(0.5))) do
        out[#out + 1] = ev
      end
    else
      r.dt.cancelled = true
      self:once_or_twice(out, self:downtime(r, t, rng:chance(0.5), "ended"))
      r.dt = nil
      self.stats.deleted_unstarted = self.stats.deleted_unstarted + 1
    end
    table.insert(deleted, 1, r)
  end
  for _, r in ipairs(deleted) do self.reschedule[#self.reschedule + 1] = r end
  table.sort(known, function(a, b) return a.dt.id < b.dt.id end)
  local started, ids = 0, {}
  for _, r in ipairs(known) do
    if r.dt.started then started = started + 1 end
    ids[#ids + 1] = r.dt.id
  end
  -- two copies of each (`again`: which ones; else once): each pair together, or all the first
  -- copies then all the second ones
  local function emit(events, again)
    if rng:chance(0.5) then
      for k, ev in ipairs(events) do
        out[#out + 1] = ev
        if again[k] then out[#out + 1] = copy(ev) end
      end
    else
      for _, ev in ipairs(events) do out[#out + 1] = ev end
      for k, ev in ipairs(events) do if again[k] then out[#out + 1] = copy(ev) end end
    end
  end
  if rng:chance(0.8) then out[#out + 1] = self:instance(t, false) end
  local stops, again = {}, {}
  local stops_twice = rng:chance(0.5) -- the capture: once (lines 417, 488-489); the rule: twice
  for k, r in ipairs(known) do
    stops[k], again[k] = self:downtime(r, t, rng:chance(0.5), "stopped"), stops_twice
  end
  emit(stops, again)
  local t2 = t + rng:int(2, 6)
  self.engine_start, self.engine_pid = t2, self.engine_pid + rng:int(1, 500)
  if rng:chance(0.8) then out[#out + 1] = self:instance(t2, true) end
  local definitions = rng:chance(0.5)
  if definitions then
    for _, r in ipairs(self.all) do out[#out + 1] = self:definition(r, t2, rng:chance(0.5)) end
    self.stats.definitions = self.stats.definitions + #self.all
  end
  local starts = {}
  again = {}
  for k, r in ipairs(known) do
    local dt = r.dt
    if dt.started then dt.actual_start = t2 end
    starts[k] = self:downtime(r, t2, rng:chance(0.5), dt.started and "started" or "scheduled")
    again[k] = dt.started or rng:chance(0.5) -- started: twice (494/499); scheduled: once (495)
  end
  emit(starts, again)
  -- the ids of the downtimes still scheduled are kept; the next one takes the highest + 1
  local top = 0
  for _, id in ipairs(ids) do if id > top then top = id end end
  self.next_downtime = top
  self.stats.restarts = self.stats.restarts + 1
  self.restart = { step = i, downtimes = #known, started = started, events = #out, definitions = definitions,
                   next_id = top + 1, deleted_before = #deleted }
  return out
end

-- The events of step i.
function Gen:step(i)
  self.restart = nil
  if self.restart_at[i] then return self:engine_restart(i) end
  local rng = self.rng
  if #self.reschedule > 0 and rng:chance(0.02) then -- a downtime deleted before a restart, again
    local r = table.remove(self.reschedule, 1)
    if not r.dt then return self:new_downtime(r, math.max(r.last_check + 1, self:clock(i)), rng:chance(0.5)) end
  end
  local r = self:pick()
  local t = math.max(r.last_check + 1, self:clock(i))
  local v3 = rng:chance(0.5)
  local dt = r.dt
  if dt and dt.started and dt.left <= 0 then return self:end_downtime(r, t, v3) end
  if dt and not dt.started and dt.starts_in <= 0 then
    if dt.cancel then -- deleted before it started: the depth never changed, no status follows
      local out = {}
      dt.cancelled = true
      self:once_or_twice(out, self:downtime(r, t, v3, "ended"))
      r.dt = nil
      self.stats.deleted_unstarted = self.stats.deleted_unstarted + 1
      return out
    end
    return self:start_downtime(r, t, v3, {})
  end
  local u = rng:next()
  if not r.dt and u < self.p_downtime then return self:new_downtime(r, t, v3) end
  if r.state ~= 0 and r.state_type == 1 and r.ack == 0 and u < self.p_ack then
    r.ack = rng:chance(0.3) and 2 or 1
    r.ack_state, r.ack_entry = r.state, math.max(t, r.last_check)
    local out = { self:acknowledgement(r, t, v3, false) }
    if v3 and rng:chance(0.5) then out[#out + 1] = self:adaptive(r, "acknowledgement_type", r.ack) end
    return out
  end
  if r.ack > 0 and u < self.p_ack_delete then -- removed by hand
    local out = { self:acknowledgement(r, t, v3, true) }
    r.ack = 0
    if v3 and rng:chance(0.5) then out[#out + 1] = self:adaptive(r, "acknowledgement_type", 0) end
    return out
  end
  self:check(r, t)
  r.last_check = t
  if dt then
    if dt.started then dt.left = dt.left - 1 else dt.starts_in = dt.starts_in - 1 end
  end
  return { self:status(r, t, v3) }
end

-- The `_cache` the shim builds for `ev` from this broker_cache (see cache_json_direct): names,
-- host groups, poller, and for statuses notify and max_check_attempts of the definition.
local STATUS_ELEMENTS = { [14] = true, [24] = true, [29] = true, [32] = true }
function Gen.cache_of(cache, ev)
  local c = {}
  local host_id, service_id = ev.host_id, ev.service_id
  local instance_id = ev.instance_id
  if instance_id and instance_id <= 0 then instance_id = nil end
  if host_id and host_id > 0 then
    local h = cache.hosts[tostring(host_id)]
    if h then
      c.host_name = h.name
      local groups = {}
      for _, g in ipairs(h.hostgroups or {}) do groups[#groups + 1] = g.group_name end
      if #groups > 0 then c.hostgroups = groups end
      local own = h
      if service_id and service_id > 0 then
        own = cache.services[host_id .. ":" .. service_id]
        c.service_description = own and own.description
      end
      if own and STATUS_ELEMENTS[ev.element] then
        c.notify, c.max_check_attempts = own.notify, own.max_check_attempts
      end
      instance_id = instance_id or h.instance_id
    end
  end
  if instance_id then c.poller = cache.instances[tostring(instance_id)] end
  return c
end

return Gen
