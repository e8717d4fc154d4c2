#!/usr/bin/env bash
# Breaks the lock files' waits, identity and fork handling on purpose, one
# breakage at a time, and checks
# that the tests named for it fail; restores the source after each. Not run
# by CI (each breakage rebuilds the crate; the hanging ones end by the tests'
# watchdog, after two minutes). Usage: bash scripts/break-lock-files.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/.."

# Not listed: a settle window of zero. The test for it
# (deleted_file::a_rename_right_after_creation_and_lock_is_caught) cannot
# fail on Linux 6.13 and later, whose multigrain timestamps give a change
# right after a stat a new change time; it guards older kernels.
#
# name | file | perl substitution | test target
breakages=(
  "no-interrupt-on-leave|fasteners/src/lock_file/mod.rs|s/Entry::stop_background_wait\(state\);/let _ = state;/|--test waits"
  "eintr-is-an-error|fasteners/src/lock_file/kernel.rs|s/if Instant::now\(\) >= deadline \{\n(\s*)break Ok\(false\);/if true {\n\$1break Err(err);/|--test wait_signals"
  "timed-waits-in-background|fasteners/src/arbiter/mod.rs|s/if can_block \{\n(\s*)return Step::Block;/if can_block \&\& matches!(wait, Wait::Forever) {\n\$1return Step::Block;/|--test waits"
  "signal-with-sa-restart|fasteners/src/sys/signal.rs|s/action\.sa_flags = 0;/action.sa_flags = libc::SA_RESTART;/|--test waits"
  "ignore-blocked-mask|fasteners/src/sys/signal.rs|s/== 1 \{\n(\s*)return None;/== 2 {\n\$1return None;/|--test wait_signals"
  "no-shared-entry|fasteners/src/lock_file/registry.rs|s/if identity\.open && identity\.id == opened\.id \{/if false {/|--test aliases"
  "retry-deleted-forever|fasteners/src/lock_file/identity.rs|s/if deleted == Some\(seen\.id\) \{/if false {/|--test deleted_file"
  "no-read-only-open|fasteners/src/lock_file/identity.rs|s/Err\(err\) if refused_write\(&err\) =>/Err(err) if false =>/|--test read_only"
  "no-atfork-handler|fasteners/src/sys/fork.rs|s/unsafe \{ libc::pthread_atfork\(None, None, Some\(in_child\)\) \};/let _ = in_child;/|--test fork"
  "first-lock-claims-existing-entry|fasteners/src/lock_file/registry.rs|s/return \(Handle\(entry\), false\);/return (Handle(entry), held.is_some());/|--test first_lock"
  "first-lock-keeps-its-description|fasteners/src/lock_file/registry.rs|s/return \(Handle\(entry\), false\);/std::mem::forget(opened); return (Handle(entry), false);/|--test first_lock"
  "interrupt-sent-once|fasteners/src/timer.rs|s/armed\.interrupt\(thread, sig, now\);\n(\s*)true/armed.interrupt(thread, sig, now);\n\$1false/|-p fasteners --lib an_interrupt_that_comes_before_the_kernel_call"
  "fired-interrupt-sent-once|fasteners/src/timer.rs|s/(let again = armed\.interrupt\(thread, sig, Instant::now\(\)\);)/\$1 armed.at = None;/|-p fasteners --lib a_background_interrupt_that_comes_before_the_kernel_call"
  "claim-any-signal|fasteners/src/sys/signal.rs|s/disposition\(signal\) == Some\(libc::SIG_DFL\) \&\& //|--test wait_fallback"
)

. scripts/breakage-runner.sh
run_breakages "$@"
