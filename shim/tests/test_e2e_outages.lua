-- End to end through the REAL daemon when it is down or frozen: Broker's output
-- thread is never held, nothing is acknowledged that the daemon did not store, and
-- once the daemon is back every alert reaches PagerDuty exactly once (the daemon's
-- replay detection absorbs what Broker or the shim send twice).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local R = require("real_daemon")

local MARGIN = 0.25 -- seconds of slack for a loaded machine

local function percentile(list, p)
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  return sorted[math.max(1, math.ceil(#sorted * p))] or 0
end

local function slice(list, from, to)
  local out = {}
  for i = from, to or #list do out[#out + 1] = list[i] end
  return out
end

local function failed_posts(emu) return #emu:logs("failed:") end

-- Records the wall time of every write()/flush() call of `emu`, apart for the calls
-- that made a POST attempt which failed (`attempts`) and the others (`quick`).
local function time_calls(emu)
  local calls = { all = {}, attempts = {}, quick = {} }
  local failures = failed_posts(emu)
  emu.on_call = function(_, wall)
    local now_failures = failed_posts(emu)
    local list = now_failures > failures and calls.attempts or calls.quick
    failures = now_failures
    list[#list + 1] = wall
    calls.all[#calls.all + 1] = wall
  end
  return calls
end

-- Delivers every deliverable event, then `steps` idle steps (0.1 emulated second each).
local function drive(emu, steps)
  while emu:has_event() do emu:deliver() end
  for _ = 1, steps or 0 do emu:step() end
end

H.test("daemon down while Broker writes: nothing acknowledged, write() fast; " ..
       "daemon up + cbd restart: every alert once", function()
  local env = R.start()
  local events, cache, expected = R.mixed_lifecycles()
  local first = 20
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 5,
                                                   retry_interval = 5, timeout = 500 } })
  emu:start()
  emu:publish(slice(events, 1, first))
  emu:run()
  H.eq(emu.acked, first, "acknowledged while the daemon is up")

  env:stop()
  local calls = time_calls(emu)
  emu:publish(slice(events, first + 1))
  -- and a steady stream of OK statuses of other services (nothing for PagerDuty)
  for i = 1, 500 do emu:publish(H.service_status(950, 9500 + i % 50, i)) end
  local total = #events + 500
  drive(emu, 30) -- 3 emulated seconds: inside the retry window
  H.eq(emu.acked, first, "nothing acknowledged while the daemon is down")
  H.eq(emu.stats.writes, total, "every event written")
  H.eq(emu.stats.errors, 0)
  H.eq(failed_posts(emu), 1, "one POST attempt, then nothing inside retry_interval")
  H.eq(#calls.attempts, 1)
  H.ok(calls.attempts[1] < 0.25, string.format("the failed POST took %.3f ms", calls.attempts[1] * 1000))
  local p99, max = percentile(calls.quick, 0.99), percentile(calls.quick, 1)
  -- Loose bounds: this proves no POST is attempted (a POST waits for the daemon); the speed
  -- itself is measured in BENCHMARKS.md, not asserted on a shared CI machine.
  H.ok(p99 < 0.05 and max < 0.25, string.format(
    "inside retry_interval: write()/flush() p99 %.3f ms, max %.3f ms over %d calls",
                                                 p99 * 1000, max * 1000, #calls.quick))
  emu.on_call = nil

  env:start()   -- same spool
  emu:restart() -- still inside the retry window: stop()'s flush() posts nothing, Broker replays
  emu:run()
  H.eq(emu.acked, total, "every event acknowledged after the restart")
  H.eq(emu.stats.writes, first + 2 * (total - first), "Broker replayed exactly the unacknowledged events")
  R.check_keys(env:wait_pd(R.count(expected), 15, 0.5), expected)
  H.eq(#emu:logs(nil, "error"), 0, "no error logged after the restart")
end)

H.test("daemon back without a cbd restart: the backlog is posted after retry_interval, every alert once", function()
  local env = R.start({ start_daemon = false })
  local events, cache, expected = R.mixed_lifecycles()
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 10,
                                                   retry_interval = 2, timeout = 500 } })
  local calls = time_calls(emu)
  emu:start()
  emu:publish(events)
  drive(emu, 15) -- 1.5 emulated seconds
  H.eq(emu.acked, 0)
  H.eq(failed_posts(emu), 1)
  H.ok(percentile(calls.all, 1) < 0.25, "every call fast") -- none waits for the 500 ms timeout
  env:start()
  drive(emu, 30)  -- the window (2 s) ends, the next flush() posts everything
  H.eq(emu.acked, #events, "backlog acknowledged once the daemon answers")
  H.eq(emu.stats.writes, #events, "no replay needed")
  R.check_keys(env:wait_pd(R.count(expected), 15, 0.5), expected)
  H.eq(#emu:logs("answered again", "warning"), 1, "recovery logged")
end)

H.test("cbd killed after a partial drain: events the daemon already stored are replayed, nobody paged twice", function()
  local env = R.start({ start_daemon = false })
  local events, cache, expected = R.mixed_lifecycles()
  -- max_buffer_age long: once the events up to the last urgent one are posted (test_urgent.lua),
  -- write() posts only full batches, so a partial one stays unacknowledged (timeout long: one call
  -- may post the whole backlog even on a slow machine). Behind the alerts, OK statuses of another
  -- service (nothing urgent): the batches are of 4 events from the first, so the partial one left
  -- has (#events + filler + 1) % 4 events, 2 here.
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 4,
                                                   max_buffer_age = 3600, retry_interval = 1, timeout = 5000 } })
  emu:start()
  local filler = 4 + (1 - #events) % 4
  emu:publish(events)
  for i = 1, filler do emu:publish(H.service_status(960, 9600, i)) end
  drive(emu, 5)
  H.eq(emu.acked, 0)
  env:start()
  emu:advance(2)
  emu:publish(H.service_status(960, 9600, filler + 1))
  emu:deliver() -- posts the backlog up to its last alert, then every full batch; a partial batch stays
  local total = #events + filler + 1
  local left = emu.env.centreon_pagerduty.buffered()
  H.eq(left, 2, "events left in the buffer")
  H.eq(emu.acked, 0, "nothing acknowledged: the buffer is not empty")
  local stored = env:metrics().events_received_total
  H.eq(stored, total - left, "the daemon stored the full batches")
  emu:crash()   -- no last flush()
  emu:start()   -- Broker replays everything since its last acknowledgement
  emu:run()
  H.eq(emu.acked, total)
  H.eq(env:metrics().events_received_total, stored + total, "the daemon received the replay")
  R.check_keys(env:wait_pd(R.count(expected), 15, 0.5), expected, "after the replay")
end)

H.test("daemon frozen (SIGSTOP): each call returns within the timeout; after SIGCONT every alert once", function()
  local TIMEOUT_MS = 300
  local env = R.start()
  local events, cache, expected = R.mixed_lifecycles()
  local first = 12
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 4,
                                                   retry_interval = 1, timeout = TIMEOUT_MS } })
  emu:start()
  emu:publish(slice(events, 1, first))
  emu:run()
  H.eq(emu.acked, first)
  local before = env:metrics().events_received_total

  env:freeze()
  local calls = time_calls(emu)
  emu:publish(slice(events, first + 1))
  -- and OK statuses of other services, 200 KiB each: a POST that does not fit in the socket buffer
  local big = string.rep("b", 200 * 1024)
  for i = 1, 10 do emu:publish(H.service_status(900, 9000 + i, i, { long_output = big })) end
  local total = #events + 10
  drive(emu, 80) -- 8 emulated seconds: several attempts (retry_interval 1, 2, 4 s)
  H.eq(emu.acked, first, "nothing acknowledged while the daemon is frozen")
  local attempts = failed_posts(emu)
  H.ok(attempts >= 3, attempts .. " POST attempts timed out")
  H.eq(#calls.attempts, attempts)
  local max = percentile(calls.attempts, 1)
  H.ok(max <= TIMEOUT_MS / 1000 + MARGIN, string.format("slowest call %.3f s (timeout %d ms)", max, TIMEOUT_MS))
  -- the other calls only buffer (ten of them encode a 200 KiB event: ~2 ms of CPU each)
  local p50, quick_max = percentile(calls.quick, 0.5), percentile(calls.quick, 1)
  H.ok(p50 < 0.05 and quick_max < 0.25, string.format("%d calls without a POST: p50 %.3f ms, max %.3f ms",
                                                        #calls.quick, p50 * 1000, quick_max * 1000))
  emu.on_call = nil

  env:thaw()
  drive(emu, 100) -- the window ends, the backlog goes
  H.eq(emu.acked, total, "everything acknowledged after SIGCONT")
  local received = env:metrics().events_received_total - before
  R.check_keys(env:wait_pd(R.count(expected), 15, 0.5), expected, "after SIGCONT")
  -- The timed-out POSTs were still queued on the frozen daemon's socket: it may have
  -- stored them when thawed, and the shim posted them again. Shown for the report.
  print(string.format("# note: the daemon received %d events for %d written (%d posted twice)",
                      received, total - first, received - (total - first)))
end)

H.test("a POST the shim gave up on (frozen daemon), then its repost: nobody paged twice, " ..
       "whichever the daemon stored", function()
  local env = R.start()
  local events, cache, expected = R.mixed_lifecycles()
  local emu = H.emulator({ cache = cache, conf = { socket = env.socket, max_buffer_size = 1000,
                                                   retry_interval = 1, timeout = 200 } })
  emu:start()
  emu:publish(events)
  env:freeze()
  -- The first urgent event's write() posts what is buffered: the frozen daemon does not answer
  -- in time; inside the retry window the other writes only buffer.
  while emu:has_event() do emu:deliver() end
  H.eq(failed_posts(emu), 1, "one POST given up on")
  local given_up = tonumber(emu:logs("failed:")[1].text:match("POST of (%d+) events"))
  H.ok(given_up and given_up >= 1, "the POST given up on")
  H.eq(emu.acked, 0)
  env:thaw()
  -- The request the shim gave up on waits in the daemon's accept queue: once thawed the
  -- daemon may store it (or drop it on seeing the connection closed).
  R.wait_until(function() return env:metrics().events_received_total == given_up end, 1)
  local stored = env:metrics().events_received_total
  H.ok(stored == 0 or stored == given_up, "the batch is stored whole or not at all: " .. stored)
  emu:advance(1.5)
  H.eq(emu:flush(), true, "the repost is answered")
  H.eq(env:metrics().events_received_total, stored + #events)
  R.check_keys(env:wait_pd(R.count(expected), 15, 0.5), expected)
  print(string.format("# note: the timed-out batch (%d events) was %s by the thawed daemon", given_up,
                      stored > 0 and "stored (then received again)" or "not stored"))
end)

H.run()
