#!/usr/bin/env bash
# Defects 8, 9 and 10 of chaos/README-chaos.md, found by chaos/failover (DESIGN §4.7): what a
# node does after a resync (its spool idle longer than [ha] resync_after), reduced to a few
# events posted with `centreon-pagerduty inject` to dry-run daemons (nothing leaves the machine).
# Node A saw service 1/1 OK, then stayed passive; node B paged for it meanwhile.
#
#  8  B opened an incident; after the failback A's first status of the service is CRITICAL but
#     acknowledged (skipped: acknowledged before it became HARD, for A), then OK: A sends no
#     resolve, B's incident stays open in PagerDuty.
#  9  A's own Broker replays, after the resync, a status from before the gap (CRITICAL, checked
#     long ago; the problem ended while A was passive), then the live OK: A pages (a trigger,
#     then a resolve) for a problem that ended during the gap.
# 10  A had an incident open (pinned); after the resync the first event of the service is an
#     acknowledgement event, not a status: A resolved the incident although the problem was
#     still there, and the next status (CRITICAL, acknowledged) sent nothing. Fixed in 314841f
#     (an acknowledge, then the trigger): kept as a regression check.
# 11  A's incident: PagerDuty took its trigger, then refused its resolve (503) until A stopped; B
#     paged for a new problem of the service (same dedup key: the incident is open again); after
#     the failback, the resync keeps A's old resolve (an incident A knows open) and sends it: it
#     closes B's incident while the service is still CRITICAL. (A mock PagerDuty records it.)
#
# Prints what each case enqueued; exit 1 when a defect shows (0 once fixed).
set -u
cd "$(dirname "$0")/../.." || exit 2
bin=${CENTREON_PAGERDUTY_BIN:-$PWD/target/debug/centreon-pagerduty}
[ -x "$bin" ] || { echo "no daemon binary $bin (cargo build -p centreon-pagerduty)" >&2; exit 2; }
d=$(mktemp -d /tmp/cpd-repro.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT

config() { # node [PagerDuty url: else a dry run]
  mkdir -p "$d/$1"
  if [ -n "${2:-}" ]; then
    pd="routing_key = \"R0UT1NGKEY0000000000000000000001\"
url = \"$2\"
[delivery]
backoff_max = \"1s\""
  else
    pd="dry_run = true"
  fi
  cat > "$d/$1/c.toml" <<EOT
[pagerduty]
$pd
[listen]
socket = "$d/$1/broker.sock"
socket_group = ""
[spool]
dir = "$d/$1/spool"
min_free = "1MiB"
[ha]
resync_after = "1s"
EOT
}
start() { # node
  "$bin" -c "$d/$1/c.toml" run >> "$d/$1/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do [ -S "$d/$1/broker.sock" ] && break; sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null; pid=""; }
post() { # node, events (one per line)
  printf '%s\n' "$2" > "$d/in.ndjson"
  "$bin" -c "$d/$1/c.toml" inject "$d/in.ndjson" >/dev/null
  sleep 0.3
}
resynced() { # node: the daemon logged its resync (else the case proves nothing)
  grep -q 'idle longer than \[ha\] resync_after' "$d/$1/daemon.log" || { echo "$2: no resync logged" >&2; exit 2; }
}
enqueued() { # node [resync: since the resync | gap: before it]
  case ${2:-} in
    resync) sed -n '/idle longer/,$p' "$d/$1/daemon.log" ;;
    gap) sed '/idle longer/q' "$d/$1/daemon.log" ;;
    *) cat "$d/$1/daemon.log" ;;
  esac |
    grep -o 'Enqueued\..*action=[a-z]*' | sed 's/.*action=//' | tr '\n' ' '
}

t=1781000000
status() { # service state last_check last_hard_state_change acknowledgement_type
  printf '{"_type":65565,"category":1,"element":29,"host_id":1,"service_id":%d,"state":%d,"state_type":1,"last_hard_state":%d,"last_hard_state_change":%d,"last_check":%d,"check_attempt":1,"acknowledgement_type":%d,"scheduled_downtime_depth":0,"output":"x","_cache":{"host_name":"h1","service_description":"s%d"}}' \
    "$1" "$2" "$2" "$4" "$3" "$5" "$1"
}
ack() { # service entry_time
  printf '{"_type":65581,"category":1,"element":45,"host_id":1,"service_id":%d,"instance_id":1,"type":1,"author":"op","comment_data":"on it","sticky":true,"notify_contacts":true,"entry_time":%d,"deletion_time":0,"persistent_comment":true,"state":2,"_cache":{"host_name":"h1","service_description":"s%d"}}' \
    "$1" "$2" "$1"
}

rc=0
# --- 8: B's incident, unknown to A after the failback
config a; config b
start a; post a "$(status 1 0 $((t + 10)) $((t - 86400)) 0)"; stop   # A: OK, then passive
start b; post b "$(status 1 2 $((t + 20)) $((t + 20)) 0)"; stop     # B: CRITICAL: a trigger
sleep 1.5
start a
post a "$(ack 1 $((t + 30)))
$(status 1 2 $((t + 40)) $((t + 20)) 2)
$(status 1 0 $((t + 50)) $((t + 50)) 0)"
stop
resynced a 8
echo "8:  B enqueued: $(enqueued b)| A after the failback (acknowledged CRITICAL, then OK): $(enqueued a resync)"
grep -q 'action=resolve' <(sed -n '/idle longer/,$p' "$d/a/daemon.log") || { echo "8:  DEFECT: B's incident stays open"; rc=1; }

# --- 9: A's Broker replays an old status after the resync
rm -rf "$d/a"; config a
start a; post a "$(status 2 0 $((t + 10)) $((t - 86400)) 0)"; stop
sleep 4.5   # a gap of about 5 s: the replayed status, checked 1 s after A's last, is before its middle
start a
post a "$(status 2 2 $((t + 11)) $((t + 11)) 0)
$(status 2 0 $((t + 90)) $((t + 60)) 0)"
stop
resynced a 9
after=$(sed -n '/idle longer/,$p' "$d/a/daemon.log" | grep -c 'Enqueued.*action=trigger')
echo "9:  after the resync, for a CRITICAL checked before the gap and an OK checked since: $after trigger(s) enqueued"
[ "$after" -eq 0 ] || { echo "9:  DEFECT: a page for a problem that ended during the gap"; rc=1; }

# --- 10: an acknowledgement event first after the resync resolves A's open incident
rm -rf "$d/a"; config a
start a; post a "$(status 3 2 $((t + 10)) $((t + 10)) 0)"; stop   # A: CRITICAL: a trigger, incident open
sleep 1.5
start a
post a "$(ack 3 $((t + 30)))
$(status 3 2 $((t + 40)) $((t + 10)) 2)"
stop
resynced a 10
echo "10: A enqueued, before the gap: $(enqueued a gap)| after the resync (an acknowledgement event, then CRITICAL acknowledged): $(enqueued a resync)"
if sed -n '/idle longer/,$p' "$d/a/daemon.log" | grep -q 'Enqueued.*action=resolve'; then
  echo "10: DEFECT: the incident was resolved while the problem is still there"; rc=1
fi

# --- 11: the resync keeps A's old resolve; it closes B's newer incident
python3 chaos/mock_pagerduty.py "$d/pd.ndjson" --control "$d/pd.json" --portfile "$d/pd.port" \
  --pidfile "$d/pd.pid" >/dev/null 2>&1 &
mock=$!
for _ in $(seq 50); do [ -s "$d/pd.port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$d/pd.port")/v2/enqueue"
rm -rf "$d/a" "$d/b"; config a "$url"; config b "$url"
start a; post a "$(status 4 2 $((t + 10)) $((t + 10)) 0)"                       # trigger: taken
echo '{"mode":"status","status":503}' > "$d/pd.json"; sleep 0.3
post a "$(status 4 0 $((t + 20)) $((t + 20)) 0)"; sleep 1; stop                  # resolve: 503 until A stops
echo '{"mode":"ok"}' > "$d/pd.json"; sleep 0.3
start b; post b "$(status 4 2 $((t + 30)) $((t + 30)) 0)"; sleep 1; stop         # B: a new problem, a trigger
sleep 1.5
start a; sleep 2
post a "$(status 4 2 $((t + 40)) $((t + 30)) 2)"; sleep 1; stop                  # still CRITICAL (acknowledged)
resynced a 11
kill "$mock" 2>/dev/null; wait "$mock" 2>/dev/null
taken=$(python3 -c 'import json,sys
print(" ".join(r["action"] for r in map(json.loads, open(sys.argv[1])) if r["processed"]))' "$d/pd.ndjson")
echo "11: PagerDuty took, in order: $taken (the service is CRITICAL since B's trigger)"
case $taken in
  *"trigger trigger resolve") echo "11: DEFECT: B's incident closed by A's old resolve"; rc=1 ;;
esac
exit $rc
