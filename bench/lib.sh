# shellcheck shell=bash
# Shared by the bench/ scripts: put a section into BENCHMARKS.md between its markers
# (<!-- NAME:start --> ... <!-- NAME:end -->), replacing an older one, and show it.
#   write_section NAME FILE
write_section() {
  local name=$1 file=$2
  # shellcheck disable=SC2016 # the backticks are Markdown
  [ -f BENCHMARKS.md ] || printf '# Benchmarks\n\nEvery figure here comes from a script under `bench/`, with its reference measured in the same run.\n' >BENCHMARKS.md
  if grep -q "<!-- $name:start -->" BENCHMARKS.md; then
    python3 - "$name" "$file" <<'PY'
import re, sys
name, new = sys.argv[1], open(sys.argv[2]).read().strip()
text = open("BENCHMARKS.md").read()
pattern = rf"<!-- {name}:start -->.*?<!-- {name}:end -->"
open("BENCHMARKS.md", "w").write(re.sub(pattern, lambda _: new, text, flags=re.S))
PY
  else
    { echo; cat "$file"; } >>BENCHMARKS.md
  fi
  cat "$file"
  rm -f "$file"
}

# Wall seconds of a command, two decimals; a failed command stops the benchmark with
# its output, so that no failure is ever reported as a time.
#   seconds COMMAND...
seconds() {
  local t0 log
  log=$(mktemp)
  t0=$(date +%s.%N)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: \`$*\` failed" >&2
    exit 1
  fi
  printf '%.2f\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
  rm -f "$log"
}

# A step's heading on stderr, as the scripts/ print theirs.
say() { printf '==> %s\n' "$*" >&2; }

# A throw-away registry:2 named NAME on a free loopback port, labelled as the kit's, once
# it answers /v2/; prints `localhost:PORT`. The caller removes it (docker rm -f -v NAME).
#   registry=$(start_registry NAME)
start_registry() {
  local name=$1 address
  docker run -d --name "$name" --label io.github.multiarch.managed-by=multiarch \
    -p 127.0.0.1::5000 registry:2 >/dev/null
  address=localhost:$(docker port "$name" 5000/tcp | sed -n '1s/.*://p')
  for _ in $(seq 1 50); do curl -fs "http://$address/v2/" >/dev/null && break; sleep 0.1; done
  echo "$address"
}

# The median of numbers given on stdin, separated by spaces or lines.
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# The eight platforms the kit builds (the is-tester demo's seven, and riscv64), as
# scripts/build-dist.sh names them and as `--platform` takes them.
ALL=amd64,386,arm/v6,arm/v7,arm64,ppc64le,s390x,riscv64
# shellcheck disable=SC2034 # used by the scripts that source this file
PLATFORMS=$(tr ',' '\n' <<<"$ALL" | sed 's|^|linux/|' | paste -sd,)
