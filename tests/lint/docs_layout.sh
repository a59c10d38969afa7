#!/bin/sh
# The README's "Source code layout" section and the tree agree: every .c, .h and .lua file
# under connectors/, destinations/, queue/, reports/ and daemon/ is named there, and every path named
# there exists. A line of the section is "- `path` — what it does"; `name.[ch]` names
# name.c and name.h, a path ending in / a folder. Usage: docs_layout.sh <source dir>
set -eu
cd "$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^## / { inside = ($0 == "## Source code layout"); next }
     inside && /^- `[^`]*`/ { p = $0; sub(/^- `/, "", p); sub(/`.*/, "", p); print NR, p }' \
    README.md >"$tmp/named"
[ -s "$tmp/named" ] || { echo "README.md: no \"## Source code layout\" section with - \`path\` lines"; exit 1; }
fail=0
: >"$tmp/files"
while read -r line path; do
    case $path in
    *.'[ch]') set -- "${path%.\[ch\]}.c" "${path%.\[ch\]}.h" ;;
    *) set -- "$path" ;;
    esac
    for p in "$@"; do
        echo "$p" >>"$tmp/files"
        case $p in
        */) [ -d "$p" ] || { echo "README.md:$line: folder $p does not exist"; fail=1; } ;;
        *) [ -f "$p" ] || { echo "README.md:$line: file $p does not exist"; fail=1; } ;;
        esac
    done
done <"$tmp/named"
for d in connectors destinations queue reports daemon; do
    [ -d "$d" ] || continue
    find "$d" -type f \( -name '*.c' -o -name '*.h' -o -name '*.lua' \) | sort
done | while read -r f; do
    grep -qxF "$f" "$tmp/files" || echo "README.md: $f is not in the source code layout section"
done >"$tmp/missing"
[ -s "$tmp/missing" ] && { cat "$tmp/missing"; fail=1; }
[ $fail -eq 0 ] && echo "README source code layout: $(wc -l <"$tmp/files") paths, all present, none missing"
exit $fail
