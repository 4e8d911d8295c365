#!/usr/bin/env python3
"""The design matrix and the canaries, as CI runs them.

Every historical design must be caught by the CI default (`chipsim sweep standard --seeds
1..21` exits 3 or 4) and by the scenario built for it within its first five seeds, while the
hardened engine passes; every canary must be caught by its own checker. A design or canary
that passes means a checker went blind: this script then exits 1.

    .ci/matrix.py [--chipsim PATH] [--markdown]

`--markdown` prints the README's table (invariants and failing seeds per design).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# (design, the scenario built for it, extra flags)
DESIGNS = [
    ("deduct_before_lock", "refund_failure", []),
    ("bool_flag", "double_fold", []),
    ("seed_2pc", "retry_after_ttl", []),
    ("unlocked_reset", "version_conflict", []),
    ("unversioned_jackpot", "jackpot_contention", []),
    ("chat_in_lock", "lock_timeout", []),
]

# (canary, scenario, extra flags, the invariant that must catch it)
CANARIES = [
    ("canary_house_chip", "standard", [], "conservation"),
    ("canary_wrong_wallet", "standard", [], "wallet_ledger"),
    ("canary_no_dedup", "standard", [], "at_most_once"),
    ("canary_unguarded_save", "standard", [], "versions"),
    ("canary_lock_order", "standard", ["--lock-strategy", "fine"], "locks"),
    ("canary_early_release", "standard", [], "lock_exclusivity"),
    ("canary_odd_chip", "standard", [], "rules"),
    ("canary_total_balance", "standard", [], "reads"),
    ("chat_in_lock", "smoke", [], "budget"),
]

CI_SEEDS = "1..21"
BUILT_SEEDS = "1..6"


def sweep(chipsim, scenario, variant, seeds, flags, workdir):
    """Runs one sweep; returns its exit code and {seed: [invariants]} of the failing seeds."""
    report = Path(workdir) / f"{scenario}-{variant}-{seeds}"
    command = [chipsim, "sweep", scenario, "--seeds", seeds, "--keep-going", "--report", str(report)]
    if variant != "hardened":
        command += ["--variant", variant]
    command += flags
    status = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    runs = json.loads((report / "latest.json").read_text())["runs"] if (report / "latest.json").exists() else []
    failed = {r["seed"]: sorted(r["violation_counts"]) for r in runs if not r["passed"]}
    return status, failed


def describe(failed):
    invariants = sorted({i for names in failed.values() for i in names})
    seeds = sorted(failed)
    return ", ".join(invariants), f"{len(seeds)}: {', '.join(map(str, seeds[:6]))}{' …' if len(seeds) > 6 else ''}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chipsim", default="./target/release/chipsim")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args()
    problems = []
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        status, failed = sweep(args.chipsim, "standard", "hardened", CI_SEEDS, [], workdir)
        print(f"hardened   standard {CI_SEEDS}: exit {status}")
        if status != 0:
            problems.append(f"the hardened engine failed standard {CI_SEEDS} (exit {status}): {failed}")
        for design, built, flags in DESIGNS:
            status, failed = sweep(args.chipsim, "standard", design, CI_SEEDS, flags, workdir)
            built_status, built_failed = sweep(args.chipsim, built, design, BUILT_SEEDS, flags, workdir)
            print(f"{design:20} standard {CI_SEEDS}: exit {status}, {len(failed)} seeds failed; "
                  f"{built} {BUILT_SEEDS}: exit {built_status}, {len(built_failed)} failed")
            if status not in (3, 4):
                problems.append(f"{design} passed the CI default (standard {CI_SEEDS}, exit {status})")
            if built_status not in (3, 4):
                problems.append(f"{design} passed {built} {BUILT_SEEDS} (exit {built_status})")
            rows.append((design, *describe(failed), built, *describe(built_failed)))
        for canary, scenario, flags, invariant in CANARIES:
            status, failed = sweep(args.chipsim, scenario, canary, CI_SEEDS, flags, workdir)
            caught = [seed for seed, names in failed.items() if invariant in names]
            print(f"{canary:22} {scenario} {' '.join(flags)}: exit {status}, {invariant} caught it in "
                  f"{len(caught)} of {len(failed)} failing seeds")
            if not caught:
                problems.append(f"{canary} was not caught by {invariant} on {scenario} {CI_SEEDS}")
    if args.markdown:
        print()
        print(f"| design | `standard` {CI_SEEDS}: caught by | failing seeds | built scenario | "
              f"caught by | failing seeds of {BUILT_SEEDS} |")
        print("|---|---|---|---|---|---|")
        for design, inv, seeds, built, binv, bseeds in rows:
            print(f"| `{design}` | {inv} | {seeds} | `{built}` | {binv} | {bseeds} |")
    if problems:
        print()
        for problem in problems:
            print(f"matrix: {problem}")
        return 1
    print("matrix: every design and canary caught, the hardened engine passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
