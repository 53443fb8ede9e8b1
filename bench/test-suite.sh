#!/usr/bin/env bash
# The test suite's wall time at two commits, in one run: the link after a one-line change
# to the library (what a developer waits for most), and the run of every test with
# nothing left to build. The reference is the commit before the tests were gathered into
# one binary (issue #13); each commit builds in a worktree of its own.
#
#   bench/test-suite.sh [BEFORE [AFTER]]    default: the commit before 'tests: one harness', HEAD
#   SECTION=NAME TITLE=TEXT                  another BENCHMARKS.md section (default: test-suite)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

harness=$(git log --format=%H --grep='^tests: one harness' -n1)
before=${1:-$harness^}
after=${2:-$harness}
section=${SECTION:-test-suite}
title=${TITLE:-one harness against ten test binaries}
work=$(mktemp -d /var/tmp/multiarch-test-suite.XXXX)
trap 'git worktree remove --force "$work/before" 2>/dev/null; git worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT

measure() { # name rev -> "binaries relink_s run_s passed failed"
  local dir=$work/$1
  git worktree add -q --detach "$dir" "$2"
  (
    cd "$dir"
    export CARGO_TARGET_DIR=$work/target-$1 CI=true
    cargo test --workspace --locked --no-run -q 2>/dev/null
    local binaries t0 relink run passed log
    binaries=$(find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f -executable -newer Cargo.lock | grep -c -- '-[0-9a-f]\{16\}$')
    echo "// touched by bench/test-suite.sh" >>multiarch/src/lib.rs
    t0=$(date +%s.%N)
    cargo test --workspace --locked --no-run -q 2>/dev/null
    relink=$(echo "$(date +%s.%N) - $t0" | bc)
    log=$(mktemp)
    t0=$(date +%s.%N)
    # An old commit may fail tests on today's machine: counted, not hidden.
    cargo test --workspace --locked --no-fail-fast -- --include-ignored >"$log" 2>&1 || true
    run=$(echo "$(date +%s.%N) - $t0" | bc)
    passed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
    failed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{s += $6} END {print s + 0}')
    rm -f "$log"
    printf '%s %.1f %.1f %s %s\n' "$binaries" "$relink" "$run" "$passed" "$failed"
  )
}

read -r b_bins b_relink b_run b_passed b_failed < <(measure before "$before")
read -r a_bins a_relink a_run a_passed a_failed < <(measure after "$after")

out=$(mktemp)
cat >"$out" <<MD
<!-- $section:start -->
## The test suite: $title

- command: \`bench/test-suite.sh\` (each commit in its own worktree and target folder, built once first)
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}')
- before: $(git log --format='%h %s' -n1 "$before"); after: $(git log --format='%h %s' -n1 "$after")

| | test binaries built | rebuild after a one-line library change | run every test (nothing to build) | tests passed | tests failed |
| --- | ---: | ---: | ---: | ---: | ---: |
| before | $b_bins | $b_relink s | $b_run s | $b_passed | $b_failed |
| after | $a_bins | $a_relink s | $a_run s | $a_passed | $a_failed |
<!-- $section:end -->
MD
write_section "$section" "$out"
