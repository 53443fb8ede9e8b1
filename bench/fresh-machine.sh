#!/usr/bin/env bash
# The README's test command on a new machine, timed whole (`scripts/test.sh`: the test
# bed's set-up with the tests compiling beside it, then every test), with the set-up's own
# time as it prints it. The reference, same run: `scripts/testbed.sh up` again on the now
# prepared machine (what every later run pays).
#
#   bench/fresh-machine.sh      run from a fresh clone, as root, on a machine where the test
#                               bed never ran (bench/forget-testbed.sh makes one of this
#                               kind new again); it says in the figures when it was not new
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

fresh=yes
{ [ -d /var/lib/multiarch-testbed ] || command -v dockerd >/dev/null; } && fresh=no
[ -d /var/cache/multiarch/target ] && cold=no || cold=yes

log=$(mktemp)
t0=$SECONDS
status=0
scripts/test.sh 2>&1 | tee "$log" >&2 || status=$?
whole=$((SECONDS - t0))
setup=$(sed -nE 's/^==> test bed is up \(([0-9]+) s\)/\1/p' "$log" | tail -n1)
passed=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{s += $6} END {print s + 0}')
rm -f "$log"
t0=$SECONDS
scripts/testbed.sh up
again=$((SECONDS - t0))

out=$(mktemp)
cat >"$out" <<MD
<!-- fresh-machine:start -->
## The README's test command on a fresh machine

- command: \`bench/fresh-machine.sh\` (\`scripts/test.sh\`, timed whole, then \`scripts/testbed.sh up\` again), from a fresh clone
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME")
- test bed never ran here before: $fresh; compiled code cold: $cold; Docker $(docker version -f '{{.Server.Version}}'); exit status $status

| part | seconds |
| --- | ---: |
| \`scripts/test.sh\`, whole: set-up, the tests' compile beside it, $passed tests passed and $failed failed | $whole |
| of which the set-up, as it says (\`test bed is up\`) | $setup |
| reference: \`scripts/testbed.sh up\` again, machine prepared | $again |
<!-- fresh-machine:end -->
MD
write_section fresh-machine "$out"
