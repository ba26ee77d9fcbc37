#!/usr/bin/env bash
# The dashboard page in a real browser (issue 12): starts a private redis-server on a loopback
# TCP port, server-everything and the XSS peer (tests/peers/xss-mcp.mjs), and mcp-healthd with a
# dashboard and a token file, then runs dashboard.test.mjs (puppeteer-core driving Debian's
# /usr/bin/chromium, headless). Screenshots and every process's log go to OUT_DIR. Everything it
# started is stopped on exit, whatever happens.
#   tests/browser/run.sh MCP_HEALTHD_BINARY OUT_DIR
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: tests/browser/run.sh MCP_HEALTHD_BINARY OUT_DIR" >&2
  exit 2
fi
daemon=$(realpath "$1")
mkdir -p "$2"
out=$(cd "$2" && pwd)
cd "$(dirname "$0")/../.."

fail() { echo "browser test: $*" >&2; exit 1; }

# What it needs (scripts/install-deps.sh installs all of it).
chromium=/usr/bin/chromium
[ -x "$daemon" ] || fail "$daemon is not an executable"
[ -x "$chromium" ] || fail "$chromium is missing (apt-get install chromium, or scripts/install-deps.sh)"
redis_server=$(command -v redis-server) || fail "redis-server is missing (scripts/install-deps.sh)"
[ -d tests/browser/node_modules/puppeteer-core ] || fail "run npm ci in tests/browser (scripts/install-deps.sh)"
[ -d tests/peers/node_modules/@modelcontextprotocol/sdk ] || fail "run npm ci in tests/peers (scripts/install-deps.sh)"

state=$(mktemp -d "${TMPDIR:-/tmp}/mcp-healthd-browser.XXXXXX")
rm -f "$out"/failure-*.png
pids=()        # our children, stopped in reverse order (the test, the daemon, peers, redis)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  # A redis-server or daemon restarted by the test is not our child: it wrote its pid to a file.
  for pidfile in "$state/redis.pid" "$state/daemon.pid"; do
    if [ -s "$pidfile" ]; then
      local rpid
      rpid=$(cat "$pidfile")
      if kill "$rpid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$rpid" 2>/dev/null || true
      fi
    fi
  done
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits until 127.0.0.1:PORT accepts connections, as long as process PID lives.
wait_port() {
  local port=$1 pid=$2 what=$3 log=$4
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; fail "$what exited at start (log: $log)"; }
    sleep 0.05
  done
  tail -n 20 "$log" >&2
  fail "$what does not listen on 127.0.0.1:$port after 10 s (log: $log)"
}

redis_port=$(free_port)
redis_args=(--port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$state"
            --pidfile "$state/redis.pid")
"$redis_server" "${redis_args[@]}" >"$out/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port" "$!" redis-server "$out/redis.log"

everything_port=$(free_port)
PORT=$everything_port node tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js \
  streamableHttp >"$out/everything.log" 2>&1 &
everything_pid=$!
pids+=($everything_pid)
wait_port "$everything_port" "$everything_pid" server-everything "$out/everything.log"

xss_port=$(free_port)
PORT=$xss_port node tests/peers/xss-mcp.mjs >"$out/xss.log" 2>&1 &
pids+=($!)
wait_port "$xss_port" "$!" "the XSS peer" "$out/xss.log"

# The dashboard's token: 32 random bytes in hex, in a file only we can read (never in argv).
(umask 077 && printf '%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$state/dashboard.token")
chmod 600 "$state/dashboard.token"

dashboard_port=$(free_port)
# Fast checks (1 s, no jitter) and one failure to turn unhealthy: step e allows 2 s for it.
cat >"$state/config.yaml" <<YAML
redis:
  url: redis://127.0.0.1:$redis_port
  prefix: "mcp:"
defaults:
  interval: 1s
  timeout: 800ms
  jitter: 0%
  unhealthy_threshold: 1
servers:
  - id: everything
    name: Everything demo
    url: http://127.0.0.1:$everything_port/mcp
    transport: streamable_http
    interval: 500ms              # step e: unhealthy within 2 s of its stop, with a wide margin
    timeout: 400ms
  - id: xss
    name: '<img src=x onerror="window.pwned=2">'
    url: http://127.0.0.1:$xss_port/mcp
    transport: streamable_http
  - id: xss-error
    url: http://127.0.0.1:$xss_port/html-error
    transport: streamable_http
dashboard:
  listen: 127.0.0.1:$dashboard_port
  token_file: $state/dashboard.token
YAML
"$daemon" --config "$state/config.yaml" --check-config >"$state/check.log" 2>&1 ||
  { cat "$state/check.log" >&2; fail "the test's config is refused"; }

"$daemon" --config "$state/config.yaml" >"$out/daemon.log" 2>&1 &
daemon_pid=$!
pids+=($daemon_pid)
url="http://127.0.0.1:$dashboard_port"
for i in $(seq 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/api/status" || true)
  [ "$code" = 200 ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$out/daemon.log" >&2; fail "mcp-healthd exited at start"; }
  [ "$i" = 200 ] && { tail -n 20 "$out/daemon.log" >&2; fail "GET $url/api/status does not answer 200 after 10 s (last: $code)"; }
  sleep 0.05
done

# The test; in the background so that a signal to us runs the cleanup at once.
DASHBOARD_URL="$url/" TOKEN_FILE="$state/dashboard.token" OUT_DIR="$out" \
EVERYTHING_PID="$everything_pid" \
DAEMON_BIN="$daemon" DAEMON_CONFIG="$state/config.yaml" DAEMON_PID="$daemon_pid" \
DAEMON_PIDFILE="$state/daemon.pid" DAEMON_LOG="$out/daemon.log" \
REDIS_SERVER="$redis_server" REDIS_PORT="$redis_port" REDIS_PIDFILE="$state/redis.pid" \
REDIS_LOG="$out/redis.log" \
REDIS_ARGS="$(node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "${redis_args[@]}")" \
  node tests/browser/dashboard.test.mjs &
test_pid=$!
pids+=($test_pid)
rc=0
wait "$test_pid" || rc=$?
[ "$rc" = 0 ] || fail "dashboard.test.mjs failed (exit $rc); screenshots and logs in $out"
# The test stopped the first daemon with SIGTERM while the page was open (and checked the exit
# of the one it started): it stopped cleanly, exit 0 (under the sanitizers: no leak, no handle
# left open).
kill -TERM "$daemon_pid" 2>/dev/null || true
daemon_rc=0
wait "$daemon_pid" || daemon_rc=$?
[ "$daemon_rc" = 0 ] || { tail -n 20 "$out/daemon.log" >&2; fail "mcp-healthd exited $daemon_rc after SIGTERM"; }
echo "browser test: all passed; screenshots in $out"
