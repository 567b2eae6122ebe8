#!/bin/sh
# Benchmark of the shim (see bench.lua): the cost it adds to Broker's output thread,
# under lua5.3 and lua5.4, against the REAL daemon (release build, dry_run = true), at
# max_buffer_size 1, 100 and 1000; beside it an EMULATION of the old connectors' way
# (one blocking socket.http POST per event to a loopback mock PagerDuty, answering at
# once, then after 200 ms on a small sample). Prints a Markdown table.
#
#   CENTREON_PAGERDUTY_BIN   daemon binary (default target/release/centreon-pagerduty;
#                            build it with: cargo build --release -p centreon-pagerduty)
#   BENCH_EVENTS=20000       events per shim measurement
#   BENCH_OLD_EVENTS=20000   events for the old-way emulation, immediate answer
#   BENCH_SLOW_EVENTS=50     events for the old-way emulation, 200 ms answer
#   BENCH_BATCHES="1 100 1000"   LUAS="lua5.3 lua5.4"   BENCH_RUNS=3 (best of N runs)
#   BENCH_SKIP_OLD=1         only the shim      SHIM_PATH=FILE   another version of the shim
#   BENCH_SEVERITY_US=2      CPU burnt by each get_severity() call for a resource without severity
#                            (Broker throws and catches a C++ exception there; see bench.lua)
#   BENCH_CHANGES=0.01       that fraction of the events are HARD state changes (urgent: posted at
#                            once); default 0: steady statuses only
#   BENCH_RATE=1000          the shim's clock advances 1/RATE s per event (Broker at RATE events/s:
#                            max_buffer_age and the pacing of urgent POSTs); default the real clock
set -u
start_dir=$(pwd)
cd "$(dirname "$0")" || exit 2
here=$(pwd)
root=$(cd ../.. && pwd)
bin=${CENTREON_PAGERDUTY_BIN:-$root/target/release/centreon-pagerduty}
case $bin in /*) ;; *) if [ -e "$start_dir/$bin" ]; then bin=$start_dir/$bin; else bin=$root/$bin; fi ;; esac
if [ ! -x "$bin" ]; then
  echo "no daemon binary at $bin: cargo build --release -p centreon-pagerduty" >&2
  exit 2
fi
events=${BENCH_EVENTS:-20000}
old_events=${BENCH_OLD_EVENTS:-20000}
slow_events=${BENCH_SLOW_EVENTS:-50}
batches=${BENCH_BATCHES:-1 100 1000}
luas=${LUAS:-lua5.3 lua5.4}
runs=${BENCH_RUNS:-3}

dir=$(mktemp -d /tmp/cpd-bench.XXXXXX)
daemon_pid=; mock_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  sleep 0.2
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

start_daemon() { # a fresh spool each time
  rm -rf "$dir/spool" "$dir/broker.sock"
  cat >"$dir/daemon.toml" <<EOF
[pagerduty]
dry_run = true
[listen]
socket = "$dir/broker.sock"
socket_group = ""
[spool]
dir = "$dir/spool"
max_size = "1GiB"
min_free = "64MiB"
[log]
level = "warn"
EOF
  "$bin" run -c "$dir/daemon.toml" >>"$dir/daemon.log" 2>&1 &
  daemon_pid=$!
  i=0
  while ! curl -s --unix-socket "$dir/broker.sock" -o /dev/null http://localhost/v1/health 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "daemon did not start:" >&2; cat "$dir/daemon.log" >&2; exit 1; }
    sleep 0.05
  done
}
stop_daemon() { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=; }

start_mock() { # $1: delay in seconds
  echo "{\"delay\": $1}" >"$dir/mock.json"
  rm -f "$dir/mock.port"
  python3 "$here/mock_pagerduty.py" "$dir/mock" --no-record --single-thread --control "$dir/mock.json" \
    --portfile "$dir/mock.port" >>"$dir/mock.log" 2>&1 &
  mock_pid=$!
  i=0
  while [ ! -s "$dir/mock.port" ]; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "mock did not start" >&2; exit 1; }
    sleep 0.05
  done
  url="http://127.0.0.1:$(cat "$dir/mock.port")/v2/enqueue"
}
stop_mock() { kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null; mock_pid=; }

# best of $runs (lowest wall time)
best() {
  bestline=
  r=0
  while [ $r -lt "$runs" ]; do
    line=$("$@" | grep '^RESULT') || { echo "benchmark failed: $*" >&2; exit 1; }
    if [ -z "$bestline" ]; then bestline=$line
    else
      a=$(echo "$line" | sed 's/.*wall_us=\([0-9.]*\).*/\1/')
      b=$(echo "$bestline" | sed 's/.*wall_us=\([0-9.]*\).*/\1/')
      [ "$(awk -v a="$a" -v b="$b" 'BEGIN { print (a < b) }')" = 1 ] && bestline=$line
    fi
    r=$((r + 1))
  done
  echo "$bestline"
}

field() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }

results="$dir/results"
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for lua in $luas; do
  command -v "$lua" >/dev/null || { echo "no $lua" >&2; exit 2; }
  for b in $batches; do
    start_daemon
    best "$lua" "$here/bench.lua" shim "$dir/broker.sock" "$b" "$events" >>"$results"
    stop_daemon
  done
  best "$lua" "$here/bench.lua" encode "$events" >>"$results"
  # the urgency test alone (best of $runs, lowest ns)
  bestline=; r=0
  while [ $r -lt "$runs" ]; do
    line=$("$lua" "$here/bench.lua" urgency | grep '^RESULT')
    a=$(echo "$line" | sed -n 's/.* ns=\([0-9.]*\).*/\1/p'); b=$(echo "$bestline" | sed -n 's/.* ns=\([0-9.]*\).*/\1/p')
    if [ -z "$bestline" ] || [ -z "$a" ] || [ "$(awk -v a="$a" -v b="$b" 'BEGIN { print (a < b) }')" = 1 ]; then
      bestline=$line
    fi
    r=$((r + 1))
  done
  echo "$bestline" >>"$results"
  [ -n "${BENCH_SKIP_OLD:-}" ] && continue
  start_mock 0
  best "$lua" "$here/bench.lua" old "$url" "$old_events" | sed 's/$/ note=mock-answers-at-once/' >>"$results"
  stop_mock
  start_mock 0.2
  "$lua" "$here/bench.lua" old "$url" "$slow_events" | grep '^RESULT' | sed 's/$/ note=mock-answers-after-200ms/' >>"$results"
  stop_mock
done

echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPU(s);" \
     "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); best of $runs run(s);" \
     "BENCH_CHANGES=${BENCH_CHANGES:-0} BENCH_RATE=${BENCH_RATE:-real clock}"
echo
echo "| Lua | what | batch (max_buffer_size) | events | CPU µs/event | wall µs/event | POSTs | get_severity calls/event | broker_cache calls/event |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
while read -r line; do
  mode=$(field "$line" mode); lua=$(field "$line" lua); note=$(field "$line" note)
  case $mode in
    shim) what="shim → real daemon (dry run)" ;;
    encode) what="shim write() without I/O (enrich + encode + buffer + urgency test)" ;;
    urgency) what="urgency test alone: $(field "$line" ns) ns/event ($(field "$line" note))" ;;
    old-emulation) case $note in
        *200ms*) what="EMULATION of the old connectors: 1 blocking POST/event, PagerDuty mock answering after 200 ms" ;;
        *) what="EMULATION of the old connectors: 1 blocking POST/event, PagerDuty mock answering at once" ;;
      esac ;;
  esac
  sev=$(field "$line" sev_calls); calls=$(field "$line" cache_calls)
  posts=$(field "$line" posts); cpu=$(field "$line" cpu_us); wall=$(field "$line" wall_us)
  echo "| $lua | $what | $(field "$line" batch) | $(field "$line" events) | ${cpu:-–} | ${wall:-–}" \
       "| ${posts:-–} | ${sev:-–} | ${calls:-–} |"
done <"$results"
