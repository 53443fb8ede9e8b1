#!/usr/bin/env bash
# What a laptop without Rust pays for the kit: `multiarch inspect` and
# `verify --static-only` run from the CLI image (`docker run` with the engine's socket, as
# multi-arch.sh runs it) against the installed binary, on the same image in one run, and
# the CLI image's compressed size per platform. Writes BENCHMARKS.md's cli-image section.
#
#   bench/cli-image.sh     (needs the test bed: sudo scripts/testbed.sh up)
#   CLI_IMAGE=REF          a CLI image already built (default: builds one, three platforms)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-10}

command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null
multiarch=target/release/multiarch

name=multiarch-bench-registry-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name "$name" --label io.github.multiarch.managed-by=multiarch-bench \
  -p "127.0.0.1:$port:5000" registry:2 >/dev/null
trap 'docker rm -f -v "$name" >/dev/null; docker rmi -f "$cli" >/dev/null 2>&1 || true' EXIT
until curl -fs "http://localhost:$port/v2/" >/dev/null; do sleep 0.1; done
image=localhost:$port/arch-server:bench
docker buildx build -q --builder default --platform linux/amd64,linux/arm64 \
  --build-context build=dist -t "$image" --push . >/dev/null

# The CLI image, through the Dockerfile's compile stage and the test bed's stand-in base.
cli=${CLI_IMAGE:-localhost:$port/multiarch:bench}
if [ -z "${CLI_IMAGE:-}" ]; then
  extra=()
  [ -d /usr/local/share/ca-certificates ] && extra=(--build-context extra-certificates=/usr/local/share/ca-certificates)
  started=$SECONDS
  "$multiarch" build --builder default --target cli --build-arg PACKAGE=multiarch \
    --build-arg BUILD_IMAGE=multiarch-testbed/debian:trixie-slim "${extra[@]}" \
    --platform linux/amd64,linux/arm64,linux/arm/v7 -t "$cli" --push --plain . >/dev/null 2>&1
  build_seconds=$((SECONDS - started))
fi
docker pull -q --platform linux/amd64 "$cli" >/dev/null
in_container="docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock $cli"

json=$(mktemp)
hyperfine --warmup 2 --runs "$RUNS" --export-json "$json" -N \
  -n "inspect, installed binary" "$multiarch inspect $image" \
  -n "inspect, CLI image" "$in_container inspect $image" \
  -n "verify --static-only, installed binary" "$multiarch verify --static-only $image" \
  -n "verify --static-only, CLI image" "$in_container verify --static-only $image" >&2

sizes=$("$multiarch" inspect "$cli" --json)
section=$(mktemp)
python3 - "$json" "$RUNS" "$sizes" "${build_seconds:-}" >"$section" <<'PY'
import json, sys, datetime, os
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
runs, sizes, build = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
os_name = dict(l.strip().split("=", 1) for l in open("/etc/os-release") if "=" in l)["PRETTY_NAME"].strip('"')
print("<!-- cli-image:start -->")
print("## The CLI as an image against the installed binary")
print()
print(f"- command: `bench/cli-image.sh` (hyperfine, {runs} runs after 2 warm-ups; a two-platform arch-server image in a local `registry:2`; the CLI image run as `docker run --rm --network host` with the engine's socket)")
print(f"- date: {datetime.date.today()}, machine: {os.cpu_count()} cores, {os_name}")
print()
print("| command | installed binary | CLI image | what the container costs |")
print("| --- | ---: | ---: | ---: |")
for what in ["inspect", "verify --static-only"]:
    a, b = results[f"{what}, installed binary"]["median"], results[f"{what}, CLI image"]["median"]
    print(f"| `{what}` | {a*1000:.0f} ms | {b*1000:.0f} ms | +{(b-a)*1000:.0f} ms |")
print()
print("| CLI image platform | compressed size |")
print("| --- | ---: |")
for m in sizes["manifests"]:
    print(f"| {m['platform']} | {m['layers_size']/2**20:.1f} MiB |")
if build:
    print()
    print(f"The CLI image for three platforms was compiled through the Dockerfile's compile stage in {build} s "
          "(BuildKit's cache mounts held the dependencies of an earlier build; a first build also compiles them).")
print("<!-- cli-image:end -->")
PY
write_section cli-image "$section"
rm -f "$json"
