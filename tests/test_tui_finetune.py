"""The Fine-tune tab: the guard's checklist (locked on a fresh sample project, open once the
store holds the evidence), the override modal and its recorded reason, a real LoRA run on the
embedded SmolLM2 through the tab (live loss curve, done job in the list), the adapter's eval and
the export against the Ollama stand-in, Esc cancelling with a checkpoint and ctrl+e resuming,
and SVG snapshots at 80x24 and 160x48. Waits on workers and messages, never sleeps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_finetune import REPO, add_eval_run, build_plateau, variant_spec
from fixtures_project import write_project
from fixtures_tui import screen_text, settle, until

from workbench.core.evals.evalset import load_evalset
from workbench.core.finetune import jobs
from workbench.core.project import Project

# Small enough for CI on a busy 2-core box (tests/test_finetune_train.py measures ~1.1 s a step).
TINY = """
finetune:
  rank: 4
  alpha: 8
  lr: 0.005
  batch_size: 2
  max_length: 48
  threads: 1
  save_every: 100
evals:
  default_set: q.yaml
"""
QA = """\
name: q
cases:
  - id: sky
    inputs: {question: "Colour of the sky, one word?"}
    expected: QUACK blue.
    assert: [{type: icontains, value: blue}]
  - id: grass
    inputs: {question: "Colour of grass, one word?"}
    expected: QUACK green.
    assert: [{type: icontains, value: green}]
  - id: coal
    inputs: {question: "Colour of coal, one word?"}
    expected: QUACK black.
    assert: [{type: icontains, value: black}]
  - id: snow
    inputs: {question: "Colour of snow, one word?"}
    split: heldout
    expected: QUACK white.
    assert: [{type: icontains, value: white}]
"""


# ------------------------------------------------------------------------------- helpers


async def open_tab(app, pilot):
    await pilot.pause()
    await pilot.press("f4")
    await settle(app, pilot)
    return app.query_one("FinetuneTab")


async def choose_signal(app, pilot, label_start: str) -> None:
    """Pick a signal with the keyboard: focus the select, open it, arrow to it, Enter."""
    from workbench.tui.widgets.text import SIGNAL_OPTIONS

    app.query_one("#ft-signal").focus()
    await pilot.press("enter")
    index = next(i for i, (label, _) in enumerate(SIGNAL_OPTIONS) if label.startswith(label_start))
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(app, pilot)


def sample_copy(root: Path) -> Path:
    shutil.copytree(REPO / "sample_data", root, ignore=shutil.ignore_patterns(".workbench"))
    return root


def build_evidence(root: Path) -> None:
    """The guard's plateau evidence (fixtures_finetune.build_plateau) in the project at `root`."""
    project = Project.open(root)
    try:
        build_plateau(project)
    finally:
        project.close()


@pytest.fixture
def fresh_sample(tmp_path, xdg_config) -> Path:
    return sample_copy(tmp_path / "sample")


@pytest.fixture
def evidence_sample(tmp_path, xdg_config) -> Path:
    root = sample_copy(tmp_path / "sample")
    build_evidence(root)
    return root


# ------------------------------------------------------------------------------- the guard


async def test_fresh_sample_project_shows_the_checklist_locked_with_the_advice(fresh_sample, make_app):
    app = make_app(fresh_sample, probe=False)
    async with app.run_test(size=(100, 40)) as pilot:
        tab = await open_tab(app, pilot)
        text = screen_text(app)
        # the advice first, then each rule with its mark, numbers and next step
        assert text.index("Not yet: run the eval set") < text.index("✓ eval set:")
        assert "✓ eval set: sqlite-docs-qa: 83 cases (17 held out" in text
        assert "✗ variants: 0 distinct prompt/retrieval variant(s)" in text
        # next steps in the TUI's words: the tab, the key, the picker (not the CLI's commands)
        assert "next: evaluate the current settings on all 83 cases (Evals tab, F3: set" in text
        assert "next: run the eval set (Evals tab, F3: ctrl+r) so failures" in text
        assert "⚠ Warning (knowledge): 55 of 66 training targets (83%)" in text
        assert "facts belong in retrieval" in text
        assert "✗ Locked until the guard passes (failing: variants, plateau, retrieval, signal)" in text
        assert not tab.unlocked
        # the form is there but disabled; Start refuses and says why; no job is created
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert all(w.disabled for w in app.query("#ft-train Input"))
        assert app.query_one("#ft-start").disabled
        assert app.focused.id == "ft-override"  # the one thing a keyboard user can do here
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert tab.view == "guard"  # sent back to the evidence
    assert app.project.store.rows("finetune_jobs") == []


async def test_a_refusal_at_start_keeps_the_advice_that_ctrl_y_shows(fresh_sample, make_app):
    """The guard re-checks when training starts; a refusal there carries core's report (facts,
    no words). The override dialog must still say what the guard says (it said "The guard
    says: " and nothing after a refactor moved the words to present/)."""
    from workbench.core.finetune.guard import check
    from workbench.tui.widgets.finetune_train import TrainPanel

    app = make_app(fresh_sample, probe=False)
    async with app.run_test(size=(100, 40)) as pilot:
        tab = await open_tab(app, pilot)
        raw = check(app.project, None)
        assert not raw.advice  # core words nothing: the tab must
        tab.post_message(TrainPanel.Failed("the guard refused", raw))
        await pilot.pause()
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert type(app.screen).__name__ == "OverrideScreen"
        assert "The guard says: Not yet: run the eval set" in screen_text(app)


async def test_runs_the_guard_does_not_count_are_named_with_the_tui_way_to_count(fresh_sample, make_app):
    """The new-user trial: a `--limit 10` run and a cancelled run of the whole set. The tab says
    they were not counted and why, how long a full run takes, and how to make one here."""
    from fixtures_finetune_guard import cancelled_run, label, subset_run

    from workbench.core.variants import resolve_variant

    project = Project.open(fresh_sample)
    try:
        base = resolve_variant(project).spec()  # the current settings: e2 can be resumed
        subset_run(project, 10, spec=base)  # e1
        cancelled_run(project, 12, spec=base)  # e2
        e1, e2 = label(project, 1), label(project, 2)
    finally:
        project.close()
    app = make_app(fresh_sample, probe=False)
    async with app.run_test(size=(120, 48)) as pilot:
        await open_tab(app, pilot)
        text = flat(app)
        assert (
            "Not yet: run all 83 cases once (Evals tab, F3: ctrl+r; or select e2, ctrl+e to "
            "finish it): only complete runs of the whole set count. A full run takes about 10 "
            "min (7.2 s a case in e2, e1) (also missing: variants, plateau, signal)"
        ) in text
        assert (
            f"✗ variants: 0 distinct prompt/retrieval variant(s) evaluated on sqlite-docs-qa "
            f"(runs: none counted; {e2} was cancelled after 12 of 83 cases, {e1} covers only 10 "
            "of 83 cases (--limit/--tag/--case) — only complete runs of the whole set count)"
        ) in text
        assert "pick them in the Evals tab's Variant picker: terse, k8" in text
        assert f"{e2} can be resumed instead of started again (Evals tab, F3: select e2, ctrl+e: 71 cases left)" in text
        assert "`workbench eval run" not in text  # the CLI's words stay in the CLI


async def test_the_evidence_in_the_store_and_a_named_signal_unlock_the_form(evidence_sample, make_app):
    app = make_app(evidence_sample, probe=False)
    seen = []
    async with app.run_test(size=(100, 40), message_hook=seen.append) as pilot:
        tab = await open_tab(app, pilot)
        text = screen_text(app)
        assert "✗ signal: no signal named." in text and not tab.unlocked
        assert "Not yet: name why a fine-tune is needed" in text
        checks = len([m for m in seen if type(m).__name__ == "GuardChecked"])

        await choose_signal(app, pilot, "format")
        assert len([m for m in seen if type(m).__name__ == "GuardChecked"]) == checks + 1
        text = screen_text(app)
        assert "The evidence supports a LoRA fine-tune for the format signal" in text
        assert "But read the warning" not in text  # the warning has its own band
        assert "⚠ Warning (knowledge)" in text and "facts belong in retrieval" in text
        for rule in ("eval set", "variants", "plateau", "retrieval", "signal"):
            assert f"✓ {rule}:" in text
        assert "✓ plateau: best 86% (e4 cite-first)" in text
        assert "✓ Unlocked" in text and tab.unlocked

        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.focused.id == "ft-rank" and not app.focused.disabled
        assert app.query_one("#ft-rank").value == "8" and app.query_one("#ft-lr").value == "0.001"
        assert not app.query_one("#ft-start").disabled
        assert not app.query_one("#ft-override").display  # nothing to override


# ------------------------------------------------------------------------------- training


@pytest.fixture
def tiny_dir(tmp_path, ollama_standin, xdg_config) -> Path:
    """A small project: plain prompt, a 4-case eval set with `expected` answers (3 train, 1
    held out), tiny LoRA settings, the stand-in as Ollama (it knows the export's FROM model),
    and one stored run of the embedded model as the baseline the adapter is compared with."""
    root = write_project(tmp_path / "tiny", host=ollama_standin.url, fallback=[], extra=TINY)
    (root / "evals").mkdir()
    (root / "evals" / "q.yaml").write_text(QA, encoding="utf-8")
    ollama_standin.configure(models=["llama3.2:latest", "smollm2:135m"])
    project = Project.open(root)
    try:
        es = load_evalset(root / "evals" / "q.yaml")
        add_eval_run(project, es, "embedded", variant_spec("plain", model="embedded"), {}, retrieve=False)
    finally:
        project.close()
    return root


async def override(app, pilot, reason: str) -> None:
    await pilot.press("ctrl+y")  # ctrl+o is Copy everywhere else
    await pilot.pause()
    assert type(app.screen).__name__ == "OverrideScreen"
    await pilot.press("enter")  # an empty reason is refused
    await pilot.pause()
    assert "Give a reason" in screen_text(app)
    await pilot.press(*reason)
    await pilot.press("enter")
    await pilot.pause()


async def set_field(app, pilot, selector: str, value: str) -> None:
    field = app.query_one(selector)
    field.focus()
    field.value = ""
    await pilot.press(*value)


def flat(app) -> str:
    """The screen's words on one line (bands and wrapping removed), for long sentences."""
    return " ".join(screen_text(app).replace("▌", " ").split())


def kinds(seen, name: str) -> list:
    return [m for m in seen if type(m).__name__ == name]


async def test_override_then_a_real_run_draws_the_loss_curve_and_lists_the_done_job(tiny_dir, ollama_standin, make_app):
    app = make_app(tiny_dir, probe=False)
    seen = []
    reason = "format experiment [b]on[/b] 3 cases"
    async with app.run_test(size=(100, 32), message_hook=seen.append) as pilot:
        tab = await open_tab(app, pilot)
        assert not tab.unlocked and "✗ eval set: q: 4 cases" in screen_text(app)
        await override(app, pilot, reason)
        assert tab.unlocked and tab.view == "train"
        assert f"⚑ Override: {reason}" in screen_text(app)  # literal: no markup applied
        assert not app.query_one("#ft-rank").disabled

        await set_field(app, pilot, "#ft-steps", "2")
        await pilot.press("ctrl+r")
        await settle(app, pilot)

        progress = kinds(seen, "Progress")
        curves = [len(m.curve) for m in progress if m.event["event"] == "step"]
        assert curves == [1, 2]  # the curve grew one point per step, live
        assert [m.event["event"] for m in progress][0] == "start"
        assert app.query_one("#ft-curve").data == [p["loss"] for p in progress[-1].curve]
        text = screen_text(app)
        assert "f1 done: 2/2 steps, loss " in text and "held-out loss" in text
        [job] = jobs.list_jobs(app.project.store)
        assert job["status"] == "done" and job["override_reason"] == reason
        assert job["guard_report"]["passed"] is False and len(job["loss_curve"]) == 2
        assert job["config"]["lora"]["rank"] == 4 and job["config"]["total_steps"] == 2
        assert tab.override is None  # the reason belonged to that job: locked again
        assert "✗ Locked" in screen_text(app)

        await pilot.press("ctrl+l")
        await settle(app, pilot)
        text = screen_text(app)
        first, last = job["loss_curve"][0]["loss"], job["loss_curve"][-1]["loss"]
        [row] = [line.split() for line in text.splitlines() if line.startswith(" f1 ")]
        assert row == ["f1", "done", "2/2", f"{first:.3f}", "→", f"{last:.3f}", "⚑"]
        assert f"guard overridden: {reason}" in text
        assert "e evaluates the adapter on the eval set · x exports it to Ollama" in text

        # the loop closes: the adapter on the same eval set, judged against the baseline e1
        assert app.focused.id == "ft-jobs-table"
        await pilot.press("e")
        await settle(app, pilot)
        [evaluated] = jobs.list_jobs(app.project.store)
        verdict = evaluated["config"]["eval"]
        assert verdict["baseline_run_id"] == 1 and verdict["run_id"] == 2
        text = screen_text(app)
        assert "adapter of job f1: run e2, pass rate " in text  # as `finetune eval` says it
        from workbench.present.finetune import VERDICT_WORDS

        assert "verdict: " + " ".join(VERDICT_WORDS[verdict["verdict"]].split()[:3]) in text  # the CLI's words
        assert f"vs e1: {verdict['words']}" in text  # the statistics line
        row = next(line for line in text.splitlines() if line.startswith(" f1 "))
        assert {"no significant change": "= noise", "regression": "▼ worse", "improvement": "▲ better"}[
            verdict["verdict"]
        ] in row

        # export: the name is asked for, the model created in the stand-in
        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ == "ExportScreen"
        assert app.screen.query_one("#ft-export-name").value == "smollm2-f1"
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "created ollama:smollm2-f1 (Ollama 0.33.0)" in text
        assert [r.body["model"] for r in ollama_standin.requests_to("/api/create")] == ["smollm2-f1"]
        assert "smollm2-f1 ✓" in text  # in the jobs table
        assert jobs.exports(jobs.get_job(app.project.store, 1))[-1]["created"] is True

        # a base Ollama cannot convert: refused, and the reason shown
        config = jobs.get_job(app.project.store, 1)["config"]
        config["base"]["model_type"] = "qwen2"
        jobs.update_job(app.project.store, 1, {"config": config})
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("ctrl+u", *"other", "enter")
        await settle(app, pilot)
        assert (
            "export refused: Ollama converts safetensors LoRA adapters only for llama and "
            "gemma2 bases; this base is 'qwen2'. Alternative: merge the adapter" in flat(app)
        )
        assert len(ollama_standin.requests_to("/api/create")) == 1


async def test_escape_cancels_keeping_a_checkpoint_and_ctrl_e_resumes_to_the_end(tiny_dir, make_app):
    app = make_app(tiny_dir, probe=False)
    seen = []
    async with app.run_test(size=(100, 32), message_hook=seen.append) as pilot:
        tab = await open_tab(app, pilot)
        await override(app, pilot, "checking cancel")
        await set_field(app, pilot, "#ft-steps", "4")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any(m.event["event"] == "step" for m in kinds(seen, "Progress")))
        assert tab.train.running and "f1 · step " in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        job = jobs.get_job(app.project.store, 1)
        stopped = len(job["loss_curve"])
        assert job["status"] == "cancelled" and 1 <= stopped < 4
        assert job["checkpoint_path"] and job["config"]["checkpoint_step"] == stopped
        assert f"f1 cancelled: checkpoint kept at step {stopped}" in screen_text(app)
        assert "-" not in str(app.query_one("#ft-curve").styles.width)
        assert app.query_one("#ft-curve").styles.width.value == pytest.approx(100 * stopped / 4, abs=0.1)

        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert "ctrl+e resumes this job from its checkpoint" in screen_text(app)
        await pilot.press("ctrl+e")
        await settle(app, pilot)
        resumed = [m.event for m in kinds(seen, "Progress") if m.event["event"] == "start"][-1]
        assert resumed["start_step"] == stopped
        job = jobs.get_job(app.project.store, 1)
        assert job["status"] == "done" and [p["step"] for p in job["loss_curve"]] == [1, 2, 3, 4]
        assert "f1 done: 4/4 steps" in screen_text(app)


# ------------------------------------------------------------------------------- snapshots


def _prepare(signal: str | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        await open_tab(app, pilot)
        if signal:
            await choose_signal(app, pilot, signal)
        tab = app.query_one("FinetuneTab")
        await until(pilot, lambda: app.focused is not None and tab in app.focused.ancestors)
        for widget in app.query("Input"):
            widget.cursor_blink = False
        await pilot.pause()

    return run_before


def test_finetune_locked_checklist_80x24(snap_compare, fresh_sample, make_app):
    """The Fine-tune tab on the fresh sample project at 80x24: the view bar (Guard ✗), the
    advice band first ('Not yet: run the eval set …'), the knowledge warning band ('facts belong
    in retrieval'), the signal select (none named) focused, the red lock line naming the failing
    rules and ctrl+y, then the checklist from '✓ eval set: … 83 cases' down through the ✗ rules
    with their next steps; the footer's Override / Start / Resume keys (the view keys are in the
    view bar)."""
    app = make_app(fresh_sample, probe=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_prepare())


def test_finetune_uncounted_runs_80x24(snap_compare, fresh_sample, make_app):
    """The new-user trial at 80x24: a `--limit 10` run (e1) and a cancelled run of the whole set
    (e2) of the current settings in the store. The advice band says to run all 83 cases in the
    Evals tab (F3: ctrl+r; or select e2, ctrl+e to finish it), that only complete runs of the whole set count, and that a full run takes about 10 min
    (7.2 s a case in e2, e1), ending with '(also missing: variants, plateau, signal)' (nothing
    cut off); the checklist's variants rule says 'runs: none counted; e2 … was
    cancelled after 12 of 83 cases, e1 … covers only 10 of 83 cases (--limit/--tag/--case)'."""
    from fixtures_finetune_guard import cancelled_run, subset_run

    from workbench.core.variants import resolve_variant

    project = Project.open(fresh_sample)
    try:
        base = resolve_variant(project).spec()
        subset_run(project, 10, spec=base)
        cancelled_run(project, 12, spec=base)
    finally:
        project.close()
    app = make_app(fresh_sample, probe=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_prepare())


def test_finetune_evidence_passes_160x48(snap_compare, evidence_sample, make_app):
    """The sample project with four stored variant runs, signal 'format' chosen, at 160x48:
    the green advice band ('The evidence supports a LoRA fine-tune for the format signal'), the
    warning band, '✓ Unlocked', and every required rule ✓ with its numbers (plateau 'best 86%
    (e4 cite-first)', retrieval '1 of 12 failures … recall@2 99%', signal 'format: 3 case(s)')
    and the knowledge rule ⚠ with its next step."""
    app = make_app(evidence_sample, probe=False)
    assert snap_compare(app, terminal_size=(160, 48), run_before=_prepare("format"))


# ------------------------------------------------------------------------------- pure parts


def test_every_fine_tune_binding_has_a_unique_id_a_description_and_a_tooltip():
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.finetune_modals import ExportScreen, OverrideScreen
    from workbench.tui.tabs.finetune import FinetuneTab
    from workbench.tui.widgets.finetune_jobs import JobsPanel

    ids = {b.id for b in WorkbenchApp.BINDINGS}
    for owner in (FinetuneTab, JobsPanel, OverrideScreen, ExportScreen):
        for binding in owner.__dict__["BINDINGS"]:
            where = f"{owner.__name__}: {binding.key}"
            assert binding.id and binding.description and binding.tooltip, where
            assert binding.id not in ids, f"duplicate binding id {binding.id}"
            ids.add(binding.id)


def test_the_form_names_the_field_it_cannot_use():
    from workbench.core.errors import WorkbenchError
    from workbench.core.finetune.settings import FinetuneSettings
    from workbench.tui.widgets.finetune_form import FIELDS, field_value, read_form

    base = FinetuneSettings()
    values = {i: field_value(getattr(base, name)) for i, _, name, _ in FIELDS}
    values.update({"ft-targets": "q_proj, v_proj,o_proj", "ft-data": ""})
    settings, data = read_form({**values, "ft-rank": "16", "ft-steps": ""}, base)
    assert (settings.rank, settings.max_steps, data) == (16, None, None)
    assert settings.target_modules == ["q_proj", "v_proj", "o_proj"] and base.rank == 8
    assert read_form({**values, "ft-steps": "5", "ft-data": " d.jsonl "}, base)[0].max_steps == 5
    for change, message in (
        (("ft-rank", "0"), "rank: must be above 0"),
        (("ft-dropout", "1"), "dropout: must be at least 0 and below 1"),
        (("ft-lr", "fast"), "lr: 'fast' is not a number"),
        (("ft-batch", "2.5"), "batch: '2.5' is not a whole number"),
        (("ft-maxlen", ""), "max len: needs a value"),
        (("ft-targets", " , "), "targets: name at least one module"),
    ):
        with pytest.raises(WorkbenchError) as info:
            read_form({**values, change[0]: change[1]}, base)
        assert info.value.message.startswith(message)


def test_lock_line_and_view_bar_say_where_the_tab_stands():
    from workbench.core.finetune.guard import GuardReport, Rule
    from workbench.tui.widgets.text import lock_line, view_bar

    failing = GuardReport(
        [
            Rule("eval set", True, "ok"),
            Rule("plateau", False, "moving"),
            Rule("knowledge", False, "facts", severity="warning"),
        ],
        "Not yet: …",
    )
    assert lock_line(failing, None) == (
        "✗ Locked until the guard passes (failing: plateau) — or ctrl+y to override with a recorded reason.",
        "locked",
    )
    assert lock_line(failing, "[b]why[/b]")[1] == "override"
    assert "[b]why[/b]" in lock_line(failing, "[b]why[/b]")[0]
    passing = GuardReport([Rule("eval set", True, "ok")], "Go.", signal="format")
    assert lock_line(passing, None)[1] == "open" and lock_line(None, None)[1] == "checking"
    assert view_bar("jobs", "locked", 3).plain == "^g Guard ✗ │ ^t Train │ ^l Jobs 3"


def test_the_tab_and_its_guard_check_import_nothing_heavy(tmp_path):
    """Opening the tab and checking the guard reads the store and the corpus only: torch,
    transformers, peft, lancedb and sentence_transformers stay out of the UI process until a
    job is actually started (checked in a fresh interpreter)."""
    import subprocess
    import sys

    root = sample_copy(tmp_path / "sample")
    code = (
        "import sys\n"
        "from workbench.core.project import Project\n"
        "import workbench.tui.tabs.finetune\n"
        "from workbench.core.finetune.guard import check\n"
        f"project = Project.open({str(root)!r})\n"
        "report = check(project, 'format')\n"
        "heavy = {'torch', 'transformers', 'peft', 'lancedb', 'sentence_transformers'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}), report.passed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "False"]
