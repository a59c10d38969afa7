#!/bin/sh
# The code is formatted with the checked-in .clang-format (skip where clang-format is absent).
cd "$1" || exit 2
command -v clang-format >/dev/null 2>&1 || { echo "clang-format not installed"; exit 77; }
files=$(find daemon connectors queue tests bench -name '*.[ch]' 2>/dev/null)
clang-format --dry-run --Werror $files || exit 1
echo "$(echo "$files" | wc -l) files formatted"
