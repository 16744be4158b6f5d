#!/bin/sh
# Fails unless BINARY is a statically linked ELF executable: no program interpreter, no shared
# library it needs. The release workflow runs it on the Linux (musl) builds before packing.
#
#   sh dist/check-static.sh BINARY

set -eu

[ $# -eq 1 ] || { echo "usage: check-static.sh BINARY" >&2; exit 2; }
command -v readelf >/dev/null || { echo "check-static.sh: readelf (binutils) is required" >&2; exit 1; }

if readelf --program-headers "$1" | grep -q INTERP; then
    echo "check-static.sh: $1 asks for a program interpreter: it is dynamically linked" >&2
    exit 1
fi
if readelf --dynamic "$1" | grep -q NEEDED; then
    echo "check-static.sh: $1 needs shared libraries:" >&2
    readelf --dynamic "$1" | grep NEEDED >&2
    exit 1
fi
echo "check-static.sh: $1 is statically linked"
