-- Every events.ndjson line of each small scenario, through the emulated Broker
-- and the shim, reaches the daemon as the scenario's shim.ndjson reduced to the fields the
-- daemon's normaliser reads (tests/fixtures/normaliser-fields.txt: the shim sends only those)
-- (compared as decoded JSON: key order irrelevant, integer/float subtypes significant).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

local SCENARIOS = { "v2_service_lifecycle", "v2_host_lifecycle", "v3_service_host_lifecycle", "downtime_ack" }

-- The poller the shim should find for an event (the fixtures' _cache predates `poller`).
local function expected_poller(cache, ev)
  local iid = ev.instance_id
  if not iid or iid == 0 then
    local h = cache.hosts[tostring(ev.host_id)]
    iid = h and h.instance_id
  end
  return iid and cache.instances[tostring(iid)]
end

local function compare(fx, lines)
  H.eq(#lines, #fx.shim, "number of events posted")
  local fields = H.normaliser_fields()
  for i, got in ipairs(lines) do
    local want = H.sent_fields(fx.shim[i], fields)
    if want._cache and want._cache.poller == nil and got._cache then
      H.eq(got._cache.poller, expected_poller(fx.cache, fx.events[i]), "line " .. i .. ": _cache.poller")
      got._cache.poller = nil
    end
    H.deep_eq(got, want, "line " .. i)
  end
end

local function check_request(r)
  local head = r.head
  H.ok(head:match("^POST /v1/events HTTP/1%.1\r\n"), "request line: " .. head)
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do headers[name:lower()] = value end
  H.eq(headers["host"], "localhost")
  H.eq(headers["content-type"], "application/x-ndjson")
  H.eq(headers["connection"], "close")
  H.eq(headers["user-agent"], "centreon-pagerduty-shim/0.1.0")
  H.eq(tonumber(headers["content-length"]), #r.body)
  H.eq(r.body:sub(-1), "\n", "body ends with a newline")
  H.ok(not r.body:find("\n\n", 1, true), "no empty line")
  H.ok(utf8.len(r.body), "body is valid UTF-8")
end

for _, scenario in ipairs(SCENARIOS) do
  for _, size in ipairs({ 1000, 3 }) do
    H.test(scenario .. " (max_buffer_size " .. size .. ")", function()
      local fx = H.fixture(scenario)
      local d = H.daemon()
      local emu = H.emulator({ cache = fx.cache, conf = { socket = d.socket, max_buffer_size = size } })
      emu:start()
      emu:publish(fx.events)
      emu:run()
      H.eq(emu.stats.writes, #fx.events, "every event written")
      H.eq(emu.acked, #fx.events, "every event acknowledged")
      H.eq(emu.stats.errors, 0)
      H.eq(#emu:logs(nil, "error"), 0)
      if not d.controllable then return end
      local requests = d:requests()
      -- POSTs of at most 3 events (fewer when an event that can change what PagerDuty hears
      -- is posted at once: test_urgent.lua)
      if size == 3 then
        for i, r in ipairs(requests) do H.ok(#r.lines <= 3, "POST " .. i .. ": " .. #r.lines .. " events") end
        H.ok(#requests >= math.ceil(#fx.events / 3), "POSTs of 3 events at most")
      end
      for _, r in ipairs(requests) do check_request(r) end
      compare(fx, d:accepted_lines())
    end)
  end
end

H.test("enrichment survives a broker_cache that raises", function()
  local fx = H.fixture("v2_service_lifecycle")
  local d = H.daemon()
  local emu = H.emulator({ cache = fx.cache, conf = { socket = d.socket } })
  emu.cache.fail = true
  emu:start()
  emu:publish(fx.events)
  emu:run()
  H.eq(emu.acked, #fx.events)
  H.eq(emu.stats.errors, 0)
  if not d.controllable then return end
  local lines = d:accepted_lines()
  H.eq(#lines, #fx.events)
  for i, l in ipairs(lines) do
    H.deep_eq(l._cache, {}, "line " .. i .. ": _cache is an empty object")
    l._cache = nil
    H.deep_eq(l, H.sent_fields(fx.events[i]))
  end
  H.ok(d:requests()[1].body:find('"_cache":{}', 1, true), "_cache encoded as {}")
end)

H.test("one broker_cache method that raises costs only its field; arguments passed exactly", function()
  local fx = H.fixture("v2_service_lifecycle")
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ cache = fx.cache, conf = { socket = d.socket } })
  local Cache = getmetatable(emu.cache).__index
  local strict = setmetatable({}, { __index = function(_, name)
    local method = Cache[name]
    if type(method) ~= "function" then return method end
    return function(self, ...)
      -- like a C binding that counts its arguments: no explicit trailing nil
      local n = select("#", ...)
      if n > 0 and select(n, ...) == nil then error(name .. ": nil argument") end
      if name == "get_severity" then error("get_severity failure injected by the test") end
      return method(self, ...)
    end
  end })
  setmetatable(emu.cache, { __index = strict })
  emu:start()
  emu:publish({ fx.events[2], { _type = 65560, category = 1, element = 24, host_id = 101, service_id = 2001,
                                state = 0, state_type = 1, last_check = 1781000100, output = "OK\n" },
                { _type = 65550, category = 1, element = 14, host_id = 101, state = 0, last_check = 1781000100 } })
  emu:run()
  local lines = d:accepted_lines()
  H.eq(#lines, 3)
  -- notify and max_check_attempts: from the service definition Broker's cache learned (line 1)
  H.deep_eq(lines[2]._cache, { host_name = "srv-web-01", hostgroups = { "Web", "Linux" }, service_description = "HTTP",
                               servicegroups = { "Frontends" }, action_url = "https://grafana.example.com/d/http",
                               poller = "Central", notify = true, max_check_attempts = 3 })
  H.deep_eq(lines[3]._cache, { host_name = "srv-web-01", hostgroups = { "Web", "Linux" },
                               notes_url = "https://wiki.example.com/hosts/srv-web-01", poller = "Central" })
end)

H.test("an event that is a Lua sequence still gets its _cache (as an object)", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket } })
  emu:start()
  H.eq(emu.env.write({ "a", "b" }), false)
  H.eq(emu.env.flush(), true)
  H.deep_eq(d:accepted_lines()[1], { ["1"] = "a", ["2"] = "b", _cache = {} })
end)

H.test("a host event gets the host's URLs, a service event the service's; empty values omitted", function()
  local d = H.daemon({ need_control = true })
  local cache = {
    instances = { ["7"] = "Poller-7" },
    hosts = { ["5"] = { name = "h5", instance_id = 7, notes_url = "https://notes/h5", action_url = "",
                        hostgroups = { { group_id = 1, group_name = "G1" }, { group_id = 2, group_name = "" } },
                        severity = 4 } },
    services = { ["5:6"] = { description = "s6", notes_url = "https://notes/s6", severity = 0,
                             servicegroups = { { group_id = 3, group_name = "SG" } } } },
  }
  local emu = H.emulator({ cache = cache, conf = { socket = d.socket } })
  emu:start()
  emu:publish({
    { _type = 65568, category = 1, element = 32, host_id = 5, state = 1 },
    H.service_status(5, 6, 1),
    { _type = 65581, category = 1, element = 45, host_id = 5, service_id = 0, instance_id = 9, type = 0 },
    H.service_status(99, 1, 2),
  })
  emu:run()
  local l = d:accepted_lines()
  H.deep_eq(l[1]._cache, { host_name = "h5", hostgroups = { "G1" }, host_severity = 4,
                           notes_url = "https://notes/h5", poller = "Poller-7" })
  H.deep_eq(l[2]._cache, { host_name = "h5", hostgroups = { "G1" }, host_severity = 4, service_description = "s6",
                           servicegroups = { "SG" }, service_severity = 0, notes_url = "https://notes/s6",
                           poller = "Poller-7" })
  -- the event's instance_id wins; an unknown instance gives no poller
  H.deep_eq(l[3]._cache, { host_name = "h5", hostgroups = { "G1" }, host_severity = 4, notes_url = "https://notes/h5" })
  H.deep_eq(l[4]._cache, {})
end)

H.run()
