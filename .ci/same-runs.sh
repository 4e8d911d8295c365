#!/usr/bin/env bash
# Whether this tree's simulator runs every shipped scenario (regressions included) exactly as
# BASE's does: per scenario, the same combined trace hash (it folds every seed's hash) and the
# same summary (outcomes, faults fired, probes, counters, histograms; wall time aside). For
# refactors and speed work that must change no run. Not part of .ci/run: it builds BASE too
# (a few minutes the first time; BASE's build is kept in target/same-runs for the next call).
#
#   .ci/same-runs.sh BASE_REV [SEEDS]      # SEEDS default 0..40; exit 0 same, 1 differ, 2 misuse
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${1:-}"
SEEDS="${2:-0..40}"
if [ -z "$BASE" ] || ! git rev-parse --verify --quiet "$BASE^{commit}" >/dev/null; then
  echo "usage: .ci/same-runs.sh BASE_REV [SEEDS]  (BASE_REV: a commit of this repository)" >&2
  exit 2
fi
WORK="$(mktemp -d)"
trap 'git worktree remove --force "$WORK/tree" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
git worktree add --detach --quiet "$WORK/tree" "$BASE"
BASE_TARGET="$PWD/target/same-runs"
cargo build --release -p sim --quiet
(cd "$WORK/tree" && CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release -p sim --quiet)
# Both binaries run this tree's scenario files, so only the code differs.
for side in head base; do
  bin=target/release/chipsim
  [ "$side" = base ] && bin="$BASE_TARGET/release/chipsim"
  "$bin" sweep --seeds "$SEEDS" --keep-going --runs failed --scenario-dir scenarios \
    --report "$WORK/report-$side" >/dev/null 2>"$WORK/$side.err" || true
  if [ ! -s "$WORK/report-$side/latest.json" ]; then
    echo "same-runs: the $side binary wrote no report:" >&2
    tail -3 "$WORK/$side.err" >&2
    exit 1
  fi
done
python3 - "$WORK/report-base/latest.json" "$WORK/report-head/latest.json" "$BASE" <<'PY'
import json, sys
base, head = (json.load(open(path))["scenarios"] for path in sys.argv[1:3])
strip = lambda summary: {k: v for k, v in summary.items() if k != "wall_ms"}
base = {s["scenario"]: s for s in base}
head = {s["scenario"]: s for s in head}
differ = 0
for name in sorted(set(base) | set(head)):
    b, h = base.get(name), head.get(name)
    if b is None or h is None:
        print(f"{name:40} only in {'head' if b is None else 'base'}")
        differ += 1
    elif strip(b) != strip(h):
        what = sorted(k for k in strip(b).keys() | strip(h).keys() if b.get(k) != h.get(k))
        print(f"{name:40} DIFFERS ({', '.join(what)}): {b['trace_hash']} -> {h['trace_hash']}")
        differ += 1
    else:
        print(f"{name:40} same  {h['trace_hash']}  ({h['seeds']} seeds)")
print(f"same-runs: {len(head) - differ} of {len(set(base) | set(head))} scenarios run as at {sys.argv[3]}")
sys.exit(1 if differ else 0)
PY
