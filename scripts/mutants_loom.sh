#!/usr/bin/env bash
# Re-runs the mutants that `scripts/mutants.sh SET` left missed against the
# loom models of that set, which cargo-mutants cannot run (they need a
# `--cfg loom` build): a mutant that only a rare interleaving exposes (a lost
# wake-up, a count made wrong on a path a race takes) survives the thread
# tests and may still be caught by a model.
#
#   bash scripts/mutants_loom.sh SET [REGEX]
#
# SET: rw_lock (tests/loom_rw_lock.rs) or arbiter (arbiter::models). REGEX
# narrows the missed mutants re-run (matched against their names, as in
# missed.txt). Each mutant's diff is applied to a scratch copy of the tree;
# the outcome goes to target/mutants/<SET>/loom.txt ("caught", "missed" or
# "unviable" (does not build under loom), then the mutant's name). Not run by CI: a model run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

set_name="${1:?usage: mutants_loom.sh SET [REGEX]}"
filter="${2:-.}"
out="target/mutants/$set_name/mutants.out"
[[ -f "$out/outcomes.json" ]] || {
    echo "no report in $out: run scripts/mutants.sh $set_name first" >&2
    exit 1
}
case "$set_name" in
rw_lock) models=(--test loom_rw_lock) ;;
arbiter) models=(--lib arbiter::models) ;;
*)
    echo "no loom models for the set $set_name" >&2
    exit 1
    ;;
esac

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$scratch"
target_dir="$PWD/target/loom-mutants"
results="target/mutants/$set_name/loom.txt"
models_run=(env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$target_dir"
    cargo test --quiet -p fasteners --release "${models[@]}")
: >"$results"

# name<TAB>diff of every missed mutant matching the filter.
python3 - "$out/outcomes.json" "$filter" >"$scratch/missed.tsv" <<'EOF'
import json, re, sys
outcomes = json.load(open(sys.argv[1]))["outcomes"]
for o in outcomes:
    mutant = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
    if mutant and o["summary"] == "MissedMutant" and re.search(sys.argv[2], mutant["name"]):
        print(f'{mutant["name"]}\t{o["diff_path"]}')
EOF

while IFS=$'\t' read -r name diff; do
    patch --quiet -p0 -d "$scratch" <"$out/$diff"
    echo "==> $name"
    if ! (cd "$scratch" && "${models_run[@]}" --no-run >/dev/null 2>&1); then
        outcome=unviable
    elif (cd "$scratch" && timeout 600 "${models_run[@]}" >/dev/null 2>&1); then
        outcome=missed
    else
        outcome=caught
    fi
    echo "$outcome $name" | tee -a "$results"
    patch --quiet -R -p0 -d "$scratch" <"$out/$diff"
done <"$scratch/missed.tsv"
echo "==> $(grep -c '^caught' "$results" || true) caught, $(grep -c '^missed' "$results" || true) missed by the loom models: $results"
