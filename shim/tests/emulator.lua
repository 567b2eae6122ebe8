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
-- bbdo_version, event_queue_max_size (default 10000), real_clock, start_time, echo_log,
-- extra_fields (default { "seq" }; false: none)
function Emulator.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Emulator)
  self.shim = opts.shim or Emulator.default_shim
  self.conf = opts.conf or {}
  self.bbdo = opts.bbdo_version or (opts.cache and opts.cache.bbdo_version) or "3.0.1"
  self.cache = new_cache(opts.cache)
  self.event_queue_max_size = opts.event_queue_max_size or 10000
  self.real_clock = opts.real_clock
  -- fields the shim sends beside those the daemon reads (its CENTREON_PAGERDUTY_EXTRA_FIELDS
  -- hook): by default the tests' `seq`, which numbers their events; false: none, as under Broker
  if opts.extra_fields == nil then self.extra_fields = { "seq" } else self.extra_fields = opts.extra_fields end
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
  if self.extra_fields then env.CENTREON_PAGERDUTY_EXTRA_FIELDS = self.extra_fields end
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


------------------------------------------------------------------------------
-- Engine: what a real Centreon Engine 25.05 (cbmod, BBDO 3) makes the real Broker 25.05 hand
-- to a Lua output, as captured in tests/fixtures/real-broker-25.05 (README.md of this directory lists
-- each behaviour with the capture lines that show it). Its events are published on the
-- emulator, in the capture's order; its clock is the emulator's (whole seconds).
--
--   local eng = emu:engine({ instance_id = 1, name = "Central" })
--   eng:add_host({ host_id = 1, name = "host_1", max_check_attempts = 1 })
--   eng:add_service({ host_id = 1, service_id = 1, description = "svc_1", max_check_attempts = 3 })
--   eng:start()                      instance (44), definitions (30, 27), downtimes back, 54
--   eng:check(1, 1, 2, "CRITICAL")   one check result (40/39, 41 on an alert, then 29/32)
--   eng:acknowledge(1, 1, { sticky = true })      45, 55/56, comment 35
--   local id = eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 600 })
--   eng:tick()                       downtimes that start or expire now
--   eng:delete_downtime(id)          DEL_SVC_DOWNTIME / DEL_HOST_DOWNTIME
--   eng:set_notify(1, 2, false)      DISABLE_SVC_NOTIFICATIONS: 28 (31 for a host)
--   eng:reload()                     SIGHUP: 54
--   eng:stop()                       44 running false, then every downtime "deleted"

-- One event of each element as the capture has it (line given); the emulator fills in the rest.
local TEMPLATES = {
  [27] = { -- line 4
    _type = 65563, acknowledged = false, acknowledgement_type = 0, action_url = "", active_checks = true,
    category = 1, check_attempt = 1, check_command = "check_state!svc_1", check_freshness = false,
    check_interval = 5, check_period = "24x7", check_type = 0, checked = false, default_active_checks = true,
    default_event_handler_enabled = true, default_flap_detection = true, default_notify = true,
    default_passive_checks = true, description = "svc_1", display_name = "svc_1", element = 27, enabled = true,
    event_handler = "", event_handler_enabled = true, execution_time = 0.0, first_notification_delay = 0.0,
    flap_detection = true, flap_detection_on_critical = true, flap_detection_on_ok = true,
    flap_detection_on_unknown = true, flap_detection_on_warning = true, flapping = false,
    freshness_threshold = 0.0, high_flap_threshold = 0.0, host_id = 1, host_name = "host_1", icon_id = 0,
    icon_image = "", icon_image_alt = "", internal_id = 0, is_volatile = false, last_check = 0,
    last_hard_state = 0, last_hard_state_change = 0, last_notification = 0, last_state_change = 0,
    last_time_critical = 0, last_time_ok = 0, last_time_unknown = 0, last_time_warning = 0,
    last_update = 1796497355, latency = 0.0, long_output = "", low_flap_threshold = 0.0,
    max_check_attempts = 3, next_check = 1796497355, next_notification = 0, no_more_notifications = false,
    notes = "", notes_url = "", notification_interval = 0.0, notification_number = 0,
    notification_period = "24x7", notify = true, notify_on_critical = true, notify_on_downtime = true,
    notify_on_flapping = true, notify_on_recovery = true, notify_on_unknown = true, notify_on_warning = true,
    obsess_over_service = true, output = "", passive_checks = true, percent_state_change = 0.0, perfdata = "",
    retain_nonstatus_information = true, retain_status_information = true, retry_interval = 2.0,
    scheduled_downtime_depth = 0, service_id = 1, severity_id = 0, should_be_scheduled = true,
    stalk_on_critical = false, stalk_on_ok = false, stalk_on_unknown = false, stalk_on_warning = false,
    state = 4, state_type = 1, tags = {}, type = 0,
  },
  [29] = { -- line 12
    _type = 65565, acknowledgement_type = 0, category = 1, check_attempt = 1, check_type = 0, checked = true,
    element = 29, execution_time = 0.001854, flapping = false, host_id = 1, internal_id = 0,
    last_check = 1796497355, last_hard_state = 0, last_hard_state_change = 1796497355, last_notification = 0,
    last_state_change = 1796497355, last_time_critical = 0, last_time_ok = 1796497355, last_time_unknown = 0,
    last_time_warning = 0, latency = 0.367, long_output = "", next_check = 1796497360, next_notification = 0,
    no_more_notifications = false, notification_number = 0,
    output = "OK - svc_1 state from /var/lib/centreon-test/state/svc_1", percent_state_change = 0.0,
    perfdata = "value=0;1;2;0;3", scheduled_downtime_depth = 0, service_id = 1, should_be_scheduled = true,
    state = 0, state_type = 1, type = 0,
  },
  [30] = { -- line 2
    _type = 65566, acknowledged = false, acknowledgement_type = 0, action_url = "", active_checks = true,
    address = "127.0.0.1", alias = "host_1", category = 1, check_attempt = 1,
    check_command = "check_state!host_1", check_freshness = false, check_interval = 5, check_period = "24x7",
    check_type = 0, checked = false, default_active_checks = true, default_event_handler_enabled = true,
    default_flap_detection = true, default_notify = true, default_passive_checks = true,
    display_name = "host_1", element = 30, enabled = true, event_handler = "", event_handler_enabled = true,
    execution_time = 0.0, first_notification_delay = 0.0, flap_detection = true, flap_detection_on_down = true,
    flap_detection_on_unreachable = true, flap_detection_on_up = true, flapping = false,
    freshness_threshold = 0.0, high_flap_threshold = 0.0, host_id = 1, icon_id = 0, icon_image = "",
    icon_image_alt = "", instance_id = 1, last_check = 0, last_hard_state = 0, last_hard_state_change = 0,
    last_notification = 0, last_state_change = 0, last_time_down = 0, last_time_unreachable = 0,
    last_time_up = 0, last_update = 1796497355, latency = 0.0, low_flap_threshold = 0.0,
    max_check_attempts = 1, name = "host_1", next_check = 1796497355, next_host_notification = 0,
    no_more_notifications = false, notes = "", notes_url = "", notification_interval = 0.0,
    notification_number = 0, notification_period = "24x7", notify = true, notify_on_down = true,
    notify_on_downtime = true, notify_on_flapping = true, notify_on_recovery = true,
    notify_on_unreachable = true, obsess_over_host = true, output = "", passive_checks = true,
    percent_state_change = 0.0, perfdata = "", retain_nonstatus_information = true,
    retain_status_information = true, retry_interval = 2.0, scheduled_downtime_depth = 0, severity_id = 0,
    should_be_scheduled = true, stalk_on_down = false, stalk_on_unreachable = false, stalk_on_up = false,
    state = 4, state_type = 1, statusmap_image = "", tags = {}, timezone = "",
  },
  [32] = { -- line 11
    _type = 65568, acknowledgement_type = 0, category = 1, check_attempt = 1, check_type = 0, checked = true,
    element = 32, execution_time = 0.001597, flapping = false, host_id = 1, last_check = 1796497355,
    last_hard_state = 0, last_hard_state_change = 0, last_notification = 0, last_state_change = 0,
    last_time_down = 0, last_time_unreachable = 0, last_time_up = 1796497356, latency = 0.367,
    long_output = "", next_check = 1796497360, next_host_notification = 0, no_more_notifications = false,
    notification_number = 0, output = "OK - host_1 state from /var/lib/centreon-test/state/host_1",
    percent_state_change = 0.0, perfdata = "value=0;1;2;0;3", scheduled_downtime_depth = 0,
    should_be_scheduled = true, state = 0, state_type = 1,
  },
  [35] = { -- line 452
    _type = 65571, author = "(Centreon Engine Process)", category = 1,
    data = "This service has been scheduled for fixed downtime.",
    deletion_time = 0, element = 35, entry_time = 1796497671, entry_type = 2, expire_time = 0, expires = false,
    header = { conf_version = 0 }, host_id = 1, instance_id = 1, internal_id = 2, persistent = false,
    service_id = 2, source = 0, type = 2,
  },
  [36] = { -- line 451
    _type = 65572, actual_end_time = -1, actual_start_time = 1796497671, author = "admin", cancelled = false,
    category = 1, comment_data = "dt step g1", deletion_time = -1, duration = 600, element = 36,
    end_time = 1796498270, entry_time = 1796497670, fixed = true, host_id = 1, id = 3, instance_id = 1,
    service_id = 2, start_time = 1796497670, started = true, triggered_by = 0, type = 1,
  },
  [39] = { -- line 8
    _type = 65575, active_checks_enabled = true, category = 1, check_type = 0,
    command_line = "/var/lib/centreon-test/scripts/check_state.sh host_1", element = 39,
    header = { conf_version = 0 }, host_id = 1, next_check = 1796497355,
  },
  [40] = { -- line 9
    _type = 65576, active_checks_enabled = true, category = 1, check_type = 0,
    command_line = "/var/lib/centreon-test/scripts/check_state.sh svc_1", element = 40,
    header = { conf_version = 0 }, host_id = 1, next_check = 1796497355, service_id = 1,
  },
  [41] = { -- line 66
    _type = 65577, category = 1, ctime = 1796497400, element = 41, host_id = 1, host_name = "host_1",
    instance_name = "Central", msg_type = 0, notification_cmd = "", notification_contact = "",
    output = "CRITICAL - svc_1 state from /var/lib/centreon-test/state/svc_1", retry = 3,
    service_description = "svc_1", service_id = 1, status = 2, type = 1,
  },
  [42] = { -- line 44
    _type = 65578, active_host_checks = true, active_service_checks = true, category = 1,
    check_hosts_freshness = false, check_services_freshness = false, element = 42, event_handlers = false,
    flap_detection = false, global_host_event_handler = "", global_service_event_handler = "",
    header = { conf_version = 0 }, instance_id = 1, last_alive = 1796497385, last_command_check = 1796497384,
    notifications = true, obsess_over_hosts = false, obsess_over_services = false, passive_host_checks = true,
    passive_service_checks = true,
  },
  [44] = { -- line 1
    _type = 65580, category = 1, element = 44, end_time = 0, engine = "Centreon Engine",
    engine_config_version = "", header = { conf_version = 0 }, instance_id = 1, name = "Central", pid = 30816,
    running = true, start_time = 1796497355, version = "25.05.0",
  },
  [45] = { -- line 85
    _type = 65581, author = "admin", category = 1, comment_data = "ack step c", deletion_time = 0, element = 45,
    entry_time = 1796497412, host_id = 1, instance_id = 1, notify_contacts = false, persistent_comment = true,
    service_id = 1, state = 2, sticky = true, type = 1,
  },
  [54] = { -- line 5
    _type = 65590, category = 1, element = 54, header = { conf_version = 0 }, loaded = true, poller_id = 1,
  },
}

local Engine = {}
Engine.__index = Engine
Emulator.Engine = Engine

local HARD, SOFT = 1, 0

function Emulator:engine(opts)
  opts = opts or {}
  return setmetatable({ emu = self, instance_id = opts.instance_id or 1, name = opts.name or "Central",
    pid = opts.pid or 30816, order = {}, hosts = {}, services = {}, downtimes = {}, next_downtime = 1,
    next_comment = 1, running = false, started_once = false }, Engine)
end

function Engine:now() return math.floor(self.emu.now) end

local function make(element, fields)
  local ev = deep_copy(TEMPLATES[element])
  for k, v in pairs(fields) do ev[k] = v end
  return ev
end

function Engine:emit(ev) self.emu:publish(ev) end

local function new_resource(kind, fields, mca)
  return { kind = kind, host_id = fields.host_id, service_id = fields.service_id or 0,
    mca = fields.max_check_attempts or mca, notify = fields.notify ~= false, state = 4, state_type = HARD,
    attempt = 1, checked = false, last_check = 0, last_hard_state = 0, last_hard_state_change = 0,
    last_state_change = 0, last_time = {}, ack = 0, ack_persistent = false, ack_comment = nil, depth = 0,
    output = "", held_by_host = false }
end

function Engine:add_host(h)
  local r = new_resource("host", h, 1)
  r.name = h.name or ("host_" .. h.host_id)
  self.hosts[h.host_id] = r
  self.order[#self.order + 1] = r
  return r
end

function Engine:add_service(s)
  local r = new_resource("service", s, 3)
  r.description = s.description or ("svc_" .. s.service_id)
  self.services[skey(s.host_id, s.service_id)] = r
  self.order[#self.order + 1] = r
  return r
end

function Engine:resource(host_id, service_id)
  if service_id and service_id ~= 0 then return assert(self.services[skey(host_id, service_id)], "no such service") end
  return assert(self.hosts[host_id], "no such host")
end

-- A definition (30, 27): the resource as Engine has it. After a restart, depth 0 even in downtime.
function Engine:definition(r)
  local t = self:now()
  local common = { host_id = r.host_id, max_check_attempts = r.mca, notify = r.notify, enabled = true,
    state = r.state, state_type = r.state_type, check_attempt = r.attempt, checked = r.checked,
    last_check = r.last_check, last_hard_state = r.last_hard_state, last_hard_state_change = r.last_hard_state_change,
    last_state_change = r.last_state_change, output = r.output, acknowledgement_type = r.ack,
    acknowledged = r.ack > 0, scheduled_downtime_depth = 0, last_update = t, next_check = t }
  if r.kind == "host" then
    common.name, common.alias, common.display_name, common.instance_id = r.name, r.name, r.name, self.instance_id
    common.check_command = "check_state!" .. r.name
    return make(30, common)
  end
  local host = self.hosts[r.host_id]
  common.service_id, common.description, common.display_name = r.service_id, r.description, r.description
  common.host_name, common.check_command = host and host.name or "", "check_state!" .. r.description
  return make(27, common)
end

-- A full status (29, 32): no notify, max_check_attempts, acknowledged, instance_id, last_update, names.
function Engine:status(r)
  local f = { host_id = r.host_id, state = r.state, state_type = r.state_type, check_attempt = r.attempt,
    checked = r.checked, last_check = r.last_check, last_hard_state = r.last_hard_state,
    last_hard_state_change = r.last_hard_state_change, last_state_change = r.last_state_change,
    output = r.output, perfdata = "value=" .. r.state, long_output = "", scheduled_downtime_depth = r.depth,
    acknowledgement_type = r.ack, next_check = r.last_check + 5 }
  if r.kind == "host" then
    f.last_time_up, f.last_time_down, f.last_time_unreachable = r.last_time[0] or 0, r.last_time[1] or 0,
      r.last_time[2] or 0
    return make(32, f)
  end
  f.service_id = r.service_id
  f.last_time_ok, f.last_time_warning = r.last_time[0] or 0, r.last_time[1] or 0
  f.last_time_critical, f.last_time_unknown = r.last_time[2] or 0, r.last_time[3] or 0
  return make(29, f)
end

-- An adaptive status: only what changed (55: ids, type, internal_id and the field; 56: host_id and it).
function Engine:adaptive_status(r, field, value)
  if r.kind == "host" then
    return { _type = 65592, category = 1, element = 56, host_id = r.host_id, [field] = value }
  end
  return { _type = 65591, category = 1, element = 55, host_id = r.host_id, service_id = r.service_id,
           type = 0, internal_id = 0, [field] = value }
end

function Engine:downtime_event(dt)
  return make(36, { id = dt.id, host_id = dt.host_id, service_id = dt.service_id, instance_id = self.instance_id,
    author = dt.author, comment_data = dt.comment, type = dt.service_id ~= 0 and 1 or 2, fixed = dt.fixed,
    duration = dt.duration, entry_time = dt.entry_time, start_time = dt.start_time, end_time = dt.end_time,
    started = dt.started, cancelled = dt.cancelled, actual_start_time = dt.actual_start_time,
    actual_end_time = dt.actual_end_time, deletion_time = dt.deletion_time, triggered_by = 0 })
end

function Engine:comment(r, entry_type, persistent, deleted, id)
  local t = self:now()
  if not id then id = self.next_comment; self.next_comment = id + 1 end
  return make(35, { host_id = r.host_id, service_id = r.service_id, instance_id = self.instance_id,
    entry_type = entry_type, persistent = persistent, entry_time = t, internal_id = id,
    deletion_time = deleted and t or 0, type = r.kind == "host" and 1 or 2 }), id
end

-- Engine's downtimes by id, or by start time (its scheduled-downtime map: the order they come
-- back in at its start, lines 494-495).
function Engine:sorted_downtimes(by_start)
  local list = {}
  for _, dt in pairs(self.downtimes) do list[#list + 1] = dt end
  table.sort(list, function(a, b)
    if by_start and a.start_time ~= b.start_time then return a.start_time < b.start_time end
    return a.id < b.id
  end)
  return list
end

function Engine:start()
  assert(not self.running, "Engine already running")
  local t = self:now()
  self.running, self.start_time = true, t
  self:emit(make(44, { instance_id = self.instance_id, name = self.name, pid = self.pid, running = true,
                       start_time = t, end_time = 0 }))
  for _, r in ipairs(self.order) do self:emit(self:definition(r)) end
  -- the downtimes still scheduled come back (started ones with a new actual_start_time, twice);
  -- new ids continue from the highest of them (1 when none is left)
  local max, again = 0, {}
  for _, dt in ipairs(self:sorted_downtimes(true)) do
    if dt.id > max then max = dt.id end
    if dt.started then dt.actual_start_time = t end
    dt.cancelled, dt.actual_end_time, dt.deletion_time = false, -1, -1
    self:emit(self:downtime_event(dt))
    if dt.started then again[#again + 1] = dt end
  end
  self.next_downtime = max + 1
  self:emit(make(54, { poller_id = self.instance_id }))
  self:log("Event loop start")
  self:log("Configuration loaded, main loop starting.")
  for _, dt in ipairs(again) do self:emit(self:downtime_event(dt)) end
  for _, dt in ipairs(again) do
    local r = self:resource(dt.host_id, dt.service_id)
    self:emit(self:adaptive_status(r, "scheduled_downtime_depth", r.depth))
  end
  self.started_once = true
end

function Engine:stop()
  assert(self.running, "Engine not running")
  local t = self:now()
  self:log("Caught SIG TERM, shutting down ...")
  self:emit(make(44, { instance_id = self.instance_id, name = self.name, pid = self.pid, running = false,
                       start_time = self.start_time, end_time = t }))
  self:log("Successfully shutdown ...")
  -- then a "deleted" downtime event for every downtime, started or not (nobody deleted them):
  -- cancelled for those not started; resources keep their depth (statuses show it at start)
  for _, dt in ipairs(self:sorted_downtimes()) do
    local ev = self:downtime_event(dt)
    ev.cancelled, ev.actual_end_time, ev.deletion_time = not dt.started, t, t
    self:emit(ev)
  end
  self.running = false
end

function Engine:reload() self:emit(make(54, { poller_id = self.instance_id })) end

function Engine:log(text) -- an information log (msg_type 5)
  self:emit(make(41, { ctime = self:now(), host_id = 0, host_name = "", service_id = 0, service_description = "",
    status = 0, retry = 0, output = text, msg_type = 5, type = 0, instance_name = self.name }))
end

function Engine:instance_status()
  local t = self:now()
  self:emit(make(42, { instance_id = self.instance_id, last_alive = t, last_command_check = t - 1 }))
end

-- One check result. Services: SOFT retries up to max_check_attempts; HARD at once while the host
-- is not UP, and back to SOFT attempt 1 at the first problem result after the host is UP again.
-- An acknowledgement ends on recovery, a non-sticky one also on a change of problem state.
function Engine:check(host_id, service_id, state, output)
  assert(self.running, "Engine not running")
  local r = self:resource(host_id, service_id)
  local t = self:now()
  local was, previous_hard = r.state, r.last_hard_state
  local host = r.kind == "service" and self.hosts[r.host_id]
  local host_up = not host or host.state == 0 or host.state == 4
  if state == 0 then
    r.state_type, r.attempt, r.held_by_host = HARD, 1, false
  elseif was == 0 or was == 4 then
    r.attempt = 1
    if r.mca <= 1 or not host_up then r.state_type = HARD else r.state_type = SOFT end
    r.held_by_host = not host_up
  elseif r.state_type == SOFT then
    r.attempt = r.attempt + 1
    if r.attempt >= r.mca or not host_up then
      r.state_type = HARD
      r.held_by_host = not host_up
    end
  elseif r.held_by_host and host_up then
    r.state_type, r.attempt, r.held_by_host = SOFT, 1, false
  end
  -- a HARD state change: a HARD state other than the last one (a never-checked service's first
  -- result counts, not a host's: lines 11-12)
  local hard_change = r.state_type == HARD and (state ~= r.last_hard_state or (was == 4 and r.kind == "service"))
  local ended_ack = r.ack > 0 and (state == 0 or (state ~= was and r.ack == 1))
  r.state, r.checked, r.last_check, r.output = state, true, t, output or ""
  r.last_time[state] = t
  if state ~= was then r.last_state_change = t end
  if hard_change then
    r.last_hard_state = state
    r.last_hard_state_change = r.kind == "host" and t + 1 or t -- a host's can be last_check + 1 s
  end

  if r.kind == "host" then
    self:emit(make(39, { host_id = r.host_id, next_check = t + 5, command_line = "check_state.sh " .. r.name }))
  else
    self:emit(make(40, { host_id = r.host_id, service_id = r.service_id, next_check = t + 5,
                         command_line = "check_state.sh " .. r.description }))
  end
  if hard_change and not (was == 4 and state == 0) then -- an alert log
    self:emit(make(41, { ctime = t, host_id = r.host_id, host_name = r.kind == "host" and r.name or "",
      service_id = r.service_id, service_description = r.description or "", status = state, retry = r.attempt,
      output = r.output, msg_type = r.kind == "host" and 1 or 0, type = HARD, instance_name = self.name }))
  end
  if ended_ack then
    r.ack = 0
    if r.ack_comment and not r.ack_persistent then -- a non-persistent comment goes with it
      self:emit((self:comment(r, 4, false, true, r.ack_comment)))
    end
    r.ack_comment = nil
  end
  local status = self:status(r)
  -- a host's status at its HARD change still shows the previous last_hard_state (226, 336, 252)
  if hard_change and r.kind == "host" then status.last_hard_state = previous_hard end
  self:emit(status)
end

function Engine:acknowledge(host_id, service_id, opts)
  opts = opts or {}
  local r = self:resource(host_id, service_id)
  local t = self:now()
  local sticky, persistent = opts.sticky ~= false, opts.persistent == true
  self:emit(make(45, { host_id = r.host_id, service_id = r.service_id, instance_id = self.instance_id,
    type = r.kind == "host" and 0 or 1, entry_time = t, deletion_time = 0, state = r.state, sticky = sticky,
    persistent_comment = persistent, author = opts.author or "admin", comment_data = opts.comment or "ack",
    notify_contacts = false }))
  r.ack, r.ack_persistent = sticky and 2 or 1, persistent
  self:emit(self:adaptive_status(r, "acknowledgement_type", r.ack))
  local ev, id = self:comment(r, 4, persistent, false)
  r.ack_comment = id
  self:emit(ev)
end

function Engine:set_notify(host_id, service_id, notify)
  local r = self:resource(host_id, service_id)
  r.notify = notify
  if r.kind == "host" then
    self:emit({ _type = 65567, category = 1, element = 31, host_id = r.host_id, notify = notify })
  else
    self:emit({ _type = 65564, category = 1, element = 28, host_id = r.host_id, service_id = r.service_id,
                notify = notify })
  end
end

-- d: host_id, service_id (nil or 0: the host), start_time (default now), end_time or duration,
-- fixed (default true), author, comment. Returns the downtime id.
function Engine:schedule_downtime(d)
  local t = self:now()
  local start = d.start_time or t
  local finish = d.end_time or (start + (d.duration or 3600))
  local dt = { id = self.next_downtime, host_id = d.host_id, service_id = d.service_id or 0, entry_time = t,
    start_time = start, end_time = finish, fixed = d.fixed ~= false, duration = d.duration or (finish - start),
    author = d.author or "admin", comment = d.comment or "downtime", started = false, cancelled = false,
    actual_start_time = -1, actual_end_time = -1, deletion_time = -1 }
  self.next_downtime = dt.id + 1
  self.downtimes[dt.id] = dt
  local r = self:resource(dt.host_id, dt.service_id)
  local comment
  comment, dt.comment_id = self:comment(r, 2, false, false)
  if start <= t then
    self:start_downtime(dt, comment)
  else
    self:emit(self:downtime_event(dt))
    self:emit(comment)
  end
  return dt.id
end

-- A downtime starts: its event twice (the comment between when it is new), then the depth.
function Engine:start_downtime(dt, comment)
  local r = self:resource(dt.host_id, dt.service_id)
  dt.started, dt.actual_start_time = true, self:now()
  r.depth = r.depth + 1
  self:emit(self:downtime_event(dt))
  if comment then self:emit(comment) end
  self:emit(self:downtime_event(dt))
  self:emit(self:adaptive_status(r, "scheduled_downtime_depth", r.depth))
end

-- A downtime ends (expiry, or a real deletion): its event twice; between them the depth drop (an
-- adaptive status for a service; a full status for a host) and the comment's deletion.
function Engine:end_downtime(dt, cancelled)
  local r = self:resource(dt.host_id, dt.service_id)
  local t = self:now()
  self.downtimes[dt.id] = nil
  dt.cancelled, dt.actual_end_time, dt.deletion_time = cancelled, t, t
  if not dt.started then
    self:emit((self:comment(r, 2, false, true, dt.comment_id)))
    self:emit(self:downtime_event(dt))
    return
  end
  r.depth = math.max(0, r.depth - 1)
  self:emit(self:downtime_event(dt))
  if r.kind == "host" then self:emit(self:status(r))
  else self:emit(self:adaptive_status(r, "scheduled_downtime_depth", r.depth)) end
  self:emit((self:comment(r, 2, false, true, dt.comment_id)))
  self:emit(self:downtime_event(dt))
  if not cancelled then self:emit(self:status(r)) end -- an expiry: a status follows at once
end

function Engine:delete_downtime(id)
  local dt = assert(self.downtimes[id], "no such downtime")
  self:end_downtime(dt, true)
end

-- Downtimes whose time has come: scheduled ones start, fixed started ones expire.
function Engine:tick()
  local t = self:now()
  for _, dt in ipairs(self:sorted_downtimes()) do
    if not dt.started and dt.start_time <= t then self:start_downtime(dt)
    elseif dt.started and dt.fixed and dt.end_time <= t then self:end_downtime(dt, false) end
  end
end

return Emulator
