# Sourced by scripts/demo and scripts/test: makes .venv (once) and installs
# the project into it with the extras named in $SESSIONDB_EXTRAS, again only
# when pyproject.toml changed. Needs only python3 (>= 3.11) with venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.sessiondb-installed-${SESSIONDB_EXTRAS:-core}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
  if [ -n "${SESSIONDB_EXTRAS:-}" ]; then
    .venv/bin/python -m pip install --quiet -e ".[${SESSIONDB_EXTRAS}]"
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
