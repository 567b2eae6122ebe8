-- Tiny strict JSON decoder for the tests. Keeps integers and floats apart:
-- a number literal with '.', 'e' or 'E' is a float (5.0 stays float), else an integer.
-- null decodes to json.null so that keys are kept. Errors on invalid JSON or UTF-8.
local json = {}
json.null = setmetatable({}, { __tostring = function() return "null" end })

local sub, find = string.sub, string.find

local function fail(s, i, what)
  error(string.format("JSON: %s at byte %d near %q", what, i, sub(s, i, i + 20)), 0)
end

local function skip(s, i)
  return find(s, "[^ \t\r\n]", i) or #s + 1
end

local function utf8_char(cp)
  return utf8.char(cp)
end

local ESC = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local decode_value

local function decode_string(s, i) -- s[i] == '"'
  local out, n = {}, 0
  i = i + 1
  while true do
    local j = find(s, '["\\\0-\31]', i) -- DEL (127) may appear raw in JSON
    if not j then fail(s, i, "unterminated string") end
    if j > i then n = n + 1; out[n] = sub(s, i, j - 1) end
    local c = sub(s, j, j)
    if c == '"' then
      local str = table.concat(out)
      if not utf8.len(str) then fail(s, i, "invalid UTF-8 in string") end
      return str, j + 1
    elseif c == "\\" then
      local e = sub(s, j + 1, j + 1)
      if ESC[e] then
        n = n + 1; out[n] = ESC[e]; i = j + 2
      elseif e == "u" then
        local hex = sub(s, j + 2, j + 5)
        if not hex:match("^%x%x%x%x$") then fail(s, j, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = sub(s, i, i + 5):match("^\\u(%x%x%x%x)$")
          lo = lo and tonumber(lo, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then fail(s, j, "lone surrogate") end
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          i = i + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          fail(s, j, "lone surrogate")
        end
        n = n + 1; out[n] = utf8_char(cp)
      else
        fail(s, j, "bad escape")
      end
    else
      fail(s, j, "raw control character in string")
    end
  end
end

local function decode_number(s, i)
  local lit = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if not lit or lit == "" or lit == "-" then fail(s, i, "bad number") end
  if not lit:match("^-?0$") and not lit:match("^-?0[.eE]") and lit:match("^-?0") then
    fail(s, i, "leading zero")
  end
  local v = tonumber(lit)
  if not v then fail(s, i, "bad number") end
  if not find(lit, "[.eE]") then v = math.tointeger(v) or v
  elseif math.type(v) == "integer" then v = v * 1.0 end -- (v + 0.0 would turn -0.0 into 0.0)
  return v, i + #lit
end

function decode_value(s, i)
  i = skip(s, i)
  local c = sub(s, i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if sub(s, i, i) == "}" then return obj, i + 1 end
    while true do
      if sub(s, i, i) ~= '"' then fail(s, i, "object key expected") end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if sub(s, i, i) ~= ":" then fail(s, i, "':' expected") end
      obj[k], i = decode_value(s, i + 1)
      i = skip(s, i)
      c = sub(s, i, i)
      if c == "}" then return obj, i + 1 end
      if c ~= "," then fail(s, i, "',' or '}' expected") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    i = skip(s, i + 1)
    if sub(s, i, i) == "]" then return arr, i + 1 end
    while true do
      n = n + 1
      arr[n], i = decode_value(s, i)
      i = skip(s, i)
      c = sub(s, i, i)
      if c == "]" then return arr, i + 1 end
      if c ~= "," then fail(s, i, "',' or ']' expected") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif sub(s, i, i + 3) == "true" then
    return true, i + 4
  elseif sub(s, i, i + 4) == "false" then
    return false, i + 5
  elseif sub(s, i, i + 3) == "null" then
    return json.null, i + 4
  else
    return decode_number(s, i)
  end
end

function json.decode(s)
  local v, i = decode_value(s, 1)
  i = skip(s, i)
  if i <= #s then fail(s, i, "trailing garbage") end
  return v
end

-- Lines of an NDJSON text, decoded.
function json.decode_lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = json.decode(line) end
  return out
end

function json.read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

return json
