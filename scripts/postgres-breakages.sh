#!/usr/bin/env bash
# Breaks the PostgreSQL backend on purpose, one way at a time, and checks that
# the test meant to catch each breakage fails. Restores every file afterwards
# (also on failure or interruption). Needs a server: it runs the tests through
# scripts/with-postgres.sh.
#
# Usage: bash scripts/postgres-breakages.sh
set -euo pipefail
cd "$(dirname "$0")/.."

backup="$(mktemp -d)"
files=(fasteners/src/postgres/session.rs fasteners/src/postgres/lock.rs
    fasteners/src/postgres/raw.rs fasteners/src/postgres/runtime.rs
    fasteners/src/postgres/drive.rs)
for file in "${files[@]}"; do
    cp "$file" "$backup/$(basename "$file")"
done
restore() {
    for file in "${files[@]}"; do
        cp "$backup/$(basename "$file")" "$file"
    done
    rm -rf "$backup"
}
trap restore EXIT

# replace FILE OLD NEW: replaces the one occurrence of OLD in FILE, failing if
# there is none (the breakage no longer matches the code).
replace() {
    python3 - "$@" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"{path}: expected one occurrence of {old!r}")
open(path, "w").write(text.replace(old, new))
EOF
}

missed=0
# breakage NAME TEST FILE OLD NEW: applies it, runs TEST, expects a failure.
breakage() {
    local name=$1 test=$2 file=$3 old=$4 new=$5
    echo "==> breakage: $name (must fail: $test)"
    replace "$file" "$old" "$new"
    # Bounded: some breakages leave a call waiting for an answer nobody reads.
    if timeout 300 bash scripts/with-postgres.sh cargo test -q --features postgres --test postgres "$test" \
        >"$backup/log" 2>&1; then
        echo "MISSED: $name: $test passed"
        missed=1
    else
        echo "caught: $(grep -m1 -E "panicked at|^error" "$backup/log" || echo "the test failed")"
    fi
    cp "$backup/$(basename "$file")" "$file"
}

breakage "an abandoned wait is not cancelled on the server" \
    a_thousand_cancelled_async_waits_leave_nothing_behind \
    fasteners/src/postgres/session.rs \
    "self.withdraw(target, mode, query).await;" ""
breakage "no WouldDeadlock for a thread asking through another object" \
    a_thread_asking_again_gets_would_deadlock_and_other_threads_wait \
    fasteners/src/postgres/lock.rs \
    ".any(|(name, thread)| name == self.name() && *thread == me)" ".any(|_| false)"
breakage "a timed wait sets the session's lock_timeout" \
    try_and_timed_forms_give_up_and_leave_lock_timeout_as_it_was \
    fasteners/src/postgres/session.rs \
    '"SET LOCAL lock_timeout = {}; SELECT' '"SET lock_timeout = {}; SELECT'
breakage "the last holder does not give the server lock back" \
    a_thread_asking_again_gets_would_deadlock_and_other_threads_wait \
    fasteners/src/postgres/raw.rs \
    "runtime::run(session.give_back(&pg.target, mode))" \
    "runtime::run(async { Ok(()) })"
breakage "a sync call inside a tokio runtime starts a runtime there" \
    sync_calls_work_inside_a_tokio_runtime_and_async_work_right_after_them \
    fasteners/src/postgres/runtime.rs \
    "if Handle::try_current().is_ok() {" "if false {"
breakage "no heartbeat" \
    a_connection_that_stops_answering_is_reported_lost_by_the_heartbeat \
    fasteners/src/postgres/session.rs \
    "tokio::time::sleep(heartbeat.interval).await;" "std::future::pending::<()>().await;"
breakage "the connection's end is not watched" \
    a_holder_whose_backend_is_terminated_reports_the_lock_lost \
    fasteners/src/postgres/drive.rs \
    ".send_if_modified(|ended| ended.is_none() && ended.replace(cause).is_none());" \
    ".send_if_modified(|_| { drop(cause); false });"
breakage "a thread that waits leaves the calls of tasks to them" \
    a_thread_that_waits_finishes \
    fasteners/src/postgres/raw.rs \
    "for call in state.local.in_flight.drain(..) {" \
    "for call in state.local.in_flight.drain(..).filter(|_| false) {"
breakage "a dropped async call is not finished by the backend" \
    a_dropped_async_release \
    fasteners/src/postgres/drive.rs \
    "        Arc::clone(&self.call).rescue();
    }" \
    "        let _ = &self.call;
    }"
breakage "a finished async call keeps the connection" \
    sync_and_async_calls_on_the_callers_runtime_take_turns_on_one_session \
    fasteners/src/postgres/drive.rs \
    "in_io_home(home, || driven.hand_back());" "let _ = home;"

if [ "$missed" -ne 0 ]; then
    echo "some breakages were not caught"
    exit 1
fi
echo "every breakage was caught"
