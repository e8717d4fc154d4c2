#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need,
# then every unit, integration, multi-process, compile-fail, model-checking and
# doc test, and ends with one line counting them all.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Runs a test command, showing its output and keeping it for the summary.
run() {
    echo "==> $*"
    "$@" 2>&1 | tee -a "$log"
}

echo "==> installing the Python packages the interop tests use"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r requirements-test.txt

run cargo test --workspace --all-targets
run cargo test --workspace --doc
# The PostgreSQL backend (feature `postgres`): its unit and doc tests, and its
# integration tests against a throwaway server that with-postgres.sh starts
# (installing Debian's postgresql package if needed) and removes afterwards.
run cargo test -p fasteners --features postgres --lib postgres
run cargo test -p fasteners --features postgres --doc postgres
# (postgres_restart restarts the server: cargo runs test binaries one at a time.)
run bash scripts/with-postgres.sh cargo test --features postgres --test postgres --test postgres_restart
# The loom model of the in-process ReaderWriterLock: its own target directory,
# since `--cfg loom` changes every crate's build.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    run cargo test -p fasteners --release --test loom_rw_lock

# One closing line over every `test result:` line above.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' \
    "$log" | tee target/test-summary.txt
