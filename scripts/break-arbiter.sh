#!/usr/bin/env bash
# Breaks the shared arbitration (fasteners/src/arbiter/) on purpose, one
# breakage at a time, and checks that its loom models fail; restores the
# source after each. Not run by CI (each breakage rebuilds the crate under
# `--cfg loom`). Usage: bash scripts/break-arbiter.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom

models="-p fasteners --release --lib arbiter::models"
# name | file | perl substitution | cargo test arguments
breakages=(
  "no-writers-first|fasteners/src/arbiter/mod.rs|s/Mode::Shared => state\.waiting_writers > 0,/Mode::Shared => false,/|$models"
  "wake-threads-only-if-two-wait|fasteners/src/arbiter/mod.rs|s/\(state\.sync_waiters > 0\)\.then_some/(state.sync_waiters > 1).then_some/|$models"
  "last-holder-keeps-the-raw-lock|fasteners/src/arbiter/mod.rs|s/Raw::Held\(held\) if last => \{/Raw::Held(held) if last \&\& false => {/|$models"
  "writers-ignore-a-writer|fasteners/src/arbiter/mod.rs|s/let conflict = state\.writer\.is_some\(\)/let conflict = false/|$models"
)

. scripts/breakage-runner.sh
run_breakages "$@"
