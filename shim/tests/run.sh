#!/bin/sh
# The single entry point of the shim tests: runs every test file under lua5.3 and lua5.4.
# Prints one line per test, then "N passed, N failed" last; exits non-zero on any failure.
#   SHIM_TEST_ONLY=substring   run only the tests whose name contains it
#   SHIM_TEST_SOCKET=path      post to that daemon (e.g. the real one) instead of
#                              starting tests/fake_daemon.py; tests that must control
#                              the daemon's answers are skipped
#   CENTREON_PAGERDUTY_BIN     the daemon binary for the end-to-end tests (test_e2e_*.lua)
#                              (default: target/debug/centreon-pagerduty at the repository
#                              root; a relative path is taken from the current directory,
#                              else from the repository root; no binary → those tests are
#                              skipped with a SKIP line)
#   SHIM_E2E_KEEP=1            keep the end-to-end tests' directories (config, logs, records)
#   LUAS="lua5.4"              interpreters to use
start_dir=$(pwd)
cd "$(dirname "$0")" || exit 2
root=$(cd ../.. && pwd)
bin=${CENTREON_PAGERDUTY_BIN:-$root/target/debug/centreon-pagerduty}
case $bin in
  /*) ;;
  *) if [ -e "$start_dir/$bin" ]; then bin=$start_dir/$bin; else bin=$root/$bin; fi ;;
esac
CENTREON_PAGERDUTY_BIN=$bin
export CENTREON_PAGERDUTY_BIN
have_bin=yes
if [ ! -x "$bin" ]; then
  have_bin=no
  echo "SKIP    end-to-end tests (test_e2e_*.lua): no daemon binary at $bin" \
       "(cargo build -p centreon-pagerduty, or set CENTREON_PAGERDUTY_BIN)"
fi
passed=0; failed=0; skipped=0
for lua in ${LUAS:-lua5.3 lua5.4}; do
  if ! command -v "$lua" >/dev/null 2>&1; then
    echo "not ok  $lua: interpreter not found"; failed=$((failed + 1)); continue
  fi
  for f in test_*.lua; do
    case $f in test_e2e_*)
      if [ $have_bin = no ]; then
        echo "SKIP    $lua $f: no daemon binary"; skipped=$((skipped + 1)); continue
      fi ;;
    esac
    out=$("$lua" "$f" 2>&1)
    echo "$out" | grep -v '^# result '
    result=$(echo "$out" | grep '^# result ' | tail -n 1)
    if [ -z "$result" ]; then
      echo "not ok  $lua $f: crashed"; failed=$((failed + 1)); continue
    fi
    # "# result PASSED FAILED SKIPPED"
    read -r _ _ n_passed n_failed n_skipped <<EOF
$result
EOF
    passed=$((passed + n_passed)); failed=$((failed + n_failed)); skipped=$((skipped + n_skipped))
  done
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
