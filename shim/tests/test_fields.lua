-- What the shim sends of each event: exactly the fields of tests/fixtures/normaliser-fields.txt
-- (the fields the daemon's normaliser reads, per element; crates/broker/tests/normaliser_fields.rs
-- proves that list complete) that the event has, plus its _cache, the values unchanged; and the
-- per-resource reuse of a steady status's encoding (encode_status) and of its _cache never sends
-- anything but what a fresh encoding would.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

local FIELDS = H.normaliser_fields()
local ELEMENTS = { 1, 5, 12, 14, 23, 24, 27, 28, 29, 30, 31, 32, 36, 45, 55, 56 }
local TYPE = {}
for _, e in ipairs(ELEMENTS) do TYPE[e] = 65536 + e end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- An emulator posting to a fake daemon, as under Broker (no extra field for the tests).
local function setup(cache)
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ cache = cache, conf = { socket = d.socket }, extra_fields = false })
  emu:start()
  return emu, d
end

-- The lines the daemon accepted for these events (published through the emulated Broker).
local function post(emu, d, events)
  local before = #d:accepted_lines()
  emu:publish(events)
  emu:run()
  H.eq(emu.stats.errors, 0)
  local all = d:accepted_lines()
  local out = {}
  for i = before + 1, #all do out[#out + 1] = all[i] end
  H.eq(#out, #events, "every event posted")
  return out
end

-- Each posted line is its event reduced to the listed fields, plus a _cache object.
local function check_lines(lines, events, what)
  for i, l in ipairs(lines) do
    H.eq(type(l._cache), "table", what .. " " .. i .. ": _cache")
    l._cache = nil
    H.deep_eq(l, H.sent_fields(events[i], FIELDS), what .. " " .. i)
  end
end

H.test("every element the shim accepts is listed, and the shim's own list is the same", function()
  local emu = setup()
  local shim = emu.env.centreon_pagerduty.fields()
  for _, e in ipairs(ELEMENTS) do
    H.ok(FIELDS[e], "element " .. e .. " listed in normaliser-fields.txt")
    H.eq(emu.env.filter(1, e), true, "filter() accepts " .. e)
    local mine = { _cache = true }
    for _, k in ipairs(shim[e] or {}) do mine[k] = true end
    H.deep_eq(sorted_keys(mine), sorted_keys(FIELDS[e]), "element " .. e .. ": the shim's FIELDS")
  end
  H.deep_eq(sorted_keys(shim), sorted_keys(FIELDS), "no other element")
end)

H.test("an event with every listed field and many others: the listed ones are sent, unchanged", function()
  local emu, d = setup({ instances = { ["1"] = "Central" }, hosts = { ["7"] = { name = "h7", instance_id = 1 } },
                         services = { ["7:8"] = { description = "s8" } } })
  -- every field name the list knows, for every element, and fields Broker sends that it does not
  local every = {}
  for _, set in pairs(FIELDS) do for k in pairs(set) do every[k] = true end end
  local others = { "execution_time", "latency", "check_command", "check_period", "next_check", "last_time_ok",
                   "percent_state_change", "obsess_over_service", "instance_id", "notes", "alias", "address",
                   "comment_data", "author", "header", "last_state_change", "output_long", "x_unknown" }
  local samples = { 3, 1781000123, 2.5, true, false, "text é ü", "", "line\n", -1, 0 }
  local events = {}
  for n, e in ipairs(ELEMENTS) do
    local ev = { _type = TYPE[e], category = 1, element = e, host_id = 7, service_id = 8 }
    local i = n
    for _, k in ipairs(sorted_keys(every)) do
      if ev[k] == nil and k ~= "_cache" then
        ev[k] = samples[i % #samples + 1]
        i = i + 1
      end
    end
    for _, k in ipairs(others) do ev[k] = samples[i % #samples + 1]; i = i + 1 end
    events[#events + 1] = ev
  end
  local lines = post(emu, d, events)
  for i, l in ipairs(lines) do
    local e = events[i].element
    local want = { _cache = true }
    for k in pairs(events[i]) do if FIELDS[e][k] then want[k] = true end end
    H.deep_eq(sorted_keys(l), sorted_keys(want), "element " .. e .. ": the keys sent")
  end
  check_lines(lines, events, "element")
end)

H.test("the fixtures, the real capture included: each event's listed fields, nothing else", function()
  for _, scenario in ipairs({ "v2_service_lifecycle", "v2_host_lifecycle", "v3_service_host_lifecycle",
                              "downtime_ack" }) do
    local fx = H.fixture(scenario)
    local emu, d = setup(fx.cache)
    local lines = post(emu, d, fx.events)
    check_lines(lines, fx.events, scenario .. " line")
  end
  local capture = H.json.decode_lines(assert(H.read(H.FIXTURES .. "/real-broker-25.05/events.ndjson")))
  local accepted = {}
  for _, ev in ipairs(capture) do
    if ev.category == 1 and FIELDS[ev.element] then accepted[#accepted + 1] = ev end
  end
  H.ok(#accepted > 2000, #accepted .. " events of the capture")
  local emu, d = setup()
  local lines = post(emu, d, accepted)
  check_lines(lines, accepted, "capture event")
end)

-- A v3 service status of resource (1, 1), n-th check.
local function status(n, extra)
  local ev = { _type = 65565, category = 1, element = 29, host_id = 1, service_id = 1, state = 0, state_type = 1,
               last_hard_state = 0, check_attempt = 1, last_check = 1781000000 + n, last_hard_state_change = 1780000000,
               output = "OK - " .. n, long_output = "", perfdata = "t=" .. n .. "s", flapping = false,
               scheduled_downtime_depth = 0, acknowledgement_type = 0, type = 0, internal_id = 0, execution_time = 0.1 }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

H.test("a resource's steady statuses reuse their encoding; any change is sent as it is", function()
  local emu, d = setup({ instances = { ["1"] = "Central" }, hosts = { ["1"] = { name = "h1", instance_id = 1 } },
                         services = { ["1:1"] = { description = "s1" } } })
  local events = {
    status(1), status(2), status(3),
    status(4, { state = 2 }), status(5, { state = 2, state_type = 0 }), status(6, { state = 2.0 }),
    status(7, { state = "2" }), status(8, { flapping = true }), status(9, { flapping = 1 }),
    status(10, { acknowledgement_type = nil }), status(11), status(12, { long_output = "more\nlines" }),
    status(13, { scheduled_downtime_depth = { 1 } }), status(14, { scheduled_downtime_depth = { 2 } }),
    status(15, { notify = false }), status(16, { notify = { "odd" } }), status(17),
    status(18, { _type = 65565.0 }), status(19, { _type = 65565 }), status(20, { host_id = 1.0 }),
    status(21, { type = 2 }), status(22, { element = 24, _type = 65560, last_update = 1781000022 }),
    status(23, { element = 24, _type = 65560, last_update = 1781000023 }), status(24),
    status(25, { instance_id = 1 }), status(26, { output = string.rep("é", 30) .. "\n" }), status(27),
  }
  events[10].acknowledgement_type = nil
  local lines = post(emu, d, events)
  -- (5 and 5.0 are one value for the reuse: Broker gives a field one type, the daemon reads both
  -- alike; status 6's state 2.0 after status 5's 2 may therefore be sent as 2)
  if math.type(lines[6].state) == "integer" then lines[6].state = 2.0 end
  if math.type(lines[20].host_id) == "integer" then lines[20].host_id = 1.0 end
  if math.type(lines[18]._type) == "integer" then lines[18]._type = 65565.0 end
  local cache = { host_name = "h1", service_description = "s1", poller = "Central" }
  for i, l in ipairs(lines) do H.deep_eq(l._cache, cache, "status " .. i .. ": _cache") end
  check_lines(lines, events, "status")
end)

H.test("the kept _cache follows Broker's cache: definitions, the poller, names learned late", function()
  local emu, d = setup({ instances = { ["1"] = "Central", ["2"] = "Poller-2" },
                         hosts = { ["1"] = { name = "h1", instance_id = 1 } } })
  local function host_definition(name, instance)
    return { _type = 65566, category = 1, element = 30, host_id = 1, name = name, instance_id = instance,
             enabled = true, notify = true, max_check_attempts = 2 }
  end
  local service_definition = { _type = 65563, category = 1, element = 27, host_id = 1, service_id = 1,
                               description = "s1", enabled = true, notify = true, max_check_attempts = 3 }
  local lines = post(emu, d, {
    status(1), status(2),                          -- the service is unknown to Broker's cache
    service_definition, status(3), status(4),     -- its name, learned
    host_definition("h1-renamed", 1), status(5),  -- a host definition: the service's next status asks again
    status(6, { instance_id = 2 }), status(7),    -- the event's own instance_id wins
  })
  local got = {}
  for _, i in ipairs({ 1, 2, 4, 5, 7, 8, 9 }) do
    local c = lines[i]._cache
    got[#got + 1] = table.concat({ tostring(c.host_name), tostring(c.service_description), tostring(c.poller),
                                   tostring(c.max_check_attempts) }, "/")
  end
  H.deep_eq(got, { "h1/nil/Central/nil", "h1/nil/Central/nil", "h1/s1/Central/3", "h1/s1/Central/3",
                   "h1-renamed/s1/Central/3", "h1-renamed/s1/Poller-2/3", "h1-renamed/s1/Central/3" })
end)

H.test("an event of another element (write() called directly) keeps all its fields", function()
  local emu, d = setup()
  H.eq(emu.env.write({ _type = 65579, category = 1, element = 43, host_id = 1, anything = "kept", n = 2.5 }), false)
  H.eq(emu.env.flush(), true)
  H.deep_eq(d:accepted_lines()[1], { _type = 65579, category = 1, element = 43, host_id = 1, anything = "kept",
                                     n = 2.5, _cache = {} })
end)

H.test("a status over 256 KiB: its listed fields only, the longest cut, marked _truncated", function()
  local emu, d = setup()
  local ev = status(1, { output = string.rep("x", 300 * 1024), check_command = string.rep("y", 1000) })
  local lines = post(emu, d, { ev })
  local l = lines[1]
  H.eq(l._truncated, true)
  H.eq(l.check_command, nil, "not a listed field")
  H.ok(#l.output < 256 * 1024 and #l.output > 250 * 1024, "output cut: " .. #l.output)
  H.eq(l.perfdata, ev.perfdata)
end)

H.run()
