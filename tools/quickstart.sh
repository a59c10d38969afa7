#!/bin/sh
# Builds journeyd and runs it in the foreground on the demo configuration. Unless
# JD_REDIS=host:port names a Redis to use, a private redis-server (AOF on) is started
# under ./state/redis and stopped again when journeyd exits.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/tools/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)" >/dev/null
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
    echo "private redis-server on $redis (data in $state/redis, AOF on)"
fi
sed "s|@REDIS@|$redis|" "$top/tools/demo.conf" >"$state/journeyd.conf"
cat <<INFO
journeyd on http://127.0.0.1:8080 (config: $state/journeyd.conf, Ctrl-C stops)
  POST /hooks/stripe   Stripe webhooks   (secret whsec_demo)
  POST /hooks/site     website forms     (HMAC secret form_demo_secret)
  GET  /c?to=https://example.com/&utm_source=google&utm_medium=cpc&gclid=...  click tracker
  POST /v1/events      custom events     (Authorization: Bearer demo-token)
  GET  /v1/journey?email=...             (Authorization: Bearer demo-token)
  GET  /healthz /readyz /v1/status
INFO
"$top/build/journeyd" -c "$state/journeyd.conf"
