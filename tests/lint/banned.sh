#!/bin/sh
# A small checksrc: functions that have no place in a daemon that handles untrusted input.
cd "$1" || exit 2
hits=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|system|rand|localtime|gmtime|asctime|ctime)[[:space:]]*\(' \
    daemon/*.c daemon/*.h connectors/*.c connectors/*.h destinations/*.c destinations/*.h queue/*.c queue/*.h 2>/dev/null)
if [ -n "$hits" ]; then
    echo "banned functions used:"
    echo "$hits"
    exit 1
fi
echo "no banned functions"
