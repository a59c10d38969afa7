#!/bin/sh
# The house as the code stands: lines per folder, the include graph between the source
# files of connectors/, destinations/, queue/, reports/ and daemon/ ("a.c -> b.h"), and the checks that
# keep it a house with floors:
#   - connectors/ includes only connectors/; destinations/ only itself and connectors/
#     (both pure); queue/ only queue/ (and its generated
#     headers); reports/ only reports/ and the header-only connectors/stage.h;
#   - no circle between modules (a module is a .c and its .h): tsort finds them.
# Usage: sh tools/include-graph.sh [--check] [TOP]   (--check prints only the verdicts)
set -eu
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
folders="connectors destinations queue reports daemon"

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for d in $folders; do
    [ -d "$d" ] || continue
    for f in "$d"/*.c "$d"/*.h; do
        [ -e "$f" ] || continue
        sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r inc; do
            base=${inc##*/}
            target=""
            for t in $folders; do
                if [ -e "$t/$base" ]; then
                    target="$t/$base"
                    break
                fi
            done
            # Generated headers (the script table) belong to queue/.
            [ -n "$target" ] || target="(generated)/$base"
            echo "$f $target"
        done
    done
done >"$edges"

if [ "$check" = 0 ]; then
    echo "## lines per folder"
    for d in $folders tests bench tools; do
        [ -d "$d" ] || continue
        n=$(find "$d" -type f \( -name '*.c' -o -name '*.h' -o -name '*.lua' -o -name '*.sh' \) \
            -not -path '*/corpus/*' -exec cat {} + | wc -l)
        printf '%-12s %6d\n' "$d/" "$n"
    done
    echo
    echo "## include graph (file -> file)"
    sort "$edges" | awk '{ print "  " $1 " -> " $2 }'
    echo
fi

fail=0
# Floors: what each folder may include.
bad=$(awk '
    $1 ~ /^connectors\// && $2 !~ /^connectors\// { print }
    $1 ~ /^destinations\// && $2 !~ /^destinations\// && $2 !~ /^connectors\// { print }
    $1 ~ /^queue\// && $2 !~ /^queue\// && $2 !~ /^\(generated\)\// { print }
    $1 ~ /^reports\// && $2 !~ /^reports\// && $2 != "connectors/stage.h" { print }
' "$edges")
if [ -n "$bad" ]; then
    echo "FAIL: includes that break the floors (connectors < queue, reports < daemon):"
    echo "$bad" | sed 's/^/  /'
    fail=1
else
    echo "ok: connectors/, destinations/, queue/ and reports/ include only what their floor allows"
fi

# Circles between modules: x.c and x.h are one module, and so are the parts of a module
# split over files named x_<part>.[ch] (config_keys.c is the config module's table half);
# tsort names any loop.
modules=$(for d in $folders; do ls "$d" 2>/dev/null | sed -n "s|^\(.*\)\.[ch]$|$d/\1|p"; done | sort -u)
loops=$(awk -v mods="$modules" '
    function module(f,   m, cut) {
        sub(/\.[ch]$/, "", f)
        m = f
        while (match(m, /_[^_\/]*$/)) {
            cut = substr(m, 1, RSTART - 1)
            if (cut in known) return cut
            m = cut
        }
        return f
    }
    BEGIN { n = split(mods, list, "\n"); for (i = 1; i <= n; i++) known[list[i]] = 1 }
    { a = module($1); b = module($2); if (a != b) print a, b }
' "$edges" | tsort 2>&1 >/dev/null || true)
if [ -n "$loops" ]; then
    echo "FAIL: modules that include each other in a circle:"
    echo "$loops" | sed 's/^/  /'
    fail=1
else
    echo "ok: no circle between modules"
fi
exit $fail
