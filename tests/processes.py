"""Helpers of the tests that kill a running command at a chosen moment."""

import os
import signal
import subprocess


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the command's whole process group (it was started with start_new_session=True)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    proc.wait()
