#!/usr/bin/env bash
# The library on the platforms CI cannot run: macOS, FreeBSD and Windows.
# Clippy (which also type-checks) of the published crates, with every feature
# and without, and of the `fasteners` package's tests and examples, for each
# target; and its docs, as docs.rs builds them for those targets. Nothing here
# runs: these platforms' behaviour is not tested, only that the code compiles
# there without warnings.
#
# A target whose standard library cannot be installed (`rustup target add`
# needs static.rust-lang.org) is reported as skipped, and the run says so at
# the end; it does not pass for it.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd x86_64-pc-windows-msvc)
skipped=()
if ! command -v rustup >/dev/null; then
    echo "cross-check: all ${#targets[@]} targets SKIPPED (no rustup to install them with)"
    exit 0
fi
for target in "${targets[@]}"; do
    if ! rustup target list --installed | grep -qx "$target"; then
        if ! timeout 300 rustup target add "$target"; then
            echo "SKIPPED: $target (its standard library could not be installed)"
            skipped+=("$target")
            continue
        fi
    fi
    echo "==> $target"
    cargo clippy --workspace --lib --examples --target "$target" -- -D warnings
    cargo clippy -p fasteners --all-targets --all-features --target "$target" -- -D warnings
    RUSTDOCFLAGS=-Dwarnings cargo doc -p fasteners --no-deps --all-features --target "$target"
done

if ((${#skipped[@]})); then
    echo "cross-check: ${#skipped[@]} of ${#targets[@]} targets SKIPPED: ${skipped[*]}"
else
    echo "cross-check: all ${#targets[@]} targets checked"
fi
