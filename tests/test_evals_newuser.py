"""`workbench eval ...` as a new user meets it: the problems an audit of issue 4 found, each
checked through the CLI against the Ollama stand-in, asserting what the user reads."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET

import pytest

# the capitals set, its stand-in answers (japan fails) and the `proj` fixture, as a user has them
from fixtures_evals import CAPITALS_EU as EVALS
from test_evals_cli import answer, chats, ctrl_c_eval_run, proj, wb  # noqa: F401

from workbench.cli import main


def test_a_truncated_answer_is_served_from_cache_on_an_unchanged_rerun(proj, capsys):
    """An answer cut at num_predict is complete and deterministic: the re-run reuses it."""
    root, standin = proj
    standin.configure(done_reason="length")
    assert wb(root, "eval", "run", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["summary"]["cache_hits"] == 0 and chats(standin) == 4
    assert wb(root, "eval", "run") == 0
    out = capsys.readouterr().out
    assert "4 of 4 from cache" in out and chats(standin) == 4  # no model call the second time
    assert "pass rate 75% (3/4)" in out  # the cached truncated answers score as before


def test_b_best_and_last_never_pick_a_run_of_other_cases(proj, capsys):
    """A `--limit 2` run at 100% is not the `best` a full run is gated against: best/last look
    only at finished runs with the same selection, and say so when none qualifies."""
    root, standin = proj
    assert wb(root, "eval", "run", "--limit", "2") == 0  # e1: france, italy: 100%
    capsys.readouterr()
    assert wb(root, "eval", "run", "--baseline", "best", "--fail-on-regression") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no finished run of the whole set of eval set 'capitals' to use as `best`" in err
    assert "(finished runs of eval set 'capitals' cover: --limit 2)" in err
    assert wb(root, "eval", "run") == 0  # e2: the whole set, 75%
    assert wb(root, "eval", "run", "--variant", "careful", "--baseline", "best", "--fail-on-regression") == 0
    assert "gate passed: regressions 0 (allowed 0) against e2 (base" in capsys.readouterr().out  # e3: 100%
    # a subset run gates against the same subset (e1), a full run against full runs (e3, not e4)
    assert wb(root, "eval", "run", "--limit", "2", "--baseline", "last", "--json") == 0  # e4
    assert json.loads(capsys.readouterr().out)["diff"]["a"]["id"] == 1
    assert wb(root, "eval", "run", "--baseline", "last", "--json") == 0
    assert json.loads(capsys.readouterr().out)["diff"]["a"]["id"] == 3
    assert wb(root, "eval", "run", "--tag", "eu", "--baseline", "best") == 2
    assert "no finished run with the same selection (--tag eu)" in capsys.readouterr().err
    assert wb(root, "eval", "show", "best") == 0  # the best whole-set run, not a 2-case one
    assert capsys.readouterr().out.startswith("run e3 ")
    # after an edit of the set, a run of the same version is preferred over a better older one
    (root / "evals" / "capitals.yaml").write_text(EVALS + "# reviewed\n")
    assert wb(root, "eval", "run", "--baseline", "best", "--json") == 0  # e6: no run of this version yet: e3
    assert json.loads(capsys.readouterr().out)["diff"]["a"]["id"] == 3
    assert wb(root, "eval", "run", "--baseline", "best", "--json") == 0
    assert json.loads(capsys.readouterr().out)["diff"]["a"]["id"] == 6


def test_c_import_to_a_relative_path_writes_into_the_project_like_promote(proj, capsys, tmp_path, monkeypatch):
    """`-p DIR eval import log.jsonl --to evals/X.yaml` from another folder: the project's evals/."""
    root, standin = proj
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "prod.jsonl").write_text('{"question": "Capital of Spain"}\n')
    assert wb(root, "eval", "import", "prod.jsonl", "--to", "evals/prod.yaml") == 0
    target = root / "evals" / "prod.yaml"
    assert f"imported 1 case(s) into {target}" in capsys.readouterr().out
    assert target.is_file() and not (elsewhere / "evals").exists()
    assert main(["--project", str(root), "ask", "Capital of Chile"]) == 0
    capsys.readouterr()
    assert wb(root, "eval", "promote", "1", "--to", "evals/prod.yaml", "--assert", "icontains=santiago") == 0
    assert f"to {target}:" in capsys.readouterr().out and "Capital of Chile" in target.read_text()


def test_d_a_flaky_failing_case_shows_a_failing_repeat(proj, capsys, tmp_path):
    """japan passes on repeats 0 and 2 and fails on 1 and 3 (a tie is a fail): the listing shows
    the failing repeat's reason and answer, not repeat 0's passing one."""
    root, standin = proj
    calls = []

    def flip(body):
        if "Japan" in body["messages"][-1]["content"]:
            calls.append(1)
            return ["Tokyo." if len(calls) % 2 else "Kyoto."]
        return answer(body)

    standin.configure(reply=flip)
    junit = tmp_path / "junit.xml"
    assert wb(root, "eval", "run", "--repeat", "4", "--concurrency", "1", "--junit", str(junit)) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "japan" in ln and "flaky:" in ln)
    assert "(flaky: 2 pass / 2 fail)" in line and "icontains: " in line and "tokyo" in line
    assert "answer: Kyoto." in out and "answer: Tokyo." not in out
    case = next(tc for tc in ET.parse(junit).getroot() if tc.get("name") == "japan")
    assert case.find("failure").get("type") == "other" and case.find("system-out").text == "Kyoto."
    assert wb(root, "runs", "show", "e1", "--markdown") == 0  # the Runs tab's report: the same
    report = capsys.readouterr().out
    assert "answer: Kyoto." in report and "answer: Tokyo." not in report


@pytest.mark.parametrize("value", ["0", "-1"])
def test_e_concurrency_below_one_is_bad_input(proj, capsys, value):
    root, standin = proj
    assert wb(root, "eval", "run", "--concurrency", value) == 2
    assert "--concurrency must be at least 1" in capsys.readouterr().err
    assert chats(standin) == 0


@pytest.mark.parametrize("columns", [80, 60, 140])
def test_f_eval_runs_fits_the_width_one_line_per_run_and_never_cuts_id_rate_or_ci(proj, capsys, monkeypatch, columns):
    root, standin = proj
    long_name = "capitals-of-the-whole-wide-world"
    (root / "evals" / "long.yaml").write_text(EVALS.replace("name: capitals", f"name: {long_name}"))
    assert wb(root, "eval", "run", "long", "--json") == 0
    assert wb(root, "eval", "run", "--variant", "careful", "--limit", "2", "--json") == 0
    assert wb(root, "eval", "run", "--variant", "sloppy", "--json") == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", str(columns))  # a pipe: Rich's width is COLUMNS, else 80
    assert wb(root, "eval", "runs") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(len(line) <= columns for line in lines)  # header + one per run
    head, *rows = lines
    assert head.split()[0] == "run" and "95% CI" in head and "…" not in head
    assert [r.split()[0] for r in rows] == ["e3", "e2", "e1"]
    for row, rate, ci in zip(rows, ("50%", "100%", "75%"), ("15%–85%", "34%–100%", "30%–95%"), strict=False):
        assert f" {rate} " in row and f" {ci} " in row
    assert "2/4" in rows[1]
    if columns >= 140:  # room for everything, names whole
        assert long_name in rows[2] and "cached" in head and "judge err" in head
    else:
        assert "capitals-o" in rows[2]


def test_g_the_ctrl_c_hint_is_a_command_that_resumes_from_any_folder(proj, capsys, tmp_path, monkeypatch):
    """Run with -p from another folder and a variant: the printed command names both, and
    pasting it (from yet another folder) finishes the run."""
    root, standin = proj
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    err = ctrl_c_eval_run(
        standin,
        ["eval", "run", "capitals", "-p", str(root), "--variant", "careful", "--concurrency", "1"],
        after_chats=2,
        cwd=elsewhere,
    )
    hint = re.search(r"continue with `([^`]+)`", err).group(1)
    assert hint == f"workbench -p {root} eval run capitals --variant careful --resume 1"
    standin.configure(token_delay_s=0.0)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(hint)[1:] + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run_id"] == 1 and data["status"] == "done" and data["summary"]["cases"] == 4


def test_h_eval_show_json_has_real_objects_not_json_strings(proj, capsys):
    root, standin = proj
    assert wb(root, "eval", "run", "--json") == 0
    capsys.readouterr()
    assert wb(root, "eval", "show", "e1", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    japan = next(r for r in data["results"] if r["case_id"] == "japan")
    assert japan["assertions"][0]["type"] == "icontains" and japan["assertions"][0]["passed"] is False
    assert japan["retrieval"]["verdict"] == "fail" and japan["retrieval"]["tags"] == []
    assert japan["output"] == "Kyoto." and isinstance(data["run"]["config"], dict)


def test_i_eval_runs_of_an_unknown_set_says_which_sets_have_runs(proj, capsys):
    root, standin = proj
    assert wb(root, "eval", "runs", "--set", "capitals") == 0
    assert "No runs of eval set 'capitals' (no eval runs yet)" in capsys.readouterr().out
    assert wb(root, "eval", "run", "--json") == 0
    capsys.readouterr()
    assert wb(root, "eval", "runs", "--set", "nosuch") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out == "No runs of eval set 'nosuch'. Eval sets with runs: capitals"


def test_j_the_summary_leads_with_the_advice(proj, capsys, tmp_path):
    """The advice (which lever to pull) comes first, then the pass rate and the rest: in the
    printed summary, in `eval show`, and in the Markdown report for a pull request."""
    root, standin = proj
    md = tmp_path / "report.md"
    assert wb(root, "eval", "run", "--markdown", str(md)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "run e1: done"
    assert lines[1].startswith("The one failure has no retrieval evidence")
    assert lines[2].startswith("pass rate 75% (3/4), 95% CI")
    assert wb(root, "eval", "show", "e1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("The one failure") and lines[2].startswith("pass rate 75%")
    report = md.read_text()
    assert report.index("> The one failure") < report.index("Pass rate **75.0%**")


def test_k_a_gold_rank_change_alone_is_a_change():
    """Same verdict, same answer, the gold document moved into the context: `changed` lists
    and counts it, labelled `retrieval`."""
    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.results import CaseResult

    a = [CaseResult("moved", "pass", output="x", gold_rank=None), CaseResult("same", "pass", output="y", gold_rank=1)]
    b = [CaseResult("moved", "pass", output="x", gold_rank=2), CaseResult("same", "pass", output="y", gold_rank=1)]
    d = diff_runs(a, b)
    assert [(c.case_id, c.label) for c in d.only("changed")] == [("moved", "retrieval")]
    assert d.counts_text == "2 cases · 1 changed (0 regressions, 0 fixes, 1 retrieval only) · 1 unchanged"


def grounded_project(project_factory, standin, config: str, evalset: str):
    """A stand-in project with two tiny docs, a grounded prompt and one eval set (evals/g.yaml)."""
    project = project_factory(host=standin.url, retries="count: 0\n  backoff_s: 0.01", extra=config)
    root = project.root
    project.close()
    (root / "docs").mkdir()
    (root / "docs" / "autoinc.md").write_text(
        "# AUTOINCREMENT\n\nThe AUTOINCREMENT keyword prevents the reuse of ROWIDs from deleted rows.\n"
    )
    (root / "docs" / "wal.md").write_text(
        "# Write-ahead log\n\nPRAGMA journal_mode=WAL: readers do not block writers.\n"
    )
    (root / "prompts" / "grounded.yaml").write_text('template: "Sources:\\n{context}\\n\\nQuestion: {question}"\n')
    (root / "evals").mkdir()
    (root / "evals" / "g.yaml").write_text(evalset)
    return root


@pytest.mark.slow
def test_k_l_retrieval_changes_and_a_changed_index_show_in_eval_diff(ollama_standin, project_factory, capsys):
    """A real index: k=1 -> k=2 moves the gold document from unretrieved to rank 2 with the same
    answer (K: shown and counted in the text diff); a re-ingest between two runs is recorded
    with each run and warned about (L)."""
    ollama_standin.configure(reply=["The answer."])
    root = grounded_project(
        project_factory,
        ollama_standin,
        "retrieval:\n  corpus: [docs]\n  k: 1\n  mode: dense\nevals:\n  dir: evals\n"
        "variants:\n  wide:\n    retrieval: {k: 2}\n",
        "cases:\n  - id: rowids\n    inputs: {question: 'How do I stop SQLite from reusing ROWIDs of deleted rows?'}\n"
        "    relevant: [wal.md]\n    assert:\n      - {type: icontains, value: answer}\n",
    )
    assert wb(root, "ingest") == 0
    assert wb(root, "eval", "run", "--prompt", "grounded", "--json") == 0  # e1: k=1, wal.md not retrieved
    assert wb(root, "eval", "run", "--prompt", "grounded", "--variant", "wide", "--json") == 0  # e2: rank 2
    capsys.readouterr()
    assert wb(root, "eval", "diff", "e1", "e2", "--only", "changed") == 0
    out = capsys.readouterr().out
    assert "1 changed (0 regressions, 0 fixes, 1 retrieval only)" in out
    assert "retrieval  rowids  pass -> pass  gold rank - -> 2" in out
    assert "index changed" not in out

    (root / "docs" / "cats.md").write_text("# Cats\n\nCats sleep all day.\n")
    assert wb(root, "ingest") == 0
    assert wb(root, "eval", "run", "--prompt", "grounded", "--variant", "wide", "--json") == 0  # e3
    capsys.readouterr()
    assert wb(root, "eval", "diff", "e2", "e3", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    v2, v3 = d["a"]["index_version"], d["b"]["index_version"]
    assert v2 is not None and v3 is not None and v2 != v3
    assert d["b"]["variant_id"] == d["a"]["variant_id"]  # a re-ingest is not a new variant
    assert wb(root, "eval", "diff", "e2", "e3") == 0
    assert f"warning: the index changed between the runs: version {v2} vs {v3}" in capsys.readouterr().out
    # what the run recorded is what its searches saw
    from workbench.core.store import Store

    with Store(root / ".workbench" / "runs.db") as store:
        seen = store.conn.execute(
            "SELECT DISTINCT t.index_version FROM eval_results r JOIN generations g ON g.id = r.generation_id "
            "JOIN retrievals t ON t.id = g.retrieval_id WHERE r.run_id = 3"
        ).fetchall()
    assert seen == [(str(v3),)]
    with Store(root / ".workbench" / "runs.db") as store:  # each run also records the build id
        builds = [json.loads(store.get("eval_runs", i)["config"])["index_build"] for i in (2, 3)]
    assert builds[0] and builds[0] == builds[1]  # an incremental ingest keeps the build


def test_a_rebuilt_index_with_the_same_table_version_is_still_warned_about():
    """After `ingest --reindex` the table version restarts and can equal the old one's; the
    build id tells the two indexes apart."""
    from workbench.core.evals.diff import RunInfo, diff_runs

    a = RunInfo(1, "s", "h", "v", None, index_version=2, index_build="aaaa")
    b = RunInfo(2, "s", "h", "v", None, index_version=2, index_build="bbbb")
    assert any("the index was rebuilt between the runs" in w for w in diff_runs([], [], a=a, b=b).warnings)
    same = RunInfo(2, "s", "h", "v", None, index_version=2, index_build="aaaa")
    assert not any("index" in w for w in diff_runs([], [], a=a, b=same).warnings)


@pytest.mark.slow
def test_relevant_labels_the_index_does_not_know_are_warned_about(ollama_standin, project_factory, capsys):
    """`relevant: [docs/wal.md]` when the index stores `wal.md` (paths are corpus-relative):
    the metrics say 0% while attribution matched loosely; the run now says why up front."""
    ollama_standin.configure(reply=["The answer."])
    root = grounded_project(
        project_factory,
        ollama_standin,
        "retrieval:\n  corpus: [docs]\n  k: 1\nevals:\n  dir: evals\n",
        "cases:\n  - id: wal\n    inputs: {question: 'What is WAL?'}\n    relevant: [docs/wal.md, wal.md]\n"
        "    assert:\n      - {type: icontains, value: answer}\n",
    )
    assert wb(root, "ingest") == 0
    capsys.readouterr()
    assert wb(root, "eval", "run", "--prompt", "grounded") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "warning: 1 `relevant` label(s) name no indexed document (paths are relative to the corpus folder): docs/wal.md"
    ) in err
