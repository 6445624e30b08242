#!/usr/bin/env bash
# `make release-check`: build every workspace package's wheel, then install each one alone into a
# fresh virtual environment and prove it works there: it imports, its console scripts answer
# `--version`/`--help`, and its `factflow.adapters` entry points load. A package that forgot to
# declare a dependency fails here, not on a user's machine. The CLI, the engine and what it builds
# on, and every adapter package under workflows/ must also install without a storage driver or a
# server-side factflow package (tests/release/test_light_installs.py checks the same in `make test`).
#
# Sibling factflow packages resolve from the freshly built wheels (--find-links); third-party
# packages from the registry, constrained to the versions in uv.lock.
set -euo pipefail

UV="${UV:-uv}"
export UV_PYTHON_DOWNLOADS=never
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dist="$work/dist"

cd "$root"
$UV build --all-packages --wheel --quiet --out-dir "$dist"
$UV export --frozen --no-dev --all-packages --no-emit-workspace --no-hashes --quiet -o "$work/constraints.txt"

light=" factflow-foundation factflow-protocols factflow-engine factflow-cli $(cd workflows && echo *) "
heavy="redis hiredis minio asyncpg aiosqlite sqlalchemy alembic factflow-infra factflow-lineage factflow-execution factflow-replay factflow-server"

python_bin="$($UV python find 3.11)"
failed=0
for wheel in "$dist"/*.whl; do
  name="$(basename "$wheel" | cut -d- -f1)"          # factflow_server
  dist_name="${name//_/-}"                              # factflow-server
  venv="$work/venv-$name"
  $UV venv --quiet --python "$python_bin" "$venv"
  if ! $UV pip install --quiet --python "$venv/bin/python" --find-links "$dist" \
      --constraint "$work/constraints.txt" "$wheel"; then
    echo "FAIL $dist_name: does not install alone"; failed=1; continue
  fi
  forbidden=""
  [[ "$light" == *" $dist_name "* ]] && forbidden="$heavy"
  if ! "$venv/bin/python" - "$name" "$dist_name" "$forbidden" <<'PY'
import importlib
import importlib.metadata as md
import re
import sys

import pkgutil

module, dist_name, forbidden = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions()}
if installed & forbidden:
    sys.exit(f"{dist_name} brings along {', '.join(sorted(installed & forbidden))}")
package = importlib.import_module(module)
# Every submodule, so a dependency used only deep inside is caught too (test helpers excepted:
# they need pytest, which is not a runtime dependency).
for info in pkgutil.walk_packages(package.__path__, f"{module}."):
    if ".testing" not in info.name and not info.name.endswith("__main__"):
        importlib.import_module(info.name)
dist = md.distribution(dist_name)
for ep in dist.entry_points:
    if ep.group == "factflow.adapters":
        ep.load()
light = "; no driver installed" if forbidden else ""
print(f"ok   {dist_name} {dist.version}: imports (all modules); {sum(ep.group == 'factflow.adapters' for ep in dist.entry_points)} adapter entry point(s) load{light}")
PY
  then
    echo "FAIL $dist_name: does not import, its entry points do not load, or it brings a driver along"; failed=1; continue
  fi
  for script in factflow factflow-server; do
    if [ -x "$venv/bin/$script" ] && ! { "$venv/bin/$script" --version && "$venv/bin/$script" --help; } >/dev/null; then
      echo "FAIL $dist_name: $script --version / --help"; failed=1
    fi
  done
done
exit "$failed"
