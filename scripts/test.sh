#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit and integration suites in a
# normal build, then again in an ASan+UBSan build. Exit status 0 only when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0

run_suite() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  if ! (cd "$dir" && ctest --output-on-failure --timeout 900); then
    status=1
  fi
}

run_suite build
# Sanitizers: any leak, overflow or undefined behaviour fails the test that hit it (the daemon
# exits non-zero under LeakSanitizer, and the integration test checks its exit status).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -DMCPHD_SANITIZE=ON

if [ $status -eq 0 ]; then
  echo "test.sh: all suites passed"
else
  echo "test.sh: FAILED" >&2
fi
exit $status
