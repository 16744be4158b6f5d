#!/usr/bin/env bash
# Watch benchmark: what `watch` costs while nothing happens, and how fast it starts.
#
#   idle json     CPU seconds (user + system) of 30 s of `watch --json` into a pipe, no activity;
#   idle frame    the same for the dashboard in a terminal (a pty from `script`), which redraws
#                 its clock once a second;
#   busy frame    the dashboard for 30 s while an eval prints a line every 100 ms;
#   first event   wall time from start to the `hello` line, and to the first frame (`--once`),
#                 on a ledger of 100,000 records.
#
#   bash bench/watch.sh [path/to/autoresearch] [seconds]   (defaults: target/release/autoresearch, 30)
#
# Target (issue 13): 30 s of idle watching uses under 0.3 s of CPU.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
secs=${2:-30}
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
command -v script >/dev/null || { echo "bench/watch.sh needs \`script\` (util-linux)" >&2; exit 2; }
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
mkdir -p "$HOME"

# A project with a baseline and a few runs; its eval prints a line every 100 ms for $1 seconds.
project() {
  local root=$1
  mkdir -p "$root" && cd "$root" && git init -q
  echo "x = 3" > train.py
  cat > eval.sh <<'EOS'
#!/bin/sh
end=$(( $(date +%s) + ${EVAL_SECS:-0} ))
while [ "$(date +%s)" -lt "$end" ]; do echo "step $(date +%s.%N) loss 2.0"; sleep 0.1; done
echo "score: $(sed -n 's/^x = //p' train.py)"
EOS
  git add -A && git commit -qm init
  "$bin" --json init --target-file train.py --eval-command 'sh eval.sh' --metric-name score \
    --metric-direction lower --protected eval.sh --time-budget 10m >/dev/null
  git add -A && git commit -qm setup
  "$bin" --json run -m baseline >/dev/null
  for x in 2.5 2 2.8; do
    echo "x = $x" > train.py
    "$bin" --json run -m "x=$x" >/dev/null
  done
}

# CPU seconds of the process `pid` so far (all its threads): the scheduler's nanoseconds,
# finer than the clock ticks of /proc/<pid>/stat.
cpu_of() {
  local total=0 t
  for t in /proc/"$1"/task/*/schedstat; do
    total=$(( total + $(cut -d' ' -f1 "$t") ))
  done
  awk -v ns="$total" 'BEGIN { printf "%.4f", ns / 1e9 }'
}

# The pid of the `watch` started under `script` (its parent).
watch_under() {
  local parent=$1 pid=""
  for _ in $(seq 50); do
    pid=$(pgrep -P "$parent" -f "autoresearch watch" || true)
    [ -n "$pid" ] && { echo "$pid"; return; }
    sleep 0.1
  done
  echo "watch did not start" >&2; exit 1
}

measure_json() {
  cd "$1"
  "$bin" watch --json > "$work/json.out" &
  local pid=$!
  sleep "$secs"
  cpu_of "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

measure_frame() {
  cd "$1"
  # stdin: a FIFO held open and silent, a terminal nobody types into (not /dev/zero: `script`
  # would copy its endless bytes into memory; not /dev/null: it would stop at the end of it).
  rm -f "$work/in" && mkfifo "$work/in"
  script -qfec "stty cols 120 rows 40; $bin watch" /dev/null < "$work/in" > /dev/null &
  local parent=$!
  exec 4> "$work/in"
  local pid
  pid=$(watch_under "$parent")
  sleep "$secs"
  cpu_of "$pid"
  kill "$pid"
  exec 4>&-
  wait "$parent" 2>/dev/null || true
}

p=$work/p
project "$p" >/dev/null
idle_json=$(measure_json "$p")
idle_frame=$(measure_frame "$p")
# A long eval in the background, printing all along.
echo "x = 1.5" > "$p/train.py"
(cd "$p" && EVAL_SECS=$((secs + 10)) exec "$bin" --json run -m busy > "$work/busy.json" 2>&1) &
run=$!
sleep 1
busy_frame=$(measure_frame "$p")
kill -TERM "$run" 2>/dev/null || { echo "the busy run ended before the measurement did:" >&2; head -c 600 "$work/busy.json" >&2; exit 1; }
wait "$run" 2>/dev/null || true

# Start-up on a ledger of 100,000 records.
big=$work/big
mkdir -p "$big/.autoresearch" && cd "$big" && git init -q
echo "x = 1" > train.py
printf 'target_file = "train.py"\neval_command = "true"\nmetric_name = "loss"\nmetric_direction = "lower"\n' > autoresearch.toml
echo '*' > .autoresearch/.gitignore
git add -A && git commit -qm init
python3 - "$big/.autoresearch/experiments.jsonl" <<'PY'
import json, sys
best = 100.0
with open(sys.argv[1], "w") as f:
    for i in range(100_000):
        status, metric = "discarded", best + (i % 97) / 10
        if i == 0: status, metric = "baseline", best
        elif i % 500 == 0: best -= 0.01; status, metric = "kept", best
        elif i % 211 == 0: status, metric = "crash", None
        f.write(json.dumps({"run": i, "id": f"id-{i}", "timestamp": "2026-01-01T00:00:00.000Z",
            "status": status, "metric": metric, "summary": f"idea {i % 50}",
            "branch": "autoresearch", "source": "record"}) + "\n")
PY
"$bin" --json status > /dev/null   # the summary cache, as any reader leaves it
hello=$( { /usr/bin/time -f %e "$bin" watch --json --once > /dev/null; } 2>&1 )
frame=$( { /usr/bin/time -f %e "$bin" --human watch --once > /dev/null; } 2>&1 )

printf '%-12s %s\n' "scenario" "value"
printf '%-12s %s s CPU in %s s\n' "idle json" "$idle_json" "$secs"
printf '%-12s %s s CPU in %s s\n' "idle frame" "$idle_frame" "$secs"
printf '%-12s %s s CPU in %s s\n' "busy frame" "$busy_frame" "$secs"
printf '%-12s %s s (hello, 100k records)\n' "first event" "$hello"
printf '%-12s %s s (first frame, 100k records)\n' "first frame" "$frame"
