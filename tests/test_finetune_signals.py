"""Stopping `finetune train` from outside: SIGTERM to the CLI alone (a CI timeout, `kill PID`)
checkpoints and stores the job `interrupted` with exit 143; kill -9 of the CLI takes the
training worker with it at once (before: it trained on alone for ~25 s, and a `--resume` in
that time would have found it still writing). Real processes, the real SmolLM2 worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_finetune import train_cli
from test_finetune_train import FINETUNE, write_data

from workbench.core.finetune import jobs
from workbench.core.finetune.train import TrainingRun

pytestmark = pytest.mark.slow


def _train(project, data: Path, steps: int) -> subprocess.Popen:
    return train_cli(project, data, steps, "CI: signals")


def _workers_of(pid: int) -> list[int]:
    """The training workers started by process `pid` (every rank; not any other helper it runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"train_worker" in cmdline:
                found.append(int(entry.name))
    return sorted(found)


def _worker_of(pid: int) -> int | None:
    """The training worker started by process `pid` (one process: one worker)."""
    return next(iter(_workers_of(pid)), None)


def _wait_for_worker(proc: subprocess.Popen) -> int:
    """The worker's pid as soon as the CLI has started it (polled every 20 ms)."""
    worker = None
    deadline = time.monotonic() + 120
    while worker is None and time.monotonic() < deadline and proc.poll() is None:
        worker = _worker_of(proc.pid)
        time.sleep(0.02)
    assert worker is not None, proc.communicate()[1]
    return worker


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_to_the_cli_checkpoints_stores_interrupted_and_exits_143(project_factory, tmp_path):
    project = project_factory(extra=FINETUNE)
    proc = _train(project, write_data(tmp_path / "quack.jsonl"), steps=50)
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1].get("event") == "step":
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # the CLI only, not its process group: it must tell the worker
    rest, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - started
    final = json.loads(rest.strip().splitlines()[-1])
    assert proc.returncode == 143, err
    assert seconds < 10, f"took {seconds:.1f} s"
    assert final["status"] == "interrupted" and final["checkpoint"], final
    assert 1 <= final["step"] < 50
    job = jobs.get_job(project.store, final["job"])
    assert job["status"] == "interrupted" and job["checkpoint_path"]
    run = TrainingRun(project, final["job"], resume=True)  # resumable from that checkpoint
    assert run.resume and run.step == final["step"]


def test_kill_9_of_the_cli_stops_the_worker_at_once(project_factory, tmp_path):
    project = project_factory(extra=FINETUNE)
    proc = _train(project, write_data(tmp_path / "quack.jsonl"), steps=200)
    worker = _wait_for_worker(proc)
    time.sleep(0.5)  # the worker is loading torch and the model now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    started = time.monotonic()
    while _alive(worker) and time.monotonic() - started < 20:
        time.sleep(0.05)
    seconds = time.monotonic() - started
    assert not _alive(worker), "the training worker outlived its parent"
    assert seconds < 3, f"the worker ran {seconds:.1f} s after its parent died"
    job = project.store.rows("finetune_jobs")[-1]
    log = (jobs.job_dir(project, job["id"]) / "worker.log").read_text()
    # A worker still importing torch (a loaded machine) dies of the death signal before its
    # handler exists and writes nothing; one that got further says why it stopped.
    assert not log or f"parent process {proc.pid} is gone" in log, log


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.2])
def test_sigterm_to_the_worker_while_it_imports_torch_cancels_cleanly(project_factory, tmp_path, delay):
    """A stop that lands inside torch's import (C++ frames under Python) must not abort the
    worker with "terminate called ... error_already_set": it reports `cancelled` and exits 0."""
    project = project_factory(extra=FINETUNE)
    proc = _train(project, write_data(tmp_path / "quack.jsonl"), steps=200)
    worker = _wait_for_worker(proc)
    time.sleep(delay)
    os.kill(worker, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    job = project.store.rows("finetune_jobs")[-1]
    log = (jobs.job_dir(project, job["id"]) / "worker.log").read_text()
    assert "terminate called" not in log and "Traceback" not in log, log
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events and events[-1]["status"] in ("cancelled", "interrupted"), (events, err)
    assert job["status"] in ("cancelled", "interrupted"), job
