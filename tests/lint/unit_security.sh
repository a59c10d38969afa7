#!/bin/sh
# The systemd unit's sandbox: systemd-analyze's offline exposure score must stay <= 2.0.
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed"; exit 77; }
unit="$1/systemd/journeyd.service"
out=$(systemd-analyze security --offline=true "$unit" 2>&1) || { echo "$out"; exit 1; }
score=$(echo "$out" | sed -n 's/.*Overall exposure level for journeyd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "no score in:"; echo "$out" | tail -3; exit 1; }
echo "exposure $score (limit 2.0)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
