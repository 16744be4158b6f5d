#!/usr/bin/env bash
# Noise benchmark: does `autoresearch run` keep changes that are only noise?
#
#   bash bench/noise.sh [path/to/autoresearch]     (default: target/release/autoresearch)
#
# It builds nothing: build first with `cargo build --release --locked`. The driver,
# bench/noise_sim.py (Python 3, standard library only), builds a simulated project per
# configuration × seed × noise level in a scratch directory: `model.txt` holds a TRUE value
# (start 100, lower is better) and the eval prints it plus seeded Gaussian noise (awk, so it is
# fast; every call bumps a counter file outside the repository). It then runs the real binary
# through a scripted series of candidate changes whose true effects it knows (45 % neutral,
# 35 % harmful, 20 % helpful, effects 0.5 to 3 noise sd), each applied on top of the current
# code, under three configurations:
#   (a) naive:    `repeats = 1`, `baseline_repeats = 1`, `min_improvement = 0` appended
#   (b) defaults: nothing appended (adaptive repeats, a 3× baseline, a noise-aware decision)
#   (c) defaults + after every `kept` run one `autoresearch run --recheck -m recheck`
#       (skipped, with a note, when the binary has no `run --recheck`)
# at noise sd 1.0 and 0. Per noise level it prints, totalled over the seeds: keeps, false keeps
# (kept with true effect ≤ 0), missed wins (effect ≥ 1 sd, not kept), the TRUE value of the
# final best (`best`) against the best reachable on that path, and the evaluations used.
#
# Target, (b) against (a) at noise sd 1.0: false keeps ≤ 5 % of keeps, evaluations ≤ 3× naive.
#
# Environment: SEEDS (default 3), CANDIDATES (default 200), NOISES (default "1.0 0"),
# JOBS (parallel projects, default the number of CPUs). The appended config lines of each
# configuration are the CONFIGS table at the top of bench/noise_sim.py.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/autoresearch}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no binary at $bin: run 'cargo build --release --locked' first" >&2; exit 2; }
command -v python3 > /dev/null || { echo "python3 is needed" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home NO_COLOR=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
mkdir -p "$HOME"
python3 "$here/bench/noise_sim.py" "$bin" "$work"
