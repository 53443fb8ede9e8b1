#!/usr/bin/env bash
# A second Docker engine on this machine, standing in for a build node (a Graviton box, a
# Mac, a Pi): data, exec root and bridge of its own, its API on a loopback TCP port behind
# TLS with client certificates, as a remote engine is reached (`tcp://HOST:2376`).
#
#   scripts/build-node.sh certs DIR [SAN...] a CA, a server and a client certificate in DIR
#                                            (ca.pem, cert.pem, key.pem: DOCKER_CERT_PATH's
#                                            layout; server-cert.pem, server-key.pem); the
#                                            server's names are localhost, 127.0.0.1 and
#                                            the SANs given (IP:172.17.0.1, DNS:name)
#   scripts/build-node.sh up NAME PORT DIR [MIRROR]
#                                            start engine NAME on tcp://127.0.0.1:PORT
#                                            with DIR's certificates (and MIRROR, a
#                                            URL, as its registry-mirrors)
#   scripts/build-node.sh down NAME          stop it; remove its data and its bridge
#   scripts/build-node.sh status NAME
#
# The bridge matters: started with `--bridge none`, a second dockerd deletes the first
# engine's docker0 (ENVIRONMENT.md), and containers lose their network.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

NODES_DIR=${MULTIARCH_NODES_DIR:-/var/lib/multiarch-testbed/nodes}

node_dir() { echo "$NODES_DIR/$1"; }
bridge_of() { echo "br-$1"; }

check_name() {
  [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] ||
    die "\`$1\` is not a node name here" "use up to 12 lowercase letters, digits and -: the bridge is br-NAME, and interface names have 15 characters at most"
}

cmd_certs() {
  local dir=$1 names=DNS:localhost,IP:127.0.0.1 san
  shift
  for san in "$@"; do names+=",$san"; done
  mkdir -p "$dir"
  cd "$dir"
  say "certificates for a TLS engine in $dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca-key.pem -out ca.pem \
    -subj "/CN=multiarch build-node CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -out server-cert.pem -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$names") 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr \
    -subj "/CN=multiarch client" 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -out cert.pem -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
  rm -f server.csr client.csr ca.srl
  chmod 600 ./*key.pem
  ok "ca.pem cert.pem key.pem (client), server-cert.pem server-key.pem (engine)"
}

cmd_up() {
  local name=$1 port=$2 certs=$3 mirror=${4:-} dir bridge subnet
  check_name "$name"
  [ "$(id -u)" = 0 ] || die "starting an engine needs root" "sudo $0 up $*"
  command -v dockerd >/dev/null || die "no dockerd here" "sudo scripts/testbed.sh up installs one"
  for file in ca.pem server-cert.pem server-key.pem; do
    [ -f "$certs/$file" ] || die "$certs has no $file" "make them: $0 certs $certs"
  done
  dir=$(node_dir "$name")
  bridge=$(bridge_of "$name")
  if [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null; then
    die "node $name already runs (pid $(cat "$dir/docker.pid"))" "$0 down $name"
  fi
  mkdir -p "$dir"
  # A /24 of its own, chosen from the name so that two nodes do not share one.
  subnet=$((($(cksum <<<"$name" | cut -d' ' -f1) % 200) + 20))
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "172.30.$subnet.1/24" dev "$bridge"
    ip link set "$bridge" up
  fi
  if [ -n "$mirror" ]; then
    printf '{"features":{"containerd-snapshotter":true},"registry-mirrors":["%s"]}\n' "$mirror" >"$dir/daemon.json"
  else
    echo '{"features":{"containerd-snapshotter":true}}' >"$dir/daemon.json"
  fi
  say "starting node $name on tcp://127.0.0.1:$port (log: $dir/dockerd.log)"
  setsid dockerd --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$dir/docker.sock" -H "tcp://127.0.0.1:$port" \
    --tlsverify --tlscacert "$certs/ca.pem" \
    --tlscert "$certs/server-cert.pem" --tlskey "$certs/server-key.pem" \
    --bridge "$bridge" --iptables=false \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker -H "unix://$dir/docker.sock" info >/dev/null 2>&1; then
      ok "node $name is up: $(docker -H "unix://$dir/docker.sock" version -f '{{.Server.Version}}')"
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$dir/dockerd.log" >&2
  cmd_down "$name"
  die "node $name did not come up within 30 s" "read the log above"
}

cmd_down() {
  local name=$1 dir bridge pid
  check_name "$name"
  dir=$(node_dir "$name")
  bridge=$(bridge_of "$name")
  say "stopping node $name"
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
  fi
  # Its containerd, and anything else still running out of its folders.
  pkill -f -- "$dir/exec" 2>/dev/null || true
  if [ -d "$dir" ]; then
    awk -v d="$dir" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r mount; do umount -l "$mount" || true; done
    rm -rf "$dir"
  fi
  if ip link show "$bridge" >/dev/null 2>&1; then
    ip link del "$bridge"
  fi
  ok "node $name is gone (data, bridge)"
}

cmd_status() {
  local dir
  dir=$(node_dir "$1")
  if docker -H "unix://$dir/docker.sock" info >/dev/null 2>&1; then
    ok "node $1 runs: $(docker -H "unix://$dir/docker.sock" version -f '{{.Server.Version}}')"
  else
    missing "node $1 does not run"
    return 1
  fi
}

case "${1:-}" in
  certs) [ $# -ge 2 ] || die "usage: $0 certs DIR [SAN...]"; cmd_certs "${@:2}" ;;
  up) [ $# = 4 ] || [ $# = 5 ] || die "usage: $0 up NAME PORT CERT_DIR [MIRROR_URL]"; cmd_up "${@:2}" ;;
  down) [ $# = 2 ] || die "usage: $0 down NAME"; cmd_down "$2" ;;
  status) [ $# = 2 ] || die "usage: $0 status NAME"; cmd_status "$2" ;;
  *)
    echo "usage: $0 certs DIR [SAN...] | up NAME PORT CERT_DIR [MIRROR_URL] | down NAME | status NAME" >&2
    exit 2
    ;;
esac
