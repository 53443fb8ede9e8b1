#!/usr/bin/env bash
# A release's last job, timed: eight platforms pushed by digest (each with mode=max
# provenance, each digest signed with a cosign key of the run's own), merged into one index
# under three tags, then proven. The kit: `multiarch manifest create --from-digests
# --expect --tag --tag` and `multiarch verify --static-only --tags --evidence
# signature,provenance --key`. The hand-made equivalent, same run and same digests:
# `docker buildx imagetools create -t -t -t`, then `cosign verify --key` of each platform
# digest (which checks signatures only: neither tags nor provenance). Median of ROUNDS.
#
#   bench/release.sh        (needs the test bed: sudo scripts/testbed.sh up)
#   ROUNDS=N                default 5
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-5}
IFS=, read -r -a archs <<<"$ALL"
expect=$PLATFORMS

# The same build as bench/audit.sh's, so the two share it.
cargo build --release -q -p multiarch --bin multiarch --example fault-proxy
m=$PWD/target/release/multiarch
scripts/build-dist.sh "${archs[@]}"
work=$(mktemp -d /var/tmp/multiarch-bench-release.XXXX)
name=multiarch-bench-release-$$
builder=multiarch-bench-release-$$
cleanup() {
  docker buildx rm --force "$builder" >/dev/null 2>&1 || true
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
registry=$(start_registry "$name")
docker buildx create --name "$builder" --driver docker-container \
  --driver-opt image=multiarch-testbed/buildkit:debian,network=host --bootstrap >/dev/null

say "eight platform jobs, each pushed by digest with provenance (mode=max), each signed"
repository=$registry/bench/app
mkdir -p "$work/context" "$work/digests" "$work/keys"
cp -r dist/. "$work/context/"
cat >"$work/context/Dockerfile" <<'DOCKERFILE'
FROM scratch
ARG TARGETARCH TARGETVARIANT
COPY ${TARGETARCH}${TARGETVARIANT}/arch-server /arch-server
ENTRYPOINT ["/arch-server"]
DOCKERFILE
(cd "$work/keys" && COSIGN_PASSWORD=bench cosign generate-key-pair >/dev/null 2>&1)
digests=()
for platform in "${archs[@]}"; do
  docker buildx build --builder "$builder" --quiet --platform "linux/$platform" \
    --provenance mode=max --metadata-file "$work/metadata.json" \
    --output "type=image,name=$repository,push-by-digest=true,name-canonical=true,push=true" \
    "$work/context" >/dev/null
  digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$work/metadata.json")
  touch "$work/digests/${digest#sha256:}"
  digests+=("$digest")
done
# Each job pushed an index of its image and its provenance: what a consumer resolving a
# platform gets, and so what must be signed, is the image manifest inside it.
images=()
for digest in "${digests[@]}"; do
  images+=("$(crane manifest --insecure "$repository@$digest" | python3 -c 'import json,sys; print([m["digest"] for m in json.load(sys.stdin)["manifests"] if m.get("platform", {}).get("os") != "unknown"][0])')")
done
for image in "${images[@]}"; do
  (cd "$work/keys" && COSIGN_PASSWORD=bench cosign sign --key cosign.key --tlog-upload=false \
    --use-signing-config=false -y --allow-insecure-registry --allow-http-registry \
    "$repository@$image" >/dev/null 2>&1)
done

kit_merge=() kit_verify=() hand_merge=() hand_verify=()
for round in $(seq 1 "$ROUNDS"); do
  say "round $round of $ROUNDS"
  kit_merge+=("$(seconds "$m" manifest create "$repository:$round.0.0" --from-digests "$work/digests" \
    --expect "$expect" --tag "$repository:$round.0" --tag "$repository:latest")")
  kit_verify+=("$(seconds "$m" verify --static-only "$repository:$round.0.0" --tags "$round.0,latest" \
    --evidence signature,provenance --key "$work/keys/cosign.pub")")
  refs=() signed=()
  for digest in "${digests[@]}"; do refs+=("$repository@$digest"); done
  for image in "${images[@]}"; do signed+=("$repository@$image"); done
  hand_merge+=("$(seconds docker buildx imagetools create -t "$repository:hand-$round.0.0" \
    -t "$repository:hand-$round.0" -t "$repository:hand-latest" "${refs[@]}")")
  verify_each() {
    for reference in "${signed[@]}"; do
      cosign verify --key "$work/keys/cosign.pub" --insecure-ignore-tlog=true \
        --allow-insecure-registry --allow-http-registry "$reference" >/dev/null 2>&1 || return 1
    done
  }
  hand_verify+=("$(seconds verify_each)")
done
med() { printf '%s\n' "$@" | median; }

# What each refuses: a release missing its arm64 digest.
rm "$work/digests/${digests[4]#sha256:}"
kit_refusal=$("$m" manifest create "$repository:broken" --from-digests "$work/digests" --expect "$expect" 2>&1 | sed -n 's/^  caused by: //p' | head -n1 || true)
unset 'refs[4]'
hand_refusal=$(docker buildx imagetools create -t "$repository:hand-broken" "${refs[@]}" >/dev/null 2>&1 && echo "pushed, seven platforms" || echo "refused")

out=$(mktemp)
cat >"$out" <<MD
<!-- release:start -->
## A release's last job: merge eight platforms under three tags, then prove it

- command: \`bench/release.sh\` (eight platforms of arch-server, each pushed by digest from its own buildx build with \`--provenance mode=max\` and signed with a cosign key of the run's own; a local \`registry:2\`; median of $ROUNDS rounds, each writing new tags)
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); $(docker buildx version | cut -d' ' -f1-2), cosign $(dpkg-query -W -f='${Version}' cosign 2>/dev/null)

| step | the kit | by hand, same run | what the hand-made one checks |
| --- | ---: | ---: | --- |
| merge the eight digests under three tags | $(med "${kit_merge[@]}") s (\`manifest create --from-digests --expect --tag --tag\`, every tag read back) | $(med "${hand_merge[@]}") s (\`buildx imagetools create -t -t -t\`) | nothing: a missing platform or another image's digest is pushed as given |
| prove the release | $(med "${kit_verify[@]}") s (\`verify --static-only --tags --evidence signature,provenance --key\`: tags, each platform's signature against the key, its provenance, its programs) | $(med "${hand_verify[@]}") s (\`cosign verify --key\` of each of the eight digests) | signatures only |

A release missing its arm64 digest: the kit refuses it, \`${kit_refusal:-nothing}\`, and writes no tag; \`buildx imagetools create\` of the seven: $hand_refusal.
<!-- release:end -->
MD
write_section release "$out"
