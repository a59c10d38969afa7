#!/bin/sh
# The SLA report on the 100k benchmark fill, with and without the SLA index (jd:sla:f),
# and optionally against another journeyd binary (docs/benchmarks.md, "The SLA index"):
#
#   sh bench/sla_ab.sh [OLD_JOURNEYD] [ROUNDS]
#
# Builds Release into build-bench/ (as bench/run.sh), fills a redis-server on a free
# loopback port with `jdfill fill --contacts 100000 --seed 7`, drains it with this build's
# worker, then per round times GET /v1/reports/sla over the 40 days around the fill
# through an API-only journeyd: with the index, with jd:sla:f renamed away (every journey
# read), and with OLD_JOURNEYD when given. Each answer with `to` at today's midnight is
# compared byte for byte (a `to` in the past keeps the waiting times still). Everything
# stays in build-bench/sla_ab/ until the next run; nothing asserts on timing.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
old=${1:-}
rounds=${2:-5}
build="$top/build-bench"
work="$build/sla_ab"
rm -rf "$work"
mkdir -p "$work"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJD_TESTS=OFF -DJD_BENCH=ON >"$work/build.log" 2>&1
cmake --build "$build" -j2 --target journeyd jdfill jdsim >>"$work/build.log" 2>&1
jd="$build/journeyd"
sim="$build/bench/jdsim"
. "$top/bench/lib.sh" # cleanup, stop, free_port, start_redis, wait_http
start_redis redis everysec
rp=$RPORT
conf() { # FILE PORT ROLES
    cat >"$1" <<EOC
[journeyd]
listen = 127.0.0.1:$2
redis = 127.0.0.1:$rp
api_tokens = demo-token-local-only
default_country_code = 39
click_allow = example.com
click_cookie_secure = no
log_level = notice
roles = $3

[source stripe]
type = stripe
secret = whsec_demo_secret

[source site]
type = form
auth = hmac
secret = form_demo_secret
EOC
}
"$build/bench/jdfill" fill --port "$rp" --contacts 100000 --seed 7 >"$work/fill.txt"
conf "$work/worker.conf" "$(free_port)" worker
"$jd" -c "$work/worker.conf" 2>"$work/worker.log" &
wpid=$!
echo "$wpid" >>"$work/pids"
"$build/bench/jdfill" drain --port "$rp" --timeout 1800
stop "$wpid"
echo "leads in the index: $(redis-cli -p "$rp" hlen jd:sla:f)"
ap=$(free_port)
conf "$work/api.conf" "$ap" api
from=$(date -u -d '40 days ago' +%Y-%m-%dT00:00:00Z)
to=$(date -u -d 'tomorrow' +%Y-%m-%dT00:00:00Z)
past=$(date -u +%Y-%m-%dT00:00:00Z)
q() { # PATH OUT: seconds
    curl -s -o "$work/$2" -w '%{time_total}' -H "Authorization: Bearer demo-token-local-only" \
        "http://127.0.0.1:$ap$1"
}
api() { # BINARY
    "$1" -c "$work/api.conf" 2>>"$work/api.log" &
    apid=$!
    echo "$apid" >>"$work/pids"
    wait_http "$ap" /readyz
}
for round in $(seq 1 "$rounds"); do
    api "$jd"
    a=$(q "/v1/reports/sla?from=$from&to=$to" x.json)
    q "/v1/reports/sla?from=$from&to=$past" index.json >/dev/null
    redis-cli -p "$rp" rename jd:sla:f jd:sla:f:aside >/dev/null
    b=$(q "/v1/reports/sla?from=$from&to=$to" x.json)
    q "/v1/reports/sla?from=$from&to=$past" aside.json >/dev/null
    redis-cli -p "$rp" rename jd:sla:f:aside jd:sla:f >/dev/null
    stop "$apid"
    same=$(cmp -s "$work/index.json" "$work/aside.json" && echo same || echo DIFFERENT)
    c="-"
    if [ -n "$old" ]; then
        api "$old"
        c=$(q "/v1/reports/sla?from=$from&to=$to" x.json)
        q "/v1/reports/sla?from=$from&to=$past" old.json >/dev/null
        stop "$apid"
        cmp -s "$work/index.json" "$work/old.json" || same=DIFFERENT
    fi
    echo "round $round: index ${a}s, index aside ${b}s, old ${c}s; answers $same; load $(cut -d' ' -f1 /proc/loadavg)"
done
# The SLA page as daemon/ui/app.js loads it: the scorecard, then the waiting leads' names
# beside up to four pages of answered leads, one after another (this build, the index on).
api "$jd"
for round in $(seq 1 "$rounds"); do
    rng="from=$from&to=$to"
    t0=$(date +%s.%N)
    s=$(q "/v1/reports/sla?$rng" x.json)
    t1=$(date +%s.%N)
    q "/v1/reports/sla/contacts?status=waiting&limit=500&$rng" w.json >/dev/null &
    wp=$!
    cur=""
    pages=""
    for _ in 1 2 3 4; do
        pages="$pages $(q "/v1/reports/sla/contacts?status=answered&limit=500&$rng$cur" page.json)"
        nc=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$work/page.json")
        [ -n "$nc" ] || break
        cur="&cursor=$nc"
    done
    wait $wp
    t2=$(date +%s.%N)
    echo "page $round: scorecard ${s}s, answered pages${pages} s; the page complete after $(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", b - a }')s"
done
stop "$apid"
