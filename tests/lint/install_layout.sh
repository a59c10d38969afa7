#!/bin/sh
# `cmake --install` into a scratch DESTDIR puts each file where an FHS system expects it,
# never overwrites the operator's journeyd.conf, and installs no working secret.
set -eu
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR="$dest" cmake --install "$1" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$1/CMakeCache.txt")
fail=0
for f in sbin/journeyd lib/systemd/system/journeyd.service share/man/man8/journeyd.8 \
         share/man/man5/journeyd.conf.5; do
    [ -f "$dest$prefix/$f" ] || { echo "missing $prefix/$f"; fail=1; }
done
etc="$dest/etc/journeyd"
[ "$prefix" = /usr ] || etc="$dest$prefix/etc/journeyd"
conf="$etc/journeyd.conf"
example="$etc/journeyd.conf.example"
for f in "$conf" "$example"; do
    [ -f "$f" ] || { echo "missing ${f#$dest}"; fail=1; }
done
[ $fail -eq 0 ] || exit 1
bin="$dest$prefix/sbin/journeyd"

# Placeholder-only: every secret or token the example sets carries the CHANGE-ME mark,
# the installed binary refuses the file for it, and accepts it once the marks are
# replaced (so the placeholders are the only thing wrong with it).
bad=$(grep -E '^[[:space:]]*(api_tokens|secret|password|verify_token|api_token)[[:space:]]*=' \
      "$example" | grep -v 'CHANGE-ME' || true)
[ -z "$bad" ] || { echo "example holds a value that is not a placeholder:"; echo "$bad"; fail=1; }
if out=$("$bin" --check-config -c "$example" 2>&1); then
    echo "--check-config accepted the placeholder example: $out"; fail=1
else
    echo "$out" | grep -q 'CHANGE-ME' || { echo "refused, but not for the placeholder: $out"; fail=1; }
fi
sed 's/CHANGE-ME/0123456789abcdef/g' "$example" >"$dest/filled.conf"
"$bin" --check-config -c "$dest/filled.conf" >/dev/null || { echo "example wrong beyond placeholders"; fail=1; }
cmp -s "$conf" "$example" || { echo "first install: journeyd.conf is not the example"; fail=1; }

# A second install keeps the operator's edited journeyd.conf and updates the example.
printf '# edited by the operator\n' >>"$conf"
cp "$conf" "$dest/edited"
echo '# older example' >"$example"
DESTDIR="$dest" cmake --install "$1" >/dev/null
cmp -s "$conf" "$dest/edited" || { echo "second install overwrote the edited journeyd.conf"; fail=1; }
grep -q 'CHANGE-ME' "$example" || { echo "second install did not refresh the example"; fail=1; }

[ $fail -eq 0 ] && echo "installed layout OK under $prefix"
exit $fail
