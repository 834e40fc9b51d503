"""SIGTERM ends `finetune eval` with 143 (not Ctrl-C's 130), so a CI runner can tell a timeout
from a user's Ctrl-C. The signal is real (sent to this process inside the CLI's handler);
the adapter evaluation is a stand-in that waits, since loading a real adapter takes minutes."""

from __future__ import annotations

import asyncio
import os
import signal

from workbench.cli import main
from workbench.core.finetune import jobs


async def _evaluate_until_killed(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # arrives while the eval is running, as `kill PID` would
    await asyncio.sleep(30)
    raise AssertionError("SIGTERM did not stop the eval")


def test_sigterm_stops_finetune_eval_with_143(sample_project, monkeypatch, capsys):
    """Before: `finetune eval` returned 130 after SIGTERM, the code for Ctrl-C."""
    project = sample_project
    job = jobs.create_job(
        project.store, base_model="embedded", signal="format", config={}, guard_report={}, override_reason=None
    )
    jobs.update_job(project.store, job, {"status": "done"})
    monkeypatch.setattr("workbench.core.finetune.evaluate.evaluate_job", _evaluate_until_killed)
    assert main(["--project", str(project.root), "finetune", "eval", str(job)]) == 143
    assert "stopped by SIGTERM: the finished cases are kept" in capsys.readouterr().err
