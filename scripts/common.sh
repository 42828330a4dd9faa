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

# build_lib: release build of the library (and the header, via build.rs).
build_lib() {
    (cd "$ROOT" && cargo build --release --quiet)
}
