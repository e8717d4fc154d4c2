#!/usr/bin/env bash
# Breaks the in-process reader-writer lock on purpose, one way at a time, and
# checks that the tests named for each breakage catch it (fail). A breakage
# that no longer applies (the code it edits changed) is an error too, so that
# this list is kept in step with the code.
#
#   bash scripts/breakages.sh            every breakage
#   bash scripts/breakages.sh NAME...    only those
#
# Each breakage is applied to a copy of the working tree in
# target/breakages/src (the tree itself is never edited); builds go to
# target/breakages/{debug,loom}. Not run by CI: it rebuilds the crate once per
# breakage (a few minutes in all).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$root/target/breakages"
copy="$work/src"
state=fasteners/src/rw_lock/state.rs

# Runs one loom model of fasteners/tests/loom_rw_lock.rs in the copy. A
# build failure exits with 125: that is not a breakage caught.
loom_model() {
    local cargo=(cargo test -q -p fasteners --release --test loom_rw_lock)
    export RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$work/loom"
    "${cargo[@]}" --no-run || exit 125
    "${cargo[@]}" -- --exact "$1"
}

# Runs one test of tests/rw_lock.rs in the copy, like `loom_model`.
rw_test() {
    local cargo=(cargo test -q --test rw_lock)
    export CARGO_TARGET_DIR="$work/debug"
    "${cargo[@]}" --no-run || exit 125
    "${cargo[@]}" -- --exact "$1"
}

caught=0
missed=0
failed=0
declare -a wanted=("$@")

# breakage NAME FILE PERL-SUBSTITUTION CHECK...
# Applies the substitution (perl -0pe, so it may span lines) to FILE in a
# fresh copy, then runs each CHECK (a command) there: each must fail.
breakage() {
    local name="$1" file="$2" edit="$3"
    shift 3
    if ((${#wanted[@]} > 0)) && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
        return
    fi
    echo "==> breakage $name ($file)"
    rm -rf "$copy"
    mkdir -p "$copy"
    git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$copy"
    perl -0pi -e "$edit" "$copy/$file"
    if cmp -s "$root/$file" "$copy/$file"; then
        echo "    ERROR: the edit no longer applies to $file"
        failed=$((failed + 1))
        return
    fi
    local check n=0 result
    for check in "$@"; do
        n=$((n + 1))
        local log="$work/$name-$n.log"
        # Each check is bounded: a breakage that makes a test hang is caught
        # too, by the time limit.
        result=0
        (cd "$copy" && timeout 600 bash -c "$(declare -f loom_model rw_test); work='$work'; $check") \
            >"$log" 2>&1 || result=$?
        case "$result" in
        0)
            echo "    MISSED: \`$check\` passed (log: ${log#"$root"/})"
            missed=$((missed + 1))
            ;;
        125)
            echo "    ERROR: \`$check\` did not build (log: ${log#"$root"/})"
            failed=$((failed + 1))
            ;;
        *)
            echo "    caught: \`$check\` failed (log: ${log#"$root"/})"
            caught=$((caught + 1))
            ;;
        esac
    done
}

mkdir -p "$work"

# Writers first: a newcomer reader must wait while a writer waits.
breakage writers-first "$state" \
    's/ \|\| \(self\.prefer_writers\(\) && !queue\.writers\.is_empty\(\)\)//' \
    "loom_model newcomer_reader_is_held_back_while_a_writer_waits" \
    "rw_test writers_first_order"

# A writer that times out must wake the readers it held back.
breakage timed-out-writer-wake "$state" \
    's/(may go now\.\n\s*)self\.wake\(true, true\);/${1}self.wake(false, true);/' \
    "loom_model timed_out_writer_wakes_the_readers_it_held_back" \
    "rw_test writer_giving_up_lets_held_back_readers_in"

# Releasing the write side (a downgrade, if the writer still reads) must
# wake the waiting readers.
breakage downgrade-wake "$state" \
    's/(let before = self\.state\.fetch_sub\(WRITER, Ordering::Release\);\n)\s*if before & WAITING != 0 \{\n\s*self\.wake_after_write\(before\);\n\s*\}/$1/' \
    "loom_model reader_is_woken_by_a_downgrade"

# Releasing the write side must wake the queued readers when no writer is
# queued (the test inverted: they are woken only when none waits).
breakage write-release-wakes-readers "$state" \
    's/let readers = before & READERS_WAITING != 0/let readers = before & READERS_WAITING == 0/' \
    "loom_model reader_is_woken_by_a_downgrade" \
    "loom_model readers_queued_behind_a_writer_and_a_newcomer_all_get_in"

# Releasing the write side must wake the queued writers when no reader is
# left.
breakage write-release-wakes-writers "$state" \
    's/before & WRITERS_WAITING != 0 && before & READERS == 0/before & WRITERS_WAITING != 0 \&\& before \& READERS != 0/' \
    "loom_model queued_writers_go_in_arrival_order"

# The last reader leaving must wake the waiters (a writer).
breakage last-reader-wake "$state" \
    's/before & READERS == READER/before & READERS == 0/' \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

# Taking the write side on the fast path must be an acquire, or the writer
# may not see what the last holder wrote.
breakage write-fast-path-ordering "$state" \
    's/compare_exchange\(0, WRITER, Ordering::Acquire, Ordering::Relaxed\)/compare_exchange(0, WRITER, Ordering::Relaxed, Ordering::Relaxed)/' \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

# Queued writers go in arrival order. (The thread test
# `writers_are_served_in_arrival_order` sees this only by chance: the woken
# writers tend to get the mutex in the order they started waiting anyway.)
breakage writer-fifo "$state" \
    's/Some\(mine\) => queue\.writers\.front\(\) == Some\(&mine\)/Some(_) => true/' \
    "loom_model queued_writers_go_in_arrival_order"

# The read side's retry loop (spinning, or a compare-exchange that lost a
# race) counts the reader wrongly. Only a model sees this window
# (cargo-mutants' `replace + with -` at such a line survives the thread
# tests).
breakage retried-read-count "$state" \
    's/(if state & self\.read_blockers == 0 \{\n\s*match self\.state\.compare_exchange_weak\(\n\s*state,\n\s*)state \+ READER/${1}state - READER/' \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

# A reader that takes the lock after spinning must acquire, or it may not
# see what the writer it waited for wrote.
breakage spun-read-ordering "$state" \
    's/(if state & self\.read_blockers == 0 \{\n\s*match self\.state\.compare_exchange_weak\(\n\s*state,\n\s*state \+ READER,\n\s*)Ordering::Acquire/${1}Ordering::Relaxed/' \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

# Likewise a writer that takes the lock after spinning.
breakage spun-write-ordering "$state" \
    's/(if state == 0 \{\n\s*match self\.state\.compare_exchange_weak\(\n\s*0,\n\s*WRITER,\n\s*)Ordering::Acquire/${1}Ordering::Relaxed/' \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

# Writers first on the fast path: while a writer is queued, a newcomer must
# not read on the compare-exchange path (it may while only readers are
# queued).
breakage reader-fast-path-past-writers "$state" \
    's/state & self\.read_blockers == 0(\n\s*&& self)/state & WRITER == 0$1/' \
    "loom_model newcomer_reader_is_held_back_while_a_writer_waits" \
    "rw_test writers_first_order"

# A reader that queues must look again if the writer left before its
# waiting bit went on: that release saw no bit and woke nobody.
breakage reader-bit-recheck "$state" \
    's/(fetch_or\(READERS_WAITING, Ordering::Relaxed\);\n\s*)if before & WRITER == 0 \{\n\s*continue;\n\s*\}/$1let _ = before;/' \
    "loom_model reader_is_woken_by_a_downgrade"

# Likewise a writer that queues first, if the lock came free meanwhile.
# (Writers first, a writer that found only readers in its way looks again
# anyway after spinning for them to leave: only readers first shows this.)
breakage writer-bit-recheck "$state" \
    's/(fetch_or\(WRITERS_WAITING, Ordering::Relaxed\);\n\s*)if my_turn && before & \(WRITER \| READERS\) == 0 \{\n\s*continue;\n\s*\}/$1let _ = before;/' \
    "loom_model writers_exclude_each_other_and_readers_reader_first"

# A release notifies a side only if the queue counts one of its threads
# as sleeping: a sleeping writer left uncounted is never woken.
breakage sleeping-writers-count "$state" \
    's/\*sleeping\(&mut queue, writer\) \+= 1;/*sleeping(\&mut queue, writer) += usize::from(!writer);/' \
    "loom_model queued_writers_go_in_arrival_order"

# Likewise a sleeping reader.
breakage sleeping-readers-count "$state" \
    's/\*sleeping\(&mut queue, writer\) \+= 1;/*sleeping(\&mut queue, writer) += usize::from(writer);/' \
    "loom_model reader_is_woken_by_a_downgrade" \
    "loom_model readers_queued_behind_a_writer_and_a_newcomer_all_get_in"

# A writer back from spinning for the readers to leave must look at the
# word again before it sleeps: the last reader may have left meanwhile,
# and found nobody sleeping to notify.
breakage writer-drain-recheck "$state" \
    's/(queue = self\.lock_queue\(\);\n)\s*continue;\n/$1/' \
    "loom_model two_readers_and_a_writer" \
    "loom_model writers_exclude_each_other_and_readers_writer_first"

echo "breakages: $caught caught, $missed missed, $failed no longer apply or build"
((missed == 0 && failed == 0))
