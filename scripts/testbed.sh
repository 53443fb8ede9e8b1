#!/usr/bin/env bash
# The test bed: a real Docker engine with the containerd image store and buildx,
# QEMU emulation for arm64 (and arm/v7), a `registry:2` image, the cross toolchains and
# skopeo, set up from Debian's packages on a machine that can pull no image.
#
#   scripts/testbed.sh up      bring up what is missing (idempotent)
#   scripts/testbed.sh status  say what is there and what is not
#   scripts/testbed.sh down    stop only what `up` started
#   scripts/testbed.sh rehearse  run every step `up` takes on a fresh machine, in scratch
#                              places: apt resolves the package plan in a stand-in for a new
#                              machine's root (simulated), registry:2 is built under a scratch
#                              tag and served once, the cross std is unpacked into a scratch
#                              sysroot. CI runs it on every run, so a prepared machine cannot
#                              hide a step that breaks on a new one.
#   scripts/testbed.sh node ...  a second engine as a build node (scripts/build-node.sh:
#                              certs DIR | up NAME PORT DIR | down NAME | status NAME)
#
# On a machine that already runs Docker (a laptop), `up` uses that engine and says
# what is missing instead of installing over it.
set -euo pipefail

STATE_DIR=${MULTIARCH_TESTBED_STATE:-/var/lib/multiarch-testbed}
DOCKERD_LOG=/var/log/multiarch-dockerd.log
# Debian's rustc and its aarch64 std must be the very same version (see ENVIRONMENT.md).
DEBIAN_RUSTC_VERSION=${DEBIAN_RUSTC_VERSION:-1.85.0+dfsg3-1~deb12u3}
TESTBED_LABEL=io.github.multiarch.testbed
# Docker 28 carries BuildKit 0.20+. Before BuildKit 0.19, two platforms marshalling a
# shared step at once could kill the whole engine ("concurrent map writes",
# moby/buildkit#5570); we saw that happen here with dockerd 26.
MIN_DOCKER_MAJOR=28
# Debian 14, the first suite with a docker.io that new (28.5); all else comes from Debian 13.
ENGINE_SUITE=${MULTIARCH_ENGINE_SUITE:-forky}

# Where apt acts: the machine itself, or (rehearse) a scratch root standing in for a new
# machine, where every install is only simulated.
APT_ROOT=""
REHEARSING=false
apt_opts=()
# The registry image `up` builds; rehearse builds it under a scratch tag.
REGISTRY_IMAGE=registry:2

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null; }
engine_up() { docker info >/dev/null 2>&1; }

need_root() {
  is_root || die "$1 needs root" "run it again as root: sudo $0 up"
}

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" "$@"; }

apt_updated=false
apt_update() {
  if ! $apt_updated; then
    say "apt-get update${APT_ROOT:+ (in $APT_ROOT)}"
    apt_get update -qq >&2
    apt_updated=true
  fi
}

# Installs packages, or with rehearse only resolves them. apt resolves the plan first
# (`install -s`): a plan it refuses stops here with apt's own reason, before anything is
# unpacked, so a refused engine never leaves packages half-configured. Callers may set
# `install_hint` for what a user can do instead.
apt_install() {
  apt_update
  say "apt-get install $*"
  local plan
  if ! plan=$(apt_get install -s --no-install-recommends "$@" 2>&1); then
    printf '%s\n' "$plan" | grep -E '^ .*(Depends|Breaks|Conflicts): |^E: ' | sed 's/^/    apt: /' >&2
    die "apt cannot install $*: the lines above, apt's own, name the package that blocks" \
      "${install_hint:-install these packages by hand, then run this again}"
  fi
  if $REHEARSING; then
    printf '%s\n' "$@" >>"$APT_ROOT/planned"
    ok "apt would install: $(printf '%s\n' "$plan" | awk '/^Inst /{printf "%s ", $2}')"
    return 0
  fi
  apt_get install -y -qq --no-install-recommends "$@" >&2
}

# A newer Debian suite as a second, low-priority one, derived from the machine's own
# sources so that no mirror host is written into this project.
add_debian_suite() {
  local suite=$1 etc=$APT_ROOT/etc/apt
  local list=$etc/sources.list.d/multiarch-$suite.sources
  [ -f "$list" ] && return 0
  local src=$etc/sources.list.d/debian.sources
  [ -f "$src" ] || die "cannot find $src to derive the $suite suite from" \
    "install docker.io ($MIN_DOCKER_MAJOR or newer) and docker-buildx by hand, then run this again"
  say "adding Debian $suite as a low-priority apt suite"
  awk -v suite="$suite" 'BEGIN{done=0} /^#/ {next} /^[[:space:]]*$/ { if (seen) done=1; next }
       !done { seen=1; if ($1=="Suites:") print "Suites: " suite; else print }' "$src" >"$list"
  cat >"$etc/preferences.d/multiarch-$suite" <<PIN
Package: *
Pin: release n=$suite
Pin-Priority: 100
PIN
  apt_updated=false
}

add_arm64_architecture() {
  if $REHEARSING; then
    apt_opts+=(-o APT::Architectures::=arm64)
    apt_updated=false
  elif ! grep -qx arm64 <<<"$(dpkg --print-foreign-architectures)"; then
    say "adding the arm64 package architecture (for the aarch64 Rust std)"
    dpkg --add-architecture arm64
    apt_updated=false
  fi
}

# apt-get for more architectures (Debian's names, comma-separated in ARCHS) through a
# private state in STATE: Debian 13's sources alone, its own lists and cache. dpkg's
# architectures stay as they are, so the machine's other suites never fetch those
# architectures' indexes (a mirror in the middle of a sync served a short armhf index of
# bookworm-security here, and apt-get update failed for the whole machine once armhf was
# added with dpkg).
apt_get_private() {
  local state=$1 archs=$2 arch
  shift 2
  add_debian_suite trixie
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  local opts=(-o Dir::Etc::sourcelist="$APT_ROOT/etc/apt/sources.list.d/multiarch-trixie.sources"
    -o Dir::Etc::sourceparts=/dev/null -o Dir::State::Lists="$state/lists"
    -o Dir::Cache="$state/cache" -o APT::Architectures::="$(dpkg --print-architecture)"
    -o APT::Sandbox::User=root)
  for arch in ${archs//,/ }; do opts+=(-o APT::Architectures::="$arch"); done
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" "$@"
}

containerd_store_on() {
  grep -q 'io.containerd.snapshotter' <<<"$(docker info -f '{{json .DriverStatus}}' 2>/dev/null)"
}

wait_for_engine() {
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 0.5
  done
  return 1
}

server_major() { docker version -f '{{.Server.Version}}' 2>/dev/null | sed -E 's/^([0-9]+).*/\1/'; }
dockerd_installed_major() {
  command -v dockerd >/dev/null || return 1
  dockerd --version | sed -nE 's/^Docker version ([0-9]+)\..*/\1/p'
}

stop_our_dockerd() {
  local pid
  pid=$(cat "$STATE_DIR/dockerd.pid" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    ok "stopped dockerd (pid $pid)"
  fi
  rm -f "$STATE_DIR/dockerd.pid"
}

install_engine() {
  is_debian || die "no dockerd $MIN_DOCKER_MAJOR or newer here" "install Docker Engine: https://docs.docker.com/engine/install/"
  need_root "installing dockerd"
  add_debian_suite trixie
  add_debian_suite "$ENGINE_SUITE"
  # Keep the package's own scripts from starting or restarting a service: this script
  # starts dockerd itself, and a machine without an init system has none to restart.
  local policy=$APT_ROOT/usr/sbin/policy-rc.d wrote_policy=false
  if ! [ -e "$policy" ]; then
    mkdir -p "$(dirname "$policy")"
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && wrote_policy=true
  fi
  # name/suite takes only these from the newer suites; their dependencies stay the
  # machine's own where they can (-t would upgrade libc and much else). containerd comes
  # from Debian 13 (1.7). runc stays the machine's own (bookworm's 1.1.5, with the
  # CVE-2024-21626 fix; docker.io asks for >= 1.0): Debian 13's runc was rebuilt against
  # libc 2.38 and can no longer be installed beside bookworm's libc 2.36.
  local packages=("docker.io/$ENGINE_SUITE" containerd/trixie)
  command -v docker >/dev/null || packages+=("docker-cli/$ENGINE_SUITE")
  local install_hint="Debian's $ENGINE_SUITE suite moves every day. Install Docker Engine $MIN_DOCKER_MAJOR or newer another way (Docker's own apt repository), start it, and run this again: the test bed uses a running engine. Or try another suite: MULTIARCH_ENGINE_SUITE=trixie $0 up"
  # A subshell, so the policy file goes whatever happens inside (apt_install may die).
  local status=0
  apt_update
  ( apt_install "${packages[@]}" ) || status=$?
  ! $wrote_policy || rm -f "$policy"
  [ "$status" = 0 ] || exit "$status"
}

ensure_engine() {
  say "Docker engine"
  if $REHEARSING; then
    install_engine
    ok "a fresh machine would now start dockerd with the containerd image store"
    return 0
  fi
  if engine_up && ! [ -f "$STATE_DIR/dockerd.pid" ]; then
    ok "an engine is already running: $(docker version -f '{{.Server.Version}}' 2>/dev/null), using it"
    [ "$(server_major)" -ge "$MIN_DOCKER_MAJOR" ] 2>/dev/null || missing \
      "Docker $MIN_DOCKER_MAJOR or newer: older engines can crash in multi-platform builds (moby/buildkit#5570)"
    if containerd_store_on; then
      ok "containerd image store is on"
    else
      missing 'the containerd image store: multi-platform images cannot be stored or pushed by the engine;
             add {"features":{"containerd-snapshotter":true}} to /etc/docker/daemon.json
             (Docker Desktop: Settings > General > "Use containerd for pulling and storing images")'
    fi
    return 0
  fi
  if engine_up && [ "$(server_major)" -ge "$MIN_DOCKER_MAJOR" ]; then
    ok "dockerd $(docker version -f '{{.Server.Version}}') started by the test bed is running (pid $(cat "$STATE_DIR/dockerd.pid"))"
    return 0
  fi
  local installed
  installed=$(dockerd_installed_major) || installed=0
  if [ "${installed:-0}" -lt "$MIN_DOCKER_MAJOR" ]; then
    # An older engine started by this script is replaced: stop it, upgrade, start again.
    stop_our_dockerd
    install_engine
  fi
  need_root "starting dockerd"
  stop_our_dockerd
  mkdir -p /etc/docker "$STATE_DIR"
  if ! [ -f /etc/docker/daemon.json ]; then
    echo '{"features":{"containerd-snapshotter":true}}' >/etc/docker/daemon.json
    touch "$STATE_DIR/wrote-daemon-json"
  elif ! grep -q containerd-snapshotter /etc/docker/daemon.json; then
    missing "containerd-snapshotter in /etc/docker/daemon.json (left as it is: it is yours)"
  fi
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"
  wait_for_engine || {
    tail -n 20 "$DOCKERD_LOG" >&2
    die "dockerd did not come up within 30 s" "read $DOCKERD_LOG"
  }
  ok "dockerd $(docker version -f '{{.Server.Version}}') is up"
}

ensure_buildx_and_compose() {
  say "buildx and compose"
  if $REHEARSING; then
    add_debian_suite trixie
    apt_install docker-buildx/trixie docker-compose/trixie
    return 0
  fi
  local plugin docs
  for plugin in buildx compose; do
    docs=https://docs.docker.com/$plugin/install/
    [ "$plugin" = buildx ] && docs=https://docs.docker.com/build/install-buildx/
    if docker "$plugin" version >/dev/null 2>&1; then
      ok "$(docker "$plugin" version)"
    elif is_debian && is_root; then
      add_debian_suite trixie
      apt_install "docker-$plugin/trixie"
    else
      missing "docker $plugin: $docs"
    fi
  done
}

binfmt_ready() {
  local arch
  for arch in aarch64 arm; do
    grep -q '^enabled' "/proc/sys/fs/binfmt_misc/qemu-$arch" 2>/dev/null || return 1
    # F (fix-binary): the kernel opens the emulator now, so it works inside containers.
    grep -q '^flags: .*F' "/proc/sys/fs/binfmt_misc/qemu-$arch" || return 1
  done
}

ensure_binfmt() {
  say "QEMU emulation (binfmt_misc)"
  if $REHEARSING; then
    apt_install qemu-user-static binfmt-support
    return 0
  fi
  if binfmt_ready; then
    ok "qemu-aarch64 and qemu-arm are registered with the F flag"
    return 0
  fi
  is_root || { missing "QEMU handlers: run as root, or 'docker run --privileged --rm tonistiigi/binfmt --install all'"; return 0; }
  # binfmt_misc must be mounted before qemu-user-static registers its handlers.
  if ! [ -f /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if ! dpkg -s qemu-user-static >/dev/null 2>&1 || ! dpkg -s binfmt-support >/dev/null 2>&1; then
    is_debian || die "no QEMU handlers here" "install qemu-user-static, or run tonistiigi/binfmt"
    apt_install qemu-user-static binfmt-support
  fi
  binfmt_ready || update-binfmts --enable >/dev/null 2>&1 || true
  binfmt_ready || die "QEMU handlers are still not registered" "check /proc/sys/fs/binfmt_misc"
  ok "qemu-aarch64 and qemu-arm are registered with the F flag"
}

# A `registry:2` image from Debian's distribution binary. A real one (pulled) wins.
ensure_registry_image() {
  say "$REGISTRY_IMAGE image"
  if ! $REHEARSING && docker image inspect "$REGISTRY_IMAGE" >/dev/null 2>&1; then
    ok "$REGISTRY_IMAGE is present ($(docker image inspect -f "{{index .Config.Labels \"$TESTBED_LABEL\"}}" "$REGISTRY_IMAGE" | sed 's/^$/pulled/'))"
    return 0
  fi
  # With internet, `docker pull registry:2` first and this step keeps the real one.
  is_debian || die "there is no registry:2 image" "pull it: docker pull registry:2"
  if $REHEARSING; then
    apt_install docker-registry
  elif ! [ -x /usr/bin/docker-registry ]; then
    need_root "installing docker-registry"
    apt_install docker-registry
  fi
  build_registry_image "$REGISTRY_IMAGE"
  ok "built $REGISTRY_IMAGE from Debian's docker-registry ($(/usr/bin/docker-registry --version 2>/dev/null | awk '{print $3}'))"
}

# A subshell function: its EXIT trap removes the scratch folder when it ends and is gone
# after. (A `trap ... RETURN` here outlived the function and fired in later ones, where
# `$root` was unset: issue #12, seen only on fresh machines.)
build_registry_image() (
  local tag=$1 root lib
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc/docker/registry" "$root/var/lib/registry" "$root/tmp"
  cp /usr/bin/docker-registry "$root/bin/registry"
  for lib in $(ldd /usr/bin/docker-registry | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cat >"$root/etc/docker/registry/config.yml" <<'YML'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
YML
  tar -C "$root" -c . | docker import \
    --change 'ENTRYPOINT ["/bin/registry"]' \
    --change 'CMD ["serve","/etc/docker/registry/config.yml"]' \
    --change 'EXPOSE 5000' \
    --change 'VOLUME /var/lib/registry' \
    --change "LABEL $TESTBED_LABEL=built-from-debian" \
    - "$tag" >/dev/null
)

# Debian's rustc with its aarch64 std unpacked into a sysroot of our own. Installing
# libstd-rust-web-dev:arm64 through dpkg would drag in arm64 copies of LLVM and libc
# that must match the host's versions exactly; a static build needs only the rlibs.
CROSS_SYSROOT=${MULTIARCH_CROSS_SYSROOT:-/opt/multiarch-testbed/rust-sysroot}

rustup_cross_ready() {
  # A rustup toolchain with the aarch64 target and a cross linker (a laptop, GitHub Actions).
  command -v aarch64-linux-gnu-gcc >/dev/null && command -v rustc >/dev/null &&
    [ -d "$(rustc --print target-libdir --target aarch64-unknown-linux-gnu 2>/dev/null)" ]
}

cross_ready() {
  rustup_cross_ready && return 0
  [ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q "^rustc ${DEBIAN_RUSTC_VERSION%%+*} " &&
    [ -d "$CROSS_SYSROOT/lib/rustlib/aarch64-unknown-linux-gnu/lib" ] &&
    command -v aarch64-linux-gnu-gcc >/dev/null
}

ensure_cross_toolchain() {
  say "arm64 cross toolchain for arch-server"
  if ! $REHEARSING; then
    if rustup_cross_ready; then
      ok "$(rustc --version) with the aarch64-unknown-linux-gnu target"
      return 0
    fi
    if cross_ready; then
      ok "$(/usr/bin/rustc --version) with the aarch64 std in $CROSS_SYSROOT"
      return 0
    fi
    if ! is_debian || ! is_root; then
      missing "the aarch64 Rust target: 'rustup target add aarch64-unknown-linux-gnu' and an aarch64 linker"
      return 0
    fi
  fi
  add_arm64_architecture
  apt_install "rustc-web=$DEBIAN_RUSTC_VERSION" "libstd-rust-web-dev=$DEBIAN_RUSTC_VERSION" \
    "libstd-rust-web-${DEBIAN_RUSTC_VERSION%.*}=$DEBIAN_RUSTC_VERSION" \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  unpack_cross_std
  if $REHEARSING; then
    ok "the aarch64 std unpacked into $CROSS_SYSROOT"
    return 0
  fi
  cross_ready || die "the cross toolchain did not install" "see the apt output above"
  ok "$(/usr/bin/rustc --version) with the aarch64 std in $CROSS_SYSROOT"
}

# The aarch64 rlibs out of Debian's arm64 std package, without installing it.
unpack_cross_std() (
  local debs
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  chmod 755 "$debs"  # apt's download sandbox user must be able to write here
  cd "$debs"
  # root, as this script runs: apt's sandbox user cannot write into a fresh mktemp folder
  apt_get download -qq -o APT::Sandbox::User=root "libstd-rust-web-dev:arm64=$DEBIAN_RUSTC_VERSION" >&2
  dpkg-deb -x "$debs"/libstd-rust-web-dev_*_arm64.deb "$debs/root"
  [ -d "$debs/root/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib" ] ||
    die "libstd-rust-web-dev:arm64 $DEBIAN_RUSTC_VERSION has no aarch64 rlibs where they used to be" \
      "Debian changed the package's layout: update unpack_cross_std in $0"
  rm -rf "$CROSS_SYSROOT"
  mkdir -p "$CROSS_SYSROOT/lib/rustlib"
  mv "$debs/root/usr/lib/rustlib/aarch64-unknown-linux-gnu" "$CROSS_SYSROOT/lib/rustlib/"
  ln -s /usr/lib/rustlib/x86_64-unknown-linux-gnu "$CROSS_SYSROOT/lib/rustlib/x86_64-unknown-linux-gnu"
)

# Debian's static busybox per architecture: a shell for test images of every platform
# (RUN steps, liars), without pulling any image.
BUSYBOX_DIR=${MULTIARCH_BUSYBOX_DIR:-/var/cache/multiarch/busybox}
# Registry tools we did not write, to read back what the kit writes: skopeo, and from
# Debian 14 crane, oras and cosign (signatures that must survive a copy).
REGISTRY_TOOLS=(crane oras cosign)
registry_tools_ready() {
  command -v skopeo >/dev/null || return 1
  local tool
  for tool in "${REGISTRY_TOOLS[@]}"; do command -v "$tool" >/dev/null || return 1; done
}
ensure_registry_tools() {
  say "skopeo, crane, oras and cosign, for the registry tests' second opinions"
  if ! $REHEARSING && registry_tools_ready; then
    # Debian's builds carry no version of their own: dpkg's is the one.
    ok "$(dpkg-query -W -f '${Package} ${Version}, ' skopeo "${REGISTRY_TOOLS[@]}" 2>/dev/null | sed 's/, $//')"
    return 0
  fi
  is_debian || { missing "skopeo, crane, oras, cosign: the registry tests read their results back with them"; return 0; }
  need_root "installing skopeo, crane, oras and cosign"
  apt_install skopeo
  add_debian_suite forky
  apt_install "${REGISTRY_TOOLS[@]/%//forky}"
  $REHEARSING || ok "skopeo, crane, oras and cosign installed"
}

# The SSH build-node tests start an sshd of their own, on a loopback port with a host key
# and a client key they make. Debian's openssh-server would also start its service on
# port 22 and enable it for every boot: /etc/ssh/sshd_not_to_be_run, written first, is
# Debian's own switch that keeps its init script and its systemd units from starting it.
sshd_ready() { [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; }
ensure_sshd() {
  say "sshd and ssh, for the SSH build-node tests (no sshd service is started)"
  if ! $REHEARSING && sshd_ready; then
    ok "$(dpkg-query -W -f '${Package} ${Version}, ' openssh-server openssh-client 2>/dev/null | sed 's/, $//')"
    return 0
  fi
  is_debian || { missing "sshd: the SSH build-node tests start one"; return 0; }
  need_root "installing openssh-server"
  mkdir -p "$APT_ROOT/etc/ssh"
  [ -e "$APT_ROOT/etc/ssh/sshd_not_to_be_run" ] || echo "multiarch test bed: no sshd service here" >"$APT_ROOT/etc/ssh/sshd_not_to_be_run"
  apt_install openssh-server openssh-client
  $REHEARSING || ok "openssh-server installed, its service kept from starting"
}

# The Dockerfile's compile stage starts from debian:trixie-slim, which cannot be pulled
# here: a stand-in made by debootstrap from Debian 13's packages (scripts/debian-image.sh),
# under a name of its own. The tests that compile through the stage build from it.
DEBIAN_IMAGE=multiarch-testbed/debian:trixie-slim
ensure_debian_image() {
  say "a stand-in for debian:trixie-slim, the compile stage's base"
  if ! is_debian || ! is_root; then
    missing "a stand-in for debian:trixie-slim: docker pull debian:trixie-slim, or run this as root on Debian to make one"
    return 0
  fi
  $REHEARSING || command -v debootstrap >/dev/null || apt_install debootstrap
  ! $REHEARSING || apt_install debootstrap
  add_debian_suite trixie
  $REHEARSING || apt_update
  beside_apt debian-image "$(dirname "$0")/debian-image.sh" "$DEBIAN_IMAGE"
}

# Debian's names: armhf is arm/v7 and armel ARMv5TE (runs on an ARMv6 Pi), for the
# installer's runs as those machines.
BUSYBOX_ARCHS=(amd64 arm64 armhf armel)

ensure_busybox() {
  say "busybox for test images (${BUSYBOX_ARCHS[*]})"
  local arch missing=()
  for arch in "${BUSYBOX_ARCHS[@]}"; do
    $REHEARSING || [ -x "$BUSYBOX_DIR/$arch/busybox" ] || missing+=("$arch")
    ! $REHEARSING || missing+=("$arch")
  done
  if [ ${#missing[@]} = 0 ]; then
    ok "in $BUSYBOX_DIR"
    return 0
  fi
  is_debian || { missing "busybox-static: tests that build images with RUN steps need it"; return 0; }
  add_arm64_architecture
  apt_update
  unpack_busybox "${missing[@]}"
  ok "busybox-static for ${missing[*]} in $BUSYBOX_DIR"
}

# The package architectures dpkg itself fetches here: the host's and arm64.
dpkg_knows() { [ "$1" = amd64 ] || [ "$1" = arm64 ]; }

unpack_busybox() (
  local debs arch found
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  chmod 755 "$debs"
  cd "$debs"
  # The architectures dpkg does not know (amd64 and arm64 it does), in one private update.
  local others=()
  for arch in "$@"; do
    dpkg_knows "$arch" || others+=("$arch")
  done
  if [ ${#others[@]} -gt 0 ]; then
    say "Debian 13's ${others[*]} indexes, in a private apt state"
    apt_get_private "$debs/apt" "$(IFS=,; echo "${others[*]}")" update -qq >&2
  fi
  for arch in "$@"; do
    if dpkg_knows "$arch"; then
      apt_get download -qq -o APT::Sandbox::User=root "busybox-static:$arch" >&2
    else
      apt_get_private "$debs/apt" "$(IFS=,; echo "${others[*]}")" download -qq "busybox-static:$arch" >&2
    fi
    dpkg-deb -x busybox-static_*_"$arch".deb "$debs/$arch"
    mkdir -p "$BUSYBOX_DIR/$arch"
    # Debian 13 moved it to /usr/bin.
    for found in "$debs/$arch/usr/bin/busybox" "$debs/$arch/bin/busybox"; do
      [ ! -e "$found" ] || break
    done
    cp "$found" "$BUSYBOX_DIR/$arch/busybox"
  done
)

# Debian 14's buildx, newer than the 0.13 the test bed installs (users have newer ones):
# unpacked, not installed, so the buildx interop test can run it standalone beside 0.13.
BUILDX_NEW_DIR=${MULTIARCH_BUILDX_NEW_DIR:-/var/cache/multiarch/buildx-$ENGINE_SUITE}
ensure_newer_buildx() {
  say "a newer buildx ($ENGINE_SUITE's), unpacked for the buildx interop test"
  if ! $REHEARSING && [ -x "$BUILDX_NEW_DIR/docker-buildx" ]; then
    ok "$("$BUILDX_NEW_DIR/docker-buildx" version) in $BUILDX_NEW_DIR"
    return 0
  fi
  is_debian || { missing "docker-buildx/$ENGINE_SUITE: the buildx interop test runs it"; return 0; }
  need_root "unpacking $ENGINE_SUITE's buildx"
  add_debian_suite "$ENGINE_SUITE"
  apt_update
  unpack_newer_buildx
  ok "$("$BUILDX_NEW_DIR/docker-buildx" version) in $BUILDX_NEW_DIR"
}

unpack_newer_buildx() (
  local debs
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  chmod 755 "$debs"
  cd "$debs"
  apt_get download -qq -o APT::Sandbox::User=root "docker-buildx/$ENGINE_SUITE" >&2
  dpkg-deb -x docker-buildx_*.deb "$debs/root"
  mkdir -p "$BUILDX_NEW_DIR"
  cp "$debs/root/usr/libexec/docker/cli-plugins/docker-buildx" "$BUILDX_NEW_DIR/docker-buildx"
)

# The BuildKit image for docker-container builders, from Debian's sources (see
# scripts/buildkit-image.sh); a pulled moby/buildkit is used instead when there is one.
BUILDKIT_IMAGE=multiarch-testbed/buildkit:debian
ensure_buildkit_image() {
  say "BuildKit image for docker-container builders"
  if ! $REHEARSING && docker image inspect moby/buildkit:v0.25.1 >/dev/null 2>&1; then
    ok "moby/buildkit:v0.25.1 is present (pulled)"
    return 0
  fi
  if ! is_debian || ! is_root; then
    missing "a BuildKit image: docker pull moby/buildkit:v0.25.1, or run this as root on Debian to build one"
    return 0
  fi
  # Its sources come from Debian 14; an engine that is yours did not add that suite.
  add_debian_suite "$ENGINE_SUITE"
  $REHEARSING || apt_update
  beside_apt buildkit-image "$(dirname "$0")/buildkit-image.sh" "$BUILDKIT_IMAGE"
}

# The two image steps take minutes and no apt lock (BuildKit's Go compile; debootstrap's
# downloads, into a folder of its own): `up` runs them beside the apt steps that follow,
# their output kept in a log each and shown when they are joined. Only on a new machine,
# whose apt indexes are all read before (a later `apt-get update` would rewrite them under
# the BuildKit step's `apt-get download`); elsewhere, and in rehearse, they run in turn.
BESIDE=false
beside_pids=()
beside_names=()
beside_apt() {
  local name=$1
  shift
  if ! $BESIDE; then
    "$@"
    return
  fi
  mkdir -p "$STATE_DIR"
  "$@" >"$STATE_DIR/$name.log" 2>&1 &
  beside_pids+=("$!")
  beside_names+=("$name")
  ok "running beside the next steps (its lines follow when it ends)"
}

join_beside_apt() {
  local i failed=()
  for i in "${!beside_pids[@]}"; do
    say "${beside_names[$i]}, which ran beside the steps above"
    if wait "${beside_pids[$i]}"; then
      cat "$STATE_DIR/${beside_names[$i]}.log" >&2
    else
      cat "$STATE_DIR/${beside_names[$i]}.log" >&2
      failed+=("${beside_names[$i]}")
    fi
  done
  beside_pids=()
  beside_names=()
  [ ${#failed[@]} = 0 ] || die "${failed[*]} failed: the lines above say why"
}

# A new machine (no dockerd yet): every apt suite and architecture the steps use is added
# first and the indexes read once, not once per step.
NEW_MACHINE=false
prepare_a_new_machine() {
  is_root && is_debian && ! command -v dockerd >/dev/null || return 0
  NEW_MACHINE=true
  say "a new machine: Debian's suites and the arm64 architecture first, one apt-get update"
  add_debian_suite trixie
  add_debian_suite "$ENGINE_SUITE"
  add_arm64_architecture
  apt_update
}

# The five other platforms of the is-tester demo's seven, and riscv64: Debian's cross C
# toolchains, and the std's sources for Debian's rustc (-Zbuild-std), pinned to its
# version. Debian's per-arch std packages cannot be installed here (they want libc6 of
# that architecture at exactly the host's version, which the indexes lack); the sources
# serve every target the same way.
BUILD_STD_GCCS=(i686-linux-gnu arm-linux-gnueabi arm-linux-gnueabihf powerpc64le-linux-gnu
  s390x-linux-gnu riscv64-linux-gnu)
BUILD_STD_LIBCS=(i386 armel armhf ppc64el s390x riscv64)
RUST_SRC=/usr/lib/rustlib/src/rust/library

build_std_ready() {
  local gcc
  [ -d "$RUST_SRC/std" ] && [ -x /usr/bin/rustc ] || return 1
  for gcc in "${BUILD_STD_GCCS[@]}"; do command -v "$gcc-gcc" >/dev/null || return 1; done
}

ensure_build_std_toolchains() {
  say "cross toolchains for 386, arm/v6, arm/v7, ppc64le, s390x, riscv64 (build-std)"
  if ! $REHEARSING && build_std_ready; then
    ok "${BUILD_STD_GCCS[*]/%/-gcc} and the std's sources for $(/usr/bin/rustc --version)"
    return 0
  fi
  if ! is_debian || ! is_root; then
    missing "cross C toolchains and the Rust std's sources: only amd64 and arm64 can be built here"
    return 0
  fi
  local packages=("rust-web-src=$DEBIAN_RUSTC_VERSION") gcc libc
  for gcc in "${BUILD_STD_GCCS[@]}"; do packages+=("gcc-$gcc"); done
  for libc in "${BUILD_STD_LIBCS[@]}"; do packages+=("libc6-dev-$libc-cross"); done
  apt_install "${packages[@]}"
  $REHEARSING && return 0
  build_std_ready || die "the build-std toolchains did not install" "see the apt output above"
  ok "${BUILD_STD_GCCS[*]/%/-gcc} and the std's sources for $(/usr/bin/rustc --version)"
}

bridge_ok() {
  # Without docker0, traffic to published ports leaves the machine (ENVIRONMENT.md).
  ip link show docker0 >/dev/null 2>&1
}

# BuildKit's cache grows with every build (the emulated benchmark alone leaves about
# 13 GB); on a disk shared with others it once filled the disk in the middle of CI
# (twice: the second time all the cache was less than a day old, so trimming by age
# freed nothing). When less than MIN_FREE_GB is left, the cache of an engine this script
# started is trimmed to what was used in the last day, then, if that is not enough, all
# of it goes with the images no tag names. An engine that is yours is only reported.
MIN_FREE_GB=${MULTIARCH_MIN_FREE_GB:-15}
free_gb_under() { df -BG --output=avail "$1" | tail -n1 | tr -dc '0-9'; }
ensure_disk_space() {
  say "disk space for the engine"
  local root free_gb
  root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null) || root=/var/lib/docker
  free_gb=$(free_gb_under "$root")
  if [ "$free_gb" -ge "$MIN_FREE_GB" ]; then
    ok "${free_gb} GB free under $root"
    return 0
  fi
  if ! [ -f "$STATE_DIR/dockerd.pid" ]; then
    missing "only ${free_gb} GB free under $root: 'docker builder prune' frees BuildKit's cache"
    return 0
  fi
  docker builder prune -f --filter until=24h >/dev/null
  if [ "$(free_gb_under "$root")" -lt "$MIN_FREE_GB" ]; then
    docker builder prune -af >/dev/null
    docker image prune -f >/dev/null
  fi
  ok "${free_gb} GB was free under $root; BuildKit's cache trimmed, now $(free_gb_under "$root") GB"
  [ "$(free_gb_under "$root")" -ge "$MIN_FREE_GB" ] ||
    echo "    warning: still less than $MIN_FREE_GB GB free: the tests may run out of disk" >&2
}

cmd_up() {
  local started=$SECONDS
  prepare_a_new_machine
  ensure_engine
  ensure_disk_space
  # On a new machine every index is read already: nothing rewrites them meanwhile.
  BESIDE=$NEW_MACHINE
  ensure_buildkit_image
  ensure_debian_image
  BESIDE=false
  ensure_buildx_and_compose
  ensure_binfmt
  ensure_registry_image
  ensure_cross_toolchain
  ensure_build_std_toolchains
  ensure_busybox
  ensure_registry_tools
  ensure_sshd
  ensure_newer_buildx
  join_beside_apt
  if ! bridge_ok; then
    die "the engine's docker0 bridge is missing" "restart dockerd: scripts/testbed.sh down && scripts/testbed.sh up"
  fi
  say "test bed is up ($((SECONDS - started)) s)"
}

# One status line: ok when the check passes, missing (and a bad status) when not.
check() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else missing "$what"; bad=1; fi
}

cmd_status() {
  local bad=0
  say "test bed status"
  if engine_up; then
    ok "engine: dockerd $(docker version -f '{{.Server.Version}}'), API $(docker version -f '{{.Server.APIVersion}}')"
    check "Docker $MIN_DOCKER_MAJOR or newer (moby/buildkit#5570)" test "$(server_major)" -ge "$MIN_DOCKER_MAJOR"
    check "containerd image store" containerd_store_on
    check "buildx" docker buildx version
    check "registry:2 image" docker image inspect registry:2
    check "$DEBIAN_IMAGE (the compile stage's base)" docker image inspect "$DEBIAN_IMAGE"
    check "docker0 bridge" bridge_ok
  else
    missing "a running Docker engine"
    bad=1
  fi
  check "QEMU handlers: aarch64, arm" binfmt_ready
  check "arm64 cross toolchain" cross_ready
  check "build-std toolchains (386, arm/v6, arm/v7, ppc64le, s390x, riscv64)" build_std_ready
  check "skopeo, crane, oras, cosign" registry_tools_ready
  check "sshd and ssh (the SSH build-node tests)" sshd_ready
  if [ -f "$STATE_DIR/dockerd.pid" ]; then
    ok "dockerd was started by the test bed (pid $(cat "$STATE_DIR/dockerd.pid"))"
  fi
  return $bad
}

cmd_down() {
  say "stopping what the test bed started"
  if [ -f "$STATE_DIR/dockerd.pid" ]; then
    stop_our_dockerd
  else
    ok "nothing to stop: the test bed did not start an engine"
  fi
}

# --- rehearse: every fresh-machine step, in scratch places --------------------------

REHEARSAL_DIR=${MULTIARCH_REHEARSAL_DIR:-/var/cache/multiarch/fresh-machine-root}
# The dpkg status of a new machine of this project's kind (Debian 12, 707 packages: libc6
# 2.36, base-files, build-essential and the rest that pin apt's choices), captured on one
# before anything was installed, trimmed to the fields apt resolves with:
#   awk 'BEGIN{RS="";FS="\n"} {o=""; for(i=1;i<=NF;i++) if ($i ~ /^(Package|Status|Priority|
#     Essential|Architecture|Multi-Arch|Source|Version|Replaces|Provides|Depends|Pre-Depends|
#     Breaks|Conflicts|Protected):/) o=o $i "\n"; printf "%s\n", o}' /var/lib/dpkg/status
# (the pattern on one line). Capture it again when the machine image changes.
FRESH_STATUS=$(dirname "$0")/fresh-machine/dpkg-status

# Runs an image-making step under a scratch tag, then removes the image. Each step keys
# what it compiles or downloads by today's package versions and its own script: `up`, which
# runs first, made what today's key holds (or found it made from the very same inputs), so
# the rehearsal resolves today's packages, finds that key, and packs and imports the image
# as a new machine does, without compiling the same sources a second time (about 4 minutes
# of every CI run). A key `up` did not make is compiled here as on a new machine.
rehearse_image_step() {
  local step=$1 tag=$2
  "$step"
  docker image rm "$tag" >/dev/null
}

cmd_rehearse() {
  local started=$SECONDS fresh=$REHEARSAL_DIR
  is_debian || die "rehearse needs apt (a Debian machine)"
  [ -f /etc/apt/sources.list.d/debian.sources ] || die "no /etc/apt/sources.list.d/debian.sources to derive the suites from"
  # The image steps run on the engine `up` brought up, with its docker-registry binary.
  { engine_up && [ -x /usr/bin/docker-registry ]; } ||
    die "rehearse runs after up: it needs the test bed's engine and /usr/bin/docker-registry" "run $0 up first"
  say "rehearsing a fresh machine's set-up in $fresh"
  # apt's downloaded indexes are kept (apt refreshes them); everything else starts new.
  rm -rf "${fresh:?}/etc" "${fresh:?}/usr" "${fresh:?}/var/lib/dpkg" "${fresh:?}/var/cache" "${fresh:?}/planned"
  mkdir -p "$fresh/etc/apt/sources.list.d" "$fresh/etc/apt/preferences.d" "$fresh/var/lib/dpkg" \
    "$fresh/var/lib/apt/lists/partial" "$fresh/var/cache/apt/archives/partial"
  cp /etc/apt/sources.list.d/debian.sources "$fresh/etc/apt/sources.list.d/"
  cp -r /etc/apt/apt.conf.d "$fresh/etc/apt/" 2>/dev/null || true
  APT_ROOT=$fresh
  apt_opts=(-o "Dir=$fresh" -o "Dir::State::status=$fresh/var/lib/dpkg/status"
    -o APT::Architectures::=amd64 -o Debug::NoLocking=1)
  cp "$FRESH_STATUS" "$fresh/var/lib/dpkg/status"
  REHEARSING=true
  REGISTRY_IMAGE=multiarch-testbed-rehearsal/registry:$$
  CROSS_SYSROOT=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: these are this run's scratch names
  trap "rm -rf '$CROSS_SYSROOT'; docker rm -f -v multiarch-testbed-rehearsal-$$ >/dev/null 2>&1; docker image rm '$REGISTRY_IMAGE' >/dev/null 2>&1 || true" EXIT

  ensure_engine
  ensure_buildx_and_compose
  ensure_binfmt
  ensure_registry_image
  serve_registry_once "$REGISTRY_IMAGE"
  ensure_cross_toolchain
  ensure_build_std_toolchains
  BUSYBOX_DIR=$(mktemp -d)
  ensure_busybox
  rm -rf "$BUSYBOX_DIR"
  ensure_registry_tools
  ensure_sshd
  BUILDX_NEW_DIR=$(mktemp -d)
  ensure_newer_buildx
  rm -rf "$BUILDX_NEW_DIR"
  # The images the test bed makes, each under a scratch tag: BuildKit compiled from
  # Debian's sources, and debootstrap's stand-in base.
  BUILDKIT_IMAGE=multiarch-testbed-rehearsal/buildkit:$$
  rehearse_image_step ensure_buildkit_image "$BUILDKIT_IMAGE"
  DEBIAN_IMAGE=multiarch-testbed-rehearsal/debian:$$
  rehearse_image_step ensure_debian_image "$DEBIAN_IMAGE"

  [ -e "$fresh/usr/sbin/policy-rc.d" ] && die "the engine's install left policy-rc.d behind"
  say "the whole plan at once"
  local all
  mapfile -t all <"$fresh/planned"
  apt_install "${all[@]}"
  say "rehearsal passed ($((SECONDS - started)) s): a fresh machine can be set up today"
}

# The rehearsal's registry image must serve the distribution API, as registry:2 does.
serve_registry_once() {
  local image=$1 name=multiarch-testbed-rehearsal-$$ port
  docker run -d --name "$name" --label "$TESTBED_LABEL=rehearsal" -p 127.0.0.1::5000 "$image" >/dev/null
  port=$(docker port "$name" 5000/tcp | sed -n '1s/.*://p')
  for _ in $(seq 1 50); do
    if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
      ok "$image answers /v2/ on 127.0.0.1:$port"
      docker rm -f -v "$name" >/dev/null
      return 0
    fi
    sleep 0.2
  done
  docker logs "$name" >&2 || true
  docker rm -f -v "$name" >/dev/null
  die "the registry image built from Debian's docker-registry does not serve /v2/"
}

case "${1:-}" in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  rehearse) cmd_rehearse ;;
  node)
    shift
    exec "$(dirname "$0")/build-node.sh" "$@"
    ;;
  *)
    echo "usage: $0 up|status|down|rehearse|node" >&2
    exit 2
    ;;
esac
