#!/usr/bin/env bash
# Sync benchmark: what `sync` costs as the other workers' history grows.
#
# Two clones of one project and a bare repository on this machine. Clone `b` holds N records
# (written straight into its ledger, in the writer's own shape), clone `a` a baseline.
#
#   publish       `sync` in `b`: its N records published and pushed;
#   bring         `sync` in `a`: N records fetched, appended and its own pushed;
#   idle          `sync` in `a` again: nothing new;
#   status        `status` in `a` afterwards (the union's fold, from the cache);
#   one more      `sync` in `b` after one more record, and what it added to `b`'s objects and
#                 to the bare repository (a publication writes the changed file of the shard,
#                 not the whole shard again).
#
# Each line gives the wall time and the peak resident memory (GNU time).
#
#   bash bench/sync.sh [path/to/autoresearch] [N]   (defaults: target/release/autoresearch, 100000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
n=${2:-100000}
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench/sync.sh needs GNU time (/usr/bin/time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"

mkdir -p "$work/a" && cd "$work/a" && git init -q
echo "x = 3" > train.py
# shellcheck disable=SC2016 # the eval's own `$(...)`, expanded when it runs
printf '#!/bin/sh\necho "score: $(sed -n "s/^x = //p" train.py)"\n' > eval.sh
git add -A && git commit -qm init
"$bin" --json init --target-file train.py --eval-command 'sh eval.sh' --metric-name score \
  --metric-direction lower --protected eval.sh >/dev/null
git add -A && git commit -qm setup
"$bin" --json run -m baseline >/dev/null
git init -q --bare "$work/lab.git"
git remote add lab "$work/lab.git" && git push -q lab autoresearch
git clone -q -o lab -b autoresearch "$work/lab.git" "$work/b"

# N records in `b`, as its writer would have written them.
python3 - "$work/b/.autoresearch/experiments.jsonl" "$n" <<'EOF'
import json, os, random, sys
path, n = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.dirname(path), exist_ok=True)
rng = random.Random(7)
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "run": i, "id": "%011x-%05x-%016x" % (1700000000000 + i, 1, rng.getrandbits(64)),
            "timestamp": "2026-12-04T04:42:16.845Z",
            "status": "baseline" if i == 0 else "discarded",
            "metric": 2.0 + rng.random(), "metrics": {}, "samples": [], "delta": 0.1,
            "summary": "idea %d: try a wider layer" % i, "commit": None, "parent": None,
            "branch": "autoresearch", "duration_s": 0.4, "exit_code": 0, "reason": None,
            "flags": [], "source": "run", "code": "0f6b9570f7f88f1d", "setup": "ba7d5772a4c3d86a",
        }, separators=(",", ":")) + "\n")
EOF

measure() {
  local name=$1 dir=$2; shift 2
  local out
  out=$(cd "$dir" && { /usr/bin/time -f "%e %M" "$bin" --json "$@" >/dev/null; } 2>&1 | tail -1) || {
    echo "$name: \`autoresearch $*\` failed in $dir" >&2; exit 1; }
  printf '%-8s %6s s  %7s MB\n' "$name" "${out% *}" "$(( ${out#* } / 1024 ))"
}

echo "sync with $n records from another worker ($(du -h "$work/b/.autoresearch/experiments.jsonl" | cut -f1) of ledger)"
measure publish "$work/b" sync lab
measure bring "$work/a" sync lab
measure idle "$work/a" sync lab
measure status "$work/a" status
objects() { du -sk "$1" | cut -f1; }
before_b=$(objects "$work/b/.git/objects") before_lab=$(objects "$work/lab.git/objects")
(cd "$work/b" && "$bin" --json record --status discarded --metric 2.5 -m "one more" >/dev/null)
measure "one more" "$work/b" sync lab
echo "one more: +$(( $(objects "$work/b/.git/objects") - before_b )) KB in b, +$(( $(objects "$work/lab.git/objects") - before_lab )) KB in the bare repository"
