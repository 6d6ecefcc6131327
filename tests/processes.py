"""Helpers of the tests that run commands: reading a training's log, killing a command
at a chosen moment."""

import json
import os
import re
import signal
import subprocess
from typing import Dict, List


def train_inner(log: str) -> List[Dict]:
    """The per-update records of a ``fairseq-train --log-format json`` log, in order."""
    return [
        json.loads(re.search(r"\{.*\}", line).group(0))
        for line in log.splitlines()
        if "train_inner" in line
    ]


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the command's whole process group (it was started with start_new_session=True)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    proc.wait()
