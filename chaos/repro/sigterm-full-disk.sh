#!/usr/bin/env bash
# SIGTERM while the spool cannot be written (disk full): the daemon must still stop (DESIGN §4.4:
# finish in-flight requests within shutdown_grace, exit). Found by the chaos run: the committer
# retried a failed commit of delivery outcomes every second, forever, and shutdown waited for
# it (fixed: the retries end with the grace). Needs root (a small tmpfs holds the spool).
# Exit 1 on the bug.
set -u
cd "$(dirname "$0")/../.." || exit 2
bin=${CENTREON_PAGERDUTY_BIN:-$PWD/target/debug/centreon-pagerduty}
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 2; }
d=$(mktemp -d /tmp/cpd-repro.XXXXXX)
mkdir -p "$d/spool"
mount -t tmpfs -o size=6m tmpfs "$d/spool" || { echo "cannot mount a tmpfs here"; rm -rf "$d"; exit 2; }
python3 chaos/mock_pagerduty.py "$d/pd.ndjson" --control "$d/pd.json" --portfile "$d/pd.port" --pidfile "$d/pd.pid" &
sleep 1
echo '{"mode":"slow","delay":3}' > "$d/pd.json"
cat > "$d/c.toml" <<EOT
[pagerduty]
routing_key = "R0UT1NGKEY0000000000000000000001"
url = "http://127.0.0.1:$(cat "$d/pd.port")/v2/enqueue"
timeout = "10s"
[listen]
socket = "$d/broker.sock"
socket_group = ""
[spool]
dir = "$d/spool"
min_free = "1MiB"
[delivery]
shutdown_grace = "5s"
EOT
python3 - "$d" <<'EOT'
import json, sys
with open(sys.argv[1] + "/ev.ndjson", "w") as out:
    for sid in range(1, 21):
        out.write(json.dumps({"_type": 65565, "category": 1, "element": 29, "host_id": 1, "service_id": sid,
            "state": 2, "state_type": 1, "last_check": 1781000000 + sid, "last_hard_state": 2,
            "last_hard_state_change": 1781000000 + sid, "acknowledgement_type": 0,
            "scheduled_downtime_depth": 0, "output": "CRITICAL"}) + "\n")
EOT
"$bin" -c "$d/c.toml" run > "$d/daemon.log" 2>&1 & pid=$!
sleep 1.5
"$bin" -c "$d/c.toml" inject "$d/ev.ndjson"
sleep 0.5                                                      # deliveries in flight (PagerDuty answers in 3 s)
dd if=/dev/zero of="$d/spool/filler" bs=64k 2>/dev/null         # the disk is full
sleep 4                                                        # answers in: their outcomes cannot be committed
grep -m1 "Cannot record delivery outcomes" "$d/daemon.log"
kill -TERM $pid
t0=$(date +%s)
while kill -0 $pid 2>/dev/null && [ $(( $(date +%s) - t0 )) -lt 20 ]; do sleep 0.5; done
rc=0
if kill -0 $pid 2>/dev/null; then
  echo "BUG: still running 20 s after SIGTERM (shutdown_grace 5 s): $(grep -c 'Cannot record' "$d/daemon.log") failed commits so far"
  kill -9 $pid; rc=1
else
  wait $pid; echo "ok: exited $? after $(( $(date +%s) - t0 )) s"
fi
kill "$(cat "$d/pd.pid")" 2>/dev/null
sleep 0.5
umount "$d/spool"; rm -rf "$d"
exit $rc
