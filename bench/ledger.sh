#!/usr/bin/env bash
# Ledger benchmark. Builds ledgers of 100, 10,000 and 100,000 records in scratch git repositories
# and reports, for each size and each command agents call most:
#   cold ms  median wall time with `.autoresearch/summary.json` (the cached fold) deleted before
#            every run (hyperfine --prepare): the cost of a fold from scratch;
#   warm ms  median wall time with the cache in place;
#   RSS MB   peak resident set of one cold run (GNU `/usr/bin/time -f %M`).
#
#   bash bench/ledger.sh [path/to/autoresearch]     (default: target/release/autoresearch)
#
# Targets on a 2-core machine, release build, at 100,000 records (~43 MB):
#   cold status --json and best --json  <= 30 ms, peak RSS <= 10 MB;
#   cold log --json -n 20               <= 10 ms (it must never fold the whole ledger);
#   log --json --all                    <= 15 MB peak RSS (it streams);
#   every command < 5 ms at 100 records; record < 15 ms with the fsync; --version < 3 ms;
#   the stripped binary < 4 MB.
# Needs python3 and hyperfine (`apt-get install -y hyperfine`); GNU time for RSS
# (`apt-get install -y time`), else RSS is reported as nan.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install -y hyperfine" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
mkdir -p "$HOME"

python3 - "$bin" "$work" <<'PY'
import json, os, random, shlex, statistics, subprocess, sys

bin, work = sys.argv[1], sys.argv[2]

def sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def make_project(n):
    root = os.path.join(work, f"p{n}")
    os.makedirs(root)
    sh("git", "init", "-q", cwd=root)
    with open(os.path.join(root, "train.py"), "w") as f:
        f.write("x = 1\n")
    sh("git", "add", "-A", cwd=root)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init", cwd=root)
    sh(bin, "--json", "init", "--target-file", "train.py", "--eval-command", "echo score: 1",
       "--metric-name", "score", "--metric-direction", "lower", cwd=root)
    rng = random.Random(n)
    best = 2.0
    with open(os.path.join(root, ".autoresearch", "experiments.jsonl"), "w") as f:
        for i in range(n):
            status = "baseline" if i == 0 else rng.choice(["kept", "discarded", "discarded", "discarded", "crash"])
            metric = None if status == "crash" else round(best * rng.uniform(0.97, 1.05), 6)
            if status == "kept" and metric is not None and metric < best:
                best = metric
            rec = {"run": i, "id": f"{i:011x}-0abcd-{rng.getrandbits(64):016x}",
                   "timestamp": "2026-11-26T00:00:00.000Z", "status": status, "metric": metric,
                   "metrics": {"memory_gb": 41.5, "mfu": 0.39}, "samples": [],
                   "delta": None if metric is None else metric - best,
                   "summary": f"experiment {i}: try a slightly different learning-rate warmup schedule",
                   "commit": f"{rng.getrandbits(160):040x}", "parent": f"{rng.getrandbits(160):040x}",
                   "branch": "autoresearch", "duration_s": 301.2, "exit_code": 0 if metric else 1,
                   "reason": None if metric else "exit_code 1", "flags": [], "source": "run"}
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return root

def peak_rss_mb(args, cwd, prepare=None):
    # GNU time's %M is the command's own peak RSS. (Python's RUSAGE_CHILDREN would count the
    # forked interpreter's pages before exec, about 14 MB, whatever the command.)
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    if prepare:
        subprocess.run(prepare, shell=True, cwd=cwd, check=True)
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024

def median_ms(args, cwd, runs, prepare=None):
    out = os.path.join(work, "hf.json")
    cmd = ["hyperfine", "-N", "--runs", str(runs), "--export-json", out]
    cmd += ["--prepare", prepare] if prepare else ["--warmup", "3"]
    cmd.append(" ".join(shlex.quote(a) for a in args))
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return statistics.median(json.load(f)["results"][0]["times"]) * 1000

commands = [
    ("status --json", ["--json", "status"]),
    ("best --json", ["--json", "best"]),
    ("log --json -n 20", ["--json", "log", "-n", "20"]),
    ("log --json --all", ["--json", "log", "--all"]),
    ("export --format jsonl", ["export", "--format", "jsonl"]),
    ("record", ["--json", "record", "--status", "discarded", "--metric", "1.5", "-m", "bench"]),
]
drop_cache = "rm -f .autoresearch/summary.json"
print(f"binary: {bin} ({os.path.getsize(bin) / 1e6:.2f} MB)")
print("timer: hyperfine, median; cold = summary.json deleted before every run\n")
root0 = make_project(100)
print(f"{'--version':28} {median_ms([bin, '--version'], root0, 30):8.2f} ms, peak RSS {peak_rss_mb([bin, '--version'], root0):.1f} MB")
print()
print(f"{'records':>8}  {'command':24} {'cold ms':>8} {'warm ms':>8} {'RSS MB':>7}")
for n in (100, 10_000, 100_000):
    root = root0 if n == 100 else make_project(n)
    for name, args in commands:
        runs = 10 if n == 100_000 and name in ("log --json --all", "export --format jsonl") else 30
        cold = median_ms([bin, *args], root, runs, prepare=drop_cache)
        warm = median_ms([bin, *args], root, runs)
        rss = peak_rss_mb([bin, *args], root, prepare=drop_cache)
        print(f"{n:>8}  {name:24} {cold:8.2f} {warm:8.2f} {rss:7.1f}", flush=True)
PY
