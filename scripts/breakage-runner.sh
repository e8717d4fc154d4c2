# Sourced by the break-*.sh scripts: applies each entry of their `breakages`
# array ("name|file|perl substitution|cargo test arguments") one at a time,
# checks that the named tests fail, and restores the source after each.
# With arguments, only the breakages of those names run.

run_breakages() {
    local failed=0 entry name file subst target
    for entry in "${breakages[@]}"; do
        IFS='|' read -r name file subst target <<<"$entry"
        if [ $# -gt 0 ] && [[ ! " $* " == *" $name "* ]]; then continue; fi
        cp "$file" "$file.orig"
        perl -0pi -e "$subst" "$file"
        if cmp -s "$file" "$file.orig"; then
            echo "!! $name: the substitution no longer applies"; failed=1
        elif ! cargo test $target --no-run >/dev/null 2>&1; then
            # A breakage that does not build proves nothing about the tests.
            echo "!! $name: does not build"; failed=1
        elif cargo test $target >/dev/null 2>&1; then
            echo "!! $name: survived ($target passed)"; failed=1
        else
            echo "ok $name: caught by $target"
        fi
        mv "$file.orig" "$file"
        # The restored file is older than the broken build: make cargo rebuild.
        touch "$file"
    done
    return $failed
}
