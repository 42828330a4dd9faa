# Shared by scripts/*: install missing tools from Debian, build the library.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ensure <command> <debian-package>...: install the packages when the command is missing.
ensure() {
    local cmd=$1; shift
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "== installing $* (for $cmd)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
        command -v "$cmd" >/dev/null 2>&1 || { echo "error: could not install $cmd" >&2; exit 1; }
    fi
}

# ensure_file <path> <debian-package>...: the same, for a header or library file.
ensure_file() {
    local path=$1; shift
    if [ ! -e "$path" ]; then
        echo "== installing $* (for $path)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
        [ -e "$path" ] || { echo "error: could not install $path" >&2; exit 1; }
    fi
}

# ensure_rust: a Rust at least Cargo.toml's rust-version. Older ones fail on
# a locked dependency's manifest ("feature edition2024 is required"), which
# does not say what to do; with rustup, these scripts use its stable
# toolchain instead (installed if need be; the default toolchain is left as
# it is), else they stop and say which Rust they need.
ensure_rust() {
    local need have
    need=$(lk_rust_version)
    have=$(rustc --version 2>/dev/null | awk '{ print $2 }')
    if [ -z "$have" ]; then
        echo "error: rustc not found: install Rust $need or newer (https://rustup.rs)" >&2
        exit 1
    fi
    [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" = "$need" ] && return 0
    if ! command -v rustup >/dev/null 2>&1; then
        echo "error: Rust $have is older than $need (Cargo.toml's rust-version): install Rust $need or newer (https://rustup.rs)" >&2
        exit 1
    fi
    echo "== Rust $have is older than $need (Cargo.toml's rust-version): using rustup's stable toolchain"
    rustup toolchain install stable --profile minimal --no-self-update >/dev/null 2>&1 ||
        { echo "error: rustup could not install the stable toolchain" >&2; exit 1; }
    export RUSTUP_TOOLCHAIN=stable
}

# build_lib: release build of the library (and the header, via build.rs).
build_lib() {
    (cd "$ROOT" && cargo build --release --quiet)
}

# lk_version_soname [Cargo.toml]: print "VERSION SONAME" as read from Cargo.toml's
# [package] version, the one version source (e.g. "0.1.0 liblkparallel.so.0.1"):
# while 0.x every minor release may break the ABI, so the SONAME carries the
# minor version; from 1.0 on, only the major. Fails when there is no X.Y.Z.
#   read -r VERSION SONAME < <(lk_version_soname)
lk_version_soname() {
    local toml=${1:-$ROOT/Cargo.toml} version
    version=$(awk -F'"' '/^\[/ { p = ($0 == "[package]") } p && /^version *=/ { print $2; exit }' "$toml")
    if ! [[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
        echo "error: no version X.Y.Z in the [package] of $toml (got '$version')" >&2
        return 1
    fi
    if [ "${BASH_REMATCH[1]}" = 0 ]; then
        echo "$version liblkparallel.so.0.${BASH_REMATCH[2]}"
    else
        echo "$version liblkparallel.so.${BASH_REMATCH[1]}"
    fi
}

# lk_rust_version [Cargo.toml]: print the minimum Rust version (rust-version) from Cargo.toml.
lk_rust_version() {
    awk -F'"' '/^\[/ { p = ($0 == "[package]") } p && /^rust-version *=/ { print $2; exit }' "${1:-$ROOT/Cargo.toml}"
}

# ensure_python_venv: python3 with a working `python3 -m venv` (Debian splits
# venv and ensurepip into python3-venv).
ensure_python_venv() {
    ensure python3 python3
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "== installing python3-venv (for python3 -m venv)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ||
            { echo "error: could not install python3-venv" >&2; exit 1; }
    fi
}
