#!/usr/bin/env bash
# `multiarch copy` of the eight-platform image (with its attestations) from one local
# registry to another, against `skopeo copy --all` and `docker buildx imagetools create`
# on the same image, in one run: the first copy (everything to send, into a new
# repository) and the second (the same again: nothing to send). Each tool's result is
# checked: the digest it leaves at the target, and whether it equals the source's.
# The same copy through the tests' fault proxy (seeded: FAULT_SEED replays it) in front of
# the source, against without it, same run: what retrying 503s, 429s with Retry-After and
# cut blob bodies costs.
# Then (BIG_GIB=2 by default, 0 skips it) an image with one layer of that many GiB of
# random bytes, made here and pushed with curl, copied by multiarch, `skopeo copy --all`
# and `crane copy`: wall time and peak memory (GNU time's maximum resident set) of each.
#
#   bench/copy.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
BIG_GIB=${BIG_GIB:-2}

FAULT_SEED=${FAULT_SEED:-7}

cargo build --release -q -p multiarch --bin multiarch --example fault-proxy
m=target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
second=multiarch-bench-copy-$$
cleanup() {
  [ -z "${proxy_pid:-}" ] || kill "$proxy_pid" 2>/dev/null || true
  docker rm -f -v "$second" >/dev/null 2>&1 || true
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f localhost:5000/bench-copy/eight:1 >/dev/null 2>&1 || true
  rm -rf "$state" "${big_dir:-}"
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

# Through the fault proxy, against the same copy without it, taking turns.
proxy_out=$(mktemp)
target/release/examples/fault-proxy localhost:5000 "$FAULT_SEED" >"$proxy_out" &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$proxy_out" ] && break; sleep 0.1; done
flaky_source=$(head -1 "$proxy_out")/bench-copy/eight:1
copy_through_faults() { $m copy "$flaky_source" "$target/$1" 2>/dev/null; }
plain="" flaky="" flaky_same=yes
for i in $(seq 1 "$RUNS"); do
  plain+="$(seconds copy_multiarch "plain-$i:1") "
  flaky+="$(seconds copy_through_faults "faults-$i:1") "
  [ "$(digest_at "faults-$i:1")" = "$source_digest" ] || flaky_same=no
done
kill "$proxy_pid"
wait "$proxy_pid" || true
proxy_pid=
dealt=$(sed -n 2p "$proxy_out" | python3 -c "import json,sys; f=json.load(sys.stdin); print(f'{f[\"requests\"]} requests, of which {f[\"unavailable\"]} answered 503, {f[\"too_many\"]} answered 429 with Retry-After: 1, {f[\"cut\"]} blob bodies were cut after half their bytes and {f[\"delayed\"]} were delayed 300 ms')")
rm -f "$proxy_out"

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
  echo
  echo "Through the tests' fault proxy (\`multiarch/examples/fault-proxy.rs\`, seed $FAULT_SEED) in front of the source, against the same copy without it, taking turns:"
  echo
  echo "| what | runs (s) | median | digest kept |"
  echo "| --- | --- | ---: | --- |"
  printf "| reference: \`multiarch copy\`, straight from the registry | %s | %s s | yes |\n" "${plain% }" "$(echo "$plain" | median)"
  printf "| \`multiarch copy\` through the fault proxy | %s | %s s | %s |\n" "${flaky% }" "$(echo "$flaky" | median)" "$flaky_same"
  echo
  echo "The proxy dealt, over the $RUNS copies: $dealt. Each request meets at most two faults, so every copy completes; the extra time is the waits the kit chose (Retry-After, jittered doubling) and the bytes sent again."
  echo "<!-- copy:end -->"
} >"$out"
write_section copy "$out"

[ "$BIG_GIB" != 0 ] || exit 0

# One layer of BIG_GIB GiB of random bytes (incompressible, as model weights are), as an
# uncompressed tar layer, pushed by curl so that no tool under test made it.
big_dir=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
head -c "$((BIG_GIB * 1024 * 1024 * 1024))" /dev/urandom >"$big_dir/weights.bin"
tar -C "$big_dir" -cf "$big_dir/layer.tar" weights.bin
rm "$big_dir/weights.bin"
upload() { # file repository: prints the blob's digest
  local digest location
  digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
  location=$(curl -fsS -X POST -D - -o /dev/null "http://localhost:5000/v2/$2/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $location in http*) ;; *) location=http://localhost:5000$location ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --upload-file "$1" \
    "$location&digest=$digest" -o /dev/null
  echo "$digest"
}
layer_digest=$(upload "$big_dir/layer.tar" bench-copy/big)
layer_size=$(stat -c %s "$big_dir/layer.tar")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$layer_digest" >"$big_dir/config.json"
config_digest=$(upload "$big_dir/config.json" bench-copy/big)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
  "$config_digest" "$(stat -c %s "$big_dir/config.json")" "$layer_digest" "$layer_size" >"$big_dir/manifest.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary @"$big_dir/manifest.json" http://localhost:5000/v2/bench-copy/big/manifests/1 -o /dev/null
rm "$big_dir/layer.tar"
big=localhost:5000/bench-copy/big:1

# Wall seconds and peak resident MiB of one copy, as "SECONDS MIB".
measured() {
  local log=$big_dir/time.log
  if ! /usr/bin/time -v -o "$log" "$@" >/dev/null 2>"$big_dir/err.log"; then
    cat "$big_dir/err.log" >&2
    echo "error: \`$*\` failed" >&2
    exit 1
  fi
  awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]}
              /Maximum resident set size/{kb=$2} END{printf "%.1f %.0f\n", s, kb/1024}' "$log"
}
declare -A big_time big_rss big_same
for tool in multiarch skopeo crane; do big_time[$tool]="" big_rss[$tool]="" big_same[$tool]=yes; done
for i in $(seq 1 "$RUNS"); do
  for tool in multiarch skopeo crane; do
    to="$target/big-$tool-$i:1"
    # skopeo remembers where it saw a blob and mounts it from there: forgotten before
    # each run, so that every tool sends every byte.
    rm -f /var/lib/containers/cache/blob-info-cache-v1.* \
      "${XDG_DATA_HOME:-$HOME/.local/share}"/containers/cache/blob-info-cache-v1.*
    case $tool in
      multiarch) read -r t r < <(measured $m copy "$big" "$to") ;;
      skopeo) read -r t r < <(measured skopeo copy --all --preserve-digests --quiet \
        --src-tls-verify=false --dest-tls-verify=false "docker://$big" "docker://$to") ;;
      crane) read -r t r < <(measured crane copy --insecure "$big" "$to") ;;
    esac
    big_time[$tool]+="$t " big_rss[$tool]+="$r "
    [ "$(crane digest --insecure "$to")" = "$(crane digest --insecure "$big")" ] || big_same[$tool]=no
  done
done
big_row() { printf '| %s | %s | %s s | %s | %s MiB | %s |\n' "$1" "${2% }" "$(echo "$2" | median)" "${3% }" "$(echo "$3" | median)" "$4"; }
out=$(mktemp)
{
  echo "<!-- copy-big:start -->"
  echo "## Copying an image with a $BIG_GIB GiB layer"
  echo
  echo "- command: \`bench/copy.sh\` ($RUNS runs each, the tools taking turns; each copy goes to a new repository of the second registry, so every byte is sent)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); skopeo $(dpkg-query -W -f '${Version}' skopeo), crane $(dpkg-query -W -f '${Version}' crane); two registry:2 on loopback"
  echo "- the image: one uncompressed tar layer of $(numfmt --to=iec-i --suffix=B "$layer_size") of random bytes, pushed with curl"
  echo
  echo "| tool | wall, runs (s) | wall, median | peak memory, runs (MiB) | peak memory, median | digest kept |"
  echo "| --- | --- | ---: | --- | ---: | --- |"
  big_row "\`multiarch copy\`" "${big_time[multiarch]}" "${big_rss[multiarch]}" "${big_same[multiarch]}"
  big_row "\`skopeo copy --all --preserve-digests\`" "${big_time[skopeo]}" "${big_rss[skopeo]}" "${big_same[skopeo]}"
  big_row "\`crane copy\`" "${big_time[crane]}" "${big_rss[crane]}" "${big_same[crane]}"
  echo
  echo "\"digest kept\": the target's digest equals the source's (\`crane digest\`)."
  echo "<!-- copy-big:end -->"
} >"$out"
write_section copy-big "$out"
