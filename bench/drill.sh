#!/bin/sh
# Drill-down timings (issue 13.1) on the benchmark fill:
#
#   sh bench/drill.sh [--contacts N]     (default 100000; about 8 min on 2 cores)
#
# jdfill's synthetic month (N contacts, about 11 events each) is stitched by one worker,
# then each report and the drill-downs behind one of its numbers are timed through an
# API-only journeyd, best of three GETs. A drill-down runs its report's own reads (that
# is what makes it add up to the report), so it should cost about what its report costs.
# Builds Release into build-bench/ like run.sh (JD_BENCH_JOURNEYD=/path/journeyd measures
# that binary); data and logs stay in build-bench/drill/. Nothing asserts on timing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
contacts=100000
while [ $# -gt 0 ]; do
    case $1 in
    --contacts)
        contacts=$2
        shift
        ;;
    *)
        sed -n '2,12p' "$0"
        exit 2
        ;;
    esac
    shift
done
build="$top/build-bench"
work="$build/drill"
rm -rf "$work"
mkdir -p "$work"
targets="jdsim jdfill"
[ -n "${JD_BENCH_JOURNEYD:-}" ] || targets="journeyd $targets"
if ! { cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJD_TESTS=OFF -DJD_BENCH=ON &&
    cmake --build "$build" -j"$(nproc)" --target $targets; } >"$work/build.log" 2>&1; then
    tail -30 "$work/build.log"
    exit 1
fi
jd=${JD_BENCH_JOURNEYD:-$build/journeyd}
fill="$build/bench/jdfill"
token=drill-bench-token-0123
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

rport=$("$build/bench/jdsim" --free-port)
jport=$("$build/bench/jdsim" --free-port)
redis-server --bind 127.0.0.1 --port "$rport" --appendonly yes --appendfsync everysec \
    --save "" --dir "$work" --logfile "$work/redis.log" --daemonize no &
pids="$pids $!"
until [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done

conf() { # FILE ROLES: every source type jdfill's month uses
    cat >"$1" <<EOF
[journeyd]
listen = 127.0.0.1:$jport
redis = 127.0.0.1:$rport
api_tokens = $token
default_country_code = 39
click_allow = example.com
log_level = notice
roles = $2
[source stripe]
type = stripe
secret = whsec_demo_secret
[source site]
type = form
auth = hmac
secret = form_demo_secret
[source meta_leads]
type = meta_leads
secret = meta_leads_bench_secret
verify_token = bench-verify
[source google_ads]
type = google_ads
secret = google_ads_bench_secret
[source typeform]
type = typeform
secret = typeform_bench_secret
[source calendly]
type = calendly
secret = calendly_bench_secret
[source hubspot]
type = hubspot
secret = hubspot_bench_secret
public_url = http://127.0.0.1:$jport/hooks/hubspot
[source shopify]
type = shopify
secret = shopify_bench_secret
[source pipedrive]
type = pipedrive
username = journeyd
password = pipedrive_bench_secret
EOF
}

echo "filling $contacts contacts and stitching them (one worker)..."
"$fill" fill --port "$rport" --contacts "$contacts" --seed 7 >"$work/fill.txt"
conf "$work/worker.conf" worker
"$jd" -c "$work/worker.conf" 2>"$work/worker.log" &
wpid=$!
pids="$pids $wpid"
"$fill" drain --port "$rport" --timeout 3600 2>"$work/drain.log" | tee "$work/drain.txt"
kill "$wpid"
conf "$work/api.conf" api
"$jd" -c "$work/api.conf" 2>"$work/api.log" &
pids="$pids $!"
until curl -sf "http://127.0.0.1:$jport/readyz" >/dev/null 2>&1; do sleep 0.1; done

from=$(date -u -d '40 days ago' +%Y-%m-%dT00:00:00Z)
to=$(date -u -d 'tomorrow' +%Y-%m-%dT00:00:00Z)
week=$(date -u -d '10 days ago' +%G-W%V)
row() { # LABEL PATH: a table row with the best of three and the answer's total
    best=""
    for _ in 1 2 3; do
        t=$(curl -s -o "$work/answer.json" -w '%{time_total}' \
            -H "Authorization: Bearer $token" "http://127.0.0.1:$jport$2")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    total=$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' "$work/answer.json")
    echo "| $1 | $best s | ${total:-—} |"
}
r="from=$from&to=$to"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(cat "$work/fill.txt")"
echo "| GET (40 days, $contacts contacts) | best of 3 | items |"
echo "|---|---|---|"
row "attribution report (linear, by channel)" "/v1/reports/attribution?model=linear&by=channel&$r"
row "its paid_search row's conversions, first page" \
    "/v1/reports/attribution/conversions?model=linear&by=channel&key=paid_search&$r"
row "funnel report (cohort, by week)" "/v1/reports/funnel?by=week&$r"
row "the leads of week $week" "/v1/reports/funnel/contacts?by=week&period=$week&stage=lead&$r"
row "the contacts qualified in week $week (activity)" \
    "/v1/reports/funnel/contacts?view=activity&by=week&period=$week&stage=qualified&$r"
row "SLA scorecard" "/v1/reports/sla?$r"
row "its breached leads" "/v1/reports/sla/contacts?status=breached&$r"
row "its waiting leads" "/v1/reports/sla/contacts?status=waiting&$r"
row "sources" "/v1/sources"
