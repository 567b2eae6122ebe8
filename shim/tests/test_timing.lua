-- Broker's output thread is never held long: one deadline per POST, nothing tried
-- inside the retry window, and at most about one timeout of posting per call.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local now = H.gettime

local TIMEOUT_MS = 300
local MARGIN = 0.25 -- seconds of slack for a loaded test machine

local function timed(f, ...)
  local t = now()
  local r = f(...)
  return r, now() - t
end

local function percentile(list, p)
  table.sort(list)
  return list[math.max(1, math.ceil(#list * p))]
end

H.test("write() inside the retry window only buffers: no connection attempt", function()
  local d = H.daemon({ need_control = true })
  d:set({ action = "hang" })
  local emu = H.emulator({ conf = { socket = d.socket, timeout = TIMEOUT_MS, retry_interval = 5,
                                    max_buffer_size = 1 } })
  emu:start()
  local r, took = timed(emu.env.write, H.service_status(1, 1, 1))
  H.eq(r, false)
  H.ok(took >= TIMEOUT_MS / 1000 - 0.01 and took <= TIMEOUT_MS / 1000 + MARGIN, "first POST bounded: " .. took)
  local durations = {}
  for i = 2, 1001 do
    local ev = H.service_status(1, 1, i, { output = "CRITICAL - é \"quoted\" " .. string.rep("x", 200) })
    local res, t = timed(emu.env.write, ev)
    H.eq(res, false)
    durations[#durations + 1] = t
    if i % 100 == 0 then emu:advance(0.4) end -- 4 emulated seconds: still inside the window
  end
  local p50, p99 = percentile(durations, 0.5), percentile(durations, 0.99)
  -- Loose bound (shared CI machines); the speed is in BENCHMARKS.md.
  H.ok(p99 < 0.05, string.format("write() p99 %.3f ms (p50 %.3f ms)", p99 * 1000, p50 * 1000))
  H.eq(#d:requests(), 1, "no new attempt inside the retry window")
  local r2, took2 = timed(emu.env.flush)
  H.eq(r2, false)
  H.ok(took2 < 0.15, "flush() inside the window: " .. took2) -- no wait for the 300 ms timeout
  H.eq(emu.env.centreon_pagerduty.buffered(), 1001, "every event kept")
end)

for _, action in ipairs({ "hang", "hang_noread" }) do
  H.test("frozen daemon (" .. action .. "): every call returns within the timeout", function()
    local d = H.daemon({ need_control = true })
    d:set({ action = action })
    local emu = H.emulator({ conf = { socket = d.socket, timeout = TIMEOUT_MS, retry_interval = 1,
                                      max_buffer_size = 1000, max_batch_bytes = 16 * 1024 * 1024 } })
    emu:start()
    -- big enough (about 6 MiB) that sending it alone would block on a daemon that reads nothing
    local big = string.rep("y", 200 * 1024)
    for i = 1, 30 do emu.env.write(H.service_status(1, 1, i, { long_output = big })) end
    for attempt = 1, 3 do
      local r, took = timed(emu.env.flush)
      H.eq(r, false)
      H.ok(took <= TIMEOUT_MS / 1000 + MARGIN, string.format("attempt %d took %.3f s", attempt, took))
      emu:advance(10)
    end
    H.eq(emu.env.centreon_pagerduty.buffered(), 30, "nothing lost")
  end)
end

H.test("a daemon closing while the shim sends (EPIPE) is a failed POST, not a crash", function()
  local d = H.daemon({ need_control = true })
  d:set({ action = "close_noread" })
  local emu = H.emulator({ conf = { socket = d.socket, timeout = TIMEOUT_MS, retry_interval = 1,
                                    max_batch_bytes = 16 * 1024 * 1024 } })
  emu:start()
  for i = 1, 20 do emu.env.write(H.service_status(1, 1, i, { long_output = string.rep("z", 200000) })) end
  local r, took = timed(emu.env.flush)
  H.eq(r, false)
  H.ok(took <= TIMEOUT_MS / 1000 + MARGIN, "took " .. took)
  d:set({})
  emu:advance(1)
  H.eq(emu.env.flush(), true)
  H.eq(#d:accepted_lines(), 20)
end)

H.test("a slow daemon within the deadline is fine; beyond it the batch is kept", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, timeout = TIMEOUT_MS, retry_interval = 1 } })
  emu:start()
  d:set({ delay = 0.1 })
  emu.env.write(H.service_status(1, 1, 1))
  local r, took = timed(emu.env.flush)
  H.eq(r, true)
  H.ok(took >= 0.1, "waited for the answer: " .. took)
  d:set({ delay = 1.0 })
  emu.env.write(H.service_status(1, 1, 2))
  r, took = timed(emu.env.flush)
  H.eq(r, false)
  H.ok(took <= TIMEOUT_MS / 1000 + MARGIN, "deadline: " .. took)
  d:set({ delay = 0 })
  emu:advance(1)
  H.eq(emu.env.flush(), true)
end)

H.test("no daemon listening (socket file left behind, or none): fast failure", function()
  local dir = H.tmpdir()
  local path = dir .. "/stale.sock"
  local unix = require("socket.unix")
  local s = unix()
  assert(s:bind(path))
  s:close() -- the file stays, nobody listens: ECONNREFUSED
  for _, sock in ipairs({ path, dir .. "/missing.sock" }) do
    local emu = H.emulator({ conf = { socket = sock, timeout = 2000 } })
    emu:start()
    emu.env.write(H.service_status(1, 1, 1))
    local r, took = timed(emu.env.flush)
    H.eq(r, false)
    H.ok(took < 0.25, sock .. ": " .. took) -- no wait for the 2 s timeout
  end
end)

H.test("one call posts at most about one timeout's worth of batches", function()
  local d = H.daemon({ need_control = true })
  d:set({ action = "hang" })
  local emu = H.emulator({ conf = { socket = d.socket, timeout = TIMEOUT_MS, retry_interval = 1,
                                    max_buffer_size = 5 } })
  emu:start()
  for i = 1, 4 do emu.env.write(H.service_status(1, 1, i)) end
  emu.env.write(H.service_status(1, 1, 5)) -- full batch: POST, hangs, fails
  for i = 6, 50 do emu.env.write(H.service_status(1, 1, i)) end
  H.eq(emu.env.centreon_pagerduty.buffered(), 50)
  d:set({ delay = 0.12 }) -- each POST of 5 events takes 120 ms
  emu:advance(1)
  local r, took = timed(emu.env.flush)
  H.eq(r, false, "not everything posted in one call")
  H.ok(took <= 2 * TIMEOUT_MS / 1000 + MARGIN, "call took " .. took)
  local left = emu.env.centreon_pagerduty.buffered()
  H.ok(left > 0 and left < 50 and left % 5 == 0, "some batches posted, " .. left .. " left")
  d:set({ delay = 0 })
  H.eq(emu.env.flush(), true)
  H.eq(emu.env.centreon_pagerduty.buffered(), 0)
end)

H.run()
