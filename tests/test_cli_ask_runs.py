"""`workbench ask` and `workbench runs` as a user runs them: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_project import write_project

from workbench.core.store import Store


def workbench(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def test_ask_streams_answer_and_stats_then_runs_lists_it(ollama_standin, tmp_path):
    ollama_standin.configure(reply=["SQLite", " is", " small."], prompt_eval_count=12, eval_count=3)
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    done = workbench("ask", "--project", str(root), "What is SQLite?")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "SQLite is small.\n"
    assert "model ollama:llama3.2" in done.stderr and "12 prompt + 3 completion tokens" in done.stderr
    assert "status ok" in done.stderr
    listed = workbench("runs", "--project", str(root), "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows[0]["summary"] == "What is SQLite?" and rows[0]["status"] == "ok"
    shown = workbench("runs", "show", rows[0]["id"], "--project", str(root))
    assert "--- output ---\nSQLite is small." in shown.stdout
    assert "model_used: ollama:llama3.2" in shown.stdout


def test_ask_json_and_vars(ollama_standin, tmp_path):
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    done = workbench("ask", "-p", str(root), "--prompt", "audience", "--var", "audience=kids", "--json", "WAL")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["output"] == "Hello, world!" and payload["status"] == "ok"
    assert payload["model"] == "ollama:llama3.2" and payload["generation_id"] == 1
    sent = ollama_standin.requests_to("/api/chat")[0].body["messages"][-1]["content"]
    assert sent == "Explain WAL to kids.\n"


def test_model_output_is_printed_literally(ollama_standin, tmp_path):
    hostile = ["[bold]not bold[/]", " \x1b[31mred\x1b[0m", " \x1b]52;c;Zm9v\x07"]
    ollama_standin.configure(reply=hostile)
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    done = workbench("ask", "-p", str(root), "hi")
    assert done.returncode == 0
    assert "[bold]not bold[/]" in done.stdout
    assert "\x1b" not in done.stdout and "\\x1b[31mred\\x1b[0m" in done.stdout
    assert "\\x1b]52;c;Zm9v\\x07" in done.stdout
    shown = workbench("runs", "show", "1", "-p", str(root))
    assert "\x1b" not in shown.stdout
    pasted = workbench("runs", "show", "1", "--markdown", "-p", str(root))
    assert "\x1b" not in pasted.stdout and "\\x1b[31mred" in pasted.stdout


def test_bad_config_is_one_line_exit_2_and_traceback_only_with_debug(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "workbench.yaml").write_text("name: x\ntimeouts:\n  total_s: ten\n", encoding="utf-8")
    done = workbench("ask", "hi", cwd=root)
    assert done.returncode == 2
    assert done.stderr.strip() == 'error: workbench.yaml:3: timeouts.total_s must be a positive number, got "ten"'
    debug = workbench("ask", "hi", "--debug", cwd=root)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_variable_exit_2(ollama_standin, tmp_path):
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    done = workbench("ask", "-p", str(root), "--prompt", "audience", "WAL")
    assert done.returncode == 2
    assert "audience.yaml:1: prompt 'audience' template uses {audience}" in done.stderr
    assert ollama_standin.requests_to("/api/chat") == []


def test_no_model_answers_exit_3(ollama_nothing_listening, tmp_path):
    root = write_project(tmp_path / "p", host=ollama_nothing_listening)
    done = workbench("ask", "-p", str(root), "hi")
    assert done.returncode == 3
    assert "no model could answer" in done.stderr and "not reachable" in done.stderr
    assert done.stderr.count("no model could answer") == 1  # said once, each reason once
    assert "(3 tries)" in done.stderr


def test_bad_model_or_empty_question_is_exit_2_and_stores_nothing(ollama_standin, tmp_path):
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    done = workbench("ask", "-p", str(root), "--model", "llama3", "hi")
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "error: --model: model must be 'embedded', 'ollama:NAME' or 'openai:NAME', got 'llama3'"
    )
    assert workbench("ask", "-p", str(root), "   ").stderr.strip() == "error: the question is empty"
    assert workbench("runs", "-p", str(root)).stdout.startswith("No runs")
    assert ollama_standin.requests_to("/api/chat") == []


def test_a_partial_answer_still_ends_its_line_and_thinking_is_labelled(ollama_standin, tmp_path):
    ollama_standin.configure(reply=["a", " b"], thinking=["let me", " think"], stall_after=4, stall_s=5)
    root = write_project(
        tmp_path / "p",
        host=ollama_standin.url,
        timeouts="connect_s: 2\n  first_token_s: 5\n  idle_s: 0.5\n  total_s: 20",
    )
    done = workbench("ask", "-p", str(root), "hi")
    assert done.returncode == 1 and done.stdout == "a b\n"  # a pipe gets whole lines
    assert "[thinking] let me think\n" in done.stderr
    assert "status timeout" in done.stderr


def test_costs_keep_their_significant_digits():
    from workbench.present.numbers import format_cost

    assert [format_cost(v) for v in (0, 5.07e-05, 0.00123, 0.25, 1.5, 12.345)] == [
        "0",
        "0.0000507",
        "0.00123",
        "0.250",
        "1.50",
        "12.35",
    ]


def _wait_for_partial_row(db: Path, deadline_s: float = 30) -> dict:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if db.exists():
            con = sqlite3.connect(db)
            con.row_factory = sqlite3.Row
            try:
                row = con.execute("SELECT * FROM generations ORDER BY id DESC LIMIT 1").fetchone()
            except sqlite3.OperationalError:
                row = None
            finally:
                con.close()
            if row and row["output"]:
                return dict(row)
        time.sleep(0.05)
    raise AssertionError("no partial output was flushed")


def _start_long_ask(ollama_standin, tmp_path: Path, **popen: Any) -> tuple[Path, subprocess.Popen]:
    """`workbench ask` in a child process on a 200-token reply streamed slowly enough to interrupt."""
    ollama_standin.configure(reply=[f"w{i} " for i in range(200)], token_delay_s=0.03)
    root = write_project(
        tmp_path / "p",
        host=ollama_standin.url,
        timeouts="connect_s: 2\n  first_token_s: 30\n  idle_s: 30\n  total_s: 60",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "ask", "-p", str(root), "go"],
        **popen,
    )
    return root, proc


def test_kill_9_mid_stream_leaves_partial_row_marked_interrupted(ollama_standin, tmp_path):
    root, proc = _start_long_ask(ollama_standin, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        partial = _wait_for_partial_row(root / ".workbench" / "runs.db")
        assert partial["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.recovered == 1
        row = store.get("generations", partial["id"])
        assert row["status"] == "interrupted"
        assert row["output"].startswith("w0 ")
        assert row["output"].startswith(partial["output"])  # what was flushed is never lost
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listed = workbench("runs", "-p", str(root), "--status", "interrupted", "--json")
    assert json.loads(listed.stdout.splitlines()[0])["id"] == str(partial["id"])


def test_ctrl_c_stores_partial_as_interrupted_and_exits_130(ollama_standin, tmp_path):
    root, proc = _start_long_ask(ollama_standin, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = _wait_for_partial_row(root / ".workbench" / "runs.db")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    with Store(root / ".workbench" / "runs.db") as store:
        row = store.get("generations", partial["id"])
    assert row["status"] == "interrupted"
    assert row["output"].startswith("w0 ") and len(row["output"].split()) < 200
    assert out.startswith(row["output"])  # what the user saw is what was stored
    assert len(ollama_standin.requests_to("/api/chat")) == 1


@pytest.mark.slow
def test_with_no_ollama_the_sample_project_answers_from_the_embedded_model(ollama_nothing_listening, tmp_path):
    import shutil

    sample = Path(__file__).resolve().parents[1] / "sample_data"
    root = tmp_path / "sample"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns(".workbench"))
    env = {"OLLAMA_HOST": ollama_nothing_listening}
    done = workbench("ask", "-p", str(root), "--prompt", "terse_qa", "What is SQLite?", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "model embedded" in done.stderr and "fallback from ollama:llama3.2" in done.stderr
    listed = workbench("runs", "-p", str(root), "--json", env=env)
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["model"] == "embedded" and row["status"] in ("ok", "truncated")
    prompt_tokens, completion_tokens = (int(x) for x in row["tokens"].split("+"))
    assert prompt_tokens > 5 and completion_tokens > 0
    shown = workbench("runs", "show", row["id"], "-p", str(root), env=env).stdout
    assert "fallback_used: yes" in shown and " ms\n" in shown.split("ttft_ms: ")[1].split("\n")[0] + "\n"
    tries = shown.split("attempt_log: ")[1].splitlines()  # one readable line per try, not JSON
    assert tries[0].startswith("ollama:llama3.2 try 1: connect (") and "not reachable" in tries[0]
    assert any(line.strip().startswith("embedded try 1: ok (") for line in tries)
