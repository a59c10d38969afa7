# bench/lib.sh: process and wait helpers shared by bench/run.sh and bench/crash.sh (sourced).
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

# ---- waiting: every wait is bounded ----

# wait_until TRIES PAUSE WHAT COMMAND...: runs COMMAND (its output dropped) until it
# succeeds, at most TRIES times PAUSE seconds apart; else prints WHAT and exits.
wait_until() {
    _tries=$1 _pause=$2 _what=$3
    shift 3
    _i=0
    until "$@" >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt "$_tries" ] || { echo "$_what" >&2; exit 1; }
        sleep "$_pause"
    done
}

pong() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }
http_down() { ! curl -sf "$1" >/dev/null 2>&1; }
raw_empty() { [ "$(redis-cli -p "$RPORT" XLEN jd:raw)" = 0 ]; }

# wait_http PORT PATH: until it answers 2xx (10 s at most)
wait_http() { wait_until 100 0.1 "nothing answers on port $1" curl -sf "http://127.0.0.1:$1$2"; }
# wait_ready PORT: until journeyd's /readyz answers 200 (60 s at most)
wait_ready() {
    wait_until 1200 0.05 "journeyd on port $1 never became ready" \
        curl -sf "http://127.0.0.1:$1/readyz"
}
# wait_unready PORT: until journeyd has noticed that Redis is gone (10 s at most)
wait_unready() {
    wait_until 200 0.05 "journeyd on port $1 never noticed Redis was gone" \
        http_down "http://127.0.0.1:$1/readyz"
}
# wait_drained: until the raw stream on $RPORT is empty (an entry goes once applied; 5 min)
wait_drained() { wait_until 6000 0.05 "the queue never drained" raw_empty; }

# ---- Redis ----

# run_redis DIR FSYNC: redis-server on $RPORT with its AOF in $work/DIR; sets RPID. It
# answers PING only once it has loaded its AOF.
run_redis() {
    redis-server --bind 127.0.0.1 --port "$RPORT" --appendonly yes --appendfsync "$2" \
        --save "" --dir "$work/$1" --logfile "$work/$1/redis.log" --daemonize no &
    RPID=$!
    echo "$RPID" >>"$work/pids"
}

# start_redis NAME FSYNC: on a free port; sets RPORT and RPID
start_redis() {
    RPORT=$(free_port)
    mkdir -p "$work/$1"
    run_redis "$1" "$2"
    wait_until 100 0.1 "redis-server $1 did not start" pong "$RPORT"
}
