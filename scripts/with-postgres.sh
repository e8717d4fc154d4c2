#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh CMD [ARGS...]
#
# Runs CMD against a throwaway PostgreSQL cluster: creates it in a fresh
# temporary directory (initdb), starts it on a free loopback port (pg_ctl),
# exports FASTENERS_PG_URL (postgres://fasteners:PASSWORD@127.0.0.1:PORT/postgres,
# a superuser with a random password, password-checked on TCP) and
# FASTENERS_PG_RESTART (a command that restarts the server) and
# FASTENERS_PG_SOCKET_DIR (the directory of its Unix socket, trusted), runs CMD, then
# stops the cluster and removes the directory, also when CMD fails or the
# script is interrupted. Exits with CMD's status.
#
# Installs Debian's `postgresql` package first if initdb / pg_ctl are missing.
# Run as root, the cluster runs as the `postgres` user (PostgreSQL refuses to
# run as root).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

# The directory holding initdb and pg_ctl: on PATH, else the newest Debian
# version under /usr/lib/postgresql.
find_bin_dir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
        return 0
    fi
    return 1
}

if ! bin="$(find_bin_dir)"; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "with-postgres: initdb/pg_ctl not found; install Debian's postgresql package (as root: apt-get install postgresql)" >&2
        exit 1
    fi
    echo "==> installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
    bin="$(find_bin_dir)" || {
        echo "with-postgres: postgresql installed but initdb/pg_ctl not found" >&2
        exit 1
    }
fi

# Runs a command as the cluster's owner.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || {
        echo "with-postgres: running as root needs the postgres user (made by Debian's postgresql package)" >&2
        exit 1
    }
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/fasteners-pg.XXXXXX")"
data="$dir/data"
started=0
cleanup() {
    local status=$?
    if [ "$started" -eq 1 ]; then
        # Immediate shutdown: the data is throwaway. Bounded by -t.
        as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"

password="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$password" >"$dir/pwfile"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pwfile"

# A free loopback port (the kernel picks one; a race with another program
# taking it before the server does makes pg_ctl fail, and the script with it).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

as_owner "$bin/initdb" -D "$data" -U fasteners --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}
rm -f "$dir/pwfile"

started=1
as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null || {
    echo "with-postgres: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
}

# A command that restarts the server (for the test of a restart under a held lock).
if [ "$(id -u)" -eq 0 ]; then owner_prefix="runuser -u postgres --"; else owner_prefix=""; fi
printf '#!/bin/sh\nexec %s "%s" -D "%s" -l "%s" -m fast -w -t 60 restart >/dev/null\n' \
    "$owner_prefix" "$bin/pg_ctl" "$data" "$dir/server.log" >"$dir/restart"
chmod 755 "$dir/restart"

export FASTENERS_PG_URL="postgres://fasteners:$password@127.0.0.1:$port/postgres"
export FASTENERS_PG_RESTART="$dir/restart"
export FASTENERS_PG_SOCKET_DIR="$dir"
echo "==> PostgreSQL $("$bin/pg_ctl" --version | awk "{print \$3}") on 127.0.0.1:$port (data in $data)"

set +e
"$@"
status=$?
set -e
exit "$status"
