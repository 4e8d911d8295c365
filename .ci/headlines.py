#!/usr/bin/env python3
"""The users' headline results, reproduced by the shipped scenarios and checked against the
figures in their notes: each within ±20 % of its anchor, each ratio at least as good.

    .ci/headlines.py [--chipsim PATH] [--markdown]

It runs the README's commands (`chipsim compare …`, `chipsim run jackpot_contention`) and exits
1 if a figure is off its anchor. `--markdown` prints the README's tables.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOLERANCE = 0.20


def compare(chipsim, base, candidate):
    out = subprocess.run([chipsim, "compare", base, candidate, "--json"], capture_output=True, text=True, check=True)
    comparison = json.loads(out.stdout)
    (scenario,) = comparison["scenarios"]
    return {row["metric"]: row for row in scenario["rows"]}


def pct(row, side, name):
    for delta in row["deltas"]:
        if delta["percentile"] == name:
            return delta[f"{side}_us"] / 1000.0
    raise KeyError(name)


class Checks:
    def __init__(self):
        self.rows = []
        self.problems = []

    def near(self, table, what, measured, anchor, unit="ms"):
        ok = abs(measured - anchor) <= TOLERANCE * anchor
        self.rows.append((table, what, f"{measured:.0f} {unit}", f"≈ {anchor} {unit}", "yes" if ok else "NO"))
        if not ok:
            self.problems.append(f"{table}: {what} is {measured:.1f} {unit}, not within 20% of {anchor}")

    def at_least(self, table, what, measured, floor, shown):
        ok = measured >= floor
        self.rows.append((table, what, shown, f"≥ {floor}", "yes" if ok else "NO"))
        if not ok:
            self.problems.append(f"{table}: {what} is {shown}, below {floor}")


def headline_2pc(chipsim, checks):
    rows = compare(chipsim, "headline_2pc:variant=chat_in_lock", "headline_2pc")
    t = "headline_2pc"
    checks.near(t, "hardened: reserve p50", pct(rows["wallet reserve"], "candidate", "p50"), 50)
    checks.near(t, "hardened: commit p50", pct(rows["wallet commit"], "candidate", "p50"), 200)
    hardened = pct(rows["lock hold table"], "candidate", "max")
    baseline = pct(rows["lock hold table"], "base", "max")
    checks.near(t, "hardened: longest table-lock hold", hardened, 200)
    checks.near(t, "chat_in_lock: longest table-lock hold", baseline, 4000)
    checks.at_least(t, "cut of the longest hold", 1 - hardened / baseline, 0.90, f"{(1 - hardened / baseline) * 100:.1f} %")


def headline_fine(chipsim, checks):
    rows = compare(chipsim, "headline_fine:lock=coarse", "headline_fine:lock=fine")
    t = "headline_fine"
    coarse = pct(rows["stats burst"], "base", "p50")
    fine = pct(rows["stats burst"], "candidate", "p50")
    checks.near(t, "coarse: five /stats at once, p50", coarse, 750)
    checks.near(t, "fine: five /stats at once, p50", fine, 150)
    checks.at_least(t, "speed-up", coarse / fine, 4.0, f"{coarse / fine:.1f}×")
    # A burst is five reads while a hand runs: had any read waited for an action's write, the
    # slowest burst would take that action's hold longer than one read.
    checks.near(t, "fine: slowest burst (no read waited for a write)", pct(rows["stats burst"], "candidate", "max"), 150)


def jackpot(chipsim, checks):
    with tempfile.TemporaryDirectory() as workdir:
        subprocess.run([chipsim, "run", "jackpot_contention", "--report", workdir], capture_output=True, check=True)
        report = json.loads((Path(workdir) / "latest.json").read_text())
    summary = report["scenarios"][0]
    counters = summary["metrics"]["counters"]
    safety_s = sum(run["heal_started_ms"] for run in report["runs"]) / 1000.0
    ops = sum(v for k, v in counters.items() if k.startswith("poker_jackpot_operations_total"))
    t = "jackpot_contention"
    checks.at_least(t, "operations per simulated second (safety phase)", ops / safety_s, 1000, f"{ops / safety_s:.0f}/s")
    for operation in ["contribute", "win"]:
        done = sum(v for k, v in counters.items() if k.startswith("poker_jackpot_operations_total") and f'"{operation}"' in k)
        conflicts = counters.get(f'poker_jackpot_conflicts_total{{operation="{operation}"}}', 0)
        retries = counters.get(f'poker_jackpot_retries_total{{operation="{operation}"}}', 0)
        p = summary["percentiles"][f'poker_jackpot_operation_duration_seconds{{operation="{operation}"}}']
        shown = (f"{conflicts / done:.2f} conflicts and {retries / done:.2f} retries per operation; "
                 f"p50 {p['p50_us'] / 1000:.0f} ms, p99 {p['p99_us'] / 1000:.0f} ms, max {p['max_us'] / 1000:.0f} ms")
        checks.rows.append((t, f"{operation}: {done} operations", shown, "reported", "yes"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chipsim", default="./target/release/chipsim")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    checks = Checks()
    headline_2pc(args.chipsim, checks)
    headline_fine(args.chipsim, checks)
    jackpot(args.chipsim, checks)
    if args.markdown:
        print("| scenario | figure | measured | the notes | within |")
        print("|---|---|---|---|---|")
    for row in checks.rows:
        print(("| " + " | ".join(row) + " |") if args.markdown else "  ".join(row))
    for problem in checks.problems:
        print(f"headlines: {problem}")
    if checks.problems:
        return 1
    print("headlines: every figure within 20 % of the notes, every ratio at least as good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
