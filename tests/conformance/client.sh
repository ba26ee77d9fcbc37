#!/usr/bin/env bash
# The client the MCP conformance suite runs for each scenario: `client.sh <server url>`, with the
# scenario's name in MCP_CONFORMANCE_SCENARIO and its context (pre-registered client credentials,
# ...) in MCP_CONFORMANCE_CONTEXT. It maps the scenario onto `mcp-healthctl probe` flags; for the
# authorization-code scenarios it plays the user's browser: it waits for the one line probe prints
# on stderr ("Open this URL to authorize: <url>") and fetches that URL, following the redirects
# to probe's loopback redirect URI. MCPHD_CTL names mcp-healthctl.
set -u
ctl=${MCPHD_CTL:?MCPHD_CTL must name mcp-healthctl}
url=${1:?usage: client.sh SERVER_URL}
scenario=${MCP_CONFORMANCE_SCENARIO:-}

case "$scenario" in
  auth/client-credentials-*)
    # The credentials come from MCP_CONFORMANCE_CONTEXT (probe reads it itself).
    exec "$ctl" probe "$url" ;;
  auth/*) ;;
  *) exec "$ctl" probe "$url" ;;
esac

# The scenario's pre-registered client, as flags (the secret through the environment, never argv).
flags=()
if [ -n "${MCP_CONFORMANCE_CONTEXT:-}" ]; then
  client_id=$(node -e 'const c = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT); process.stdout.write(c.client_id ?? "")')
  export CONFORMANCE_CLIENT_SECRET
  CONFORMANCE_CLIENT_SECRET=$(node -e 'const c = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT); process.stdout.write(c.client_secret ?? "")')
  [ -n "$client_id" ] && flags+=(--client-id "$client_id")
  [ -n "$CONFORMANCE_CLIENT_SECRET" ] && flags+=(--client-secret-env CONFORMANCE_CLIENT_SECRET)
fi

err=$(mktemp)
trap 'rm -f "$err"' EXIT
# MCP_CONFORMANCE_CONTEXT stays with this script: the flags say what probe gets.
env -u MCP_CONFORMANCE_CONTEXT "$ctl" probe "$url" --auth oauth2 --oauth2-flow authorization_code \
  "${flags[@]}" 2>"$err" &
probe=$!
# The browser: every URL probe prints (a step-up prints a second one) is fetched once; the
# suite's authorization server redirects straight to the redirect URI.
opened=0
while kill -0 "$probe" 2>/dev/null; do
  mapfile -t urls < <(sed -n 's/^Open this URL to authorize: //p' "$err")
  while [ "$opened" -lt "${#urls[@]}" ]; do
    node -e '
      fetch(process.argv[1], { redirect: "follow" })
        .then((r) => r.text())
        .catch((e) => { console.error("browser: " + e.message); });
    ' "${urls[$opened]}"
    opened=$((opened + 1))
  done
  sleep 0.1
done
wait "$probe"
status=$?
cat "$err" >&2
exit $status
