#!/usr/bin/env bash
# Makes a release's assets from a clean checkout, with the cross toolchains the test bed
# installs (scripts/testbed.sh up):
#
#   scripts/release.sh DIR [PLATFORM...]   default: amd64 arm64 arm/v7 riscv64;
#                                           also 386 arm/v6 ppc64le s390x (`all`: the eight)
#
# DIR gets, per platform, `multiarch-VERSION-linux-ARCH.tar.gz` (named as buildx and
# crane name theirs: arm/v7 is `arm-v7`; it holds the static binary `multiarch`,
# `completions/` for bash, zsh, fish and PowerShell, and `man/man1/`) and its SBOM
# `multiarch-VERSION-linux-ARCH.cdx.json` (CycloneDX, the crates compiled for that target,
# by cargo-cyclonedx from Cargo.lock); then `SHA256SUMS` over every asset, and `install.sh`.
#
# Before anything is written to DIR, every binary is checked with the kit itself: packed
# as one image per platform, pushed to the local registry (MULTIARCH_RELEASE_REGISTRY,
# host:port, names another; else `multiarch registry up`'s, started for the check when
# it is down), and `multiarch verify
# --exec=--version --cpu baseline` reads each binary's ELF header and level (the CPU and
# level its platform promises) and runs it on the oldest CPU of its platform, under QEMU
# for the foreign ones.
#
# Windows is not built: the kit reaches engines and BuildKit through Unix sockets and
# writes buildx's store with Unix permissions (std::os::unix), so it does not compile for
# Windows; Debian's mingw-w64 and Windows standard library would not change that. macOS
# is built by the release workflow on macOS runners (.github/workflows/release.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

[ $# -ge 1 ] || die "which folder gets the assets?" "scripts/release.sh DIR [PLATFORM...]"
out=$1
shift
platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(amd64 arm64 arm/v7 riscv64)
[ "${platforms[*]}" != all ] || platforms=(amd64 arm64 386 arm/v6 arm/v7 ppc64le s390x riscv64)
platforms=("${platforms[@]#linux/}")

[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  die "the checkout has uncommitted changes" "a release is made from a commit: commit or stash them first"
version=$(cargo pkgid -p multiarch | sed 's/.*[#@]//')
commit=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
started=$SECONDS

# cargo-cyclonedx: the CycloneDX project's own tool, kept outside the clone. Debian's
# package needs testing's cargo, which would upgrade the C library; cargo installs it.
tools=${MULTIARCH_CACHE:-/var/cache/multiarch}/tools
export PATH="$tools/bin:$PATH"
if ! command -v cargo-cyclonedx >/dev/null; then
  say "cargo install cargo-cyclonedx (once, into $tools)"
  cargo install -q --locked cargo-cyclonedx --version 0.5.9 --root "$tools"
fi

work=$(mktemp -d /var/tmp/multiarch-release.XXXXXX)
registry_was_up=true
host=""
image=""
cleanup() {
  if [ -n "$image" ]; then docker rmi -f "$image" >/dev/null 2>&1 || true; fi
  if ! $registry_was_up; then "$host" registry down >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say "multiarch $version ($commit) for ${platforms[*]}"
MULTIARCH_DIST_PACKAGE=multiarch MULTIARCH_DIST_OUT="$work/bin" scripts/build-dist.sh "${platforms[@]}"

# The kit checks its own binaries, with the host's build of this very release.
[ -x "$work/bin/amd64/multiarch" ] ||
  MULTIARCH_DIST_PACKAGE=multiarch MULTIARCH_DIST_OUT="$work/bin" scripts/build-dist.sh amd64
host=$work/bin/amd64/multiarch
registry=${MULTIARCH_RELEASE_REGISTRY:-}
if [ -z "$registry" ]; then
  registry=localhost:5000
  if ! "$host" registry status >/dev/null 2>&1; then
    registry_was_up=false
    "$host" registry up >/dev/null
  fi
fi
context=$work/context
mkdir -p "$context"
list=()
for platform in "${platforms[@]}"; do
  folder=${platform//\//}
  mkdir -p "$context/$folder"
  cp "$work/bin/$folder/multiarch" "$context/$folder/multiarch"
  list+=("linux/$platform")
done
cat >"$context/Dockerfile" <<'EOF'
FROM scratch
ARG TARGETARCH TARGETVARIANT
COPY ${TARGETARCH}${TARGETVARIANT}/multiarch /multiarch
ENTRYPOINT ["/multiarch"]
EOF
joined=$(IFS=,; echo "${list[*]}")
image=$registry/multiarch-release-check:$version-$$
say "checking every binary with the kit: $image"
"$host" build --quiet --plain --no-preflight -t "$image" --platform "$joined" --push "$context" >&2 ||
  die "the binaries could not be packed as an image to check" "the test bed must be up: scripts/testbed.sh up"
"$host" verify "$image" --exec=--version --cpu baseline --expect "$joined" ||
  die "a binary is not what its platform promises, or does not run on its oldest CPU (above); nothing was released"

say "assets in $out"
mkdir -p "$out"
# Shell completions and man pages travel in every archive, as crane's and oras's users
# expect; they come from the command line's definition, so the host's build writes them.
extras=$work/extras
mkdir -p "$extras/completions"
"$host" completion bash >"$extras/completions/multiarch.bash"
"$host" completion zsh >"$extras/completions/_multiarch"
"$host" completion fish >"$extras/completions/multiarch.fish"
"$host" completion powershell >"$extras/completions/_multiarch.ps1"
"$host" man "$extras/man/man1" >/dev/null
for platform in "${platforms[@]}"; do
  folder=${platform//\//}
  name=multiarch-$version-linux-${platform//\//-}
  triple=$(scripts/build-dist.sh --triple "$platform")
  staging=$work/stage/$name
  mkdir -p "$staging"
  cp "$work/bin/$folder/multiarch" "$staging/multiarch"
  cp -R "$extras/completions" "$extras/man" "$staging/"
  # Reproducible archives: names sorted, times, modes, owners and gzip's own stamp fixed.
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode=go-w -C "$staging" -cf - multiarch completions man | gzip -n -9 >"$out/$name.tar.gz"
  # The crates compiled into this target's binary, as CycloneDX JSON. The tool writes
  # one file per binary of the workspace beside its Cargo.toml; the CLI's is kept.
  cargo cyclonedx -q --manifest-path multiarch/Cargo.toml --format json --spec-version 1.5 \
    --target "$triple" --describe binaries
  [ -f multiarch/multiarch_bin.cdx.json ] || die "cargo-cyclonedx wrote no SBOM for $triple"
  mv multiarch/multiarch_bin.cdx.json "$out/$name.cdx.json"
  rm -f ./*_bin.cdx.json ./*/*_bin.cdx.json
  ok "$name.tar.gz ($(stat -c %s "$out/$name.tar.gz") bytes) and its SBOM"
done
cp install.sh "$out/install.sh"
(cd "$out" && sha256sum -- *.tar.gz *.cdx.json install.sh >SHA256SUMS)
ok "SHA256SUMS: $(wc -l <"$out/SHA256SUMS") assets, in $((SECONDS - started)) s"
