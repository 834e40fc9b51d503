"""Fine-tune text for the CLI and the Fine-tune tab: the guard report, training progress, the
adapter's eval, exports and jobs. Core keeps the evidence and verdicts; this turns them into
words once, so `finetune check` and the tab's checklist cannot drift apart.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from rich.console import Console
from rich.style import Style
from rich.text import Text

from workbench.core.finetune.guard import WARNING, GuardReport, Rule
from workbench.core.finetune.jobs import export_dropped, exports, loss_points
from workbench.core.records import FinetuneJob
from workbench.core.store import as_dict
from workbench.present.evals import diff_texts, safe, stats_line, text
from workbench.present.finetune_guard import worded
from workbench.present.finetune_jobs import job_lines, job_summary
from workbench.present.numbers import eta, pct

RESUMABLE = ("cancelled", "interrupted")
# One mark per rule state: the CLI's bracketed word, the tab's shape (each readable without colour).
CLI_MARK = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}
MARK = {"pass": "✓", "fail": "✗", "warn": "⚠"}
CLI_STYLE = {"pass": "green", "fail": "red", "warn": "yellow"}
VERDICT_SHORT = {
    "improvement": "▲ better",
    "regression": "▼ worse",
    "no significant change": "= noise",
    "no baseline": "– no base",
}
VERDICT_WORDS = {
    "improvement": "an improvement (the statistics say so)",
    "regression": "a regression: the adapter is worse than the best variant",
    "no significant change": "not an improvement: the difference could be noise",
    "no baseline": "not judged: no non-fine-tuned run to compare with",
}
REFUSED = (
    'refused: the evidence does not justify a fine-tune yet. To train anyway: workbench finetune train --override "why"'
)
_WARNING_JOIN = " But read the warning: "


# --------------------------------------------------------------------------- guard


class RuleRow(NamedTuple):
    """One checklist row, the same facts for both surfaces: state, name, numbers, next step."""

    state: str  # pass | fail | warn
    name: str
    summary: str
    next_step: str | None  # only for a rule that does not pass


def rule_state(rule: Rule) -> str:
    """pass | fail | warn (a warning never blocks training)."""
    if rule.passed:
        return "pass"
    return "warn" if rule.severity == WARNING else "fail"


def guard_rows(report: GuardReport, *, tui: bool = False) -> list[RuleRow]:
    """The rules in order; `tui` takes the next step in the tab's words where they differ."""
    rows = []
    for rule in worded(report).rules:
        step = (rule.tui_step if tui else None) or rule.next_step
        rows.append(
            RuleRow(rule_state(rule), rule.name, safe(rule.summary), None if rule.passed or not step else safe(step))
        )
    return rows


def lead_resolution(report: GuardReport) -> str | None:
    """The resolution line `finetune check` leads with when the plateau rule blocks (a verdict
    on a ceiling means little without what the set can resolve); None when the guard passes,
    the plateau holds, or the advice already says it: it leads with the plateau's "cannot tell"
    step, which names the resolution (a stored report without rule kinds: read from its words)."""
    plateau = next((r for r in report.rules if r.name == "plateau"), None)
    if report.passed or report.resolution is None or plateau is None or plateau.passed:
        return None
    if plateau.kind:
        said = report.lead == "plateau" and plateau.kind == "plateau.cannot tell"
    else:
        said = any(w in report.advice for w in ("resolves ±", "too small to resolve"))
    return None if said else f"Resolution: {report.resolution}"


def guard_texts(report: GuardReport) -> list[Text]:
    """`finetune check`: the resolution (when the plateau blocks), the advice, then `[PASS] rule: …`."""
    report = worded(report)
    lead = lead_resolution(report)
    out = [text(lead, "bold")] if lead else []
    out += [text(report.advice, "bold green" if report.passed else "bold red"), Text()]
    for row in guard_rows(report):
        line = Text(f"[{CLI_MARK[row.state]}] ", style=CLI_STYLE[row.state])
        line.append(f"{row.name}: {row.summary}")
        out.append(line)
        if row.next_step:
            out.append(Text(f"       next: {row.next_step}", style="dim"))
    return out


def lead_advice(report: GuardReport) -> str:
    """The tab's advice sentence (Evals tab, F3, ctrl+r where the CLI says `workbench eval run`);
    when the warning band shows the warning, it is not repeated here."""
    report = worded(report)
    advice = report.tui_advice or report.advice or ""
    if report.warnings and _WARNING_JOIN in advice:
        advice = advice.split(_WARNING_JOIN, 1)[0]
    return safe(advice)


def warning_text(report: GuardReport) -> str:
    """One paragraph per warning rule (the next step is in the checklist)."""
    return "\n".join(f"⚠ Warning ({rule.name}): {safe(rule.summary)}" for rule in worded(report).warnings)


def checklist(report: GuardReport, styles: dict[str, Style]) -> Text:
    """The tab's checklist: each rule's mark, name and numbers, the next step under a failing one."""
    out = Text()
    for i, row in enumerate(guard_rows(report, tui=True)):
        if i:
            out.append("\n")
        out.append(f"{MARK[row.state]} ", styles.get(row.state, ""))
        out.append(f"{row.name}: ", styles.get("name", ""))
        out.append(row.summary)
        if row.next_step:
            out.append("\n    next: ", styles.get("next", ""))
            out.append(row.next_step, styles.get("next", ""))
    return out


# --------------------------------------------------------------------------- training


def loss_span(curve: list[dict[str, Any]]) -> str:
    """`5.353 → 0.412`: first and last loss, or `–` before the first step."""
    if not curve:
        return "–"
    return f"{curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}"


def start_line(event: dict[str, Any]) -> str:
    """`training on cpu (2 threads), 1,234 trainable parameters, 8 examples, steps 0→20`."""
    ranks = event.get("processes") or 1
    where = (
        f"{ranks} processes on {event['device']}, {event['threads']} threads each"
        if ranks > 1
        else f"{event['device']} ({event['threads']} threads)"
    )
    return (
        f"training on {where}, {event['trainable_params']:,} trainable parameters, "
        f"{event['examples']} examples, steps {event['start_step']}→{event['total_steps']}"
    )


def step_info(event: dict[str, Any]) -> str:
    """`loss 2.9120  108 tok/s  ETA 24s` for one step event (the speed once it is known)."""
    tps = event.get("tokens_per_s")
    if not tps:
        return f"loss {event['loss']:.4f}"
    return f"loss {event['loss']:.4f}  {tps:.0f} tok/s  ETA {eta(event.get('eta_s'))}"


def plan_texts(plan: Any, override: str | None) -> list[Text]:
    """What `finetune train` says before the first step: the dataset, the steps, skips, warnings."""
    out = [text(f"guard overridden: {override}", "yellow")] if override else []
    ds = plan.dataset
    out.append(
        text(
            f"job f{plan.job_id}: {ds.train} train / {ds.heldout} held-out examples "
            f"({ds.answer_tokens} answer tokens), dataset sha256 {ds.sha256[:12]}…, "
            f"{plan.total_steps} steps on {plan.base.spec} ({plan.base.model_type})"
        )
    )
    out += [text(f"skipped {skipped}", "dim") for skipped in ds.skipped[:5]]
    return out + [text(f"warning: {w}", "yellow") for w in plan_warnings(plan)]


def plan_warnings(plan: Any) -> list[str]:
    """The plan's warnings in order: its own, the knowledge rule's (from the guard report, on the
    targets actually trained on), then the dataset's."""
    warnings: list[str] = plan.warnings
    own = warnings[: len(warnings) - len(plan.dataset.warnings)]
    knowledge = [rule.summary for rule in worded(plan.guard).warnings if rule.name == "knowledge"]
    return own + knowledge + warnings[len(own) :]


def progress_line(job_id: int, event: dict[str, Any] | None, curve: list[dict[str, Any]], total: int | None) -> str:
    """The tab's status: `f3 · step 3/20 · loss 5.353 → 2.912 · 108 tok/s · ETA 24s`."""
    step = curve[-1]["step"] if curve else 0
    parts = [f"f{job_id}", f"step {step}/{total or '?'}", f"loss {loss_span(curve)}"]
    if event and event.get("event") == "step":
        tps = event.get("tokens_per_s")
        if tps:
            parts.append(f"{tps:.0f} tok/s")
        parts.append(f"ETA {eta(event.get('eta_s'))}")
    return " · ".join(parts)


def outcome_line(outcome: Any) -> str:
    """The tab's sentence about how a training run ended, and what to do next."""
    curve = outcome.loss_curve
    loss = f", loss {loss_span(curve)}" if curve else ""
    if outcome.status == "done":
        held = f", held-out loss {outcome.heldout_loss:.3f}" if outcome.heldout_loss is not None else ""
        return (
            f"f{outcome.job_id} done: {outcome.step}/{outcome.total_steps} steps{loss}{held}. "
            "In Jobs (ctrl+l): e evaluates the adapter, x exports it."
        )
    if outcome.status == "cancelled":
        where = (
            f"checkpoint kept at step {outcome.step}"
            if outcome.checkpoint_path
            else "stopped before the first checkpoint"
        )
        return f"f{outcome.job_id} cancelled: {where}{loss}. Select it in Jobs and ctrl+e resumes."
    return f"f{outcome.job_id} failed: {safe(outcome.error)}"


def next_after_training(job: FinetuneJob) -> str:
    """`finetune eval` runs adapters on the embedded model only; an adapter on a local (llama
    or gemma2) folder is judged through its export."""
    base = as_dict(as_dict(job.get("config")).get("base"))
    if base.get("spec", "embedded") == "embedded":
        return f"workbench finetune eval {job['id']}"
    return (
        f"workbench finetune export {job['id']} --name NAME, then workbench eval run --model ollama:NAME "
        "(the workbench runs adapters only on the embedded model)"
    )


def train_result(job_id: int, outcome: Any, job: FinetuneJob) -> tuple[Text, Text | None]:
    """`finetune train`'s last words: (the line, the next step when the job is done)."""
    if outcome.status == "done":
        loss = f", loss {loss_span(outcome.loss_curve)}" if outcome.loss_curve else ""
        return (
            text(f"job f{job_id} done{loss}; adapter in {outcome.adapter_path}", "bold green"),
            text(f"next: {next_after_training(job)}"),
        )
    if outcome.status in RESUMABLE:  # Ctrl-C | SIGTERM
        where = f" at step {outcome.step}" if outcome.checkpoint_path else " before the first checkpoint"
        how = "cancelled" if outcome.status == "cancelled" else "stopped by SIGTERM"
        return text(
            f"{how}{where}; checkpoint kept. Continue with: workbench finetune train --resume {job_id}", "yellow"
        ), None
    return text(f"job f{job_id} failed: {outcome.error}", "bold red"), None


class TrainingProgress:
    """`finetune train` progress on stderr: a Rich bar on a terminal, one line per step otherwise,
    JSON lines on stdout with --json."""

    def __init__(self, as_json: bool, err: Console | None = None) -> None:
        self.as_json = as_json
        self.err = err or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.tty = sys.stderr.isatty() and not as_json
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        import json

        kind = event.get("event")
        if self.as_json:
            print(json.dumps(event), flush=True)
        elif kind == "start":
            self.err.print(text(start_line(event)))
            if self.tty:
                from workbench.present.progress import progress_bar

                self.bar = progress_bar(self.err, "info", count=True, transient=False)
                self.bar.start()
                self.task = self.bar.add_task(
                    "LoRA", total=event["total_steps"], completed=event["start_step"], info="loading"
                )
        elif kind == "step":
            if self.bar is not None:
                self.bar.update(self.task, completed=event["step"], info=step_info(event))
            else:
                self.err.print(text(f"step {event['step']}/{event['total_steps']}  {step_info(event)}"))
        elif kind == "checkpoint" and self.bar is None:
            self.err.print(text(f"checkpoint at step {event['step']}", "dim"))
        elif kind == "heldout":
            self.stop()
            self.err.print(text(f"held-out loss {event['loss']:.4f}"))
        elif kind in ("done", "cancelled", "error"):
            self.stop()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# --------------------------------------------------------------------------- the adapter's eval


def adapter_headline(result: Any) -> str:
    """`adapter of job f3: run e12, pass rate 75%`."""
    rate = result.summary.get("pass_rate")
    return f"adapter of job f{result.job_id}: run e{result.run_id}, pass rate {'n/a' if rate is None else pct(rate)}"


def adapter_eval_texts(result: Any, *, plain: bool) -> list[Text]:
    """`finetune eval`: the headline, the changed cases, the held-out cases, notes, the verdict."""
    out = [text(adapter_headline(result))]
    if result.diff is not None:
        out += diff_texts(result.diff, only="changed", limit=15, plain=plain)
    if result.heldout:
        out.append(text(f"held-out cases only ({result.heldout['n']}): {result.heldout['words']}"))
    out += [text(f"note: {note}", "yellow") for note in result.notes]
    style = "bold green" if result.improvement else "bold yellow"
    return out + [text(f"verdict: {VERDICT_WORDS[result.verdict]}", style)]


def eval_result_lines(result: Any) -> list[str]:
    """The tab's activity lines for the same eval: the verdict with its statistics."""
    lines = [f"{adapter_headline(result)} — verdict: {VERDICT_WORDS[result.verdict]}"]
    if result.diff is not None:
        lines.append(f"vs e{result.baseline_run_id}: {stats_line(result.diff)}")
    else:
        lines.append(safe(result.words))
    if result.heldout:
        lines.append(f"held-out cases only ({result.heldout['n']}): {safe(result.heldout['words'])}")
    return lines + [f"note: {safe(n)}" for n in result.notes]


# --------------------------------------------------------------------------- export


def export_result_lines(result: Any) -> list[str]:
    """`finetune export` and the tab's activity line: where, what was created, how it scored."""
    lines = [f"exported job f{result.job_id} to {safe(result.folder)} (Modelfile: FROM {safe(result.base)} + ADAPTER)"]
    if result.created:
        lines.append(f"created ollama:{safe(result.name)} (Ollama {safe(result.ollama)})")
    if result.eval and not result.eval.get("drop") and result.eval.get("words"):
        lines.append(safe(result.eval["words"]))
    return lines + [f"warning: {safe(w)}" for w in result.warnings]


def export_texts(result: Any) -> list[Text]:
    """The export lines styled for a terminal (created in green, warnings in yellow)."""
    styles = {"created ": "bold green", "warning: ": "yellow"}
    return [
        Text(line, style=next((s for p, s in styles.items() if line.startswith(p)), ""))
        for line in export_result_lines(result)
    ]


# --------------------------------------------------------------------------- jobs


def job_list_lines(rows: list[FinetuneJob]) -> list[str]:
    """`finetune jobs`: one line per job, newest first, its date in front."""
    if not rows:
        return ["No fine-tune jobs yet. Start with: workbench finetune check"]
    return [safe(f"{row['created_at'][:19].replace('T', ' ')}  " + job_summary(row)) for row in rows]


def job_detail(job: FinetuneJob) -> list[str]:
    """Everything stored about a job: `finetune show`, `runs show fN` and the tab read alike."""
    return [safe(line) for line in job_lines(job)]


def eval_short(job: FinetuneJob) -> str:
    ev = as_dict(job.get("config")).get("eval")
    if not isinstance(ev, dict):
        return ""
    return VERDICT_SHORT.get(ev.get("verdict") or "", safe(ev.get("verdict")))


def export_short(job: FinetuneJob) -> str:
    """The newest export: `quack ✓` created, `DROP quack` when the exported model scored below
    the adapter (first, so a narrow column cannot cut it off), the bare name for a folder only."""
    done = exports(job)
    if not done:
        return ""
    exp = done[-1]
    if exp.get("created") and export_dropped(exp):
        return "DROP " + safe(exp["name"])
    return safe(exp["name"]) + (" ✓" if exp.get("created") else "")


def job_row(job: FinetuneJob) -> list[str]:
    """The jobs table's cells: job, status, steps, loss first → last, override mark, eval, export."""
    curve = loss_points(job)
    total = as_dict(job.get("config")).get("total_steps")
    step = curve[-1]["step"] if curve else 0
    return [
        f"f{job['id']}",
        safe(job.get("status")),
        f"{step}/{total or '?'}",
        loss_span(curve),
        "⚑" if job.get("override_reason") else "",
        eval_short(job),
        export_short(job),
    ]


def job_hint(job: FinetuneJob | None) -> str:
    if job is None:
        return "No job selected."
    status = job.get("status")
    if status == "done":
        return "e evaluates the adapter on the eval set · x exports it to Ollama"
    if status in RESUMABLE:
        return "ctrl+e resumes this job from its checkpoint"
    if status == "running":
        return "Training: the loss curve is in the Train view (ctrl+t)."
    return ""
