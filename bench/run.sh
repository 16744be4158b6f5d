#!/usr/bin/env bash
# `run` benchmark (issue: the experiment engine): how much time `autoresearch run` adds around
# the eval itself, on a toy project whose eval is `true; echo "score: 1"`.
#
#   bash bench/run.sh [path/to/autoresearch]     (default: target/release/autoresearch)
#
# It builds nothing: build first with `cargo build --release --locked`. Reports the median wall
# time (hyperfine when installed, else a `date +%s%N` loop) of
#   1. the eval alone:                    sh -c 'true; echo "score: 1"'
#   2. `run --allow-empty --repeat 1` (a re-check, no commit): lock, checks, eval, decide, append
#   3. `run` with a change to the target: the same plus the commit and the revert
# and the overhead = (2 or 3) − 1. Target: under 30 ms of our own time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
runs=${RUNS:-50}
# BENCH_TIMER=loop forces the `date +%s%N` loop even when hyperfine is installed.
use_hyperfine() { [ "${BENCH_TIMER:-}" != loop ] && command -v hyperfine > /dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
mkdir -p "$HOME"

eval_cmd='true; echo "score: 1"'
proj=$work/toy
mkdir -p "$proj"
cd "$proj"
git init -q
echo 'x = 1' > train.py
git add -A
git -c user.name=b -c user.email=b@b commit -qm init
"$bin" --json init --target-file train.py --eval-command "$eval_cmd" \
  --metric-name score --metric-direction lower --time-budget 10s > /dev/null
git add -A
git -c user.name=b -c user.email=b@b commit -qm setup
"$bin" --json run -m baseline > /dev/null
# Each "change" run gets a new, worse value: it is committed, evaluated, discarded and reverted.
cat > "$work/edit.sh" <<'EOF'
n=$(cat .n 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > .n; echo "x = 1.$n" > train.py
EOF

# median_ms <prepare-or-empty> <command...>: the median wall time in ms.
median_ms() {
  local prepare=$1
  shift
  if use_hyperfine; then
    local args=(-N --warmup 5 --runs "$runs" --export-csv "$work/hf.csv")
    [ -n "$prepare" ] && args+=(--prepare "sh $prepare")
    local quoted
    quoted=$(printf "'%s' " "$@")
    hyperfine "${args[@]}" -- "$quoted" > /dev/null 2>&1
    # command,mean,stddev,median,user,system,min,max (seconds)
    awk -F, 'NR == 2 { printf "%.2f", $4 * 1000 }' "$work/hf.csv"
  else
    local t0 t1 i
    : > "$work/times"
    for i in $(seq 5); do [ -n "$prepare" ] && sh "$prepare"; "$@" > /dev/null 2>&1; done
    for i in $(seq "$runs"); do
      [ -n "$prepare" ] && sh "$prepare"
      t0=$(date +%s%N)
      "$@" > /dev/null 2>&1
      t1=$(date +%s%N)
      echo $(( t1 - t0 )) >> "$work/times"
    done
    sort -n "$work/times" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m / 1e6 }'
  fi
}

timer=$(use_hyperfine && echo hyperfine || echo 'date +%s%N loop')
echo "binary: $bin"
echo "timer:  $timer; median of $runs runs after 5 warm-up runs"
echo
eval_ms=$(median_ms "" sh -c "$eval_cmd")
empty_ms=$(median_ms "" "$bin" --json run --allow-empty --repeat 1 -m bench)
change_ms=$(median_ms "$work/edit.sh" "$bin" --json run -m bench)
records=$(wc -l < .autoresearch/experiments.jsonl)
printf '%-44s %8s ms\n' "eval alone (sh -c 'true; echo score: 1')" "$eval_ms"
printf '%-44s %8s ms\n' "run --allow-empty (no commit)" "$empty_ms"
printf '%-44s %8s ms\n' "run with a change (commit + revert)" "$change_ms"
echo
awk -v e="$eval_ms" -v a="$empty_ms" -v c="$change_ms" 'BEGIN {
  printf "overhead of run --allow-empty:        %6.2f ms  (target < 30 ms)\n", a - e
  printf "overhead of run with commit + revert: %6.2f ms\n", c - e
}'
echo "(the ledger ended with $records records)"
