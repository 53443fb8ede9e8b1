#!/usr/bin/env bash
# Makes the pictures in captures/ from a real run, never by hand:
#   captures/demo.png          the terminal output of `multiarch demo`
#   captures/page-amd64.png    arch-server's page from the linux/amd64 container
#   captures/page-arm64.png    the same page from the linux/arm64 container (QEMU)
#   captures/verify-eight.png  `multiarch verify --cpu baseline` of the image built for
#                              eight platforms: each one run on the oldest CPU its name
#                              promises, the host's own under QEMU in its container
# Needs the test bed (sudo scripts/testbed.sh up); installs Debian's chromium if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

EIGHT=(amd64 386 arm/v6 arm/v7 arm64 ppc64le s390x riscv64)
EIGHT_IMAGE=localhost:5000/arch-server:eight

command -v chromium >/dev/null || apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
cargo build --release -q -p multiarch
scripts/build-dist.sh "${EIGHT[@]}" 2>/dev/null

work=$(mktemp -d)
ids=()
cleanup() {
  [ ${#ids[@]} -gt 0 ] && docker rm -f -v "${ids[@]}" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

shot() { # URL OUT WIDTH HEIGHT
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" \
    --window-size="$3,$4" --screenshot="$2" "$1" >/dev/null 2>&1
}

# What a terminal showed, as a picture: the command line, then its output.
terminal_shot() { # OUTPUT-FILE PICTURE WIDTH COMMAND-LINE
  python3 - "$1" "$work/terminal.html" "$4" <<'PY'
import html, sys
text = open(sys.argv[1]).read()
# BuildKit's plain progress is long; keep its last lines, as a scrolled terminal would.
lines = []
for line in text.splitlines():
    if line.startswith("#") or (not line.strip() and lines and not lines[-1].strip()):
        continue
    lines.append(line)
body = html.escape("\n".join(["$ " + sys.argv[3]] + lines))
open(sys.argv[2], "w").write(f"""<!doctype html><meta charset="utf-8">
<style>body{{margin:0;background:#1e1e2e}}pre{{margin:0;padding:24px 28px;color:#cdd6f4;
font:14px/1.45 'DejaVu Sans Mono',monospace;white-space:pre}}</style><pre>{body}</pre>""")
PY
  local lines
  lines=$(python3 -c 'import sys; print(open(sys.argv[1]).read().count("\n"))' "$work/terminal.html")
  shot "file://$work/terminal.html" "$2" "$3" $(((lines + 2) * 21 + 48))
}

# The demo's terminal output, as a terminal shows it.
NO_COLOR=1 target/release/multiarch demo --binaries dist >"$work/demo.txt" 2>&1
terminal_shot "$work/demo.txt" captures/demo.png 1480 "multiarch demo"

# The eight platforms in one index, each one proven (seven of them under QEMU).
platforms=$(printf 'linux/%s,' "${EIGHT[@]}")
target/release/multiarch build -t "$EIGHT_IMAGE" --platform "${platforms%,}" \
  --build-context build=dist --push . >/dev/null 2>&1
NO_COLOR=1 target/release/multiarch verify "$EIGHT_IMAGE" --cpu baseline >"$work/verify.txt" 2>&1
terminal_shot "$work/verify.txt" captures/verify-eight.png 1720 "multiarch verify $EIGHT_IMAGE --cpu baseline"

# The page, from each platform's container.
for arch in amd64 arm64; do
  id=$(docker run -d --platform "linux/$arch" -p 127.0.0.1::80 \
    --label io.github.multiarch.managed-by=multiarch localhost:5000/arch-server:demo)
  ids+=("$id")
  port=$(docker port "$id" 80/tcp | sed -n '1s/.*://p')
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  shot "http://127.0.0.1:$port/" "captures/page-$arch.png" 900 640
done
ls -l captures/
