#!/bin/sh
# Runs every shim test file under lua5.3 and lua5.4.
# Prints one line per test, then "N passed, N failed"; exits non-zero on any failure.
#   SHIM_TEST_ONLY=substring   run only the tests whose name contains it
#   SHIM_TEST_SOCKET=path      post to that daemon (e.g. the real one) instead of
#                              starting tests/fake_daemon.py; tests that must control
#                              the daemon's answers are skipped
#   LUAS="lua5.4"              interpreters to use
cd "$(dirname "$0")" || exit 2
passed=0; failed=0; skipped=0
for lua in ${LUAS:-lua5.3 lua5.4}; do
  if ! command -v "$lua" >/dev/null 2>&1; then
    echo "not ok  $lua: interpreter not found"; failed=$((failed + 1)); continue
  fi
  for f in test_*.lua; do
    out=$("$lua" "$f" 2>&1)
    echo "$out" | grep -v '^# result '
    result=$(echo "$out" | grep '^# result ' | tail -n 1)
    if [ -z "$result" ]; then
      echo "not ok  $lua $f: crashed"; failed=$((failed + 1)); continue
    fi
    set -- $result
    passed=$((passed + $3)); failed=$((failed + $4)); skipped=$((skipped + $5))
  done
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
