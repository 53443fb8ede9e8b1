# shellcheck shell=bash
# What the set-up scripts print, one way: a step, what is fine, what is missing, and an
# error with its hint (then exit 1).
say() { printf '==> %s\n' "$*" >&2; }
ok() { printf '    ok: %s\n' "$*" >&2; }
missing() { printf '    missing: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$1" >&2
  [ $# -gt 1 ] && printf 'hint: %s\n' "$2" >&2
  exit 1
}
