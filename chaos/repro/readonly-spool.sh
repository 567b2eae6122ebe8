#!/usr/bin/env bash
# The daemon (re)started after a crash (the spool's -wal and -shm left in place) while its spool
# is read-only, then the spool made writable again: the daemon must take batches again, by
# itself or after systemd's restart (Restart=on-failure: any exit status but 2).
# Before ff8c98e it started with a read-only SQLite connection, said healthy, and refused every
# batch (503 'attempt to write a readonly database') until restarted by hand.
# Run as root (the daemon runs as nobody: root ignores file modes). Exit 1 on the bug.
set -u
cd "$(dirname "$0")/../.." || exit 2
bin=${CENTREON_PAGERDUTY_BIN:-$PWD/target/debug/centreon-pagerduty}
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 2; }
d=$(mktemp -d /tmp/cpd-repro.XXXXXX); chmod 0755 "$d"
mkdir -p "$d/spool" "$d/run"; chown nobody:nogroup "$d/spool" "$d/run"
cat > "$d/c.toml" <<EOT
[pagerduty]
dry_run = true
[listen]
socket = "$d/run/broker.sock"
socket_group = ""
[spool]
dir = "$d/spool"
min_free = "1MiB"
EOT
chmod 0644 "$d/c.toml"
printf '%s\n' '{"_type":65565,"category":1,"element":29,"host_id":1,"service_id":1,"state":2,"state_type":1,"last_check":1781000001,"last_hard_state":2,"last_hard_state_change":1781000001,"acknowledgement_type":0,"scheduled_downtime_depth":0,"output":"CRITICAL"}' > "$d/ev.ndjson"
as_nobody="setpriv --reuid=nobody --regid=nogroup --clear-groups"
start() { ( $as_nobody "$bin" run -c "$d/c.toml" >>"$d/daemon.log" 2>&1 & echo $! > "$d/pid"; wait $!; echo $? > "$d/exit" ) & sleep 1.5; }
running() { [ ! -e "$d/exit" ]; }
rm -f "$d/exit"; start; kill -9 "$(cat "$d/pid")"; sleep 0.5   # a spool left by a crash (-wal, -shm)
chmod 0400 "$d"/spool/spool.db*; chmod 0500 "$d/spool"          # read-only
rm -f "$d/exit"; start                                          # started on the read-only spool
rc=0
if running; then
  echo "started on the read-only spool (health: $(curl -s --unix-socket "$d/run/broker.sock" http://localhost/v1/health))"
else
  status=$(cat "$d/exit")
  echo "refused to start on the read-only spool, exit $status: $(tail -n 1 "$d/daemon.log")"
  [ "$status" = 2 ] && { echo "BUG: exit 2, systemd would not restart it (RestartPreventExitStatus=2)"; rc=1; }
fi
chmod 0750 "$d/spool"; chmod 0640 "$d"/spool/spool.db*         # writable again
if ! running; then echo "restarted as systemd would"; rm -f "$d/exit"; start; fi
out=$("$bin" -c "$d/c.toml" inject "$d/ev.ndjson" 2>&1) || { echo "BUG: the daemon still refuses batches: $out"; rc=1; }
[ $rc -eq 0 ] && echo "ok: $out"
kill "$(cat "$d/pid")" 2>/dev/null; sleep 1
if [ -n "${KEEP:-}" ]; then echo "kept $d"; else rm -rf "$d"; fi
exit $rc
