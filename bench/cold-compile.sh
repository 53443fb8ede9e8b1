#!/usr/bin/env bash
# What a new machine's compile is made of (issue #35), one run, each build alone on the
# machine, each from an empty target folder unless said:
# 1. arch-server for a build-std target (s390x) as scripts/build-dist.sh builds it, the
#    std compiled from its sources, against the same with Debian's prebuilt std for that
#    architecture (its libstd-rust-web-dev, the host rustc's version, unpacked into a
#    scratch sysroot): what fetching the std instead of compiling it would save;
# 2. arch-server for a second target (ppc64le) in a target folder of its own, as
#    build-dist.sh keeps them, against the folder of the first target (build scripts and
#    proc macros, compiled for the host, shared): what one folder would save;
# 3. the CLI crate alone, dependencies compiled, for amd64 with the `cli` profile, as
#    scripts/release.sh builds it after a change to the CLI's sources: what each change
#    costs each of the five optimised compiles of the CLI a test run makes.
# Writes BENCHMARKS.md's cold-compile section.
#
#   bench/cold-compile.sh   (needs the test bed's toolchains: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

rustc_version=$(grep -m1 '^DEBIAN_RUSTC_VERSION=' scripts/testbed.sh | sed 's/.*:-\(.*\)}$/\1/')
cache=${MULTIARCH_CACHE:-/var/cache/multiarch}
work=$(mktemp -d /var/tmp/multiarch-bench-cold.XXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt's download sandbox user must be able to write here

say "the committed tree, copied to $work/src"
mkdir "$work/src"
git archive HEAD | tar -x -C "$work/src"

static='-C target-feature=+crt-static'
# arch-server for TRIPLE with LINKER into the target folder DIR; extra rustc flags after.
arch_server() {
  local triple=$1 linker=$2 dir=$3 var
  shift 3
  var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
  # Debian's rustc, as build-dist.sh uses for every target it builds the std of.
  (cd "$work/src" && env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 "$var=$linker" RUSTFLAGS="$* $static" CARGO_TARGET_DIR="$dir" \
    cargo build ${BUILD_STD:+-Zbuild-std=std,panic_abort} --profile release --locked -q \
    -p arch-server --target "$triple")
}

say "Debian's s390x std for rustc $rustc_version, unpacked into a scratch sysroot"
apt=$work/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$work/debs"
printf 'deb http://deb.debian.org/debian bookworm main\n' >"$apt/sources.list"
apt_private() {
  apt-get -o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null \
    -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
    -o APT::Architectures::="$(dpkg --print-architecture)" -o APT::Architectures::=s390x \
    -o APT::Sandbox::User=root "$@"
}
apt_private update -qq
(cd "$work/debs" && apt_private download -qq "libstd-rust-web-dev:s390x=$rustc_version")
dpkg-deb -x "$work"/debs/libstd-rust-web-dev_*_s390x.deb "$work/debs/root"
sysroot=$work/sysroot
mkdir -p "$sysroot/lib/rustlib"
mv "$work/debs/root/usr/lib/rustlib/s390x-unknown-linux-gnu" "$sysroot/lib/rustlib/"
ln -s /usr/lib/rustlib/x86_64-unknown-linux-gnu "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu"

say "arch-server for s390x, the std compiled from its sources"
s390x_build_std=$(BUILD_STD=1 seconds arch_server s390x-unknown-linux-gnu s390x-linux-gnu-gcc "$work/t-s390x")
say "arch-server for s390x, Debian's prebuilt std"
s390x_debian_std=$(seconds arch_server s390x-unknown-linux-gnu s390x-linux-gnu-gcc "$work/t-prebuilt" "--sysroot=$sysroot")
say "arch-server for ppc64le, a target folder of its own"
ppc_own=$(BUILD_STD=1 seconds arch_server powerpc64le-unknown-linux-gnu powerpc64le-linux-gnu-gcc "$work/t-ppc64le")
say "arch-server for ppc64le, the s390x build's target folder"
ppc_shared=$(BUILD_STD=1 seconds arch_server powerpc64le-unknown-linux-gnu powerpc64le-linux-gnu-gcc "$work/t-s390x")

say "the CLI for amd64 (cli profile): its dependencies as build-dist.sh keeps them, then a change"
MULTIARCH_DIST_PACKAGE=multiarch MULTIARCH_DIST_OUT="$work/out" scripts/build-dist.sh amd64 2>/dev/null
touch "$cache/dist-source-multiarch/multiarch/src/lib.rs"
cli_change=$(seconds env MULTIARCH_DIST_PACKAGE=multiarch MULTIARCH_DIST_OUT="$work/out" scripts/build-dist.sh amd64)

out=$(mktemp)
cat >"$out" <<EOF
<!-- cold-compile:start -->
## What a new machine's compile is made of

- command: \`bench/cold-compile.sh\` (each build alone on the machine; arch-server with the \`release\` profile from an empty target folder unless said; Debian's rustc $(/usr/bin/rustc --version | cut -d' ' -f2))
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME")

| build | seconds | against, same run | seconds |
| --- | ---: | --- | ---: |
| arch-server for s390x, the std compiled from its sources (as \`build-dist.sh\` does) | $s390x_build_std | Debian's prebuilt s390x std (\`libstd-rust-web-dev:s390x\`) | $s390x_debian_std |
| arch-server for ppc64le, a target folder of its own (as \`build-dist.sh\` keeps them) | $ppc_own | in the s390x build's folder (host build scripts and proc macros shared) | $ppc_shared |
| the CLI crate alone after a change, amd64, \`cli\` profile (\`build-dist.sh\`, dependencies compiled) | $cli_change | | |

A new machine's test run compiles arch-server for eight targets on the host and two in the
newcomer's builder, and the CLI for three platforms in the compile stage and two in the
release test. Fetching the std instead of compiling it, or one target folder for every
target, saves the difference of a row above per target, a small part of it: the cost is
the crates compiled for each target. Each change to the CLI's sources costs the CLI
crate's own compile (the last row) five times over, three of them incremental.
<!-- cold-compile:end -->
EOF
write_section cold-compile "$out"
