"""What an eval set can resolve, where a person reads results: `eval run`'s summary (against the
previous run of the set), `eval show`, `eval diff` and the Evals tab's summary and diff line.
Real runs through the Ollama stand-in on test_evals_cli's 4-case set, whose `sloppy` variant
flips one case."""

from __future__ import annotations

import json

import pytest
from test_evals_cli import proj  # noqa: F401  (the capitals set: variant sloppy flips italy)

from workbench.cli import main
from workbench.core.evals.stats import discordance, resolution


@pytest.fixture
def root(proj):  # noqa: F811
    return proj[0]


# 1 of 4 cases flipped: with Agresti-Min's halves 2/6 flipping, one-sided 5% and 80% power
X = round(resolution(4, discordance(0, 1, 4)) * 100)
LINE = f"the set resolves ±{X} points (1 of 4 cases flipped; a smaller change usually passes as noise)"


def test_run_summary_diff_and_show_say_what_the_set_resolves(root, capsys):
    assert X == 72  # a 4-case set tells nothing smaller than this from noise
    assert main(["--project", str(root), "eval", "run"]) == 0
    first = capsys.readouterr().out
    assert "resolves" not in first  # nothing to compare the first run with

    assert main(["--project", str(root), "eval", "run", "--variant", "sloppy"]) == 0
    out = capsys.readouterr().out.splitlines()
    rate = next(i for i, line in enumerate(out) if line.startswith("pass rate 50% (2/4)"))
    assert out[rate + 1] == f"vs e1: {LINE}"  # right under the pass rate it qualifies

    assert main(["--project", str(root), "eval", "diff", "e1", "e2"]) == 0
    diff = capsys.readouterr().out.splitlines()
    assert diff[1].startswith("-1 case, p=1.00: could be noise") and "pass rate 75% -> 50%" in diff[1]
    assert diff[2] == LINE

    assert main(["--project", str(root), "eval", "diff", "e1", "e2", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["resolution"] == pytest.approx(X / 100, abs=0.005)

    assert main(["--project", str(root), "eval", "show", "e2"]) == 0
    assert f"vs e1: {LINE}" in capsys.readouterr().out


def test_the_evals_tab_shows_the_resolution_in_the_summary_and_the_diff_line(root):
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs
    from workbench.core.project import Project
    from workbench.present.evals import panel_body, stats_line

    assert main(["--project", str(root), "eval", "run"]) == 0
    assert main(["--project", str(root), "eval", "run", "--variant", "sloppy"]) == 0
    project = Project.open(root)
    try:
        store = project.store
        summary = runstore.get_run(store, 2)["summary"]
        assert summary["resolution"]["against"] == 1 and summary["resolution"]["flips"] == 1
        assert f"vs e1: {LINE}" in panel_body(summary)
        diff = diff_runs(runstore.load_results(store, 1), runstore.load_results(store, 2))
        assert stats_line(diff).endswith(f"(Δ 95% CI -75% to +0%) · the set resolves ±{X} points")
    finally:
        project.close()


def test_a_comparison_of_one_case_says_it_resolves_nothing_instead_of_over_100_points(root, capsys):
    """A `--limit 1` run compared with another: the resolution is over 100 points, which is no
    number to act on (a new user saw "±144 points"); the words say the set is too small."""
    assert main(["--project", str(root), "eval", "run", "--limit", "1"]) == 0
    assert main(["--project", str(root), "eval", "run", "--limit", "1", "--variant", "sloppy"]) == 0
    capsys.readouterr()
    assert main(["--project", str(root), "eval", "diff", "e1", "e2"]) == 0
    out = capsys.readouterr().out
    assert "the set is too small to resolve any change (0 of 1 case flipped; run more cases to compare)" in out
    assert "±1" not in out and "points" not in out.split("flipped")[0].rsplit("\n", 1)[-1]
