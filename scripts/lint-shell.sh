#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository: those ending in .sh and those whose
# first line names bash or sh (.ci/run). Debian's shellcheck is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >&2
  else
    echo "error: shellcheck is not installed" >&2
    echo "hint: apt-get install shellcheck" >&2
    exit 1
  fi
fi

scripts=()
while IFS= read -r file; do
  case "$file" in
    *.sh) scripts+=("$file") ;;
    *) [ -f "$file" ] && head -n1 "$file" | grep -qE '^#!.*\b(ba)?sh\b' && scripts+=("$file") ;;
  esac
done < <(git ls-files)
shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
