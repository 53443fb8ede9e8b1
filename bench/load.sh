#!/usr/bin/env bash
# arch-server under load, in its container on loopback: wrk drives GET /arch and
# POST /increment with 1,000 connections for 60 s each, and records non-2xx responses,
# socket errors, requests/s, p99, and the container's own memory (anonymous plus kernel,
# from its cgroup) idle, right after, and after 10 s of rest. Then the arm64 image under QEMU, which must stay correct, however
# slow. Results go into BENCHMARKS.md.
#
#   bench/load.sh        DURATION=60s CONNECTIONS=1000 by default; needs the test bed
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION=${DURATION:-60s}
CONNECTIONS=${CONNECTIONS:-1000}
QEMU_DURATION=${QEMU_DURATION:-20s}
QEMU_CONNECTIONS=${QEMU_CONNECTIONS:-100}
# wrk needs a descriptor per connection; raise the soft limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/build-dist.sh amd64 arm64 2>/dev/null

# The image, in a registry of the bench's own, removed at the end.
name=multiarch-load-registry-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name "$name" --label io.github.multiarch.managed-by=multiarch-bench \
  -p "127.0.0.1:$port:5000" registry:2 >/dev/null
image=localhost:$port/arch-server:load
ids=()
cleanup() {
  docker rm -f -v "$name" "${ids[@]}" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -f "$post"
}
post=$(mktemp --suffix=.lua)
trap cleanup EXIT
until curl -fs "http://localhost:$port/v2/" >/dev/null; do sleep 0.1; done
docker buildx build -q --builder default --platform linux/amd64,linux/arm64 \
  --build-context build=dist -t "$image" --push . >/dev/null

cat >"$post" <<'LUA'
wrk.method = "POST"
wrk.body = '{"value": 41}'
wrk.headers["Content-Type"] = "application/json"
LUA

# A container's own memory: anonymous pages plus kernel memory charged to its cgroup,
# in KiB. Page cache is left out: it is the image's files, shared and reclaimable, and
# on cgroup v1 `docker stats` counts it as soon as the kernel marks it active, which a
# busy server's binary is after load (that alone read as 3.3 MiB more than idle).
own_kib() { # container id -> KiB
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$1")
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    local dir
    dir=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
    awk '$1 == "anon" || $1 == "kernel" {sum += $2} END {printf "%.0f", sum / 1024}' "$dir/memory.stat"
  else
    local dir
    dir=/sys/fs/cgroup/memory$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
    local kmem=0
    [ -r "$dir/memory.kmem.usage_in_bytes" ] && kmem=$(cat "$dir/memory.kmem.usage_in_bytes")
    awk -v kmem="$kmem" '$1 == "total_rss" {printf "%.0f", ($2 + kmem) / 1024}' "$dir/memory.stat"
  fi
}
stats_mem() { # container id -> what `docker stats` shows
  docker stats --no-stream --format '{{.MemUsage}}' "$1" | awk '{print $1}'
}

rows=()
memory_rows=()
run_load() { # platform duration connections
  local platform=$1 duration=$2 connections=$3
  local id hport idle after rested stats_idle stats_after stats_rested
  id=$(docker run -d --platform "$platform" -p 127.0.0.1::80 --label io.github.multiarch.managed-by=multiarch-bench "$image")
  ids+=("$id")
  hport=$(docker port "$id" 80/tcp | sed -n '1s/.*://p')
  until curl -fs "http://127.0.0.1:$hport/healthz" >/dev/null; do sleep 0.2; done
  sleep 2
  idle=$(own_kib "$id") stats_idle=$(stats_mem "$id")
  for route in arch increment; do
    local args=() report
    [ "$route" = increment ] && args=(-s "$post")
    report=$(wrk -t2 -c"$connections" -d"$duration" --latency --timeout 10s "${args[@]}" "http://127.0.0.1:$hport/$route")
    local rps p99 non2xx errors
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$report")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$report")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$report")
    errors=$(awk '/Socket errors/ {sub(/.*Socket errors: /, ""); print}' <<<"$report")
    rows+=("| $platform | \`$route\` | $connections | $duration | $rps | $p99 | ${non2xx:-0} | ${errors:-none} |")
  done
  after=$(own_kib "$id") stats_after=$(stats_mem "$id")
  sleep 10
  rested=$(own_kib "$id") stats_rested=$(stats_mem "$id")
  # The answer is still right after the load.
  local answer
  answer=$(curl -fs "http://127.0.0.1:$hport/arch" | sed 's/"os".*//')
  memory_rows+=("| $platform | $idle KiB | $after KiB | $rested KiB | $(awk -v i="$idle" -v r="$rested" 'BEGIN {printf "%+.1f%%", (r - i) * 100 / i}') | $stats_idle, $stats_after, $stats_rested | \`$answer…\` |")
  docker rm -f "$id" >/dev/null
}
run_load linux/amd64 "$DURATION" "$CONNECTIONS"
run_load linux/arm64 "$QEMU_DURATION" "$QEMU_CONNECTIONS"

section=$(mktemp)
{
  echo "<!-- load:start -->"
  echo "## arch-server under load, in its container"
  echo
  echo "- command: \`bench/load.sh\` (wrk, 2 threads, on loopback; the arm64 image under QEMU with fewer connections)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), Docker $(docker version -f '{{.Server.Version}}')"
  echo
  echo "| platform | route | connections | duration | requests/s | p99 | non-2xx | socket errors |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The container's own memory (anonymous pages plus kernel memory charged to its cgroup;"
  echo "page cache, the image's files, left out), idle, right after the load, and 10 s later."
  echo "The image runs with one malloc arena and no thread caches (\`GLIBC_TUNABLES\` in the"
  echo "Dockerfile), and trims the heap once traffic stops (src/memory.rs). Under QEMU the"
  echo "memory is the emulator's. \`docker stats\` is shown for reference: on cgroup v1 it"
  echo "also counts the page cache the kernel has marked active."
  echo
  echo "| platform | idle | right after | 10 s later | 10 s later against idle (target: within 10%) | \`docker stats\` (idle, after, 10 s) | \`/arch\` then answered |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
  printf '%s\n' "${memory_rows[@]}"
  echo "<!-- load:end -->"
} >"$section"
write_section load "$section"
