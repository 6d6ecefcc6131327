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
    """The unpacked Fish Fillets packages (real human speech, scripts in many languages)."""
    from mu2slam_manifests.debian import fetch_packages

    root = fetch_packages(["fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl"])
    return root / "usr/share/games/fillets-ng"
