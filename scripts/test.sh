#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need,
# then every unit, integration, multi-process, doc and compile-fail test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing the Python packages the interop tests use"
python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

echo "==> cargo test (workspace: unit, integration, multi-process, trybuild, doc tests)"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "==> loom model check of the in-process ReaderWriterLock"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p fasteners --release --test loom_rw_lock
