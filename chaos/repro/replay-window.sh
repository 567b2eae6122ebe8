#!/usr/bin/env bash
# A design limit found while building the chaos run: a Broker replay of more than 32 statuses
# per resource (DESIGN §4.2 replay window) pages again. Posts the same stream twice (as a Broker
# replay would after a cbd restart in the middle of a backlog drain): 20 statuses per service,
# then 50. Prints how many PagerDuty events the second pass enqueued. Exit 1 if any.
set -u
cd "$(dirname "$0")/../.." || exit 2
bin=${CENTREON_PAGERDUTY_BIN:-$PWD/target/debug/centreon-pagerduty}
d=$(mktemp -d /tmp/cpd-repro.XXXXXX)
cat > "$d/c.toml" <<EOT
[pagerduty]
dry_run = true
[listen]
socket = "$d/broker.sock"
socket_group = ""
[spool]
dir = "$d/spool"
min_free = "1MiB"
EOT
python3 - "$d" <<'EOT'
import json, sys
d = sys.argv[1]
for n, host in ((20, 7), (50, 8)):
    with open("%s/s%d.ndjson" % (d, n), "w") as out:
        t = 1781000000
        for k in range(n):
            for sid in range(1, 6):
                st = 2 if (k + sid) % 4 in (1, 2) else 0   # OK, CRITICAL, CRITICAL, OK, ...
                t += 1
                out.write(json.dumps({"_type": 65565, "category": 1, "element": 29, "host_id": host,
                    "service_id": sid, "state": st, "state_type": 1, "last_hard_state": st,
                    "last_hard_state_change": t, "last_check": t, "check_attempt": 1,
                    "acknowledgement_type": 0, "scheduled_downtime_depth": 0, "output": "x"}) + "\n")
EOT
"$bin" -c "$d/c.toml" run > "$d/daemon.log" 2>&1 & pid=$!
sleep 1.5
rc=0
for n in 20 50; do
  "$bin" -c "$d/c.toml" inject "$d/s$n.ndjson" >/dev/null; a=$(grep -c "Enqueued" "$d/daemon.log")
  "$bin" -c "$d/c.toml" inject "$d/s$n.ndjson" >/dev/null; b=$(grep -c "Enqueued" "$d/daemon.log")
  echo "$n statuses per service: the replay enqueued $((b - a)) PagerDuty events"
  [ $((b - a)) -eq 0 ] || rc=1
done
kill $pid; wait $pid 2>/dev/null; rm -rf "$d"
exit $rc
