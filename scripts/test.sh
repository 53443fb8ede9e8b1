#!/usr/bin/env bash
# Sets up everything the tests need, then runs every test:
#   the test bed (Docker engine, buildx, QEMU, registry:2 image, cross toolchains),
#   then `cargo test` for the whole workspace, the engine tests included
#   (`--include-ignored`: a plain `cargo test` reports them as ignored), then a check that
#   no test left anything in the engine.
# Needs root for the set-up on a fresh Debian machine (it says so otherwise).
#
# Compiled code goes to $MULTIARCH_CACHE/target/<key> (default /var/cache/multiarch), outside
# the clone, keyed by the compiler, as a CI system caches it: every clone on
# this machine then shares the compiled dependencies. CARGO_TARGET_DIR, when set, wins.
# Tests run RUST_TEST_THREADS at a time (default 6): most of an engine test's time is spent
# waiting on a registry, BuildKit or QEMU, so more than the cores' count keep them busy.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# Arguments are cargo's, then, after a `--` of their own, the test binaries'.
cargo_args=() test_args=()
seen_separator=false
for arg in "$@"; do
  if ! $seen_separator && [ "$arg" = -- ]; then
    seen_separator=true
  elif $seen_separator; then
    test_args+=("$arg")
  else
    cargo_args+=("$arg")
  fi
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(scripts/cache-target.sh)}
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-6}

# A first run here compiles what later runs reuse (scripts/build-dist.sh's copy of the
# sources is its mark): say so before the long wait, with the measured floor.
if [ ! -d "${MULTIARCH_CACHE:-/var/cache/multiarch}/dist-source" ]; then
  say "first run on this machine: the tests will compile arch-server for ten targets and the CLI for five"
  echo "    at least 5,030 processor seconds (42 minutes on 2 cores, $(nproc) here; BENCHMARKS.md," >&2
  echo "    \"The least a new machine's test run compiles\"); later runs reuse what it compiles" >&2
fi

# The tests compile while the test bed is set up: neither needs the other, and on a new
# machine the set-up waits on downloads for minutes.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
cargo test --workspace --locked "${cargo_args[@]}" --no-run >"$build_log" 2>&1 &
build=$!

setup=0
if [ "$(id -u)" = 0 ]; then
  scripts/testbed.sh up || setup=$?
elif command -v sudo >/dev/null; then
  sudo --preserve-env=PATH,HOME,RUSTUP_HOME,CARGO_HOME scripts/testbed.sh up || setup=$?
else
  scripts/testbed.sh up || setup=$?
fi
say "the tests' build, which ran beside the set-up (target $CARGO_TARGET_DIR)"
if ! wait "$build"; then
  cat "$build_log" >&2
  die "the tests did not compile: cargo's lines above say why"
fi
grep -E '^ +(Finished|Executable)' "$build_log" | sed 's/^ */    /' >&2
[ "$setup" = 0 ] || exit "$setup"

# Tests that need the engine are ignored by a plain `cargo test` (reported as such, never
# as passed); here the engine is up, so they run too, and fail if it is not.
say "cargo test ($RUST_TEST_THREADS tests at a time)"
tests_started=$(date -u +%Y-%m-%dT%H:%M:%S)
# With no test named, every test runs: the suite's costliest fixture (the CLI image's
# compile stage, tests/common/fixtures.rs) is begun with the first engine test, beside
# the others, instead of when its own tests' turn comes.
whole_suite=1
for arg in "${test_args[@]}"; do
  case $arg in -*) ;; *) whole_suite= ;; esac
done
[ -z "$whole_suite" ] || export MULTIARCH_WHOLE_SUITE=1
# Each engine test appends its own time here (tests/common/bed.rs), listed at the end.
MULTIARCH_TEST_TIMES=$(mktemp)
export MULTIARCH_TEST_TIMES
trap 'rm -f "$build_log" "$MULTIARCH_TEST_TIMES"' EXIT
tests_t0=$SECONDS
status=0
cargo test --workspace --locked "${cargo_args[@]}" -- --include-ignored "${test_args[@]}" || status=$?

if [ -s "$MULTIARCH_TEST_TIMES" ]; then
  say "the costliest engine tests ($(wc -l <"$MULTIARCH_TEST_TIMES") timed, $((SECONDS - tests_t0)) s for every test, $RUST_TEST_THREADS at a time)"
  sort -rn "$MULTIARCH_TEST_TIMES" | head -n 20 | awk -F'\t' '{printf "    %7.1f s  %s\n", $1, $2}' >&2
fi

# Each test removes what it made, and the test binary what its tests shared; anything
# still labelled by a test is a leak, which fails the run (and is removed, so that the
# next run starts clean).
say "nothing left behind by the tests"
left=""
for label in io.github.multiarch.test-run io.github.multiarch.test-suite; do
  left+=$(docker ps -a --filter "label=$label" --format '    container {{.Names}} ({{.Image}})')
  left+=$(docker volume ls --filter "label=$label" --format '    volume {{.Name}}')
  left+=$(docker images --filter "label=$label" --format '    image {{.Repository}}:{{.Tag}}')
done
# A container's anonymous volume outlives it unless it is removed with `-v`. One made
# while the tests ran and held by no container carries no label to say whose it was (and
# a person's own containers on this engine make them too), so it is named and removed,
# not counted as a test's leak.
orphans=""
for volume in $(docker volume ls -q --filter dangling=true --filter label=com.docker.volume.anonymous); do
  created=$(docker volume inspect -f '{{.CreatedAt}}' "$volume")
  if [[ "${created:0:19}" > "$tests_started" ]]; then
    orphans+="    anonymous volume $volume (made $created)"$'\n'
    docker volume rm "$volume" >/dev/null 2>&1 || true
  fi
done
if [ -n "$orphans" ]; then
  printf '%s' "$orphans" >&2
  echo "warning: the above were made during the run and left by a container removed without -v (now removed)" >&2
fi
if [ -n "$left" ]; then
  printf '%s\n' "$left" >&2
  for label in io.github.multiarch.test-run io.github.multiarch.test-suite; do
    docker ps -aq --filter "label=$label" | xargs -r docker rm -f -v >/dev/null
    docker volume ls -q --filter "label=$label" | xargs -r docker volume rm -f >/dev/null
    docker images -q --filter "label=$label" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  done
  echo "error: the tests left the above behind (now removed)" >&2
  [ "$status" != 0 ] || status=1
else
  ok "no container, volume or image labelled by a test"
fi
exit "$status"
