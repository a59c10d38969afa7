#!/bin/sh
# The whole test suite from a clean clone: install what is missing, build with warnings as
# errors and ASan/UBSan, and run every test (unit, integration against real redis-server
# processes, lint). Ends with ctest's summary line.
#
# An optimized (Release, -O3) build is made first, also with warnings as errors: GCC warns
# about some code only when it optimizes (-Wmaybe-uninitialized, -Wstringop-overflow), so a
# Debug-only suite let a broken Release build pass. Its unit tests run too: optimizations
# are where undefined behaviour shows.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/tools/deps.sh"
release="$top/build-release"
cmake -S "$top" -B "$release" -DCMAKE_BUILD_TYPE=Release -DJD_WERROR=ON >/dev/null
cmake --build "$release" -j"$(nproc)"
if ! (cd "$release" && ctest -L unit -j"$(nproc)" --output-on-failure >unit.log 2>&1); then
    cat "$release/unit.log"
    echo "unit tests failed in the Release build ($release)" >&2
    exit 1
fi

build="$top/build-test"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DJD_WERROR=ON \
    -DJD_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j"$(nproc)"
# The dashboard's browser test drives chromium with puppeteer-core, pinned in
# tests/browser/package-lock.json and installed into the build folder (not the source tree).
[ -d "$build/browser/node_modules/puppeteer-core" ] || npm ci --prefix "$build/browser" --no-audit --no-fund >/dev/null
cd "$build"
exec ctest --output-on-failure -j"$(nproc)" "$@"
