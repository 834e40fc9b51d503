"""A fresh clone without Ollama running: the fallback answers, and everything the user reads says
so. The eval run's identity, `eval runs` and the Evals tab's pace name the model that answered
(not the one asked for); a refused connection goes to the fallback without retries; a set's first
run says why it prints no resolution yet.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from fixtures_project import write_project
from ollama_standin import OllamaStandin

from workbench.cli import main
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.runner import EvalRunner
from workbench.core.llm.base import Notice
from workbench.core.pipeline import run_generation
from workbench.core.project import Project
from workbench.core.variants import resolve_variant

EVALSET = """\
name: offline-checks
cases:
  - {id: sqlite, inputs: {question: "Name one SQLite journal mode."}, assert: [{type: icontains, value: "wal"}]}
  - {id: greeting, inputs: {question: "Greet me in one word."}, assert: [{type: max-tokens, value: 24}]}
"""


def two_servers(root: Path, model_url: str, backoff_s: float = 0.01) -> Project:
    """ollama:llama3.2 on `model_url`; its fallback ollama:qwen3:0.6b on OLLAMA_HOST (the
    provider's default, since only the model names a host)."""
    write_project(root, fallback=["ollama:qwen3:0.6b"], retries=f"count: 2\n  backoff_s: {backoff_s}")
    text = (root / "workbench.yaml").read_text(encoding="utf-8")
    text = text.replace("  name: llama3.2\n", f"  name: llama3.2\n  hosts: [{{url: {model_url}}}]\n", 1)
    (root / "workbench.yaml").write_text(text, encoding="utf-8")
    return Project.open(root)


def with_evalset(root: Path) -> Path:
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals" / "tiny.yaml").write_text(EVALSET, encoding="utf-8")
    return root / "evals" / "tiny.yaml"


@pytest.mark.slow
def test_an_eval_run_that_fell_back_to_the_embedded_model_says_so_everywhere(
    ollama_nothing_listening, tmp_path, capsys
):
    pytest.importorskip("workbench.core.llm.embedded")
    root = write_project(tmp_path / "p", host=ollama_nothing_listening, fallback=["embedded"])
    with_evalset(root)
    p = ["-p", str(root)]

    assert main([*p, "eval", "run", "evals/tiny.yaml", "--concurrency", "1"]) in (0, 1)
    out = capsys.readouterr().out
    assert "answered: model embedded @" in out and "(fell back from ollama:llama3.2, unreachable)" in out
    assert "resolution: measured from the flips between two runs" in out  # a first run: why no ±X

    assert main([*p, "eval", "show", "e1"]) == 0
    identity = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("identity:"))
    assert re.search(r"model embedded @[0-9a-f]{12} \(fell back from ollama:llama3\.2, unreachable\)", identity)
    assert "ollama:llama3.2 @unknown" not in identity

    assert main([*p, "eval", "runs"]) == 0
    listing = capsys.readouterr().out
    assert "model" in listing.splitlines()[0] and "embedded (fallback)" in listing

    # The same run again: served from the cache under the embedded model's digest, and now the
    # set has a run to measure its resolution against.
    assert main([*p, "eval", "run", "evals/tiny.yaml", "--json"]) in (0, 1)
    import json

    second = json.loads(capsys.readouterr().out)["summary"]
    assert second["cache_hits"] == 2 and second["resolution"]["against"] == 1
    [answered] = second["answered_by"]
    assert answered["model"] == "embedded" and answered["fell_back_from"] == "ollama:llama3.2"

    # The Evals tab's estimate: the pace measured is the embedded model's, and it says so.
    from workbench.core.evals.selection import measured_pace
    from workbench.tui.widgets.evals_selection import estimate_text

    project = Project.open(root)
    try:
        pace = measured_pace(project.store, "ollama:llama3.2")
    finally:
        project.close()
    assert pace is not None
    assert "s a case on embedded, the fallback for ollama:llama3.2" in estimate_text(2, 2, pace, "ollama:llama3.2")


async def test_a_refused_connection_goes_to_the_fallback_at_once(ollama_nothing_listening, ollama_host_env, tmp_path):
    """Nothing listens on the model's host; the fallback (on OLLAMA_HOST) answers with no retry
    in between (the backoff here is 5 s): one failed try, one warning."""
    project = two_servers(tmp_path / "p", ollama_nothing_listening, backoff_s=5)
    events: list = []
    record = await run_generation(project, resolve_variant(project), {"question": "Hi?"}, on_event=events.append)
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert not any("retry" in n for n in notices), notices
    assert [n for n in notices if n.startswith("falling back to ollama:qwen3:0.6b")] == [
        f"falling back to ollama:qwen3:0.6b (Ollama at {ollama_nothing_listening} is not reachable (connection refused))"
    ]
    row = project.store.get("generations", record.id)
    project.close()
    assert row["model_used"] == "ollama:qwen3:0.6b" and row["attempts"] == 2  # one refused try, one answer


async def test_a_busy_server_is_still_retried_before_the_fallback(ollama_standin, project_factory):
    ollama_standin.configure(fail_status=503, fail_times=1, reply=["fine"])
    project = project_factory(host=ollama_standin.url, fallback=["ollama:qwen3:0.6b"])
    events: list = []
    record = await run_generation(project, resolve_variant(project), {"question": "Hi?"}, on_event=events.append)
    assert any("retry 1/2" in e.text for e in events if isinstance(e, Notice))
    row = project.store.get("generations", record.id)
    assert row["model_used"] == "ollama:llama3.2" and row["output"] == "fine" and row["attempts"] == 2


def test_a_run_answered_by_two_models_names_both_with_their_counts(ollama_standin, tmp_path, monkeypatch, capsys):
    """The first case answers on the model's host; then that host fails (500) and the fallback
    on another server answers the second: the identity names both, with counts."""
    with OllamaStandin() as other:
        monkeypatch.setenv("OLLAMA_HOST", other.host)
        project = two_servers(tmp_path / "p", ollama_standin.url)
        root = project.root
        path = with_evalset(root)

        def after_each(progress) -> None:
            if progress.done == 1:
                ollama_standin.configure(fail_status=500, fail_times=100)

        try:
            runner = EvalRunner(
                project, load_evalset(path), resolve_variant(project), concurrency=1, on_progress=after_each
            )
            asyncio.run(runner.run())
        finally:
            project.close()
        assert main(["-p", str(root), "eval", "show", "e1"]) == 0
        identity = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("identity:"))
        assert re.search(
            r"models ollama:llama3\.2 @[0-9a-f]{12} \(1 case\), ollama:qwen3:0\.6b @[0-9a-f]{12} "
            r"\(1 case, fell back from ollama:llama3\.2, server error\)",
            identity,
        ), identity
        assert main(["-p", str(root), "eval", "runs"]) == 0
        assert "2 models" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (  # the tester's case: one over-indented line
            "name: x\nmodel:\n  provider: ollama\nfallback: [embedded]\n  default_prompt: qa\n",
            "workbench.yaml:5: invalid YAML: line 5 is indented more than the key above it expects "
            "(2 spaces; line 4 has 0 and a value of its own): line it up with line 4 (YAML parser: ",
        ),
        ("model:\n\tprovider: ollama\n", "workbench.yaml:2: invalid YAML: line 2 has a tab character"),
        (
            'model:\n  name: "llama3.2\n  provider: ollama\n',
            'workbench.yaml:2: invalid YAML: the " that opens on line 2 is never closed',
        ),
        ("fallback: [embedded\nmodel:\n  name: x\n", "workbench.yaml:1: invalid YAML: the [ on line 1 is never closed"),
        (
            "model:\n  provider: ollama\n  name:llama3.2\n",
            "workbench.yaml:3: invalid YAML: line 3 has no space after the colon of `name:` (write `name: llama3.2`)",
        ),
        (  # `- ollama:qwen2.5` is a valid item: the mistake is line 5's indentation, not a missing space
            "model:\n  fallback:\n    - ollama:qwen2.5\n   - embedded\n",
            "workbench.yaml:4: invalid YAML: line 4 is indented",
        ),
    ],
)
def test_a_yaml_mistake_is_named_in_plain_words_at_its_line(tmp_path, capsys, yaml_text, expected):
    root = write_project(tmp_path / "p")
    (root / "workbench.yaml").write_text(yaml_text, encoding="utf-8")
    assert main(["-p", str(root), "eval", "runs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"/p/{expected}" in err, err
    assert "<block mapping start>" not in err.split("(YAML parser:")[0]


def test_ingest_without_a_terminal_prints_plain_progress_lines(retrieval_project, capsys):
    """CI or `ingest 2> log`: no bar can be drawn, so the phases and the embedding's progress
    come as plain lines on stderr (the report stays on stdout)."""
    assert main(["-p", str(retrieval_project), "ingest"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("ingest: ")]
    assert lines[0].startswith("ingest: scanning"), captured.err
    embedding = [line for line in lines if line.startswith("ingest: embedding")]
    assert embedding and re.search(r"\d+/\d+ files · \d+/\d+ chunks · [\d.]+ chunks/s", embedding[-1]), lines
    assert "ingest: " not in captured.out


def test_the_plain_ingest_log_speaks_every_tenth_or_every_ten_seconds():
    from io import StringIO

    from rich.console import Console

    from workbench.core.retrieval.ingest import IngestProgress
    from workbench.present.retrieval_ingest import PlainIngestLog

    now = [0.0]
    buffer = StringIO()
    log = PlainIngestLog(Console(file=buffer, width=200), clock=lambda: now[0])

    def chunks(done: int, at: float, phase: str = "embedding") -> None:
        now[0] = at
        log(IngestProgress(phase, 1, 4, done, 1000, 5.0, (1000 - done) / 5))

    chunks(0, 0.0, "scanning")  # a phase: said
    chunks(0, 0.5)  # a new phase: said
    chunks(40, 1.0)  # 4%, 1 s later: quiet
    chunks(100, 2.0)  # a tenth: said
    chunks(130, 3.0)  # quiet
    chunks(150, 13.5)  # 10 s since the last line: said, though not a new tenth
    chunks(1000, 14.0, "done")  # the report follows: quiet
    said = buffer.getvalue().splitlines()
    assert [line.split(" · ")[0] for line in said] == ["ingest: scanning"] + ["ingest: embedding"] * 3
    assert [line.split(" · ")[2] for line in said[1:]] == ["0/1000 chunks", "100/1000 chunks", "150/1000 chunks"]


def test_resuming_a_run_the_fallback_answered_says_so_when_the_model_is_back(
    ollama_standin, ollama_nothing_listening, tmp_path, monkeypatch
):
    """A run cancelled while Ollama's model host was down (the fallback answered its first case),
    resumed once the host is up: refused, because its cases would mix two models, and the words
    say the fallback answered, not that "the model's weights changed"."""
    from workbench.core.errors import WorkbenchError

    with OllamaStandin() as other:
        other.configure(models=["qwen3:0.6b"])
        monkeypatch.setenv("OLLAMA_HOST", other.host)
        project = two_servers(tmp_path / "p", ollama_nothing_listening)
        root, path = project.root, with_evalset(project.root)
        runner = EvalRunner(project, load_evalset(path), resolve_variant(project), concurrency=1)
        runner.on_progress = lambda progress: runner.cancel() if progress.done == 1 else None
        outcome = asyncio.run(runner.run())
        project.close()
        assert outcome.status != "finished" and len(outcome.results) == 1

        text = (root / "workbench.yaml").read_text(encoding="utf-8")
        (root / "workbench.yaml").write_text(text.replace(ollama_nothing_listening, ollama_standin.url), "utf-8")
        project = Project.open(root)
        try:
            again = EvalRunner(project, load_evalset(path), resolve_variant(project), concurrency=1)
            with pytest.raises(WorkbenchError) as refused:
                asyncio.run(again.run(resume=outcome.run_id))
        finally:
            project.close()
    message = str(refused.value)
    assert "answered by ollama:qwen3:0.6b, the fallback for ollama:llama3.2 (unreachable then)" in message
    assert "would mix two models" in message and "weights changed" not in message
