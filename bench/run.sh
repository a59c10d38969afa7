#!/bin/sh
# journeyd's benchmark suite (issue 5). One command:
#
#   sh bench/run.sh            full run (~10-15 min on 2 cores)
#   sh bench/run.sh --quick    a fast check (~3 min): 100k stitching events, 5 s runs
#   sh bench/run.sh --profile  also records perf profiles of redis-server and journeyd
#                              while stitching (reports next to the logs)
#
# Installs what is missing (tools/deps.sh --bench: wrk and the build dependencies), builds
# Release into build-bench/, starts its own redis-server processes on free loopback ports
# (AOF on; appendfsync everysec, and always for the durability run) and measures ingest,
# stitching, lag, queries and memory. Prints one table and writes it to bench/results.md.
# Logs and data stay in build-bench/run/ until the next run. bench/README.md explains the
# figures. Nothing here asserts on timing; it is not part of ctest.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
profile=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --profile) profile=1 ;;
    -h | --help)
        sed -n '2,15p' "$0"
        exit 0
        ;;
    *)
        echo "usage: sh bench/run.sh [--quick] [--profile]" >&2
        exit 2
        ;;
    esac
done

if [ $quick -eq 1 ]; then
    dur=5 contacts=10000 nreq=40000 lagdur=15 qdur=5 mode="quick"
else
    dur=10 contacts=100000 nreq=100000 lagdur=30 qdur=10 mode="full"
fi
token=demo-token-local-only

sh "$top/tools/deps.sh" --bench
build="$top/build-bench"
work="$build/run"
rm -rf "$work"
mkdir -p "$work"
echo "building Release into $build (log: $work/build.log)"
# JD_BENCH_JOURNEYD=/path/to/journeyd measures that binary instead of building one.
targets="ref_evhttp ref_xadd jdsim jdfill"
[ -n "${JD_BENCH_JOURNEYD:-}" ] || targets="journeyd $targets"
if ! { cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJD_TESTS=OFF -DJD_BENCH=ON &&
    cmake --build "$build" -j"$(nproc)" --target $targets; } >"$work/build.log" 2>&1; then
    tail -30 "$work/build.log"
    echo "build failed" >&2
    exit 1
fi
jd=${JD_BENCH_JOURNEYD:-$build/journeyd}
sim="$build/bench/jdsim"
fill="$build/bench/jdfill"
bench="$top/bench"

# Process helpers (cleanup, stop, free_port, start_redis, wait_http): bench/lib.sh.
. "$bench/lib.sh"

# The sources of the bench config: the demo's two, plus every provider connector this
# journeyd has (each is tried with --check-config, so one half-way into the tree is left out).
registry=""
has_type() { case " $registry " in *" $1 "*) return 0 ;; esac; return 1; }

# write_conf FILE PORT REDIS_PORT ROLES
write_conf() {
    cat >"$1" <<EOF
[journeyd]
listen = 127.0.0.1:$2
redis = 127.0.0.1:$3
api_tokens = $token
default_country_code = 39
click_allow = example.com
click_cookie_secure = no
log_level = notice
roles = $4

[source stripe]
type = stripe
secret = whsec_demo_secret

[source site]
type = form
auth = hmac
secret = form_demo_secret
EOF
    for wt in meta_leads google_ads typeform calendly hubspot shopify pipedrive; do
        has_type "$wt" || continue
        printf '\n[source %s]\ntype = %s\n' "$wt" "$wt" >>"$1"
        case $wt in
        meta_leads) printf 'secret = meta_leads_bench_secret\nverify_token = bench-verify\n' ;;
        pipedrive) printf 'username = journeyd\npassword = pipedrive_bench_secret\n' ;;
        hubspot) printf 'secret = hubspot_bench_secret\npublic_url = http://127.0.0.1:%s/hooks/hubspot\n' "$2" ;;
        *) printf 'secret = %s_bench_secret\n' "$wt" ;;
        esac >>"$1"
    done
}

found=""
for ty in meta_leads google_ads typeform calendly hubspot shopify pipedrive; do
    registry=$ty
    write_conf "$work/check.conf" 1 1 "ingest"
    "$jd" --check-config -c "$work/check.conf" >/dev/null 2>&1 && found="$found $ty"
done
registry=${found# }

# start_jd NAME REDIS_PORT ROLES: sets JPORT and JPID
verdict_time() { # SECONDS: against the 1 s target of issue 6
    awk -v t="$1" 'BEGIN { if (t < 1) printf "met (%.0f%% below)", (1 - t) * 100; else printf "**missed** by %.0f%%", (t - 1) * 100 }'
}

start_jd() {
    JPORT=$(free_port)
    write_conf "$work/$1.conf" "$JPORT" "$2" "$3"
    "$jd" -c "$work/$1.conf" 2>"$work/$1.log" &
    JPID=$!
    echo "$JPID" >>"$work/pids"
    case $3 in *ingest* | *api*) wait_http "$JPORT" /readyz ;; esac
}

start_ref() { # NAME ARGS...: sets FPORT and FPID
    FPORT=$(free_port)
    name=$1
    shift
    "$build/bench/$name" "$FPORT" "$@" 2>"$work/$name.log" &
    FPID=$!
    echo "$FPID" >>"$work/pids"
    wait_http "$FPORT" /
}

hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
peak_kb=0
peak_what=""
note_hwm() { # PID WHAT
    h=$(hwm "$1")
    echo "$2: VmHWM ${h} kB" >>"$work/memory.log"
    if [ "${h:-0}" -gt "$peak_kb" ]; then
        peak_kb=$h
        peak_what=$2
    fi
}

to_ms() {
    awk '{v = $1
        if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) }
        else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
        printf "%.2f", v}'
}

# wrk_run NAME PORT: posts pre-signed Stripe webhooks, signed just now; sets RPS P50 P99 BAD
wrk_run() {
    "$sim" --emit-wrk "$work/stripe.req" --count "$nreq" --secrets stripe=whsec_demo_secret
    wrk -t1 -c64 -d2s -s "$bench/wrk_replay.lua" "http://127.0.0.1:$2" -- /hooks/stripe \
        "$work/stripe.req" >/dev/null 2>&1 || true
    wrk -t1 -c64 -d"${dur}s" --latency -s "$bench/wrk_replay.lua" "http://127.0.0.1:$2" -- \
        /hooks/stripe "$work/stripe.req" >"$work/wrk-$1.txt" 2>&1
    parse_wrk "$work/wrk-$1.txt"
    printf '  %-24s %9.0f req/s   p50 %6s ms   p99 %6s ms   non-2xx %s\n' "$1" "$RPS" "$P50" "$P99" "$BAD"
}

parse_wrk() {
    RPS=$(awk '/^Requests\/sec:/ {print $2}' "$1")
    P50=$(awk '$1 == "50%" {print $2}' "$1" | to_ms)
    P99=$(awk '$1 == "99%" {print $2}' "$1" | to_ms)
    BAD=$(awk '/Non-2xx/ {print $NF}' "$1")
    BAD=${BAD:-0}
    E=$(awk '/Socket errors/' "$1")
    [ -z "$E" ] || BAD="$BAD ($E)"
    RPS=${RPS:-0}
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# verdict VALUE TARGET ge|le
verdict() {
    awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN {
        if (v == "" || v == "n/a") { print "not measured"; exit }
        if (d == "ge") {
            if (v >= t) printf "met (%.0f%% above)", (v / t - 1) * 100
            else printf "**missed** by %.0f%% (%.2fx short)", (1 - v / t) * 100, (v > 0 ? t / v : 0)
        } else {
            if (v <= t) printf "met (%.0f%% below)", (t > 0 ? (1 - v / t) * 100 : 0)
            else printf "**missed** by %.0f%% (%.2fx over)", (v / t - 1) * 100, v / t
        }
    }'
}

drain() { # REDIS_PORT TIMEOUT: waits for the worker; prints the drain line
    "$fill" drain --port "$1" --timeout "$2" 2>>"$work/drain.log" || true
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "journeyd benchmark ($mode) — logs in $work"
echo "sources in the bench config: click events stripe form $registry"

# ---- 0. a simulated month through every source (sanity: everything accepted) ----
start_redis redis-everysec everysec
ra=$RPORT
start_jd jd-everysec "$ra" "ingest, worker, api"
echo "simulated month (jdsim, 200 contacts, every source the config has):"
"$sim" --url "http://127.0.0.1:$JPORT" --contacts 200 --seed 42 --concurrency 16 \
    --secrets stripe=whsec_demo_secret,form=form_demo_secret,token=$token >"$work/month.txt" 2>&1 || true
sed 's/^/  /' "$work/month.txt"
drain "$ra" 120 >"$work/month-drain.txt"
month_sent=$(awk '/^sent/ {print $2}' "$work/month.txt")
month_ok=$(awk '/^sent/ {print $7}' "$work/month.txt")
month_dead=$(redis-cli -p "$ra" xlen jd:dead)

# ---- 1. ingest: the same tool and the same pre-signed 1.5 KB Stripe bodies ----
echo "ingest (wrk -t1 -c64 -d${dur}s, pre-signed 1.5 KB Stripe webhooks, signed right before each run):"
start_ref ref_evhttp
wrk_run ref_evhttp "$FPORT"
ev_rps=$RPS ev_p50=$P50 ev_p99=$P99
stop "$FPID"

start_ref ref_xadd "$ra"
wrk_run ref_xadd "$FPORT"
xa_rps=$RPS xa_p50=$P50 xa_p99=$P99
stop "$FPID"
redis-cli -p "$ra" del ref:raw >/dev/null

wrk_run journeyd "$JPORT"
jd_rps=$RPS jd_p50=$P50 jd_p99=$P99 jd_bad=$BAD
note_hwm "$JPID" "ingest, everysec"
jd_drain=$(drain "$ra" 600)
echo "  worker caught up with that burst: $jd_drain"
stop "$JPID"

# The same journeyd without its worker: what verification and the XADD cost alone.
start_jd jd-ingest-only "$ra" "ingest, api"
wrk_run journeyd-ingest-only "$JPORT"
jdi_rps=$RPS jdi_p50=$P50 jdi_p99=$P99
note_hwm "$JPID" "ingest only, everysec"
stop "$JPID"
redis-cli -p "$ra" del jd:raw >/dev/null

# ---- 2. durability: the same with appendfsync always ----
start_redis redis-always always
rb=$RPORT
echo "ingest with appendfsync always:"
start_ref ref_xadd "$rb"
wrk_run ref_xadd-always "$FPORT"
xaa_rps=$RPS xaa_p50=$P50 xaa_p99=$P99
stop "$FPID"
redis-cli -p "$rb" del ref:raw >/dev/null
start_jd jd-always "$rb" "ingest, worker, api"
wrk_run journeyd-always "$JPORT"
jda_rps=$RPS jda_p50=$P50 jda_p99=$P99
note_hwm "$JPID" "ingest, always"
drain "$rb" 600 >/dev/null
stop "$JPID"
start_jd jd-always-ingest-only "$rb" "ingest, api"
wrk_run journeyd-always-ingest-only "$JPORT"
jdai_rps=$RPS jdai_p50=$P50 jdai_p99=$P99
stop "$JPID"
stop "$RPID"

# ---- 3. stitching: a pre-filled raw stream, one worker ----
start_redis redis-stitch everysec
rc=$RPORT
rcpid=$RPID
mem0=$("$fill" stats --port "$rc" | sed 's/.*used_memory=\([0-9]*\).*/\1/')
echo "stitching: pre-filling the raw stream ($contacts contacts, 1% with 100-event journeys)..."
"$fill" fill --port "$rc" --contacts "$contacts" --seed 7 --paths "$work/paths.txt" >"$work/fill.txt"
sed 's/^/  /' "$work/fill.txt"
fill_events=$(sed 's/.*events=\([0-9]*\).*/\1/' "$work/fill.txt")
fill_entries=$(sed 's/.*entries=\([0-9]*\).*/\1/' "$work/fill.txt")
redis-cli -p "$rc" config resetstat >/dev/null
redis-cli -p "$rc" slowlog reset >/dev/null
redis-cli -p "$rc" config set slowlog-log-slower-than 2000 >/dev/null
redis-cli -p "$rc" config set slowlog-max-len 100000 >/dev/null
start_jd jd-worker "$rc" "worker"
if [ $profile -eq 1 ] && command -v perf >/dev/null 2>&1; then
    perf record -g -o "$work/perf-redis.data" -p "$rcpid" -- sleep 15 >/dev/null 2>&1 &
    echo "$!" >>"$work/pids"
    perf record -g -o "$work/perf-journeyd.data" -p "$JPID" -- sleep 15 >/dev/null 2>&1 &
    echo "$!" >>"$work/pids"
fi
stitch=$(drain "$rc" 1800)
echo "  $stitch"
st_eps=$(echo "$stitch" | sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p')
st_secs=$(echo "$stitch" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
note_hwm "$JPID" "worker, stitching"
stop "$JPID"
redis-cli -p "$rc" info commandstats >"$work/commandstats.txt"
redis-cli -p "$rc" slowlog get 20 >"$work/slowlog.txt"
redis-cli -p "$rc" slowlog len >"$work/slowlog-len.txt"
evalsha=$(awk -F'[:,=]' '/^cmdstat_evalsha:/ {printf "%s calls, %.0f us per call", $3, $7}' "$work/commandstats.txt")
echo "  EVALSHA (apply.lua): $evalsha; calls over 2 ms: $(cat "$work/slowlog-len.txt")"
# Reports over the whole stitched data set (issue 6: under 1 s each over 100k contacts /
# 1M events), through an API-only journeyd on the same Redis.
start_jd jd-reports "$rc" "api"
report_time() { # PATH: seconds of one GET, best of three
    best=""
    for _ in 1 2 3; do
        t=$(curl -s -o "$work/report.json" -w '%{time_total}' -H "Authorization: Bearer $token" \
            "http://127.0.0.1:$JPORT$1")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    echo "$best"
}
rep_from=$(date -u -d '40 days ago' +%Y-%m-%dT00:00:00Z)
rep_to=$(date -u -d 'tomorrow' +%Y-%m-%dT00:00:00Z)
t_attr=$(report_time "/v1/reports/attribution?model=linear&by=campaign")
t_attr_td=$(report_time "/v1/reports/attribution?model=time_decay&by=channel&from=$rep_from&to=$rep_to")
t_funnel=$(report_time "/v1/reports/funnel?by=week&from=$rep_from&to=$rep_to")
t_sla=$(report_time "/v1/reports/sla?from=$rep_from&to=$rep_to")
echo "  reports: attribution all time ${t_attr}s, time_decay 40 days ${t_attr_td}s, funnel by week ${t_funnel}s, sla ${t_sla}s"
# The dashboard's views (issue 13: each view's data in under 1 s on this fill), timed as
# daemon/ui/app.js asks for them: a view's requests in one step go out together (the
# page's Promise.all) and its time is the slowest of them; a step that needs the answer
# of the one before (the SLA's drill-downs need the scorecard) follows it, so the times
# add up. Each over the 40 days around the fill (a custom range in the period picker;
# any month of the fill reads a part of it), best of three.
get_status() { # PATH OUT: the HTTP status of one GET, its body in OUT
    curl -s -o "$2" -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$JPORT$1"
}
view_step() { # PATH...: fetched at the same time by one curl on at most 6 connections (a
    # browser's limit per host), the first answer kept in $work/view-1.json; a non-200 is
    # noted in $work/view-codes
    set -f # the paths have '?', never a glob
    args=""
    out="$work/view-1.json"
    for p in "$@"; do
        args="$args -o $out http://127.0.0.1:$JPORT$p"
        out=/dev/null
    done
    # shellcheck disable=SC2086 # a list of arguments without spaces
    curl -sg -Z --parallel-max 6 -H "Authorization: Bearer $token" -w '%{http_code} %{url}\n' \
        $args 2>/dev/null | awk '$1 != 200' | sed 's|http://[^/]*||' >>"$work/view-codes" || true
    set +f
}
sla_view_rest() { # the SLA page after its scorecard (which carries the response times'
    # distribution): the names of the waiting leads; a journeyd without the drill-downs has
    # the page ask each waiting lead's contact (50)
    if [ "$has_drill" = 1 ]; then
        get_status "/v1/reports/sla/contacts?status=waiting&limit=500&$1" /dev/null >/dev/null
    else
        ids=$(grep -o '"contact":"[^"]*"' "$work/view-1.json" | head -50 | sed 's/"contact":"\(.*\)"/\/v1\/contacts\/\1/')
        # shellcheck disable=SC2086 # the ids are c_<hex>: no spaces, no globs
        [ -z "$ids" ] || view_step $ids
    fi
}
view_time() { # STEP...: each STEP a space-separated list of paths; "sla:RANGE" is the
    # SLA page's second step. Seconds, best of three.
    best=""
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        for step in "$@"; do
            # shellcheck disable=SC2086 # a step is a list of paths
            case $step in
            sla:*) sla_view_rest "${step#sla:}" ;;
            *) view_step $step ;;
            esac
        done
        t1=$(date +%s.%N)
        best=$(awk -v a="$best" -v b="$t0" -v c="$t1" 'BEGIN { t = c - b; print (a == "" || t < a) ? t : a }')
    done
    printf '%.3f' "$best"
}
: >"$work/view-codes"
rng="from=$rep_from&to=$rep_to"
has_drill=0 # the SLA's drill-downs (DESIGN §7), where this journeyd has them
[ "$(get_status "/v1/reports/sla/contacts?status=waiting&limit=1&$rng" /dev/null)" != 200 ] || has_drill=1
prev_month=$(date -u -d "${rep_from%%T*} 1 month ago" +%Y-%m)
heavy=$(head -1 "$work/paths.txt")
models="first_touch last_touch linear position time_decay"
five=""
for m in $models; do five="$five /v1/reports/attribution?model=$m&by=channel&$rng"; done
v_rev=$(view_time "/v1/reports/attribution?model=linear&by=channel&$rng")
v_rev5=$(view_time "/v1/reports/attribution?model=all&by=channel&$rng")
v_rev5x=$(view_time "$five") # how the view asked before model=all, for the comparison
v_fun=$(view_time "/v1/reports/funnel?view=cohort&by=month&compare=$prev_month&$rng")
v_sla=$(view_time "/v1/reports/sla?$rng" "sla:$rng")
v_jny=$(view_time "$heavy&model=linear")
v_ops=$(view_time "/v1/status /v1/dead?limit=50 /v1/sources")
view_note=$(sed 's/?.*//' "$work/view-codes" | sort -u | awk '{printf "%s%s %s", (NR > 1 ? "; " : ""), $1, $2}')
echo "  dashboard views: revenue ${v_rev}s (five models ${v_rev5}s; as five requests ${v_rev5x}s), funnel ${v_fun}s, sla ${v_sla}s, journey ${v_jny}s, operations ${v_ops}s${view_note:+ (not answered: $view_note)}"
stop "$JPID"
stats=$("$fill" stats --port "$rc")
mem1=$(echo "$stats" | sed 's/.*used_memory=\([0-9]*\).*/\1/')
st_events=$(echo "$stats" | sed 's/.*events=\([0-9]*\).*/\1/')
st_contacts=$(echo "$stats" | sed 's/.*contacts=\([0-9]*\).*/\1/')
b_event=$(awk -v a="$mem0" -v b="$mem1" -v n="$st_events" 'BEGIN { printf "%.0f", (b - a) / n }')
b_contact=$(awk -v a="$mem0" -v b="$mem1" -v n="$st_contacts" 'BEGIN { printf "%.0f", (b - a) / n }')
echo "  Redis: $(((mem1 - mem0) / 1048576)) MiB for $st_events events and $st_contacts contacts"
if [ $profile -eq 1 ]; then
    wait 2>/dev/null || true
    perf report -i "$work/perf-redis.data" --stdio --no-children 2>/dev/null | grep -v '^$' | head -60 >"$work/perf-redis.txt" || true
    perf report -i "$work/perf-journeyd.data" --stdio --no-children 2>/dev/null | grep -v '^$' | head -60 >"$work/perf-journeyd.txt" || true
    echo "  profiles: $work/perf-redis.txt, $work/perf-journeyd.txt"
fi

# ---- 4. lag at half capacity, and queries while it runs ----
rate=$(awk -v r="$jd_rps" 'BEGIN { printf "%d", r / 2 }')
echo "lag: jdsim --load at $rate/s (half the measured ingest) for ${lagdur}s, worker on;"
echo "     queries (wrk -t1 -c4 -d${qdur}s) of 100-event journeys meanwhile:"
start_jd jd-full "$rc" "ingest, worker, api"
"$fill" lag --port "$rc" --seconds "$lagdur" --settle 300 >"$work/lag.txt" 2>"$work/lag-samples.txt" &
lagpid=$!
echo "$lagpid" >>"$work/pids"
"$sim" --load --url "http://127.0.0.1:$JPORT" --rate "$rate" --duration "$lagdur" \
    --concurrency 128 --secrets stripe=whsec_demo_secret --quiet >"$work/load.txt" 2>&1 &
loadpid=$!
echo "$loadpid" >>"$work/pids"
sleep $((lagdur / 3))
wrk -t1 -c4 -d"${qdur}s" --latency -s "$bench/wrk_query.lua" "http://127.0.0.1:$JPORT" -- \
    "$token" "$work/paths.txt" >"$work/wrk-query.txt" 2>&1
parse_wrk "$work/wrk-query.txt"
q_rps=$RPS q_p50=$P50 q_p99=$P99 q_bad=$BAD
wait "$loadpid" || true
note_hwm "$JPID" "ingest + worker + api, lag and queries"
wait "$lagpid" || true
cat "$work/load.txt" | sed 's/^/  /'
sed 's/^/ /' "$work/lag-samples.txt"
sed 's/^/  /' "$work/lag.txt"
ld_rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' "$work/load.txt")
ld_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$work/load.txt")
ld_non=$(sed -n 's/.*non200=\([0-9]*\).*/\1/p' "$work/load.txt")
lag_max=$(sed -n 's/.*max=\([0-9]*\).*/\1/p' "$work/lag.txt")
lag_end=$(sed -n 's/.*at_load_end=\([0-9-]*\).*/\1/p' "$work/lag.txt")
lag_zero=$(sed -n 's/.*zero_after_s=\([0-9-]*\).*/\1/p' "$work/lag.txt")
printf '  queries: %.0f req/s   p50 %s ms   p99 %s ms   non-2xx %s\n' "$q_rps" "$q_p50" "$q_p99" "$q_bad"
stop "$JPID"
stop "$rcpid"

# ---- the table ----
r_xadd=$(ratio "$jd_rps" "$xa_rps")
r_ev=$(ratio "$jd_rps" "$ev_rps")
r_always=$(ratio "$jda_rps" "$xaa_rps")
peak_mib=$(awk -v k="$peak_kb" 'BEGIN { printf "%.1f", k / 1024 }')
# Keeping up means the backlog at the end of the load is under one second of it.
growth=$(awk -v e="$lag_end" -v d="$lagdur" 'BEGIN { printf "%.0f", e / d }')
if [ "$lag_zero" = "-1" ]; then
    lag_txt="max $lag_max entries; still $lag_end behind at the end of the load, **not back to 0** within 300 s"
    lag_verdict="**missed**"
elif [ "$lag_end" -gt "$rate" ]; then
    lag_txt="grew ~$growth entries/s during the load (max $lag_max); back to 0 ${lag_zero} s after it stopped"
    lag_verdict="**missed** while loaded: the worker applies ~$((rate - growth))/s of $rate/s offered; recovers after"
else
    lag_txt="max $lag_max entries; $lag_end at the end of the load; back to 0 after ${lag_zero} s"
    lag_verdict="met"
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
memt=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
table="$work/results.md"
{
    echo "# journeyd benchmark results ($mode run, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Machine: $(nproc) cores, $cpu, $memt; $(redis-server --version | cut -d' ' -f1-3);"
    echo "load average before the run: $load_before. Produced by \`sh bench/run.sh$([ $quick -eq 1 ] && echo ' --quick')\`;"
    echo "see bench/README.md for what each figure means."
    echo
    echo "| figure | value | target (issue 5) | verdict |"
    echo "|---|---|---|---|"
    echo "| simulated month, every source (click events stripe form $registry) | $month_ok of $month_sent deliveries accepted, $month_dead dead letters | all accepted | $([ "$month_ok" = "$month_sent" ] && [ "$month_dead" = 0 ] && echo ok || echo '**check logs**') |"
    echo "| ingest ref_evhttp (bare evhttp, 202) | $ev_rps req/s, p50 $ev_p50 ms, p99 $ev_p99 ms | — | ceiling |"
    echo "| ingest ref_xadd (evhttp + XADD, everysec) | $xa_rps req/s, p50 $xa_p50 ms, p99 $xa_p99 ms | — | reference |"
    echo "| ingest journeyd (verify + XADD + worker, everysec) | $jd_rps req/s, p50 $jd_p50 ms, p99 $jd_p99 ms, non-2xx $jd_bad | — | — |"
    echo "| journeyd / ref_xadd | $r_xadd | ≥ 0.80 | $(verdict "$r_xadd" 0.8 ge) |"
    echo "| ingest journeyd without its worker (roles = ingest, api; the worker elsewhere) | $jdi_rps req/s, p50 $jdi_p50 ms, p99 $jdi_p99 ms | — | — |"
    echo "| journeyd without its worker / ref_xadd | $(ratio "$jdi_rps" "$xa_rps") | ≥ 0.80 | $(verdict "$(ratio "$jdi_rps" "$xa_rps")" 0.8 ge) |"
    echo "| journeyd / ref_evhttp | $r_ev | — | — |"
    echo "| durability: ref_xadd, appendfsync always | $xaa_rps req/s, p50 $xaa_p50 ms, p99 $xaa_p99 ms | — | reference |"
    echo "| durability: journeyd, appendfsync always | $jda_rps req/s, p50 $jda_p50 ms, p99 $jda_p99 ms (ratio $r_always) | ≥ 0.80 × ref_xadd | $(verdict "$r_always" 0.8 ge) |"
    echo "| durability: journeyd without its worker, appendfsync always | $jdai_rps req/s, p50 $jdai_p50 ms, p99 $jdai_p99 ms (ratio $(ratio "$jdai_rps" "$xaa_rps")) | ≥ 0.80 × ref_xadd | $(verdict "$(ratio "$jdai_rps" "$xaa_rps")" 0.8 ge) |"
    echo "| report: attribution (linear, by campaign, all time) | ${t_attr} s | < 1 s (issue 6) | $(verdict_time "$t_attr") |"
    echo "| report: attribution (time_decay, by channel, 40 days) | ${t_attr_td} s | < 1 s (issue 6) | $(verdict_time "$t_attr_td") |"
    echo "| report: funnel (cohort, by week, 40 days) | ${t_funnel} s | < 1 s (issue 6) | $(verdict_time "$t_funnel") |"
    echo "| report: SLA (40 days) | ${t_sla} s | < 1 s (issue 13: the SLA view) | $(verdict_time "$t_sla") |"
    echo "| view Revenue: attribution, linear, by channel (40 days) | ${v_rev} s | < 1 s (issue 13) | $(verdict_time "$v_rev") |"
    echo "| view Revenue, five models side by side (one model=all request) | ${v_rev5} s | < 1 s (issue 13) | $(verdict_time "$v_rev5") |"
    echo "| (the same five models as five requests at once, as the view asked before) | ${v_rev5x} s | — | — |"
    echo "| view Funnel: cohort by month, compared with the month before (40 days) | ${v_fun} s | < 1 s (issue 13) | $(verdict_time "$v_fun") |"
    echo "| view SLA: the scorecard (with its response times), then its waiting leads' names (40 days) | ${v_sla} s | < 1 s (issue 13) | $(verdict_time "$v_sla") |"
    echo "| view Journey: a 100-event journey | ${v_jny} s | < 1 s (issue 13) | $(verdict_time "$v_jny") |"
    echo "| view Operations: status, dead letters, sources (at once) | ${v_ops} s | < 1 s (issue 13) | $(verdict_time "$v_ops") |"
    [ -z "$view_note" ] || echo "| views: requests this journeyd did not answer 200 (the view shows their error) | $view_note | — | — |"
    echo "| stitching: events applied per second (1 worker) | $st_eps events/s ($fill_events events in $fill_entries raw entries, $st_secs s) | ≥ 10,000 | $(verdict "$st_eps" 10000 ge) |"
    echo "| apply.lua in Redis | $evalsha | — | — |"
    echo "| lag at half capacity ($rate/s offered, $ld_rps/s sent, p99 $ld_p99 ms, non-200 $ld_non) | $lag_txt | stays near 0, back to 0 | $lag_verdict |"
    echo "| queries: GET /v1/journey, 100-event journeys, during that ingest | $q_rps req/s (4 connections), p50 $q_p50 ms, p99 $q_p99 ms, non-2xx $q_bad | p99 ≤ 2 ms | $(verdict "$q_p99" 2 le) |"
    echo "| journeyd peak RSS (VmHWM, max over the runs: $peak_what) | $peak_mib MiB | ≤ 32 MiB | $(verdict "$peak_mib" 32 le) |"
    echo "| Redis bytes per stored event | $b_event B ($st_events events) | — | — |"
    echo "| Redis bytes per contact | $b_contact B ($st_contacts contacts) | — | — |"
} >"$table"
echo
cat "$table"
cp "$table" "$bench/results.md"
echo
echo "written to bench/results.md; logs in $work"
