#!/bin/sh
# Erasure costs (docs/internals.md "Erasure"), by hand: sh bench/erase.sh [build dir]
#  1. DELETE /v1/contacts/<id> over a queue and a dead-letter stream of N (default 20,000)
#     other people's webhooks each, three of each the person's: wall time to the answer,
#     and Redis's time in all and its slowest command meanwhile (SLOWLOG).
#  2. The tombstone check apply.lua makes per event (two identities), in a loop of 1,000
#     inside Redis: microseconds per 1,000 events, five runs.
# Needs redis-server, redis-cli, curl and python3; uses ports 6399 and 18099 (override
# with RP= and HP=) and a temporary directory it removes.
set -eu
BUILD=${1:-build-rel}
BIN=$(cd "$BUILD" && pwd)/journeyd
N=${N:-20000}
RP=${RP:-6399}
HP=${HP:-18099}
T=bench-token-0123456789
D=$(mktemp -d /tmp/jd-erase-bench.XXXXXX)
JD=

cleanup() {
    [ -n "$JD" ] && kill "$JD" 2>/dev/null && wait "$JD" 2>/dev/null || true
    redis-cli -p "$RP" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT

conf() {
    cat >"$D/j.conf" <<CONF
[journeyd]
listen = 127.0.0.1:$HP
redis = 127.0.0.1:$RP
api_tokens = $T
default_country_code = 39
$1
[source site]
type = form
auth = hmac
secret = form_bench_secret_0123
CONF
}

start() {
    "$BIN" -c "$D/j.conf" 2>>"$D/jd.log" &
    JD=$!
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz")" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 200 ] || { echo "journeyd not ready" >&2; exit 1; }
        sleep 0.05
    done
}

stop() {
    kill "$JD"
    wait "$JD" || true
    JD=
}

redis-server --port "$RP" --dir "$D" --appendonly yes --appendfsync everysec --save '' \
    --daemonize yes --logfile "$D/redis.log" --pidfile "$D/redis.pid"
sleep 0.5

# The person, applied by a full daemon.
conf ""
start
curl -s -o /dev/null -H "Authorization: Bearer $T" -d '{"events":[{"id":"b1","kind":"lead",
"at":"2026-10-01T10:00:00Z","identities":[{"type":"email","value":"erase.bench@example.com"}]}]}' \
    "http://127.0.0.1:$HP/v1/events"
sleep 1
CID=$(curl -s -H "Authorization: Bearer $T" \
    "http://127.0.0.1:$HP/v1/journey?email=erase.bench@example.com" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["contact"]["id"])')
stop

# The queue and the dead letters, written as ingest and dead.lua write them.
python3 - "$N" >"$D/fill.txt" <<'PY'
import sys
n = int(sys.argv[1])
rec = "src site type form recv 1 h:content-type application/json body '{\"email\":\"%s@example.com\",\"submission_id\":\"%s\"}'"
for i in range(n):
    print("XADD jd:raw * " + rec % ("other%d" % i, "s%d" % i))
    print("XADD jd:dead * entry 1-%d reason bench deliveries 1 " % i + rec % ("dead%d" % i, "d%d" % i))
for k in range(3):
    print("XADD jd:raw * " + rec % ("erase.bench", "mine%d" % k))
    print("XADD jd:dead * entry 2-%d reason bench deliveries 1 " % k + rec % ("erase.bench", "dmine%d" % k))
PY
redis-cli -p "$RP" <"$D/fill.txt" >/dev/null

# No worker: the queue stays as it is while the erasure scans it.
conf "roles = ingest, api"
start
redis-cli -p "$RP" CONFIG SET slowlog-log-slower-than 0 >/dev/null
redis-cli -p "$RP" CONFIG SET slowlog-max-len 100000 >/dev/null
redis-cli -p "$RP" SLOWLOG RESET >/dev/null
echo "before: jd:raw $(redis-cli -p "$RP" XLEN jd:raw), jd:dead $(redis-cli -p "$RP" XLEN jd:dead)"
s=$(date +%s%N)
curl -s -X DELETE -H "Authorization: Bearer $T" "http://127.0.0.1:$HP/v1/contacts/$CID"
e=$(date +%s%N)
echo
echo "DELETE answered in $(((e - s) / 1000000)) ms"
echo "after: jd:raw $(redis-cli -p "$RP" XLEN jd:raw), jd:dead $(redis-cli -p "$RP" XLEN jd:dead)"
redis-cli -p "$RP" --json SLOWLOG GET 100000 | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x[3][0] not in ("SLOWLOG", "CONFIG", "XLEN")]
e.sort(key=lambda x: -x[2])
print("Redis: %d commands, %d us in all; slowest: %s" % (len(e), sum(x[2] for x in e),
      ", ".join("%d us %s" % (x[2], x[3][0]) for x in e[:3])))'
stop

echo "tombstone check, us per 1,000 events (3 hashes + 1 HMGET each, 3,000 tombstones):"
redis-cli -p "$RP" EVAL "for i=1,3000 do redis.call('HSET','jd:bench:erased',redis.sha1hex('x'..i),'1') end return 1" 0 >/dev/null
for k in 1 2 3 4 5; do
    redis-cli -p "$RP" EVAL "local s=string.rep('0123456789abcdef', 4) local t=redis.call('TIME')
for i=1,1000 do local f={redis.sha1hex(s..'\n'..'events:id-'..i),
redis.sha1hex(s..'\t'..'email\tu'..i..'@example.com'), redis.sha1hex(s..'\t'..'anon\ta'..i)}
redis.call('HMGET','jd:bench:erased',unpack(f)) end local t2=redis.call('TIME')
return (t2[1]-t[1])*1000000+(t2[2]-t[2])" 0
done
