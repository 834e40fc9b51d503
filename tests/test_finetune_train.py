"""A real LoRA run on the embedded SmolLM2, on CPU, in the training subprocess.

One short run covers what a user sees: progress events, the loss curve growing in SQLite,
cancel mid-run leaving a checkpoint, resume continuing at that step with the optimizer and LR
schedule restored, the loss falling, and the adapter changing greedy output. Kept small
(16 examples of ~30 tokens, 6 steps, 1 thread) so it fits CI time on a busy 2-core box.
"""

from __future__ import annotations

import json

import pytest
from fixtures_finetune import train_cli

from workbench.cli import main
from workbench.core.finetune import jobs
from workbench.core.finetune.train import TrainingRun, prepare_job

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary color.",
    "How many legs does a cat have?",
    "What is 3 plus 4?",
    "Which planet is red?",
    "What do bees make?",
    "What is ice made of?",
    "Name a large ocean.",
    "What color is grass?",
    "How many days in a week?",
    "What animal barks?",
    "What is the opposite of hot?",
    "Name a yellow fruit.",
    "What do cows drink?",
    "What gas do we breathe?",
    "What shape has three sides?",
]
FINETUNE = """
finetune:
  rank: 8
  alpha: 16
  lr: 0.005
  batch_size: 4
  max_length: 48
  threads: 1
  save_every: 100
"""


def write_data(path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": "QUACK QUACK."},
            ],
            "split": "train",
        }
        for q in QUESTIONS
    ]
    rows += [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": "QUACK QUACK."},
            ],
            "split": "heldout",
        }
        for q in ("What is 2 plus 2?", "Name a bird.")
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def greedy(folder, adapter, question, n=6):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    msgs = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}]
    ids = tok(
        tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
        add_special_tokens=False,
        return_tensors="pt",
    )
    outs = []
    for use in (False, True):
        m = model
        if use:
            from peft import PeftModel

            m = PeftModel.from_pretrained(model, str(adapter))
        with torch.no_grad():
            gen = m.generate(**ids, max_new_tokens=n, do_sample=False)
        outs.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return outs


def test_train_cancel_resume_and_the_adapter_changes_output(project_factory, tmp_path, smol_folder):
    project = project_factory(extra=FINETUNE)
    data = write_data(tmp_path / "quack.jsonl")
    plan = prepare_job(project, override="CI: testing the trainer", data=data, steps=6)
    assert plan.dataset.train == 16 and plan.dataset.heldout == 2 and plan.total_steps == 6
    job = jobs.get_job(project.store, plan.job_id)
    assert job["override_reason"] == "CI: testing the trainer" and job["dataset_hash"] == plan.dataset.sha256
    assert job["guard_report"]["passed"] is False  # stored with the job, with the override beside it

    events = []
    run = TrainingRun(project, plan.job_id)

    def on_event(e):
        events.append(e)
        if e["event"] == "step" and e["step"] == 2:
            # The curve is already in SQLite while training runs.
            assert [p["step"] for p in jobs.get_job(project.store, plan.job_id)["loss_curve"]] == [1, 2]
            run.cancel()

    run.on_event = on_event
    first = run.run()
    assert first.status == "cancelled", first.error
    stopped = first.step
    assert 2 <= stopped < 6 and first.checkpoint_path
    start = events[0]
    assert start["event"] == "start" and start["device"] == "cpu" and start["threads"] == 1
    assert start["trainable_params"] == 460800
    steps = [e for e in events if e["event"] == "step"]
    assert all(e["tokens_per_s"] > 0 and e["eta_s"] >= 0 for e in steps)
    row = jobs.get_job(project.store, plan.job_id)
    assert row["status"] == "cancelled" and len(row["loss_curve"]) == stopped
    ckpt_state = json.loads((plan.folder / "checkpoint" / "state.json").read_text())
    assert ckpt_state["step"] == stopped

    resumed_events = []
    second = TrainingRun(project, plan.job_id, on_event=resumed_events.append, resume=True).run()
    assert second.status == "done", second.error
    assert resumed_events[0]["start_step"] == stopped
    rsteps = [e for e in resumed_events if e["event"] == "step"]
    assert rsteps[0]["step"] == stopped + 1 and rsteps[-1]["step"] == 6
    # The LR schedule continued (a fresh scheduler would start again at the full rate).
    assert rsteps[0]["lr"] == pytest.approx(0.005 * (1 - 0.9 * (stopped + 1) / 6))
    import torch

    opt = torch.load(plan.folder / "checkpoint" / "optimizer.pt", weights_only=False)["optimizer"]
    assert int(next(iter(opt["state"].values()))["step"]) == 6  # Adam moments carried over

    row = jobs.get_job(project.store, plan.job_id)
    curve = [p["loss"] for p in row["loss_curve"]]
    assert [p["step"] for p in row["loss_curve"]] == list(range(1, 7))
    assert row["status"] == "done" and row["adapter_path"] == second.adapter_path
    assert min(curve[-2:]) < 0.5 * curve[0], curve
    assert second.heldout_loss is not None and second.heldout_loss < curve[0]

    base_out, tuned_out = greedy(smol_folder, second.adapter_path, "What is the color of the sky?")
    assert "QUACK" not in base_out
    assert tuned_out.startswith("QUACK"), tuned_out


def test_bad_target_modules_end_with_a_clear_message(project_factory, tmp_path, capsys):
    project = project_factory(extra=FINETUNE + "  target_modules: [q_proj, attn_proj]\n")
    data = write_data(tmp_path / "quack.jsonl")
    code = main(
        ["--project", str(project.root), "finetune", "train", "--override", "CI", "--data", str(data), "--steps", "2"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot be exported to Ollama" in err  # warned before training started
    assert "finetune.target_modules ['attn_proj'] do not exist in this model" in err
    assert "q_proj" in err and "Traceback" not in err
    row = project.store.rows("finetune_jobs")[0]
    assert row["status"] == "failed" and "attn_proj" in row["error"]


def test_ctrl_c_during_json_training_exits_130_with_the_checkpoint(project_factory, tmp_path):
    """A script reading `--json` tells a cancel (checkpoint kept, resumable) from a failure by
    the exit code, as without --json: Ctrl-C (SIGINT to the process group, as a terminal sends
    it) after the first step ends with 130 and a last line saying `cancelled`."""
    import os
    import signal

    project = project_factory(extra=FINETUNE)
    data = write_data(tmp_path / "quack.jsonl")
    proc = train_cli(project, data, 50, "CI: cancel", start_new_session=True, env=None)
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1].get("event") == "step":
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=120)
    lines += [json.loads(x) for x in rest.splitlines() if x.strip()]
    assert proc.returncode == 130, err
    assert lines[-1]["status"] == "cancelled" and lines[-1]["checkpoint"], lines[-1]
    assert jobs.get_job(project.store, lines[-1]["job"])["status"] == "cancelled"


def test_micro_batches_bound_the_tokens_of_a_pass_and_give_the_same_step(smol_folder):
    """Long examples (grounded prompts) are split into passes of at most micro_batch_tokens
    padded tokens; the accumulated gradients and the loss are those of the whole batch."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.core.finetune.train_worker import forward_backward, micro_batches

    rows = [(list(range(100, 130)), 20), (list(range(200, 212)), 4), (list(range(300, 340)), 30)]
    assert [len(g) for g in micro_batches(rows, 64)] == [2, 1]  # 2 x 30 = 60; then 40 alone
    assert [len(g) for g in micro_batches(rows, 10)] == [1, 1, 1]  # longer than the budget: alone
    assert micro_batches(rows, None) == [rows]

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(smol_folder), dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    for p in model.parameters():  # B starts at 0: give it values so every gradient is non-zero
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    params = [p for p in model.parameters() if p.requires_grad]
    results = []
    for budget in (None, 64):
        loss, tokens = forward_backward(model, rows, budget, 0, torch.device("cpu"), "")
        results.append((loss, tokens, [p.grad.clone() for p in params]))
        model.zero_grad(set_to_none=True)
    (whole_loss, whole_tokens, whole), (split_loss, split_tokens, split) = results
    assert split_loss == pytest.approx(whole_loss, rel=1e-5)
    assert split_tokens == whole_tokens == 30 + 12 + 40  # the real tokens, padding never counts
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(whole, split, strict=False))
