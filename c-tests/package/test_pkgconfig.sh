#!/usr/bin/env bash
# A consumer compiled with `cc app.c $(pkg-config --cflags --libs lkparallel)`
# (PKG_CONFIG_PATH into an installed prefix) builds and runs, as does the
# static form; then the same after the prefix has been moved (${pcfiledir}).
source "$(dirname "$0")/lib.sh"
command -v pkg-config >/dev/null || fail "pkg-config is not installed"

A=$LK_WORK/prefix-a
B=$LK_WORK/moved/prefix-b
step "install into $A"
install_prefix "$A"
pkgconfig_consumer "$A" lib "$LK_WORK/out-a"

step "move to $B"
mkdir -p "$(dirname "$B")"
mv "$A" "$B"
pkgconfig_consumer "$B" lib "$LK_WORK/out-b"

echo "PASS: $TEST_NAME"
