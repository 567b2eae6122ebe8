-- The emulator's Engine (emulator.lua) against the real capture (tests/fixtures/real-broker-25.05): the
-- events it publishes have the capture's fields, order and duplicates where the real Broker 25.05
-- and Engine 25.05 showed them (README.md of this directory: each behaviour, its capture lines).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

local DATA = H.FIXTURES .. "/real-broker-25.05"
local capture
local function line(n)
  capture = capture or H.json.decode_lines(assert(H.read(DATA .. "/events.ndjson")))
  return capture[n]
end

-- The capture's Engine: host_1 (max_check_attempts 1), svc_1 (3), svc_2 (2).
local function engine(opts)
  local emu = H.emulator(opts)
  emu.now = 1796497355.5
  local eng = emu:engine({ instance_id = 1, name = "Central" })
  eng:add_host({ host_id = 1, name = "host_1", max_check_attempts = 1 })
  eng:add_service({ host_id = 1, service_id = 2, description = "svc_2", max_check_attempts = 2 })
  eng:add_service({ host_id = 1, service_id = 1, description = "svc_1", max_check_attempts = 3 })
  return emu, eng
end

local function published(emu, from)
  local out = {}
  for i = from or 1, #emu.queue do out[#out + 1] = emu.queue[i] end
  return out
end

-- A compact, comparable view of an event (times as roles: -1, or relative to the given marks).
local function view(ev, marks)
  local function time(v)
    if v == -1 or v == 0 then return tostring(v) end
    for name, t in pairs(marks or {}) do if v == t then return name end end
    return "t"
  end
  local e = ev.element
  if e == 44 then return "44 running=" .. tostring(ev.running) end
  if e == 41 then
    return string.format("41 msg_type=%d type=%d status=%d retry=%d", ev.msg_type, ev.type, ev.status, ev.retry)
  end
  if e == 36 then
    return string.format("36 s%d started=%s cancelled=%s ast=%s aet=%s del=%s", ev.service_id,
      tostring(ev.started), tostring(ev.cancelled), time(ev.actual_start_time), time(ev.actual_end_time),
      time(ev.deletion_time))
  end
  if e == 55 or e == 56 then
    return string.format("%d depth=%s ack=%s", e, tostring(ev.scheduled_downtime_depth),
                         tostring(ev.acknowledgement_type))
  end
  if e == 29 or e == 32 then
    return string.format("%d s%s %d/%d att=%d depth=%d ack=%d lhs=%d lhsc=%s", e, tostring(ev.service_id or "H"),
      ev.state, ev.state_type, ev.check_attempt, ev.scheduled_downtime_depth, ev.acknowledgement_type,
      ev.last_hard_state, time(ev.last_hard_state_change))
  end
  if e == 35 then
    return string.format("35 entry_type=%d deleted=%s", ev.entry_type, tostring(ev.deletion_time ~= 0))
  end
  if e == 27 or e == 30 then
    return string.format("%d state=%d checked=%s depth=%d", e, ev.state, tostring(ev.checked),
                         ev.scheduled_downtime_depth)
  end
  return tostring(e)
end

local function views(list, keep, marks)
  local out = {}
  for _, ev in ipairs(list) do
    if not keep or keep[ev.element] then out[#out + 1] = view(ev, marks) end
  end
  return table.concat(out, "\n")
end

local function capture_views(from, to, keep, marks)
  local list = {}
  for i = from, to do list[#list + 1] = line(i) end
  return views(list, keep, marks)
end

local function set(...)
  local s = {}
  for _, e in ipairs({ ... }) do s[e] = true end
  return s
end

H.test("every element has the capture's fields (v3 statuses: no notify, max_check_attempts, acknowledged)", function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  eng:instance_status()
  emu:advance(10)
  eng:check(1, 1, 2, "CRITICAL")
  eng:acknowledge(1, 1, { sticky = true, persistent = true })
  eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 45 })
  eng:schedule_downtime({ host_id = 1, service_id = 1, start_time = eng:now() + 3600, duration = 3600 })
  eng:schedule_downtime({ host_id = 1, duration = 600 })
  eng:set_notify(1, 2, false)
  eng:reload()
  eng:stop()
  local keys = {}
  for _, ev in ipairs(emu.queue) do
    local k = keys[ev.element] or {}
    keys[ev.element] = k
    for name in pairs(ev) do k[name] = true end
  end
  local want = {}
  for i = 1, 5202 do
    local ev = line(i)
    if keys[ev.element] then
      local k = want[ev.element] or {}
      want[ev.element] = k
      for name in pairs(ev) do k[name] = true end
    end
  end
  for _, e in ipairs({ 27, 28, 29, 30, 32, 35, 36, 39, 40, 41, 42, 44, 45, 54, 55, 56 }) do
    H.ok(keys[e], "element " .. e .. " emitted")
    local extra, missing = {}, {}
    for k in pairs(keys[e]) do if not want[e][k] then extra[#extra + 1] = k end end
    -- adaptive statuses carry only what changed: their fields vary with the change
    if e ~= 55 and e ~= 56 then
      for k in pairs(want[e]) do if not keys[e][k] then missing[#missing + 1] = k end end
    end
    table.sort(extra); table.sort(missing)
    H.eq(table.concat(extra, ",") .. "|" .. table.concat(missing, ","), "|", "element " .. e .. ": extra|missing")
  end
  for _, ev in ipairs(emu.queue) do
    if ev.element == 29 or ev.element == 32 then
      H.ok(ev.notify == nil and ev.max_check_attempts == nil and ev.acknowledged == nil and ev.instance_id == nil)
    end
  end
end)

H.test("a fresh Engine: never-checked resources first in their definitions (state 4), no pending status", function()
  local emu, eng = engine()
  eng:start()
  H.eq(views(published(emu)), capture_views(1, 7, nil), "lines 1-7")
  local first = #emu.queue + 1
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  local statuses = {}
  for _, ev in ipairs(published(emu, first)) do
    if ev.element == 29 or ev.element == 32 then statuses[#statuses + 1] = ev end
  end
  H.eq(#statuses, 3)
  H.eq(statuses[1].last_hard_state_change, 0, "a never-checked host's first status: lhsc 0 (line 11)")
  H.eq(statuses[2].last_hard_state_change, statuses[2].last_check, "a service's: its check (line 12)")
end)

H.test("SOFT retries, HARD; a sticky acknowledgement; recovery (lines 61-103)", function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  local first = #emu.queue + 1
  for _ = 1, 3 do emu:advance(2); eng:check(1, 1, 2, "CRITICAL") end
  emu:advance(10)
  eng:acknowledge(1, 1, { sticky = true, persistent = true })
  emu:advance(3); eng:check(1, 1, 2, "CRITICAL")
  emu:advance(10); eng:check(1, 1, 0, "OK")
  local keep = set(29, 45, 55, 35, 41)
  local want = {}
  for _, n in ipairs({ 61, 64, 66, 67, 85, 86, 87, 90, 102, 103 }) do want[#want + 1] = view(line(n)) end
  H.eq(views(published(emu, first), keep), table.concat(want, "\n"))
end)

H.test("a downtime that starts or ends reaches Lua twice, identical; a scheduled one once (121-189, 403)", function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  local first = #emu.queue + 1
  eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 45 })
  local keep = set(36, 35, 55, 56, 29, 32)
  H.eq(views(published(emu, first), keep), capture_views(121, 125, keep), "start: 121-125")
  local a, b = emu.queue[first], emu.queue[first + 2]
  H.deep_eq(a, b, "identical")
  emu:advance(8); eng:check(1, 2, 2, "CRITICAL") -- CRITICAL inside it, HARD at its 2nd attempt
  emu:advance(2); eng:check(1, 2, 2, "CRITICAL")
  emu:advance(36)
  first = #emu.queue + 1
  eng:tick()
  H.eq(views(published(emu, first), keep), capture_views(184, 189, keep), "expiry: 184-189")
  first = #emu.queue + 1
  eng:schedule_downtime({ host_id = 1, service_id = 1, start_time = eng:now() + 3600, duration = 3600 })
  H.eq(views(published(emu, first), keep), capture_views(403, 404, keep), "scheduled: 403-404")
end)

H.test("Engine stop and start while downtimes run: deleted then back, depth kept (lines 484-505)", function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  eng:schedule_downtime({ host_id = 1, service_id = 1, start_time = eng:now() + 3600, duration = 3600 })
  eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 600 })
  emu:advance(5); eng:check(1, 2, 2, "CRITICAL")
  emu:advance(2); eng:check(1, 2, 2, "CRITICAL")
  emu:advance(10)
  local first = #emu.queue + 1
  local stop = eng:now()
  eng:stop()
  emu:advance(4)
  local start = eng:now()
  eng:start()
  eng:check(1, 2, 2, "CRITICAL")
  local keep = set(44, 30, 27, 36, 54, 55, 29)
  local mine = views(published(emu, first), keep, { STOP = stop, START = start })
  local real = capture_views(484, 505, keep, { STOP = line(484).end_time, START = line(490).start_time })
  H.eq(mine, real)
end)

H.test("a real deletion: the depth drops at once (service: 55; host: a full status) (555-559, 5145-5149)", function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  local id = eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 600 })
  local first = #emu.queue + 1
  eng:delete_downtime(id)
  local keep = set(36, 55, 56, 32, 29)
  H.eq(views(published(emu, first), keep), capture_views(555, 559, keep), "service")
  id = eng:schedule_downtime({ host_id = 1, duration = 600 })
  emu:advance(10); eng:check(1, nil, 1, "DOWN")
  first = #emu.queue + 1
  eng:delete_downtime(id)
  H.eq(views(published(emu, first), keep), capture_views(5145, 5149, keep), "host")
end)

H.test("downtime ids restart from those still scheduled at an Engine start (id 1 twice)", function()
  local _, eng = engine()
  eng:start()
  local a = eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 45 })
  local b = eng:schedule_downtime({ host_id = 1, service_id = 1, start_time = eng:now() + 3600 })
  eng:delete_downtime(a)
  eng:stop(); eng:start()
  H.eq(eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 10 }), b + 1)
  eng:delete_downtime(b); eng:delete_downtime(b + 1)
  eng:stop(); eng:start()
  H.eq(eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 10 }), 1, "none left: id 1 again (line 647)")
end)

H.test("host DOWN: its service HARD at once; host UP: the service back to SOFT 1, HARD after its retries (336-375)",
       function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  local first = #emu.queue + 1
  emu:advance(5); eng:check(1, nil, 1, "DOWN")
  emu:advance(5); eng:check(1, 1, 2, "CRITICAL")
  emu:advance(10); eng:check(1, nil, 0, "UP")
  for _ = 1, 3 do eng:check(1, 1, 2, "CRITICAL"); emu:advance(2) end
  local keep = set(29, 32, 41)
  local want = {}
  for _, n in ipairs({ 335, 336, 348, 349, 367, 368, 369, 372, 375 }) do want[#want + 1] = view(line(n)) end
  H.eq(views(published(emu, first), keep), table.concat(want, "\n"))
end)

H.test("a non-sticky acknowledgement ends at a change of problem state: comment deleted, then the status (959-971)",
       function()
  local emu, eng = engine()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK")
  for _ = 1, 3 do emu:advance(2); eng:check(1, 1, 1, "WARNING") end
  local first = #emu.queue + 1
  eng:acknowledge(1, 1, { sticky = false })
  emu:advance(3); eng:check(1, 1, 1, "WARNING")
  emu:advance(5); eng:check(1, 1, 2, "CRITICAL")
  local keep = set(45, 55, 35, 29)
  local want = {}
  for _, n in ipairs({ 959, 960, 961, 963, 969, 971 }) do want[#want + 1] = view(line(n)) end
  H.eq(views(published(emu, first), keep), table.concat(want, "\n"))
end)

H.test("the elements the shim must drop are emitted too, and dropped; broker_cache follows definitions", function()
  local d = H.daemon()
  local emu, eng = engine({ conf = { socket = d.socket } })
  emu:start()
  eng:start()
  eng:check(1, nil, 0, "OK"); eng:check(1, 1, 0, "OK"); eng:check(1, 2, 0, "OK")
  eng:instance_status()
  eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 45 })
  eng:set_notify(1, 2, false)
  eng:reload()
  eng:stop()
  local seen, accepted = {}, 0
  for _, ev in ipairs(emu.queue) do
    seen[ev.element] = true
    if emu.env.filter(ev.category, ev.element) then accepted = accepted + 1 end
  end
  for _, e in ipairs({ 35, 39, 40, 41, 42, 44, 54 }) do
    H.ok(seen[e], "element " .. e .. " emitted")
    H.eq(emu.env.filter(1, e), false, "element " .. e .. " dropped by filter()")
  end
  emu:run()
  H.eq(emu.stats.writes, accepted)
  H.eq(emu.acked, #emu.queue, "filtered events acknowledged too")
  local svc = emu.cache:get_service(1, 2)
  H.eq(svc.notify, false, "get_service: notify after DISABLE_SVC_NOTIFICATIONS")
  H.eq(svc.max_check_attempts, 2)
  H.eq(math.type(svc.max_check_attempts), "integer")
  local host = emu.cache:get_host(1)
  H.eq(host.notify, true)
  H.eq(host.max_check_attempts, 1)
  H.eq(host.instance_id, 1)
  if d.controllable then
    for _, l in ipairs(d:accepted_lines()) do
      if l.element == 29 and l.service_id == 2 then
        H.eq(l._cache.notify, true, "before the 28")
        H.eq(l._cache.max_check_attempts, 2)
      end
    end
  end
end)

H.run()
