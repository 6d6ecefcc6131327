#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -m "not slow"`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$repo/examples/install.sh" | tail -n 1)
cd "$repo"
# the lint and the format (ruff.toml): either failing fails the test command
"$venv/bin/ruff" check "$repo"
"$venv/bin/ruff" format --check "$repo"
# idle OpenMP threads sleep instead of spinning (small operations on a busy CPU were 20x slower)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec "$venv/bin/python" -m pytest tests "$@"
