#!/usr/bin/env bash
# One node against two, in one run: the same two-platform build (linux/amd64 and
# linux/arm64) through a builder of one node (the test bed's engine builds both) and one
# of two (the test bed's engine builds amd64, a second dockerd on this machine, reached
# over tcp:// with TLS, builds arm64). Two workloads:
# - the repository's image from the host-built binaries: what spreading costs (context
#   sent to each node, each result read back and pushed by digest, the index assembled);
# - a CPU-bound step (a busybox shell loop) in each platform, the arm64 one under QEMU:
#   what spreading gains when the work is the build itself.
# Both nodes share this machine's cores, so two nodes cannot beat one here by more than
# the machine lets them; BENCHMARKS.md says what changes with real machines. Then
# (PIN=1, the default, with two cores or more) the CPU-bound build again with each engine
# confined to a core of its own (taskset on dockerd and its containerd, whose children,
# the build's containers and QEMU among them, inherit it): one engine on one core against
# two engines on a core each, the gain a second machine brings, measured. A third
# builder pairs the engine with a buildx builder (docker-container, on this engine) as
# its arm64 node, reached as `--node bx=buildx://BUILDER`; pinned, a second such builder
# made with its BuildKit container on core 1 (buildx's `--driver-opt cpuset-cpus=1`).
#
#   bench/nodes.sh     (needs the test bed and root: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
LOOP=${LOOP:-300000}
PIN=${PIN:-1}

cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null
m=target/release/multiarch
state=$(mktemp -d)
work=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
# buildx's store for this run only: the user's builders stay as they were.
export BUILDX_CONFIG=$work/buildx
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
all_cores=0-$(($(nproc) - 1))
pinned=()
pin() { # CORES PID...: every thread of each process
  local cores=$1 pid
  shift
  for pid in "$@"; do
    taskset -a -p -c "$cores" "$pid" >/dev/null
    pinned+=("$pid")
  done
}
cleanup() {
  local pid
  for pid in "${pinned[@]}"; do taskset -a -p -c "$all_cores" "$pid" >/dev/null 2>&1 || true; done
  scripts/build-node.sh down bench-far >/dev/null 2>&1 || true
  docker buildx rm bench-bx >/dev/null 2>&1 || true
  docker buildx rm bench-bx-pinned >/dev/null 2>&1 || true
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f localhost:5000/bench-nodes/busybox:1 >/dev/null 2>&1 || true
  rm -rf "$state" "$work"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1
scripts/build-node.sh certs "$work/certs" 2>/dev/null
scripts/build-node.sh up bench-far "$port" "$work/certs" 2>/dev/null
$m builder create --name one --node here=unix:///var/run/docker.sock >/dev/null 2>&1
$m builder create --name two --node here=unix:///var/run/docker.sock \
  --node "far=tcp://127.0.0.1:$port,certs=$work/certs,platforms=linux/arm64" >/dev/null 2>&1
docker buildx create --name bench-bx --driver docker-container \
  --driver-opt image=multiarch-testbed/buildkit:debian,network=host --bootstrap >/dev/null 2>&1
$m builder create --name withbx --node here=unix:///var/run/docker.sock \
  --node "bx=buildx://bench-bx,platforms=linux/arm64" >/dev/null 2>&1

# The CPU-bound context: busybox per platform, a loop that only computes.
for arch in amd64 arm64; do
  mkdir -p "$work/base/$arch"
  cp /var/cache/multiarch/busybox/$arch/busybox "$work/base/$arch/"
done
# shellcheck disable=SC2016 # the Dockerfile expands it, not the shell
printf 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\n' >"$work/base/Dockerfile"
docker buildx build --builder default --quiet --platform linux/amd64,linux/arm64 \
  -t localhost:5000/bench-nodes/busybox:1 --push "$work/base" >/dev/null
mkdir -p "$work/cpu"
cat >"$work/cpu/Dockerfile" <<EOF
FROM localhost:5000/bench-nodes/busybox:1
ARG RUN_ID
RUN ["/bin/busybox", "sh", "-c", "i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done; echo \$RUN_ID"]
EOF

copy_build() { # builder tag
  $m build --builder "$1" -t "localhost:5000/bench-nodes/app:$2" \
    --platform linux/amd64,linux/arm64 --build-context build=dist --no-cache --push .
}
cpu_build() { # builder tag run
  $m build "$work/cpu" --builder "$1" -t "localhost:5000/bench-nodes/cpu:$2" \
    --platform linux/amd64,linux/arm64 --build-arg "RUN_ID=$3" --push
}

copy_one="" copy_two="" copy_bx="" cpu_one="" cpu_two="" cpu_bx=""
for i in $(seq 1 "$RUNS"); do
  copy_one+="$(seconds copy_build one one) "
  copy_two+="$(seconds copy_build two two) "
  copy_bx+="$(seconds copy_build withbx withbx) "
  cpu_one+="$(seconds cpu_build one one "one-$i-$$") "
  cpu_two+="$(seconds cpu_build two two "two-$i-$$") "
  cpu_bx+="$(seconds cpu_build withbx withbx "bx-$i-$$") "
done

# Each engine on a core of its own: the first engine's dockerd and containerd on core 0,
# the second's on core 1.
cpu_one_pinned="" cpu_two_pinned="" cpu_bx_pinned=""
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  node_dir=${MULTIARCH_NODES_DIR:-/var/lib/multiarch-testbed/nodes}/bench-far
  # shellcheck disable=SC2046 # one argument per process
  pin 0 $(pgrep -x dockerd | grep -vx "$(cat "$node_dir/docker.pid")") $(pgrep -f 'containerd --config /var/run/docker/containerd')
  # shellcheck disable=SC2046 # one argument per process
  pin 1 "$(cat "$node_dir/docker.pid")" $(pgrep -f -- "$node_dir/exec" | grep -v '^$' || true)
  docker buildx create --name bench-bx-pinned --driver docker-container --bootstrap \
    --driver-opt image=multiarch-testbed/buildkit:debian,network=host,cpuset-cpus=1 >/dev/null 2>&1
  $m builder create --name withbx-pinned --node here=unix:///var/run/docker.sock \
    --node "bx=buildx://bench-bx-pinned,platforms=linux/arm64" >/dev/null 2>&1
  for i in $(seq 1 "$RUNS"); do
    cpu_one_pinned+="$(seconds cpu_build one one "pinned-one-$i-$$") "
    cpu_two_pinned+="$(seconds cpu_build two two "pinned-two-$i-$$") "
    cpu_bx_pinned+="$(seconds cpu_build withbx-pinned withbx "pinned-bx-$i-$$") "
  done
  for pid in "${pinned[@]}"; do taskset -a -p -c "$all_cores" "$pid" >/dev/null; done
  pinned=()
fi

overhead=$(printf '%.2f' "$(echo "$(echo "${copy_two% }" | median) - $(echo "${copy_one% }" | median)" | bc)")
row() { printf '| %s | %s | %s s |\n' "$1" "$2" "$(echo "$2" | median)"; }
out=$(mktemp)
{
  echo "<!-- nodes:start -->"
  echo "## Build nodes: one engine against two"
  echo
  echo "- command: \`bench/nodes.sh\` ($RUNS runs each, alternating; LOOP=$LOOP)"
  echo "- date: $(date -u +%Y-%m-%d), machine: **$(nproc) cores** shared by both engines, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); QEMU $(qemu-aarch64-static --version | head -n1 | awk '{print $3}')"
  echo "- one node: the test bed's engine builds linux/amd64 and linux/arm64; two nodes: it builds linux/amd64, a second dockerd on this machine (tcp:// with TLS, \`scripts/build-node.sh\`) builds linux/arm64; the engine and a buildx builder: the engine builds linux/amd64, a buildx docker-container builder on the same engine (\`--node bx=buildx://bench-bx\`, BuildKit's OCI exporter, the layout pushed by digest) builds linux/arm64"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "host-built binaries copied in (\`--no-cache\`), one node" "${copy_one% }"
  row "the same, two nodes" "${copy_two% }"
  row "the same, the engine and a buildx builder (\`buildx://\`)" "${copy_bx% }"
  row "a CPU-bound step per platform (arm64 under QEMU), one node" "${cpu_one% }"
  row "the same, two nodes" "${cpu_two% }"
  row "the same, the engine and a buildx builder" "${cpu_bx% }"
  if [ -n "$cpu_one_pinned" ]; then
    row "the CPU-bound step, one node confined to one core" "${cpu_one_pinned% }"
    row "the same, two nodes on a core each" "${cpu_two_pinned% }"
    row "the same, the engine on one core and the buildx builder's BuildKit on the other" "${cpu_bx_pinned% }"
    gain=$(echo "scale=2; $(echo "${cpu_one_pinned% }" | median) / $(echo "${cpu_two_pinned% }" | median)" | bc)
    gain_bx=$(echo "scale=2; $(echo "${cpu_one_pinned% }" | median) / $(echo "${cpu_bx_pinned% }" | median)" | bc)
  fi
  echo
  echo "Both engines run on the same $(nproc) cores, and one engine already builds its two platforms side by side, so a second node on this machine adds its overhead and no CPU; what the figures show is that overhead (second row against the first) and that the work itself is not slowed by being spread."
  echo
  echo "How the time scales, on paper (with the figures above and BENCHMARKS.md's emulation factor):"
  echo
  echo "- T ≈ pack + max over nodes (upload + build of its platforms + read-back + push by digest) + index."
  echo "- Serial, once per build: packing the context (milliseconds here) and assembling and pushing the index (one small PUT). Everything else runs per node, at once."
  echo "- Per node: the context upload (its size over the link to that node; the client sends it once per node, so k nodes cost k uploads on the client's uplink), the build, and the result read back and pushed by digest (the engine API pushes tags only, so a remote node's result crosses the network twice: node to client, client to registry)."
  echo "- The build is where nodes pay: a platform built under QEMU costs about 39× its native time for rustc (the demo's benchmark), so P platforms on one x86 machine take about t + 39·t·(P−1)/cores, and on one native node per platform about t plus the per-node overhead measured above ($overhead s here: second row against the first)."
  echo "- On one machine sharing its cores (the rows above the confined ones), a second engine gains nothing, and costs that overhead."
  if [ -n "$cpu_one_pinned" ]; then
    echo "- Confined to a core each (the confined rows), as two one-core machines would be, two nodes build the CPU-bound image **${gain}×** as fast as one: the model predicts T(1) / T(2) ≈ (a + b) / max(a, b) for the two platforms' build times a and b, below 2 because the QEMU half is the longer, and for N nodes, one platform each, T ≈ the slowest platform's build plus the overhead; measured here for two only."
  fi
  echo "- A buildx builder as the second node (the \`buildx://\` rows) costs less than a second engine: its result comes straight from BuildKit's OCI exporter as an image layout, where an engine's is first stored in the engine and then read back with \`docker save\`.$([ -n "$cpu_one_pinned" ] && echo " Confined to a core each, the engine and the builder build the CPU-bound image **${gain_bx}×** as fast as one engine on one core.")"
  echo "<!-- nodes:end -->"
} >"$out"
write_section nodes "$out"
