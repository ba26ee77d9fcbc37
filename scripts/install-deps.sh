#!/usr/bin/env bash
# Installs what mcp-healthd needs to build and test, from Debian's packages and (for the Node test
# peers) the npm registry. Idempotent, and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# libsodium-dev: the credentials envelope, wiping secrets, SHA-256.
# libssl-dev: ES256/RS256 signatures of private_key_jwt client assertions (libsodium has neither).
# clang-14, libclang-rt-14-dev: libFuzzer for the fuzz targets (g++ has no coverage-guided fuzzer).
# systemd: systemd-analyze verify/security check the unit file.
# prometheus: promtool lints /metrics and a real Prometheus scrapes the daemon in a test.
# chromium: the dashboard page's browser test (tests/browser) drives it headless with puppeteer-core.
# redis-sentinel: the Sentinel failover test runs three sentinels over two redis-servers.
packages=(build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libhiredis-dev
          libsimdjson-dev libyaml-cpp-dev libsodium-dev libssl-dev catch2 redis-server redis-tools
          redis-sentinel clang-14 libclang-rt-14-dev systemd prometheus chromium)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm run only the test peers; any Node >= 18 on PATH will do.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test peers, the conformance suite (with the Node 22 it needs) and the browser test's
# puppeteer-core (which downloads no browser), pinned by their lock files.
for peers in tests/peers tests/conformance tests/browser; do
  if [ ! -d "$peers/node_modules" ] || [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in $peers" >&2
    (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
