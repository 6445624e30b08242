#!/usr/bin/env bash
# `make release-check`: build every workspace package's wheel, then install each one alone into a
# fresh virtual environment and prove it works there: it imports, its console scripts answer
# `--version`/`--help`, and its `factflow.adapters` entry points load. A package that forgot to
# declare a dependency fails here, not on a user's machine.
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
  if ! "$venv/bin/python" - "$name" "$dist_name" <<'PY'
import importlib
import importlib.metadata as md
import sys

import pkgutil

module, dist_name = sys.argv[1], sys.argv[2]
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
print(f"ok   {dist_name} {dist.version}: imports (all modules); {sum(ep.group == 'factflow.adapters' for ep in dist.entry_points)} adapter entry point(s) load")
PY
  then
    echo "FAIL $dist_name: does not import or its entry points do not load"; failed=1; continue
  fi
  for script in factflow factflow-server; do
    if [ -x "$venv/bin/$script" ] && ! "$venv/bin/$script" --version >/dev/null; then
      echo "FAIL $dist_name: $script --version"; failed=1
    fi
  done
done
exit "$failed"
