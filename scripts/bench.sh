#!/usr/bin/env bash
# Regenerates BENCHMARKS.md from one run of every benchmark harness on this
# machine, back to back:
#   benches/process_lock.rs   what each peer guarantees; the uncontended cycle
#                             (lock object reused, and a fresh open) of the
#                             crate, the raw floors, std, fs4, fd-lock,
#                             file-guard, named-lock, fslock and Python fasteners
#   benches/first_lock.rs     the first lock of a fresh object, a lock soon after
#                             a change (and its system calls, under strace)
#   benches/cross_process.rs  handoff to a waiter in another process, abandoned
#                             waits, contended throughput of 2 and 4 processes
#   fasteners/benches/rw_lock.rs  the in-process locks against std and parking_lot
#   benches/macros.rs         attributes against the same code written by hand
#   benches/postgres.rs       PostgreSQL advisory locks (through
#                             scripts/with-postgres.sh; skipped without a server)
# The uncontended cycles and the attributes are also counted under
# `valgrind --tool=callgrind` (user-space instructions per cycle: N cycles of
# one case minus a run of 0 cycles, divided by N).
#
# The explanatory prose is in scripts/BENCHMARKS.template.md; every figure
# and every met/missed in the output comes from this run.
#
# Usage: bash scripts/bench.sh [OUTPUT]   (default BENCHMARKS.md)
# Installs what it needs on a fresh Debian machine (valgrind, strace, Python
# fasteners 0.20, PostgreSQL through with-postgres.sh). Takes about 8
# minutes on a 2-core virtual machine once built (the handoffs, 3000 per
# scenario in 30 rounds so that their medians settle, take 2 of them); a
# first build (with and without the `postgres` feature) adds about 5.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
output="${1:-BENCHMARKS.md}"
# Relative, so that the commands recorded in the output read as typed here.
work="target/bench-run"
rm -rf "$work"
mkdir -p "$work"
started_at="$(date +%s)"
python="${PYTHON:-python3}"
export PYTHON="$python"
log() { echo "==> $*" >&2; }

# --- Prerequisites -----------------------------------------------------------
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "$1 is missing and this is not root: install it (apt-get install $1)"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$1" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$1" >/dev/null 2>&1; }
}
for tool in valgrind strace; do
    command -v "$tool" >/dev/null || { log "installing $tool"; apt_install "$tool" || true; }
done
# Python fasteners 0.20, imported from outside the repository (its
# `fasteners/` directory would shadow the package).
py_fasteners_version() {
    (cd /tmp && "$python" -c 'import fasteners.version as v; print(v._VERSION)' 2>/dev/null) || true
}
if [ "$(py_fasteners_version)" != "0.20" ]; then
    log "installing Python fasteners 0.20"
    (cd /tmp && "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "fasteners==0.20") || log "pip install failed: Python rows will say why"
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
max_load="$(cut -d' ' -f1 /proc/loadavg)"
sample_load() {
    max_load="$(awk -v a="$max_load" -v b="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { print (b > a ? b : a) }')"
}

# --- Build everything first, so that no harness runs beside a compiler -------
log "building the benches"
build_log="$work/build.log"
executable() { # bench name [cargo args...] -> path of its binary
    local bench="$1"
    shift
    cargo bench --no-run "$@" --bench "$bench" 2>&1 | tee -a "$build_log" |
        sed -n "s|.*Executable benches/$bench.rs (\(.*\))|\1|p" | tail -n 1
}
process_lock="$(executable process_lock)"
first_lock="$(executable first_lock)"
macros="$(executable macros)"
cargo bench --no-run --bench cross_process >>"$build_log" 2>&1
cargo bench --no-run -p fasteners --bench rw_lock >>"$build_log" 2>&1
postgres_built=1
cargo bench --no-run --features postgres --bench postgres >>"$build_log" 2>&1 || postgres_built=0
for bin in "$process_lock" "$first_lock" "$macros"; do
    [ -x "$root/$bin" ] || [ -x "$bin" ] || { cat "$build_log" >&2; log "no bench binary found"; exit 1; }
done

load_before="$(load)"
run_started="$(date +%s)"

# --- Instruction counts --------------------------------------------------------
# Total user-space instructions of a run of the harness under callgrind.
have_valgrind=0
command -v valgrind >/dev/null && have_valgrind=1
instructions_of() {
    local out="$work/callgrind.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$work/callgrind.log"
    awk '/^totals:/ { print $2 }' "$out"
}
# count BIN FILE N [ID...]: for each ID, `BIN --bench --cycles ID N` minus
# `BIN --bench --cycles FIRST-ID 0`, divided by N, as "ID count" lines.
count_cases() {
    local bin="$1" file="$2" n="$3"
    shift 3
    : >"$file"
    [ "$have_valgrind" -eq 1 ] || return 0
    local base
    base="$(instructions_of "$bin" --bench --cycles "$1" 0)"
    for id in "$@"; do
        local total
        total="$(instructions_of "$bin" --bench --cycles "$id" "$n")"
        awk -v id="$id" -v t="$total" -v b="$base" -v n="$n" 'BEGIN { printf "%s %.1f\n", id, (t - b) / n }' >>"$file"
    done
}
cycles=10000
log "callgrind: process_lock cases"
mapfile -t ids < <("$process_lock" --list)
count_cases "$process_lock" "$work/process_lock.instructions" "$cycles" "${ids[@]}"
log "callgrind: macros cases"
mapfile -t ids < <("$macros" --list)
count_cases "$macros" "$work/macros.instructions" "$cycles" "${ids[@]}"
# first_lock runs one case with `--syscalls CASE N`; case 6 (a lock soon
# after a change) is not counted: under callgrind its cycles outlast the
# window after the change.
log "callgrind: first_lock cases"
: >"$work/first_lock.instructions"
if [ "$have_valgrind" -eq 1 ]; then
    base="$(instructions_of "$first_lock" --syscalls 0 0)"
    for case in 0 1 2 3 4 5 7 8; do
        total="$(instructions_of "$first_lock" --syscalls "$case" 2000)"
        awk -v id="$case" -v t="$total" -v b="$base" 'BEGIN { printf "%s %.1f\n", id, (t - b) / 2000 }' \
            >>"$work/first_lock.instructions"
    done
fi
sample_load

# --- The timed runs --------------------------------------------------------------
# Each harness's markdown goes to $work/NAME.md; the commands to $work/commands.
: >"$work/commands"
timed() { # name command...
    local name="$1"
    shift
    log "$*"
    echo "$name	$*" >>"$work/commands"
    "$@" >"$work/$name.md"
    sample_load
}
instr_arg() { [ -s "$1" ] && echo "--instructions $1" || true; }

# process_lock also writes what it probed each peer to guarantee, for the
# cross-process tables.
export FASTENERS_BENCH_GUARANTEES="$work/guarantees"
# shellcheck disable=SC2046 # the optional arguments split on purpose
timed process_lock cargo bench --bench process_lock -- --rounds 15 --iterations 3000 \
    --python-iterations 300 $(instr_arg "$work/process_lock.instructions")
unset FASTENERS_BENCH_GUARANTEES

# shellcheck disable=SC2046
timed first_lock cargo bench --bench first_lock -- --rounds 15 --iterations 2000 \
    $(instr_arg "$work/first_lock.instructions")
# System calls per cycle of the first-lock cases (strace counts exactly).
if command -v strace >/dev/null; then
    log "system calls per cycle (strace -c -f, 1000 cycles each)"
    {
        echo
        echo "System calls per cycle (\`strace -f -c target/release/deps/first_lock-* --syscalls CASE 1000\`: 1000 cycles of each case, the calls made at least once per cycle):"
        echo
        echo "| case | system calls per cycle |"
        echo "|---|---|"
        names=()
        while IFS=$'\t' read -r id name; do names[id]="$name"; done < <("$first_lock" --list)
        for case in 0 1 3 4 5 6 7 8; do
            strace -f -c -o "$work/strace-$case.txt" "$first_lock" --syscalls "$case" 1000
            calls="$(awk '$NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $(NF-1) >= 900 \
                { printf "%s`%s` %.0f", sep, $NF, $(NF-1) / 1000; sep = ", " }' "$work/strace-$case.txt")"
            echo "| ${names[$case]} | $calls |"
        done
    } >>"$work/first_lock.md"
fi

timed cross_process cargo bench --bench cross_process -- --iterations 3000 --python-iterations 100 \
    --rounds 30 --duration-ms 300 --throughput-rounds 3 --guarantees "$work/guarantees"

# The in-process locks: a harness that prints its own markdown section, or
# (while it is a criterion bench) criterion's estimates made into a table.
if grep -q 'criterion_main!' fasteners/benches/rw_lock.rs; then
    timed rw_lock.raw cargo bench -p fasteners --bench rw_lock -- --warm-up-time 1 --measurement-time 3
    sed -i 's/^rw_lock.raw	/rw_lock	/' "$work/commands"
    {
        echo "## In-process locks (criterion, \`--warm-up-time 1 --measurement-time 3\`)"
        echo
        echo "| benchmark | median estimate |"
        echo "|---|---|"
        awk '/time:/ { name = $1; if (name == "time:") name = prev;
                       sub(/.*time: *\[/, ""); split($0, f, " "); printf "| %s | %s %s |\n", name, f[3], f[4] }
             { if ($0 !~ /time:/ && NF == 1) prev = $1 }' "$work/rw_lock.raw.md"
        echo
        echo "Criterion gives no paired ratios and computes no targets; this table lists its estimates as printed."
    } >"$work/rw_lock.md"
else
    # shellcheck disable=SC2086 # RW_LOCK_ARGS splits on purpose
    timed rw_lock cargo bench -p fasteners --bench rw_lock -- ${RW_LOCK_ARGS:-}
fi

# shellcheck disable=SC2046
timed macros cargo bench --bench macros -- --rounds 21 $(instr_arg "$work/macros.instructions")

if [ "$postgres_built" -eq 0 ]; then
    echo "Skipped: the bench did not build with \`--features postgres\` (see \`target/bench-run/build.log\`)." >"$work/postgres.md"
elif ! timed postgres scripts/with-postgres.sh cargo bench --features postgres --bench postgres -- \
    --iterations 6000 --handoffs 600 --rounds 20 2>"$work/postgres.err"; then
    echo "Skipped: no PostgreSQL server could be started here ($(grep -v '^==>' "$work/postgres.err" | tail -n 1))." \
        >"$work/postgres.md"
fi

# --- BENCHMARKS.md -----------------------------------------------------------------
load_after="$(load)"
finished_at="$(date +%s)"
commit="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- . ':!BENCHMARKS.md' || commit="$commit with uncommitted changes"
{
    echo "- **When:** $(date -u -d "@$run_started" '+%Y-%m-%d %H:%M UTC'); the harnesses ran for $(((finished_at - run_started) / 60)) min $(((finished_at - run_started) % 60)) s, after $((run_started - started_at)) s of installing and building."
    echo "- **Machine:** $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); Linux $(uname -r); $(rustc --version); $("$python" --version 2>&1), Python fasteners $(py_fasteners_version || true)."
    echo "- **Commit:** \`$commit\`."
    echo "- **Command:** \`bash scripts/bench.sh\`; each section names the harness command it ran."
    idle="$(awk -v a="$load_before" -v m="$max_load" 'BEGIN { split(a, f, " "); print (f[1] < 0.3 && m < 1.3) ? "idle" : "busy" }')"
    if [ "$idle" = idle ]; then
        echo "- **Load:** load average $load_before before, $load_after after (highest 1-minute figure seen between harnesses: $max_load): the machine was idle but for the benchmarks."
    else
        echo "- **Load:** load average $load_before before, $load_after after (highest 1-minute figure seen between harnesses: $max_load): **the machine was not idle**, so the times are noisy; the paired ratios and the instruction counts suffer least."
    fi
} >"$work/header.md"

"$python" - "$work" scripts/BENCHMARKS.template.md "$output" <<'PY'
import os, re, sys

work, template, output = sys.argv[1:]
commands = dict(line.rstrip("\n").split("\t", 1) for line in open(os.path.join(work, "commands")))

def parts(name):
    """A harness's output split at its `## ` headings (demoted to `###`)."""
    path = os.path.join(work, name + ".md")
    if not os.path.exists(path):
        return ["Not run."]
    text = open(path).read().strip()
    chunks, current = [], []
    for line in text.splitlines():
        if line.startswith("==> "):  # scripts/with-postgres.sh's own notes
            continue
        if line.startswith("## ") and current:
            chunks.append("\n".join(current).strip())
            current = []
        current.append("#" + line if line.startswith("## ") else line)
    chunks.append("\n".join(current).strip())
    return chunks

def section(match):
    name, index = match.group(1), match.group(2)
    chunks = parts(name)
    body = "\n\n".join(chunks) if index is None else (
        chunks[int(index) - 1] if int(index) <= len(chunks) else "Not printed by this run.")
    command = commands.get(name)
    prefix = "`%s`\n\n" % command if command and index in (None, "1") else ""
    return prefix + body

text = open(template).read()
text = text.replace("{{header}}", open(os.path.join(work, "header.md")).read().strip())
text = re.sub(r"\{\{([a-z_]+)(?::(\d+))?\}\}", section, text)

# The summary of every target, gathered from the sections' target tables.
rows, heading, in_table = [], "", False
for line in text.splitlines():
    if line.startswith("## "):
        heading = line[3:].split(" (")[0]
    if line.startswith("| target | this run | status |"):
        in_table = True
        continue
    if in_table and line.startswith("|---"):
        continue
    if in_table and line.startswith("|"):
        rows.append("| %s | %s" % (heading, line[2:]))
        continue
    in_table = False
summary = "| section | target | this run | status |\n|---|---|---|---|\n" + "\n".join(rows)
text = text.replace("[[targets]]", summary)
open(output, "w").write(text.rstrip() + "\n")
PY
log "wrote $output in $(((finished_at - started_at) / 60)) min $(((finished_at - started_at) % 60)) s"
