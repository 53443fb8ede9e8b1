#!/usr/bin/env bash
# The README's test command on a fresh machine, its two parts timed apart: the test bed's
# set-up (`scripts/testbed.sh up`) and the tests (`cargo test`, cold build included). The
# reference, same run: `up` again on the now-prepared machine (what every later run pays).
#
#   bench/fresh-machine.sh      run from a fresh clone, as root, on a machine where the test
#                               bed never ran (it says so in the figures when it did)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

fresh=yes
{ [ -d /var/lib/multiarch-testbed ] || command -v dockerd >/dev/null; } && fresh=no
[ -d target ] && cold=no || cold=yes

t0=$SECONDS
scripts/testbed.sh up
setup=$((SECONDS - t0))
t0=$SECONDS
scripts/testbed.sh up
again=$((SECONDS - t0))
t0=$SECONDS
tests_out=$(mktemp)
cargo test --workspace --locked -- --include-ignored 2>&1 | tee "$tests_out" >&2
tests=$((SECONDS - t0))
passed=$(grep -oE '^test result: ok\. [0-9]+ passed' "$tests_out" | awk '{s += $4} END {print s + 0}')
rm -f "$tests_out"

out=$(mktemp)
cat >"$out" <<MD
<!-- fresh-machine:start -->
## The README's test command on a fresh machine

- command: \`bench/fresh-machine.sh\` (\`scripts/testbed.sh up\`, then \`up\` again, then \`cargo test --workspace --locked -- --include-ignored\`), from a fresh clone
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME")
- test bed never ran here before: $fresh; cargo's target folder cold: $cold; Docker $(docker version -f '{{.Server.Version}}')

| part | seconds |
| --- | ---: |
| set-up: \`scripts/testbed.sh up\` | $setup |
| reference: \`up\` again, machine prepared | $again |
| tests: \`cargo test\` (build and run, $passed tests passed) | $tests |
<!-- fresh-machine:end -->
MD
write_section fresh-machine "$out"
