# Sourced by the write-behind and restore benchmarks: a private Redis and a
# private PostgreSQL in a temporary folder, on free loopback ports, removed
# on exit. Sets WORK, REDIS_PORT, PG_PORT, PG_BIN and the helpers below.
# `initdb` and `postgres` refuse to run as root: as root they run as the
# `postgres` user.

say() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
command -v redis-server >/dev/null || die "redis-server is missing: ./deploy/dev.sh test installs it"
command -v redis-cli >/dev/null || die "redis-cli is missing: apt-get install redis-tools"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL is missing: ./deploy/dev.sh test installs it"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_servers() {
    WORK=$(mktemp -d "/tmp/taskmaster-$BENCH_NAME.XXXXXX")
    chmod 755 "$WORK"
    REDIS_PORT=$(free_port)
    PG_PORT=$(free_port)
    trap stop_servers EXIT
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --dir "$WORK" --logfile "$WORK/redis.log"
    mkdir "$WORK/pg"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK/pg"; fi
    as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w \
        -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
}

stop_servers() {
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
