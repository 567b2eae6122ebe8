-- End to end through the REAL daemon: what the shim encodes (DESIGN §3.5) arrives at
-- PagerDuty intact: quotes, newlines, control characters and non-ASCII byte-exact,
-- invalid UTF-8 as U+FFFD, every body valid JSON and valid UTF-8; large events are
-- split into POSTs of at most max_batch_bytes (a single larger event goes alone).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local R = require("real_daemon")

local FFFD = "\u{FFFD}"

-- A HARD CRITICAL first seen: the daemon triggers at once.
local function critical(host_id, service_id, n, extra)
  local ev = H.service_status(host_id, service_id, n, { state = 2, state_type = 1, last_hard_state = 2,
                                                        last_hard_state_change = 1781000000 + n })
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

local function by_dedup_key(events)
  local out = {}
  for _, e in ipairs(events) do
    H.ok(e.event, "PagerDuty body is valid JSON: " .. tostring(e.error))
    H.ok(utf8.len(e.body), "PagerDuty body is valid UTF-8")
    H.ok(out[e.event.dedup_key] == nil, "one event per dedup_key: " .. e.event.dedup_key)
    out[e.event.dedup_key] = e.event
  end
  return out
end

-- { output sent, output expected at PagerDuty }; long_output is the same text twice,
-- joined by a newline.
local CASES = {
  { 'CRITICAL - "quoted" \\back\\slash\\ /slash/ {"json":[1]}', nil },
  { "CRITICAL - tab\there, CR\rthere, ESC\27[31mred\27[0m, BEL\7 DEL\127 US\31 SOH\1 end", nil },
  { "CRITICAL - NUL\0inside", nil },
  { "CRITICAL - é ü ß € 日本語 🚨 \u{10FFFF} \u{FEFF}BOM \u{2028}LS \u{2029}PS", nil },
  { "CRITICAL - latin-1 Temp\233rature \176C", "CRITICAL - latin-1 Temp" .. FFFD .. "rature " .. FFFD .. "C" },
  { "CRITICAL - bad \255 lone-lead \195( cut3 \226\130 cut4 \240\159\152 surrogate \237\160\128 overlong \192\175 end",
    "CRITICAL - bad " .. FFFD .. " lone-lead " .. FFFD .. "( cut3 " .. FFFD .. " cut4 " .. FFFD ..
    " surrogate " .. FFFD:rep(3) .. " overlong " .. FFFD:rep(2) .. " end" },
  { "CRITICAL - at the end \240\159\154", "CRITICAL - at the end " .. FFFD },
}

H.test("outputs with quotes, control characters, non-ASCII and invalid UTF-8 reach PagerDuty as §3.5 says", function()
  local env = R.start()
  local cache = {
    instances = { ["3"] = "Poller-Éire" },
    hosts = { ["700"] = { name = "srv-élan-01", instance_id = 3,
                          hostgroups = { { group_id = 1, group_name = "Réseau \"cœur\"" } } } },
    services = {},
  }
  local events = {}
  for i, case in ipairs(CASES) do
    local sid = 7000 + i
    cache.services["700:" .. sid] = { description = "Svc-" .. i .. " données ✓", servicegroups = {} }
    events[i] = critical(700, sid, i, { output = case[1], long_output = case[1] .. "\n" .. case[1] })
  end
  -- a name with invalid UTF-8 in broker_cache (a Latin-1 configuration)
  cache.services["700:7099"] = { description = "Temp\233rature", servicegroups = {} }
  events[#events + 1] = critical(700, 7099, 99, { output = "CRITICAL" })

  local emu = H.emulator({ cache = cache, conf = { socket = env.socket } })
  emu:start()
  emu:publish(events)
  emu:run()
  H.eq(emu.acked, #events)
  H.eq(#emu:logs(nil, "error"), 0)
  local m = env:metrics()
  H.eq(m.events_received_total, #events)
  H.eq(m.events_rejected_total, 0, "the daemon rejected nothing")

  local got = by_dedup_key(env:wait_pd(#events, 15, 0.3))
  for i, case in ipairs(CASES) do
    local key = "700_" .. (7000 + i)
    local ev = H.ok(got[key], "trigger for case " .. i)
    local want = case[2] or case[1]
    local d = ev.payload.custom_details
    H.eq(ev.event_action, "trigger")
    H.eq(d.output, want, "case " .. i .. ": custom_details.output")
    H.eq(d.long_output, want .. "\n" .. want, "case " .. i .. ": custom_details.long_output")
    H.eq(ev.payload.source, "srv-élan-01", "case " .. i .. ": payload.source")
    H.eq(ev.payload.component, "Svc-" .. i .. " données ✓", "case " .. i .. ": payload.component")
    H.eq(ev.payload.group, "Réseau \"cœur\"", "case " .. i .. ": payload.group")
    H.eq(d.poller, "Poller-Éire", "case " .. i .. ": poller")
    local prefix = "srv-élan-01/Svc-" .. i .. " données ✓: CRITICAL - "
    H.eq(ev.payload.summary:sub(1, #prefix), prefix, "case " .. i .. ": summary")
  end
  -- summaries of the printable cases are the whole output
  for _, i in ipairs({ 1, 4, 5, 6, 7 }) do
    local want = CASES[i][2] or CASES[i][1]
    H.eq(got["700_" .. (7000 + i)].payload.summary, "srv-élan-01/Svc-" .. i .. " données ✓: CRITICAL - " .. want)
  end
  H.eq(got["700_7099"].payload.component, "Temp" .. FFFD .. "rature", "invalid UTF-8 in a cached name")
end)

H.test("a batch of large events is split by max_batch_bytes; a larger one goes alone; all delivered", function()
  local env = R.start()
  local MAX = 200000
  local events, sizes = {}, {}
  for i = 1, 12 do
    -- 60 to 115 KB of long output, distinct per event
    local long = string.rep(string.format("\nline %02d of a long output é", i), 2000 + 200 * i)
    events[i] = critical(800, 8000 + i, i, { output = "CRITICAL - big " .. i, long_output = long })
    sizes[i] = #long
  end
  -- over max_batch_bytes (~230 KB): posted alone
  events[13] = critical(800, 8013, 13, { output = "CRITICAL - alone", long_output = string.rep("x", 230000) })
  -- over the shim's 256 KiB per event: cut, marked "_truncated":true
  events[14] = critical(800, 8014, 14, { output = "CRITICAL - cut", long_output = string.rep("é", 200000) })
  local emu = H.emulator({ conf = { socket = env.socket, max_batch_bytes = MAX, max_buffer_size = 1000 } })
  emu:start()
  emu:publish(events)
  emu:run()
  H.eq(emu.acked, #events, "every event acknowledged")
  H.eq(#emu:logs(nil, "error"), 0)

  -- the shim's debug lines: "posted N events (B bytes)"
  local posts, n_total, alone = {}, 0, 0
  for _, r in ipairs(emu:logs("posted ")) do
    local n, bytes = r.text:match("posted (%d+) events %((%d+) bytes%)")
    n, bytes = tonumber(n), tonumber(bytes)
    posts[#posts + 1] = n .. "/" .. bytes
    n_total = n_total + n
    if n > 1 then H.ok(bytes <= MAX, "POST of " .. n .. " events is " .. bytes .. " bytes") end
    if bytes > MAX then alone = alone + 1 end
  end
  H.eq(n_total, #events, "every event posted once: " .. table.concat(posts, " "))
  H.eq(alone, 2, "the two events over max_batch_bytes went alone: " .. table.concat(posts, " "))
  H.ok(#posts >= 8, "split into " .. #posts .. " POSTs")
  local m = env:metrics()
  H.eq(m.events_received_total, #events)
  H.eq(m.events_rejected_total, 0, "the daemon rejected nothing")

  local got = by_dedup_key(env:wait_pd(#events, 20, 0.3))
  for i = 1, 14 do
    local ev = H.ok(got["800_" .. (8000 + i)], "trigger " .. i)
    H.eq(ev.event_action, "trigger")
  end
  for _, e in ipairs(env:pd_events()) do
    H.ok(#e.body < 512000, "PagerDuty body under 512,000 bytes: " .. #e.body)
  end
  for i = 1, 12 do
    H.eq(#got["800_" .. (8000 + i)].payload.custom_details.long_output, sizes[i],
         "event " .. i .. " long_output intact")
  end
  local cut = got["800_8014"].payload.custom_details.long_output
  H.ok(#cut < 256 * 1024 and #cut > 100000, "cut long_output: " .. #cut .. " bytes")
  H.eq(cut, string.rep("é", #cut // 2), "cut on a character boundary")
end)

H.run()
