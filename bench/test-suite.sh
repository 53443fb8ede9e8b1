#!/usr/bin/env bash
# The test suite's wall time at two commits, in one run: the link after a one-line change
# to the library (what a developer waits for most), the run of every test with nothing
# left to build, and each test's own time (libtest's --report-time), of which the twenty
# costliest are listed. Each commit builds in a worktree and target folder of its own
# (built once first, with dist/, so the figures are the tests' and not the compile's) and runs its
# tests as its own scripts/test.sh runs them (as many at a time as it says).
#
#   bench/test-suite.sh BEFORE [AFTER]       default AFTER: HEAD
#   SECTION=NAME TITLE=TEXT                  the BENCHMARKS.md section (default: test-suite)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

before=${1:?usage: bench/test-suite.sh BEFORE [AFTER]}
after=${2:-HEAD}
section=${SECTION:-test-suite}
title=${TITLE:-before and after}
work=$(mktemp -d /var/tmp/multiarch-test-suite.XXXX)
trap 'git worktree remove --force "$work/before" 2>/dev/null; git worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT

# One commit's figures, each into a file of $work named for it: relink, run, counts (passed
# and failed), threads, and times (every test's, costliest first).
measure_commit() { # name rev
  local dir=$work/$1
  git worktree add -q --detach "$dir" "$2"
  (
    cd "$dir"
    export CARGO_TARGET_DIR=$work/target-$1 CI=true
    local threads
    threads=$(sed -nE 's/.*RUST_TEST_THREADS:-([0-9]+).*/\1/p' scripts/test.sh | head -n1)
    [ -z "$threads" ] || export RUST_TEST_THREADS=$threads
    echo "${threads:-$(nproc)}" >"$work/$1.threads"
    cargo test --workspace --locked --no-run -q 2>/dev/null
    # dist/ is not in a new worktree: built once first for both commits, as the test
    # binaries are, so neither run times the compile of arch-server for eight platforms.
    scripts/build-dist.sh amd64 arm64 386 arm/v6 arm/v7 ppc64le s390x riscv64 2>/dev/null
    echo "// touched by bench/test-suite.sh" >>multiarch/src/lib.rs
    local t0 log
    t0=$(date +%s.%N)
    cargo test --workspace --locked --no-run -q 2>/dev/null
    echo "$(date +%s.%N) - $t0" | bc >"$work/$1.relink"
    log=$(mktemp)
    t0=$(date +%s.%N)
    # An old commit may fail tests on today's machine: counted, not hidden. libtest's
    # per-test times are an unstable option, which RUSTC_BOOTSTRAP lets the stable one give.
    RUSTC_BOOTSTRAP=1 cargo test --workspace --locked --no-fail-fast -- --include-ignored \
      -Z unstable-options --report-time --format json >"$log" 2>/dev/null || true
    echo "$(date +%s.%N) - $t0" | bc >"$work/$1.run"
    python3 - "$log" "$work/$1.times" >"$work/$1.counts" <<'PY'
import json, sys
passed = failed = 0
times = []
for line in open(sys.argv[1]):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("type") != "test" or event.get("event") not in ("ok", "failed"):
        continue
    passed += event["event"] == "ok"
    failed += event["event"] == "failed"
    times.append((float(event.get("exec_time", 0)), event["name"], event["event"]))
with open(sys.argv[2], "w") as out:
    for seconds, name, result in sorted(times, reverse=True):
        out.write(f"{seconds:.1f}\t{name}\t{result}\n")
print(passed, failed)
PY
    rm -f "$log"
  )
}

measure_commit before "$before"
measure_commit after "$after"
figures() { # name -> "relink run passed failed threads"
  printf '%.1f %.1f %s %s\n' "$(cat "$work/$1.relink")" "$(cat "$work/$1.run")" \
    "$(cat "$work/$1.counts")" "$(cat "$work/$1.threads")"
}
read -r b_relink b_run b_passed b_failed b_threads < <(figures before)
read -r a_relink a_run a_passed a_failed a_threads < <(figures after)
costliest() { # name
  head -n 20 "$work/$1.times" | awk -F'\t' '{printf "| %s | %s s |\n", $2, $1}'
}

out=$(mktemp)
cat >"$out" <<MD
<!-- $section:start -->
## The test suite: $title

- command: \`bench/test-suite.sh $before $after\` (each commit in its own worktree and target folder, built once first; its tests run as many at a time as its own \`scripts/test.sh\` says)
- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}')
- before: $(git log --format='%h %s' -n1 "$before" | cut -c1-120); after: $(git log --format='%h %s' -n1 "$after" | cut -c1-120)

| | tests at a time | rebuild after a one-line library change | run every test (nothing to build) | tests passed | tests failed |
| --- | ---: | ---: | ---: | ---: | ---: |
| before | $b_threads | $b_relink s | $b_run s | $b_passed | $b_failed |
| after | $a_threads | $a_relink s | $a_run s | $a_passed | $a_failed |

The twenty costliest tests before (one at a time, each its own time):

| test | seconds |
| --- | ---: |
$(costliest before)

And after (several at a time: a test's time includes the cores it shared):

| test | seconds |
| --- | ---: |
$(costliest after)
<!-- $section:end -->
MD
write_section "$section" "$out"
