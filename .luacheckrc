-- luacheck (Debian: lua-check) for the Lua of this repository: the Broker stream connector
-- shim/centreon-pagerduty.lua, its tests (shim/tests) and the chaos suite (chaos/).
--   luacheck .                         what .ci/run checks: no warning at all
--   luacheck --std lua54+broker .      the same against Lua 5.4's standard library
-- Broker runs the shim under Lua 5.3 (EL8) or 5.4 (EL9): the code must be valid in both, so
-- CI checks it against each standard library.

-- What Centreon Broker's Lua runtime (broker/lua/src: luabinding.cc, broker_utils.cc,
-- broker_cache.cc, broker_log.cc) defines before it loads a stream connector.
stds.broker = {
  read_globals = {
    "broker",       -- broker.json_encode, broker.bbdo_version, broker.parse_perfdata...
    "broker_log",   -- broker_log:info/warning/error(level, text), broker_log:set_parameters
    "broker_cache", -- broker_cache:get_hostname(), get_host(), get_service(), get_severity()...
  },
}

std = "lua53+broker"
max_line_length = 120
-- A method (function t:m()) keeps its implicit self even when it does not use it: the stubs
-- of Broker's C methods (broker_cache:get_...) are called with ':' like the real ones.
self = false
exclude_files = { "target/**", "fuzz/target/**" }

files["shim/centreon-pagerduty.lua"] = {
  -- what Broker reads from a stream connector: its API version and the entry points
  globals = { "broker_api_version", "init", "filter", "write", "flush",
              -- the shim's own table for tests and diagnostics (Broker ignores it)
              "centreon_pagerduty" },
  -- the tests' clock hook (shim/tests/emulator.lua): read only, nil under Broker
  read_globals = { "CENTREON_PAGERDUTY_NOW" },
}
