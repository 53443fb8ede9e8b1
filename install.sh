#!/bin/sh
# Installs multiarch: the release's binary for this machine, its checksum checked (and its
# signature, when cosign is here), into ~/.local/bin. Read it before you run it:
#
#   curl -fsSL https://github.com/multiarch-kit/multiarch/releases/latest/download/install.sh | sh
#   sh install.sh                 # the same, from a copy
#
# Settings, from the environment:
#   MULTIARCH_VERSION=0.1.0        that version, not the latest
#   MULTIARCH_INSTALL_DIR=DIR      where the binary goes (default: ~/.local/bin)
#   MULTIARCH_INSTALL_URL=URL      another copy of the release's assets: a mirror, or a folder
#   MULTIARCH_DOCKER_PLUGIN=1      also as `docker multiarch` (`multiarch plugin install`)
#
# The machine is read as the kit reads it: the kernel's machine name (`uname -m`), then the
# userland's word size (a 32-bit system on a 64-bit kernel, such as Raspberry Pi OS's
# 32-bit edition on a Pi 4, gets the 32-bit build), and an ARMv6 CPU (Pi Zero, Pi 1) the
# arm/v6 build. Nothing is installed unless every check passes; what was downloaded goes.
# POSIX sh: runs under dash and busybox sh as well as bash.
set -eu

REPOSITORY=multiarch-kit/multiarch
RELEASES=https://github.com/$REPOSITORY/releases

say() { printf '%s\n' "$*" >&2; }
die() {
  say "error: $1"
  [ -z "${2:-}" ] || say "hint: $2"
  exit 1
}

# The release's platform name for this machine: linux-amd64, linux-arm-v7, darwin-arm64, ...
platform() {
  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) die "there is no multiarch build for $(uname -s)" "build it from source: cargo install --path multiarch" ;;
  esac
  machine=$(uname -m)
  case $machine in
    x86_64 | amd64) arch=amd64 ;;
    i386 | i486 | i586 | i686 | x86) arch=386 ;;
    aarch64 | arm64) arch=arm64 ;;
    armv8l | armv7l | armv7*) arch=arm-v7 ;;
    armv6l | armv6*) arch=arm-v6 ;;
    riscv64) arch=riscv64 ;;
    ppc64le) arch=ppc64le ;;
    s390x) arch=s390x ;;
    *) die "there is no multiarch build for the machine \`$machine\`" "build it from source: cargo install --path multiarch" ;;
  esac
  if [ "$os" = linux ]; then
    # The userland decides, not the kernel: /bin/sh's ELF class (byte 5: 1 is 32-bit).
    class=$(od -An -tx1 -j4 -N1 /bin/sh 2>/dev/null | tr -d ' \n' || true)
    if [ "$class" = 01 ]; then
      case $arch in
        amd64) arch=386 ;;
        arm64) arch=arm-v7 ;;
      esac
    fi
    # An armv7l kernel name on an ARMv6 CPU does not happen, but a v6 CPU under a v7
    # name would die on the first v7 instruction: the CPU's own word wins.
    if [ "$arch" = arm-v7 ] && grep -qs '^CPU architecture:[[:space:]]*[0-6]$' /proc/cpuinfo; then
      arch=arm-v6
    fi
  elif [ "$arch" = amd64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    # A shell under Rosetta on Apple Silicon: the arm64 build runs natively.
    arch=arm64
  fi
  printf '%s-%s\n' "$os" "$arch"
}

# Copies URL to FILE: a folder path or file:// as it is, else with curl or wget.
fetch() {
  case $1 in
    file://*) cp "${1#file://}" "$2" ;;
    http://* | https://*)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
      else
        die "neither curl nor wget is here to download $1" "install one of them, or download the assets by hand and set MULTIARCH_INSTALL_URL to their folder"
      fi
      ;;
    *) cp "$1" "$2" ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    die "nothing here computes a SHA-256 (sha256sum, shasum or openssl)" "install coreutils"
  fi
}

main() {
  wanted=$(platform)
  version=${MULTIARCH_VERSION:-}
  if [ -n "${MULTIARCH_INSTALL_URL:-}" ]; then
    base=${MULTIARCH_INSTALL_URL%/}
  elif [ -n "$version" ]; then
    base=$RELEASES/download/v${version#v}
  else
    base=$RELEASES/latest/download
  fi
  dir=${MULTIARCH_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}

  work=$(mktemp -d "${TMPDIR:-/tmp}/multiarch-install.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM

  fetch "$base/SHA256SUMS" "$work/SHA256SUMS" ||
    die "cannot read the release's checksums at $base/SHA256SUMS" "check the version and MULTIARCH_INSTALL_URL"
  suffix="-$wanted.tar.gz"
  # `<sha256>  multiarch-<version>-<platform>.tar.gz`: the version is read from the name.
  asset=$(awk -v suffix="$suffix" -v version="${version#v}" '
    { name = $2; sub(/^\*/, "", name) }
    name ~ /^multiarch-/ && substr(name, length(name) - length(suffix) + 1) == suffix &&
      (version == "" || name == "multiarch-" version suffix) { print name; exit }
  ' "$work/SHA256SUMS")
  if [ -z "$asset" ]; then
    has=$(awk '{ print $2 }' "$work/SHA256SUMS" | sed -n 's/^\*\{0,1\}multiarch-[^-]*-\(.*\)\.tar\.gz$/\1/p' | tr '\n' ' ')
    die "this release has no build for ${wanted} (it has: ${has:-none})" "build it from source: cargo install --path multiarch"
  fi
  expected=$(awk -v name="$asset" '{ n = $2; sub(/^\*/, "", n) } n == name { print $1; exit }' "$work/SHA256SUMS")
  say "==> $asset from $base"
  fetch "$base/$asset" "$work/$asset" || die "cannot download $base/$asset"
  actual=$(sha256 "$work/$asset")
  [ "$actual" = "$expected" ] ||
    die "$asset does not match its checksum: expected $expected, got $actual; nothing was installed" \
      "download again; if it persists, the copy at $base is not the release's"
  say "    checksum: ok (sha256 $actual)"

  if command -v cosign >/dev/null 2>&1; then
    if fetch "$base/$asset.sigstore.json" "$work/$asset.sigstore.json" 2>/dev/null; then
      cosign verify-blob --bundle "$work/$asset.sigstore.json" \
        --certificate-identity-regexp "^https://github.com/$REPOSITORY/" \
        --certificate-oidc-issuer https://token.actions.githubusercontent.com \
        "$work/$asset" >/dev/null 2>&1 ||
        die "$asset's signature does not verify as $REPOSITORY's release workflow; nothing was installed"
      say "    signature: ok (signed by $REPOSITORY's release workflow)"
    else
      say "    signature: none found beside the asset; checked by its checksum only"
    fi
  else
    say "    signature: not checked (cosign is not installed); checked by its checksum"
  fi

  mkdir "$work/unpacked"
  tar -xzf "$work/$asset" -C "$work/unpacked" ||
    die "$asset is not a gzip tar archive; nothing was installed"
  binary=$work/unpacked/multiarch
  [ -f "$binary" ] || die "$asset holds no \`multiarch\`; nothing was installed"
  chmod 0755 "$binary"
  # It must run here before it replaces anything.
  installed=$("$binary" --version 2>/dev/null) ||
    die "the $wanted build does not run on this machine; nothing was installed" \
      "tell us: uname -m says $(uname -m)"

  mkdir -p "$dir" || die "cannot create $dir" "choose another folder with MULTIARCH_INSTALL_DIR"
  # Through a temporary name and a rename: a running multiarch is never half-replaced.
  if ! { cp "$binary" "$dir/.multiarch.$$" && mv -f "$dir/.multiarch.$$" "$dir/multiarch"; }; then
    rm -f "$dir/.multiarch.$$"
    die "cannot write to $dir" "choose another folder with MULTIARCH_INSTALL_DIR"
  fi
  say "==> installed $installed ($wanted) as $dir/multiarch"
  if [ "${MULTIARCH_DOCKER_PLUGIN:-}" = 1 ]; then
    "$dir/multiarch" plugin install >&2
  fi
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) say "    $dir is not on your PATH: add it, e.g. export PATH=\"$dir:\$PATH\"" ;;
  esac
}

main "$@"
