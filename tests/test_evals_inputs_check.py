"""An eval case whose inputs do not fill the run's prompt template is refused before the run is
stored, naming file, line and field, from `workbench eval run` and from the Evals tab; cases that
need no template value, or give extra ones, still run. Against the Ollama stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures_tui import screen_text
from test_evals_cli import chats, proj, wb  # noqa: F401
from test_tui_evals import open_tab, run_from_tab

from workbench.core.evals import runstore

# Line 3: a case with no inputs; line 8: a case whose `qestion:` is a typo; line 11: fine.
BROKEN = """name: bad2
cases:
  - id: x
    expected: Paris
    assert:
      - {type: icontains, value: paris}
  - id: typo
    inputs: {qestion: Capital of Italy}
    assert:
      - {type: icontains, value: rome}
  - id: fine
    inputs: {question: Capital of France}
    assert:
      - {type: icontains, value: paris}
"""


def write_set(root: Path, name: str, text: str) -> None:
    (root / "evals" / f"{name}.yaml").write_text(text, encoding="utf-8")


def stored_eval_runs(root: Path, capsys) -> str:
    capsys.readouterr()
    assert wb(root, "runs", "--kind", "eval", "--json") == 0
    return capsys.readouterr().out


def test_a_case_without_inputs_is_exit_2_naming_file_line_and_field_and_nothing_is_stored(proj, capsys):
    root, standin = proj
    write_set(root, "bad2", BROKEN)
    assert wb(root, "eval", "run", "bad2") == 2
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert (
        "bad2.yaml:3: inputs: case 'x' gives no value for {question}, which prompt 'plain' uses (it has no inputs)"
    ) in err
    assert "1 more case misses values too: 'typo' (line 8)" in err
    assert "eval bad2" not in captured.err  # refused before the run's header, not after it
    assert "infrastructure" not in captured.out + captured.err
    assert stored_eval_runs(root, capsys) == "" and chats(standin) == 0


def test_a_misspelt_input_is_named_with_the_variable_it_should_be(proj, capsys):
    root, standin = proj
    write_set(root, "bad2", BROKEN)
    assert wb(root, "eval", "run", "bad2", "--case", "typo") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "bad2.yaml:8: inputs: case 'typo' gives no value for {question}, which prompt 'plain' uses "
        "(its inputs: qestion; did you mean question?)"
    ) in err
    assert stored_eval_runs(root, capsys) == "" and chats(standin) == 0


def test_the_check_follows_the_cases_selected_for_the_run(proj, capsys):
    """`--case fine` runs the one good case: the broken ones are not asked, so they do not block it."""
    root, standin = proj
    write_set(root, "bad2", BROKEN)
    assert wb(root, "eval", "run", "bad2", "--case", "fine", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["passed"] == 1
    assert [json.loads(line)["id"] for line in stored_eval_runs(root, capsys).splitlines()] == ["e1"]


def test_the_prompt_chosen_for_the_run_is_the_one_checked(proj, capsys):
    """The capitals cases give only {question}: the `audience` prompt also uses {audience}."""
    root, standin = proj
    assert wb(root, "eval", "run", "capitals", "--prompt", "audience") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "capitals.yaml:4: inputs: case 'france' gives no value for {audience}, which prompt 'audience' uses" in err
    assert "(its inputs: question)" in err and "3 more cases miss values too: 'italy' (line " in err
    assert stored_eval_runs(root, capsys) == "" and chats(standin) == 0
    # the same set with the base prompt runs
    assert wb(root, "eval", "run", "capitals", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["total"] == 4


def test_cases_that_need_no_template_value_or_give_extra_ones_still_run(proj, capsys):
    root, standin = proj
    (root / "prompts" / "fixed.yaml").write_text('template: "Name the capital of France."\n', encoding="utf-8")
    write_set(
        root,
        "novars",
        "name: novars\ncases:\n"
        '  - id: scored\n    assert:\n      - {type: python, expr: "len(answer) >= 0"}\n'
        '  - id: extra\n    inputs: {note: unused here}\n    assert:\n      - {type: python, expr: "True"}\n',
    )
    assert wb(root, "eval", "run", "novars", "--prompt", "fixed", "--json") == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["total"] == 2 and summary["passed"] == 2 and chats(standin) == 2
    # extra inputs next to the one the template uses are fine too
    write_set(root, "extra", BROKEN.replace("{qestion: Capital of Italy}", "{question: Capital of Italy, note: x}"))
    assert wb(root, "eval", "run", "extra", "--case", "typo", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["passed"] == 1


async def test_the_evals_tab_shows_the_refusal_instead_of_starting_a_run(tui_project_dir, ollama_standin, make_app):
    folder = tui_project_dir / "evals"
    folder.mkdir()
    (folder / "bad2.yaml").write_text(BROKEN, encoding="utf-8")
    app = make_app(tui_project_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_tab(app, pilot)
        assert "bad2 (3 cases)" in screen_text(app)
        await run_from_tab(app, pilot)
        text = " ".join(screen_text(app).split())
        assert "The run did not start." in text
        assert "case 'x' gives no value for {question}, which prompt 'plain' uses" in text
        assert "(bad2.yaml:3)" in text
    assert runstore.list_runs(app.project.store, limit=50) == []
    assert not ollama_standin.requests_to("/api/chat")
