#!/usr/bin/env bash
# Crash injection at scale (docs/RELIABILITY.md 27): `run` and `record` SIGKILLed at random
# points, AUTORESEARCH_CRASH_TRIALS times, with every invariant of tests/cli/crash.rs checked
# after each kill and at the end. CI runs the same test with a dozen trials.
#
#   bash bench/crash.sh [TRIALS] [SEED]        (default: 1000 trials, a fixed seed)
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-1000}
seed=${2:-11400714819323198485}
start=$(date +%s)
AUTORESEARCH_CRASH_TRIALS=$trials AUTORESEARCH_CRASH_SEED=$seed \
  cargo test --release --locked --test cli killed_runs_and_records_keep_every_invariant \
  -- --exact crash::killed_runs_and_records_keep_every_invariant --nocapture 2>&1 \
  | grep -E -A2 "crash injection|test result|panicked" || true
echo "wall time: $(( $(date +%s) - start )) s (build included)"
