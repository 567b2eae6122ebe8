-- The emulator's Engine (emulator.lua, modelled on the real capture) through the real shim and
-- the real daemon: an Engine restarted while a downtime holds a problem pages nobody; the real
-- deletion does, and a fresh Engine's first OK results resolve nothing (DESIGN §4.2).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local R = require("real_daemon")

H.test("Engine restarts during a downtime page nobody; DEL_SVC_DOWNTIME does; first checks resolve nothing",
       function()
  local env = R.start()
  local emu = H.emulator({ conf = { socket = env.socket } })
  emu.now = 1796497355
  emu:start()
  local eng = emu:engine()
  eng:add_host({ host_id = 1, name = "host_1", max_check_attempts = 1 })
  eng:add_service({ host_id = 1, service_id = 1, description = "svc_1", max_check_attempts = 3 })
  eng:add_service({ host_id = 1, service_id = 2, description = "svc_2", max_check_attempts = 2 })
  local function checks(states, n)
    for _ = 1, n or 1 do
      emu:advance(5)
      eng:check(1, nil, states.host or 0, "host")
      eng:check(1, 1, states[1] or 0, "svc_1")
      eng:check(1, 2, states[2] or 0, "svc_2")
      emu:run()
    end
  end
  eng:start()
  checks({}, 3)                                    -- (a): never checked, then OK: nothing owed
  local id = eng:schedule_downtime({ host_id = 1, service_id = 2, duration = 600 })
  checks({ [2] = 2 }, 3)                           -- CRITICAL, HARD inside the downtime: held
  for _ = 1, 2 do                                  -- (g2): Engine restarted twice while it runs
    eng:stop(); emu:run(); emu:advance(4); eng:start(); emu:run()
    checks({ [2] = 2 }, 2)
  end
  H.eq(env:pd_count(), 0, "nobody paged before the deletion")
  eng:delete_downtime(id); emu:run()               -- (g4): the depth drops: trigger
  checks({ [2] = 2 }, 1)
  checks({}, 2)                                    -- OK: resolve
  emu:run(2)
  H.eq(emu:pending(), 0)
  R.check_keys(env:wait_pd(2, 15, 1), { ["1_2"] = { "trigger critical", "resolve" } })
end)

H.run()
