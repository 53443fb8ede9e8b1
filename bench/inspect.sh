#!/usr/bin/env bash
# `multiarch inspect` against `docker buildx imagetools inspect` and `skopeo inspect --raw`
# on the same two-platform image in the local registry, timed by hyperfine in one run.
# Writes the results into BENCHMARKS.md between the inspect markers.
#
#   bench/inspect.sh        (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-20}

command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
command -v skopeo >/dev/null || apt-get install -y -qq skopeo >/dev/null
cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null

# A registry of the bench's own on a free port, removed at the end.
name=multiarch-bench-registry-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name "$name" --label io.github.multiarch.managed-by=multiarch-bench \
  -p "127.0.0.1:$port:5000" registry:2 >/dev/null
trap 'docker rm -f -v "$name" >/dev/null; docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT
image=localhost:$port/arch-server:bench
until curl -fs "http://localhost:$port/v2/" >/dev/null; do sleep 0.1; done
docker buildx build -q --builder default --platform linux/amd64,linux/arm64 \
  --build-context build=dist -t "$image" --push . >/dev/null

json=$(mktemp)
hyperfine --warmup 3 --runs "$RUNS" --export-json "$json" -N \
  -n "multiarch inspect" "target/release/multiarch inspect $image" \
  -n "docker buildx imagetools inspect" "docker buildx imagetools inspect $image" \
  -n "skopeo inspect --raw" "skopeo inspect --tls-verify=false --raw docker://$image" >&2

section=$(mktemp)
python3 - "$json" "$RUNS" >"$section" <<'PY'
import json, subprocess, sys, datetime, os
results = json.load(open(sys.argv[1]))["results"]
runs = sys.argv[2]
os_name = dict(l.strip().split("=", 1) for l in open("/etc/os-release") if "=" in l)["PRETTY_NAME"].strip('"')
versions = {
    "buildx": subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True).stdout.split()[1],
    "skopeo": subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.split()[-1],
}
print("<!-- inspect:start -->")
print("## `multiarch inspect` against buildx and skopeo")
print()
print(f"- command: `bench/inspect.sh` (hyperfine, {runs} runs after 3 warm-ups, a two-platform image in a local `registry:2`)")
print(f"- date: {datetime.date.today()}, machine: {os.cpu_count()} cores, {os_name}; buildx {versions['buildx']}, skopeo {versions['skopeo']}")
print()
print("| command | median | mean ± σ | min | max |")
print("| --- | ---: | ---: | ---: | ---: |")
by_name = {}
for r in results:
    by_name[r["command"]] = r["median"]
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | {r['min']*1000:.1f} ms | {r['max']*1000:.1f} ms |")
m = by_name["multiarch inspect"]
print()
print(f"Median: multiarch takes {100*m/by_name['docker buildx imagetools inspect']:.0f}% of buildx's time and "
      f"{100*m/by_name['skopeo inspect --raw']:.0f}% of skopeo's. multiarch also fetches each platform's manifest "
      "(for the layer counts and sizes) where `skopeo --raw` fetches only the index.")
print("<!-- inspect:end -->")
PY
write_section inspect "$section"
rm -f "$json"
