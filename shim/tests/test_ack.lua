-- The acknowledgement counter: nothing acknowledged while the daemon is down or
-- failing, everything delivered (once, in order) when it comes back, through cbd
-- restarts and a full Broker queue; the retry interval and its doubling.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local range = H.range

local function events(n, from)
  local list = {}
  for i = 1, n do list[i] = H.service_status(10, 20, (from or 0) + i) end
  return list
end

-- the `seq` of every line the daemon accepted, in order
local function accepted_seqs(d)
  local out = {}
  for _, l in ipairs(d:accepted_lines()) do out[#out + 1] = l.seq end
  return out
end

H.test("flush() with an empty buffer returns true without touching the socket", function()
  local emu = H.emulator({ conf = { socket = "/nonexistent/broker.sock" } })
  emu:start()
  H.eq(emu.env.flush(), true)
  H.eq(#emu:logs("POST"), 0)
end)

H.test("write() returns true once its POST emptied the buffer", function()
  local d = H.daemon()
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_size = 2 } })
  emu:start()
  emu:publish(events(4))
  H.deep_eq({ emu:deliver() }, { "write", false })
  H.deep_eq({ emu:deliver() }, { "write", true })
  H.eq(emu.acked, 2)
  H.deep_eq({ emu:deliver() }, { "write", false })
  H.eq(emu.acked, 2)
  H.deep_eq({ emu:deliver() }, { "write", true })
  H.eq(emu.acked, 4)
  if d.controllable then H.deep_eq(accepted_seqs(d), range(1, 4)) end
end)

H.test("nothing acknowledged while the daemon is down; all delivered once when it is back", function()
  local d = H.daemon({ start = false })
  local emu = H.emulator({ conf = { socket = d.socket, retry_interval = 1 } })
  emu:start()
  emu:publish(events(50))
  emu:run(5)
  H.eq(emu.stats.writes, 50)
  H.eq(emu.stats.write_true + emu.stats.flush_true, 0)
  H.eq(emu.acked, 0)
  H.eq(emu:pending(), 50)
  H.eq(emu.stats.errors, 0)
  H.eq(#emu:logs("POST of 50 events", "error"), 1, "first failure logged as an error, once")
  d:start()
  emu:run(70) -- the retry interval has doubled meanwhile; it never exceeds 60 s
  H.eq(emu.acked, 50)
  H.eq(emu:pending(), 0)
  H.eq(#emu:logs("daemon answered again", "warning"), 1)
  if d.controllable then H.deep_eq(accepted_seqs(d), range(1, 50)) end
end)

for _, variant in ipairs({ "flush at stop posts", "flush at stop inside the retry window" }) do
  H.test("daemon down, then up, then cbd restart: every event delivered once (" .. variant .. ")", function()
    local d = H.daemon({ start = false })
    local emu = H.emulator({ conf = { socket = d.socket, retry_interval = 30 } })
    emu:start()
    emu:publish(events(40))
    emu:run(2)
    H.eq(emu.acked, 0)
    d:start()
    if variant == "flush at stop posts" then emu:advance(31) end
    emu:restart()
    if variant == "flush at stop posts" then
      H.eq(emu.acked, 40, "the final flush() posted and acknowledged everything")
    else
      H.eq(emu.acked, 0, "the final flush() did not try inside the retry window")
    end
    emu:publish(events(5, 40))
    emu:run()
    H.eq(emu.acked, 45)
    H.eq(emu:pending(), 0)
    if d.controllable then H.deep_eq(accepted_seqs(d), range(1, 45)) end
  end)
end

H.test("failing answers (503, 500, 413, closed, not HTTP) keep the events; delivered once later", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, retry_interval = 1 } })
  emu:start()
  local modes = { { status = 503 }, { status = 500 }, { status = 413 }, { status = 404 }, { action = "close" } }
  local n = 0
  for _, mode in ipairs(modes) do
    d:set(mode)
    emu:publish(events(3, n))
    n = n + 3
    emu:run()
    H.eq(emu.acked, 0, "mode " .. (mode.action or mode.status))
    emu:advance(120) -- past any retry window
  end
  d:set({ status = 200 })
  emu:run(1)
  H.eq(emu.acked, n)
  H.deep_eq(accepted_seqs(d), range(1, n))
  H.ok(#d:requests() > #modes, "failed attempts were made")
end)

H.test("a later batch failing: nothing acknowledged; the shim keeps only what is not posted", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_size = 10, retry_interval = 1 } })
  emu:start()
  emu:publish(events(10))
  for _ = 1, 9 do emu:deliver() end
  d:set({ status = 200 })
  H.deep_eq({ emu:deliver() }, { "write", true }) -- batch 1 posted, buffer empty
  H.eq(emu.acked, 10)
  emu:publish(events(25, 10))
  for _ = 1, 9 do emu:deliver() end
  d:set({ status = 503 })
  H.deep_eq({ emu:deliver() }, { "write", false }) -- batch 2 refused
  for _ = 1, 15 do H.deep_eq({ emu:deliver() }, { "write", false }) end -- only buffered
  H.eq(#d:requests(), 2, "no attempt inside the retry window")
  H.eq(emu.acked, 10)
  d:set({ status = 200 })
  emu:advance(1)
  emu:run()
  H.eq(emu.acked, 35)
  H.deep_eq(accepted_seqs(d), range(1, 35))
end)

H.test("partial success then cbd restart: replayed events are re-posted, none lost, order kept", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_size = 10, retry_interval = 1 } })
  emu:start()
  emu:publish(events(25))
  for _ = 1, 10 do emu:deliver() end -- batch 1 accepted, write() true: acked
  H.eq(emu.acked, 10)
  for _ = 1, 9 do emu:deliver() end
  H.deep_eq({ emu:deliver() }, { "write", true }) -- batch 2 accepted
  for _ = 1, 5 do emu:deliver() end
  d:set({ status = 500 })
  emu:run() -- flush fails: 5 events buffered, unacknowledged
  H.eq(emu.acked, 20)
  emu:restart() -- final flush inside the retry window: false; the 5 are replayed
  d:set({ status = 200 })
  emu:run()
  H.eq(emu.acked, 25)
  H.deep_eq(accepted_seqs(d), range(1, 25))
end)

H.test("at-least-once: events posted but not yet acknowledged are posted again after a restart", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_size = 10, retry_interval = 1,
                                    max_buffer_age = 10 } })
  emu:start()
  emu:publish(events(26))
  d:set({ status = 503 })
  for _ = 1, 25 do emu:deliver() end -- the POST at the 10th fails; 25 buffered
  H.eq(#d:requests(), 1)
  d:set({ status = 200 })
  emu:advance(1)
  H.deep_eq({ emu:deliver() }, { "write", false }) -- posts 1..10 and 11..20; 21..26 wait
  H.eq(emu.acked, 0, "events 1..20 are in the daemon but not acknowledged to Broker")
  d:set({ status = 500 })
  emu:run()
  emu:restart() -- Broker replays all 26
  d:set({ status = 200 })
  emu:run()
  H.eq(emu.acked, 26)
  local seqs = accepted_seqs(d)
  local expected = range(1, 20)
  for i = 1, 26 do expected[#expected + 1] = i end
  H.deep_eq(seqs, expected, "1..20 twice (the daemon ignores replays), nothing lost, order kept")
end)

H.test("a full Broker queue: write() no longer called, flush() every second, then everything once", function()
  local d = H.daemon({ start = false })
  local emu = H.emulator({ event_queue_max_size = 20, conf = { socket = d.socket, retry_interval = 1 } })
  emu:start()
  emu:publish(events(50))
  emu:run(10)
  H.eq(emu.stats.writes, 20, "write() stopped at event_queue_max_size")
  H.eq(emu:in_flight(), 20)
  H.eq(emu.acked, 0)
  local flushes = emu.stats.flushes
  emu:run(10)
  H.eq(emu.stats.writes, 20)
  H.ok(emu.stats.flushes - flushes >= 9 and emu.stats.flushes - flushes <= 11, "about one flush per second")
  d:start()
  emu:run(70)
  H.eq(emu.acked, 50)
  H.eq(emu.stats.writes, 50)
  if d.controllable then H.deep_eq(accepted_seqs(d), range(1, 50)) end
end)

H.test("retry interval doubles after each consecutive failure up to 60 s, resets on success", function()
  local d = H.daemon({ need_control = true })
  d:set({ status = 500 })
  local emu = H.emulator({ conf = { socket = d.socket, retry_interval = 1 } })
  emu:start()
  emu:publish(events(1))
  local t0 = emu.now
  local attempts = {}
  for _ = 1, 3000 do -- 300 emulated seconds of idle Broker
    emu:step()
    if #d:new_requests() > 0 then attempts[#attempts + 1] = math.floor(emu.now - t0 + 0.5) end
  end
  -- Broker flushes an idle output once a second: an attempt happens at the first
  -- flush() after the retry window, i.e. up to one second after it ends
  local expected = { 1, 2, 4, 8, 16, 32, 60, 60 }
  H.ok(#attempts >= #expected + 1, "attempts: " .. #attempts)
  for i, want in ipairs(expected) do
    local gap = attempts[i + 1] - attempts[i]
    H.ok(gap >= want and gap <= want + 1, string.format("gap %d: %d s, expected %d s", i, gap, want))
  end
  H.eq(emu.acked, 0)
  d:set({ status = 200 })
  emu:run(61)
  H.eq(emu.acked, 1)
  -- success resets the interval
  d:set({ status = 500 })
  emu:publish(events(1, 1))
  emu:run()
  d:new_requests()
  d:set({ status = 200 })
  emu:run(1.05)
  H.eq(emu.acked, 2, "retried after 1 s again")
end)

H.test("an event that cannot be encoded is posted as an error line, not lost silently", function()
  local d = H.daemon()
  local emu = H.emulator({ conf = { socket = d.socket } })
  emu:start()
  local weird = { _type = 65565, category = 1, element = 29, host_id = 3, service_id = 4,
                  output = setmetatable({}, { __pairs = function() error("no pairs for you") end }) }
  H.eq(type(emu.env.write(weird)), "boolean")
  H.eq(emu.env.flush(), true)
  H.eq(#emu:logs("cannot encode an event", "error"), 1)
  if d.controllable then
    local l = d:accepted_lines()
    H.eq(#l, 1)
    H.eq(l[1].host_id, 3)
    H.ok(l[1]._shim_error:find("no pairs for you", 1, true), l[1]._shim_error)
  end
end)

H.test("write() of a non-table never raises", function()
  local emu = H.emulator({ conf = { socket = "/nonexistent/broker.sock" } })
  emu:start()
  H.eq(emu.env.write(nil), false)
  H.eq(emu.env.write("x"), false)
  H.eq(emu.env.flush(), false)
end)

H.run()
