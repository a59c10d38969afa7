#!/bin/sh
# The docs agree with the binary they describe. Every ```ini snippet in README.md and
# docs/**/*.md, and journeyd.conf.example itself, is run through `journeyd --check-config`
# (a snippet without [journeyd] gets an empty one; env:NAME and *_file references get a
# value); a snippet meant to be refused is marked `<!-- check-config: refused -->` on the
# line before its fence. Then the statements a script can check: every key a snippet
# names, even commented out (`;key = ...`), and every key the man page lists exists in
# `journeyd --help-config`; no backticked word in the prose is a misspelt key (a key plus
# a suffix, like `tolerance_s`); no doc calls channels "not yet configurable" while
# [channels] exists; every relative link and #anchor resolves; journeyd.8 and docs/api.md
# name every path in the daemon's route table, and journeyd.8 and docs/running.md every
# key a reload cannot change. Each failure names file:line.
# Usage: docs_config.sh <journeyd binary> <source dir>
set -eu
bin=$1
top=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset CREDENTIALS_DIRECTORY
fail=0
bad() {
    echo "$1: $2"
    fail=1
}

cd "$top"
docs="README.md $(find docs -name '*.md' | sort)"

# Every key of the parser's own table (the first word of each two-space-indented row).
"$bin" --help-config | awk '/^Required per/ { exit } /^  [a-z]/ { print $1 }' |
    grep -v '[<.]' | sort -u >"$tmp/keys"
[ -s "$tmp/keys" ] || { echo "journeyd --help-config listed no keys"; exit 1; }
is_key() {
    grep -qx "$1" "$tmp/keys" || grep -qx "${1%_file}" "$tmp/keys"
}

# 1. The snippets: one file per snippet, and "file line refused?" in the manifest.
i=0
for f in $docs; do
    i=$((i + 1))
    awk -v f="$f" -v out0="$tmp/snip.$i." '
        /^```ini[ \t]*$/ { out = out0 NR; print f, NR + 1, (prev ~ /check-config: refused/), out;
                           inside = 1; next }
        inside && /^```/ { inside = 0; close(out); next }
        inside { print > out }
        NF { prev = $0 }
    ' "$f" >>"$tmp/manifest"
done
# Its CHANGE-ME placeholders are refused by design (install_layout.sh checks that); the
# rest of it must be valid.
sed 's/CHANGE-ME/docs-check-value/g' journeyd.conf.example >"$tmp/example.ini"
echo "journeyd.conf.example 1 0 $tmp/example.ini" >>"$tmp/manifest"

n=0

while read -r file line refused snip; do
    n=$((n + 1))
    case_dir="$tmp/case.$n"
    mkdir "$case_dir"
    conf="$case_dir/journeyd.conf"
    pre=0
    grep -q '^\[journeyd\]' "$snip" || { printf '[journeyd]\n' >"$conf"; pre=1; }
    cat "$snip" >>"$conf"
    # *_file = path: a file next to the config; env:NAME: a value in the environment.
    for p in $(sed -n 's/^[a-z_.]*_file[ \t]*=[ \t]*\([^ \t;#]*\).*/\1/p' "$snip"); do
        case $p in /*) continue ;; esac
        mkdir -p "$(dirname "$case_dir/$p")"
        echo "docs-check-value-$n" >"$case_dir/$p"
    done
    envs=$(grep -o 'env:[A-Za-z_][A-Za-z0-9_]*' "$snip" | sed 's/^env://' | sort -u | tr '\n' ' ')
    set --
    for e in $envs; do set -- "$@" "$e=docs-check-value-$n"; done
    if env "$@" "$bin" --check-config -c "$conf" >"$case_dir/out" 2>&1; then
        [ "$refused" = 1 ] && bad "$file:$line" "snippet marked refused, but --check-config accepts it"
    else
        # The parser names its own file:line; point at the doc's line instead.
        msg=$(tail -n 1 "$case_dir/out")
        at=$(echo "$msg" | sed -n 's|.*/journeyd\.conf:\([0-9]*\): .*|\1|p')
        where=$line
        [ -z "$at" ] || { where=$((line + at - 1 - pre)) && msg=${msg##*/journeyd.conf:*[0-9]: }; }
        [ "$refused" = 1 ] || bad "$file:$where" "--check-config refuses the snippet: $msg"
    fi
    # Keys commented out (";key = value") are documentation too: each must exist.
    awk '/^;?\[/ { s = $0; sub(/^;?\[/, "", s); sub(/[ \]].*/, "", s) }
         /^;[a-z][a-z0-9_.<>-]*[ \t]*=/ { k = substr($0, 2); sub(/[ \t]*=.*/, "", k);
                                          print NR, s, k }' "$snip" |
        while read -r l section key; do
            [ "$section" = channels ] && case $key in medium.* | source.*) continue ;; esac
            is_key "$key" || echo "$file:$((line + l - 1)): '$key' is not a journeyd.conf key"
        done >"$case_dir/keys"
    [ -s "$case_dir/keys" ] && { cat "$case_dir/keys"; fail=1; }
done <"$tmp/manifest"

# 2. Backticked words that are a key plus a suffix (`tolerance_s`, `api_tokens_path`).
for f in $docs; do
    grep -no '`[a-z][a-z0-9_]*`' "$f" | tr -d '`' | while IFS=: read -r l w; do
        is_key "$w" && continue
        while read -r k; do
            case $w in "${k}"_*)
                bad "$f:$l" "\`$w\` is not a journeyd.conf key (did you mean \`$k\`?)"
                break
                ;;
            esac
        done <"$tmp/keys"
    done
done >"$tmp/near"
[ -s "$tmp/near" ] && { cat "$tmp/near"; fail=1; }

# 3. [channels] exists, so no doc may call the channel table not (yet) configurable.
if "$bin" --help-config | grep -q '^\[channels\]'; then
    for f in $docs docs/journeyd.8 docs/journeyd.conf.5; do
        grep -ni 'channel.*not yet configurable\|not yet configurable.*channel' "$f" |
            while IFS=: read -r l _; do
                echo "$f:$l: says channels are not yet configurable; [channels] configures them"
            done
    done >"$tmp/chan"
    [ -s "$tmp/chan" ] && { cat "$tmp/chan"; fail=1; }
fi

# 4. The keys journeyd.conf.5 lists (".B key" or ".BR a \", \" b" after .TP).
awk '/^\.SH/ { keys = ($0 ~ /KEYS/) } keys && prev == ".TP" && /^\.BR? / { print NR, $0 }
     { prev = $0 }' docs/journeyd.conf.5 |
    while read -r l rest; do
        for w in $(echo "$rest" | sed 's/^\.BR* //; s/"[^"]*"//g; s/\\f[A-Z]//g'); do
            case $w in medium.* | source.* | *=*) continue ;; esac
            is_key "$w" || echo "docs/journeyd.conf.5:$l: '$w' is not a journeyd.conf key"
        done
    done >"$tmp/man5"
[ -s "$tmp/man5" ] && { cat "$tmp/man5"; fail=1; }

# 5. Relative links point at files, and #anchors at headings (GitHub's slugs).
slugs() {
    sed -n 's/^#\{1,6\} //p' "$1" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 _-]//g; s/ /-/g'
}
for f in $docs bench/README.md; do
    grep -no '\]([^)]*)' "$f" | while IFS=: read -r l link; do
        target=${link#](}
        target=${target%)}
        case $target in http://* | https://* | mailto:*) continue ;; esac
        path=${target%%#*}
        anchor=
        case $target in *'#'*) anchor=${target#*#} ;; esac
        dest=$f
        if [ -n "$path" ]; then
            dest=$(dirname "$f")/$path
            [ -e "$dest" ] || { echo "$f:$l: link to missing file $path"; continue; }
        fi
        case $dest in *.md) ;; *) continue ;; esac
        [ -z "$anchor" ] || slugs "$dest" | grep -qx "$anchor" ||
            echo "$f:$l: link to missing heading #$anchor"
    done
done >"$tmp/links"
[ -s "$tmp/links" ] && { cat "$tmp/links"; fail=1; }

# 6. Every path the daemon routes is in journeyd.8 and docs/api.md.
grep -ho 'ROUTE_[A-Z]*, *"/[^"]*"' daemon/*.c | sed 's/.*"\(.*\)"/\1/' | sort -u >"$tmp/routes"
[ -s "$tmp/routes" ] || bad daemon "no route table found (ROUTE_EXACT/ROUTE_PREFIX rows)"
while read -r r; do
    sed 's/\\-/-/g; s/\\f[A-Z]//g; s/" *"//g' docs/journeyd.8 | grep -qF "$r" ||
        bad docs/journeyd.8 "route $r is not listed"
    [ ! -f docs/api.md ] || grep -qF "$r" docs/api.md || bad docs/api.md "route $r is not listed"
done <"$tmp/routes"

# 7. The keys a reload cannot change are the ones the table flags; the docs list them all.
"$bin" --help-config | awk '/^  [a-z]/ { k = $1 } /restart to change/ { print k }' >"$tmp/restart"
while read -r k; do
    for f in docs/journeyd.8 docs/running.md; do
        sed 's/\\-/-/g' "$f" | grep -qF -e "$k" -e "${k%%_*}_*" ||
            bad "$f" "'$k' needs a restart (--help-config) but the doc's list of such keys misses it"
    done
done <"$tmp/restart"

# 8. The quick start speaks the docs' time zone: tools/demo.conf's timezone is the one the
#    configuration example sets, so report periods there match the examples (issue 16.6).
tz_of() { sed -n 's/^timezone *= *\([^ ;]*\).*/\1/p' "$1" | head -1; }
doc_tz=$(tz_of docs/configuration.md)
demo_tz=$(tz_of tools/demo.conf)
[ -n "$doc_tz" ] && [ "$doc_tz" = "$demo_tz" ] ||
    bad tools/demo.conf "timezone is '${demo_tz:-unset}', the docs' examples use '${doc_tz:-none}'"

[ $fail -eq 0 ] && echo "docs: $n config snippets as marked, keys, links and routes agree"
exit $fail
