# bench/lib.sh: process helpers shared by bench/run.sh and bench/crash.sh (sourced).
# The caller sets $work (a scratch folder) and $sim (the jdsim binary) first. Every process
# started through these is recorded in $work/pids and stopped when the script exits.

# ---- processes: every one we start is recorded and stopped by its pid ----
: >"$work/pids"
cleanup() {
    for p in $(cat "$work/pids" 2>/dev/null); do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in $(cat "$work/pids" 2>/dev/null); do
        kill -9 "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # pid: TERM, wait for it, forget it
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    grep -v "^$1\$" "$work/pids" >"$work/pids.new" || true
    mv "$work/pids.new" "$work/pids"
}

free_port() { "$sim" --free-port; }

# start_redis NAME FSYNC: sets RPORT and RPID
start_redis() {
    RPORT=$(free_port)
    mkdir -p "$work/$1"
    redis-server --bind 127.0.0.1 --port "$RPORT" --appendonly yes --appendfsync "$2" \
        --save "" --dir "$work/$1" --logfile "$work/$1/redis.log" --daemonize no &
    RPID=$!
    echo "$RPID" >>"$work/pids"
    i=0
    until [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "redis-server $1 did not start" >&2; exit 1; }
        sleep 0.1
    done
}

wait_http() {
    i=0
    until curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "nothing answers on port $1" >&2; exit 1; }
        sleep 0.1
    done
}
