-- The shim's JSON encoder and the 256 KiB truncation.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local json = H.json

local function shim()
  local emu = H.emulator()
  emu:start()
  return emu.env.centreon_pagerduty
end
local S = shim()
local encode = S.json_encode

H.test("quotes, backslashes and common escapes", function()
  H.eq(encode('say "hi"\\'), '"say \\"hi\\"\\\\"')
  H.eq(encode("a\nb\rc\td\be\ff"), '"a\\nb\\rc\\td\\be\\ff"')
  H.eq(encode("/"), '"/"')
  H.eq(encode(""), '""')
  H.eq(json.decode(encode('line1\nline2 "q" \\ end')), 'line1\nline2 "q" \\ end')
end)

H.test("every control character < 0x20 and 0x7f is escaped", function()
  for b = 0, 127 do
    if b < 32 or b == 127 then
      local s = "x" .. string.char(b) .. "y"
      local e = encode(s)
      H.ok(not e:find("[%z\1-\31\127]"), "raw control byte " .. b .. " in " .. e)
      H.eq(json.decode(e), s, "byte " .. b)
    end
  end
  H.eq(encode("\0"), '"\\u0000"')
  H.eq(encode("\27[0m"), '"\\u001b[0m"')
  H.eq(encode("\127"), '"\\u007f"')
end)

H.test("valid UTF-8 passes byte-exact", function()
  local samples = { "é", "Müller", "中文字符", "😀 emoji", "\u{FFFF}", "\u{10FFFF}", "\u{E000}", "\u{80}",
                    "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{FFFD}", "Ω≈ç√∫" }
  for _, s in ipairs(samples) do
    H.eq(encode(s), '"' .. s .. '"')
  end
end)

H.test("invalid UTF-8 becomes U+FFFD (one per maximal invalid subpart)", function()
  local R = "\u{FFFD}"
  local cases = {
    { "\255", R }, { "a\128b", "a" .. R .. "b" }, { "\195", R }, { "\195(", R .. "(" },
    { "\226\130", R }, { "\226\130(", R .. "(" }, { "\237\160\128", R .. R .. R }, -- surrogate
    { "\244\144\128\128", R .. R .. R .. R },                                      -- > U+10FFFF
    { "\192\175", R .. R }, { "\224\128\175", R .. R .. R },                         -- overlong
    { "\240\159\152", R }, { "\240\159\152\128", "😀" }, { "é\233t\233", "é" .. R .. "t" .. R },
    { "\248\136\128\128\128", R .. R .. R .. R .. R }, { "\xfe\xff", R .. R },
  }
  for _, c in ipairs(cases) do
    local e = encode(c[1])
    H.eq(e, '"' .. c[2] .. '"', "input " .. string.format("%q", c[1]))
    H.ok(utf8.len(e), "output is valid UTF-8")
  end
end)

H.test("encoder output agrees with Python's strict JSON parser and UTF-8 'replace' decoding", function()
  -- random byte strings, ASCII controls and high bytes included
  math.randomseed(42)
  local dir = H.tmpdir()
  local inputs, encoded = {}, {}
  for i = 1, 300 do
    local t = {}
    for j = 1, math.random(0, 40) do
      local r = math.random()
      if r < 0.5 then t[j] = string.char(math.random(32, 126))
      elseif r < 0.6 then t[j] = string.char(math.random(0, 31))
      else t[j] = string.char(math.random(128, 255)) end
    end
    inputs[i] = table.concat(t)
    encoded[i] = encode({ s = inputs[i], n = i, f = i / 7, ok = true, list = { i, "x" } })
  end
  local hex = {}
  for i, s in ipairs(inputs) do hex[i] = (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
  H.write(dir .. "/inputs.hex", table.concat(hex, "\n") .. "\n")
  H.write(dir .. "/encoded.ndjson", table.concat(encoded, "\n") .. "\n")
  local py = [==[
import json, sys
def no_const(c): raise ValueError("non-standard constant " + c)
ins = [bytes.fromhex(l) for l in open(sys.argv[1]).read().split("\n")[:-1]]
outs = open(sys.argv[2], encoding="utf-8", errors="strict").read().split("\n")[:-1]
assert len(ins) == len(outs), (len(ins), len(outs))
for i, (raw, line) in enumerate(zip(ins, outs)):
    v = json.loads(line, parse_constant=no_const)
    want = raw.decode("utf-8", "replace")
    if v["s"] != want: print("MISMATCH", i, repr(raw), repr(v["s"]), repr(want)); sys.exit(1)
    assert v["n"] == i + 1 and isinstance(v["n"], int)
    assert isinstance(v["f"], float) and abs(v["f"] - (i + 1) / 7) == 0, v["f"]
print("OK")
]==]
  H.write(dir .. "/check.py", py)
  local out = H.sh(string.format("python3 %s/check.py %s/inputs.hex %s/encoded.ndjson 2>&1", dir, dir, dir))
  H.eq(out, "OK")
end)

H.test("integers stay integers, floats stay floats and round-trip", function()
  H.eq(encode(5), "5")
  H.eq(encode(5.0), "5.0")
  H.eq(encode(-3), "-3")
  H.eq(encode(-0.0), "-0.0")
  H.eq(encode(0.1), "0.1")
  H.eq(encode(0.005025), "0.005025")
  H.eq(encode(1781000000), "1781000000")
  H.eq(encode(math.maxinteger), tostring(math.maxinteger))
  H.eq(encode(math.mininteger), tostring(math.mininteger))
  H.eq(encode(-1), "-1") -- uint64 -1 as Broker pushes it
  for _, x in ipairs({ 1 / 3, 2 / 3, 1e300, -1e-300, 2.0 ^ 53, 123456789.123456789, 5e-324,
                       1.7976931348623157e308, 0.1 + 0.2 }) do
    local e = encode(x)
    local back = json.decode(e)
    H.eq(math.type(back), "float", e)
    H.ok(back == x, "round trip of " .. e)
  end
end)

H.test("NaN and infinities become null", function()
  H.eq(encode(0 / 0), "null")
  H.eq(encode(math.huge), "null")
  H.eq(encode(-math.huge), "null")
  local d = json.decode(encode({ a = 0 / 0, b = 1 }))
  H.eq(d.a, json.null)
  H.eq(d.b, 1)
end)

H.test("tables: arrays when keys are 1..n, else objects with string keys", function()
  H.eq(encode({ 1, 2, 3 }), "[1,2,3]")
  H.eq(encode({}), "[]")
  H.eq(encode({ "a", { "b", true, false } }), '["a",["b",true,false]]')
  H.deep_eq(json.decode(encode({ [1] = "a", [3] = "c" })), { ["1"] = "a", ["3"] = "c" })
  H.deep_eq(json.decode(encode({ [1] = "a", x = 2 })), { ["1"] = "a", x = 2 })
  H.deep_eq(json.decode(encode({ [0] = "z" })), { ["0"] = "z" })
  H.deep_eq(json.decode(encode({ a = { b = { c = { 1.5, 2 } } } })), { a = { b = { c = { 1.5, 2 } } } })
  -- functions and cycles never raise
  local t = { f = print }
  t.self = t
  local ok, e = pcall(encode, t)
  H.ok(ok, tostring(e))
  H.ok(json.decode(e), "valid JSON")
end)

H.test("a Broker event round-trips with its types", function()
  local fx = H.fixture("v2_service_lifecycle")
  for i, ev in ipairs(fx.events) do
    local line = S.encode_event(H.Emulator.deep_copy(ev))
    H.eq(line:sub(-1), "\n")
    H.deep_eq(json.decode(line), ev, "event " .. i)
  end
end)

H.test("fast paths agree with the general one: trailing newline, memoised values, full memos", function()
  H.eq(encode("OK - all good\n"), '"OK - all good\\n"')
  H.eq(encode("\n"), '"\\n"')
  H.eq(encode("bad \255\n"), '"bad \u{FFFD}\\n"')
  H.eq(encode("two\n\n"), '"two\\n\\n"')
  H.eq(encode("quote\"\n"), '"quote\\\"\\n"')
  -- a value seen before, as another type, or after the memos were emptied
  local t = { a = 5, b = 5.0, c = "5", d = true, e = "true", f = -0.0, g = 0.0, h = 0, i = 1e15, j = 1000000000000000 }
  for round = 1, 3 do
    local d = json.decode(encode(t))
    H.deep_eq(d, { a = 5, b = 5.0, c = "5", d = true, e = "true", f = -0.0, g = 0.0, h = 0, i = 1e15,
                   j = 1000000000000000 }, "round " .. round)
    H.eq(math.type(d.b), "float")
    H.eq(math.type(d.j), "integer")
    H.eq(1 / d.f, -math.huge, "-0.0 stays negative")
    for i = 1, 5000 do -- more distinct strings, numbers and keys than the memos hold
      encode({ ["k" .. i .. "_" .. round] = "v" .. i .. "_" .. round, n = 1781000000 + i, x = i + 0.25 })
    end
  end
  H.eq(encode({ [true] = 1, [print] = 2 }), "{}", "keys that are not strings or numbers are left out")
end)

local LIMIT = 256 * 1024

H.test("an event over 256 KiB is cut at a UTF-8 boundary and marked _truncated", function()
  local big = string.rep("é", 200 * 1024) -- 400 KiB
  local ev = H.service_status(1, 2, 1, { output = big, perfdata = "a=1;2;3" })
  local line = S.encode_event(H.Emulator.deep_copy(ev))
  H.ok(#line <= LIMIT + 1, "line of " .. #line .. " bytes")
  H.ok(#line > LIMIT - 64, "cut no more than needed: " .. #line)
  local d = json.decode(line)
  H.eq(d._truncated, true)
  H.ok(utf8.len(d.output), "valid UTF-8")
  H.eq(big:sub(1, #d.output), d.output, "output is a prefix")
  H.eq(d.perfdata, "a=1;2;3")
  H.eq(d.host_id, 1)
  H.eq(d.execution_time, 0.25)
end)

H.test("truncation cuts the longest fields first, escapes counted", function()
  local ev = H.service_status(1, 2, 1, { output = string.rep("\1", 100 * 1024),    -- 600 KiB escaped
                                         long_output = string.rep("x", 150 * 1024),
                                         perfdata = string.rep("p", 1000) })
  local line = S.encode_event(H.Emulator.deep_copy(ev))
  H.ok(#line <= LIMIT + 1, "line of " .. #line .. " bytes")
  local d = json.decode(line)
  H.eq(d._truncated, true)
  H.eq(d.perfdata, string.rep("p", 1000))
  H.ok(#d.output < 100 * 1024, "output cut")
  H.ok(d.output == string.rep("\1", #d.output), "output is a prefix")
  H.ok(d.long_output == string.rep("x", #d.long_output), "long_output is a prefix")
end)

H.test("events under the limit are untouched and not marked", function()
  local ev = H.service_status(1, 2, 1, { output = string.rep("y", 200 * 1024) })
  local d = json.decode(S.encode_event(H.Emulator.deep_copy(ev)))
  H.eq(d._truncated, nil)
  H.eq(#d.output, 200 * 1024)
end)

H.run()
