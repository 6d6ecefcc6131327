#!/usr/bin/env bash
# Installs everything mu2slam-fairseq needs on a fresh Debian machine and prints the
# venv's path on the last line. Re-running it is cheap: the venv is kept outside the
# clone (MU2SLAM_VENV, default ~/.cache/mu2slam/venv) and only refreshed when
# setup.py's requirements change.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${MU2SLAM_VENV:-$HOME/.cache/mu2slam/venv}

# Debian packages: the default corpus is fetched with apt-get download; espeak-ng and
# sox make the optional synthetic speech.
need_apt=()
for pkg in espeak-ng sox; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
  echo "[install] apt-get update" >&2
  apt-get update -qq >&2
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[install] apt-get install ${need_apt[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[install] creating $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip wheel setuptools >&2
fi
stamp="$venv/.mu2slam-requirements"
want=$(sha256sum "$repo/setup.py" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] installing Python requirements (first time: several minutes)" >&2
  "$venv/bin/pip" install -q -e "$repo[test]" >&2
  echo "$want" > "$stamp"
else
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$repo" >&2
fi
echo "$venv"
