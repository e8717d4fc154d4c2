#!/usr/bin/env bash
# Runs every benchmark side by side on this machine: the in-process criterion
# benches, the cross-process harness (kernel floor vs the crate's locks) and
# Python fasteners on the same scenarios. Results go to stdout; BENCHMARKS.md
# records a run. Takes about ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
criterion_args=(--warm-up-time 1 --measurement-time 3)

for bench in process_lock macros; do
    echo "==> cargo bench --bench $bench"
    cargo bench --bench "$bench" -- "${criterion_args[@]}"
done
echo "==> cargo bench -p fasteners --bench rw_lock"
cargo bench -p fasteners --bench rw_lock -- "${criterion_args[@]}"

echo "==> cargo bench --bench cross_process"
cargo bench --bench cross_process -- --iterations 1000 --rounds 10 --count 2000

echo "==> python3 scripts/bench_python.py"
python3 scripts/bench_python.py --iterations 200 --count 2000
