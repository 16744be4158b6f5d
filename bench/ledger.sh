#!/usr/bin/env bash
# Ledger benchmark (issue: the foundation). Builds ledgers of 100, 10,000 and 100,000 records
# in scratch git repositories and reports, for each size, the median wall time (hyperfine when
# installed, else a python timer) and the peak RSS of the commands agents call most.
#
#   bash bench/ledger.sh [path/to/autoresearch]     (default: target/release/autoresearch)
#
# Targets on a 2-core machine: every command < 5 ms at 100 records; at 100,000 records
# status/best < 40 ms and < 10 MB peak RSS, log -n 20 < 10 ms, record < 15 ms with the fsync;
# --version < 3 ms; the stripped binary < 4 MB.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
mkdir -p "$HOME"

python3 - "$bin" "$work" <<'PY'
import json, os, random, resource, shutil, statistics, subprocess, sys, time

bin, work = sys.argv[1], sys.argv[2]
have_hyperfine = shutil.which("hyperfine") is not None

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

def peak_rss_kb(args, cwd):
    # GNU time's %M is the command's own peak RSS. (Python's RUSAGE_CHILDREN would count the
    # forked interpreter's pages before exec, about 14 MB, whatever the command.)
    if os.path.exists("/usr/bin/time"):
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return int(out.stderr.strip().splitlines()[-1])
    return float("nan")

def median_ms(args, cwd, runs=30):
    if have_hyperfine:
        cmd = " ".join(f"'{a}'" for a in args)
        out = os.path.join(work, "hf.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", out, cmd],
                       cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as f:
            return statistics.median(json.load(f)["results"][0]["times"]) * 1000
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)

commands = [
    ("status --json", ["--json", "status"]),
    ("best --json", ["--json", "best"]),
    ("log --json -n 20", ["--json", "log", "-n", "20"]),
    ("export --format jsonl", ["export", "--format", "jsonl"]),
    ("record", ["--json", "record", "--status", "discarded", "--metric", "1.5", "-m", "bench"]),
]
print(f"binary: {bin} ({os.path.getsize(bin) / 1e6:.2f} MB)")
print(f"timer: {'hyperfine' if have_hyperfine else 'python'}; median of 30 runs after warm-up\n")
root0 = make_project(100)
print(f"{'--version':28} {median_ms([bin, '--version'], root0):8.2f} ms, peak RSS {peak_rss_kb([bin, '--version'], root0) / 1024:.1f} MB")
print()
print(f"{'records':>8}  {'command':28} {'cold ms':>8} {'median ms':>10} {'peak RSS MB':>12}")
for n in (100, 10_000, 100_000):
    root = root0 if n == 100 else make_project(n)
    for name, args in commands:
        cache = os.path.join(root, ".autoresearch", "summary.json")
        if os.path.exists(cache):
            os.remove(cache)
        t = time.perf_counter()
        subprocess.run([bin, *args], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cold = (time.perf_counter() - t) * 1000
        med = median_ms([bin, *args], root)
        rss = peak_rss_kb([bin, *args], root) / 1024
        print(f"{n:>8}  {name:28} {cold:8.1f} {med:10.2f} {rss:12.1f}")
PY
