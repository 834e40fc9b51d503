"""A diff across eval-set versions compares the cases both runs share when that is sound.

Issue 17 item 8: after `eval promote` adds a case, a run before and a run after used different
versions of the set; the diff must compare the shared cases (and say so), and leave out a case
whose checks changed. Real SQLite store, real eval files, the real promote and the real CLI; the
results are written as the runner writes them (no model needed to decide a verdict).
"""

from __future__ import annotations

from fixtures_project import write_project
from test_evals_promote_gate import add_generation

from workbench.cli import main
from workbench.core.evals import runstore
from workbench.core.evals.diff import diff_runs
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.promote import promote_generation
from workbench.core.evals.results import CaseResult
from workbench.core.store import Store

SET = """\
name: prod
cases:
  - id: wal
    inputs: {question: "How do readers not block writers?"}
    assert:
      - {type: icontains, value: WAL}
  - id: vacuum
    inputs: {question: "How do I shrink the file?"}
    assert:
      - {type: icontains, value: VACUUM}
"""


def _run(store: Store, path, verdicts: dict[str, str]) -> int:
    es = load_evalset(path)
    run_id = runstore.create_run(store, evalset=es, variant_id="abc123", variant_name="base", repeat=1, config={})
    for cid, verdict in verdicts.items():
        runstore.write_result(store, run_id, CaseResult(cid, verdict, output=f"{cid} {verdict}"))
    runstore.finish_run(store, run_id, "done", {})
    return run_id


def _diff(store: Store, a: int, b: int):
    info = [runstore.run_info(runstore.get_run(store, r)) for r in (a, b)]
    return diff_runs(runstore.load_results(store, a), runstore.load_results(store, b), a=info[0], b=info[1])


def test_a_promoted_case_leaves_the_shared_cases_compared_without_a_version_warning(tmp_path, capsys):
    root = write_project(tmp_path / "proj", extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    path = root / "evals" / "prod.yaml"
    path.write_text(SET, encoding="utf-8")
    with Store(root / ".workbench" / "runs.db") as store:
        e1 = _run(store, path, {"wal": "pass", "vacuum": "fail"})
        gen = add_generation(store, "Why does SQLite need a busy timeout?")
        promoted = promote_generation(store, gen, path, expected="Writers wait for the lock.")
        e2 = _run(store, path, {"wal": "pass", "vacuum": "pass", promoted.id: "fail"})
        d = _diff(store, e1, e2)
        assert d.a.evalset_hash != d.b.evalset_hash  # the promote made a new version of the set
        assert d.warnings == ["compared on the 2 cases both runs have (1 case added since e1)"]
        assert d.stats.n == 2 and d.stats.fixes == 1

        # a case whose check changed is shown but left out of the statistics, by name
        path.write_text(path.read_text().replace("value: VACUUM", "value: VACUUM INTO"), encoding="utf-8")
        e3 = _run(store, path, {"wal": "fail", "vacuum": "pass", promoted.id: "pass"})
        d = _diff(store, e1, e3)
        assert any(
            "different versions of the eval set" in w
            and "1 case changed inputs or checks (vacuum)" in w
            and "left out of the statistics" in w
            for w in d.warnings
        )
        assert "compared on the case both runs have with the same checks (1 case added since e1)" in d.warnings
        assert d.stats.n == 1 and d.stats.regressions == 1
        vacuum = next(c for c in d.cases if c.case_id == "vacuum")
        assert vacuum.checks_changed and vacuum.label == "checks" and vacuum.change == "changed"
        assert [c.case_id for c in d.fixes] == [] and "1 checks changed" in d.counts_text

    assert main(["--project", str(root), "eval", "diff", str(e1), str(e2)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "compared on the 2 cases both runs have (1 case added since e1)" in out
    assert "different versions of the eval set" not in out


def test_runs_stored_before_fingerprints_keep_the_version_warning(tmp_path):
    path = tmp_path / "prod.yaml"
    path.write_text(SET, encoding="utf-8")
    with Store(tmp_path / "runs.db") as store:
        e1 = _run(store, path, {"wal": "pass", "vacuum": "fail"})
        path.write_text(SET.replace("value: WAL", "value: wal"), encoding="utf-8")
        e2 = _run(store, path, {"wal": "pass", "vacuum": "fail"})
        row = runstore.get_run(store, e1)
        store.update("eval_runs", e1, {"config": {k: v for k, v in row["config"].items() if k != "case_hashes"}})
        d = _diff(store, e1, e2)
        assert any(
            "different versions of the eval set" in w and "may flip for that reason alone" in w for w in d.warnings
        )
        assert d.stats.n == 2
