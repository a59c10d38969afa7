#!/bin/sh
# Byte-for-byte comparison of two journeyd binaries' report and journey answers on one
# large data set (issue 10: "the report answers stay byte-identical").
#
#   sh bench/compare_reports.sh OLD_JOURNEYD NEW_JOURNEYD [CONTACTS]
#
# Fills a private redis-server (free loopback port, no persistence) with a synthetic month
# of CONTACTS contacts (default 20000) through jdfill, the stitching benchmark's filler
# (bench/README.md), and copies that raw stream into a second redis-server before anything
# is applied. OLD's worker applies the first, NEW's worker the second, so the records and
# indexes each version writes are compared too. Each side gets the same spend rows through
# its own POST /v1/spend. Then, for two configurations (UTC with the default SLA; a DST
# time zone with business hours and targets), it asks every URL of a list covering every
# report, model, key, period, view, compare, a few refused queries, and the journey and
# contact answers of a sample of contacts:
#   old  = OLD's API on OLD's data
#   new  = NEW's API on OLD's data     (the readers alone)
#   full = NEW's API on NEW's data     (writers and readers)
# and cmp's new and full against old. The three APIs run at the same time and each URL is
# asked of all three at once, so the SLA's `now` is the same (an answer that still differs
# is asked again, at most three times: a second may tick between the three requests).
# Prints one line per difference and a summary; exit 0 only when every answer matched.
# jdfill and jdsim (for free ports) are taken from NEW's build (<dir of NEW>/bench/), or
# from $JDFILL / $JDSIM. Work files stay in $JD_COMPARE_DIR (default: a mktemp -d).
set -eu

[ $# -ge 2 ] || { echo "usage: $0 OLD_JOURNEYD NEW_JOURNEYD [CONTACTS]" >&2; exit 2; }
old=$1
new=$2
contacts=${3:-20000}
bin=$(dirname "$new")/bench
fill=${JDFILL:-$bin/jdfill}
sim=${JDSIM:-$bin/jdsim}
conf=$(dirname "$0")/../tools/demo.conf
[ -r "$conf" ] || { echo "missing $conf" >&2; exit 2; }
for x in "$old" "$new" "$fill" "$sim"; do
    [ -x "$x" ] || { echo "not an executable: $x" >&2; exit 2; }
done
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
work=${JD_COMPARE_DIR:-$(mktemp -d /tmp/jd-compare.XXXXXX)}
mkdir -p "$work"
token=demo-token
pids=""

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_until WHAT COMMAND...: COMMAND retried for up to 60 s until it succeeds.
wait_until() {
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "$what did not start (logs in $work)" >&2; exit 1; }
        sleep 0.1
    done
}

pong() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }

# start_redis NAME: sets RPORT (the data directory is $work/NAME)
start_redis() {
    RPORT=$("$sim" --free-port)
    mkdir -p "$work/$1"
    redis-server --bind 127.0.0.1 --port "$RPORT" --appendonly no --save "" \
        --dir "$work/$1" --logfile "$work/$1/redis.log" --daemonize no &
    pids="$pids $!"
    wait_until "redis-server $1" pong "$RPORT"
}

# write_conf FILE PORT REDIS_PORT ROLES VARIANT: the quick start's configuration (its
# sources are the ones jdfill writes for), on these ports, with these roles.
write_conf() {
    tz=UTC
    [ "$5" = dst ] && tz=Europe/Rome
    awk -v listen="127.0.0.1:$2" -v redis="127.0.0.1:$3" -v roles="$4" -v tz="$tz" '
        /^listen *=/ { print "listen = " listen; next }
        /^redis *=/ { print "redis = " redis; next }
        /^timezone *=/ { next }
        { print }
        /^\[journeyd\]/ { print "roles = " roles; print "timezone = " tz; print "log_level = warning" }
    ' "$conf" >"$1"
    if [ "$5" = dst ]; then
        printf '\n[sla]\nresponse_hours = 4\nresponse_share = 0.75\n' >>"$1"
        printf 'business_hours = mon-fri 09:00-18:00\nleads_per_month = 5000\nqualified_rate = 0.35\n' >>"$1"
    fi
}

# start_jd NAME BINARY REDIS_PORT ROLES VARIANT: sets JPORT and JPID
start_jd() {
    JPORT=$("$sim" --free-port)
    write_conf "$work/$1.conf" "$JPORT" "$3" "$4" "$5"
    "$2" -c "$work/$1.conf" 2>"$work/$1.log" &
    JPID=$!
    pids="$pids $JPID"
    case $4 in *api*) wait_until "journeyd $1" curl -sf "http://127.0.0.1:$JPORT/readyz" ;; esac
}

stop_jd() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

echo "work files: $work"
start_redis redis-old
rold=$RPORT
"$fill" fill --port "$rold" --contacts "$contacts" --seed 7 --paths "$work/paths.txt" |
    sed 's/^/  /'
# The same raw stream, byte for byte, for NEW's worker.
redis-cli -p "$rold" save >/dev/null
mkdir -p "$work/redis-new"
cp "$work/redis-old/dump.rdb" "$work/redis-new/dump.rdb"
start_redis redis-new
rnew=$RPORT
[ "$(redis-cli -p "$rnew" xlen jd:raw)" = "$(redis-cli -p "$rold" xlen jd:raw)" ] ||
    { echo "the copied raw stream differs" >&2; exit 1; }

for side in old new; do
    eval "rp=\$r$side"
    eval "jd=\$$side"
    start_jd "worker-$side" "$jd" "$rp" worker utc
    "$fill" drain --port "$rp" --timeout 3600 | sed "s/^/  $side worker: /"
    stop_jd "$JPID"
done

# Spend rows (by campaign and source; one currency without revenue), through each API.
d1=$(date -u -d '20 days ago' +%Y-%m-%d)
d2=$(date -u -d '3 days ago' +%Y-%m-%d)
spend='{"rows":[
{"date":"'$d1'","source":"google","campaign":"spring_promo","amount":150000,"currency":"EUR"},
{"date":"'$d2'","source":"google","campaign":"spring_promo","amount":99999,"currency":"EUR"},
{"date":"'$d1'","source":"google","campaign":"brand_search","amount":80000,"currency":"EUR"},
{"date":"'$d2'","source":"facebook","campaign":"lookalike_1pct","amount":123456,"currency":"EUR"},
{"date":"'$d1'","source":"facebook","campaign":"retargeting_q3","amount":5000,"currency":"USD"},
{"date":"'$d2'","source":"newsletter","campaign":"webinar_sept","amount":0,"currency":"EUR"}]}'
for side in old new; do
    eval "rp=\$r$side"
    eval "jd=\$$side"
    start_jd "spend-$side" "$jd" "$rp" api utc
    curl -sf -o "$work/spend-$side.json" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "$spend" \
        "http://127.0.0.1:$JPORT/v1/spend" || { echo "POST /v1/spend failed on $side" >&2; exit 1; }
    stop_jd "$JPID"
done
cmp -s "$work/spend-old.json" "$work/spend-new.json" ||
    { echo "POST /v1/spend answers differ" >&2; exit 1; }

# The URL list.
urls=$work/urls.txt
: >"$urls"
to=$(date -u -d 'tomorrow' +%Y-%m-%dT00:00:00Z)
f40=$(date -u -d '40 days ago' +%Y-%m-%dT00:00:00Z)
f7=$(date -u -d '7 days ago' +%Y-%m-%dT06:30:00Z)
month=$(date -u -d '15 days ago' +%Y-%m)
week=$(date -u -d '14 days ago' +%G-W%V)
day=$(date -u -d '10 days ago' +%Y-%m-%d)
for model in first_touch last_touch linear position time_decay; do
    for by in channel source campaign ad; do
        echo "/v1/reports/attribution?model=$model&by=$by" >>"$urls"
        echo "/v1/reports/attribution?model=$model&by=$by&from=$f40&to=$to" >>"$urls"
        echo "/v1/reports/attribution?model=$model&by=$by&from=$f7&to=$to" >>"$urls"
    done
done
cat >>"$urls" <<EOF
/v1/reports/attribution?model=time_decay&by=campaign&half_life=1d&lookback=30d
/v1/reports/attribution?model=position&by=source&lookback=36h&from=$f40&to=$to
/v1/reports/attribution?model=linear&by=ad&lookback=600s
/v1/reports/attribution?model=bogus
/v1/reports/attribution?from=$to&to=$f40
EOF
for by in day week month; do
    for view in cohort activity; do
        echo "/v1/reports/funnel?by=$by&view=$view&from=$f40&to=$to" >>"$urls"
        echo "/v1/reports/funnel?by=$by&view=$view&from=$f7&to=$to" >>"$urls"
    done
done
for view in cohort activity; do
    echo "/v1/reports/funnel?by=month&view=$view&from=$f40&to=$to&compare=$month" >>"$urls"
    echo "/v1/reports/funnel?by=week&view=$view&from=$f40&to=$to&compare=$week" >>"$urls"
    echo "/v1/reports/funnel?by=day&view=$view&from=$f7&to=$to&compare=$day" >>"$urls"
done
cat >>"$urls" <<EOF
/v1/reports/funnel?by=week&compare=2026-W99&from=$f40&to=$to
/v1/reports/funnel?by=month
/v1/reports/sla?from=$f40&to=$to
/v1/reports/sla?from=$f7&to=$to
/v1/reports/sla?from=$(date -u -d '90 days ago' +%Y-%m-%dT00:00:00Z)&to=$to
/v1/reports/sla?from=$to&to=$to
EOF
nreports=$(wc -l <"$urls")
# Journeys: the heavy contacts (jdfill --paths) and a sample of all contacts by id.
head -n 40 "$work/paths.txt" >>"$urls"
redis-cli -p "$rold" --scan --pattern 'jd:c:*' |
    sed -n 's/^jd:c:\([^:]*\)$/\1/p' | sort | awk 'NR % 97 == 1' | head -n 200 >"$work/ids.txt"
while read -r id; do
    echo "/v1/journey?contact=$id"
    echo "/v1/journey?contact=$id&model=time_decay"
    echo "/v1/contacts/$id"
done <"$work/ids.txt" >>"$urls"
echo "urls: $nreports report queries, $(($(wc -l <"$urls") - nreports)) journey and contact reads"

# get PORT URL FILE: the status line and the body, so a refusal is compared too.
get() {
    curl -s -o "$3" -w '%{http_code}\n' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$1$2" >"$3.status" || echo "curl failed" >"$3.status"
    cat "$3.status" "$3" >"$3.all"
}

# ask URL N: the three answers, asked at the same instant (the SLA reads the clock when
# the request arrives, and its "waited_seconds" tick with it). 0 when both match old.
ask() {
    get "$p_old" "$1" "$out/$2.old" &
    a=$!
    get "$p_new" "$1" "$out/$2.new" &
    b=$!
    get "$p_full" "$1" "$out/$2.full" &
    c=$!
    wait "$a" "$b" "$c"
    cmp -s "$out/$2.old.all" "$out/$2.new.all" && cmp -s "$out/$2.old.all" "$out/$2.full.all"
}

asked=0
differ=0
for variant in utc dst; do
    start_jd "api-old-$variant" "$old" "$rold" api "$variant"
    p_old=$JPORT
    j_old=$JPID
    start_jd "api-new-$variant" "$new" "$rold" api "$variant"
    p_new=$JPORT
    j_new=$JPID
    start_jd "api-full-$variant" "$new" "$rnew" api "$variant"
    p_full=$JPORT
    j_full=$JPID
    out=$work/answers-$variant
    mkdir -p "$out"
    n=0
    while read -r url; do
        n=$((n + 1))
        # A whole second can still tick between three requests started together: such an
        # answer is asked again, up to three times.
        try=1
        until ask "$url" "$n" || [ $try -eq 3 ]; do try=$((try + 1)); done
        [ $try -eq 1 ] || echo "asked $try times ($variant): $url"
        asked=$((asked + 1))
        for k in new full; do
            if ! cmp -s "$out/$n.old.all" "$out/$n.$k.all"; then
                differ=$((differ + 1))
                echo "DIFFERS ($variant, $k): $url  ($out/$n.old vs $out/$n.$k)"
            fi
        done
        case $(head -n 1 "$out/$n.old.status") in
        200 | 400 | 404) ;;
        *) echo "note ($variant): $url answered $(head -n 1 "$out/$n.old.status")" ;;
        esac
    done <"$urls"
    stop_jd "$j_old"
    stop_jd "$j_new"
    stop_jd "$j_full"
done

bytes=$(cat "$work"/answers-*/*.old 2>/dev/null | wc -c)
echo "compared $asked URLs (x2: new readers on old data, new writers+readers), $bytes bytes of old answers: $differ differences"
[ "$differ" -eq 0 ]
