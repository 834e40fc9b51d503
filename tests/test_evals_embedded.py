"""`workbench eval run` on the real embedded model (SmolLM2 in-process, no server), as a new
user without Ollama runs it: the run completes, every check is scored against a real answer,
an unchanged re-run is served from the cache, and the gate's exit codes hold.

The other eval tests script answers through the Ollama stand-in so they can pin exact flips;
this one proves the same path works on the model a fresh clone actually answers with.
"""

from __future__ import annotations

import json

import pytest

from workbench.cli import main

pytestmark = pytest.mark.slow

EVALSET = """\
name: tiny
cases:
  - id: wal
    inputs: {question: "What does WAL stand for in SQLite?"}
    assert:
      - {type: icontains, value: "write-ahead"}
      - {type: max-tokens, value: 24}
  - id: nonsense
    inputs: {question: "Say hello."}
    assert:
      - {type: contains, value: "zyzzyva-not-a-word"}
"""


@pytest.fixture
def root(tmp_path):
    pytest.importorskip("workbench.core.llm.embedded")
    root = tmp_path / "offline"
    (root / "prompts").mkdir(parents=True)
    (root / "evals").mkdir()
    (root / "prompts" / "qa.yaml").write_text('system: Answer briefly.\ntemplate: "{question}"\n')
    (root / "evals" / "tiny.yaml").write_text(EVALSET)
    (root / "workbench.yaml").write_text(
        "name: offline\nmodel:\n  provider: embedded\n  options: {temperature: 0, seed: 1, num_predict: 24}\n"
        "fallback: []\ndefault_prompt: qa\nevals:\n  dir: evals\n  default_set: tiny.yaml\n"
    )
    return root


def run(root, *argv):
    return main(["--project", str(root), "eval", "run", *argv])


def test_an_eval_run_on_the_embedded_model_completes_then_reruns_from_cache(root, capsys):
    assert run(root, "--json", "--concurrency", "1") == 0
    first = json.loads(capsys.readouterr().out)
    summary = first["summary"]
    assert first["status"] == "done" and summary["cases"] == 2
    assert summary["failing_cases"]["nonsense"] == "other"  # no answer contains a made-up word
    assert summary["tokens"]["completion"] > 0 and summary["cache_hits"] == 0
    assert "no retrieval evidence" in summary["advice"]  # attribution names the missing lever

    # Unchanged: every answer comes from the cache (complete or cut at num_predict alike).
    assert run(root, "--json", "--baseline", "last", "--fail-on-regression") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["summary"]["cache_hits"] == 2
    assert second["diff"] is not None and second["gate"]["passed"] is True
    assert second["summary"]["pass_rate"] == summary["pass_rate"]

    # The gate on a rate the tiny model cannot reach exits 1.
    assert run(root, "--min-pass-rate", "1.0") == 1
    assert "gate FAILED" in capsys.readouterr().out
