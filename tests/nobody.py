"""Run a command as an unprivileged user, so file permissions apply (root ignores them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_as_nobody(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`cmd` as user 65534 when this is root (via setpriv; skips the test without it), else as
    is; the repository is on PYTHONPATH."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be exercised")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
