-- filter() ids, parameters (numeric strings, defaults, invalid values), old
-- connectors' parameters (warned with their TOML key, values never logged).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

local ACCEPTED = { 14, 24, 32, 29, 55, 56, 1, 45, 5, 36, 12, 23, 30, 27, 31, 28 }

H.test("filter accepts the NEB ids of the daemon whatever bbdo_version() says", function()
  for _, bbdo in ipairs({ "2.0.0", "3.0.0", "3.0.1", "3.1.0" }) do
    local emu = H.emulator({ bbdo_version = bbdo })
    emu:start()
    H.eq(emu.filter_enabled, true, "filter(1, 2) at load must return a boolean")
    local accepted = {}
    for _, e in ipairs(ACCEPTED) do accepted[e] = true end
    for e = 0, 100 do
      local r = emu.env.filter(1, e)
      H.eq(type(r), "boolean", "filter(1, " .. e .. ")")
      H.eq(r, accepted[e] == true, "bbdo " .. bbdo .. ": filter(1, " .. e .. ")")
    end
    for _, cat in ipairs({ 0, 2, 3, 5, 6, 7, 65535 }) do
      for _, e in ipairs({ 1, 5, 12, 14, 24, 29, 32 }) do
        H.eq(emu.env.filter(cat, e), false, "filter(" .. cat .. ", " .. e .. ")")
      end
    end
    H.eq(emu.env.filter(nil, nil), false)
    H.eq(emu.env.filter("1", "14"), false)
  end
end)

H.test("filtered events are never written but are acknowledged with the next true", function()
  local d = H.daemon()
  local emu = H.emulator({ conf = { socket = d.socket } })
  emu:start()
  emu:publish({
    { _type = 65538, category = 1, element = 2, host_id = 1 },            -- comment
    { _type = 65537 + 16, category = 1, element = 17, host_id = 1 },      -- instance
    { _type = 196609, category = 3, element = 1, metric_id = 7 },         -- storage metric
    H.service_status(1, 2, 1),
    { _type = 65580, category = 1, element = 44, instance_id = 1 },       -- pb_instance
  })
  emu:run()
  H.eq(emu.stats.writes, 1)
  H.eq(emu.stats.filtered, 4)
  H.eq(emu.acked, 5)
  H.eq(emu:pending(), 0)
  if d.controllable then
    local lines = d:accepted_lines()
    H.eq(#lines, 1)
    H.eq(lines[1].element, 29)
  end
end)

local function config(conf)
  local emu = H.emulator()
  emu.conf = conf
  emu:start()
  return emu.env.centreon_pagerduty.config(), emu
end

H.test("defaults", function()
  local c, emu = config({})
  H.eq(c.socket, "/run/centreon-pagerduty/broker.sock")
  H.eq(c.max_buffer_size, 1000)
  H.eq(c.max_batch_bytes, 4194304)
  H.eq(c.max_buffer_age, 1)
  H.eq(c.timeout, 2000)
  H.eq(c.retry_interval, 5)
  H.eq(c.log_level, 1)
  H.eq(c.log_path, "/var/log/centreon-broker/centreon-pagerduty.log")
  H.deep_eq(emu.log.params, { level = 1, path = "/var/log/centreon-broker/centreon-pagerduty.log" })
  H.eq(#emu:logs(nil, "warning"), 0)
  H.eq(#emu:logs(nil, "error"), 0)
  H.eq(emu.env.centreon_pagerduty.VERSION, "0.1.0")
end)

H.test("parameters given as numbers or as numeric strings", function()
  local as_strings = { socket = "/tmp/x.sock", max_buffer_size = "5", max_batch_bytes = "2048",
    max_buffer_age = "0.5", timeout = "250", retry_interval = "2", log_level = "3", log_path = "/tmp/shim.log" }
  local as_numbers = { socket = "/tmp/x.sock", max_buffer_size = 5, max_batch_bytes = 2048,
    max_buffer_age = 0.5, timeout = 250, retry_interval = 2, log_level = 3, log_path = "/tmp/shim.log" }
  for _, conf in ipairs({ as_strings, as_numbers }) do
    local c, emu = config(conf)
    H.eq(c.socket, "/tmp/x.sock")
    H.eq(c.max_buffer_size, 5)
    H.eq(c.max_batch_bytes, 2048)
    H.eq(c.max_buffer_age, 0.5)
    H.eq(c.timeout, 250)
    H.eq(c.retry_interval, 2)
    H.eq(c.log_level, 3)
    H.deep_eq(emu.log.params, { level = 3, path = "/tmp/shim.log" })
    H.eq(#emu:logs(nil, "error"), 0)
    H.eq(#emu:logs(nil, "warning"), 0)
  end
  local c = config({ max_buffer_size = " 10 ", timeout = "1e3", max_buffer_age = "2" })
  H.eq(c.max_buffer_size, 10)
  H.eq(c.timeout, 1000.0)
  H.eq(c.max_buffer_age, 2)
end)

H.test("invalid values fall back to the default with an error naming the parameter", function()
  local c, emu = config({ max_buffer_size = "abc", max_batch_bytes = "0", timeout = "-5",
    log_level = "7", retry_interval = "soon", max_buffer_age = "1e999" })
  H.eq(c.max_buffer_size, 1000)
  H.eq(c.max_batch_bytes, 4194304)
  H.eq(c.timeout, 2000)
  H.eq(c.log_level, 1)
  H.eq(c.retry_interval, 5)
  H.eq(c.max_buffer_age, 1)
  for _, name in ipairs({ "max_buffer_size", "max_batch_bytes", "timeout", "log_level", "retry_interval",
                          "max_buffer_age" }) do
    H.eq(#emu:logs("parameter " .. name .. ":", "error"), 1, name)
  end
  c = config({ max_buffer_size = "1.5" })
  H.eq(c.max_buffer_size, 1000)
  c = config({ max_batch_bytes = 64 * 1024 * 1024 })
  H.eq(c.max_batch_bytes, 4194304, "over the daemon's 16 MiB body limit")
end)

H.test("old connectors' parameters are ignored with a warning naming the TOML key; values never logged", function()
  local key = "R0123456789abcdef0123456789abcdeF"
  local conf = {
    pdy_routing_key = key, pdy_centreon_url = "https://centreon.example.com", http_proxy_string = "http://proxy:3128",
    pdy_source = "central", http_server_url = "https://events.pagerduty.com/v2/enqueue", http_timeout = 5,
    connection_timeout = "60", proxy_address = "proxy.example.com", proxy_port = 3128,
    proxy_password = "hunter2-secret", skip_anon_events = 1, filter_type = "metric,status",
    accepted_categories = "neb", accepted_elements = "host_status,service_status",
    host_severity_threshold = 2, service_severity_threshold = "3", service_severity_operator = ">=",
    some_unknown_thing = "s3cr3t-value-here",
  }
  local expect = {
    pdy_routing_key = "pagerduty.routing_key", pdy_centreon_url = "centreon.url",
    http_proxy_string = "pagerduty.proxy", pdy_source = "centreon.source", http_server_url = "pagerduty.url",
    http_timeout = "pagerduty.timeout", connection_timeout = "pagerduty.timeout",
    proxy_address = "pagerduty.proxy", proxy_port = "pagerduty.proxy", proxy_password = "pagerduty.proxy",
    skip_anon_events = "", filter_type = "alerts.", accepted_categories = "alerts.", accepted_elements = "alerts.",
    -- level 1 is the most important: threshold N with ">=" selects levels 1..N
    host_severity_threshold = '[[route]] host_severity_level_max (level 1 is the most important: ' ..
                              'a threshold N with operator ">=" is host_severity_level_max = N)',
    service_severity_threshold = '[[route]] service_severity_level_max (level 1 is the most important: ' ..
                                 'a threshold N with operator ">=" is service_severity_level_max = N)',
    service_severity_operator = "[[route]] service_severity_level_max",
    some_unknown_thing = "",
  }
  local c, emu = config(conf)
  H.eq(c.socket, "/run/centreon-pagerduty/broker.sock")
  for name, toml_key in pairs(expect) do
    local found = emu:logs("parameter " .. name .. " ", "warning")
    H.eq(#found, 1, "one warning for " .. name)
    H.ok(found[1].text:find(toml_key, 1, true),
         "warning for " .. name .. " names " .. toml_key .. ": " .. found[1].text)
    H.ok(found[1].text:find("/etc/centreon-pagerduty/centreon-pagerduty.toml", 1, true), "names the TOML file")
    H.ok(found[1].level <= 1, "visible at the default log level")
  end
  -- no value of any ignored parameter, nor a piece of the key, in any log line
  for _, r in ipairs(emu.log.records) do
    for _, v in pairs(conf) do
      if type(v) == "string" and #v > 4 then
        H.ok(not r.text:find(v, 1, true), "value logged: " .. r.text)
      end
    end
    for i = 1, #key - 7 do
      H.ok(not r.text:find(key:sub(i, i + 7), 1, true), "piece of the routing key logged: " .. r.text)
    end
  end
end)

H.test("a routing key never reaches the log, even inside an error message", function()
  local key = "abcdef0123456789abcdef0123456789"
  local emu = H.emulator({ conf = { pdy_routing_key = key, socket = "/nonexistent/" .. key .. "/broker.sock" } })
  emu:start()
  emu:publish(H.service_status(1, 2, 1))
  emu:run()
  local saw_failure = false
  for _, r in ipairs(emu.log.records) do
    H.ok(not r.text:find(key, 1, true), "key logged: " .. r.text)
    H.ok(not r.text:find(key:sub(1, 12), 1, true), "key prefix logged: " .. r.text)
    if r.text:find("POST of 1 events", 1, true) then saw_failure = true end
  end
  H.ok(saw_failure, "the failed POST was logged")
end)

H.test("init(nil) and a broken broker_log never raise", function()
  local emu = H.emulator()
  emu:start()
  emu.env.init(nil)
  H.eq(emu.env.centreon_pagerduty.config().max_buffer_size, 1000)
  emu.env.broker_log = nil
  emu.env.init({ pdy_routing_key = "x" })
  H.eq(type(emu.env.flush()), "boolean")
end)

H.run()
