#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server: a temporary data directory, loopback
# only, a free port, stopped and removed when the command ends (whatever its outcome).
# Usage: scripts/with-postgres.sh [--durable] COMMAND...
# --durable keeps fsync on (for benchmarks); tests turn it off for speed.
set -euo pipefail
durable=0
if [ "${1:-}" = "--durable" ]; then durable=1; shift; fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
workdir=$(mktemp -d -t kapstone-pg.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$workdir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$workdir/data" -U kapstone --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
opts="-c listen_addresses=127.0.0.1 -p $port -k $workdir -c max_connections=200"
if [ "$durable" -eq 0 ]; then opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
as_pg "$pgbin/pg_ctl" -D "$workdir/data" -o "$opts" -l "$workdir/server.log" -w start >/dev/null
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U kapstone kapstone
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
export DATABASE_URL="postgres://kapstone@127.0.0.1:$port/kapstone"
"$@"
