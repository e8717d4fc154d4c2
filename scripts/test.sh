#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need,
# then every unit, integration, multi-process, compile-fail, model-checking and
# doc test, and ends with one line counting them all.
#
# A test that cannot run here (a missing prerequisite, outside CI) prints
# `SKIPPED: <test>: <reason>` and returns; it is counted as skipped, not
# passed. Under CI=true a missing prerequisite fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0

# Runs a test command, showing its output and keeping it for the summary; a
# failure is remembered, and the remaining commands still run.
run() {
    echo "==> $*"
    "$@" 2>&1 | tee -a "$log" || status=1
}

echo "==> installing the Python packages the interop tests use"
if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r requirements-test.txt; then
    if [[ "${CI:-}" == true ]]; then
        echo "error: cannot install requirements-test.txt, which CI needs" >&2
        exit 1
    fi
    echo "NOTICE: cannot install requirements-test.txt: the Python interop test will be skipped"
fi

run cargo test --workspace --all-targets --no-fail-fast
run cargo test --workspace --doc --no-fail-fast
# The `tracing` feature (off by default): its events.
run cargo test -p fasteners --features tracing --test tracing_events --no-fail-fast
# The tests serialised by the file-lock attributes, under the runner that gives
# each test its own process (under `cargo test` above they share one).
run cargo nextest run --test macros_serial --no-fail-fast
# The PostgreSQL backend (feature `postgres`): its unit and doc tests, and its
# integration tests against a throwaway server that with-postgres.sh starts
# (installing Debian's postgresql package if needed) and removes afterwards.
run cargo test -p fasteners --features postgres --lib postgres --no-fail-fast
run cargo test -p fasteners --features postgres --doc postgres --no-fail-fast
# (postgres_restart restarts the server: cargo runs test binaries one at a time.)
run bash scripts/with-postgres.sh cargo test --features postgres --test postgres --test postgres_restart --test postgres_callers_runtime --no-fail-fast
# The loom model of the in-process ReaderWriterLock: its own target directory,
# since `--cfg loom` changes every crate's build.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    run cargo test -p fasteners --release --test loom_rw_lock
# The loom models of the arbitration every process lock shares.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    run cargo test -p fasteners --release --lib arbiter::models

# One closing line over every `test result:` line (cargo test) and every
# `Summary` line (cargo nextest: "N tests run: N passed, M failed, K skipped")
# above; the tests that reported themselves skipped are moved from passed to
# skipped.
mkdir -p target
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
     }
     /^ *Summary \[.*tests? run:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^skipped/) ignored += $i
        }
     }
     { skipped += gsub(/SKIPPED: /, "") }
     END {
        printf "tests: %d passed, %d failed, %d skipped\n",
            passed - skipped, failed, ignored + skipped
     }' \
    "$log" | tee target/test-summary.txt
exit "$status"
