#!/usr/bin/env bash
# The mutation score of the backend's wallet, dedup, lock manager, jackpot and game modules,
# with the simulator's scenarios — sim's integration tests: every shipped scenario, the
# designs and canaries caught, replays — as the test suite: cargo-mutants changes one
# operator or return value at a time and counts the changes the suite catches.
#
# All ~540 mutants take far longer than an hour on 2 cores; SHARD=k/n runs one round-robin
# sample of them (the README's figures are SHARD=1/16 to 14/16, 33-34 mutants each, 18-29
# minutes). cargo-mutants' unmutated baseline runs only the mutated package's (engine's) tests,
# whatever --test-package says; every mutant runs sim's (see each log's `cargo test` line).
# Not part of .ci/run. Results land in $OUT/mutants.out (caught.txt, missed.txt, timeout.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
SHARD="${SHARD:-1/16}"
OUT="${OUT:-target/mutants}"
mkdir -p "$OUT"
cargo mutants \
  -f engine/src/wallet.rs -f engine/src/dedup.rs -f engine/src/locks.rs -f engine/src/jackpot.rs \
  -f 'engine/src/game/*.rs' \
  --test-package sim --shard "$SHARD" --sharding round-robin --jobs 1 --timeout 300 \
  --output "$OUT" -- --test it
