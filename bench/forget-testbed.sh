#!/usr/bin/env bash
# Returns a machine of our kind to what it was before the test bed was set up, so that
# bench/fresh-machine.sh can measure the README's test command on a new machine again:
# the packages installed since SELECTIONS (`dpkg --get-selections` of the new machine,
# taken before anything ran) are purged, the arm64 architecture and the apt suites the test
# bed added go, and every cache and state folder of the test bed, the engine's data and
# cargo's downloaded crates are removed. Destructive: for a scratch machine only.
#
#   bench/forget-testbed.sh SELECTIONS
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

selections=${1:?usage: bench/forget-testbed.sh SELECTIONS (dpkg --get-selections of the new machine)}
[ "$(id -u)" = 0 ] || die "forgetting the test bed needs root"
[ -s "$selections" ] || die "no package selections in $selections"

say "stopping what the test bed started"
scripts/testbed.sh down || true
pkill -x dockerd || true
pkill -x containerd || true
sleep 2

say "purging the packages installed since $selections"
mapfile -t added < <(comm -13 <(awk '{print $1}' "$selections" | sort -u) \
  <(dpkg --get-selections | awk '$2 == "install" {print $1}' | sort -u))
if [ ${#added[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${added[@]}" >/dev/null
fi
ok "${#added[@]} packages purged"
if dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --remove-architecture arm64
fi

say "removing the test bed's apt suites, state, caches and the engine's data"
rm -f /etc/apt/sources.list.d/multiarch-*.sources /etc/apt/preferences.d/multiarch-*
rm -rf /var/lib/multiarch-testbed /var/cache/multiarch /opt/multiarch-testbed \
  /var/lib/docker /var/lib/containerd /etc/docker /var/log/multiarch-dockerd.log \
  /etc/ssh/sshd_not_to_be_run "${CARGO_HOME:-$HOME/.cargo}/registry" "${CARGO_HOME:-$HOME/.cargo}/git"
apt-get update -qq >/dev/null
ok "the machine holds the packages of $selections again"
