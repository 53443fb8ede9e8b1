#!/usr/bin/env bash
# The build profile (issue #39) on a real emulated compile: a generated C program
# compiled with gcc inside a toolchain image of each platform (bench/rust-images.sh: Debian
# trixie with gcc), so linux/arm64's compile runs under QEMU and linux/amd64's natively,
# built with the engine's own BuildKit for both platforms and pushed.
# From the build's `--report`: the share of arm64's wall time the profile puts on the
# compile step, and how it says it ran; the hint's saving against the native compile;
# and what the profile itself cost against the build's wall time.
#
#   bench/profile.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
FUNCTIONS=${FUNCTIONS:-600}

cargo build --release -q -p multiarch
m=target/release/multiarch
bash bench/rust-images.sh amd64 arm64 >&2
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
name=multiarch-bench-profile-$$
registry=$(start_registry "$name")
image=$registry/profiled:bench
cleanup() {
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

# A C file big enough to take the compiler a few seconds natively.
context=$state/context
mkdir -p "$context"
{
  for i in $(seq 1 "$FUNCTIONS"); do
    printf 'long f%d(long x) { long s = 0; for (long i = 0; i < x; i++) { s += (i * %d) ^ (s >> 3); if (s %% 7 == %d) s -= i; } return s; }\n' "$i" "$i" "$((i % 7))"
  done
  printf 'int main(void) { long s = 0;\n'
  for i in $(seq 1 "$FUNCTIONS"); do printf 's += f%d(%d);\n' "$i" "$i"; done
  printf 'return (int)(s & 1); }\n'
} >"$context/program.c"
cat >"$context/Dockerfile" <<'EOF'
FROM localhost:1/multiarch-bench/rust:trixie-${TARGETARCH} AS build
WORKDIR /src
COPY program.c .
RUN gcc -O2 -static -o /program program.c
FROM scratch
COPY --from=build /program /program
EOF

say "building for linux/amd64,linux/arm64 with the profile's report"
report=$state/report.json
t0=$(date +%s.%N)
$m build "$context" -t "$image" --platform linux/amd64,linux/arm64 --push --no-cache \
  --no-preflight --plain --report "$report" 2>"$state/build.log" || { cat "$state/build.log" >&2; exit 1; }
wall=$(echo "$(date +%s.%N) - $t0" | bc)
profile=$(sed -n '/^where the time went:/,/^pushed /p' "$state/build.log" | grep -v '^pushed ')

figures=$(python3 - "$report" "$wall" <<'PY'
import json, sys
report, wall = json.load(open(sys.argv[1])), float(sys.argv[2])
by = {p["platform"]: p for p in report["platforms"]}
def compile_step(platform):
    return next(s for s in by[platform]["steps"] if s["instruction"].startswith("RUN gcc"))
arm, amd = compile_step("linux/arm64"), compile_step("linux/amd64")
share = arm["duration_seconds"] / by["linux/arm64"]["wall_seconds"]
hint = next((h for h in report["hints"] if h["platform"] == "linux/arm64"), None)
cost = report["profile_cost_seconds"]
print(f"| linux/arm64's compile step (line {arm['line']}) | {arm['how']} ({arm.get('emulator', '-')}) | {arm['duration_seconds']:.1f} s, {share:.1%} of linux/arm64's {by['linux/arm64']['wall_seconds']:.1f} s |")
print(f"| linux/amd64's compile step | {amd['how']} | {amd['duration_seconds']:.1f} s |")
print(f"| the hint's saving, by the build's own numbers | {'line ' + str(hint['line']) if hint else 'no hint'} | {hint['saving_seconds']:.1f} s |" if hint else "| the hint | none | - |")
print(f"| what the profile cost (asking the builder its platform, reading the Dockerfile, the arithmetic) | against the build's {wall:.1f} s | {cost * 1000:.1f} ms, {cost / wall:.3%} |")
PY
)

out=$(mktemp)
{
  echo "<!-- profile:start -->"
  echo "## The build profile on an emulated compile"
  echo
  echo "- command: \`bench/profile.sh\` (one build, --no-cache; a generated C file of $FUNCTIONS functions, \`gcc -O2 -static\` in a Debian trixie toolchain image of each platform; the engine's own BuildKit)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); QEMU $(qemu-aarch64-static --version | head -n1 | awk '{print $3}')"
  echo
  echo "| what | how | figure |"
  echo "| --- | --- | ---: |"
  echo "$figures"
  echo
  echo "The profile as the build printed it:"
  echo
  echo '```'
  echo "$profile"
  echo '```'
  echo "<!-- profile:end -->"
} >"$out"
write_section profile "$out"
