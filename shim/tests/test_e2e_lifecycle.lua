-- End to end through the REAL daemon: the fixtures' events.ndjson, fed to the shim by
-- the emulated Broker, reach the mock PagerDuty exactly as fixtures/README.md lists
-- (dedup_key, action and severity, in order per key), and nothing else.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local R = require("real_daemon")

local EXPECTED, SCENARIOS, count = R.EXPECTED, R.SCENARIOS, R.count

-- What the shim's enrichment must have carried to PagerDuty: names, groups, poller.
local function check_trigger(e, cache)
  local ev = e.event
  local host_id, service_id = ev.dedup_key:match("^(%d+)_(%w+)$")
  local host = cache.hosts[host_id]
  H.eq(ev.routing_key, R.ROUTING_KEY, ev.dedup_key .. ": routing_key")
  local p = ev.payload
  H.eq(p.source, host.name, ev.dedup_key .. ": payload.source")
  local groups = {}
  for _, g in ipairs(host.hostgroups or {}) do groups[#groups + 1] = g.group_name end
  H.eq(p.group, table.concat(groups, ", "), ev.dedup_key .. ": payload.group")
  if service_id == "H" then
    H.eq(p.class, "host")
    H.eq(p.component, host.name)
    H.ok(p.summary:find(host.name .. ": ", 1, true) == 1, "summary: " .. p.summary)
  else
    local svc = cache.services[host_id .. ":" .. service_id]
    H.eq(p.class, "service")
    H.eq(p.component, svc.description, ev.dedup_key .. ": payload.component")
    H.ok(p.summary:find(host.name .. "/" .. svc.description .. ": ", 1, true) == 1, "summary: " .. p.summary)
  end
  H.eq(p.custom_details.poller, cache.instances[tostring(host.instance_id)], ev.dedup_key .. ": poller")
end

for _, scenario in ipairs(SCENARIOS) do
  for _, size in ipairs({ 1000, 1 }) do
    H.test(scenario .. " via the real daemon (max_buffer_size " .. size .. ")", function()
      local fx = H.fixture(scenario)
      local env = R.start()
      local emu = H.emulator({ cache = fx.cache, conf = { socket = env.socket, max_buffer_size = size } })
      emu:start()
      emu:publish(fx.events)
      emu:run()
      H.eq(emu.stats.writes, #fx.events, "every event written")
      H.eq(emu.acked, #fx.events, "every event acknowledged")
      H.eq(emu.stats.errors, 0, "no Lua error into Broker")
      H.eq(#emu:logs(nil, "error"), 0, "no error logged by the shim")
      local m = env:metrics()
      H.eq(m.events_received_total, #fx.events, "daemon received every event")
      H.eq(m.events_rejected_total, 0, "daemon rejected nothing")
      local expected = EXPECTED[scenario]
      local events = env:wait_pd(count(expected), 15, 0.4)
      for i, e in ipairs(events) do
        H.ok(e.event, "PagerDuty event " .. i .. " is valid JSON: " .. tostring(e.error))
      end
      R.check_keys(events, expected, scenario)
      for _, e in ipairs(events) do
        if e.event.event_action == "trigger" then check_trigger(e, fx.cache) end
      end
      emu:stop()
      env:stop()
    end)
  end
end

H.test("all four lifecycles interleaved in one stream, then a cbd restart replays nothing", function()
  local env = R.start()
  local mixed, cache, expected = R.mixed_lifecycles()
  local total = #mixed
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 7 } })
  emu:start()
  emu:publish(mixed)
  emu:run()
  H.eq(emu.acked, total, "every event acknowledged")
  emu:restart()
  emu:run()
  H.eq(emu.stats.writes, total, "nothing replayed after a clean restart")
  R.check_keys(env:wait_pd(count(expected), 15, 0.4), expected)
end)

H.run()
