#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input, each for SECONDS_EACH (300 by default):
# platform strings, image references, index/manifest bytes, ELF headers and layers.
# cargo-fuzz installs from crates.io; RUSTC_BOOTSTRAP lets the stable toolchain take the
# sanitizer flags libFuzzer needs. A crash stops the run with the input in
# fuzz/artifacts/<target>/; fix it and add that input as a regression test.
# The figures (runs, coverage, crashes) go into BENCHMARKS.md's "fuzz" section.
#
#   bench/fuzz.sh [TARGET...]       default: platform reference manifest elf
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SECONDS_EACH=${SECONDS_EACH:-300}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(platform reference manifest elf)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

rows=""
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${SECONDS_EACH} s" >&2
  status=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --fuzz-dir fuzz -- \
    -max_total_time="$SECONDS_EACH" 2>&1 | tee "$logs/$target.log" >&2 || status=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/..." then "Done N runs in S second(s)".
  done_line=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$logs/$target.log" | tail -1 || true)
  runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/p' "$logs/$target.log" | tail -1)
  secs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/p' "$logs/$target.log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$done_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")
  if [ "$status" -eq 0 ]; then result="no crash"; else result="**crash** (see fuzz/artifacts/$target/)"; fi
  rows+="| \`$target\` | ${secs:-?} s | ${runs:-?} | ${cov:-?} | ${corp:-?} | $result |"$'\n'
  [ "$status" -eq 0 ] || break
done

out=$(mktemp)
cat >"$out" <<MD
<!-- fuzz:start -->
## Fuzzing (\`bench/fuzz.sh\`)

Command: \`SECONDS_EACH=$SECONDS_EACH bash bench/fuzz.sh\` · machine: $(nproc) cores, $(uname -m), $(. /etc/os-release; echo "$PRETTY_NAME") · date: $(date -u +%Y-%m-%d) · $(cargo fuzz --version 2>/dev/null || echo cargo-fuzz)

| Target | Time | Runs | Coverage (edges) | Corpus | Result |
|---|---:|---:|---:|---:|---|
${rows%$'\n'}

Each target reads untrusted bytes the way the CLI does (platform strings, image references,
index and manifest JSON, ELF headers inside layer tarballs). Inputs that crashed earlier are
regression tests in the crates' unit tests.
<!-- fuzz:end -->
MD
write_section fuzz "$out"
