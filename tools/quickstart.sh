#!/bin/sh
# Builds journeyd and runs it in the foreground on the demo configuration. Unless
# JD_REDIS=host:port names a Redis to use, a private redis-server (AOF on, appendfsync
# everysec: a power cut can lose the last second, README) is started under ./state/redis
# and stopped again when journeyd exits.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/tools/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)" --target journeyd jdsim >/dev/null
state="$top/state"
mkdir -p "$state/redis"
redis="${JD_REDIS:-}"
if [ -z "$redis" ]; then
    port=${JD_REDIS_PORT:-6390}
    redis-server --bind 127.0.0.1 --port "$port" --appendonly yes --appendfsync everysec \
        --dir "$state/redis" --daemonize yes --pidfile "$state/redis/redis.pid" \
        --logfile "$state/redis/redis.log" --save ""
    redis="127.0.0.1:$port"
    trap 'redis-cli -p '"$port"' shutdown >/dev/null 2>&1 || true' EXIT INT TERM
    echo "private redis-server on $redis (data in $state/redis, AOF on, appendfsync everysec)"
fi
sed "s|@REDIS@|$redis|" "$top/tools/demo.conf" >"$state/journeyd.conf"
"$top/build/journeyd" --check-config -c "$state/journeyd.conf" >/dev/null
cat <<INFO
journeyd on http://127.0.0.1:8080 (config: $state/journeyd.conf, Ctrl-C stops)
  POST /hooks/stripe   Stripe webhooks   (secret whsec_demo_secret)
  POST /hooks/site     website forms     (HMAC secret form_demo_secret)
  GET  /c?to=https://example.com/&utm_source=google&utm_medium=cpc&gclid=...  click tracker
  GET  /j.js  POST /v1/collect            site script and its page views (origins: collect_allow)
  POST /v1/events      custom events     (Authorization: Bearer demo-token-local-only)
  GET  /v1/journey?email=...             (Authorization: Bearer demo-token-local-only)
  GET  /v1/reports/attribution|funnel|sla?from=…&to=…   (Bearer demo-token-local-only)
  GET  /healthz /readyz /v1/status /metrics
  and one source of every other type: /hooks/{meta_leads,google_ads,typeform,calendly,hubspot,pipedrive,shopify}
INFO
"$top/build/journeyd" -c "$state/journeyd.conf" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid; [ -n "${port:-}" ] && redis-cli -p "$port" shutdown >/dev/null 2>&1; exit 0' INT TERM
# Seed a simulated month once, so the first look shows real journeys and reports.
i=0
until curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
if [ ! -f "$state/seeded" ]; then
    "$top/build/bench/jdsim" --demo --url http://127.0.0.1:8080 && touch "$state/seeded"
    # And one visitor live, the site kit's way: click, page view, form, payment, one journey.
    echo "one visitor's way (tools/first-journey.sh):"
    sh "$top/tools/first-journey.sh" || echo "tools/first-journey.sh failed (is openssl installed?)"
fi
wait $pid
