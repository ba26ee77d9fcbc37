#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit and integration suites in a
# normal build, then again in an ASan+UBSan build, then each libFuzzer target (clang, ASan+UBSan)
# for a few seconds. Exit status 0 only when all pass.
#   ./scripts/test.sh               everything, fuzzing 5 s per target
#   ./scripts/test.sh --fuzz SECS   only the fuzz targets, SECS seconds each, from their committed
#                                   seeds (tests/fuzz/corpus/<target>) with their dictionaries
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=5
fuzz_only=0
if [ "${1:-}" = "--fuzz" ]; then
  fuzz_seconds=${2:?--fuzz needs a number of seconds}
  fuzz_only=1
fi

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

run_fuzz() {
  echo "== build build-fuzz (clang, libFuzzer, ASan+UBSan)"
  CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCPHD_FUZZ=ON -DMCPHD_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs"
  local passed=0 failed=0
  for target in sse_parser jsonrpc envelope config record; do
    # The committed seeds (real answers of the peers, envelopes of every kind, the example config,
    # every crash found so far) start a scratch copy, so runs never change the repository.
    local corpus
    corpus=$(mktemp -d)
    cp tests/fuzz/corpus/$target/* "$corpus"/
    if build-fuzz/fuzz_$target -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 \
        -dict=tests/fuzz/$target.dict "$corpus" >"build-fuzz/fuzz_$target.log" 2>&1; then
      echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "build-fuzz/fuzz_$target.log" | tail -1)," \
        "$(grep -o 'cov: [0-9]* ft: [0-9]*' "build-fuzz/fuzz_$target.log" | tail -1)"
      passed=$((passed + 1))
    else
      echo "fuzz $target: FAILED (crash input and trace below)"
      tail -40 "build-fuzz/fuzz_$target.log"
      failed=$((failed + 1))
      status=1
    fi
    rm -rf "$corpus"
  done
  echo "fuzz: $passed passed, $failed failed"
}

if [ $fuzz_only -eq 1 ]; then
  run_fuzz
  exit $status
fi

run_suite build
# Sanitizers: any leak, overflow or undefined behaviour fails the test that hit it (the daemon
# exits non-zero under LeakSanitizer, and the integration test checks its exit status).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -DMCPHD_SANITIZE=ON
run_fuzz

if [ $status -eq 0 ]; then
  echo "test.sh: all suites passed"
else
  echo "test.sh: FAILED" >&2
fi
exit $status
