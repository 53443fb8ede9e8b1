#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) generates requests from arch-server's own
# /openapi.json and checks every answer against it (status codes, content types,
# bodies, no 5xx). Runs the release binary on a free loopback port; prints the summary
# and exits non-zero on any failure.
#
#   bench/schemathesis.sh        (MAX_EXAMPLES=200 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES=${MAX_EXAMPLES:-200}

venv=bench/.venv-schemathesis
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q schemathesis; }
cargo build --release -q -p arch-server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/arch-server --port "$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done

"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --max-examples "$MAX_EXAMPLES" --suppress-health-check all
