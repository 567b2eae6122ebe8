--[[
centreon-pagerduty.lua: Centreon Broker stream connector of centreon-pagerduty.

It does not talk to PagerDuty. It selects the events the daemon needs, keeps of
each the fields the daemon reads (FIELDS below), adds what broker_cache knows about
their host/service, and POSTs them as NDJSON to the
local centreon-pagerduty daemon over its Unix socket. PagerDuty settings (routing
keys, Centreon URL, proxy, filters...) live in the daemon's configuration:
/etc/centreon-pagerduty/centreon-pagerduty.toml.

Needs Lua 5.3 or 5.4 and lua-socket (socket.unix). Install as
/usr/share/centreon-broker/lua/centreon-pagerduty.lua.

Output parameters (type "number" or numeric "string" both accepted):
  socket          daemon socket            default /run/centreon-pagerduty/broker.sock
  max_buffer_size events per POST          default 1000
  max_batch_bytes bytes per POST           default 4194304 (a single larger event goes alone)
  max_buffer_age  seconds a steady event may wait before it is posted (urgent
                  events go at once: below)                       default 1
  timeout         ms, ONE deadline per POST (connect + send + answer) default 2000
  retry_interval  seconds without POST after a failure, doubling after
                  each consecutive failure up to 60, reset on success default 5
  log_level       0..3 (1: errors and warnings, 2: info, 3: debug) default 1
  log_path        default /var/log/centreon-broker/centreon-pagerduty.log
Parameters of the old PagerDuty connectors (pdy_routing_key...) and any unknown
parameter are ignored with a warning naming the TOML key to use instead; their
values are never logged.

Acknowledgement contract. Broker acknowledges by COUNTER: a `true` from write()
or flush() acknowledges every event handed to this output since the previous
`true` (filtered ones included); `false` acknowledges nothing, and Broker keeps
those events in its retention and replays them after a restart or reconnect (not
before). So write()/flush() return true only when the buffer is empty, i.e. when
every event received since the last `true` was answered 200 by the daemon, which
answers 200 only once their effect is durably stored. The shim never drops an
event: max_buffer_size and max_batch_bytes size one POST, they are not a cap
(Broker bounds the backlog with event_queue_max_size, then calls only flush()).
After a failed POST nothing is attempted before the retry interval ends, so
write() then only buffers and returns false at once: Broker's output thread is
never blocked for more than about one timeout per call.

When to post. Steady events are batched: write() posts when max_buffer_size
events or max_batch_bytes are buffered, or when the oldest buffered event is
max_buffer_age old; flush() posts everything. An URGENT event, one that can
change what PagerDuty hears, is posted in the write() call that receives it,
with everything buffered before it, in order, in one POST (several only for a
backlog of more than a POST's worth; that last POST also takes the events after
it that fit), and that write() returns true once the daemon answered 200: an
alert costs one round trip to the daemon (a few ms), not max_buffer_age. The
same rules hold: nothing is acknowledged before the 200, one time budget per
call, and inside the retry interval an urgent event is only buffered. Urgent:
  - a full status (14/24, 29/32) showing a change at this very check: a SOFT
    problem (it pages with hard_only = false; its retries begin), a state other
    than last_hard_state (a host's HARD change: Engine still shows the previous
    one), last_hard_state_change or last_state_change >= last_check (a HARD
    change, a recovery, a SOFT recovery, a never-checked resource's first check);
    and any HARD problem of a volatile service (is_volatile, from broker_cache's
    definition that the shim keeps anyway);
  - acknowledgements (1, 45), downtimes (5, 36), adaptive definitions (28, 31);
  - adaptive statuses (55, 56) unless they carry only a notification number;
  - definitions (12/23, 27/30) with enabled false (the resolve on disable); not
    the others: Engine sends one per resource at every start and reload.
What one event cannot show, two small tables keep (each emptied past 100,000
entries, which costs only latency: such an event then waits as a steady one):
  - resources to watch: after a SOFT problem, their next full status (the HARD
    one that ends the retries may repeat the last HARD state: no change shows);
    after a downtime event, their next full status (its depth drop: a deleted
    host downtime sends a full status, no adaptive one); while flapping, the
    status where flapping stops (flapping = "suppress" releases the trigger);
  - hosts DOWN/UNREACHABLE or in downtime (from their statuses and 56): a
    service problem seen while its host is one of them is held by the daemon
    (host first) and released at the service's first status once the host is
    back: that status is urgent.
Not urgent (at most max_buffer_age late, as before): the first sight of a
steady problem by a fresh or resynchronised daemon, a retrigger_interval, a
definition re-enabling a resource or its notifications at an Engine reload.
Pacing: every POST adds 5 times the moving average of the POSTs' durations
(weight 1/8: one slow commit does not hold the next alerts), at least 10 ms, to
a debt that time pays back; an urgent event is posted at once while the debt is
at most 50 ms, else it waits for a later write() (or flush(), or
max_buffer_age). So urgent POSTs hold Broker's thread a fifth of the time at
most, at most 100 a second, a burst of related events (a downtime's end: 36,
55, 36 and a status within a millisecond) goes at once, and a storm of changes
is batched.
]]

local VERSION = "0.1.0"

-- luacheck: read globals CENTREON_PAGERDUTY_EXTRA_FIELDS

broker_api_version = 1

local socket = require("socket")      -- gettime(); loading the core also ignores SIGPIPE
local unix = require("socket.unix")   -- unix() creates a stream socket in 3.0 and 3.1

local byte, char, find, format, sub = string.byte, string.char, string.find, string.format, string.sub
local concat = table.concat
local math_type, tointeger, huge = math.type, math.tointeger, math.huge
local type, pairs, ipairs, next, pcall = type, pairs, ipairs, next, pcall
local tostring, tonumber, setmetatable, getmetatable = tostring, tonumber, setmetatable, getmetatable
local gettime = socket.gettime

local TOML = "/etc/centreon-pagerduty/centreon-pagerduty.toml"
local MAX_EVENT_BYTES = 256 * 1024    -- one encoded event (the daemon rejects lines over 1 MiB)
local MAX_BODY_BYTES = 16 * 1024 * 1024 -- the daemon answers 413 above this
local MAX_RETRY_SECONDS = 60
-- Pacing of the POSTs made for urgent events (a leaky bucket): every POST adds URGENT_SPACING
-- times the moving average of the POSTs' durations (weight 1/8: one slow commit does not hold
-- the next alerts), at least URGENT_COST_MIN seconds, to a debt that time pays back; an urgent
-- event is posted at once while the debt is at most URGENT_BURST, else it waits in the buffer
-- for a later write() (or flush(), or max_buffer_age). So urgent POSTs hold Broker's thread a
-- fifth of the time at most, however slow the daemon's disk, at most 100 a second, a burst of
-- related events (a downtime's end: 36, 55, 36, status within a millisecond) goes at once, and a
-- storm of changes is batched.
local URGENT_SPACING, URGENT_COST_MIN, URGENT_BURST = 5, 0.01, 0.05

-- NEB (category 1) elements the daemon uses, BBDO v2 and v3 alike: Broker 22.04 to 23.04
-- mixes v3 statuses with v2 acknowledgements/downtimes whatever bbdo_version() says.
local ACCEPTED = {
  [14] = true, [24] = true, [32] = true, [29] = true, -- host/service status v2, v3
  [55] = true, [56] = true,                          -- adaptive service/host status
  [1] = true, [45] = true,                           -- acknowledgement v2, v3
  [5] = true, [36] = true,                           -- downtime v2, v3
  [12] = true, [23] = true, [30] = true, [27] = true,-- host/service definition v2, v3
  [31] = true, [28] = true,                          -- adaptive host/service definition
}

-- What the shim sends of each event: the fields the daemon's normaliser reads, per element, and
-- nothing else (DESIGN §3.4; the rest of Broker's table, some 40 more fields, is not encoded: it
-- halves the work on Broker's thread). A copy of tests/fixtures/normaliser-fields.txt, the one
-- list that the daemon's tests prove complete (crates/broker/tests/normaliser_fields.rs) and that
-- shim/tests/test_fields.lua checks this table and what the shim sends against. The `_cache`
-- object comes first, then these fields in this order, each when the event has it.
local FIELDS_ALL = { "_type", "category", "element", "host_id", "service_id" }
-- A status's fields, those that change at every check of a steady resource last (`last`: see
-- encode_status).
local STATUS_FIELDS = { "state", "state_type", "last_hard_state", "check_attempt", "max_check_attempts",
  "last_hard_state_change", "long_output", "acknowledged", "acknowledgement_type", "scheduled_downtime_depth",
  "flapping", "notify" }
local STATUS_CHECK_FIELDS = { "last_check", "last_update", "output", "perfdata" }
local ADAPTIVE_STATUS_FIELDS = { "scheduled_downtime_depth", "acknowledgement_type", "notification_number" }
local ACKNOWLEDGEMENT_FIELDS = { "entry_time", "deletion_time", "sticky", "state" }
local DOWNTIME_FIELDS = { "id", "internal_id", "entry_time", "deletion_time", "start_time", "actual_start_time",
  "actual_end_time", "started", "cancelled" }
local HOST_DEFINITION_FIELDS = { "name", "enabled", "notify", "volatile", "is_volatile", "max_check_attempts" }
local SERVICE_DEFINITION_FIELDS = { "host_name", "description", "enabled", "notify", "volatile", "is_volatile",
  "max_check_attempts" }
local NEVER_CHECKED_FIELDS = { "checked", "state" }
local FIELDS = { -- element → lists of fields (after FIELDS_ALL)
  [14] = { STATUS_FIELDS, last = STATUS_CHECK_FIELDS }, [24] = { STATUS_FIELDS, last = STATUS_CHECK_FIELDS },
  [29] = { STATUS_FIELDS, { "type" }, last = STATUS_CHECK_FIELDS },
  [32] = { STATUS_FIELDS, { "type" }, last = STATUS_CHECK_FIELDS },
  [55] = { ADAPTIVE_STATUS_FIELDS, { "type" } }, [56] = { ADAPTIVE_STATUS_FIELDS },
  [1] = { ACKNOWLEDGEMENT_FIELDS }, [45] = { ACKNOWLEDGEMENT_FIELDS },
  [5] = { DOWNTIME_FIELDS }, [36] = { DOWNTIME_FIELDS },
  [12] = { HOST_DEFINITION_FIELDS, NEVER_CHECKED_FIELDS }, [30] = { HOST_DEFINITION_FIELDS, NEVER_CHECKED_FIELDS },
  [31] = { HOST_DEFINITION_FIELDS },
  [23] = { SERVICE_DEFINITION_FIELDS, NEVER_CHECKED_FIELDS },
  [27] = { SERVICE_DEFINITION_FIELDS, NEVER_CHECKED_FIELDS },
  [28] = { SERVICE_DEFINITION_FIELDS },
}

local DEFAULTS = {
  socket = "/run/centreon-pagerduty/broker.sock",
  max_buffer_size = 1000,
  max_batch_bytes = 4194304,
  max_buffer_age = 1,
  timeout = 2000,
  retry_interval = 5,
  log_level = 1,
  log_path = "/var/log/centreon-broker/centreon-pagerduty.log",
}
-- numeric parameters: minimum, maximum, integer only
local NUMERIC = {
  max_buffer_size = { 1, nil, true },
  max_batch_bytes = { 1, MAX_BODY_BYTES, true },
  max_buffer_age = { 0, nil, false },
  timeout = { 1, nil, false },
  retry_interval = { 0, nil, false },
  log_level = { 0, 3, true },
}

-- Parameters of the old connectors (reference §3) → where the setting lives now.
local ROUTE = "[[route]] "
local OLD_PARAMETERS = {
  pdy_routing_key = "pagerduty.routing_key (or pagerduty.routing_key_file)",
  pdy_centreon_url = "centreon.url",
  pdy_source = "centreon.source",
  http_server_url = "pagerduty.url (or pagerduty.region)",
  http_proxy_string = "pagerduty.proxy",
  proxy_address = "pagerduty.proxy", proxy_port = "pagerduty.proxy",
  proxy_username = "pagerduty.proxy", proxy_password = "pagerduty.proxy",
  proxy_protocol = "pagerduty.proxy",
  http_timeout = "pagerduty.timeout", connection_timeout = "pagerduty.timeout",
  verify_certificate = "pagerduty.ca_file", allow_insecure_connection = "pagerduty.ca_file",
  send_data_test = "pagerduty.dry_run",
  filter_type = "alerts.host_states and alerts.service_states",
  accepted_categories = "alerts.host_states and alerts.service_states",
  accepted_elements = "alerts.host_states and alerts.service_states",
  host_status = "alerts.host_states", service_status = "alerts.service_states",
  hard_only = "alerts.hard_only",
  in_downtime = "alerts.in_downtime",
  flapping = "alerts.flapping",
  acknowledged = "alerts.acknowledged_problems",
  skip_anon_events = "centreon.host_link (resources unknown to the cache are named from their ids)",
  skip_nil_id = "alerts.host_states and alerts.service_states",
  enable_host_status_dedup = "alerts (the daemon deduplicates statuses itself)",
  enable_service_status_dedup = "alerts (the daemon deduplicates statuses itself)",
  accepted_hostgroups = ROUTE .. "hostgroups", rejected_hostgroups = ROUTE .. "hostgroups with action = \"drop\"",
  accepted_servicegroups = ROUTE .. "servicegroups",
  rejected_servicegroups = ROUTE .. "servicegroups with action = \"drop\"",
  accepted_hosts = ROUTE .. "hosts", accepted_services = ROUTE .. "services",
  accepted_pollers = ROUTE .. "pollers", rejected_pollers = ROUTE .. "pollers with action = \"drop\"",
  -- Centreon severity level 1 is the most important; the old threshold N with the operator
  -- ">=" (their default) selects levels 1..N: exactly *_severity_level_max = N.
  host_severity_threshold = ROUTE .. "host_severity_level_max (level 1 is the most important: "
    .. "a threshold N with operator \">=\" is host_severity_level_max = N)",
  service_severity_threshold = ROUTE .. "service_severity_level_max (level 1 is the most important: "
    .. "a threshold N with operator \">=\" is service_severity_level_max = N)",
  host_severity_operator = ROUTE .. "host_severity_level_max (the operator \">=\" with threshold N "
    .. "is host_severity_level_max = N)",
  service_severity_operator = ROUTE .. "service_severity_level_max (the operator \">=\" with threshold N "
    .. "is service_severity_level_max = N)",
  logfile = "log.level (and this output's log_path parameter)",
  log_curl_commands = "log.level",
  max_all_queues_age = "this output's max_buffer_age parameter",
}

------------------------------------------------------------------------------
-- State (one Lua state per Broker output; init() resets it)

local cfg = {}
local lines, stamps = {}, {}  -- FIFO of encoded events ("...\n") and their arrival times
local head, tail = 1, 0       -- lines[head..tail] are buffered
local buffered_bytes = 0
local failures = 0            -- consecutive failed POSTs
local next_attempt = 0        -- no POST before this time
local batch_cap = 1000        -- events per POST (halved by a 413)
local urgent_upto = 0         -- lines[head..urgent_upto] hold an urgent event (none if < head)
local urgent_debt, debt_at = 0, 0 -- the pacing debt (seconds) as of time debt_at
local post_average = 0        -- moving average of the POSTs' durations (seconds)
local secrets = {}            -- values of ignored parameters, masked in every log line
local host_instance = {}      -- host_id → { instance_id (nil if none), expiry }

-- Time as Broker sees it. Tests may install a clock (global CENTREON_PAGERDUTY_NOW);
-- network deadlines always use the real clock.
local function now()
  local clock = CENTREON_PAGERDUTY_NOW
  if clock then return clock() end
  return gettime()
end

------------------------------------------------------------------------------
-- Logging

local function plain_replace(s, what, with)
  local i = 1
  while true do
    local a, b = find(s, what, i, true)
    if not a then return s end
    s = sub(s, 1, a - 1) .. with .. sub(s, b + 1)
    i = a + #with
  end
end

-- Nothing that looks like a routing key may reach a log file.
local function redact(msg)
  for _, secret in ipairs(secrets) do msg = plain_replace(msg, secret, "…") end
  return (msg:gsub("%f[%w]" .. ("%w"):rep(32) .. "%f[%W]", function(key) return "…" .. key:sub(-4) end))
end

local function do_log(kind, level, msg) broker_log[kind](broker_log, level, msg) end

local function log(kind, level, msg)
  pcall(do_log, kind, level, "[centreon-pagerduty] " .. redact(tostring(msg)))
end
local function log_error(msg) log("error", 1, msg) end
local function log_warning(msg) log("warning", 1, msg) end
local function log_info(msg) log("info", 2, msg) end
local function log_debug(msg) log("info", 3, msg) end

------------------------------------------------------------------------------
-- JSON encoder: valid UTF-8 out, every control character escaped, integers stay
-- integers, floats stay floats, NaN/inf → null. Broker's json_encode escapes too little.
--
-- It runs for every event on Broker's output thread, so it avoids Lua's slow paths:
-- no unanchored pattern search over strings (string.find with a character class tries
-- every position: ~14 ns a byte); plain strings are recognised by ONE anchored run
-- (~4 ns a byte) and utf8.len (~2 ns a byte, in C); keys, short strings and small
-- integers are memoised; one output buffer is reused.

local JSON_OBJECT = {} -- metatable marking a table to encode as an object even when empty

local ESCAPE = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t', ['\127'] = '\\u007f' }
for i = 0, 31 do
  local c = char(i)
  if not ESCAPE[c] then ESCAPE[c] = format("\\u%04x", i) end
end
-- A run of bytes copied as is: all but \0-\31, '"', '\\' and \127 (UTF-8 validity apart).
-- ']' comes first to be literal in the set; then ' ' '!' '#'..'[' '^'..'~' \128..\255.
local PLAIN_RUN = "^[] !#-[^-~\128-\255]*"
local REPLACEMENT = "\239\191\189"        -- U+FFFD
local utf8_len = utf8.len
-- Lua 5.3's utf8.len accepts UTF-16 surrogates (ED A0..BF xx); 5.4's does not.
local LEN_ACCEPTS_SURROGATES = utf8_len("\237\160\128") ~= nil

-- Length of the valid UTF-8 sequence starting with byte b at s[i], or nil and the
-- length of the invalid prefix (one U+FFFD per maximal invalid subpart, like WHATWG).
local function utf8_sequence(s, i, b)
  local need, lo, hi
  if b >= 0xC2 and b <= 0xDF then need, lo, hi = 1, 0x80, 0xBF
  elseif b == 0xE0 then need, lo, hi = 2, 0xA0, 0xBF
  elseif b == 0xED then need, lo, hi = 2, 0x80, 0x9F -- no surrogates
  elseif b >= 0xE1 and b <= 0xEF then need, lo, hi = 2, 0x80, 0xBF
  elseif b == 0xF0 then need, lo, hi = 3, 0x90, 0xBF
  elseif b >= 0xF1 and b <= 0xF3 then need, lo, hi = 3, 0x80, 0xBF
  elseif b == 0xF4 then need, lo, hi = 3, 0x80, 0x8F -- nothing above U+10FFFF
  else return nil, 1 end
  for k = 1, need do
    local c = byte(s, i + k)
    if not c or c < lo or c > hi then return nil, k end
    lo, hi = 0x80, 0xBF
  end
  return need + 1
end

-- Position of the first byte of s[i..] that starts an invalid UTF-8 sequence, or nil.
local function first_invalid(s, i)
  local ok, pos = utf8_len(s, i)
  if ok then pos = nil end
  if LEN_ACCEPTS_SURROGATES then
    local j = find(s, "\237", i, true) -- in valid UTF-8, 0xED is always a lead byte
    while j and (not pos or j < pos) do
      local c = byte(s, j + 1)
      if c and c >= 0xA0 and c <= 0xBF then return j end
      j = find(s, "\237", j + 1, true)
    end
  end
  return pos
end

-- s with every invalid UTF-8 sequence replaced by U+FFFD.
local function sanitize_utf8(s, bad_at)
  local out, n, i = {}, 0, 1
  while bad_at do
    local valid, bad = utf8_sequence(s, bad_at, byte(s, bad_at))
    if valid then -- cannot happen (utf8.len and utf8_sequence agree); never loop
      out[n + 1], n = sub(s, i, bad_at + valid - 1), n + 1
      i = bad_at + valid
    else
      out[n + 1], out[n + 2], n = sub(s, i, bad_at - 1), REPLACEMENT, n + 2
      i = bad_at + bad
    end
    bad_at = i <= #s and first_invalid(s, i) or nil
  end
  out[n + 1] = sub(s, i)
  return concat(out)
end

-- s with every byte that JSON needs escaped escaped (runs of plain bytes copied whole).
local function escape_json(s)
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local _, e = find(s, PLAIN_RUN, i) -- anchored at i
    if e >= i then n = n + 1; out[n] = sub(s, i, e) end
    if e >= len then break end
    n = n + 1; out[n] = ESCAPE[sub(s, e + 1, e + 1)]
    i = e + 2
  end
  return concat(out)
end

-- Printable ASCII but '"' and '\\': valid UTF-8 that needs no escape (most strings).
local ASCII_RUN = "^[] !#-[^-~]*"

local function encode_string_uncached(s)
  local len = #s
  local _, ascii_end = find(s, ASCII_RUN)
  if ascii_end == len then return '"' .. s .. '"' end
  if ascii_end == len - 1 and byte(s, len) == 10 then -- v2 outputs: Engine ends them with "\n"
    return '"' .. sub(s, 1, ascii_end) .. '\\n"'
  end
  local _, plain_end = find(s, PLAIN_RUN, ascii_end + 1) -- (anchored at ascii_end + 1)
  if plain_end == len - 1 and byte(s, len) == 10 and not first_invalid(s, 1) then
    return '"' .. sub(s, 1, len - 1) .. '\\n"' -- v2 outputs: Engine ends them with "\n"
  end
  local bad_at = first_invalid(s, 1)
  -- U+FFFD replaces bytes >= 0x80 only: the bytes to escape are the same after it
  if bad_at then s = sanitize_utf8(s, bad_at) end
  if plain_end ~= #s then s = escape_json(s) end
  return '"' .. s .. '"'
end

-- Memo of encoded short strings (Lua interns strings of up to 40 bytes, so looking
-- them up costs no hashing) and of object keys: emptied when full.
local MEMO_MAX, MEMO_LEN = 4096, 40
local function new_string_memo() return { [true] = "true", [false] = "false" }, 0 end
local string_memo, string_memo_n = new_string_memo() -- also true and false, for encode_table
local key_first, key_next, key_memo_n = {}, {}, 0 -- '{"key":' and ',"key":'

local function encode_string(s)
  local e = string_memo[s]
  if e then return e end
  e = encode_string_uncached(s)
  if #s <= MEMO_LEN then
    if string_memo_n >= MEMO_MAX then string_memo, string_memo_n = new_string_memo() end
    string_memo[s], string_memo_n = e, string_memo_n + 1
  end
  return e
end

local int_memo = {} -- small integers, always there
for i = -1, 1023 do int_memo[i] = format("%d", i) end
local number_memo, number_memo_n = {}, 0 -- other numbers (timestamps, intervals...): emptied when full
-- a separate table: as keys, 5.0 and 5 are the same
local float_memo, float_memo_n = {}, 0

local function encode_number(x)
  if math_type(x) == "integer" then
    local s = int_memo[x] or number_memo[x]
    if s then return s end
    s = format("%d", x)
    if number_memo_n >= MEMO_MAX then number_memo, number_memo_n = {}, 0 end
    number_memo[x], number_memo_n = s, number_memo_n + 1
    return s
  end
  if x ~= x or x == huge or x == -huge then return "null" end
  local s = float_memo[x]
  if s then return s end
  s = format("%.14g", x)
  if tonumber(s) ~= x then s = format("%.17g", x) end -- shortest of the two that round-trips
  if find(s, ",", 1, true) then s = s:gsub(",", ".") end -- a locale with a decimal comma
  if not find(s, ".", 1, true) and not find(s, "e", 1, true) then s = s .. ".0" end -- 5.0 stays a float
  if x == 0 then return s end -- 0.0 and -0.0 are one key
  if float_memo_n >= MEMO_MAX then float_memo, float_memo_n = {}, 0 end
  float_memo[x], float_memo_n = s, float_memo_n + 1
  return s
end

-- '{"key":' (first) or ',"key":' for a string or number key; nil for other keys.
local function encode_key(k, first)
  local e = (first and key_first or key_next)[k]
  if e then return e end
  local tk = type(k)
  if tk ~= "string" and tk ~= "number" then return nil end
  local body = encode_string_uncached(tk == "string" and k or encode_number(k)) .. ":"
  if key_memo_n >= MEMO_MAX then key_first, key_next, key_memo_n = {}, {}, 0 end
  key_first[k], key_next[k], key_memo_n = "{" .. body, "," .. body, key_memo_n + 1
  return (first and "{" or ",") .. body
end

local encode_table

-- Appends the encoding of v to buf[n+1..]; returns the new n.
local function encode_into(v, buf, n, depth)
  local tv = type(v)
  local s
  if tv == "string" then s = encode_string(v)
  elseif tv == "number" then s = encode_number(v)
  elseif tv == "boolean" then s = v and "true" or "false"
  elseif tv == "table" and depth < 32 then return encode_table(v, buf, n, depth + 1)
  else s = "null" end -- nil, functions, userdata, too deep (a cycle)
  n = n + 1; buf[n] = s
  return n
end

function encode_table(t, buf, n, depth)
  local object = getmetatable(t) == JSON_OBJECT
  local count, max = 0, 0
  if not object then -- an array when the keys are exactly 1..n
    for k in pairs(t) do
      if math_type(k) ~= "integer" or k < 1 then object = true; break end
      count = count + 1
      if k > max then max = k end
    end
    object = object or count ~= max
  end
  if not object then
    n = n + 1; buf[n] = "["
    for i = 1, max do
      if i > 1 then n = n + 1; buf[n] = "," end
      n = encode_into(t[i], buf, n, depth)
    end
    n = n + 1; buf[n] = "]"
    return n
  end
  local first, kf, kn = true, key_first, key_next
  for k, v in pairs(t) do
    local key
    if first then key = kf[k] else key = kn[k] end
    if not key then key = encode_key(k, first) end
    if key then
      first = false
      -- the common values inline, the rest through encode_into
      local s = string_memo[v] -- memoised strings, true, false
      if not s then
        local tv = type(v)
        if tv == "string" then s = encode_string(v)
        elseif tv == "number" then s = math_type(v) == "integer" and int_memo[v] or encode_number(v)
        end
      end
      if s then
        buf[n + 1], buf[n + 2], n = key, s, n + 2
      else
        n = n + 1; buf[n] = key
        n = encode_into(v, buf, n, depth)
      end
    end
  end
  n = n + 1; buf[n] = first and "{}" or "}"
  return n
end

local out_buffer = {} -- reused: one event at a time (never re-entered)

local function json_encode(v, suffix)
  local buf = out_buffer
  local n = encode_into(v, buf, 0, 0)
  if suffix then n = n + 1; buf[n] = suffix end
  return concat(buf, "", 1, n)
end

-- s cut to at most n bytes without splitting a UTF-8 character.
local function utf8_cut(s, n)
  if n <= 0 then return "" end
  while n > 0 do
    local c = byte(s, n + 1)
    if not c or c < 0x80 or c > 0xBF then break end
    n = n - 1
  end
  return sub(s, 1, n)
end

-- One NDJSON line of at most MAX_EVENT_BYTES (+ "\n"): the longest string fields are
-- cut until it fits, and the event is marked "_truncated":true.
local function encode_event(event)
  local line = json_encode(event, "\n")
  if #line > MAX_EVENT_BYTES + 1 then
    local copy = setmetatable({}, JSON_OBJECT)
    for k, v in pairs(event) do copy[k] = v end
    copy._truncated = true
    for _ = 1, 64 do
      line = json_encode(copy)
      local excess = #line - MAX_EVENT_BYTES
      if excess <= 0 then break end
      local key, longest = nil, 0
      for k, v in pairs(copy) do
        if type(v) == "string" and #v > longest then key, longest = k, #v end
      end
      if not key then break end
      -- every raw byte encodes to at least one byte: cutting `excess` raw bytes is enough
      copy[key] = utf8_cut(copy[key], longest - excess)
    end
    line = line .. "\n"
  end
  return line
end

------------------------------------------------------------------------------
-- The encoder of the known elements (FIELDS): the line is '{"_cache":' .. the _cache object,
-- then ',"key":value' for each listed field the event has, from pre-encoded keys; no pairs()
-- over Broker's table, no test of which table is an array.

-- element → { count, keys, prefixes (',"key":'), steady }, built by init(), with the tests' extra
-- fields (the global CENTREON_PAGERDUTY_EXTRA_FIELDS, a list of names: nil under Broker).
-- Statuses: keys[1..steady] are the fields that stay the same while a resource is steady,
-- keys[steady + 1..count] those that change at every check (FIELDS[element].last).
local function build_field_specs(extra)
  local specs = {}
  for element, lists in pairs(FIELDS) do
    local keys, prefixes, seen = {}, {}, { _cache = true }
    local function add(k)
      if type(k) ~= "string" or seen[k] then return end
      seen[k] = true
      keys[#keys + 1] = k
      prefixes[#prefixes + 1] = "," .. encode_string_uncached(k) .. ":"
    end
    for _, k in ipairs(FIELDS_ALL) do add(k) end
    for _, list in ipairs(lists) do
      for _, k in ipairs(list) do add(k) end
    end
    if type(extra) == "table" then
      for _, k in ipairs(extra) do add(k) end
    end
    local steady = lists.last and #keys
    for _, k in ipairs(lists.last or {}) do add(k) end
    specs[element] = { #keys, keys, prefixes, steady }
  end
  return specs
end
local field_specs = build_field_specs()

-- Appends ',"key":value' to buf[n+1..] for each field keys[from..to] the event has; returns the
-- new n, and false when a value was not a string, a number or a boolean.
local function encode_range(event, keys, prefixes, from, to, buf, n)
  local plain = true
  for i = from, to do
    local v = event[keys[i]]
    if v ~= nil then
      local s = string_memo[v] -- memoised strings, true, false
      if not s then
        local number_type = math_type(v) -- (one C call: nil for all but numbers)
        if number_type == "integer" then
          s = int_memo[v] or number_memo[v] or encode_number(v)
        elseif number_type then
          s = encode_number(v)
        elseif type(v) == "string" then
          s = encode_string(v)
        end
      end
      if s then
        buf[n + 1], buf[n + 2], n = prefixes[i], s, n + 2
      else -- a table, a function...: as the generic encoder does
        plain = false
        n = n + 1; buf[n] = prefixes[i]
        n = encode_into(v, buf, n, 0)
      end
    end
  end
  return n, plain
end

-- The line of an event of a known element, with its _cache (JSON text).
local function encode_fields(event, spec, cache_json)
  local buf = out_buffer
  buf[1], buf[2] = '{"_cache":', cache_json
  local n = encode_range(event, spec[2], spec[3], 1, spec[1], buf, 2)
  buf[n + 1] = "}\n"
  return concat(buf, "", 1, n + 1)
end

-- The line of a status, `own` the entry of its resource (see resource()), which keeps the
-- encoding of its previous status's steady fields (keys[1..steady]) and their values. While every
-- steady field is equal (==) to the kept value, that encoding is reused, and only the fields of the
-- check are encoded: a steady resource's status costs a few comparisons. (== makes 5 and 5.0 one
-- value: the daemon reads them alike, and Broker gives a field one type.) Values other than
-- strings, numbers, booleans are never kept.
local function encode_status(event, spec, cache_json, own)
  local keys, prefixes, steady = spec[2], spec[3], spec[4]
  local buf = out_buffer
  local start, values = own[10], own[11]
  if start then
    for i = 1, steady do
      if event[keys[i]] ~= values[i] then start = nil; break end
    end
  end
  if not start then
    local n, plain = encode_range(event, keys, prefixes, 1, steady, buf, 0)
    start = concat(buf, "", 1, n)
    if plain then
      values = values or {}
      for i = 1, steady do values[i] = event[keys[i]] end
      own[10], own[11] = start, values
    else
      own[10] = nil
    end
  end
  buf[1], buf[2], buf[3] = '{"_cache":', cache_json, start
  local n = encode_range(event, keys, prefixes, steady + 1, spec[1], buf, 3)
  buf[n + 1] = "}\n"
  return concat(buf, "", 1, n + 1)
end

-- The same fields as a table (for an event too long for one line: encode_event cuts it).
local function listed_fields(event, spec)
  local copy = setmetatable({}, JSON_OBJECT)
  local keys = spec[2]
  for i = 1, spec[1] do
    local k = keys[i]
    copy[k] = event[k]
  end
  return copy
end

------------------------------------------------------------------------------
-- Enrichment from broker_cache: {host_name, service_description, hostgroups,
-- servicegroups, host_severity, service_severity, notes_url, action_url, poller}, and
-- for statuses {notify, max_check_attempts} (v3 statuses carry neither).

-- Two ways to call broker_cache: directly (the fast path, inside one pcall for the
-- whole enrichment) and, if that raised, each call protected on its own so that one
-- failing method costs only its own field.
-- (Exact argument counts: Broker's methods may tell host from service by their number.)
local function direct(method, ...) return broker_cache[method](broker_cache, ...) end
local function protected(method, ...)
  local ok, v = pcall(direct, method, ...)
  if ok then return v end
  return nil, true -- failed: not an answer to keep
end
local function index(t, k) return t[k] end

local function to_int(v)
  if math_type(v) == "integer" then return v end
  if type(v) == "string" then v = tonumber(v) end
  if type(v) == "number" then return tointeger(v) end
  return nil
end
local function text(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end
local function number(v)
  if type(v) == "number" then return v end
  return nil
end
local function group_names(groups)
  if type(groups) ~= "table" then return nil end
  local names, n = nil, 0
  for _, g in ipairs(groups) do
    local name = type(g) == "table" and text(g.group_name)
    if name then
      n = n + 1
      if n == 1 then names = { name } else names[n] = name end
    end
  end
  return names
end

-- The event's instance_id, else the cached host's (remembered a minute: get_host()
-- builds a table of some 80 fields at every call).
local function instance_of(host_id, event_instance, get, t)
  if event_instance and event_instance > 0 then return event_instance end
  local known = host_instance[host_id]
  if known and known[2] > t then return known[1] end
  local host = get("get_host", host_id)
  local ok, id = false, nil
  if host ~= nil then ok, id = pcall(index, host, "instance_id") end
  id = ok and to_int(id) or nil
  host_instance[host_id] = { id, t + 60 }
  return id
end

-- Per-resource answers of broker_cache, asked once and kept until the resource's next
-- definition. get_severity is costly where it matters most: for a resource without a
-- severity (the usual case) Broker throws and catches a C++ exception (about 12 % of this
-- output's thread in a real cbd when the shim called it twice per service event), and
-- get_host/get_service build a table of some 80 fields. What they answer changes only
-- with a definition (12/23, 27/30) or an adaptive definition (28/31) of the resource,
-- which Broker's cache applies before it hands the event to this output, and with a
-- CRITICALITY_LEVEL custom variable, which Engine sends right after the definitions (or
-- on CHANGE_CUSTOM_*_VAR, which nothing here sees: hence the expiry). A definition drops
-- the resource's entry, and is itself enriched with fresh answers that are not kept (its
-- custom variables may not have come yet): the next event of the resource asks again.
local RESOURCE_TTL = 300      -- seconds an entry is kept at most
local RESOURCE_MAX = 500000   -- entries; beyond, all are dropped (deleted resources stay until then)
local resources, resources_n = {}, 0 -- host_id → { [0] = host entry, [service_id] = service entry }
local HOST_DEFINITION = { [12] = true, [30] = true, [31] = true }
local SERVICE_DEFINITION = { [23] = true, [27] = true, [28] = true }
local STATUS = { [14] = true, [24] = true, [29] = true, [32] = true }

-- The entry of a resource (service_id 0: the host): { expiry, severity (false: none),
-- has_definition, notify, max_check_attempts, volatile }, the last four asked only for statuses;
-- then, for statuses, [7] their _cache JSON, [8] the host entry and [9] the instance id it was
-- built with (cache_json_direct: kept while both are the same), and [10] the encoding of the
-- steady fields of its last status, [11] their values (encode_status): about 0.9 KB more per
-- resource. A new entry (a definition of the resource, its expiry) starts without any: the next
-- status asks broker_cache again; a definition of the host replaces the host entry, so its
-- services' next statuses ask again too.
-- `definition`: the event defines this resource (see above).
local function resource(host_id, service_id, t, definition)
  local of_host = resources[host_id]
  local e = of_host and of_host[service_id]
  if definition then
    if e then of_host[service_id] = nil end
    return { t }
  end
  if e and e[1] > t then return e end
  if resources_n >= RESOURCE_MAX then resources, resources_n, of_host = {}, 0, nil end
  if not of_host then
    of_host = {}
    resources[host_id] = of_host
  end
  e = { t + RESOURCE_TTL }
  of_host[service_id] = e
  resources_n = resources_n + 1
  return e
end

local function severity_of(e, get, host_id, service_id)
  local s = e[2]
  if s == nil then
    local v, failed
    if service_id then v, failed = get("get_severity", host_id, service_id)
    else v, failed = get("get_severity", host_id) end
    s = number(v) or false
    if not failed then e[2] = s end
  end
  return s or nil
end

local function boolean_field(d, key)
  local ok, v = pcall(index, d, key)
  if not ok then return nil end
  if type(v) == "boolean" then return v end
  if type(v) == "number" then return v ~= 0 end
  return nil
end

-- notify (boolean) and max_check_attempts (integer) of the resource's definition as
-- Broker's cache keeps it (get_host/get_service: the definition with its adaptive changes),
-- and whether the service is volatile (v3 `is_volatile`, v2 `volatile`: for the urgency test).
local function definition_of(e, get, host_id, service_id)
  if e[3] then return e[4], e[5], e[6] end
  local d, failed
  if service_id then d, failed = get("get_service", host_id, service_id)
  else d, failed = get("get_host", host_id) end
  local notify, attempts, volatile
  if d ~= nil then
    notify = boolean_field(d, "notify")
    local ok, v = pcall(index, d, "max_check_attempts")
    attempts = ok and to_int(v) or nil
    if attempts and attempts < 1 then attempts = nil end
    if service_id then
      volatile = boolean_field(d, "is_volatile")
      if volatile == nil then volatile = boolean_field(d, "volatile") end
    end
  end
  volatile = volatile == true
  if not failed then e[3], e[4], e[5], e[6] = true, notify, attempts, volatile end
  return notify, attempts, volatile
end

-- Whether the status being written is of a volatile service (set by resource_fields, read
-- by the urgency test; do_write clears it before each event).
local status_volatile = false

-- host_severity, service_severity, notify and max_check_attempts of the event's resource
-- (the last two for statuses only). service_id: nil for a host.
local function resource_fields(get, element, host_id, service_id, t)
  local host = resource(host_id, 0, t, HOST_DEFINITION[element])
  local host_severity = severity_of(host, get, host_id)
  local own, service_severity = host, nil
  if service_id then
    own = resource(host_id, service_id, t, SERVICE_DEFINITION[element])
    service_severity = severity_of(own, get, host_id, service_id)
  end
  if STATUS[element] then
    local notify, attempts, volatile = definition_of(own, get, host_id, service_id)
    status_volatile = volatile
    return host_severity, service_severity, notify, attempts
  end
  return host_severity, service_severity
end

local function cache_fields(event, get, t)
  local c = setmetatable({}, JSON_OBJECT)
  local host_id = to_int(event.host_id)
  local service_id = to_int(event.service_id)
  local instance_id = to_int(event.instance_id)
  if host_id and host_id > 0 then
    if not service_id or service_id <= 0 then service_id = nil end
    c.host_name = text(get("get_hostname", host_id))
    c.hostgroups = group_names(get("get_hostgroups", host_id))
    c.host_severity, c.service_severity, c.notify, c.max_check_attempts =
      resource_fields(get, event.element, host_id, service_id, t)
    if service_id then
      c.service_description = text(get("get_service_description", host_id, service_id))
      c.servicegroups = group_names(get("get_servicegroups", host_id, service_id))
      c.notes_url = text(get("get_notes_url", host_id, service_id))
      c.action_url = text(get("get_action_url", host_id, service_id))
    else
      c.notes_url = text(get("get_notes_url", host_id))
      c.action_url = text(get("get_action_url", host_id))
    end
    instance_id = instance_of(host_id, instance_id, get, t)
  end
  if instance_id and instance_id > 0 then
    c.poller = text(get("get_instance_name", instance_id))
  end
  return c
end

-- The same as JSON text, calling broker_cache directly (the fast path: any error →
-- cache_fields). Built straight as text: no table to build, walk and collect.
local cache_buf = {}
local function names_json(groups, buf, n, key)
  if type(groups) ~= "table" then return n end
  local first = true
  for _, g in ipairs(groups) do
    local name = type(g) == "table" and text(g.group_name)
    if name then
      n = n + 1; buf[n] = first and key or ","
      n = n + 1; buf[n] = string_memo[name] or encode_string(name)
      first = false
    end
  end
  if not first then n = n + 1; buf[n] = "]" end
  return n
end
local function member(buf, n, key, v)
  if v == nil then return n end
  n = n + 1; buf[n] = key
  n = n + 1; buf[n] = type(v) == "string" and (string_memo[v] or encode_string(v)) or encode_number(v)
  return n
end
local function cache_json_direct(event, t)
  local element = event.element
  if STATUS[element] then -- a steady resource's status: its kept _cache, if still valid (below)
    local of_host = resources[event.host_id]
    local own = of_host and of_host[event.service_id or 0]
    if own then
      local kept, host = own[7], of_host[0]
      if kept and own[8] == host and own[1] > t and host[1] > t then
        local instance_id = event.instance_id
        if instance_id == nil then
          local known = host_instance[event.host_id]
          instance_id = known and known[2] > t and known[1]
        end
        if instance_id == own[9] then
          status_volatile = own[6]
          return kept, own
        end
      end
    end
  end
  local bc, buf, n = broker_cache, cache_buf, 0
  local host_id = to_int(event.host_id)
  local service_id = to_int(event.service_id)
  local instance_id = to_int(event.instance_id)
  if host_id and host_id > 0 then
    if not service_id or service_id <= 0 then service_id = nil end
    local host = resource(host_id, 0, t, HOST_DEFINITION[element])
    local own = host
    if service_id then own = resource(host_id, service_id, t, SERVICE_DEFINITION[element]) end
    instance_id = instance_of(host_id, instance_id, direct, t)
    local status = STATUS[element]
    if status then -- the _cache of the resource's last status, if still valid (see resource())
      local kept = own[7]
      if kept and own[8] == host and own[9] == instance_id then
        status_volatile = own[6]
        return kept, own
      end
    end
    local host_severity = severity_of(host, direct, host_id)
    local service_severity, notify, attempts
    if service_id then service_severity = severity_of(own, direct, host_id, service_id) end
    if status then
      notify, attempts, status_volatile = definition_of(own, direct, host_id, service_id)
    end
    local host_name = text(bc:get_hostname(host_id))
    local named = host_name ~= nil
    n = member(buf, n, ',"host_name":', host_name)
    n = names_json(bc:get_hostgroups(host_id), buf, n, ',"hostgroups":[')
    n = member(buf, n, ',"host_severity":', host_severity)
    if service_id then
      local description = text(bc:get_service_description(host_id, service_id))
      named = named and description ~= nil
      n = member(buf, n, ',"service_description":', description)
      n = names_json(bc:get_servicegroups(host_id, service_id), buf, n, ',"servicegroups":[')
      n = member(buf, n, ',"service_severity":', service_severity)
      n = member(buf, n, ',"notes_url":', text(bc:get_notes_url(host_id, service_id)))
      n = member(buf, n, ',"action_url":', text(bc:get_action_url(host_id, service_id)))
    else
      n = member(buf, n, ',"notes_url":', text(bc:get_notes_url(host_id)))
      n = member(buf, n, ',"action_url":', text(bc:get_action_url(host_id)))
    end
    if notify ~= nil then n = n + 1; buf[n] = notify and ',"notify":true' or ',"notify":false' end
    n = member(buf, n, ',"max_check_attempts":', attempts)
    if instance_id and instance_id > 0 then
      local poller = text(bc:get_instance_name(instance_id))
      named = named and poller ~= nil
      n = member(buf, n, ',"poller":', poller)
    end
    local json = "{}"
    if n > 0 then
      buf[1] = "{" .. sub(buf[1], 2)
      n = n + 1; buf[n] = "}"
      json = concat(buf, "", 1, n)
    end
    -- Kept for the resource's next statuses only once Broker's cache knows its names (and its
    -- poller's): until then, each status asks again.
    if status and named then
      own[7], own[8], own[9] = json, host, instance_id
      return json, own
    end
    return json
  end
  if instance_id and instance_id > 0 then
    n = member(buf, n, ',"poller":', text(bc:get_instance_name(instance_id)))
  end
  if n == 0 then return "{}" end
  buf[1] = "{" .. sub(buf[1], 2)
  n = n + 1; buf[n] = "}"
  return concat(buf, "", 1, n)
end

-- The event's NDJSON line, with its _cache. Raises only on an unencodable event.
local function enrich_and_encode(event, t)
  local ok, json, own = pcall(cache_json_direct, event, t)
  if not ok then json, own = json_encode(cache_fields(event, protected, t)), nil end
  local spec = field_specs[event.element]
  if spec then -- every event Broker hands over (filter())
    local line
    if own and spec[4] then
      line = encode_status(event, spec, json, own)
    else
      line = encode_fields(event, spec, json)
    end
    if #line <= MAX_EVENT_BYTES + 1 then return line end
    local copy = listed_fields(event, spec)
    copy._cache = cache_fields(event, protected, t)
    return encode_event(copy)
  end
  -- Any other table (write() called directly): all its fields.
  event._cache = nil
  local buf = out_buffer
  local n = encode_into(event, buf, 0, 0)
  local last = buf[n]
  if last == "}" then
    buf[n], buf[n + 1], buf[n + 2], n = ',"_cache":', json, "}\n", n + 2
  elseif last == "{}" then
    buf[n], buf[n + 1], buf[n + 2], n = '{"_cache":', json, "}\n", n + 2
  else
    event._cache = cache_fields(event, protected, t)
    return encode_event(event)
  end
  local line = concat(buf, "", 1, n)
  if #line > MAX_EVENT_BYTES + 1 then
    event._cache = cache_fields(event, protected, t)
    return encode_event(event)
  end
  return line
end

------------------------------------------------------------------------------
-- Urgency: which events are posted at once (see the header). A cheap test of the raw event,
-- plus two small bounded tables for what one event cannot show.

local NEXT, FLAPPING = 1, 2           -- watch bits: the next full status / the one that ends flapping
local DOWN, IN_DOWNTIME = 1, 2        -- blocking bits of a host
local WATCH_MAX = 100000              -- entries of each table; beyond, it is emptied (costs latency only)
local RESOURCE_KEY = 4294967296       -- host_id * RESOURCE_KEY + service_id (0: the host)
local watch, watch_n = {}, 0          -- resource key → watch bits
local blocking, blocking_n = {}, 0    -- host_id → blocking bits, for hosts DOWN/UNREACHABLE or in downtime

-- How each accepted element is judged.
local U_HOST, U_SERVICE, U_ALWAYS, U_DOWNTIME, U_ADAPTIVE, U_DEFINITION = 1, 2, 3, 4, 5, 6
local URGENCY = {
  [14] = U_HOST, [32] = U_HOST, [24] = U_SERVICE, [29] = U_SERVICE,        -- full statuses
  [1] = U_ALWAYS, [45] = U_ALWAYS,                                         -- acknowledgements
  [28] = U_ALWAYS, [31] = U_ALWAYS,                                        -- adaptive definitions
  [5] = U_DOWNTIME, [36] = U_DOWNTIME,                                     -- downtimes
  [55] = U_ADAPTIVE, [56] = U_ADAPTIVE,                                    -- adaptive statuses
  [12] = U_DEFINITION, [23] = U_DEFINITION, [27] = U_DEFINITION, [30] = U_DEFINITION,
}

local function set_watch(key, bits)
  local was = watch[key]
  if bits == 0 then
    if was then watch[key], watch_n = nil, watch_n - 1 end
    return
  end
  if not was then
    if watch_n >= WATCH_MAX then watch, watch_n = {}, 0 end
    watch_n = watch_n + 1
  end
  watch[key] = bits
end

local function set_blocking(host_id, bits)
  local was = blocking[host_id]
  if bits == 0 then
    if was then blocking[host_id], blocking_n = nil, blocking_n - 1 end
    return
  end
  if not was then
    if blocking_n >= WATCH_MAX then blocking, blocking_n = {}, 0 end
    blocking_n = blocking_n + 1
  end
  blocking[host_id] = bits
end

-- Whether the event can change what PagerDuty hears, so that it must be posted at once.
-- Called once per event written, in order (it keeps the tables above up to date). It runs for
-- every event on Broker's thread: full statuses first, a few field reads, no function call on
-- the way of a steady status but type() (which guards every comparison: a field of an odd type
-- is never urgent, and never an error).
local function is_urgent(ev)
  local kind = URGENCY[ev.element]
  if kind == U_SERVICE or kind == U_HOST then
    local state = ev.state
    if type(state) ~= "number" then return false end
    local state_type = ev.state_type
    local soft_problem = state_type == 0 and state ~= 0
    local urgent = soft_problem -- pages with hard_only = false; starts the retries
    if not urgent then
      local last_hard = ev.last_hard_state
      if last_hard ~= state and type(last_hard) == "number" then
        urgent = true -- a host's HARD change (Engine still shows the previous last_hard_state)
      else
        local check = ev.last_check
        if type(check) == "number" and check > 0 then -- a state change at this very check
          local changed = ev.last_hard_state_change
          if type(changed) == "number" and changed >= check then
            urgent = true
          else
            changed = ev.last_state_change
            urgent = type(changed) == "number" and changed >= check
          end
        end
      end
    end
    if status_volatile and state_type == 1 and state ~= 0 and state ~= 4 then
      urgent = true -- a volatile service pages at every HARD problem result
    end
    local host_id = ev.host_id
    if type(host_id) ~= "number" then return urgent end
    local service_id, blocked = 0, false
    if kind == U_HOST then
      local depth = ev.scheduled_downtime_depth
      local bits = ((state == 1 or state == 2) and DOWN or 0)
                   | (type(depth) == "number" and depth > 0 and IN_DOWNTIME or 0)
      if bits ~= 0 or blocking_n > 0 then set_blocking(host_id, bits) end
    else
      service_id = ev.service_id
      if type(service_id) ~= "number" then service_id = 0 end
      if blocking_n > 0 then blocked = blocking[host_id] ~= nil end
    end
    local flapping = ev.flapping
    flapping = flapping == true or flapping == 1
    local bits = (soft_problem or (blocked and state ~= 0)) and NEXT or 0
    if flapping then bits = bits | FLAPPING end
    if watch_n == 0 and bits == 0 then return urgent end
    local key = host_id * RESOURCE_KEY + service_id
    local watched = watch[key]
    if watched then
      if blocked then
        bits = bits | watched -- held by its host anyway: wait until the host is back
      elseif watched & NEXT ~= 0 or not flapping then
        urgent = true
      end
    end
    if bits ~= watched then set_watch(key, bits) end
    return urgent
  end
  if kind == U_ALWAYS then return true end
  if kind == U_DOWNTIME then
    -- Its end shows in the resource's next full status (a host's deletion sends no adaptive status).
    local host_id, service_id = ev.host_id, ev.service_id
    if type(host_id) == "number" then
      if type(service_id) ~= "number" then service_id = 0 end
      local key = host_id * RESOURCE_KEY + service_id
      set_watch(key, (watch[key] or 0) | NEXT)
    end
    return true
  end
  if kind == U_ADAPTIVE then
    local depth = ev.scheduled_downtime_depth
    local host_id = ev.host_id
    if ev.element == 56 and type(host_id) == "number" and type(depth) == "number" then
      set_blocking(host_id, ((blocking[host_id] or 0) & DOWN) | (depth > 0 and IN_DOWNTIME or 0))
    end
    -- Only a notification number changed: nothing for PagerDuty.
    return depth ~= nil or ev.acknowledgement_type ~= nil or ev.acknowledged ~= nil
      or ev.notification_number == nil
  end
  if kind == U_DEFINITION then
    local enabled = ev.enabled
    return enabled == false or enabled == 0 -- resolve_on_disable
  end
  return false
end

------------------------------------------------------------------------------
-- HTTP/1.1 POST over the Unix socket, ONE deadline for connect + send + answer.

-- The body goes in pieces of at most SEND_PIECE bytes (or one line), each joined from the buffered
-- lines: never one string of the whole POST (at 1,000 events, that was three copies of half a
-- megabyte: the joined body, the request, and the growing buffer of the join).
local SEND_PIECE = 32768

local function exchange(sock, request, deadline, first, last)
  local step = "connect"
  local function arm() -- the time left before the deadline, for the next step only
    local left = deadline - gettime()
    if left <= 0 then error(step .. ": timeout", 0) end
    sock:settimeout(left, "t")
  end
  local function check(ok, err)
    if not ok then error(step .. ": " .. tostring(err), 0) end
    return ok
  end
  arm(); check(sock:connect(cfg.socket))
  step = "send"
  arm(); check(sock:send(request))
  local i = first
  while i <= last do
    local j, size = i, #lines[i]
    while j < last do
      local next_size = size + #lines[j + 1]
      if next_size > SEND_PIECE then break end
      j, size = j + 1, next_size
    end
    arm(); check(sock:send(concat(lines, "", i, j)))
    i = j + 1
  end
  step = "answer"
  arm()
  local status_line = check(sock:receive("*l"))
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then error("not an HTTP answer", 0) end
  local length
  for _ = 1, 100 do
    arm()
    local header = check(sock:receive("*l"))
    if header == "" then break end
    local name, value = header:match("^([^:]+):%s*(.-)%s*$")
    if name and name:lower() == "content-length" then length = tonumber(value) end
  end
  local body = ""
  if length and length > 0 then
    arm(); body = check(sock:receive(math.min(length, 65536)))
  elseif not length then
    arm(); body = sock:receive("*a") or "" -- until the daemon closes (Connection: close)
  end
  return status, body
end

-- `limit`: the end of the calling write()/flush()'s budget, which may cut this POST short.
-- Returns status, answer, and whether the deadline was the call's budget (not our timeout).
-- The body: the buffered lines[first..last], `bytes` long.
local function http_post(first, last, bytes, limit)
  local own = gettime() + cfg.timeout / 1000
  local deadline = own
  if limit and limit < own then deadline = limit end
  local request = "POST /v1/events HTTP/1.1\r\nHost: localhost\r\n" ..
    "Content-Type: application/x-ndjson\r\nContent-Length: " .. bytes ..
    "\r\nConnection: close\r\nUser-Agent: centreon-pagerduty-shim/" .. VERSION .. "\r\n\r\n"
  local sock, err = unix()
  if not sock then return nil, "cannot create a socket: " .. tostring(err) end
  local ok, status, answer = pcall(exchange, sock, request, deadline, first, last)
  sock:close()
  -- Cut short: the call's budget was materially shorter than our timeout, and it ran out.
  -- Judged by the error, not the clock: poll() rounds its timeout down to the millisecond,
  -- so a timeout can fire a hair before `deadline`.
  if not ok then
    local why = tostring(status)
    return nil, why, own - deadline > 0.01 and why:find(": timeout$") ~= nil
  end
  return status, answer, false
end

------------------------------------------------------------------------------
-- Buffer and posting

-- The pacing debt at time t (see URGENT_SPACING). A clock stepped back counts as no time.
local function pacing_debt(t)
  local elapsed = t - debt_at
  if elapsed < 0 then elapsed = 0 end
  local debt = urgent_debt - elapsed
  if debt < 0 then return 0 end
  return debt
end

local function post_batch(limit)
  local n, bytes = 0, 0
  while head + n <= tail and n < batch_cap do
    local size = #lines[head + n]
    if n > 0 and bytes + size > cfg.max_batch_bytes then break end
    n, bytes = n + 1, bytes + size
  end
  local started = gettime()
  local status, answer, cut = http_post(head, head + n - 1, bytes, limit)
  local ended = now()
  post_average = post_average + (gettime() - started - post_average) / 8
  urgent_debt = pacing_debt(ended) + math.max(URGENT_COST_MIN, URGENT_SPACING * post_average)
  debt_at = ended
  if not status and cut then
    -- Out of this call's time, not a daemon failure: the events stay buffered and go with the
    -- next call (if the daemon stored them meanwhile, it recognises the replay).
    log_debug(format("POST of %d events cut short by the call's time budget", n))
    return false
  end
  if status == 200 then
    for i = head, head + n - 1 do lines[i], stamps[i] = nil, nil end
    head, buffered_bytes = head + n, buffered_bytes - bytes
    if head > tail then head, tail, urgent_upto = 1, 0, 0 end
    if failures > 0 then log_warning(format("daemon answered again after %d failed POST(s)", failures)) end
    failures, next_attempt, batch_cap = 0, 0, cfg.max_buffer_size
    local rejected = tonumber(tostring(answer):match('"rejected"%s*:%s*(%d+)'))
    if rejected and rejected > 0 then
      log_error(format("the daemon rejected %d of %d events (see its rejected lines)", rejected, n))
    end
    log_debug(format("posted %d events (%d bytes): %s", n, bytes, tostring(answer)))
    return true
  end
  failures = failures + 1
  local delay = math.min(cfg.retry_interval * 2 ^ (failures - 1), math.max(MAX_RETRY_SECONDS, cfg.retry_interval))
  next_attempt = now() + delay
  local what = status and ("HTTP " .. status) or answer
  if not status and answer:find("^connect:") then
    what = what .. " (is centreon-pagerduty running, and is centreon-broker in the group centreon-pagerduty?)"
  end
  if status == 503 then what = what .. " (daemon spool full)" end
  if status == 413 and n > 1 then
    batch_cap = math.max(1, n // 2)
    what = what .. format(" (next POSTs carry at most %d events)", batch_cap)
  end
  local msg = format("POST of %d events to %s failed: %s; %d events kept, next attempt in %gs",
                     n, cfg.socket, what, tail - head + 1, delay)
  if failures == 1 then log_error(msg) else log_info(msg) end
  return false
end

-- Post what is due: everything (flush), or (write) full batches, aged events, and, when the
-- buffer holds an urgent event and the pacing allows, every event up to the last urgent one (in
-- one POST unless the buffer is a backlog of more than a POST's worth; that POST also takes the
-- events after it that fit). Stops at the first failure, and when this call has used its `timeout`.
local function pump(everything, t)
  t = t or now()
  if t < next_attempt then return end
  local limit
  local upto = everything and tail or 0 -- post at least lines[head..upto]
  while head <= tail do
    if head > upto then
      if urgent_upto >= head and pacing_debt(t) <= URGENT_BURST then
        upto = urgent_upto
      else
        local due = tail - head + 1 >= batch_cap or buffered_bytes >= cfg.max_batch_bytes
                    or t - stamps[head] >= cfg.max_buffer_age
        if not due then return end
      end
    end
    -- One budget for the whole call: Broker's thread waits at most `timeout` here.
    limit = limit or gettime() + cfg.timeout / 1000
    if not post_batch(limit) then return end
    if gettime() >= limit then return end
    t = now()
  end
end

------------------------------------------------------------------------------
-- Parameters

local function read_number(name, value)
  local limits = NUMERIC[name]
  local n = tonumber(value)
  if n and limits[3] then n = tointeger(n) end
  if not n or n ~= n or n == huge or n < limits[1] or (limits[2] and n > limits[2]) then
    return nil
  end
  return n
end

local function configure(conf)
  conf = type(conf) == "table" and conf or {}
  local c, problems = {}, {}
  for name, default in pairs(DEFAULTS) do
    local value = conf[name]
    if value == nil or value == "" then
      c[name] = default
    elseif NUMERIC[name] then
      c[name] = read_number(name, value)
      if c[name] == nil then
        c[name] = default
        problems[#problems + 1] = format("parameter %s: invalid value %q, using %s",
                                         name, tostring(value), tostring(default))
      end
    elseif type(value) == "string" then
      c[name] = value
    else
      c[name] = default
      problems[#problems + 1] = format("parameter %s: a string is expected, using %s", name, default)
    end
  end
  -- ignored parameters: their values may be secrets; never log them
  local ignored = {}
  for name, value in pairs(conf) do
    if DEFAULTS[name] == nil then
      ignored[#ignored + 1] = tostring(name)
      if type(value) == "string" and #value >= 4 then secrets[#secrets + 1] = value end
    end
  end
  table.sort(ignored)
  return c, problems, ignored
end

------------------------------------------------------------------------------
-- Broker entry points. None lets a Lua error reach Broker.

local function traceback(err) return debug.traceback(tostring(err), 2) end

local function do_init(conf)
  lines, stamps, head, tail, buffered_bytes = {}, {}, 1, 0, 0
  failures, next_attempt, secrets, host_instance = 0, 0, {}, {}
  urgent_upto, urgent_debt, debt_at, post_average = 0, 0, 0, 0
  watch, watch_n, blocking, blocking_n = {}, 0, {}, 0
  resources, resources_n = {}, 0
  field_specs = build_field_specs(CENTREON_PAGERDUTY_EXTRA_FIELDS)
  local problems, ignored
  cfg, problems, ignored = configure(conf)
  batch_cap = cfg.max_buffer_size
  pcall(function() broker_log:set_parameters(cfg.log_level, cfg.log_path) end)
  for _, p in ipairs(problems) do log_error(p) end
  for _, name in ipairs(ignored) do
    local key = OLD_PARAMETERS[name]
    if key then
      log_warning(format("parameter %s of the old PagerDuty connectors is ignored: set %s in %s instead",
                         name, key, TOML))
    else
      log_warning(format("unknown parameter %s is ignored: PagerDuty settings belong in %s", name, TOML))
    end
  end
  log_info(format("centreon-pagerduty shim %s (%s): socket %s, max_buffer_size %d, max_batch_bytes %d, " ..
                  "max_buffer_age %gs, timeout %gms, retry_interval %gs",
                  VERSION, _VERSION, cfg.socket, cfg.max_buffer_size, cfg.max_batch_bytes,
                  cfg.max_buffer_age, cfg.timeout, cfg.retry_interval))
end

local function do_filter(category, element)
  return category == 1 and ACCEPTED[element] == true
end

local function do_write(event)
  if type(event) ~= "table" then
    log_error("write() received a " .. type(event) .. ", not a table: is broker_api_version 1?")
    event = setmetatable({ _shim_error = "not a table: " .. type(event) }, JSON_OBJECT)
  end
  local t = now()
  status_volatile = false
  local ok, line = pcall(enrich_and_encode, event, t)
  if not ok then -- keep a trace of the event rather than losing it: the daemon rejects it visibly
    log_error("cannot encode an event: " .. tostring(line))
    line = json_encode(setmetatable({ _type = event._type, category = event.category,
      element = event.element, host_id = event.host_id, service_id = event.service_id,
      _shim_error = tostring(line) }, JSON_OBJECT)) .. "\n"
  end
  tail = tail + 1
  lines[tail], stamps[tail] = line, t
  buffered_bytes = buffered_bytes + #line
  -- After buffering: whatever the test does, the event is kept.
  local tested, urgent = pcall(is_urgent, event)
  if urgent or not tested then urgent_upto = tail end -- (an error in the test: urgent)
  pump(false, t)
  return head > tail
end

local function do_flush()
  pump(true)
  return head > tail
end

function init(conf)
  local ok, err = xpcall(do_init, traceback, conf)
  if not ok then
    cfg = next(cfg) and cfg or configure({})
    log_error("internal error in init(): " .. tostring(err))
  end
end

function filter(category, element)
  local ok, accepted = pcall(do_filter, category, element)
  return ok and accepted
end

function write(event)
  local ok, result = xpcall(do_write, traceback, event)
  if ok then return result end
  log_error("internal error in write(): " .. tostring(result))
  return false
end

function flush()
  local ok, result = xpcall(do_flush, traceback)
  if ok then return result end
  log_error("internal error in flush(): " .. tostring(result))
  return false
end

-- For tests and diagnostics; Broker ignores it.
centreon_pagerduty = {
  VERSION = VERSION, json_encode = json_encode, encode_event = encode_event,
  -- element → the names of the fields sent (the _cache apart), in order
  fields = function()
    local out = {}
    for element, spec in pairs(field_specs) do out[element] = { table.unpack(spec[2]) } end
    return out
  end,
  config = function() return cfg end,
  buffered = function() return tail - head + 1, buffered_bytes end,
  urgent_pending = function() return urgent_upto >= head and head <= tail end,
}
