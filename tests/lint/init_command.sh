#!/bin/sh
# `journeyd init --dir TMP` writes a config --check-config accepts, credential files of
# mode 0600, and refuses to overwrite them on a second run; the shipped example is refused.
# $1: the journeyd binary, $2: the source tree.
set -eu
bin=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
out=$("$bin" init --dir "$dir/etc") || { echo "init failed: $out"; exit 1; }
echo "$out" | grep -q '/hooks/stripe' || { echo "init does not say where Stripe posts"; fail=1; }
for f in api_tokens stripe website app; do
    [ -f "$dir/etc/$f" ] || { echo "missing $f"; fail=1; continue; }
    mode=$(stat -c %a "$dir/etc/$f")
    [ "$mode" = 600 ] || { echo "$f has mode $mode, not 600"; fail=1; }
    # The unit's LoadCredential= names exactly the files init writes.
    grep -q "^LoadCredential=$f:/etc/journeyd/$f\$" "$src/systemd/journeyd.service" ||
        { echo "the unit does not load $f"; fail=1; }
done
grep -Eq '^read:[0-9a-f]{48}, write:[0-9a-f]{48}, admin:[0-9a-f]{48}$' "$dir/etc/api_tokens" ||
    { echo "api_tokens is not read:/write:/admin: tokens"; fail=1; }
"$bin" --check-config -c "$dir/etc/journeyd.conf" || { echo "--check-config refused init's config"; fail=1; }
if "$bin" --check-config -c "$src/journeyd.conf.example" >/dev/null 2>&1; then
    echo "--check-config accepted the shipped example"; fail=1
fi

# A second init refuses, and leaves every file as it was.
cat "$dir/etc"/* >"$dir/before"
if "$bin" init --dir "$dir/etc" >/dev/null 2>&1; then
    echo "a second init overwrote"; fail=1
fi
cat "$dir/etc"/* >"$dir/after"
cmp -s "$dir/before" "$dir/after" || { echo "a refused init changed files"; fail=1; }

# init replaces the installed placeholder example, and nothing else the operator wrote.
mkdir "$dir/fresh"
cp "$src/journeyd.conf.example" "$dir/fresh/journeyd.conf"
"$bin" init --dir "$dir/fresh" >/dev/null || { echo "init refused the placeholder config"; fail=1; }
"$bin" --check-config -c "$dir/fresh/journeyd.conf" >/dev/null || fail=1
mkdir "$dir/edited"
echo '[journeyd]' >"$dir/edited/journeyd.conf"
if "$bin" init --dir "$dir/edited" >/dev/null 2>&1; then
    echo "init overwrote an operator's journeyd.conf"; fail=1
fi
[ ! -e "$dir/edited/stripe" ] || { echo "a refused init wrote credentials"; fail=1; }

[ $fail -eq 0 ] && echo "init OK"
exit $fail
