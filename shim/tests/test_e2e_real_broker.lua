-- The real capture (tests/fixtures/real-broker-25.05: what a real Centreon Broker 25.05 handed to a Lua
-- output while a real Engine 25.05 ran) replayed in order through the REAL shim, as Broker calls
-- it, into the REAL daemon with the default [alerts], delivering to a mock PagerDuty: PagerDuty
-- must receive exactly tests/fixtures/real-broker-25.05/expected-events.txt (expected.md's "Per key, in
-- order": actions, dedup keys, trigger severities, in order per key).
--
-- How it is replayed (shim/tests/emulator.lua is Broker's output thread):
-- * every line of events.ndjson is published in order; only those whose category/element pass
--   filter() reach write(); Broker's cache (broker_cache) learns from all of them;
-- * the emulated clock (what the shim's retry_interval and max_buffer_age see) is the capture's
--   own: each event arrives at its events.times time, and between two events Broker's thread
--   idles as in failover::_run (flush() at once if events came, else once a second; 100 ms
--   steps). Wall time is compressed: a gap becomes at most REPLAY_GAP_MS real milliseconds
--   (default 1), so the quiet hour (lines 1000-5040) takes seconds, not an hour;
-- * what timeline.txt says was done to cbd and to the daemon, at its clock times:
--   (h)  cbd stopped 19:11:07 and started 19:11:17 (between lines 766 and 767);
--   (h2) the daemon stopped 19:11:44 (the step starts at line 812; lines 813-815 still reached
--        it), svc_1 OK meanwhile (line 821), cbd stopped 19:11:59 and started 19:12:02 (between
--        lines 831 and 832: Broker replays what the shim did not acknowledge), the daemon
--        started 19:12:14 (before line 854).
-- On failure it prints, per dedup key, expected vs received (LCS diff: '-' expected only, '+'
-- received only, '!' received before the replay reached the line that owes it: sent for another
-- reason), each received event with the capture line the replay was at when PagerDuty got it.
-- Run alone:
--   CENTREON_PAGERDUTY_BIN=$PWD/target/debug/centreon-pagerduty SHIM_TEST_ONLY=capture \
--     LUAS=lua5.4 shim/tests/run.sh
-- or: cd shim/tests && lua5.4 test_e2e_real_broker.lua
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local R = require("real_daemon")

local DATA = H.FIXTURES .. "/real-broker-25.05"
local GAP = (tonumber(os.getenv("REPLAY_GAP_MS") or "1") or 1) / 1000

-- Capture clock (UTC, 2026-12-05) of timeline.txt.
local function at(hms)
  local h, m, s = hms:match("^(%d+):(%d+):(%d+)$")
  return os.time({ year = 2026, month = 12, day = 5, hour = 0, min = 0, sec = 0, isdst = false })
         - os.time({ year = 1970, month = 1, day = 1, hour = 0, isdst = false })
         + tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
end

local ACTIONS = { -- timeline.txt
  { t = at("19:11:07"), what = "cbd_stop", step = "(h) cbd stopped" },
  { t = at("19:11:17"), what = "cbd_start", step = "(h) cbd started" },
  { t = at("19:11:44"), what = "daemon_stop", step = "(h2) daemon stopped" },
  { t = at("19:11:59"), what = "cbd_stop", step = "(h2) cbd stopped" },
  { t = at("19:12:02"), what = "cbd_start", step = "(h2) cbd started" },
  { t = at("19:12:14"), what = "daemon_start", step = "(h2) daemon started" },
}

local function load_capture()
  local events = H.json.decode_lines(assert(H.read(DATA .. "/events.ndjson")))
  local times = {}
  for line in assert(H.read(DATA .. "/events.times")):gmatch("[^\n]+") do
    times[#times + 1] = tonumber(line:match("^(%S+)"))
  end
  H.eq(#times, #events, "events.times and events.ndjson")
  return events, times
end

-- expected-events.txt: { key = { {what = "trigger critical", line = 67, note = "(b) ..."}, ... } }, total
local function load_expected()
  local expected, n = {}, 0
  for text in assert(H.read(DATA .. "/expected-events.txt")):gmatch("[^\n]+") do
    local body, note = text:match("^([^#]*)#?%s*(.*)$")
    local line = tonumber(body:match("@(%d+)"))
    body = body:gsub("@%d+", "")
    local key, action, severity = body:match("^%s*(%S+)%s+(%S+)%s*(%S*)%s*$")
    if key then
      H.ok(line, "expected-events.txt: no @LINE in: " .. text)
      local list = expected[key] or {}
      expected[key] = list
      list[#list + 1] = { what = severity ~= "" and (action .. " " .. severity) or action, line = line, note = note }
      n = n + 1
    end
  end
  return expected, n
end

-- Longest common subsequence diff of two lists of strings: { {op = " "|"-"|"+", a = i, b = j} }
local function lcs_diff(a, b)
  local m, n = #a, #b
  local L = {}
  for i = m + 1, 1, -1 do
    L[i] = {}
    for j = n + 1, 1, -1 do
      if i > m or j > n then L[i][j] = 0
      elseif a[i] == b[j] then L[i][j] = L[i + 1][j + 1] + 1
      else L[i][j] = math.max(L[i + 1][j], L[i][j + 1]) end
    end
  end
  local out, i, j = {}, 1, 1
  while i <= m or j <= n do
    if i <= m and j <= n and a[i] == b[j] then out[#out + 1] = { op = " ", a = i, b = j }; i, j = i + 1, j + 1
    elseif j <= n and (i > m or L[i][j + 1] >= L[i + 1][j]) then out[#out + 1] = { op = "+", b = j }; j = j + 1
    else out[#out + 1] = { op = "-", a = i }; i = i + 1 end
  end
  return out
end

-- The per-key report; returns text, and whether everything matched.
local function report(expected, received)
  local keys, seen = {}, {}
  for k in pairs(expected) do keys[#keys + 1] = k; seen[k] = true end
  for k in pairs(received) do if not seen[k] then keys[#keys + 1] = k end end
  table.sort(keys)
  local lines, same = {}, true
  for _, k in ipairs(keys) do
    local want, got = expected[k] or {}, received[k] or {}
    local a, b = {}, {}
    for i, e in ipairs(want) do a[i] = e.what end
    for i, e in ipairs(got) do b[i] = e.what end
    local d = lcs_diff(a, b)
    local differs = false
    for _, x in ipairs(d) do
      -- received before the replay reached the line that owes it: sent for another reason
      if x.op == " " and got[x.b].line < want[x.a].line then x.op = "!" end
      if x.op ~= " " then differs = true end
    end
    same = same and not differs
    lines[#lines + 1] = string.format("%s: %s (expected %d, received %d)", k, differs and "DIFFERS" or "ok", #a, #b)
    if differs then
      for _, x in ipairs(d) do
        if x.op == "+" then
          lines[#lines + 1] = string.format("  + %-18s received at capture line ~%d, not expected",
                                            b[x.b], got[x.b].line)
        elseif x.op == "-" then
          lines[#lines + 1] = string.format("  - %-18s expected %s, not received", a[x.a], want[x.a].note)
        elseif x.op == "!" then
          lines[#lines + 1] = string.format("  ! %-18s %s: received at line ~%d, BEFORE line %d that owes it",
                                            a[x.a], want[x.a].note, got[x.b].line, want[x.a].line)
        else
          lines[#lines + 1] = string.format("    %-18s %s (received at line ~%d)",
                                            a[x.a], want[x.a].note, got[x.b].line)
        end
      end
    end
  end
  return table.concat(lines, "\n"), same
end

local function daemon_pending(env)
  local status, body = R.http(env.socket, "GET", "/v1/status", nil, 2)
  if status ~= 200 then return nil end
  return tonumber(tostring(body):match('"pending"%s*:%s*(%d+)'))
end

H.test("the real Broker 25.05 capture, replayed through shim and daemon: PagerDuty gets exactly expected.md", function()
  local started = H.gettime()
  local events, times = load_capture()
  local expected, n_expected = load_expected()
  local env = R.start() -- default [alerts]
  local emu = H.emulator({ start_time = times[1] - 1, conf = {
    socket = env.socket, timeout = 2000, retry_interval = 5, max_buffer_age = 1, max_buffer_size = 1000 } })
  emu:start()
  local cbd_up, daemon_up = true, true
  local next_action = 1
  local line_of_pd = {} -- PagerDuty event index -> capture line being replayed when it was seen
  local pd_seen = 0
  local current = 0
  local function note_pd()
    local c = env:pd_count()
    for k = pd_seen + 1, c do line_of_pd[k] = current end
    pd_seen = c
  end
  local function run_action(a)
    if a.what == "cbd_stop" then emu:stop(); cbd_up = false
    elseif a.what == "cbd_start" then emu:start(); cbd_up = true
    elseif a.what == "daemon_stop" then note_pd(); env:stop(); daemon_up = false
    elseif a.what == "daemon_start" then env:start(); daemon_up = true end
  end
  -- Broker's output thread with nothing to read, until emulated time `t` (actions on the way).
  local function idle_until(t)
    while true do
      local a = ACTIONS[next_action]
      if a and a.t <= t and emu.now >= a.t then
        run_action(a)
        next_action = next_action + 1
      elseif emu.now + 0.1 <= t then
        if cbd_up then
          while emu:has_event() do emu:deliver() end
          emu:idle_step()
        else
          emu:advance(0.1)
        end
      else
        break
      end
    end
    if emu.now < t then emu:advance(t - emu.now) end
  end

  for i, ev in ipairs(events) do
    local t = times[i]
    if i > 1 and t > times[i - 1] then H.sleep(math.min(t - times[i - 1], GAP)) end
    idle_until(t)
    current = i
    emu:publish(ev)
    if cbd_up then
      while emu:has_event() do emu:deliver() end
    end
    note_pd()
  end
  H.eq(next_action, #ACTIONS + 1, "every timeline action done")
  H.ok(cbd_up and daemon_up)
  -- the end: Broker idles until everything is acknowledged; the daemon delivers what it owes
  for _ = 1, 600 do
    if emu:pending() == 0 then break end
    idle_until(emu.now + 0.5)
  end
  H.eq(emu:pending(), 0, "every event acknowledged at the end")
  local last_count, stable_since = -1, H.gettime()
  R.wait_until(function()
    note_pd()
    local c = env:pd_count()
    if c ~= last_count then last_count, stable_since = c, H.gettime() end
    return daemon_pending(env) == 0 and H.gettime() - stable_since >= 0.5
  end, 20)
  note_pd()

  local received = {}
  local n_received = 0
  for k, e in ipairs(env:pd_events()) do
    if e.status == 202 and e.event then
      local ev = e.event
      local what = ev.event_action
      if what == "trigger" then what = what .. " " .. tostring(ev.payload and ev.payload.severity) end
      local list = received[ev.dedup_key] or {}
      received[ev.dedup_key] = list
      list[#list + 1] = { what = what, line = line_of_pd[k] or current }
      n_received = n_received + 1
    end
  end
  local text, same = report(expected, received)
  print(string.format("# capture replay: %d events (%d written), %d POSTs failed, %d PagerDuty events " ..
                      "(%d expected), %.1f s", #events, emu.stats.writes, #emu:logs("failed:"), n_received,
                      n_expected, H.gettime() - started))
  if not same then
    print("# PagerDuty: expected vs received, per dedup key")
    print(text)
  end
  H.ok(same, "PagerDuty did not receive exactly expected-events.txt (per-key diff above)")
  H.eq(#emu:logs(nil, "error") - #emu:logs("failed:", "error"), 0, "no shim error but the failed POSTs")
end)

H.run()
