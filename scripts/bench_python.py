#!/usr/bin/env python3
"""Python fasteners 0.20 as a peer in the Rust benchmark harnesses.

The harnesses start this script as a child process and talk to it over its
standard streams, so that Python takes its turn in the same interleaved
rounds as every other peer:

  serve DIR                 uncontended cycles: reads "CASE N" lines (CASE is
                            reused, fresh or rw-write), runs N cycles, answers
                            the nanoseconds per cycle (benches/process_lock.rs)
  hold PATH                 acquires an InterProcessLock on PATH, prints
                            "held", releases when stdin closes
  probe-threads PATH        prints "yes" if a second lock object on PATH in
                            another thread is kept out while the first holds
  child-handoff PATH        the waiter of the handoff (benches/cross_process.rs)
  child-count PATH COUNTER ID
                            a process of the contended-throughput run

`bash scripts/bench.sh` installs fasteners==0.20 with pip when it is missing.
Run it from outside the repository: its `fasteners/` directory would shadow
the package (the harnesses start it from the temporary directory).
"""

import os
import sys
import threading
import time

# The repository's `fasteners/` (the Rust crate) must not shadow the package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(_here)]

import fasteners  # noqa: E402


def serve(directory):
    reused = fasteners.InterProcessLock(os.path.join(directory, "py-reused.lock"))
    fresh_path = os.path.join(directory, "py-fresh.lock")
    rw = fasteners.InterProcessReaderWriterLock(os.path.join(directory, "py-rw.lock"))

    def reused_cycle():
        reused.acquire()
        reused.release()

    def fresh_cycle():
        lock = fasteners.InterProcessLock(fresh_path)
        lock.acquire()
        lock.release()

    def rw_write_cycle():
        rw.acquire_write_lock()
        rw.release_write_lock()

    cases = {"reused": reused_cycle, "fresh": fresh_cycle, "rw-write": rw_write_cycle}
    print("ready", flush=True)
    for line in sys.stdin:
        case, count = line.split()
        cycle, count = cases[case], int(count)
        start = time.perf_counter_ns()
        for _ in range(count):
            cycle()
        print((time.perf_counter_ns() - start) / count, flush=True)


def hold(path):
    lock = fasteners.InterProcessLock(path)
    lock.acquire()
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()


def probe_threads(path):
    first = fasteners.InterProcessLock(path)
    second = fasteners.InterProcessLock(path)
    first.acquire()
    got = []
    thread = threading.Thread(target=lambda: got.append(second.acquire(blocking=False)))
    thread.start()
    thread.join()
    if got[0]:
        second.release()
    first.release()
    print("no" if got[0] else "yes", flush=True)


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


def child_count(path, counter, ident):
    """Increments the counter under the lock until the deadline the parent
    sends with "go"; answers its count, longest wait (ns) and longest run."""
    lock = fasteners.InterProcessLock(path)
    print("ready", flush=True)
    deadline = int(sys.stdin.readline().split()[1])
    count = longest_wait = longest_run = 0
    with open(counter, "r+") as f:
        while time.time_ns() < deadline:
            asked = time.perf_counter_ns()
            lock.acquire()
            longest_wait = max(longest_wait, time.perf_counter_ns() - asked)
            f.seek(0)
            fields = f.read().split()
            total, last = int(fields[0]), int(fields[1])
            run = int(fields[2]) if len(fields) > 2 else 0
            run = run + 1 if last == ident else 1
            longest_run = max(longest_run, run)
            f.seek(0)
            f.write("%d %d %d\n" % (total + 1, ident, run))
            f.flush()
            lock.release()
            count += 1
    print(count, longest_wait, longest_run, flush=True)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        serve(args[0])
    elif mode == "hold":
        hold(args[0])
    elif mode == "probe-threads":
        probe_threads(args[0])
    elif mode == "child-handoff":
        child_handoff(args[0])
    elif mode == "child-count":
        child_count(args[0], args[1], int(args[2]))
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main()
