#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -m "not slow"`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$repo/examples/install.sh" | tail -n 1)
cd "$repo"
exec "$venv/bin/python" -m pytest tests "$@"
