#!/bin/sh
# range_build_inline: build c-tests/range/build_inline.c as C (CC) and C++
# (CXX), at -O0 and -O2, and check with nm that the objects reference no
# symbol at all: lk_range_seed and lk_range_stopped call nothing.
#   build_inline.sh CC CXX INCLUDE_DIR SOURCE WORK_DIR NM
set -eu
cc=$1 cxx=$2 inc=$3 src=$4 work=$5 nm=$6
mkdir -p "$work"
status=0
for lang in c c++; do
    for opt in -O0 -O2; do
        obj="$work/build_inline_${lang}${opt}.o"
        if [ "$lang" = c ]; then
            "$cc" -std=c11 $opt -Wall -Wextra -Werror -I "$inc" -c "$src" -o "$obj"
        else
            "$cxx" -x c++ -std=c++17 $opt -Wall -Wextra -Werror -I "$inc" -c "$src" -o "$obj"
        fi
        undefined=$("$nm" -u "$obj")
        if [ -n "$undefined" ]; then
            echo "as $lang $opt, lk_range_seed / lk_range_stopped call: $undefined" >&2
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "range_build_inline: ok (no undefined symbol as C or C++, -O0 or -O2)"
exit $status
