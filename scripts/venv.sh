# Sourced by the other scripts: make sure .venv exists with the given extra installed.
# Usage: . scripts/venv.sh server|dev
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
extra=$1
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "ModelGates needs Python 3.10 or newer ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "Creating $root/.venv ..." >&2
  "$python" -m venv "$root/.venv"
fi
# Reinstall only when pyproject.toml changed since the last install of this extra.
stamp="$root/.venv/.installed-$extra"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  echo "Installing modelgates[$extra] into .venv ..." >&2
  "$root/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$root/.venv/bin/python" -m pip install --quiet -e "$root[$extra]"
  touch "$stamp"
fi
