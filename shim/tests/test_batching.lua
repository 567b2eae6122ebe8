-- What goes into one POST: max_buffer_size events, max_batch_bytes bytes (a larger
-- single event alone), the max_buffer_age trigger, and a big generated stream.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local seqs = H.seqs
local range = H.range

local function sizes(requests)
  local out = {}
  for _, r in ipairs(requests) do out[#out + 1] = #r.lines end
  return out
end

H.test("POSTs split by max_buffer_size; write() posts each full batch", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_size = 10, max_buffer_age = 60 } })
  emu:start()
  for i = 1, 25 do
    local r = emu.env.write(H.service_status(1, 1, i))
    H.eq(r, i == 10 or i == 20, "write() " .. i)
    H.eq(#d:requests(), i // 10, "POSTs after write() " .. i)
  end
  H.eq(emu.env.flush(), true)
  H.deep_eq(sizes(d:requests()), { 10, 10, 5 })
  H.deep_eq(seqs(d:accepted_lines()), range(1, 25))
end)

H.test("POSTs split by max_batch_bytes", function()
  local d = H.daemon({ need_control = true })
  local limit = 5000
  local emu = H.emulator({ conf = { socket = d.socket, max_batch_bytes = limit, max_buffer_age = 60 } })
  emu:start()
  for i = 1, 30 do
    local ev = H.service_status(1, 1, i, { output = string.rep("o", 900) })
    emu.env.write(ev)
  end
  H.eq(emu.env.flush(), true)
  local line_size = #d:requests()[1].body:match("^[^\n]*\n") -- every line has the same size
  local per_post = limit // line_size
  for i, r in ipairs(d:requests()) do
    H.ok(#r.body <= limit, "POST " .. i .. " has " .. #r.body .. " bytes")
    if i < #d:requests() then H.eq(#r.lines, per_post, "POST " .. i .. " is full") end
  end
  H.eq(#d:requests(), math.ceil(30 / per_post))
  H.deep_eq(seqs(d:accepted_lines()), range(1, 30))
end)

H.test("a single event bigger than max_batch_bytes goes alone", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_batch_bytes = 2000, max_buffer_age = 60 } })
  emu:start()
  H.eq(emu.env.write(H.service_status(1, 1, 1)), false)
  H.eq(emu.env.write(H.service_status(1, 1, 2, { output = string.rep("B", 5000) })), true)
  H.deep_eq(sizes(d:requests()), { 1, 1 }, "the small one first, then the big one alone")
  H.eq(emu.env.write(H.service_status(1, 1, 3)), false)
  H.eq(emu.env.write(H.service_status(1, 1, 4)), false)
  H.eq(emu.env.flush(), true)
  H.deep_eq(sizes(d:requests()), { 1, 1, 2 })
  H.ok(#d:requests()[2].body > 5000)
  H.deep_eq(seqs(d:accepted_lines()), range(1, 4))
end)

H.test("the oldest event older than max_buffer_age makes write() post", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, max_buffer_age = 1 } })
  emu:start()
  H.eq(emu.env.write(H.service_status(1, 1, 1)), false)
  emu:advance(0.5)
  H.eq(emu.env.write(H.service_status(1, 1, 2)), false)
  H.eq(#d:requests(), 0)
  emu:advance(0.6)
  H.eq(emu.env.write(H.service_status(1, 1, 3)), true)
  H.deep_eq(sizes(d:requests()), { 3 })
  -- max_buffer_age 0: every write() posts
  local emu0 = H.emulator({ conf = { socket = d.socket, max_buffer_age = "0" } })
  emu0:start()
  H.eq(emu0.env.write(H.service_status(1, 1, 4)), true)
  H.deep_eq(sizes(d:requests()), { 3, 1 })
end)

H.test("a 413 halves the next POSTs, nothing is lost", function()
  local d = H.daemon({ need_control = true })
  local emu = H.emulator({ conf = { socket = d.socket, retry_interval = 0, max_buffer_age = 60 } })
  emu:start()
  for i = 1, 40 do emu.env.write(H.service_status(1, 1, i)) end
  d:set({ status = 413 })
  H.eq(emu.env.flush(), false)
  d:set({ status = 200 })
  H.eq(emu.env.flush(), true)
  H.deep_eq(sizes(d:requests()), { 40, 20, 20 })
  H.deep_eq(seqs(d:accepted_lines()), range(1, 40))
  H.eq(#emu:logs("HTTP 413", "error"), 1)
end)

H.test("a generated stream of 10000 events: all delivered, in order, in full POSTs", function()
  local d = H.daemon()
  local emu = H.emulator({ cache = { instances = { ["1"] = "Central" },
                                     hosts = { ["7"] = { name = "h7", instance_id = 1 } } },
                           conf = { socket = d.socket, max_buffer_size = 1000, max_buffer_age = 60 } })
  emu:start()
  local n = 10000
  for i = 1, n do
    emu:publish(H.service_status(7, 1 + i % 500, i, { output = "OK - round " .. (i // 500) .. " é" }))
  end
  local t = H.gettime()
  emu:run()
  local took = H.gettime() - t
  H.eq(emu.acked, n)
  H.eq(emu.stats.errors, 0)
  io.stderr:write(string.format("        (%d events in %.2f s: %.0f events/s)\n", n, took, n / took))
  if not d.controllable then return end
  H.deep_eq(sizes(d:requests()), (function() local t2 = {} for i = 1, n // 1000 do t2[i] = 1000 end return t2 end)())
  local lines = d:accepted_lines()
  H.deep_eq(seqs(lines), range(1, n))
  H.eq(lines[n]._cache.poller, "Central")
  H.eq(lines[n]._cache.host_name, "h7")
end)

H.run()
