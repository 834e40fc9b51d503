"""`workbench eval ...` as a user runs it: exit codes, printed summary, diff, gate, kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from fixtures_evals import CAPITALS_EU as EVALS

from workbench.cli import main
from workbench.core.store import Store

ANSWERS = {"France": "Paris.", "Italy": "Rome.", "Japan": "Kyoto.", "Peru": "Lima"}


def answer(body):
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    text = body["messages"][-1]["content"]
    for country, reply in ANSWERS.items():
        if country in text:
            if "Be sloppy" in system and country == "Italy":
                return ["Milan."]
            if "Be careful" in system and country == "Japan":
                return ["Tokyo."]
            return [reply]
    return ["?"]


@pytest.fixture
def proj(ollama_standin, project_factory):
    ollama_standin.configure(reply=answer)
    project = project_factory(
        host=ollama_standin.url,
        retries="count: 0\n  backoff_s: 0.01",
        extra="evals:\n  dir: evals\nvariants:\n  sloppy:\n    system: Be sloppy.\n  careful:\n    system: Be careful.\n",
    )
    (project.root / "evals").mkdir()
    (project.root / "evals" / "capitals.yaml").write_text(EVALS)
    project.close()
    return project.root, ollama_standin


def wb(root, *argv, capsys=None):
    code = main(["--project", str(root), *argv])
    return code


def chats(standin):
    return len(standin.requests_to("/api/chat"))


def test_run_prints_summary_and_rerun_comes_from_cache(proj, capsys):
    root, standin = proj
    assert wb(root, "eval", "run") == 0
    out = capsys.readouterr().out
    assert "run e1: done" in out and "pass rate 75% (3/4), 95% CI" in out
    assert "by tag: eu 2/2" in out and "0 of 4 from cache" in out
    assert "failing cases:" in out and "japan [other]" in out and "answer: Kyoto." in out
    assert "The one failure has no retrieval evidence" in out
    assert wb(root, "eval", "run", "capitals", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run_id"] == 2 and data["summary"]["cache_hits"] == 4 and chats(standin) == 4
    assert wb(root, "eval", "runs") == 0
    listing = capsys.readouterr().out
    assert "e2" in listing and "e1" in listing and "75%" in listing
    assert wb(root, "eval", "show", "last") == 0
    shown = capsys.readouterr().out
    assert "run e2 · capitals" in shown and "japan" in shown


def test_prompt_variants_diff_lists_exactly_the_flipped_cases_and_the_gate(proj, capsys, tmp_path):
    root, standin = proj
    assert wb(root, "eval", "run") == 0  # e1: base
    assert wb(root, "eval", "run", "--variant", "sloppy") == 0  # e2: italy regresses
    capsys.readouterr()
    assert wb(root, "eval", "diff", "e1", "e2", "--json", "--only", "changed") == 0
    d = json.loads(capsys.readouterr().out)
    assert [(c["case_id"], c["change"]) for c in d["cases"]] == [("italy", "regression")]
    assert d["counts"]["regression"] == 1 and d["counts"]["unchanged"] == 3
    assert d["stats"]["words"].startswith("-1 case, p=1.00: could be noise")
    assert d["cases"][0]["words"] == [["delete", "Rome"], ["insert", "Milan"], ["equal", "."]]
    assert wb(root, "eval", "diff", "1", "2") == 0
    text = capsys.readouterr().out
    assert "1 changed (1 regression, 0 fixes)" in text and "regression italy  pass -> fail" in text
    assert "    A: Rome.\n    B: Milan.\n" in text  # no terminal: plain text, no styles needed

    # gate: sloppy regresses against base -> exit 1; careful only fixes -> exit 0
    junit, md = tmp_path / "junit.xml", tmp_path / "report.md"
    code = wb(
        root,
        "eval",
        "run",
        "--variant",
        "sloppy",
        "--baseline",
        "e1",
        "--fail-on-regression",
        "--junit",
        str(junit),
        "--markdown",
        str(md),
    )
    assert code == 1
    out = capsys.readouterr().out
    assert "gate FAILED: 1 regression(s) against e1" in out and "italy" in out
    assert ET.parse(junit).getroot().get("failures") == "2"
    assert "**Gate: FAILED ❌**" in md.read_text()
    assert wb(root, "eval", "run", "--variant", "careful", "--baseline", "e1", "--fail-on-regression") == 0
    out = capsys.readouterr().out
    assert "gate passed" in out and "fix        japan  fail -> pass" in out
    # best is now `careful` (4/4); sloppy loses italy and japan against it
    assert wb(root, "eval", "run", "--baseline", "best", "--max-regressions", "2", "--variant", "sloppy") == 0
    assert wb(root, "eval", "run", "--baseline", "best", "--max-regressions", "1", "--variant", "sloppy") == 1
    assert wb(root, "eval", "run", "--min-pass-rate", "0.9", "--variant", "careful") == 0
    assert wb(root, "eval", "run", "--min-pass-rate", "0.9") == 1


def test_bad_input_exits_2_with_file_and_line(proj, capsys):
    root, standin = proj
    (root / "evals" / "broken.yaml").write_text(
        "cases:\n  - id: a\n    inputs: {question: x}\n    assert:\n      - {type: regex, value: '(oops'}\n"
    )
    assert wb(root, "eval", "run", "broken") == 2
    err = capsys.readouterr().err
    assert "broken.yaml:5: case 'a': assert[0].value: bad regex" in err
    (root / "evals" / "dups.yaml").write_text("cases:\n  - id: a\n  - id: b\n  - id: a\n")
    assert wb(root, "eval", "run", "dups.yaml") == 2
    assert "dups.yaml:4: case 'a': id: duplicate case id 'a' on lines 2 and 4" in capsys.readouterr().err
    assert wb(root, "eval", "run", "--fail-on-regression") == 2
    assert wb(root, "eval", "show", "e99") == 2
    assert wb(root, "eval", "run", "nope") == 2
    assert chats(standin) == 0  # nothing was sent to a model for bad input


def test_promote_and_import(proj, capsys, tmp_path):
    root, standin = proj
    assert main(["--project", str(root), "ask", "Capital of Chile"]) == 0
    capsys.readouterr()
    path = root / "evals" / "capitals.yaml"
    (root / "docs").mkdir()
    (root / "docs" / "chile.md").write_text("# Chile\nIts capital is Santiago.\n")  # --relevant is checked
    assert wb(root, "eval", "promote", "1", "--to", str(path), "--expected", "Santiago.", "--relevant", "chile.md") == 0
    out = capsys.readouterr().out
    assert "added case 'gen1-capital-of-chile' to" in out and path.read_text().startswith(EVALS)
    logs = tmp_path / "prod.jsonl"
    logs.write_text('{"question": "Capital of Spain"}\n{"question": "capital of spain?"}\n')
    assert wb(root, "eval", "import", str(logs), "--to", str(path)) == 0
    captured = capsys.readouterr()
    assert "imported 1 case(s)" in captured.out
    assert "warning: 1 imported case(s) have no check of the answer" in " ".join(captured.err.split())
    assert wb(root, "eval", "run", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["cases"] == 6


def test_kill_9_mid_run_then_resume_repeats_nothing(proj, capsys):
    root, standin = proj
    standin.configure(reply=lambda b: [w + " " for w in answer(b)[0].split()] + ["x"] * 30, token_delay_s=0.05)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--project", str(root), "eval", "run", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert standin.wait_for(lambda s: len(s.requests_to("/api/chat")) >= 3, timeout=60), proc.stderr.read()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(root / ".workbench" / "runs.db") as store:  # opening it recovers the dead run
        run = store.get("eval_runs", 1)
        assert run["status"] == "interrupted"
        finished = {r["case_id"] for r in store.rows("eval_results", "run_id = 1")}
        assert len(finished) == 2
        assert store.rows("generations", "status = 'interrupted'")  # case 3's partial answer
    before = chats(standin)
    standin.configure(token_delay_s=0.0)
    assert wb(root, "eval", "run", "--resume", "e1", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run_id"] == 1 and data["status"] == "done" and data["skipped"] == 2
    assert chats(standin) - before == 2  # only the two unfinished cases were asked again
    with Store(root / ".workbench" / "runs.db") as store:
        rows = store.rows("eval_results", "run_id = 1")
        assert sorted(r["case_id"] for r in rows) == ["france", "italy", "japan", "peru"]


def ctrl_c_eval_run(standin, argv: list[str], *, after_chats: int, cwd=None) -> str:
    """`workbench ARGV` in a real process, slow answers, Ctrl-C once `after_chats` requests
    reached the stand-in; asserts exit 130 and returns stderr."""
    standin.configure(reply=lambda b: [w + " " for w in answer(b)[0].split()] + ["x"] * 30, token_delay_s=0.05)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *argv],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert standin.wait_for(lambda s: len(s.requests_to("/api/chat")) >= after_chats, timeout=60)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    return err


def test_ctrl_c_keeps_finished_cases_and_says_how_to_resume(proj, capsys):
    root, standin = proj
    err = ctrl_c_eval_run(standin, ["--project", str(root), "eval", "run", "--concurrency", "1"], after_chats=3)
    assert "cancelled: 2 finished case(s) kept in run 1" in err and "--resume 1" in err
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.get("eval_runs", 1)["status"] == "cancelled"
        assert len(store.rows("eval_results", "run_id = 1")) == 2
        statuses = sorted(r["status"] for r in store.rows("generations"))
        assert statuses == ["interrupted", "ok", "ok"]  # the third answer kept as a partial


def test_without_a_terminal_progress_is_plain_lines(proj, capsys):
    """CI logs get progress too: a line per tenth of the run (here every case), no \\r bar."""
    root, _ = proj
    assert wb(root, "eval", "run", "capitals") == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("progress ")]
    assert lines[-1] == "progress 4/4  pass 3  fail 1" and len(lines) == 4 and "\r" not in err


def test_tag_case_and_limit_narrow_a_run(proj, capsys):
    root, standin = proj
    assert wb(root, "eval", "run", "capitals", "--tag", "eu", "--json") == 0
    run = json.loads(capsys.readouterr().out)
    assert run["summary"]["cases"] == 2
    assert sorted(b["messages"][-1]["content"] for b in (r.body for r in standin.requests_to("/api/chat"))) == [
        "Capital of France",
        "Capital of Italy",
    ]
    assert wb(root, "eval", "run", "capitals", "--limit", "1", "--no-cache", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["cases"] == 1
    assert wb(root, "eval", "run", "capitals", "--case", "peru", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["pass_rate"] == 1.0
    assert wb(root, "eval", "run", "capitals", "--case", "atlantis") == 2
    assert "no case 'atlantis'" in capsys.readouterr().err


def test_a_subset_run_says_so_everywhere_and_resumes_only_its_own_cases(proj, capsys):
    """A --limit run's pass rate is over 2 of 4 cases: the summary, `eval runs`, `runs` and the
    Markdown report say so, and resuming it finishes those 2, not the whole file."""
    from workbench.core.evals import runstore

    root, standin = proj
    assert wb(root, "eval", "run", "capitals", "--limit", "2") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a subset: 2 of the set's 4 cases (--limit 2)" in out
    assert wb(root, "eval", "runs") == 0
    assert "2/4" in capsys.readouterr().out
    assert wb(root, "runs", "--json") == 0
    assert "capitals: 100% pass (subset 2/4 cases)" in capsys.readouterr().out
    assert wb(root, "eval", "show", "e1", "--markdown") == 0
    assert "A subset: 2 of the set's 4 cases (--limit 2)" in capsys.readouterr().out

    assert wb(root, "eval", "run", "capitals", "--tag", "eu", "--no-cache") == 0
    capsys.readouterr()
    with Store(root / ".workbench" / "runs.db") as store:  # as if killed after its first case
        store.conn.execute("DELETE FROM eval_results WHERE run_id = 2 AND case_id = 'italy'")
        store.conn.commit()
        store.update("eval_runs", 2, {"status": "interrupted"})
    assert wb(root, "eval", "run", "capitals", "--resume", "e2", "--limit", "1") == 2
    assert "drop --tag/--case/--limit" in capsys.readouterr().err
    assert wb(root, "eval", "run", "capitals", "--resume", "e2", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["skipped"] == 1 and data["summary"]["cases"] == 2
    assert data["summary"]["selection"] == {"how": "--tag eu", "cases": 2, "of": 4}
    with Store(root / ".workbench" / "runs.db") as store:
        assert sorted(r.case_id for r in runstore.load_results(store, 2)) == ["france", "italy"]
    assert wb(root, "eval", "run", "capitals", "--resume", "e2") == 2  # refused before any header
    err = capsys.readouterr().err
    assert "already finished" in err and "resuming run" not in err


def test_word_diff_without_colour_shows_both_answers_when_they_share_little():
    from workbench.present.evals import word_diff_text as _word_diff_text

    words = [("delete", "The answer is in the docs."), ("insert", "Yes, WAL is faster."), ("equal", " ")]
    assert _word_diff_text(words, plain=True).plain == (
        "    A: The answer is in the docs. \n    B: Yes, WAL is faster. "
    )
    styled = _word_diff_text([("equal", "a "), ("delete", "b"), ("insert", "c")], plain=False)
    assert styled.plain == "    a b c" and {s.style for s in styled.spans} == {"red strike", "green underline"}


def test_diff_lists_regressions_first_each_case_apart_with_its_question_and_expected(proj, capsys):
    root, standin = proj
    (root / "evals" / "mixed.yaml").write_text(
        "name: mixed\ncases:\n"
        "  - id: japan\n    inputs: {question: Capital of Japan}\n    expected: Tokyo\n"
        "    assert:\n      - {type: icontains, value: tokyo}\n"
        "  - id: italy\n    inputs: {question: Capital of Italy}\n    expected: Rome\n"
        "    assert:\n      - {type: icontains, value: rome}\n"
    )

    def sloppy_swaps(body):  # with "Be sloppy": Italy regresses, Japan is fixed
        sloppy = "Be sloppy" in body["messages"][0]["content"]
        if "Japan" in body["messages"][-1]["content"]:
            return ["The answer is Tokyo."] if sloppy else ["Kyoto."]
        return ["The error occurs in Milan."] if sloppy else ["The answer is Rome."]

    standin.configure(reply=sloppy_swaps)
    assert wb(root, "eval", "run", "mixed") == 0
    assert wb(root, "eval", "run", "mixed", "--variant", "sloppy") == 0
    capsys.readouterr()
    assert wb(root, "eval", "diff", "e1", "e2") == 0
    text = capsys.readouterr().out
    assert text.index("regression italy") < text.index("fix        japan")  # file order is japan, italy
    italy = text[text.index("regression italy") : text.index("fix        japan")]
    assert "    question: Capital of Italy\n    expected: Rome\n" in italy
    assert italy.endswith("\n\n")  # a blank line before the next case
    assert "Capital of Japan" in text and "expected: Tokyo" in text


def test_promote_without_to_appends_to_the_default_set_and_records_the_variant_by_name(proj, capsys):
    root, standin = proj
    assert main(["--project", str(root), "ask", "Capital of Chile", "--variant", "careful"]) == 0
    assert wb(root, "eval", "promote", "1", "--expected", "Santiago.") == 2
    assert "--to evals/NAME.yaml (or set evals.default_set" in capsys.readouterr().err
    config = root / "workbench.yaml"
    config.write_text(config.read_text().replace("  dir: evals\n", "  dir: evals\n  default_set: capitals.yaml\n"))
    assert wb(root, "eval", "promote", "1", "--expected", "Santiago.") == 0
    from workbench.core.evals.evalset import load_evalset

    case = load_evalset(root / "evals" / "capitals.yaml").cases[-1]
    assert case.expected == "Santiago." and case.source["variant"] == "careful"
