#!/usr/bin/env bash
# The README's quick start works verbatim, in order, as a new user meets it:
# its blocks, marked in README.md with <!-- quickstart:... --> comments, are
# extracted and run with a fresh, empty HOME:
#   <!-- quickstart:run-in repo -->   a sh block run from the repository root
#   <!-- quickstart:file NAME -->     a block saved as NAME in the user's folder
#   <!-- quickstart:run-in app -->    a sh block run in the user's folder
# The program must build without a warning under the README's -Wall -Wextra,
# run, and print what the README says it prints. The README's stated Rust
# version must be Cargo.toml's rust-version. So the README cannot rot.
source "$(dirname "$0")/lib.sh"
README=$LK_ROOT/README.md

step "the README states Cargo.toml's rust-version"
rust=$(lk_rust_version "$LK_ROOT/Cargo.toml")
[ -n "$rust" ] || fail "no rust-version in Cargo.toml"
grep -q "Rust $rust or newer" "$README" || fail "README.md does not say 'Rust $rust or newer' (Cargo.toml's rust-version)"
! grep -n "shared folder" "$README" || fail "README.md sends readers to a folder they do not have"
step "the README names the files and versions of Cargo.toml's version"
grep -q "liblkparallel.so.$VERSION" "$README" || fail "README.md does not name liblkparallel.so.$VERSION"
grep -q "SONAME \`$SONAME\`" "$README" || fail "README.md does not give the SONAME $SONAME"
[[ $VERSION =~ ^([0-9]+\.[0-9]+)\. ]]
grep -q "find_package(lkparallel ${BASH_REMATCH[1]} CONFIG REQUIRED)" "$README" ||
    fail "README.md's find_package does not ask for ${BASH_REMATCH[1]}"

step "extract the quick start"
blocks=$LK_WORK/blocks
mkdir -p "$blocks"
# Writes blocks/NN.<kind>[.<name>] for each marked block, in order.
awk -v dir="$blocks" '
    /^<!-- quickstart:(file|run-in) / {
        if (match($0, /quickstart:[a-z-]+ [A-Za-z0-9_.-]+/)) {
            split(substr($0, RSTART + 11, RLENGTH - 11), kv, " ")
            n++; want = sprintf("%s/%02d.%s.%s", dir, n, kv[1], kv[2]); next
        }
    }
    want != "" && /^```/ { if (inside) { inside = 0; want = "" } else { inside = 1; printf "" > want }; next }
    inside { print >> want }
' "$README"
mapfile -t files < <(ls "$blocks" | sort)
[ "${#files[@]}" -ge 3 ] || fail "expected at least 3 quick-start blocks in README.md, found ${#files[@]}: ${files[*]}"
printf '   %s\n' "${files[@]}"

# A new user: an empty HOME (the toolchains stay where they are).
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export HOME=$LK_WORK/home
APP=$LK_WORK/app
mkdir -p "$HOME" "$APP"
unset PKG_CONFIG_PATH

for f in "${files[@]}"; do
    kind=${f#*.}; name=${kind#*.}; kind=${kind%%.*}
    case $kind:$name in
        file:*) step "save $name"; cp "$blocks/$f" "$APP/$name" ;;
        run-in:repo|run-in:app)
            [ "$name" = repo ] && dir=$LK_ROOT || dir=$APP
            step "run in the $name folder: $(head -1 "$blocks/$f")"
            if ! (cd "$dir" && bash -euo pipefail "$blocks/$f") >"$LK_WORK/$f.out" 2>"$LK_WORK/$f.err"; then
                cat "$LK_WORK/$f.out" "$LK_WORK/$f.err" >&2
                fail "README block $f failed"
            fi
            if [ "$name" = app ] && grep -n 'warning' "$LK_WORK/$f.err" >&2; then
                fail "README block $f warns"
            fi ;;
        *) fail "unknown quick-start marker in $f" ;;
    esac
done

step "the program printed what the README says"
expected=$(sed -n 's/^<!-- quickstart:prints \(.*\) -->$/\1/p' "$README")
[ -n "$expected" ] || fail "README.md has no <!-- quickstart:prints ... --> line"
grep -qF "$expected" "$LK_WORK"/*.run-in.app.out || fail "the quick start did not print '$expected': $(cat "$LK_WORK"/*.run-in.app.out)"
[ -x "$APP/app" ] || fail "the quick start built no ./app"
expect_lib_from "$APP/app" "$HOME/.local/lib"

echo "PASS: $TEST_NAME"
