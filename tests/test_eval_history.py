"""`workbench eval history`: the sample project's SQL tasks (scored by its real Python scorer)
run with three variants against the Ollama stand-in, then the chart: three points with their
95% CIs, the best marked; runs on other weights or eval-set versions in their own section."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.core.evals.history import build_history
from workbench.present.evals import history_lines

REPO = Path(__file__).resolve().parents[1]

# What each variant "writes": the terse prompt gets 2 of 5 right, the grounded ones 4 of 5.
RIGHT = {
    "how many books": "```sql\nSELECT count(*) FROM book;\n```",
    "after 1980": "```sql\nSELECT title FROM book WHERE year > 1980;\n```",
    "each kind": "SELECT kind, count(*) AS n FROM pet GROUP BY kind;",
    "sum of their order": "```sql\nSELECT name, sum(total) FROM customer JOIN orders "
    "ON orders.customer_id = customer.id GROUP BY name;\n```",
    "nickname or the name": "```sql\nSELECT coalesce(nickname, name) FROM person;\n```",
}
WRONG = "```sql\nSELECT name FROM nowhere;\n```"


def reply(body):
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    question = body["messages"][-1]["content"]
    good = ("one or two sentences" not in system,) * 2 + (True, True, "one or two sentences" not in system)
    for (key, answer), ok in zip(RIGHT.items(), good, strict=False):
        if key in question:
            return [answer if ok else WRONG]
    return ["?"]


@pytest.fixture
def sample(tmp_path, ollama_host_env):
    root = tmp_path / "sample"
    shutil.copytree(REPO / "sample_data", root, ignore=shutil.ignore_patterns(".workbench"))
    ollama_host_env.configure(reply=reply)
    return root


@pytest.fixture
def sample_standin(ollama_host_env):
    return ollama_host_env


def wb(root, *argv):
    return main(["--project", str(root), *argv])


def test_history_on_the_sample_after_three_variants_shows_three_points_with_cis(sample, sample_standin, capsys):
    assert wb(sample, "eval", "run", "sql_tasks", "--variant", "terse") == 0
    assert wb(sample, "eval", "run", "sql_tasks", "--variant", "k8") == 0
    sample_standin.configure(
        reply=lambda body: [WRONG] if "nickname" in body["messages"][-1]["content"] else reply(body)
    )
    assert wb(sample, "eval", "run", "sql_tasks", "--no-cache") == 0  # base: k8's prompt, one more miss
    capsys.readouterr()
    assert wb(sample, "eval", "history", "sql_tasks") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sql-tasks: pass rate and 95% CI per run, oldest first (0% … 100%)"
    runs = [line for line in lines if line.startswith("e")]
    assert [r.split()[:3] for r in runs[:2]] == [["e1", "terse", "40%"], ["e2", "k8", "100%"]]
    assert re.match(r"e3  base \([0-9a-f]{8}\)  +80% ", runs[2])
    assert "[12%–77%]" in runs[0] and "[57%–100%]" in runs[1]  # Wilson 95% CIs of 2/5 and 5/5
    assert all("├" in r and "●" in r for r in runs[:1]) and runs[1].endswith("●|  ← best")
    assert sum("← best" in r for r in runs) == 1 and len(lines) == 4  # one section: no separator lines

    assert wb(sample, "eval", "history", "--json", "sql-tasks") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["variant"], r["passed"], r["total"]) for r in data["runs"]] == [
        ("terse", 2, 5),
        ("k8", 5, 5),
        (runs[2].split()[1] + " " + runs[2].split()[2], 4, 5),
    ]
    assert all(r["ci"][0] < r["pass_rate"] or r["pass_rate"] == 0 for r in data["runs"])

    # the same command works in a pipe: no colour codes, nothing but text
    assert "\x1b" not in "\n".join(lines)


def row(run_id, rate_of, digest, version="v1", variant="base", selection=None, status="done", ci=True):
    passed, total = rate_of
    config = {"model_digest": digest, **({"selection": {"how": selection}} if selection else {})}
    summary = {"passed": passed, "total": total, "pass_rate": passed / total}
    if ci:
        from workbench.core.evals.stats import wilson_interval

        summary["ci"] = list(wilson_interval(passed, total))
    return {
        "id": run_id,
        "evalset_name": "qa",
        "evalset_hash": version,
        "status": status,
        "variant_name": variant,
        "created_at": f"2026-01-0{run_id}",
        "config": config,
        "summary": summary,
    }


def test_other_weights_and_set_versions_are_sections_and_best_is_from_the_newest():
    rows = [
        row(1, (9, 10), "sha256:aaaa"),
        row(2, (5, 10), "sha256:aaaa", variant="terse"),
        row(3, (6, 10), "sha256:bbbb", variant="k8"),
        row(4, (7, 10), "sha256:bbbb", version="v2", ci=False),
        row(5, (10, 10), "sha256:bbbb", version="v2", selection="--limit 10"),
        row(6, (1, 10), "sha256:bbbb", version="v2", status="cancelled"),
    ]
    h = build_history(rows, "qa")
    assert [p.run_id for p in h.points] == [1, 2, 3, 4] and h.skipped == 1
    assert [p.segment for p in h.points] == [0, 0, 1, 2]
    assert h.best.run_id == 4  # e1's 90% was on other weights: not comparable
    assert h.points[3].lo is not None  # an old summary without a CI gets one
    text = "\n".join(history_lines(h))
    assert text.count("── eval set") == 3 and "weights aaaa" in text and "eval set v2" in text
    assert "compare within a section" in text and "(1 subset runs" in text


def test_no_runs_says_what_to_run():
    assert history_lines(build_history([], "qa")) == ["no finished whole-set runs of qa yet: `workbench eval run qa`"]
