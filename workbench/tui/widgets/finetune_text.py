"""What the Fine-tune tab shows, as pure functions of the core's values: the guard's checklist,
the lock line, the training progress line, the jobs table cells and a job's detail lines.

Kept apart from the widgets so the wording is tested without a terminal, and so the CLI's own
words (`GuardReport.advice`, `Rule.summary`, `job_lines`, the diff's statistics line) are reused
rather than rewritten. Everything that comes from the store or a user (case ids, variant names,
override reasons, errors, export names) goes through `safe()` into `rich.text.Text`, which never
parses markup.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from workbench.tui.widgets.evals_text import cell, safe

SIGNAL_OPTIONS: list[tuple[str, str]] = [
    ("(none named)", ""), ("format", "format"), ("capability", "capability"),
    ("prompt-cost", "prompt-cost"),
]
# Beside the signal: what naming it claims (the guard then looks for it in the stored runs).
SIGNAL_HELP = {
    "": "name why: the guard looks for it in the runs",
    "format": "a format needed every time, failing in every variant",
    "capability": "failing with the right context, in every variant",
    "prompt-cost": "giant prompts: prompt share of tokens and cost",
}
RESUMABLE = ("cancelled", "interrupted")
MARK = {"pass": "✓", "fail": "✗", "warn": "⚠"}
VERDICT_SHORT = {"improvement": "▲ better", "regression": "▼ worse",
                 "no significant change": "= noise", "no baseline": "– no base"}
_WARNING_JOIN = " But read the warning: "


def rule_state(rule: Any) -> str:
    """pass | fail | warn (a warning never blocks training)."""
    if rule.passed:
        return "pass"
    return "warn" if rule.severity == "warning" else "fail"


def rule_styles(variables: dict[str, str]) -> dict[str, Style]:
    """Marks coloured from the theme's variables (never fixed colours); each mark also differs
    in shape (✓ ✗ ⚠), so the checklist reads without colour."""
    def style(color: str | None, **kw: Any) -> Style:
        try:
            return Style(color=color, **kw)
        except Exception:  # noqa: BLE001 - a theme colour Rich cannot parse: drop the colour
            return Style(**kw)

    return {"pass": style(variables.get("success"), bold=True),
            "fail": style(variables.get("error"), bold=True),
            "warn": style(variables.get("warning"), bold=True),
            "name": Style(bold=True), "next": Style(dim=True)}


def lead_advice(report: Any) -> str:
    """The advice sentence, in the TUI's words where the core has them (Evals tab, F3, ctrl+r
    rather than `workbench eval run`); when the warning band shows the warning, it is not
    repeated here."""
    advice = getattr(report, "tui_advice", None) or report.advice or ""
    if report.warnings and _WARNING_JOIN in advice:
        advice = advice.split(_WARNING_JOIN, 1)[0]
    return safe(advice)


def warning_text(report: Any) -> str:
    """The knowledge-injection (or any other) warning, one paragraph per warning rule (the next
    step is in the checklist)."""
    return "\n".join(f"⚠ Warning ({rule.name}): {safe(rule.summary)}" for rule in report.warnings)


def checklist(report: Any, styles: dict[str, Style]) -> Text:
    """Each rule: its mark, name and numbers; under a failing rule, the next step (in the TUI's
    words where the core has them)."""
    out = Text()
    for i, rule in enumerate(report.rules):
        state = rule_state(rule)
        if i:
            out.append("\n")
        out.append(f"{MARK[state]} ", styles.get(state, ""))
        out.append(f"{rule.name}: ", styles.get("name", ""))
        out.append(safe(rule.summary))
        step = getattr(rule, "tui_step", None) or rule.next_step
        if not rule.passed and step:
            out.append("\n    next: ", styles.get("next", ""))
            out.append(safe(step), styles.get("next", ""))
    return out


def lock_line(report: Any | None, override: str | None, checking: bool = False) -> tuple[str, str]:
    """(sentence, state) for the lock: state is checking | open | override | locked."""
    if override:
        return (f"⚑ Override: {safe(override)} — stored with the job and shown wherever it is "
                "listed.", "override")
    if report is None or checking:
        return "Checking the evidence in the run store…", "checking"
    if report.passed:
        what = f" for the {report.signal} signal" if report.signal else ""
        return f"✓ Unlocked: the evidence supports a LoRA fine-tune{what}.", "open"
    failing = [r.name for r in report.rules if rule_state(r) == "fail"]
    return (f"✗ Locked until the guard passes (failing: {', '.join(failing)}) — or ctrl+y to "
            "override with a recorded reason.", "locked")


def view_bar(active: str, lock_state: str, jobs: int) -> Text:
    """`^g Guard ✗ │ ^t Train │ ^l Jobs 2`, the active view in bold and underlined."""
    mark = {"open": " ✓", "override": " ⚑", "locked": " ✗"}.get(lock_state, " …")
    views = [("guard", "^g Guard" + mark), ("train", "^t Train"),
             ("jobs", f"^l Jobs {jobs}" if jobs else "^l Jobs")]
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, (name, label) in enumerate(views):
        if i:
            out.append(" │ ", "dim")
        out.append(label, Style(bold=True, underline=True) if name == active else Style(dim=True))
    return out


# --------------------------------------------------------------------------- training


def loss_span(curve: list[dict[str, Any]]) -> str:
    """`5.353 → 0.412`: first and last loss, or `–` before the first step."""
    if not curve:
        return "–"
    return f"{curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}"


def eta_text(seconds: float | None) -> str:
    from workbench.core.finetune.train import eta_text as core_eta

    return core_eta(seconds)


def progress_line(job_id: int, event: dict[str, Any] | None, curve: list[dict[str, Any]],
                  total: int | None) -> str:
    """`f3 · step 3/20 · loss 5.353 → 2.912 · 108 tok/s · ETA 24s`."""
    parts = [f"f{job_id}"]
    step = curve[-1]["step"] if curve else 0
    parts.append(f"step {step}/{total or '?'}")
    parts.append(f"loss {loss_span(curve)}")
    if event and event.get("event") == "step":
        tps = event.get("tokens_per_s")
        if tps:
            parts.append(f"{tps:.0f} tok/s")
        parts.append(f"ETA {eta_text(event.get('eta_s'))}")
    return " · ".join(parts)


def outcome_line(outcome: Any) -> str:
    """One sentence about how a training run ended, and what to do next."""
    curve = outcome.loss_curve
    loss = f", loss {loss_span(curve)}" if curve else ""
    if outcome.status == "done":
        held = (f", held-out loss {outcome.heldout_loss:.3f}"
                if outcome.heldout_loss is not None else "")
        return (f"f{outcome.job_id} done: {outcome.step}/{outcome.total_steps} steps{loss}{held}. "
                "In Jobs (ctrl+l): e evaluates the adapter, x exports it.")
    if outcome.status == "cancelled":
        where = (f"checkpoint kept at step {outcome.step}" if outcome.checkpoint_path
                 else "stopped before the first checkpoint")
        return f"f{outcome.job_id} cancelled: {where}{loss}. Select it in Jobs and ctrl+e resumes."
    return f"f{outcome.job_id} failed: {safe(outcome.error)}"


# --------------------------------------------------------------------------- jobs


def job_config(job: dict[str, Any]) -> dict[str, Any]:
    config = job.get("config")
    return config if isinstance(config, dict) else {}


def eval_short(job: dict[str, Any]) -> str:
    ev = job_config(job).get("eval")
    if not isinstance(ev, dict):
        return ""
    return VERDICT_SHORT.get(ev.get("verdict"), safe(ev.get("verdict")))


def export_short(job: dict[str, Any]) -> str:
    """The newest export: `quack ✓` created, `DROP quack` when the exported model scored
    below the adapter (first, so a narrow column cannot cut it off), the bare name when only
    the folder was written."""
    from workbench.core.finetune.jobs import export_dropped, exports

    done = exports(job)
    if not done:
        return ""
    exp = done[-1]
    if exp.get("created") and export_dropped(exp):
        return "DROP " + safe(exp["name"])
    return safe(exp["name"]) + (" ✓" if exp.get("created") else "")


def job_cells(job: dict[str, Any]) -> list[Text]:
    """job, status, steps, loss first → last, override mark, eval verdict, export (the date
    is in the detail below: at 80 columns the verdict matters more)."""
    curve = job.get("loss_curve") if isinstance(job.get("loss_curve"), list) else []
    total = job_config(job).get("total_steps")
    step = curve[-1]["step"] if curve else 0
    return [cell(f"f{job['id']}"), cell(job.get("status")), cell(f"{step}/{total or '?'}"),
            cell(loss_span(curve)), cell("⚑" if job.get("override_reason") else ""),
            cell(eval_short(job)), cell(export_short(job))]


def job_detail(job: dict[str, Any]) -> list[str]:
    """The core's `finetune show` lines (the CLI, `runs show fN` and this tab read alike)."""
    from workbench.core.finetune.jobs import job_lines

    return [safe(line) for line in job_lines(job)]


def job_hint(job: dict[str, Any] | None) -> str:
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
