#!/bin/sh
# The whole test suite from a clean clone: install what is missing, build with warnings as
# errors and ASan/UBSan, and run every test (unit, integration against real redis-server
# processes, lint). Ends with ctest's summary line.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/tools/deps.sh"
build="$top/build-test"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DJD_WERROR=ON \
    -DJD_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
exec ctest --output-on-failure -j"$(nproc)" "$@"
