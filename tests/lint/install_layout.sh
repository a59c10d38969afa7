#!/bin/sh
# `cmake --install` into a scratch DESTDIR puts each file where an FHS system expects it.
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
conf="$dest/etc/journeyd/journeyd.conf"
[ "$prefix" = /usr ] || conf="$dest$prefix/etc/journeyd/journeyd.conf"
[ -f "$conf" ] || { echo "missing ${conf#$dest}"; fail=1; }
# The installed example must be a valid configuration for the installed binary.
[ $fail -eq 0 ] && "$dest$prefix/sbin/journeyd" --check-config -c "$conf" || fail=1
[ $fail -eq 0 ] && echo "installed layout OK under $prefix"
exit $fail
