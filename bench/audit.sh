#!/usr/bin/env bash
# `multiarch audit` of a fleet made here: IMAGES unique images (default 320) in a local
# registry, each a base (busybox, amd64 and arm64) and a layer of its own, as real fleets
# share their bases, written REFERENCES times (default 1,050) across Kubernetes manifests,
# with planted defects: indexes that lack arm64, indexes whose arm64 entry holds amd64
# programs, and pins of one platform's digest. Audited cold (an empty cache) and warm (the
# same cache), each through the tests' counting proxy (requests, bytes of answers) with GNU
# time (wall, peak memory); against, in the same run, the loop people write today
# (`crane manifest` of each reference, which reads the index only) and a loop of
# `multiarch verify --static-only` per reference. Each says which planted defects it found.
#
#   bench/audit.sh           (needs the test bed: sudo scripts/testbed.sh up)
#   IMAGES=N REFERENCES=M    a smaller or larger fleet
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
IMAGES=${IMAGES:-320}
REFERENCES=${REFERENCES:-1050}

cargo build --release -q -p multiarch --bin multiarch --example fault-proxy
m=$PWD/target/release/multiarch
proxy_bin=$PWD/target/release/examples/fault-proxy
work=$(mktemp -d /var/tmp/multiarch-bench-audit.XXXX)
name=multiarch-bench-audit-$$
cleanup() {
  [ -z "${proxy_pid:-}" ] || kill "$proxy_pid" 2>/dev/null || true
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  docker rmi -f "$base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
registry=$(start_registry "$name")

say "the fleet: $IMAGES images in $registry, $REFERENCES references"
mkdir -p "$work/context/amd64/bin" "$work/context/arm64/bin" "$work/layers"
cp /var/cache/multiarch/busybox/amd64/busybox "$work/context/amd64/bin/"
cp /var/cache/multiarch/busybox/arm64/busybox "$work/context/arm64/bin/"
cat >"$work/context/Dockerfile" <<'DOCKERFILE'
FROM scratch
ARG TARGETARCH
COPY ${TARGETARCH}/ /
ENTRYPOINT ["/bin/busybox"]
DOCKERFILE
base=$registry/base/busybox:1
docker buildx build --builder default --quiet --provenance=false --platform linux/amd64,linux/arm64 \
  -t "$base" --push "$work/context" >/dev/null
child() { crane manifest --insecure "$base" | python3 -c "import json,sys; print([m['digest'] for m in json.load(sys.stdin)['manifests'] if m['platform']['architecture']=='$1'][0])"; }
base_amd64=$registry/base/busybox@$(child amd64)
base_arm64=$registry/base/busybox@$(child arm64)
# An amd64 program where an arm64 one belongs: the liars' arm64 entries.
mkdir -p "$work/liar/bin"
cp /var/cache/multiarch/busybox/amd64/busybox "$work/liar/bin/busybox"
tar -C "$work/liar" -cf "$work/layers/liar.tar" bin

# Planted: every 20th image lacks arm64, every 33rd holds amd64 programs in its arm64 entry.
make_image() { # i
  local i=$1 repo dir
  repo=$registry/team-$((i % 8))/app-$i
  dir=$work/layers/$i
  mkdir -p "$dir/app" && echo "app $i" >"$dir/app/version" && tar -C "$dir" -cf "$dir.tar" app
  crane append --insecure -b "$base_amd64" -f "$dir.tar" -t "$repo:amd64" >/dev/null 2>&1
  if [ $((i % 20)) = 0 ]; then
    crane index append --insecure -m "$repo:amd64" -t "$repo:1" >/dev/null 2>&1
    return
  fi
  if [ $((i % 33)) = 0 ]; then
    crane append --insecure -b "$base_arm64" -f "$dir.tar" -f "$work/layers/liar.tar" -t "$repo:arm64" >/dev/null 2>&1
  else
    crane append --insecure -b "$base_arm64" -f "$dir.tar" -t "$repo:arm64" >/dev/null 2>&1
  fi
  crane index append --insecure -m "$repo:amd64" -m "$repo:arm64" -t "$repo:1" >/dev/null 2>&1
}
export -f make_image
export registry work base_amd64 base_arm64
t0=$(date +%s)
seq 1 "$IMAGES" | xargs -P 4 -I{} bash -c 'make_image {}'
say "made in $(($(date +%s) - t0)) s"

# The manifests: REFERENCES containers over the images; every 97th pins the arm64 child.
mkdir -p "$work/fleet"
python3 - "$work" "$registry" "$IMAGES" "$REFERENCES" <<'PY'
import json, subprocess, sys
work, registry, images, references = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
planted = {"missing-platform": set(), "wrong-contents": set(), "pinned-to-one-platform": set()}
lines = []
for j in range(references):
    i = j % images + 1
    repo = f"{registry}/team-{i % 8}/app-{i}"
    reference = f"{repo}:1"
    if i % 20 == 0:
        planted["missing-platform"].add(reference)
    elif i % 33 == 0:
        planted["wrong-contents"].add(reference)
    elif j % 97 == 0:
        index = json.loads(subprocess.check_output(["crane", "manifest", "--insecure", reference]))
        child = [m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == "arm64"][0]
        reference = f"{reference}@{child}"
        planted["pinned-to-one-platform"].add(reference)
    lines.append(reference)
per_file = 50
for f in range(0, len(lines), per_file):
    docs = []
    for n, reference in enumerate(lines[f:f + per_file]):
        docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{f + n}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {reference}\n")
    open(f"{work}/fleet/deployments-{f // per_file:03}.yaml", "w").write("---\n".join(docs))
open(f"{work}/references.txt", "w").write("\n".join(lines) + "\n")
json.dump({k: sorted(v) for k, v in planted.items()}, open(f"{work}/planted.json", "w"))
PY

# The audit, through the counting proxy (so its requests and bytes are counted).
start_proxy() {
  # exec: the coprocess is the proxy itself, so the kill below reaches it.
  coproc PROXY { exec "$proxy_bin" "${registry/localhost/127.0.0.1}" count; }
  # shellcheck disable=SC2153 # coproc PROXY sets PROXY_PID
  proxy_pid=$PROXY_PID
  read -r proxied <&"${PROXY[0]}"
}
stop_proxy() { # -> the proxy's JSON line
  kill "$proxy_pid"
  local line
  read -r line <&"${PROXY[0]}"
  wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=""
  echo "$line"
}
audit_run() { # name -> "wall rss requests bytes found"
  local cache=$work/cache json
  start_proxy
  sed "s|$registry|$proxied|g" -i "$work"/fleet/*.yaml
  json=$work/$1.json
  /usr/bin/time -f '%e %M' -o "$work/$1.time" "$m" audit "$work/fleet" --cache "$cache" --json --fail-on unreadable >"$json" 2>"$work/$1.err" || true
  local counted
  counted=$(stop_proxy)
  sed "s|$proxied|$registry|g" -i "$work"/fleet/*.yaml
  python3 - "$json" "$work/planted.json" "$proxied" "$registry" "$counted" "$(cat "$work/$1.time")" <<'PY'
import json, sys
report, planted = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
proxied, registry, counted = sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
wall, rss = sys.argv[6].split()
found = {k: set() for k in planted}
for image in report["images"]:
    for cell in image["platforms"]:
        if cell["finding"] in found:
            for w in image["references"]:
                found[cell["finding"]].add(w["reference"].replace(proxied, registry))
hits = sum(len(set(v) & found[k]) for k, v in planted.items())
total = sum(len(v) for v in planted.values())
print(wall, int(rss) // 1024, counted["requests"], counted["bytes"] // 1024, f"{hits}/{total}")
PY
}

say "audit, cold (an empty cache)"
read -r cold_wall cold_rss cold_requests cold_kib cold_found < <(audit_run cold)
say "audit, warm (the same cache)"
read -r warm_wall warm_rss warm_requests warm_kib warm_found < <(audit_run warm)

say "the loop people write: crane manifest of each reference"
# It flags what the index shows: no arm64 entry (a pin's single manifest shows none either).
t0=$(date +%s.%N)
: >"$work/crane-flagged.txt"
while read -r reference; do
  crane manifest --insecure "$reference" >"$work/m.json" 2>/dev/null || continue
  grep -q '"arm64"' "$work/m.json" || echo "$reference" >>"$work/crane-flagged.txt"
done <"$work/references.txt"
crane_wall=$(echo "$(date +%s.%N) - $t0" | bc)

say "a loop of multiarch verify --static-only per reference"
t0=$(date +%s.%N)
: >"$work/verify-flagged.txt"
while read -r reference; do
  "$m" verify --static-only --platform linux/arm64 "$reference" >/dev/null 2>&1 ||
    echo "$reference" >>"$work/verify-flagged.txt"
done <"$work/references.txt"
verify_wall=$(echo "$(date +%s.%N) - $t0" | bc)
found_in() { # flagged-file -> "hits/total"
  python3 - "$work/planted.json" "$1" <<'PY'
import json, sys
planted = json.load(open(sys.argv[1]))
flagged = set(open(sys.argv[2]).read().split())
hits = sum(len(set(v) & flagged) for v in planted.values())
print(f"{hits}/{sum(len(v) for v in planted.values())}")
PY
}
crane_found=$(found_in "$work/crane-flagged.txt")
verify_found=$(found_in "$work/verify-flagged.txt")

unique=$(python3 -c "import json; print(len(json.load(open('$work/cold.json'))['images']))")
out=$(mktemp)
cat >"$out" <<MD
<!-- audit:start -->
## A fleet's audit against the loops people write

- command: \`bench/audit.sh\` ($IMAGES images in a local registry, busybox bases shared, $REFERENCES references in $(find "$work/fleet" -type f | wc -l) manifest files; planted: every 20th image lacks arm64, every 33rd holds amd64 programs in its arm64 entry, every 97th reference pins the arm64 child)
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); the registry and the tools on the same machine; requests and bytes counted by the tests' proxy in front of the registry

| run | wall | peak memory | requests | KiB received | planted defects found |
| --- | ---: | ---: | ---: | ---: | ---: |
| \`multiarch audit\`, cold ($unique unique images) | ${cold_wall} s | ${cold_rss} MiB | $cold_requests | $cold_kib | $cold_found |
| \`multiarch audit\`, warm (the same cache) | ${warm_wall} s | ${warm_rss} MiB | $warm_requests | $warm_kib | $warm_found |
| \`crane manifest\` of each reference (flags an index without arm64), same run | $(printf '%.1f' "$crane_wall") s | | $REFERENCES | | $crane_found |
| \`multiarch verify --static-only --platform linux/arm64\` of each reference, same run | $(printf '%.1f' "$verify_wall") s | | | | $verify_found |
<!-- audit:end -->
MD
write_section audit "$out"
