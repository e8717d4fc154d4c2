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

echo "==> cargo bench --bench first_lock"
cargo bench --bench first_lock -- --rounds 15 --iterations 2000

# System calls per cycle of the first-lock cases (strace counts exactly).
if ! command -v strace >/dev/null; then
    apt-get install -y strace >/dev/null 2>&1 || true
fi
if command -v strace >/dev/null; then
    echo "==> system calls per cycle (strace -c -f, 1000 cycles each)"
    first_lock="$(ls -t target/release/deps/first_lock-* | grep -v '\.d$' | head -1)"
    for case in 1 3 4 5 6; do
        strace -f -c -o target/strace-$case.txt "$first_lock" --syscalls "$case" 1000
        # Calls made about once per cycle or more, per cycle.
        echo "case $case: $(awk '$NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $(NF-1) >= 900 \
            { printf "%s %.0f, ", $NF, $(NF-1) / 1000 }' target/strace-$case.txt)"
    done
fi

echo "==> cargo bench --bench cross_process"
cargo bench --bench cross_process -- --iterations 1000 --rounds 10 --count 2000

echo "==> python3 scripts/bench_python.py"
python3 scripts/bench_python.py --iterations 200 --count 2000
