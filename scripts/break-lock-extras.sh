#!/usr/bin/env bash
# Breaks named locks, wait notices, is_held / held_elsewhere, holder pids,
# owned guards and the tracing events on purpose, one breakage at a time, and
# checks that the tests named for it fail; restores the source after each.
# Not run by CI (each breakage rebuilds the crate).
# Usage: bash scripts/break-lock-extras.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/.."

# name | file | perl substitution | cargo test arguments
breakages=(
  "no-name-check|fasteners/src/lock_file/object.rs|s/named::check_name\(name\)\.err\(\)/None/|--test named_locks"
  "named-dir-open-to-others|fasteners/src/named.rs|s/metadata\.mode\(\) & 0o077 != 0/false/|--test named_locks"
  "no-notice-for-threads|fasteners/src/lock_file/object.rs|s/\n\s*self\.starts_waiting\(mode\);//|--test wait_notice"
  "async-notice-every-poll|fasteners/src/lock_file/object.rs|s/if this\.waiting_since\.is_none\(\) \{/if true {/|--test wait_notice"
  "is-held-ignores-other-objects|fasteners/src/lock_file/object.rs|s/self\.entry\(\)\.is_ok_and\(/self.entry().is_err_and(/|--test introspection"
  "flock-probe-shared-first|fasteners/src/lock_file/object.rs|s/if probe\(Mode::Exclusive\)/if probe(Mode::Shared)/|--test introspection"
  "no-own-pid|fasteners/src/lock_file/object.rs|s/Some\(std::process::id\(\)\)/None/|--test introspection"
  "no-pid-from-the-kernel|fasteners/src/sys/ofd.rs|s/Ok\(Some\(\(mode, pid\)\)\)/Ok(Some((mode, None)))/|--test interop_python"
  "detach-releases|fasteners/src/lock_file/object.rs|s/self\.file = None;\n(\s*)Share \{/Share {/|--test owned_guards"
  "no-acquired-event|fasteners/src/trace.rs|s/\"lock acquired after waiting\"/\"lock acquired\"/|-p fasteners --features tracing --test tracing_events"
  "held-long-threshold|fasteners/src/trace.rs|s/Duration::from_secs\(1\);/Duration::from_secs(2);/|-p fasteners --features tracing --test tracing_events"
)

. scripts/breakage-runner.sh
run_breakages "$@"
