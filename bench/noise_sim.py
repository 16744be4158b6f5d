"""Driver and report of bench/noise.sh (see there for what it measures and how to run it).

    python3 bench/noise_sim.py BINARY WORKDIR

Standard library only. Each project (configuration × seed × noise level) lives in its own
directory under WORKDIR; projects are independent, so they run JOBS at a time.
"""

import concurrent.futures
import json
import os
import random
import shlex
import subprocess
import sys
import time

# Lines appended to autoresearch.toml per configuration; `recheck`: after every `kept` run,
# one `run --recheck` re-evaluates the unchanged HEAD (the habit the skill teaches).
CONFIGS = [
    ("(a) naive", ["repeats = 1", "baseline_repeats = 1", "min_improvement = 0"], False),
    ("(b) defaults", [], False),
    ("(c) defaults + recheck", [], True),
    # Is "auto" better than a fixed number of repeats at the same confidence?
    ("(d) fixed repeats = 3", ["repeats = 3"], False),
]
START = 100.0  # true value of the starting code; the metric is lower-is-better
SD_UNIT = 1.0  # effects are in units of 1.0 even at noise 0, so they keep their size
CLEAR_WIN = 1.0  # a candidate with effect ≥ this (in SD_UNIT) is a win that should be kept
TARGET_FALSE_KEEPS = 0.05  # of keeps
TARGET_EVALS = 3.0  # × naive

# The eval: reads `value = X` from model.txt, bumps the counter file (outside the repository),
# prints X + sd·N(0,1). The noise generator is seeded with (bench seed, eval number), so
# evaluating identical code again gives a new draw, and the whole series is reproducible.
# Box-Muller on two draws of awk's rand().
EVAL_SH = """exec awk -v sd={sd} -v seed={seed} -v ctr={ctr} 'BEGIN {{
  n = 0; if ((getline n < ctr) <= 0) n = 0; close(ctr); n++; print n > ctr; close(ctr)
  while ((getline line < "model.txt") > 0) if (line ~ /^value = /) v = substr(line, 9) + 0
  srand(seed * 1000003 + n); u1 = rand(); u2 = rand(); if (u1 < 1e-12) u1 = 1e-12
  printf "score: %.6f\\n", v + sd * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)
}}'
"""


class BenchError(Exception):
    pass


def candidates(seed, n):
    """The seeded series of true effects (positive = helpful), the same for every config."""
    rng = random.Random(seed)
    n_neutral, n_harmful = round(n * 0.45), round(n * 0.35)
    effects = [0.0] * n_neutral
    effects += [-rng.uniform(0.5, 3.0) for _ in range(n_harmful)]
    effects += [rng.uniform(0.5, 3.0) for _ in range(n - n_neutral - n_harmful)]
    rng.shuffle(effects)
    return effects


def model_text(i, value):
    # The comment keeps a neutral candidate a change (else `run` refuses it: no_changes).
    return f"# candidate {i}\nvalue = {value:.6f}\n"


class Project:
    def __init__(self, binary, root):
        self.binary, self.root = binary, root
        self.calls, self.call_s, self.warnings = 0, 0.0, set()

    def sh(self, *args):
        subprocess.run(args, cwd=self.root, check=True, stdout=subprocess.DEVNULL)

    def ar(self, *args):
        """One `autoresearch --json` call; returns `data`, raises on an error envelope."""
        t0 = time.perf_counter()
        p = subprocess.run([self.binary, "--json", *args], cwd=self.root,
                           capture_output=True, text=True)
        if args[0] == "run":
            self.calls += 1
            self.call_s += time.perf_counter() - t0
        try:
            env = json.loads(p.stdout)
        except ValueError:
            raise BenchError(f"`autoresearch {' '.join(args)}` exited {p.returncode} "
                             f"with no JSON envelope: {p.stdout[:300]!r} {p.stderr[:300]!r}")
        # `run` exits 1 for some outcomes (e.g. interrupted) with data: the envelope decides.
        if not env.get("ok", env.get("status") == "success"):
            raise BenchError(f"`autoresearch {' '.join(args)}` in {self.root}: "
                             f"{json.dumps(env.get('error'))}")
        self.warnings.update(w for w in env.get("warnings", []) if "unknown key" in w)
        return env["data"]

    def write_model(self, text):
        with open(os.path.join(self.root, "model.txt"), "w") as f:
            f.write(text)

    def read_model(self):
        with open(os.path.join(self.root, "model.txt")) as f:
            return f.read()


def simulate(binary, work, config, seed, noise):
    """One project through the whole series; returns its figures."""
    name, extra, recheck = config
    tag = f"{name[1]}-sd{noise}-seed{seed}"
    root, counter = os.path.join(work, tag), os.path.join(work, tag + ".evals")
    os.makedirs(root)
    prj = Project(binary, root)
    effects = candidates(seed, CANDIDATES)

    prj.write_model(model_text(0, START))
    with open(os.path.join(root, "eval.sh"), "w") as f:
        f.write(EVAL_SH.format(sd=noise, seed=seed, ctr=shlex.quote(counter)))
    prj.sh("git", "init", "-q")
    prj.sh("git", "add", "-A")
    prj.sh("git", "commit", "-qm", "init")
    prj.ar("init", "--target-file", "model.txt", "--eval-command", "sh eval.sh",
           "--metric-name", "score", "--metric-direction", "lower", "--time-budget", "10s",
           "--protected", "eval.sh")
    with open(os.path.join(root, "autoresearch.toml"), "a") as f:
        f.write("".join(line + "\n" for line in extra))
    prj.sh("git", "add", "-A")
    prj.sh("git", "commit", "-qm", "autoresearch setup")

    run_true = {prj.ar("run", "-m", "baseline")["run"]: START}  # run number → true value
    current, current_text = START, prj.read_model()
    kept_effects = []
    for i, effect in enumerate(effects, 1):
        value = round(current - effect * SD_UNIT, 6)  # as written to model.txt
        text = model_text(i, value)
        prj.write_model(text)
        data = prj.ar("run", "-m", f"candidate {i} effect {effect:+.3f}")
        run_true[data["run"]] = value
        if data["status"] == "kept":
            current, current_text = value, text
            kept_effects.append(effect)
            if recheck:
                data = prj.ar("run", "--recheck", "-m", "recheck")
                if data["status"] != "recheck" or prj.read_model() != current_text:
                    raise BenchError(f"{tag}: a recheck recorded status {data['status']} "
                                     "or changed model.txt")
                run_true[data["run"]] = current
        elif data["status"] != "discarded":
            raise BenchError(f"{tag}: candidate {i}: status {data['status']} ({data['reason']})")
        elif prj.read_model() != current_text:  # the tool reverts; we never write it back
            raise BenchError(f"{tag}: candidate {i} was not reverted")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    if status:
        raise BenchError(f"{tag}: the work tree is not clean at the end:\n{status}")
    best_run = prj.ar("best")["best"]["run"]
    with open(counter) as f:
        evals = int(f.read())
    return {
        "keeps": len(kept_effects),
        "false_keeps": sum(e <= 0 for e in kept_effects),
        "wins": sum(e >= CLEAR_WIN for e in effects),
        "missed": sum(e >= CLEAR_WIN for e in effects) - sum(e >= CLEAR_WIN for e in kept_effects),
        "final": run_true[best_run],
        "reachable": START - SD_UNIT * sum(e for e in effects if e > 0),
        "evals": evals,
        "calls": prj.calls,
        "call_s": prj.call_s,
        "warnings": prj.warnings,
    }


def pct(part, whole):
    return part / whole if whole else 0.0


def report(noise, rows):
    """rows: [(config name, [figures per seed])] → the table and the target line."""
    naive_evals = sum(r["evals"] for r in rows[0][1])
    head = ["config", "keeps", "false keeps (% of keeps)", "missed wins", "final best true",
            "reachable", "evals (× naive)"]
    lines = []
    for name, figs in rows:
        tot = {k: sum(f[k] for f in figs) for k in ("keeps", "false_keeps", "wins", "missed",
                                                   "final", "reachable", "evals")}
        lines.append([
            name, str(tot["keeps"]),
            f"{tot['false_keeps']} ({100 * pct(tot['false_keeps'], tot['keeps']):.1f} %)",
            f"{tot['missed']} / {tot['wins']}",
            f"{tot['final'] / len(figs):.3f}", f"{tot['reachable'] / len(figs):.3f}",
            f"{tot['evals']} ({pct(tot['evals'], naive_evals):.2f}×)"])
    widths = [max(len(row[c]) for row in [head] + lines) for c in range(len(head))]
    fmt = lambda row: " | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
    print(f"noise sd = {noise}  (seeds: {SEEDS}, candidates: {CANDIDATES}; counts are totals "
          "over seeds, final best true and reachable are means; lower is better)")
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for row in lines:
        print(fmt(row))
    # The decision target: (b) against (a).
    by_name = dict(rows)
    b = by_name["(b) defaults"]
    fk = pct(sum(f["false_keeps"] for f in b), sum(f["keeps"] for f in b))
    ev = pct(sum(f["evals"] for f in b), naive_evals)
    ok_fk, ok_ev = fk <= TARGET_FALSE_KEEPS, ev <= TARGET_EVALS
    verdict = lambda ok: "PASS" if ok else "FAIL"
    print(f"target: false keeps ≤ {100 * TARGET_FALSE_KEEPS:.0f} % of keeps, evaluations "
          f"≤ {TARGET_EVALS:.0f}× naive — (b): false keeps {100 * fk:.1f} % {verdict(ok_fk)}, "
          f"evaluations {ev:.2f}× {verdict(ok_ev)} → {verdict(ok_fk and ok_ev)}")
    print()


def main():
    binary, work = sys.argv[1], sys.argv[2]
    help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True).stdout
    configs = CONFIGS
    if "--recheck" not in help_text:
        configs = [c for c in CONFIGS if not c[2]]
        print("note: this binary has no `run --recheck`: configuration (c) is skipped\n")
    jobs = [(c, s, n) for n in NOISES for c in configs for s in range(1, SEEDS + 1)]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        futures = [pool.submit(simulate, binary, work, c, s, n) for c, s, n in jobs]
        try:
            results = [f.result() for f in futures]
        except BenchError as e:
            pool.shutdown(cancel_futures=True)  # the projects under way still finish
            sys.exit(f"error: {e}")
    wall = time.perf_counter() - t0
    figs = dict(zip(((c[0], s, n) for c, s, n in jobs), results))
    print(f"binary: {binary}\n")
    for noise in NOISES:
        report(noise, [(c[0], [figs[(c[0], s, noise)] for s in range(1, SEEDS + 1)])
                       for c in configs])
    for w in sorted(set().union(*(r["warnings"] for r in results))):
        print(f"warning from the binary: {w}")
    calls = sum(r["calls"] for r in results)
    call_s = sum(r["call_s"] for r in results)
    print(f"time: {wall:.1f} s wall for {calls} `run` calls, {1000 * call_s / calls:.1f} ms per "
          f"call (eval included), JOBS={JOBS}")


SEEDS = int(os.environ.get("SEEDS", "3"))
CANDIDATES = int(os.environ.get("CANDIDATES", "200"))
NOISES = [float(x) for x in os.environ.get("NOISES", "1.0 0").split()]
JOBS = int(os.environ.get("JOBS", str(os.cpu_count() or 1)))

if __name__ == "__main__":
    main()
