--[[
The chaos run's Broker event generator: a deterministic stream (per seed) of the raw events
Centreon Broker hands to a Lua stream connector, for many resources flapping between OK and
WARNING/CRITICAL/UNKNOWN (hosts: UP/DOWN/UNREACHABLE), SOFT then HARD, with increasing
last_check, BBDO v2 and v3 mixed per event (as Broker 22.04-23.04 mixes them), and sometimes
acknowledgements (normal and sticky, some removed by hand), downtimes (service and host,
with adaptive statuses) — field names and "absent when 0" rules as in tests/fixtures.

  local Gen = require("gen")
  local g = Gen.new{ seed = 42, hosts = 20, services_per_host = 10, t0 = 1781000000, rate = 150 }
  g:warmup()            -> events: one HARD OK status per resource (first sight, silent)
  g:step(i)             -> events of step i (1 to 3 events); `i` sets the Centreon clock
  g.cache               -> broker_cache content (names, groups, poller) for the emulator
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
-- second of the Centreon clock), p_fail, p_fail_host, p_ack, p_downtime
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
  self.next_downtime = 5000
  self.hosts, self.services = {}, {}
  self.cache = { instances = { ["1"] = "Central" }, hosts = {}, services = {} }
  local nh, ns = opts.hosts or 20, opts.services_per_host or 10
  for h = 1, nh do
    local host_id = 1000 + h
    local name = string.format("chaos-host-%02d", h)
    self.hosts[h] = self:resource(host_id, 0, name)
    self.cache.hosts[tostring(host_id)] = { name = name, instance_id = 1,
      hostgroups = { { group_id = 1, group_name = "Chaos" } } }
    for s = 1, ns do
      local service_id = (h - 1) * ns + s
      local description = string.format("svc-%03d", service_id)
      local r = self:resource(host_id, service_id, name, description)
      self.services[#self.services + 1] = r
      self.cache.services[host_id .. ":" .. service_id] = { description = description }
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
    ack = 0, ack_state = nil, dt = nil, dt_left = 0, checks = 0,
  }
end

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
      acknowledgement_type = r.ack, scheduled_downtime_depth = r.dt and 1 or 0,
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
    state = r.state, scheduled_downtime_depth = r.dt and 1 or 0, enabled = true, event_handler = "",
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

function Gen:downtime(r, t, v3, phase)
  local dt = r.dt
  local started = phase ~= "scheduled"
  local ended = phase == "ended"
  if v3 then
    return { _type = 65572, category = 1, element = 36, id = dt.id, instance_id = 1, host_id = r.host_id,
      service_id = r.service_id, author = "chaos", comment_data = "maintenance",
      type = r.is_host and 2 or 1, duration = 3600, triggered_by = 0, entry_time = dt.entry,
      actual_start_time = started and dt.entry or -1, actual_end_time = ended and t or -1,
      start_time = dt.entry, deletion_time = ended and t or -1, end_time = dt.entry + 3600,
      started = started, cancelled = false, fixed = true }
  end
  local ev = { _type = 65541, category = 1, element = 5, author = "chaos", type = r.is_host and 2 or 1,
    duration = 3600, end_time = dt.entry + 3600, entry_time = dt.entry, fixed = true,
    host_id = r.host_id, instance_id = 1, internal_id = dt.id, start_time = dt.entry,
    cancelled = false, started = started, comment_data = "maintenance" }
  if started then ev.actual_start_time = dt.entry end
  if ended then ev.actual_end_time, ev.deletion_time = t, t end
  if not r.is_host then ev.service_id = r.service_id end
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

-- The events of step i.
function Gen:step(i)
  local rng = self.rng
  local r = self:pick()
  local t = math.max(r.last_check + 1, self:clock(i))
  local v3 = rng:chance(0.5)
  if r.dt and r.dt_left <= 0 then -- the downtime ends
    local out = { self:downtime(r, t, v3, "ended") }
    r.dt = nil
    if v3 and rng:chance(0.5) then out[#out + 1] = self:adaptive(r, "scheduled_downtime_depth", 0) end
    return out
  end
  local u = rng:next()
  if not r.dt and u < self.p_downtime then
    self.next_downtime = self.next_downtime + 1
    r.dt = { id = self.next_downtime, entry = t }
    r.dt_left = rng:int(3, 12)
    local out = {}
    if rng:chance(0.5) then out[#out + 1] = self:downtime(r, t, v3, "scheduled") end
    out[#out + 1] = self:downtime(r, t, v3, "started")
    if v3 and rng:chance(0.5) then out[#out + 1] = self:adaptive(r, "scheduled_downtime_depth", 1) end
    return out
  end
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
  if r.dt then r.dt_left = r.dt_left - 1 end
  return { self:status(r, t, v3) }
end

-- The `_cache` the shim builds for `ev` from this broker_cache (see cache_json_direct).
function Gen.cache_of(cache, ev)
  local c = {}
  local host_id, service_id = ev.host_id, ev.service_id
  if host_id and host_id > 0 then
    local h = cache.hosts[tostring(host_id)]
    if h then
      c.host_name = h.name
      local groups = {}
      for _, g in ipairs(h.hostgroups or {}) do groups[#groups + 1] = g.group_name end
      if #groups > 0 then c.hostgroups = groups end
      if service_id and service_id > 0 then
        local s = cache.services[host_id .. ":" .. service_id]
        c.service_description = s and s.description
      end
      c.poller = cache.instances[tostring(ev.instance_id or h.instance_id)]
    end
  end
  return c
end

return Gen
