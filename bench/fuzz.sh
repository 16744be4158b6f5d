#!/usr/bin/env bash
# Fuzz run. The in-process properties of tests/cli/fuzz.rs (the config loader, the ledger
# readers, the metric parser: `fuzz::prop_*`) with far more cases than CI gives them (10,000
# each), one property after the other, with the time each took and the total.
#
#   bash bench/fuzz.sh [cases]          (default: 1000000 cases per property)
#
# Built optimised, so that 10^6 cases take minutes rather than an hour, but with debug
# assertions and overflow checks on, so that an overflow panics here as it does in CI's debug
# build; into target/fuzz, so the release binary the other benchmarks measure is left alone.
# The binary-level property (`fuzz::cli_*`) is not run: it starts five processes a case (set
# FUZZ_CLI_CASES and run it with `cargo test` for that).
# A failure stops the run and prints the smallest failing input proptest found.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cases=${1:-1000000}
export CARGO_TARGET_DIR=$here/target/fuzz
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cd "$here"
cargo test --release --locked --test cli --no-run 2>&1 | tail -1
props=$(cargo test -q --release --locked --test cli -- --list fuzz::prop_ 2>/dev/null | sed -n 's/: test$//p')
[ -n "$props" ] || { echo "no fuzz::prop_* tests found" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%8.1f s", b - a }'; }
echo "$cases cases per property, one property at a time"
total_start=$(date +%s.%N)
for prop in $props; do
  start=$(date +%s.%N)
  if ! PROPTEST_CASES=$cases cargo test -q --release --locked --test cli -- --exact "$prop" >"$log" 2>&1; then
    cat "$log"
    echo "$prop FAILED after $(since "$start")" >&2
    exit 1
  fi
  printf '%-70s %s\n' "$prop" "$(since "$start")"
done
printf '%-70s %s\n' "total" "$(since "$total_start")"
