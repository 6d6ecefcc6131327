import os
from pathlib import Path

import pytest

torch_threads = int(os.environ.get("MU2SLAM_TEST_THREADS", "2"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~30 s; deselect with -m 'not slow'")
    import torch

    torch.set_num_threads(torch_threads)


@pytest.fixture(scope="session")
def fillets_root() -> Path:
    """The unpacked Fish Fillets packages (real human speech, scripts in many languages).

    MU2SLAM_FILLETS_ROOT names an unpacked copy instead (a machine without network gets
    the part its tests read from tests/run_gpu.sh --pack)."""
    given = os.environ.get("MU2SLAM_FILLETS_ROOT")
    if given:
        return Path(given)
    from mu2slam_manifests.debian import fetch_packages

    root = fetch_packages(["fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl"])
    return root / "usr/share/games/fillets-ng"


@pytest.fixture(scope="session")
def default_corpus() -> Path:
    """The embedded default corpus (manifests, fbank80.zip, splits.json), built once.

    Kept in a cache folder (MU2SLAM_TEST_CORPUS, default ~/.cache/mu2slam/test-corpus) so
    later sessions only verify it; an incomplete or outdated build is redone. Concurrent
    sessions take turns through the builder's lock.
    """
    from mu2slam_manifests.debian import DEFAULT_CACHE
    from mu2slam_manifests.default_corpus import Options, build

    out = Path(os.environ.get("MU2SLAM_TEST_CORPUS", DEFAULT_CACHE.parent / "test-corpus"))
    build(Options(out=out, progress=False))
    return out
