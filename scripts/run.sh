#!/usr/bin/env bash
# Demo: installs what is missing, builds, starts a private redis-server (unless --redis URL) and
# @modelcontextprotocol/server-everything, runs mcp-healthd on a demo config with its dashboard on
# loopback (the URL is printed first) and prints the events it publishes until Ctrl-C. Everything
# it started is stopped on exit.
#
#   ./scripts/run.sh [--redis URL]
#   MCPHD_DASHBOARD_PORT=9466 ./scripts/run.sh    the dashboard's port (default 9465, else any free)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

redis_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --redis) redis_url=${2:?--redis needs a URL}; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target mcp-healthd >/dev/null

state=$(mktemp -d "${TMPDIR:-/tmp}/mcp-healthd-demo.XXXXXX")
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

if [ -z "$redis_url" ]; then
  redis-server --port 0 --unixsocket "$state/redis.sock" --unixsocketperm 700 --save '' \
    --appendonly no --dir "$state" >"$state/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$state/redis.sock" ] && break; sleep 0.05; done
  redis_url="unix://$state/redis.sock"
  cli=(redis-cli -s "$state/redis.sock")
else
  case "$redis_url" in
    unix://*) cli=(redis-cli -s "${redis_url#unix://}") ;;
    *) cli=(redis-cli -u "$redis_url") ;;
  esac
fi

port=$(free_port)
PORT=$port node tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js \
  streamableHttp >"$state/everything.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

dashboard_port=${MCPHD_DASHBOARD_PORT:-9465}
if (exec 3<>"/dev/tcp/127.0.0.1/$dashboard_port") 2>/dev/null; then
  dashboard_port=$(free_port)  # 9465 is taken: any free port
fi
# The dashboard's bearer token for Recheck: random, in a file only you can read.
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$state/dashboard.token")

cat >"$state/demo.yaml" <<YAML
redis:
  url: $redis_url
  prefix: "mcp:"
defaults:
  interval: 5s
  timeout: 3s
dashboard:
  listen: 127.0.0.1:$dashboard_port
  token_file: $state/dashboard.token
  allowed_hosts: [localhost]
servers:
  - id: everything
    name: Everything demo
    url: http://127.0.0.1:$port/mcp
  - id: nothing-listens-here
    url: http://127.0.0.1:$(free_port)/mcp
YAML

echo "dashboard: http://127.0.0.1:$dashboard_port/   (Recheck asks for the token in $state/dashboard.token)"
echo "redis: $redis_url   server-everything: http://127.0.0.1:$port/mcp   (Ctrl-C to stop)"
echo "events on mcp:health and mcp:tools:"
# Each pub/sub message is three lines (kind, channel, payload): print the payloads.
print_payloads() {
  for _ in 1 2 3 4 5 6; do read -r _ || return 0; done  # the two subscribe confirmations
  while read -r _ && read -r _ && read -r payload; do printf '%s\n' "$payload"; done
}
stdbuf -oL "${cli[@]}" --raw subscribe mcp:health mcp:tools 2>/dev/null | print_payloads &
pids+=($!)
sleep 0.3
./build/mcp-healthd --config "$state/demo.yaml" &
pids+=($!)
wait "${pids[-1]}"
