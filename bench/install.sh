#!/usr/bin/env bash
# From nothing to a first `multiarch inspect`, three ways, one run, the same image:
# 1. install.sh from a release's assets (scripts/release.sh amd64, kept in a folder as a
#    mirror would keep them: MULTIARCH_INSTALL_URL), into an empty home;
# 2. `cargo install --locked --path multiarch` into an empty root with an empty target
#    folder: what a person with Rust and no binary does (crates already downloaded);
# 3. the CLI image pulled from a registry into an engine that does not hold it, then
#    `docker run IMAGE inspect`.
# Then the size of each release asset beside crane's and oras's (Debian's builds of them,
# the ones this machine has: their published assets cannot be read from here) and the
# CLI image's compressed size. Writes BENCHMARKS.md's install section.
#
#   bench/install.sh       (from a clean checkout; needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  { echo "error: bench/install.sh releases this commit: commit or stash your changes first" >&2; exit 1; }
work=$(mktemp -d /var/tmp/multiarch-bench-install.XXXX)
name=multiarch-bench-install-$$
cli=""
cleanup() {
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  [ -z "$cli" ] || docker rmi -f "$cli" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A registry of the run's own, holding the image every way inspects.
registry=$(start_registry "$name")
scripts/build-dist.sh amd64 arm64 2>/dev/null
image=$registry/arch-server:bench
docker buildx build -q --builder default --platform linux/amd64,linux/arm64 \
  --build-context build=dist -t "$image" --push . >/dev/null

say "the release's amd64 assets (scripts/release.sh, its compile kept outside the clone)"
release_seconds=$(seconds env MULTIARCH_RELEASE_REGISTRY="$registry" scripts/release.sh "$work/assets" amd64)
version=$(cargo pkgid -p multiarch | sed 's/.*[#@]//')
asset=$work/assets/multiarch-$version-linux-amd64.tar.gz

say "1. install.sh from the assets, then inspect"
installer() {
  mkdir -p "$work/home"
  HOME=$work/home MULTIARCH_INSTALL_URL=$work/assets MULTIARCH_INSTALL_DIR=$work/home/bin \
    sh "$work/assets/install.sh"
  "$work/home/bin/multiarch" inspect "$image"
}
installer_seconds=$(seconds installer)

say "2. cargo install --path multiarch, from an empty target folder, then inspect"
from_source() {
  CARGO_TARGET_DIR=$work/cargo-target cargo install -q --locked --path multiarch --root "$work/cargo-root"
  "$work/cargo-root/bin/multiarch" inspect "$image"
}
cargo_seconds=$(seconds from_source)

say "3. the CLI image pulled into an engine without it, then docker run … inspect"
cli=$registry/multiarch:bench
extra=()
[ -d /usr/local/share/ca-certificates ] && extra=(--build-context extra-certificates=/usr/local/share/ca-certificates)
# The publisher's build (BuildKit's cache holds its compile when the tests ran), not timed.
"$work/home/bin/multiarch" build --quiet --builder default --target cli --build-arg PACKAGE=multiarch \
  --build-arg BUILD_IMAGE=multiarch-testbed/debian:trixie-slim "${extra[@]}" \
  --platform linux/amd64 -t "$cli" --push --plain . >/dev/null 2>&1
docker rmi -f "$cli" >/dev/null 2>&1 || true
pulled() {
  docker pull -q "$cli"
  docker run --rm --network host "$cli" inspect "$image"
}
image_seconds=$(seconds pulled)
# The layers a pull fetches, as the registry lists them (crane, the test bed's).
image_bytes=$(crane manifest --insecure --platform linux/amd64 "$cli" |
  python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')

say "sizes"
binary_bytes=$(tar -xzOf "$asset" multiarch | wc -c)
asset_bytes=$(stat -c %s "$asset")
# 1234567 -> 1,234,567, whatever the locale.
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
size_row() { # NAME BINARY SOURCE
  local gz
  gz=$(gzip -9 -c "$2" | wc -c)
  echo "| $1 | $(commas "$(stat -L -c %s "$2")") | $(commas "$gz") | $3 |"
}

out=$(mktemp)
{
  echo "<!-- install:start -->"
  echo "## From nothing to a first \`multiarch inspect\`"
  echo
  echo "\`bench/install.sh\` on $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD). The same image (arch-server, two platforms, in a registry of the run's own) inspected by each way's first command."
  echo
  echo "| way | seconds |"
  echo "|---|---|"
  echo "| install.sh from the release's assets (a folder, as a mirror), SHA-256 checked, then \`multiarch inspect\` | $installer_seconds |"
  echo "| \`cargo install --locked --path multiarch\` from an empty target folder (crates already downloaded), then \`multiarch inspect\` | $cargo_seconds |"
  echo "| \`docker pull\` of the CLI image (linux/amd64) into an engine without it, then \`docker run IMAGE inspect\` | $image_seconds |"
  echo
  echo "Making the assets themselves (\`scripts/release.sh DIR amd64\`, its compile kept outside the clone, the kit's check of the binary under QEMU as x86-64-v1 included): $release_seconds s."
  echo
  echo "| binary (linux/amd64) | bytes | gzip -9 | source |"
  echo "|---|---|---|---|"
  echo "| multiarch $version | $(commas "$binary_bytes") | $(commas "$asset_bytes") (the release archive, with completions and man pages) | \`scripts/release.sh\` |"
  size_row "crane $(dpkg-query -W -f '${Version}' crane)" "$(command -v crane)" "Debian's package (this machine's); its published asset cannot be read from here"
  size_row "oras $(dpkg-query -W -f '${Version}' oras)" "$(command -v oras)" "Debian's package (this machine's)"
  size_row "skopeo $(dpkg-query -W -f '${Version}' skopeo)" "$(command -v skopeo)" "Debian's package (this machine's); skopeo publishes no binaries"
  echo
  echo "The CLI image's linux/amd64 layers: $(commas "$image_bytes") bytes compressed. regctl is not packaged by Debian and its published assets cannot be read from this machine: no figure is written for it."
  echo "<!-- install:end -->"
} >"$out"
write_section install "$out"
