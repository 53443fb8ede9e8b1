#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) generates requests from arch-server's own
# /openapi.json and checks every answer against it (status codes, content types,
# bodies, no 5xx). Runs the release binary on a free loopback port, prints the summary,
# writes it into BENCHMARKS.md, and exits non-zero on any failure.
#
#   bench/schemathesis.sh        (MAX_EXAMPLES=200 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
MAX_EXAMPLES=${MAX_EXAMPLES:-200}

venv=bench/.venv-schemathesis
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q schemathesis; }
cargo build --release -q -p arch-server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/arch-server --port "$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done

report=$(mktemp)
status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --max-examples "$MAX_EXAMPLES" --suppress-health-check all | tee "$report" ||
  status=$?

section=$(mktemp)
{
  echo "<!-- schemathesis:start -->"
  echo "## API conformance (\`bench/schemathesis.sh\`)"
  echo
  echo "- command: \`bench/schemathesis.sh\` (MAX_EXAMPLES=$MAX_EXAMPLES, \`--checks all\`), against the release binary on loopback"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $("$venv/bin/schemathesis" --version)"
  echo
  echo "| operations | test cases | result |"
  echo "| ---: | --- | --- |"
  echo "| $(sed -nE 's/^ *Tested: ([0-9]+).*/\1/p' "$report") | $(sed -nE 's/^ *([0-9]+ generated.*)/\1/p' "$report") | $(grep -oE '(No issues found|[0-9]+ (failures?|errors?)[^=]*)' "$report" | head -1 | sed 's/ *$//') |"
  echo
  echo "Every answer is checked against \`/openapi.json\`: status codes, content types, bodies"
  echo "against their schemas, and no server error for any generated input."
  echo "<!-- schemathesis:end -->"
} >"$section"
if [ "$status" = 0 ]; then write_section schemathesis "$section" >/dev/null; else rm -f "$section"; fi
exit "$status"
