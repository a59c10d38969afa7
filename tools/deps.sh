#!/bin/sh
# Installs the Debian 12 packages journeyd needs to build, run and test, only those that
# are missing (one apt-get update, only when something must be installed).
set -eu
pkgs="gcc make cmake pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev libcjson-dev
      libssl-dev libsystemd-dev libcmocka-dev redis-server curl openssl clang-format
      chromium nodejs"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs wrk"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# The browser test's npm: Debian's package, unless node came with its own (NodeSource's
# nodejs ships npm and conflicts with Debian's).
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
