#!/usr/bin/env bash
# The version file accepts the installed major.minor (at its patch level or
# older) and refuses every other request: SameMinorVersion while 0.x.
source "$(dirname "$0")/lib.sh"

P=$LK_WORK/prefix
install_prefix "$P"
[[ $VERSION =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]
major=${BASH_REMATCH[1]}; minor=${BASH_REMATCH[2]}; patch=${BASH_REMATCH[3]}
[ "$major" = 0 ] || fail "this test states the 0.x rule; update it for $VERSION"
n=0
probe() { # probe accept|refuse <request as a CMake list>
    local want=$1 request=$2 build
    n=$((n + 1))
    build=$LK_WORK/probe-$n
    if cmake_configure "$LK_ROOT/c-tests/package/version" "$build" "$P" \
        -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF -DLK_REQUEST="$request" >"$build.log" 2>&1; then
        [ "$want" = accept ] || { cat "$build.log" >&2; fail "request '$request' was accepted by $VERSION"; }
        grep -q "accepted lkparallel $VERSION" "$build.log" || fail "request '$request': no version reported"
    else
        [ "$want" = refuse ] || { cat "$build.log" >&2; fail "request '$request' was refused by $VERSION"; }
        # Refused by the version file (the config was found and considered), not simply absent.
        grep -q "lkparallelConfig.cmake, version: $VERSION" "$build.log" ||
            { cat "$build.log" >&2; fail "request '$request': refused, but not by the version file"; }
    fi
    echo "   $want '$request': ok"
}

step "installed $VERSION"
probe accept ""
probe accept "$major.$minor"
probe accept "$major.$minor.$patch"
probe accept "$major.$minor;EXACT"
probe accept "$major.$minor...$major.$((minor + 1))"
probe accept "$major.$minor...<$major.$((minor + 1))"
probe refuse "$major.$((minor + 1))"
probe refuse "1.0"
probe refuse "$((major + 2)).$minor"
probe refuse "$major.$minor.$((patch + 1))"
probe refuse "$major.$minor.$((patch + 1));EXACT"
probe refuse "$major.$((minor + 1))...$major.$((minor + 3))"
if [ "$minor" -gt 0 ]; then
    probe refuse "$major.$((minor - 1))"
fi

echo "PASS: $TEST_NAME"
