-- broker_cache answers the shim keeps per resource (DESIGN §3.4, §4.2): `notify` and
-- `max_check_attempts` in the `_cache` of statuses (v3 statuses carry neither), and
-- get_severity()/get_host()/get_service() asked once per resource until a definition of
-- that resource (Broker throws and catches a C++ exception in get_severity for a resource
-- without a severity: it was ~12 % of the shim's thread in a real cbd).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

local CACHE = {
  instances = { ["1"] = "Central" },
  hosts = { ["10"] = { name = "h10", instance_id = 1, severity = 2 } },
  services = { ["10:1"] = { description = "s1" }, ["10:2"] = { description = "s2", severity = 4 } },
}

local function host_definition(extra)
  local ev = { _type = 65566, category = 1, element = 30, host_id = 10, name = "h10", instance_id = 1,
               enabled = true, notify = true, max_check_attempts = 2, state = 4, checked = false }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end
local function service_definition(service_id, extra)
  local ev = { _type = 65563, category = 1, element = 27, host_id = 10, service_id = service_id,
               description = "s" .. service_id, enabled = true, notify = true, max_check_attempts = 3,
               state = 4, checked = false }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end
local function host_status(n)
  return { _type = 65568, category = 1, element = 32, host_id = 10, state = 0, state_type = 1,
           check_attempt = 1, last_check = 1781000000 + n, output = "UP", scheduled_downtime_depth = 0,
           acknowledgement_type = 0 }
end
local function adaptive_service(service_id, fields)
  local ev = { _type = 65564, category = 1, element = 28, host_id = 10, service_id = service_id }
  for k, v in pairs(fields) do ev[k] = v end
  return ev
end

local function setup()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ cache = CACHE, conf = { socket = d.socket } })
  emu:start()
  return emu, d
end

local function posted(emu, d, events)
  local before = #d:accepted_lines()
  emu:publish(events)
  emu:run()
  local all = d:accepted_lines()
  local out = {}
  for i = before + 1, #all do out[#out + 1] = all[i] end
  return out
end

H.test("statuses get notify and max_check_attempts from the cached definition; other events do not", function()
  local emu, d = setup()
  local l = posted(emu, d, {
    host_definition(), service_definition(1), service_definition(2, { notify = false, max_check_attempts = 1 }),
    H.service_status(10, 1, 1), H.service_status(10, 2, 2), host_status(3),
    { _type = 65560, category = 1, element = 24, host_id = 10, service_id = 1, state = 0, state_type = 1,
      notify = true, max_check_attempts = 3, last_check = 1781000004, output = "OK\n" }, -- v2
    { _type = 65591, category = 1, element = 55, host_id = 10, service_id = 1, scheduled_downtime_depth = 1 },
    { _type = 65581, category = 1, element = 45, host_id = 10, service_id = 1, type = 1, entry_time = 1781000005 },
  })
  H.eq(#l, 9)
  for i = 1, 3 do H.eq(l[i]._cache.notify, nil, "definition " .. i); H.eq(l[i]._cache.max_check_attempts, nil) end
  H.eq(l[4]._cache.notify, true); H.eq(l[4]._cache.max_check_attempts, 3)
  H.eq(l[5]._cache.notify, false); H.eq(l[5]._cache.max_check_attempts, 1)
  H.eq(l[6]._cache.notify, true); H.eq(l[6]._cache.max_check_attempts, 2)
  H.eq(l[7]._cache.notify, true); H.eq(l[7]._cache.max_check_attempts, 3)
  for i = 8, 9 do H.eq(l[i]._cache.notify, nil, "line " .. i); H.eq(l[i]._cache.max_check_attempts, nil) end
  -- the rest of the _cache is unchanged
  H.deep_eq(l[4]._cache, { host_name = "h10", host_severity = 2, service_description = "s1", poller = "Central",
                           notify = true, max_check_attempts = 3 })
  H.deep_eq(l[5]._cache, { host_name = "h10", host_severity = 2, service_description = "s2", service_severity = 4,
                           poller = "Central", notify = false, max_check_attempts = 1 })
end)

H.test("a resource whose definition Broker's cache lacks: no notify, no max_check_attempts", function()
  local emu, d = setup()
  local l = posted(emu, d, { H.service_status(10, 1, 1), H.service_status(77, 7, 2) })
  H.deep_eq(l[1]._cache, { host_name = "h10", host_severity = 2, service_description = "s1", poller = "Central" })
  H.deep_eq(l[2]._cache, {})
end)

H.test("an adaptive definition (notifications disabled, then enabled) shows at the next status", function()
  local emu, d = setup()
  local l = posted(emu, d, {
    service_definition(1), H.service_status(10, 1, 1), H.service_status(10, 1, 2),
    adaptive_service(1, { notify = false }), H.service_status(10, 1, 3), H.service_status(10, 1, 4),
    adaptive_service(1, { max_check_attempts = 5 }), H.service_status(10, 1, 5),
    adaptive_service(1, { notify = true }), H.service_status(10, 1, 6),
  })
  local got = {}
  for _, i in ipairs({ 2, 3, 5, 6, 8, 10 }) do
    got[#got + 1] = tostring(l[i]._cache.notify) .. "/" .. tostring(l[i]._cache.max_check_attempts)
  end
  H.eq(table.concat(got, " "), "true/3 true/3 false/3 false/3 false/5 true/5")
end)

H.test("get_severity, get_service, get_host: once per resource until a definition of it", function()
  local emu, d = setup()
  local calls = emu.cache.calls_by
  posted(emu, d, { host_definition(), service_definition(1), service_definition(2) })
  local sev0, svc0, host0 = calls.get_severity or 0, calls.get_service or 0, calls.get_host or 0
  local events = {}
  for i = 1, 100 do
    events[#events + 1] = H.service_status(10, 1 + i % 2, i)
    if i % 10 == 0 then events[#events + 1] = host_status(i) end
  end
  local l = posted(emu, d, events)
  H.eq(#l, 110)
  -- s1 and s2 once each; the host's answer was kept since the service definitions
  H.eq(calls.get_severity - sev0, 2, "get_severity")
  H.eq(calls.get_service - svc0, 2, "get_service: s1 and s2 once each")
  H.eq((calls.get_host or 0) - host0, 1, "get_host: once (the host status, and the poller of all)")
  for i = 1, #l do
    H.eq(l[i]._cache.host_severity, 2, "line " .. i)
    H.eq(l[i]._cache.max_check_attempts, l[i].element == 32 and 2 or 3, "line " .. i)
  end
  -- a definition of s1: it is enriched afresh (not kept), then s1's next status asks again
  sev0, svc0 = calls.get_severity, calls.get_service
  l = posted(emu, d, { service_definition(1, { max_check_attempts = 4 }), H.service_status(10, 1, 200),
                       H.service_status(10, 1, 201), H.service_status(10, 2, 202) })
  H.eq(calls.get_severity - sev0, 2, "s1's definition, then s1's next status")
  H.eq(calls.get_service - svc0, 1, "s1's next status")
  H.eq(l[2]._cache.max_check_attempts, 4)
  H.eq(l[4]._cache.max_check_attempts, 3, "s2 untouched")
  -- an adaptive definition counts as a definition
  sev0 = calls.get_severity
  posted(emu, d, { adaptive_service(2, { notify = false }), H.service_status(10, 2, 300) })
  H.eq(calls.get_severity - sev0, 2)
end)

H.test("a severity sent after the definition (CRITICALITY_LEVEL custom variable) is seen", function()
  local emu, d = setup()
  local l = posted(emu, d, {
    service_definition(1),
    { _type = 65573, category = 1, element = 37, host_id = 10, service_id = 1, name = "CRITICALITY_LEVEL",
      value = "3", modified = false },
    H.service_status(10, 1, 1),
  })
  H.eq(l[1]._cache.service_severity, nil, "the definition: no severity yet")
  H.eq(l[2]._cache.service_severity, 3, "its first status: the custom variable that followed it")
end)

H.test("answers are asked again after 300 s even without a definition", function()
  local emu, d = setup()
  local calls = emu.cache.calls_by
  posted(emu, d, { H.service_status(10, 1, 1) })
  local sev0 = calls.get_severity
  emu:advance(299)
  posted(emu, d, { H.service_status(10, 1, 2) })
  H.eq(calls.get_severity, sev0, "kept")
  emu:advance(2)
  posted(emu, d, { H.service_status(10, 1, 3) })
  H.eq(calls.get_severity, sev0 + 2, "host and service asked again")
end)

H.test("a get_severity that raises costs only its field, and its failure is not kept", function()
  local emu, d = setup()
  local Cache = getmetatable(emu.cache).__index
  local failing = true
  setmetatable(emu.cache, { __index = setmetatable({
    get_severity = function(self, ...)
      if failing then error("get_severity failure injected by the test") end
      return Cache.get_severity(self, ...)
    end }, { __index = Cache }) })
  local l = posted(emu, d, { service_definition(2), H.service_status(10, 2, 1) })
  H.deep_eq(l[2]._cache, { host_name = "h10", service_description = "s2", poller = "Central",
                           notify = true, max_check_attempts = 3 })
  failing = false
  l = posted(emu, d, { H.service_status(10, 2, 2) })
  H.eq(l[1]._cache.host_severity, 2)
  H.eq(l[1]._cache.service_severity, 4)
end)

H.run()
