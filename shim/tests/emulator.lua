--[[
A Centreon Broker (>= 22.04) emulator for one Lua output, enough to test the shim
as Broker runs it (reference/centreon-broker.md §1, §5):

* start(): a new Lua state (a fresh global environment), globals broker,
  broker_log, broker_cache, then the script is loaded, filter(1, 2) is called
  once (a filter that errors or returns a non-boolean is disabled), then init(conf).
* the muxer: every published event is kept until acknowledged. The output reads
  events in order; each one fed to broker_cache, then counted (luabinding's
  `_total`) whatever filter() says; write() is called only if filter returned
  true. A `true` from write() or flush() acknowledges all counted events
  (`_total`), a false/error/non-boolean acknowledges none. Unacknowledged events
  are not re-delivered in the same session.
* once `event_queue_max_size` events are delivered and unacknowledged, write()
  is no longer called; flush() is then called once per (emulated) second.
* idle: flush() at once if events were written since the last flush, else at
  most once per second; then 100 ms pass (usleep in failover::_run).
* stop(): flush() (its acknowledgements applied), then the Lua state is dropped.
  start() again replays every unacknowledged event, in order. crash(): the same
  without the flush() (cbd killed).

Time is emulated: `emu.now` advances only with idle steps and advance(); the
shim reads it through the CENTREON_PAGERDUTY_NOW hook unless opts.real_clock.
Every call of write()/flush() is timed: last_call_cpu (os.clock), last_call_wall
(socket.gettime), and on_call(name, wall, result) if the test sets it.
]]

local gettime = require("socket").gettime

local Emulator = {}
Emulator.__index = Emulator

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = deep_copy(x) end
  return t
end
Emulator.deep_copy = deep_copy

------------------------------------------------------------------------------
-- broker_cache: what Broker's Lua cache keeps (broker/lua/src/macro_cache.cc and
-- broker_cache.cc, 22.04 to 25.05), seeded with the content of cache.json (see
-- fixtures/README.md) and fed with EVERY event before the output sees it, filtered or not
-- (lua/stream.cc: _cache.write(data), then luabinding's write):
-- * a host or service definition (12/23, 27/30) replaces the resource whole, or erases it
--   when `enabled` is false; get_host()/get_service() answer it as a table, every field of
--   the definition (notify a boolean, max_check_attempts an integer...), patched since by:
-- * an adaptive definition (28/31): notify, max_check_attempts, active_checks... (those it has);
-- * a full status (14/24, 29/32): the state fields; an adaptive status (55/56): downtime depth,
--   acknowledgement type, notification number (those it has);
-- * get_severity(): the resource's CRITICALITY_LEVEL custom variable (custom variable events,
--   v2 element 3 / v3 37; `severity` in cache.json), nil without one. Broker throws and
--   catches a C++ exception for a resource without one: `severity_cost` (seconds, default 0)
--   burns that much CPU per such call, and `calls_by.get_severity` counts the calls.
-- Host groups and service groups are kept apart from the resources, as Broker does.

local Cache = {}
Cache.__index = Cache

local function skey(host_id, service_id) return tostring(host_id) .. ":" .. tostring(service_id) end

local function new_cache(data)
  data = deep_copy(data or {})
  local self = setmetatable({ hosts = {}, services = {}, instances = {}, hostgroups = {}, servicegroups = {},
                              severities = {}, calls = 0, calls_by = {}, fail = false, severity_cost = 0 }, Cache)
  for id, name in pairs(data.instances or {}) do self.instances[math.tointeger(tonumber(id))] = name end
  for id, h in pairs(data.hosts or {}) do
    h.host_id = math.tointeger(tonumber(id))
    self.hostgroups[h.host_id] = h.hostgroups or {}
    self.severities[skey(h.host_id, 0)] = h.severity
    h.hostgroups, h.severity = nil, nil
    self.hosts[h.host_id] = h
  end
  for key, s in pairs(data.services or {}) do
    local hid, sid = key:match("^(%d+):(%d+)$")
    s.host_id, s.service_id = math.tointeger(tonumber(hid)), math.tointeger(tonumber(sid))
    self.servicegroups[key] = s.servicegroups or {}
    self.severities[key] = s.severity
    s.servicegroups, s.severity = nil, nil
    self.services[key] = s
  end
  return self
end

-- What a full status sets in the cached resource (macro_cache::_process_pb_*_status).
local STATUS_FIELDS = { "checked", "check_type", "state", "state_type", "last_state_change", "last_hard_state",
  "last_hard_state_change", "last_time_up", "last_time_down", "last_time_unreachable", "last_time_ok",
  "last_time_warning", "last_time_critical", "last_time_unknown", "output", "perfdata", "flapping",
  "percent_state_change", "latency", "execution_time", "last_check", "next_check", "should_be_scheduled",
  "check_attempt", "notification_number", "no_more_notifications", "last_notification", "next_host_notification",
  "next_notification", "acknowledgement_type", "scheduled_downtime_depth" }
-- What an adaptive definition sets (the fields it carries; macro_cache::_process_pb_adaptive_*).
local ADAPTIVE_FIELDS = { "notify", "active_checks", "should_be_scheduled", "passive_checks", "event_handler_enabled",
  "flap_detection", "obsess_over_host", "obsess_over_service", "event_handler", "check_command", "check_interval",
  "retry_interval", "max_check_attempts", "check_freshness", "check_period", "notification_period" }
local ADAPTIVE_STATUS_FIELDS = { "scheduled_downtime_depth", "acknowledgement_type", "notification_number" }

local function patch(target, ev, fields)
  if not target then return end
  for _, k in ipairs(fields) do
    if ev[k] ~= nil then target[k] = ev[k] end
  end
end

local function definition_copy(ev)
  local r = deep_copy(ev)
  r._type, r.category, r.element, r.header = nil, nil, nil, nil
  return r
end

function Cache:learn(ev)
  local e = ev.element
  if ev.category ~= 1 then return end
  if e == 12 or e == 30 then -- host definition (v2, v3)
    if ev.enabled == false then self.hosts[ev.host_id] = nil; return end
    local r = definition_copy(ev)
    local old = self.hosts[ev.host_id]
    if old then -- fields cache.json knows and the definition does not carry (v2 has no notes_url...)
      for k, v in pairs(old) do if r[k] == nil then r[k] = v end end
    end
    self.hosts[ev.host_id] = r
  elseif e == 23 or e == 27 then -- service definition
    local key = skey(ev.host_id, ev.service_id)
    if ev.enabled == false then self.services[key] = nil; return end
    local r = definition_copy(ev)
    local old = self.services[key]
    if old then
      for k, v in pairs(old) do if r[k] == nil then r[k] = v end end
    end
    self.services[key] = r
  elseif e == 31 then patch(self.hosts[ev.host_id], ev, ADAPTIVE_FIELDS)
  elseif e == 28 then patch(self.services[skey(ev.host_id, ev.service_id)], ev, ADAPTIVE_FIELDS)
  elseif e == 14 or e == 32 then patch(self.hosts[ev.host_id], ev, STATUS_FIELDS)
  elseif e == 24 or e == 29 then patch(self.services[skey(ev.host_id, ev.service_id)], ev, STATUS_FIELDS)
  elseif e == 56 then patch(self.hosts[ev.host_id], ev, ADAPTIVE_STATUS_FIELDS)
  elseif e == 55 then patch(self.services[skey(ev.host_id, ev.service_id)], ev, ADAPTIVE_STATUS_FIELDS)
  elseif (e == 17 or e == 44) and ev.instance_id and type(ev.name) == "string" then -- instance (v2, v3)
    self.instances[ev.instance_id] = ev.name
  elseif (e == 3 or e == 37) and ev.name == "CRITICALITY_LEVEL" then -- custom variable (v2, v3)
    local level = math.tointeger(tonumber(ev.value))
    if level and level ~= 0 then self.severities[skey(ev.host_id, ev.service_id or 0)] = level end
  end
end

function Cache:_enter(method)
  self.calls = self.calls + 1
  self.calls_by[method] = (self.calls_by[method] or 0) + 1
  if self.fail then error("broker_cache failure injected by the test") end
end

function Cache:get_hostname(host_id)
  self:_enter("get_hostname")
  local h = self.hosts[host_id]
  return h and h.name
end
function Cache:get_service_description(host_id, service_id)
  self:_enter("get_service_description")
  local s = self.services[skey(host_id, service_id)]
  return s and s.description
end
function Cache:get_hostgroups(host_id)
  self:_enter("get_hostgroups")
  return deep_copy(self.hostgroups[host_id] or {})
end
function Cache:get_servicegroups(host_id, service_id)
  self:_enter("get_servicegroups")
  return deep_copy(self.servicegroups[skey(host_id, service_id)] or {})
end
local function resource(self, host_id, service_id)
  if service_id then return self.services[skey(host_id, service_id)] end
  return self.hosts[host_id]
end
local function burn(seconds) -- CPU, like Broker's throw and catch
  if seconds <= 0 then return end
  local deadline = os.clock() + seconds
  repeat until os.clock() >= deadline
end
function Cache:get_severity(host_id, service_id)
  self:_enter("get_severity")
  local level = self.severities[skey(host_id, service_id or 0)]
  if level == nil then burn(self.severity_cost) end
  return level
end
function Cache:get_notes_url(host_id, service_id)
  self:_enter("get_notes_url")
  local r = resource(self, host_id, service_id)
  return r and r.notes_url
end
function Cache:get_action_url(host_id, service_id)
  self:_enter("get_action_url")
  local r = resource(self, host_id, service_id)
  return r and r.action_url
end
function Cache:get_notes(host_id, service_id)
  self:_enter("get_notes")
  local r = resource(self, host_id, service_id)
  return r and r.notes
end
function Cache:get_instance_name(instance_id)
  self:_enter("get_instance_name")
  return self.instances[instance_id]
end
function Cache:get_host(host_id)
  self:_enter("get_host")
  local h = self.hosts[host_id]
  if not h then return nil end
  local t = deep_copy(h)
  t._type, t.category, t.element = 65566, 1, 30
  return t
end
function Cache:get_service(host_id, service_id)
  self:_enter("get_service")
  local s = self.services[skey(host_id, service_id)]
  if not s then return nil end
  local t = deep_copy(s)
  t._type, t.category, t.element = 65563, 1, 27
  return t
end

------------------------------------------------------------------------------
-- broker_log: records every message (with its level) and the parameters.

local function new_log(emu)
  local log = { records = {}, params = nil, level = nil }
  function log:set_parameters(level, path)
    if math.type(level) ~= "integer" or level < 0 or level > 3 then
      error("set_parameters: level must be an integer between 0 and 3")
    end
    self.params = { level = level, path = path }
    self.level = level
  end
  local function record(kind)
    return function(self, level, text)
      if math.type(level) ~= "integer" then error("broker_log:" .. kind .. ": level must be an integer") end
      if type(text) ~= "string" then error("broker_log:" .. kind .. ": text must be a string") end
      local r = { kind = kind, level = level, text = text, visible = self.level == nil or level <= self.level }
      self.records[#self.records + 1] = r
      if emu.echo_log and r.visible then io.stderr:write(kind:upper(), ": ", text, "\n") end
    end
  end
  log.info, log.warning, log.error = record("info"), record("warning"), record("error")
  return log
end

------------------------------------------------------------------------------

-- opts: shim (path), conf (parameters table), cache (cache.json content),
-- bbdo_version, event_queue_max_size (default 10000), real_clock, start_time, echo_log
function Emulator.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Emulator)
  self.shim = opts.shim or Emulator.default_shim
  self.conf = opts.conf or {}
  self.bbdo = opts.bbdo_version or (opts.cache and opts.cache.bbdo_version) or "3.0.1"
  self.cache = new_cache(opts.cache)
  self.event_queue_max_size = opts.event_queue_max_size or 10000
  self.real_clock = opts.real_clock
  self.echo_log = opts.echo_log
  self.now = opts.start_time or 1781000000.0
  self.queue = {}     -- every event ever published; queue[head..] are unacknowledged
  self.head = 1       -- first unacknowledged event
  self.cursor = 1     -- next event to read in this session
  self.acked = 0      -- events acknowledged, all sessions
  self.sessions = 0
  self.stats = { writes = 0, write_true = 0, flushes = 0, flush_true = 0, filtered = 0, errors = 0 }
  self.written = {}   -- every event given to write(), all sessions (its queue index)
  self.log = nil
  return self
end

-- A new Lua state: globals, load, filter(1, 2), init(conf).
function Emulator:start()
  assert(not self.env, "already started")
  self.sessions = self.sessions + 1
  self.log = new_log(self)
  local emu = self
  local env = setmetatable({}, { __index = _G })
  env.broker = {
    bbdo_version = function() return emu.bbdo end,
  }
  env.broker_log = self.log
  env.broker_cache = self.cache
  if not self.real_clock then env.CENTREON_PAGERDUTY_NOW = function() return emu.now end end
  self.env = env
  local chunk = assert(loadfile(self.shim, "t", env))
  chunk()
  assert(type(env.init) == "function", "init() global function is missing")
  assert(type(env.write) == "function", "write() global function is missing")
  self.filter_enabled = false
  if type(env.filter) == "function" then
    local ok, r = pcall(env.filter, 1, 2)
    self.filter_enabled = ok and type(r) == "boolean"
  end
  self.total = 0            -- luabinding::_total
  self.cursor = self.head   -- muxer::nack_events(): replay what was never acknowledged
  self.written_since_flush = false
  self.next_flush = self.now
  env.init(deep_copy(self.conf))
end

function Emulator:_ack(n)
  assert(self.head + n <= self.cursor, "acknowledged more events than delivered")
  self.head = self.head + n
  self.acked = self.acked + n
end

-- Calls a Lua entry point as luabinding does: a boolean or nothing acknowledged.
function Emulator:_call(name, ...)
  local t0, w0 = os.clock(), gettime()
  local ok, r = pcall(self.env[name], ...)
  self.last_call_cpu, self.last_call_wall = os.clock() - t0, gettime() - w0
  if self.on_call then self.on_call(name, self.last_call_wall, r) end
  if not ok or type(r) ~= "boolean" then
    self.stats.errors = self.stats.errors + 1
    self.last_error = ok and ("`" .. name .. "' must return a boolean") or r
    return false
  end
  if r then
    local n = self.total
    self.total = 0
    self:_ack(n)
  end
  return r
end

function Emulator:publish(events)
  if events._type or events.category then events = { events } end
  for _, ev in ipairs(events) do self.queue[#self.queue + 1] = ev end
end

function Emulator:pending() return #self.queue - self.head + 1 end    -- not acknowledged
function Emulator:in_flight() return self.cursor - self.head end      -- delivered, not acknowledged
function Emulator:blocked() return self:in_flight() >= self.event_queue_max_size end
function Emulator:has_event() return self.cursor <= #self.queue and not self:blocked() end

-- Delivers the next event. Returns "write" (with write()'s result) or "filtered".
function Emulator:deliver()
  assert(self:has_event(), "no event to deliver")
  local index = self.cursor
  local ev = self.queue[index]
  self.cursor = index + 1
  self.cache:learn(ev)
  self.total = self.total + 1
  self.written_since_flush = true
  if self.filter_enabled then
    local ok, r = pcall(self.env.filter, ev.category, ev.element)
    if not ok or type(r) ~= "boolean" then
      self.stats.errors = self.stats.errors + 1
      return "filtered", false
    end
    if not r then
      self.stats.filtered = self.stats.filtered + 1
      return "filtered", false
    end
  end
  self.stats.writes = self.stats.writes + 1
  self.written[#self.written + 1] = index
  local r = self:_call("write", deep_copy(ev))
  if r then self.stats.write_true = self.stats.write_true + 1 end
  self.last_write = r
  return "write", r
end

function Emulator:flush()
  self.stats.flushes = self.stats.flushes + 1
  local r = self:_call("flush")
  if r then self.stats.flush_true = self.stats.flush_true + 1 end
  self.written_since_flush = false
  self.next_flush = self.now + 1
  return r
end

-- One turn of failover::_run when there is nothing to read: maybe flush, then 100 ms.
function Emulator:idle_step()
  local r
  if self.written_since_flush or self.now >= self.next_flush then r = self:flush() end
  self:advance(0.1)
  return r
end

function Emulator:step()
  if self:has_event() then return self:deliver() end
  return "idle", self:idle_step()
end

-- Delivers every deliverable event, then idles until a flush happened (or `idle` seconds).
function Emulator:run(idle)
  while self:has_event() do self:deliver() end
  local deadline = self.now + (idle or 0)
  self:idle_step()
  while self.now < deadline - 1e-9 do
    if self:has_event() then self:deliver() else self:idle_step() end
  end
end

function Emulator:advance(dt) self.now = self.now + dt end

function Emulator:stop()
  assert(self.env, "not started")
  self:flush()        -- luabinding::stop(): flush(), its acks applied
  self.env = nil      -- lua_close
  self.total = 0
end

function Emulator:restart()
  self:stop()
  self:start()
end

-- cbd killed (kill -9, crash): the Lua state is gone without a last flush();
-- start() then replays every event never acknowledged.
function Emulator:crash()
  assert(self.env, "not started")
  self.env = nil
  self.total = 0
end

-- Log records whose text contains `pattern` (plain), optionally only visible ones.
function Emulator:logs(pattern, kind)
  local out = {}
  for _, r in ipairs(self.log and self.log.records or {}) do
    if (not pattern or r.text:find(pattern, 1, true)) and (not kind or r.kind == kind) then
      out[#out + 1] = r
    end
  end
  return out
end

return Emulator
