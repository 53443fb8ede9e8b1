#!/usr/bin/env bash
# arch-server against its references, in one run on this machine:
#   - a bare axum handler (examples/bare_axum.rs): the limit for this stack here;
#   - FastAPI + uvicorn serving the same /arch (bench/fastapi_app.py), in a venv.
# Measures requests/s and p50/p99 latency with wrk at concurrency 1, 64 and 256, RSS idle,
# right after load and 5 s later, time to the first 200, and the stripped binary size.
# Writes the results into BENCHMARKS.md between the server markers.
#
#   bench/server.sh            (DURATION=10s by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION=${DURATION:-10s}
CONCURRENCY=(1 64 256)

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
if ! [ -x bench/.venv/bin/uvicorn ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q fastapi uvicorn
fi
cargo build --release -q -p arch-server --bin arch-server --example bare_axum
scripts/build-dist.sh amd64 2>/dev/null

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

declare -A RESULT
measure() {
  local name=$1 port=$2
  shift 2
  local out pid first
  out=$(python3 bench/first_response.py 127.0.0.1 "$port" /arch "$@")
  first=${out% *}
  pid=${out#* }
  sleep 1
  RESULT[$name,first]=$first
  RESULT[$name,rss_idle]=$(rss_kb "$pid")
  for c in "${CONCURRENCY[@]}"; do
    local threads=$((c < 2 ? 1 : 2))
    local report
    report=$(wrk -t"$threads" -c"$c" -d"$DURATION" --latency "http://127.0.0.1:$port/arch")
    RESULT[$name,$c,rps]=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$report")
    RESULT[$name,$c,p50]=$(awk '$1 == "50%" {print $2}' <<<"$report")
    RESULT[$name,$c,p99]=$(awk '$1 == "99%" {print $2}' <<<"$report")
    RESULT[$name,$c,errors]=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$report" | tr '\n' ' ')
  done
  RESULT[$name,rss_load]=$(rss_kb "$pid")
  # arch-server gives freed heap back a few seconds after traffic stops (src/memory.rs).
  sleep 5
  RESULT[$name,rss_rest]=$(rss_kb "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

echo "==> arch-server" >&2
measure arch-server 18180 target/release/arch-server --port 18180
echo "==> bare axum" >&2
measure bare-axum 18181 target/release/examples/bare_axum 18181
echo "==> FastAPI + uvicorn" >&2
measure uvicorn 18182 bench/.venv/bin/uvicorn --app-dir bench fastapi_app:app --host 127.0.0.1 --port 18182

fastapi_version=$(bench/.venv/bin/pip show fastapi | awk '/^Version/ {print $2}')
uvicorn_version=$(bench/.venv/bin/pip show uvicorn | awk '/^Version/ {print $2}')
size=$(stat -c %s dist/amd64/arch-server)

section=$(mktemp)
{
  echo "<!-- server:start -->"
  echo "## arch-server: \`GET /arch\` against a bare axum handler and FastAPI"
  echo
  echo "- command: \`bench/server.sh\` (wrk, ${DURATION} per level, loopback, logs to /dev/null)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, $(uname -m), $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "- arch-server with request logging at its default level (INFO: start, stop, failures; the per-request line is DEBUG);"
  echo "  FastAPI ${fastapi_version} on uvicorn ${uvicorn_version} (one worker, its default access log)"
  echo
  echo "| server | concurrency | requests/s | p50 | p99 | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | --- |"
  for name in arch-server bare-axum uvicorn; do
    for c in "${CONCURRENCY[@]}"; do
      echo "| $name | $c | ${RESULT[$name,$c,rps]} | ${RESULT[$name,$c,p50]} | ${RESULT[$name,$c,p99]} | ${RESULT[$name,$c,errors]:-none} |"
    done
  done
  echo
  echo "| server | first 200 after start | RSS idle | RSS right after load | RSS 5 s later |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for name in arch-server bare-axum uvicorn; do
    echo "| $name | ${RESULT[$name,first]} ms | $((RESULT[$name,rss_idle] / 1024)).$(((RESULT[$name,rss_idle] % 1024) * 10 / 1024)) MiB | $((RESULT[$name,rss_load] / 1024)).$(((RESULT[$name,rss_load] % 1024) * 10 / 1024)) MiB | $((RESULT[$name,rss_rest] / 1024)).$(((RESULT[$name,rss_rest] % 1024) * 10 / 1024)) MiB |"
  done
  echo
  a=${RESULT[arch-server,64,rps]} b=${RESULT[bare-axum,64,rps]} u=${RESULT[uvicorn,64,rps]}
  echo "At concurrency 64: arch-server serves $(awk "BEGIN {printf \"%.1f\", $a / $u}")× uvicorn's requests/s and $(awk "BEGIN {printf \"%.0f\", 100 * $a / $b}")% of the bare handler's."
  echo "Stripped static binary (\`dist/amd64/arch-server\`, release profile): ${size} bytes ($(awk "BEGIN {printf \"%.2f\", $size / 1048576}") MiB)."
  echo "<!-- server:end -->"
} >"$section"

write_section server "$section"
