"""`finetune.processes` / `--processes N`: the same LoRA job in 2 data-parallel CPU processes
(gloo, started by the parent through ranks.py). Real processes, the real SmolLM2 worker, 1
thread per rank, a few steps of 3 short examples.

What a user relies on: 2 processes train the same adapter as 1 (same global batch, same seed,
same number of optimizer steps), and a cancel or a dead CLI stops every rank (no orphans), with
the checkpoint and resume as for one process.
"""

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
from test_finetune_signals import _alive, _workers_of
from test_finetune_train import FINETUNE, write_data

from workbench.core.finetune import jobs
from workbench.core.finetune.train import TrainingRun, prepare_job

# batch_size 3 over 16 rows: the ranks' shares are 2 and 1 rows (so their gradients must be
# weighted by answer tokens, not averaged), and step 6 is the epoch's last row alone (rank 1
# has nothing to train on and still takes part in the all-reduce). No dropout: its random masks
# depend on how the batch is split, so they could not match.
PARALLEL = FINETUNE.replace("batch_size: 4", "batch_size: 3") + "  dropout: 0.0\n"


def _adapter(path: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "adapter_model.safetensors"))


@pytest.mark.slow
def test_two_processes_train_the_same_adapter_as_one(project_factory, tmp_path):
    project = project_factory(extra=PARALLEL)
    data = write_data(tmp_path / "quack.jsonl")
    outcomes, starts = {}, {}
    for processes in (1, 2):
        plan = prepare_job(project, override="CI: processes", data=data, steps=6)
        events: list[dict] = []
        outcome = TrainingRun(project, plan.job_id, on_event=events.append, processes=processes).run()
        assert outcome.status == "done", outcome.error
        outcomes[processes], starts[processes] = outcome, events[0]
        assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 7))
        # Rank 0 alone wrote progress: one line per step, one start, one done.
        assert sum(e["event"] == "start" for e in events) == 1 and events[-1]["event"] == "done"
    assert starts[2]["processes"] == 2 and starts[2]["threads"] == 1 and starts[1]["processes"] == 1
    one, two = outcomes[1], outcomes[2]
    # The loss each step reports is the whole batch's, summed over the ranks.
    for a, b in zip(one.loss_curve, two.loss_curve, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5)
    assert two.heldout_loss == pytest.approx(one.heldout_loss, rel=1e-4)
    a, b = _adapter(one.adapter_path), _adapter(two.adapter_path)
    assert a.keys() == b.keys() and len(a) == 120  # 30 layers x q_proj, v_proj x A, B
    # Tolerance: the relative distance of all adapter weights together below 1e-3. Float sums
    # in another order (each rank's own matmuls over its own padding, then gloo's all-reduce of
    # the two halves) differ in the last bits, and Adam's first steps move each weight by about
    # lr * sign(gradient), so a weight whose gradient is near zero can flip: measured 2.2e-5
    # overall (3e-4 for the worst single weight). Averaging the ranks' losses instead of
    # weighting them by answer tokens (plain DDP) measured 0.12; a lost or doubled row is as far.
    num = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)
    den = sum(float((a[k] ** 2).sum()) for k in a)
    distance = (num / den) ** 0.5
    assert distance < 1e-3, distance
    assert max(float(v.abs().max()) for v in b.values()) > 1e-3  # trained, not left at zero
    assert jobs.get_job(project.store, two.job_id)["config"]["processes"] == 2
    folder = jobs.job_dir(project, two.job_id)
    assert (folder / "worker.rank1.log").is_file()


def _train_cli(project, data: Path, steps: int, *extra: str) -> subprocess.Popen:
    return train_cli(project, data, steps, "CI: processes", *extra)


@pytest.mark.slow
def test_sigterm_stops_every_rank_at_one_checkpoint_and_resume_finishes(project_factory, tmp_path):
    project = project_factory(extra=PARALLEL)
    data = write_data(tmp_path / "quack.jsonl")
    proc = _train_cli(project, data, 5, "--processes", "2")
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1].get("event") == "step":
            break
    ranks = _workers_of(proc.pid)
    assert len(ranks) == 2, ranks
    proc.send_signal(signal.SIGTERM)  # the CLI alone: it must stop both ranks
    rest, err = proc.communicate(timeout=120)
    final = json.loads(rest.strip().splitlines()[-1])
    assert proc.returncode == 143, err
    assert final["status"] == "interrupted" and final["checkpoint"] and 1 <= final["step"] < 5, final
    assert not [pid for pid in ranks if _alive(pid)], "a rank outlived the cancelled run"
    state = json.loads((Path(final["checkpoint"]) / "state.json").read_text())
    assert state["step"] == final["step"]

    resumed = _train_cli(project, data, 5, "--resume", str(final["job"]), "--processes", "2")
    out, err = resumed.communicate(timeout=300)
    events = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert resumed.returncode == 0, (out, err)
    assert events[0]["event"] == "start" and events[0]["start_step"] == final["step"]
    assert events[0]["processes"] == 2
    assert [e["step"] for e in events if e.get("event") == "step"] == list(range(final["step"] + 1, 6))
    assert events[-1]["status"] == "done" and events[-1]["adapter"]
    row = jobs.get_job(project.store, final["job"])
    assert [p["step"] for p in row["loss_curve"]] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_kill_9_of_the_cli_takes_every_rank_with_it(project_factory, tmp_path):
    project = project_factory(extra=PARALLEL)
    proc = _train_cli(project, write_data(tmp_path / "quack.jsonl"), 200, "--processes", "2")
    ranks: list[int] = []
    deadline = time.monotonic() + 120
    while len(ranks) < 2 and time.monotonic() < deadline and proc.poll() is None:
        ranks = _workers_of(proc.pid)
        time.sleep(0.05)
    assert len(ranks) == 2, proc.communicate()[1]
    time.sleep(0.5)  # loading torch and the model, or joining the gloo group
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    started = time.monotonic()
    while any(_alive(pid) for pid in ranks) and time.monotonic() - started < 20:
        time.sleep(0.05)
    assert not [pid for pid in ranks if _alive(pid)], "a rank outlived its parent"
    assert time.monotonic() - started < 5


def test_processes_is_checked_in_workbench_yaml_and_on_the_command_line(project_factory, tmp_path, capsys):
    from fixtures_project import write_project

    from workbench.cli import main
    from workbench.core.errors import WorkbenchError
    from workbench.core.project import Project

    root = write_project(tmp_path / "bad", extra="finetune:\n  rank: 4\n  processes: 0\n")
    with pytest.raises(WorkbenchError, match=r"workbench.yaml:\d+: finetune.processes must be a positive"):
        Project.open(root)
    project = project_factory(extra=PARALLEL + "  processes: 2\n")
    assert project.config.finetune.processes == 2
    assert project.config.finetune.lora_dict()["processes"] == 2  # handed to the worker with the job
    data = write_data(tmp_path / "quack.jsonl")
    code = main(
        [
            "--project",
            str(project.root),
            "finetune",
            "train",
            "--override",
            "CI",
            "--data",
            str(data),
            "--processes",
            "0",
        ]
    )
    assert code == 2 and "--processes must be at least 1" in capsys.readouterr().err
    assert project.store.rows("finetune_jobs") == []  # refused before a job row exists


def test_threads_are_shared_between_processes_and_ranks_get_torchrun_variables(monkeypatch):
    from workbench.core.finetune.ranks import rank_envs
    from workbench.core.finetune.train import resolve_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 9)
    assert [resolve_threads(None, n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert resolve_threads(3, 2) == 3  # an explicit finetune.threads is per process
    envs = rank_envs({"PATH": "/bin", "RANK": "5", "WORLD_SIZE": "8"}, 2)
    assert [(e["RANK"], e["LOCAL_RANK"], e["WORLD_SIZE"]) for e in envs] == [("0", "0", "2"), ("1", "1", "2")]
    assert envs[0]["MASTER_ADDR"] == "127.0.0.1" and envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"]
    # One process joins no group, even when the CLI itself runs under torchrun.
    assert rank_envs({"PATH": "/bin", "RANK": "5", "WORLD_SIZE": "8"}, 1) == [{"PATH": "/bin"}]
