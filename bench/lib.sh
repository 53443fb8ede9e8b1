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
