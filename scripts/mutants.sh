#!/usr/bin/env bash
# Mutation testing with cargo-mutants: changes the code one small way at a
# time (an operator, a condition, a returned value) and checks that the tests
# that cover it fail. A mutant that survives is a gap in the tests, or an
# equivalent change (listed with the reason in CONTRIBUTING.md).
#
#   bash scripts/mutants.sh [SET...] [-- extra cargo-mutants options]
#
# Sets (all of them when none is named):
#   rw_lock     fasteners/src/rw_lock/ against the crate's unit tests, tests/rw_lock.rs
#               and tests/try_lock.rs
#   macros      fasteners-macros/src/ against the macro behaviour tests
#               (tests/macros_*.rs, tests/test_lints.rs) and the macro crate's unit tests, then
#               the mutants those miss against the compile-fail tests
#               (tests/compiletest.rs: trybuild rebuilds the crates at each
#               mutant, about 40 s, so only the misuse paths go to it)
#   arbiter     fasteners/src/arbiter/ (the shared holder/waiter state machine)
#               against the process-lock tests (its loom models, in
#               arbiter/models.rs, need a `--cfg loom` build: see CONTRIBUTING.md)
#   lock_file   fasteners/src/lock_file/ against the crate's unit tests and the
#               process-lock tests (with fork, aliases, deleted files,
#               read-only files, the waits and their notices, named locks,
#               owned guards, "who holds it?" and the Python interop test,
#               whose package it installs)
#
# Each set's report goes to target/mutants/<set>/mutants.out (caught.txt,
# missed.txt, timeout.txt, unviable.txt). Not run by CI: on 2 cores a set
# takes from tens of minutes to hours. Narrow it with cargo-mutants' own
# options, e.g. `bash scripts/mutants.sh rw_lock -- -f fasteners/src/rw_lock/state.rs`.
# Installs cargo-mutants if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sets=()
while (($# > 0)) && [[ "$1" != -- ]]; do
    sets+=("$1")
    shift
done
[[ "${1:-}" == -- ]] && shift
extra=("$@")
((${#sets[@]} > 0)) || sets=(rw_lock macros arbiter lock_file)

if ! command -v cargo-mutants >/dev/null; then
    echo "==> installing cargo-mutants"
    cargo install --locked cargo-mutants
fi

# mutate SET FILE-GLOB TEST-PACKAGES TEST-TARGET...
# (TEST-PACKAGES: comma-separated; a target `lib` is the packages' unit tests)
# With `iterate=1` before it, tests only the mutants the set's last run
# (its report in target/mutants/SET) did not catch.
mutate() {
    local set="$1" files="$2" package="$3"
    shift 3
    # The test targets go to the build as well as to the test run (-C), so
    # that a mutant rebuilds only the tests that run on it.
    local targets=()
    for target in "$@"; do
        if [[ "$target" == lib ]]; then
            targets+=(-C "--lib")
        else
            targets+=(-C "--test=$target")
        fi
    done
    # A `-f` among the extra options narrows the set to those files.
    local file_args=(-f "$files")
    [[ " ${extra[*]} " == *" -f "* || " ${extra[*]} " == *" --file "* ]] && file_args=()
    echo "==> mutants of ${files} ($set) ${extra[*]}"
    mkdir -p "target/mutants/$set"
    # --timeout: the tests bound every wait at 20 s, so a mutant that makes
    # a waiter hang fails (or times out) within a minute; the lock_file set's
    # tests take 30 s themselves on 2 cores (the waits' 200 timed waiters).
    local timeout=60
    [[ "$set" == lock_file ]] && timeout=150
    # trybuild builds its crates again at each mutant (about 40 s here).
    [[ "$set" == macros ]] && timeout=120
    # The rw_lock tests run in 3 s; a mutant that makes one of them spin
    # (a compare-and-swap loop that never succeeds) is not worth a minute.
    [[ "$set" == rw_lock ]] && timeout=20
    local again=()
    [[ "${iterate:-0}" == 1 ]] && again=(--iterate)
    # Code under #[cfg(test)] (the unit tests' own helpers) is not mutated.
    cargo mutants "${again[@]}" --workspace "${file_args[@]}" --test-workspace=false --test-package "$package" \
        --exclude-re 'tests::' \
        --baseline skip --timeout "$timeout" --output "target/mutants/$set" "${targets[@]}" "${extra[@]}" ||
        status=1
}

status=0
for set in "${sets[@]}"; do
    case "$set" in
    rw_lock)
        mutate rw_lock 'fasteners/src/rw_lock/*.rs' fasteners-workspace,fasteners lib rw_lock try_lock
        ;;
    macros)
        mutate macros 'fasteners-macros/src/*.rs' fasteners-workspace,fasteners-macros lib \
            macros_behaviour macros_rw_lock macros_signatures macros_hygiene macros_async \
            macros_async_lints macros_interprocess macros_module macros_named macros_paths \
            macros_serial test_lints
        iterate=1 mutate macros 'fasteners-macros/src/*.rs' fasteners-workspace compiletest
        ;;
    arbiter)
        mutate arbiter 'fasteners/src/arbiter/{mod,task}.rs' fasteners-workspace \
            process_lock process_rw_lock first_lock try_lock async_lock async_cancel waits \
            aliases
        ;;
    lock_file)
        # The Python interop test names a `lockf` holder by its pid, through
        # the kernel's answer (`name_holder`, `held_elsewhere`).
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
            -r requirements-test.txt
        mutate lock_file 'fasteners/src/lock_file/*.rs' fasteners-workspace,fasteners lib \
            process_lock process_rw_lock process_identity process_identity_rename async_lock \
            fd_leaks fork aliases first_lock deleted_file read_only bad_paths waits wait_signals \
            wait_fallback try_lock introspection named_locks owned_guards wait_notice \
            interop_python
        ;;
    *)
        echo "unknown set $set (rw_lock, macros, arbiter, lock_file)" >&2
        exit 2
        ;;
    esac
done
exit "$status"
