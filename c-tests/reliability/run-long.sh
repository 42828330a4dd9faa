#!/usr/bin/env bash
# run-long.sh [SECONDS]: the reliability checks (ctest -L reliability) with
# long settings.
#
#  - stress for SECONDS (default 300) with a fresh seed (set LK_STRESS_SEED to
#    replay one);
#  - valgrind over every C and C++ test (the slow ones included), the fork-
#    safety tests with 100 and 50 iterations under valgrind;
#  - the AddressSanitizer + UBSan build of the tests;
#  - the signal, status and fork-safety tests at full settings.
# Builds the library and the tests first (in build/c-tests-long). The figures
# in docs/reliability.md come from this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_STRESS=${1:-300}
BUILD="$ROOT/build/c-tests-long"
cd "$ROOT"
cargo build --release --quiet
cmake -S c-tests -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLK_RELIABILITY_LONG=ON \
      -DLK_STRESS_SECONDS="$SECONDS_STRESS" >/dev/null
cmake --build "$BUILD" --parallel 2 >/dev/null
# The stress test alone first, so its figures are not skewed by the others.
ctest --test-dir "$BUILD" -R '^reliability_stress$' --output-on-failure -V | grep -E '^[0-9]+: ' | sed 's/^[0-9]*: //'
ctest --test-dir "$BUILD" -L reliability -E '^reliability_stress$' --output-on-failure -j2
