-- Urgent events: an event that can change what PagerDuty hears is posted in the write() call
-- that receives it (with everything buffered before it, in order); steady events are still
-- batched; the acknowledgement contract, the retry window and the call's time budget hold for
-- urgent events too; the pacing batches a storm. (See the shim's header, "Urgent events".)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local seqs = H.seqs
local range = H.range

local T0 = 1781000000
local OLD = T0 - 3600 -- a state change long before


-- v3 service status (29): the same HARD state as before, nothing changed at this check.
local function steady(host_id, service_id, n, extra)
  local fields = { state = 0, state_type = 1, last_hard_state = 0, last_hard_state_change = OLD,
                   last_state_change = OLD }
  for k, v in pairs(extra or {}) do fields[k] = v end
  if extra and extra.state and extra.last_hard_state == nil then fields.last_hard_state = extra.state end
  return H.service_status(host_id, service_id, n, fields)
end
-- v3 service status at a HARD change (Engine: last_hard_state already the new one, both
-- change times = last_check).
local function hard_change(host_id, service_id, n, state, extra)
  local t = T0 + n
  local fields = { state = state, state_type = 1, last_hard_state = state, last_hard_state_change = t,
                   last_state_change = t }
  for k, v in pairs(extra or {}) do fields[k] = v end
  return H.service_status(host_id, service_id, n, fields)
end
-- v3 host status (32).
local function host_status(host_id, n, extra)
  local ev = { _type = 65568, category = 1, element = 32, host_id = host_id, state = 0, state_type = 1,
               check_attempt = 1, last_check = T0 + n, last_hard_state = 0, last_hard_state_change = OLD,
               last_state_change = OLD, output = "UP", long_output = "", perfdata = "", flapping = false,
               scheduled_downtime_depth = 0, acknowledgement_type = 0, checked = true, seq = n }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end
-- v2 service status (24).
local function v2_status(host_id, service_id, n, extra)
  local ev = { _type = 65560, category = 1, element = 24, host_id = host_id, service_id = service_id,
               state = 0, state_type = 1, last_hard_state = 0, last_check = T0 + n, last_update = T0 + n,
               last_hard_state_change = OLD, last_state_change = OLD, output = "OK\n", perfdata = "",
               flapping = false, acknowledged = false, acknowledgement_type = 0, scheduled_downtime_depth = 0,
               notify = true, max_check_attempts = 3, check_attempt = 1, seq = n }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end
local function event(element, type_, fields, n)
  local ev = { _type = type_, category = 1, element = element, seq = n }
  for k, v in pairs(fields) do ev[k] = v end
  return ev
end

local CACHE = { instances = { ["1"] = "Central" },
                hosts = { ["1"] = { name = "h1", instance_id = 1 }, ["2"] = { name = "h2", instance_id = 1 } },
                services = { ["1:1"] = { description = "s1" }, ["1:2"] = { description = "s2" },
                             ["2:1"] = { description = "trap-v3", is_volatile = true },
                             ["2:2"] = { description = "trap-v2", volatile = true },
                             ["2:3"] = { description = "plain", is_volatile = false } } }

-- A shim posting to a fake daemon; only write() posts unless the test calls flush().
local function setup(conf)
  local d = H.daemon({ need_control = true })
  local c = { socket = d.socket, max_buffer_age = 60, max_buffer_size = 1000 }
  for k, v in pairs(conf or {}) do c[k] = v end
  local emu = H.emulator({ cache = CACHE, conf = c })
  emu:start()
  return d, emu
end

H.test("an urgent event is posted within the same write() call, after what was buffered, and acknowledged", function()
  local d, emu = setup()
  for i = 1, 5 do
    emu:publish(steady(1, 1, i))
    local _, r = emu:deliver()
    H.eq(r, false, "steady write() " .. i .. " only buffers")
  end
  H.eq(#d:requests(), 0)
  H.eq(emu.acked, 0)
  emu:advance(1)
  emu:publish(hard_change(1, 2, 6, 2))
  local _, r = emu:deliver()
  H.eq(r, true, "the urgent write() returns true: every event answered 200")
  H.eq(emu.acked, 6, "Broker acknowledges all six")
  local requests = d:requests()
  H.eq(#requests, 1, "one POST")
  H.deep_eq(seqs(requests[1].lines), range(1, 6), "the whole buffer, in order, the urgent event last")
  H.eq(emu.env.centreon_pagerduty.buffered(), 0)
end)

-- Each case: events written first (then flushed: the buffer is empty), then `steady` events
-- that stay buffered, then the event that must be posted at once.
local CASES = {
  { "service HARD change (v3)", {}, hard_change(1, 1, 10, 2) },
  { "service recovery (v3)", {}, hard_change(1, 1, 10, 0) },
  { "service HARD change (v2)", {}, v2_status(1, 1, 10, { state = 2, last_hard_state = 2,
                                                          last_hard_state_change = T0 + 10 }) },
  { "host HARD change (last_hard_state still the previous one, change at last_check + 1)", {},
    host_status(1, 10, { state = 1, last_hard_state = 0, last_hard_state_change = T0 + 11,
                         last_state_change = T0 + 11 }) },
  { "host status whose state differs from last_hard_state (no change times)", {},
    host_status(1, 10, { state = 1, last_hard_state = 0, last_hard_state_change = nil,
                         last_state_change = nil }) },
  { "SOFT problem (pages with hard_only = false; its retries begin)", {},
    steady(1, 1, 10, { state = 2, state_type = 0, last_hard_state = 2 }) },
  { "state change at this check (a SOFT recovery)", {},
    steady(1, 1, 10, { state = 0, last_state_change = T0 + 10 }) },
  { "first status of a never-checked service (last_hard_state_change = last_check)", {},
    steady(1, 1, 10, { last_hard_state_change = T0 + 10 }) },
  { "acknowledgement (v3, 45)", {}, event(45, 65581, { host_id = 1, service_id = 1, entry_time = T0, sticky = true,
                                                      deletion_time = 0, state = 2 }, 10) },
  { "acknowledgement (v2, 1)", {}, event(1, 65537, { host_id = 1, service_id = 1, entry_time = T0,
                                                    is_sticky = true, state = 2 }, 10) },
  { "downtime (v3, 36)", {}, event(36, 65572, { host_id = 1, service_id = 1, id = 1, started = true,
                                               entry_time = T0, start_time = T0, actual_start_time = T0 }, 10) },
  { "downtime (v2, 5)", {}, event(5, 65541, { host_id = 1, service_id = 1, internal_id = 1, started = true,
                                             entry_time = T0, start_time = T0 }, 10) },
  { "adaptive service status with an acknowledgement (55)", {},
    event(55, 65591, { host_id = 1, service_id = 1, acknowledgement_type = 2 }, 10) },
  { "adaptive host status with a downtime depth (56)", {},
    event(56, 65592, { host_id = 1, scheduled_downtime_depth = 1 }, 10) },
  { "adaptive service definition (28: notifications enabled)", {},
    event(28, 65564, { host_id = 1, service_id = 1, notify = true }, 10) },
  { "adaptive host definition (31)", {}, event(31, 65567, { host_id = 1, notify = false }, 10) },
  { "service definition disabling it (27, enabled false: resolve_on_disable)", {},
    event(27, 65563, { host_id = 1, service_id = 1, enabled = false, description = "s1" }, 10) },
  { "host definition disabling it (v2, 12)", {}, event(12, 65548, { host_id = 1, enabled = false }, 10) },
  { "volatile service (is_volatile): every HARD problem result, same state", {},
    steady(2, 1, 10, { state = 2 }) },
  { "volatile service (v2 volatile): every HARD problem result, same state", {},
    steady(2, 2, 10, { state = 1 }) },
  -- What one event cannot show: the shim's two small tables.
  { "the HARD status that ends SOFT retries in the same state (host back, Engine retries)",
    { steady(1, 1, 7, { state = 2, state_type = 0, check_attempt = 1 }),
      steady(1, 1, 8, { state = 2, state_type = 0, check_attempt = 2 }) },
    steady(1, 1, 10, { state = 2, check_attempt = 3 }) },
  { "the status where flapping stops (flapping = \"suppress\" releases the trigger)",
    { steady(1, 1, 7, { state = 2, flapping = true }), steady(1, 1, 8, { state = 2, flapping = true }) },
    steady(1, 1, 10, { state = 2, flapping = false }) },
  { "the full status after a downtime event (DEL_HOST_DOWNTIME: no adaptive status, lines 5145-5146)",
    { host_status(1, 7, { state = 1, last_hard_state = 1, scheduled_downtime_depth = 1 }),
      event(36, 65572, { host_id = 1, service_id = 0, id = 2, started = true, cancelled = true,
                         deletion_time = T0 + 8, actual_end_time = T0 + 8 }, 8) },
    host_status(1, 10, { state = 1, last_hard_state = 1, scheduled_downtime_depth = 0 }) },
  { "a service problem seen while its host was DOWN, at its first status once the host is UP (host first)",
    { host_status(1, 5, { state = 1, last_hard_state = 0, last_hard_state_change = T0 + 6 }),
      steady(1, 1, 6, { state = 2 }),
      host_status(1, 8, { state = 0, last_hard_state = 1, last_hard_state_change = T0 + 9 }) },
    steady(1, 1, 10, { state = 2 }) },
  { "a service problem seen while its host was in downtime, once the downtime ends (56, line 5164)",
    { event(56, 65592, { host_id = 1, scheduled_downtime_depth = 1 }, 5), steady(1, 1, 6, { state = 2 }),
      event(56, 65592, { host_id = 1, scheduled_downtime_depth = 0 }, 8) },
    steady(1, 1, 10, { state = 2 }) },
}

for _, case in ipairs(CASES) do
  H.test("urgent: " .. case[1], function()
    local d, emu = setup()
    for _, ev in ipairs(case[2]) do emu.env.write(ev) end
    H.eq(emu.env.flush(), true)
    local before = #d:requests()
    emu:advance(1)
    H.eq(emu.env.write(steady(1, 3, 9)), false, "a steady event only buffers")
    H.eq(#d:requests(), before)
    H.eq(emu.env.write(case[3]), true, "write() of the urgent event posts and returns true")
    local requests = d:requests()
    H.eq(#requests, before + 1, "one POST")
    H.deep_eq(seqs(requests[#requests].lines), { 9, 10 }, "the buffered event, then the urgent one")
  end)
end

H.test("steady events are still batched (nothing PagerDuty hears can change)", function()
  local d, emu = setup()
  -- the host DOWN (urgent), and services that are held while it is down
  H.eq(emu.env.write(host_status(2, 1, { state = 1, last_hard_state = 0, last_hard_state_change = T0 + 2 })), true)
  emu:advance(1)
  local quiet = {
    steady(1, 1, 2), steady(1, 2, 3, { state = 2 }), steady(1, 3, 4, { state = 1 }),            -- same HARD state
    v2_status(1, 1, 5), v2_status(1, 2, 6, { state = 2, last_hard_state = 2 }),
    host_status(1, 7), host_status(2, 8, { state = 1, last_hard_state = 1 }),                  -- a host still DOWN
    steady(2, 3, 9, { state = 2 }),                                  -- a service problem while its host is DOWN
    steady(2, 3, 10, { state = 2 }),
    steady(2, 1, 11, { state = 0 }),                                 -- a volatile service, OK
    steady(2, 3, 12, { state = 2 }),                                 -- is_volatile false
    steady(1, 4, 13, { flapping = true }), steady(1, 4, 14, { flapping = true }),             -- still flapping
    event(55, 65591, { host_id = 1, service_id = 1, notification_number = 3 }, 15),           -- only a number
    event(27, 65563, { host_id = 1, service_id = 1, enabled = true, description = "s1" }, 16), -- definitions
    event(30, 65566, { host_id = 1, enabled = true, name = "h1" }, 17),
    event(23, 65559, { host_id = 1, service_id = 2, enabled = true }, 18),
    event(12, 65548, { host_id = 1, enabled = true }, 19),
    H.service_status(1, 1, 20),                                      -- no last_hard_state nor change times
    steady(1, 1, 21, { last_check = 0, last_hard_state_change = 0, last_state_change = 0 }),
    steady(1, 1, 22, { state = "2", host_id = "x", last_check = "soon" }), -- odd types: kept, not urgent
  }
  for i, ev in ipairs(quiet) do
    H.eq(emu.env.write(ev), false, "write() " .. i .. " (seq " .. ev.seq .. ") only buffers")
  end
  H.eq(#d:requests(), 1, "no POST for steady events")
  H.eq(#emu:logs(nil, "error"), 0)
  H.eq(emu.env.flush(), true)
  local requests = d:requests()
  H.eq(#requests, 2)
  H.deep_eq(seqs(requests[2].lines), range(2, 22), "one batch, in order")
end)

H.test("steady events: max_buffer_size and max_buffer_age still decide", function()
  local d, emu = setup({ max_buffer_size = 10, max_buffer_age = 1 })
  for i = 1, 25 do H.eq(emu.env.write(steady(1, 1 + i % 3, i)), i % 10 == 0, "write() " .. i) end
  H.eq(#d:requests(), 2, "two full batches")
  emu:advance(1.1)
  H.eq(emu.env.write(steady(1, 1, 26)), true, "the oldest is older than max_buffer_age")
  H.deep_eq(seqs(d:accepted_lines()), range(1, 26))
end)

H.test("ack contract and retry window: after a failure an urgent event is only buffered until the window ends",
       function()
  local d, emu = setup({ retry_interval = 2 })
  d:set({ status = 503 })
  emu:publish(steady(1, 1, 1))
  emu:publish(hard_change(1, 2, 2, 2))
  H.eq(select(2, emu:deliver()), false)
  local _, r = emu:deliver()
  H.eq(r, false, "the daemon answered 503: not acknowledged")
  H.eq(#d:requests(), 1, "the urgent event was posted at once")
  H.eq(emu.acked, 0)
  H.eq(emu.env.centreon_pagerduty.buffered(), 2, "both kept")
  d:set({})
  -- inside the retry window (2 s): urgent events only buffer, at once, with no connection attempt
  for i = 3, 12 do
    emu:advance(0.15)
    emu:publish(hard_change(1, 2, i, i % 2 == 0 and 2 or 0))
    local t = H.gettime()
    _, r = emu:deliver()
    H.eq(r, false, "write() " .. i .. " inside the window")
    H.ok(H.gettime() - t < 0.05, "write() inside the window returns at once")
  end
  H.eq(#d:requests(), 1, "no POST inside the retry window")
  H.eq(emu.acked, 0)
  emu:advance(0.6) -- the window ends
  emu:publish(steady(1, 1, 13))
  _, r = emu:deliver()
  H.eq(r, true, "after the window a write() posts the backlog (urgent events in it)")
  H.eq(emu.acked, 13, "everything acknowledged once answered 200")
  H.deep_eq(seqs(d:accepted_lines()), range(1, 13), "in order")
end)

H.test("ack contract: an urgent write() to a hanging daemon returns within the timeout, false, nothing lost", function()
  local d, emu = setup({ timeout = 300, retry_interval = 1 })
  d:set({ action = "hang" })
  emu.env.write(steady(1, 1, 1))
  emu:advance(1)
  local t = H.gettime()
  H.eq(emu.env.write(hard_change(1, 1, 2, 2)), false)
  local took = H.gettime() - t
  H.ok(took >= 0.29 and took < 0.55, string.format("bounded by the timeout: %.3f s", took))
  t = H.gettime()
  H.eq(emu.env.write(hard_change(1, 1, 3, 0)), false)
  H.ok(H.gettime() - t < 0.05, "inside the retry window: no attempt")
  H.eq(emu.env.centreon_pagerduty.buffered(), 3)
  d:set({})
  emu:advance(1.5)
  H.eq(emu.env.write(steady(1, 1, 4)), true)
  local lines = d:accepted_lines()
  H.deep_eq(seqs(lines), range(1, 4), "answered 200 once, in order")
end)

H.test("order is kept across urgent POSTs, steady batches, failures and flushes", function()
  local d, emu = setup({ max_buffer_size = 7, max_buffer_age = 2, retry_interval = 1 })
  local n = 400
  local fail_at = { [60] = 503, [61] = 503, [200] = 500, [320] = 503 }
  local state = 0
  for i = 1, n do
    if fail_at[i] then d:set({ status = fail_at[i] }) elseif fail_at[i - 1] then d:set({}) end
    local ev
    if i % 11 == 0 then
      state = 2 - state
      ev = hard_change(1, 2, i, state)
    elseif i % 37 == 0 then
      ev = event(45, 65581, { host_id = 1, service_id = 2, entry_time = T0 + i, sticky = true,
                              deletion_time = 0, state = 2 }, i)
    else
      ev = steady(1, 1 + i % 5, i)
    end
    emu:publish(ev)
    emu:deliver()
    emu:advance(i % 13 == 0 and 0.4 or 0.01)
    if i % 97 == 0 then emu:flush() end
  end
  d:set({})
  emu:advance(5)
  H.eq(emu:flush(), true)
  H.eq(emu.acked, n)
  H.deep_eq(seqs(d:accepted_lines()), range(1, n), "every event answered 200 once, in order")
  for i, r in ipairs(d:requests()) do H.ok(#r.lines <= 7, "POST " .. i .. " carries at most max_buffer_size") end
end)

H.test("pacing: a storm of urgent events is batched; flush() and a later write() post what waits", function()
  local d, emu = setup()
  emu:advance(1)
  -- the emulated clock stands still: the pacing debt is not paid back
  local posted_at_once = 0
  for i = 1, 60 do
    local before = #d:requests()
    emu.env.write(hard_change(1, 1 + i % 5, i, i % 2 == 0 and 2 or 0))
    if #d:requests() > before then posted_at_once = posted_at_once + 1 end
  end
  H.ok(posted_at_once >= 1 and posted_at_once <= 6,
       posted_at_once .. " urgent POSTs in a burst (at most URGENT_BURST / URGENT_COST_MIN + 1)")
  H.eq(emu.env.centreon_pagerduty.urgent_pending(), true, "the others wait in the buffer")
  emu:advance(0.5) -- the debt is paid back
  H.eq(emu.env.write(steady(1, 1, 61)), true, "the next write() posts what waited, even a steady one")
  H.eq(#d:requests(), posted_at_once + 1, "in one POST")
  for i = 62, 80 do emu.env.write(hard_change(1, 1 + i % 5, i, i % 2 == 0 and 2 or 0)) end
  H.eq(emu.env.flush(), true, "flush() posts whatever the pacing")
  H.deep_eq(seqs(d:accepted_lines()), range(1, 80), "in order")
end)

H.test("pacing: a clock stepped back an hour does not hold urgent events", function()
  local d, emu = setup()
  emu:advance(1)
  H.eq(emu.env.write(hard_change(1, 1, 1, 2)), true)
  emu:advance(-3600)
  H.eq(emu.env.write(hard_change(1, 1, 2, 0)), true, "posted at once")
  emu:advance(1)
  H.eq(emu.env.write(hard_change(1, 1, 3, 2)), true, "and again")
  H.deep_eq(seqs(d:accepted_lines()), range(1, 3))
end)

-- The real capture: every event that owes PagerDuty something (expected-events.txt's lines) is
-- urgent, and no event of the quiet hour (lines 1000-5040: steady statuses of an open incident)
-- is. Broker busy: write() only, never flush(); clock from events.times.
H.test("capture: every line that owes PagerDuty an event is urgent; the quiet hour is batched", function()
  local DATA = H.FIXTURES .. "/real-broker-25.05"
  local events = H.json.decode_lines(assert(H.read(DATA .. "/events.ndjson")))
  local times = {}
  for line in assert(H.read(DATA .. "/events.times")):gmatch("[^\n]+") do
    times[#times + 1] = tonumber(line:match("^(%S+)"))
  end
  local owed = {}
  for text in assert(H.read(DATA .. "/expected-events.txt")):gmatch("[^\n]+") do
    local line = not text:match("^#") and tonumber(text:match("@(%d+)"))
    if line then owed[line] = text:match("^(.-)%s*$") end
  end
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_age = 3600, max_buffer_size = 1000000 } })
  emu.now = times[1]
  emu:start()
  local shim = emu.env.centreon_pagerduty
  local at_once, urgent, written, quiet = 0, 0, 0, {}
  for i, ev in ipairs(events) do
    emu.now = times[i]
    emu:publish(ev)
    if emu:deliver() == "write" then
      written = written + 1
      local posted, pending = shim.buffered() == 0, shim.urgent_pending()
      if posted or pending then urgent = urgent + 1 end
      if posted then at_once = at_once + 1 end
      if owed[i] then
        H.ok(posted or pending, "line " .. i .. " (" .. owed[i] .. ") is urgent")
      end
    end
    -- (a POST at line 1000-1010 may still carry an urgent event the pacing held back)
    if i == 1010 or i == 5040 then quiet[#quiet + 1] = #d:requests() end
  end
  H.eq(quiet[2], quiet[1], "no POST between lines 1010 and 5040")
  H.ok(urgent < written / 10, "most events are batched")
  print(string.format("# capture, busy Broker: %d events written, %d urgent (%d posted in their own write())",
                      written, urgent, at_once))
end)

H.run()
