"""`workbench finetune`'s CLI-only text: the resume line, a refused guard, and the JSON objects
of `train` and `eval` (the text both the CLI and the Fine-tune tab show is in present/finetune.py)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.present import finetune as present
from workbench.present.terminal import print_lines


def resume_line(job_id: int, from_checkpoint: bool, step: int) -> Text:
    return Text(f"resuming job f{job_id} from its checkpoint at step {step}" if from_checkpoint
                else f"starting job f{job_id} (prepared earlier, no checkpoint yet) from step 0")


def print_refused(report: Any, err: Console, *, as_json: bool) -> None:
    """The guard refused a training: its report, then why nothing was trained."""
    if as_json:
        print(json.dumps({"refused": True, "guard": report.to_dict()}, ensure_ascii=False))
    else:
        print_lines(err, [*present.guard_texts(report), Text(), Text(present.REFUSED, "bold red")])


def train_json(job_id: int, outcome: Any) -> str:
    curve = outcome.loss_curve
    return json.dumps({
        "job": job_id, "status": outcome.status, "step": outcome.step,
        "total_steps": outcome.total_steps, "adapter": outcome.adapter_path,
        "checkpoint": outcome.checkpoint_path, "error": outcome.error,
        "error_kind": outcome.error_kind,
        "loss_first": curve[0]["loss"] if curve else None,
        "loss_last": curve[-1]["loss"] if curve else None,
    })


def eval_json(result: Any) -> str:
    d = result.as_dict()
    d["diff"] = result.diff.to_dict(only="changed") if result.diff is not None else None
    return json.dumps(d, ensure_ascii=False, default=str)
