#!/usr/bin/env python3
"""Python fasteners on the same scenarios as the Rust benchmarks.

Usage: python3 scripts/bench_python.py [--iterations N] [--count N] [--cycles N]

Scenarios (mirroring benches/process_lock.rs and benches/cross_process.rs):
  1. uncontended InterProcessLock acquire+release, lock object reused;
  2. uncontended InterProcessReaderWriterLock read and write cycles;
  3. handoff latency from a holder's release to a waiter blocked in another
     process holding the lock (system clock read in both processes);
  4. contended throughput of 2 and 4 processes incrementing a counter file,
     with the longest wait and the longest run of consecutive acquisitions.

Installs fasteners 0.20 with pip if it is missing.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import fasteners
except ImportError:
    subprocess.check_call(
        [sys.executable, "-m", "pip", "install", "--quiet", "fasteners==0.20"]
    )
    import fasteners


def uncontended(path, cycles):
    """Median nanoseconds per acquire+release over batches of cycles."""
    results = {}
    lock = fasteners.InterProcessLock(path)
    rw = fasteners.InterProcessReaderWriterLock(path + ".rw")

    def measure(step):
        batches = []
        per_batch = max(cycles // 20, 1)
        for _ in range(20):
            start = time.perf_counter_ns()
            for _ in range(per_batch):
                step()
            batches.append((time.perf_counter_ns() - start) / per_batch)
        return statistics.median(batches)

    def lock_cycle():
        lock.acquire()
        lock.release()

    def read_cycle():
        rw.acquire_read_lock()
        rw.release_read_lock()

    def write_cycle():
        rw.acquire_write_lock()
        rw.release_write_lock()

    results["InterProcessLock acquire+release"] = measure(lock_cycle)
    results["InterProcessReaderWriterLock read cycle"] = measure(read_cycle)
    results["InterProcessReaderWriterLock write cycle"] = measure(write_cycle)
    return results


def child_handoff(path):
    lock = fasteners.InterProcessLock(path)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            return
        print("waiting", flush=True)
        lock.acquire()
        acquired_at = time.time_ns()
        lock.release()
        print(acquired_at, flush=True)


def spawn(*args):
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def recv(proc):
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("child exited early")
    return line.strip()


def handoff(path, iterations, hold_ms):
    lock = fasteners.InterProcessLock(path)
    waiter = spawn("child-handoff", path)
    try:
        assert recv(waiter) == "ready"
        samples = []
        for _ in range(iterations):
            lock.acquire()
            waiter.stdin.write("go\n")
            waiter.stdin.flush()
            assert recv(waiter) == "waiting"
            time.sleep(hold_ms / 1000.0)  # pacing: let the waiter start waiting
            released_at = time.time_ns()
            lock.release()
            samples.append(int(recv(waiter)) - released_at)
        waiter.stdin.write("quit\n")
        waiter.stdin.flush()
    finally:
        waiter.kill()
        waiter.wait()
    samples.sort()

    def at(q):
        return samples[round((len(samples) - 1) * q)] / 1000.0

    return at(0.5), at(0.9), at(0.99), at(1.0)


def child_count(path, counter, ident, per_proc):
    lock = fasteners.InterProcessLock(path)
    print("ready", flush=True)
    sys.stdin.readline()
    longest_wait = 0
    longest_run = 0
    with open(counter, "r+") as f:
        for _ in range(per_proc):
            asked = time.perf_counter_ns()
            lock.acquire()
            longest_wait = max(longest_wait, time.perf_counter_ns() - asked)
            f.seek(0)
            fields = f.read().split()
            count, last = int(fields[0]), int(fields[1])
            run = int(fields[2]) if len(fields) > 2 else 0
            run = run + 1 if last == ident else 1
            longest_run = max(longest_run, run)
            f.seek(0)
            f.write("%d %d %d\n" % (count + 1, ident, run))
            f.flush()
            lock.release()
    print(longest_wait, longest_run, flush=True)


def throughput(directory, procs, per_proc):
    path = os.path.join(directory, "throughput-%d.lock" % procs)
    counter = os.path.join(directory, "throughput-%d.count" % procs)
    with open(counter, "w") as f:
        f.write("0 -1\n")
    children = [
        spawn("child-count", path, counter, str(i), str(per_proc)) for i in range(procs)
    ]
    try:
        for child in children:
            assert recv(child) == "ready"
        start = time.perf_counter()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        longest_wait, longest_run = 0, 0
        for child in children:
            wait, run = map(int, recv(child).split())
            longest_wait = max(longest_wait, wait)
            longest_run = max(longest_run, run)
        total = time.perf_counter() - start
    finally:
        for child in children:
            child.kill()
            child.wait()
    with open(counter) as f:
        count = int(f.read().split()[0])
    assert count == procs * per_proc, "lost updates: %d" % count
    return total, longest_wait / 1e6, longest_run


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "child-handoff":
        return child_handoff(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "child-count":
        return child_count(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument("--hold-ms", type=float, nargs="+", default=[2.0, 50.0])
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="fasteners-py-bench-")
    try:
        print("## Python fasteners %s\n" % getattr(fasteners, "__version__", "0.20"))
        print("| uncontended (lock object reused) | median ns per cycle |")
        print("|---|---|")
        for name, ns in uncontended(os.path.join(directory, "u.lock"), args.cycles).items():
            print("| %s | %.0f |" % (name, ns))

        print("\n| handoff to a blocked waiter (%d) | held ms | p50 µs | p90 µs | p99 µs | max µs |" % args.iterations)
        print("|---|---|---|---|---|---|")
        for hold_ms in args.hold_ms:
            p50, p90, p99, pmax = handoff(os.path.join(directory, "h.lock"), args.iterations, hold_ms)
            print("| InterProcessLock.acquire() | %g | %.1f | %.1f | %.1f | %.1f |" % (hold_ms, p50, p90, p99, pmax))

        print("\n| contended (%d increments per process) | processes | total ms | µs per acquisition | longest wait ms | longest run |" % args.count)
        print("|---|---|---|---|---|---|")
        for procs in (2, 4):
            total, wait_ms, run = throughput(directory, procs, args.count)
            print(
                "| InterProcessLock | %d | %.1f | %.2f | %.2f | %d |"
                % (procs, total * 1e3, total * 1e6 / (procs * args.count), wait_ms, run)
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
