#!/usr/bin/env bash
# Report and review benchmark. Builds ledgers of 1,000, 10,000 and 100,000 records (one
# baseline, a keep every 500 runs, a crash every 211, the rest discarded with a wobble) in
# scratch git repositories and reports, for each size:
#   report s   wall time of `report -o out` (all four files), best of 3;
#   RSS MB     its peak resident set (GNU `/usr/bin/time -f %M`; nan without it);
#   svg KB     the size of report.svg;  html KB  the size of report.html;
#   review s   wall time of `review --raw` (when the binary has `review`);
#   prompt B   the size of the prompt.
#
#   bash bench/report.sh [path/to/autoresearch]     (default: target/release/autoresearch)
#
# Targets on a 2-core machine, release build, at 100,000 records: report within a few seconds,
# report.svg < 2 MB; the review prompt at most 32 KiB.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
mkdir -p "$HOME"

python3 - "$bin" "$work" <<'PY'
import json, os, subprocess, sys, time

bin, work = sys.argv[1], sys.argv[2]

def make(n):
    root = os.path.join(work, f"p{n}")
    os.makedirs(os.path.join(root, ".autoresearch"))
    open(os.path.join(root, "train.py"), "w").write("x = 1\n")
    open(os.path.join(root, "autoresearch.toml"), "w").write(
        'target_file = "train.py"\neval_command = "python3 train.py"\n'
        'metric_name = "loss"\nmetric_direction = "lower"\n')
    open(os.path.join(root, ".autoresearch", ".gitignore"), "w").write("*\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    best = 100.0
    with open(os.path.join(root, ".autoresearch", "experiments.jsonl"), "w") as f:
        for i in range(n):
            if i == 0:
                status, metric = "baseline", best
            elif i % 500 == 0:
                best -= 0.01
                status, metric = "kept", best
            elif i % 211 == 0:
                status, metric = "crash", None
            else:
                status, metric = "discarded", best + (i % 97) / 10
            f.write(json.dumps({
                "run": i, "id": f"id-{i}",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1.7e9 + 60 * i)),
                "status": status, "metric": metric, "summary": f"idea {i % 50} on the thing",
                "branch": "autoresearch", "duration_s": 55.0, "source": "record"}) + "\n")
    return root

def timed(cmd, cwd):
    best = None
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        e = time.perf_counter() - t
        best = e if best is None else min(best, e)
    return best, out.stdout

def rss(cmd, cwd):
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, capture_output=True, check=True)
    return int(r.stderr.decode().strip().splitlines()[-1]) / 1024

has_review = subprocess.run([bin, "review", "--help"], capture_output=True).returncode == 0
print(f"{'records':>8} {'report s':>9} {'RSS MB':>7} {'svg KB':>7} {'html KB':>8} {'review s':>9} {'prompt B':>9}")
for n in (1_000, 10_000, 100_000):
    root = make(n)
    cmd = [bin, "--json", "report", "-o", "out"]
    secs, _ = timed(cmd, root)
    mb = rss(cmd, root)
    svg = os.path.getsize(os.path.join(root, "out", "report.svg")) / 1024
    html = os.path.getsize(os.path.join(root, "out", "report.html")) / 1024
    rsecs, prompt = (timed([bin, "review", "--raw"], root) if has_review else (float("nan"), b""))
    print(f"{n:>8} {secs:>9.2f} {mb:>7.1f} {svg:>7.0f} {html:>8.0f} {rsecs:>9.2f} {len(prompt):>9}")
PY
