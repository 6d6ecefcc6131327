#!/usr/bin/env bash
# The main job: installs what is missing, then runs the whole pipeline on the embedded
# default corpus. Arguments go to examples/demo.py (e.g. --quick, --work DIR).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$(bash "$repo/examples/install.sh" | tail -n 1)
exec "$venv/bin/python" "$repo/examples/demo.py" "$@"
