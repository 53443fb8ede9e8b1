#!/usr/bin/env bash
# `multiarch copy` of the eight-platform image (with its attestations) from one local
# registry to another, against `skopeo copy --all` and `docker buildx imagetools create`
# on the same image, in one run: the first copy (everything to send, into a new
# repository) and the second (the same again: nothing to send). Each tool's result is
# checked: the digest it leaves at the target, and whether it equals the source's.
#
#   bench/copy.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}

cargo build --release -q -p multiarch
m=target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
second=multiarch-bench-copy-$$
cleanup() {
  docker rm -f -v "$second" >/dev/null 2>&1 || true
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f localhost:5000/bench-copy/eight:1 >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1
docker run -d --name "$second" --label io.github.multiarch.managed-by=multiarch \
  -p 127.0.0.1::5000 registry:2 >/dev/null
target=localhost:$(docker port "$second" 5000/tcp | sed -n '1s/.*://p')
for _ in $(seq 1 50); do curl -fs "http://$target/v2/" >/dev/null && break; sleep 0.1; done
# shellcheck disable=SC2046 # one argument per platform
scripts/build-dist.sh $(tr ',' ' ' <<<"$ALL") 2>/dev/null
source=localhost:5000/bench-copy/eight:1
docker buildx build --builder default --quiet --platform "$PLATFORMS" \
  --build-context build=dist -t "$source" --push . >/dev/null
source_digest=$($m inspect "$source" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
manifests=$($m inspect "$source" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["manifests"]))')
size=$($m inspect "$source" --json | python3 -c 'import json,sys; print(sum(e.get("layers_size") or 0 for e in json.load(sys.stdin)["manifests"]))')

copy_multiarch() { $m copy "$source" "$target/$1"; }
copy_skopeo() {
  skopeo copy --all --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$source" "docker://$target/$1"
}
copy_imagetools() { docker buildx imagetools create --tag "$target/$1" "$source"; }
digest_at() { # repository:tag
  $m inspect "$target/$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}

declare -A first second_copy same
for tool in multiarch skopeo imagetools; do
  first[$tool]="" second_copy[$tool]=""
done
for i in $(seq 1 "$RUNS"); do
  for tool in multiarch skopeo imagetools; do
    first[$tool]+="$(seconds "copy_$tool" "$tool-$i:1") "
    second_copy[$tool]+="$(seconds "copy_$tool" "$tool-$i:1") "
    if [ "$(digest_at "$tool-$i:1")" = "$source_digest" ]; then same[$tool]=yes; else same[$tool]=no; fi
  done
done

row() { printf '| %s | %s | %s s | %s s | %s |\n' "$1" "${2% }" "$(echo "$2" | median)" "$(echo "$3" | median)" "$4"; }
out=$(mktemp)
{
  echo "<!-- copy:start -->"
  echo "## Copying the eight-platform image between registries"
  echo
  echo "- command: \`bench/copy.sh\` ($RUNS runs each, the tools taking turns; each first copy goes to a new repository)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); skopeo $(skopeo --version | awk '{print $3}'); buildx $(docker buildx version | awk '{print $2}'); two registry:2 on loopback"
  echo "- the image: $PLATFORMS with their attestations, $manifests manifests, $(numfmt --to=iec-i --suffix=B "$size") of layers"
  echo
  echo "| tool | first copy, runs (s) | first copy, median | second copy (nothing to send), median | digest kept |"
  echo "| --- | --- | ---: | ---: | --- |"
  row "\`multiarch copy\`" "${first[multiarch]}" "${second_copy[multiarch]}" "${same[multiarch]}"
  row "\`skopeo copy --all\`" "${first[skopeo]}" "${second_copy[skopeo]}" "${same[skopeo]}"
  row "\`docker buildx imagetools create\`" "${first[imagetools]}" "${second_copy[imagetools]}" "${same[imagetools]}"
  echo
  echo "\"digest kept\": the target's index digest equals the source's ($source_digest)."
  echo "<!-- copy:end -->"
} >"$out"
write_section copy "$out"
