"""Fetching Debian packages' files without installing them (``apt-get download`` + ``dpkg -x``)."""

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

DEFAULT_CACHE = Path(os.environ.get("MU2SLAM_CACHE", Path.home() / ".cache" / "mu2slam")) / "debian"


def _run(cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, check=False, capture_output=True, text=True)


def fetch_packages(names: Iterable[str], cache: Path = DEFAULT_CACHE) -> Path:
    """Unpack the named packages under ``cache/root`` (once) and return that root.

    Each package is unpacked into a temporary folder and marked done only when complete,
    so an interrupted fetch is redone rather than trusted.
    """
    root = Path(cache) / "root"
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        marker = Path(cache) / f"{name}.unpacked"
        if marker.exists():
            continue
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            got = _run(["apt-get", "download", name], cwd=tmp)
            if got.returncode != 0:
                _run(["apt-get", "update", "-qq"])
                got = _run(["apt-get", "download", name], cwd=tmp)
            debs = list(Path(tmp).glob("*.deb"))
            if got.returncode != 0 or not debs:
                raise RuntimeError(f"apt-get download {name} failed: {got.stderr.strip()}")
            for deb in debs:
                out = _run(["dpkg", "-x", str(deb), str(root)])
                if out.returncode != 0:
                    raise RuntimeError(f"dpkg -x {deb.name} failed: {out.stderr.strip()}")
        marker.write_text("ok\n")
    return root
