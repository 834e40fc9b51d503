"""Stopping long work from outside, as a user or a CI runner does it: real processes, real signals.

SIGTERM (`kill PID`, a CI timeout) takes the Ctrl-C path (core/interrupts.py): what finished
is kept, the rest is stored `interrupted`, the resume command is printed, exit 143. Ctrl-C stops
a run within a second or two even while a case is busy in a user's regex. A reader that closes
the pipe (`| head`) gets exit 141 and an `interrupted` row. The Ollama stand-in's per-token delay
makes a slow model without loading weights.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from fixtures_project import write_project
from fixtures_retrieval import write_grounded_project
from test_cli_ask_runs import _wait_for_partial_row
from test_evals_cli import answer, chats, proj, wb  # noqa: F401 (proj is a fixture)

from workbench.core.store import Store

SLOW = {"token_delay_s": 0.05}


def _start(argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *argv],
        env={**os.environ, "PYTHONPATH": os.getcwd(), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _count_rows(db, table: str) -> int:
    """Rows in `table`, read without opening the Store (which would mend rows as it opens)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def _stop(proc: subprocess.Popen, sig: int) -> tuple[str, str, float]:
    """Send `sig`; (stdout, stderr, seconds until the process ended)."""
    started = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return out, err, time.monotonic() - started


def test_sigterm_mid_eval_run_keeps_finished_cases_marks_interrupted_and_exits_143(proj):
    """Before: SIGTERM killed the process like kill -9 (exit -15, the run left `running`)."""
    root, standin = proj
    standin.configure(reply=lambda b: [w + " " for w in answer(b)[0].split()] + ["x"] * 30, **SLOW)
    proc = _start(["--project", str(root), "eval", "run", "--concurrency", "1"])
    assert standin.wait_for(lambda s: chats(s) >= 3, timeout=60)
    _, err, seconds = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert seconds < 5
    assert "stopped by SIGTERM: 2 finished case(s) kept in run 1" in err
    assert "workbench -p" in err and "--resume 1" in err
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.recovered == 0  # stored by the process itself, not mended later
        assert store.get("eval_runs", 1)["status"] == "interrupted"
        assert len(store.rows("eval_results", "run_id = 1")) == 2
        assert sorted(r["status"] for r in store.rows("generations")) == ["interrupted", "ok", "ok"]
    standin.configure(token_delay_s=0.0)
    assert wb(root, "eval", "run", "--resume", "1") == 0
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.get("eval_runs", 1)["status"] == "done"
        assert len(store.rows("eval_results", "run_id = 1")) == 4


def test_ctrl_c_stops_an_eval_run_while_a_case_is_stuck_in_a_regex(ollama_standin, tmp_path):
    """Before: `re` held the GIL for minutes on this pattern and SIGINT waited for it."""
    ollama_standin.configure(reply=["a" * 40 + "b"])
    root = write_project(tmp_path / "p", host=ollama_standin.url, extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    cases = "".join(
        f"  - id: c{i}\n    inputs: {{question: q{i}}}\n    assert:\n      - {{type: regex, value: '(a|aa)+$'}}\n"
        for i in range(8)
    )
    (root / "evals" / "stuck.yaml").write_text(f"name: stuck\ncases:\n{cases}")
    proc = _start(["-p", str(root), "eval", "run", "--concurrency", "1"])
    assert ollama_standin.wait_for(lambda s: chats(s) >= 1, timeout=60)
    time.sleep(0.3)  # the first answer is in: its check is backtracking now
    _, err, seconds = _stop(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    # the regex in flight ends within its 1 s limit (wall time, matching.py); the bound is
    # generous because this box is shared
    assert seconds < 10, f"took {seconds:.1f} s to stop"
    assert "cancelled:" in err and "--resume 1" in err
    with Store(root / ".workbench" / "runs.db") as store:
        assert store.get("eval_runs", 1)["status"] == "cancelled"
        assert len(store.rows("eval_results", "run_id = 1")) < 8


def test_sigterm_mid_answer_stores_it_interrupted_and_exits_143(ollama_standin, tmp_path):
    ollama_standin.configure(reply=[f"w{i} " for i in range(200)], **SLOW)
    root = write_project(
        tmp_path / "p",
        host=ollama_standin.url,
        timeouts="connect_s: 2\n  first_token_s: 30\n  idle_s: 30\n  total_s: 60",
    )
    proc = _start(["ask", "-p", str(root), "go"])
    partial = _wait_for_partial_row(root / ".workbench" / "runs.db")
    out, err, seconds = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert seconds < 3 and "stopped by SIGTERM" in err
    with Store(root / ".workbench" / "runs.db") as store:
        row = store.get("generations", partial["id"])
    assert row["status"] == "interrupted"
    assert row["output"].startswith(partial["output"]) and len(row["output"].split()) < 200
    assert out.startswith(row["output"])  # what was printed is what was stored


def test_ask_into_head_exits_141_and_stores_the_answer_interrupted(ollama_standin, tmp_path):
    """`ask … | head -c 5`: the reader leaving is reported as 141 (what a shell reports for
    SIGPIPE), not 0, and the row says the answer was not read to its end."""
    ollama_standin.configure(reply=[f"w{i} " for i in range(100)], token_delay_s=0.01)
    root = write_project(tmp_path / "p", host=ollama_standin.url)
    cmd = f'{sys.executable} -m workbench.cli ask -p {root} go | head -c 5; echo " rc=${{PIPESTATUS[0]}}"'
    done = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()}
    )
    assert done.stdout == "w0 w1 rc=141\n", done.stderr
    assert "Traceback" not in done.stderr
    with Store(root / ".workbench" / "runs.db") as store:
        row = store.rows("generations")[-1]
    assert row["status"] == "interrupted" and row["output"].startswith("w0 w1")


@pytest.mark.slow
def test_sigterm_during_ingest_stops_within_seconds_and_exits_143(tmp_path):
    """Before: SIGTERM killed ingest outright; and a Ctrl-C waited for the embedding model to
    load (5-12 s here) before its 'after this batch' check. Now a batch gets STOP_GRACE_S, then
    the ingest stops where it is (each file's chunks are one commit) and says how to finish."""
    root = write_grounded_project(tmp_path / "p")
    for i in range(40):
        (root / "docs" / f"n{i:02}.md").write_text(f"# Note {i}\n\n" + " ".join(f"w{i}x{j}" for j in range(20)))
    proc = _start(["-p", str(root), "ingest"])
    lock = root / ".workbench" / "index" / ".ingest.lock"  # taken after the handlers are in place
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # loading the embedding model now
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    said = {}
    for line in proc.stderr:
        said.setdefault(line.split(":")[0], time.monotonic() - started)
    proc.wait(timeout=60)
    assert proc.returncode == 143, said
    assert said.get("stopped", 99) < 3, said  # what the user sees; the interpreter's own exit follows
    assert "Index: 45 documents" not in proc.stdout.read()
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "-p", str(root), "ingest"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "Index: 45 documents" in done.stdout, done.stdout + done.stderr


def test_ctrl_c_while_the_similar_model_loads_stops_at_once(ollama_standin, tmp_path):
    """Before: the load ran in asyncio's executor, which asyncio.run joins on the way out, so
    Ctrl-C waited for the embedding model (9 s here) and the process then took 3 s more."""
    ollama_standin.configure(reply=["Paris"])
    root = write_project(tmp_path / "p", host=ollama_standin.url, extra="evals:\n  dir: evals\n")
    (root / "evals").mkdir()
    (root / "evals" / "s.yaml").write_text(
        "name: s\ncases:\n  - id: one\n    inputs: {question: q}\n"
        "    expected: Paris\n    assert:\n      - {type: similar}\n"
    )
    proc = _start(["-p", str(root), "eval", "run"])
    db = root / ".workbench" / "runs.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the run's row exists: the model load starts next
        if _count_rows(db, "eval_runs"):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    _, err, seconds = _stop(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert seconds < 3, f"took {seconds:.1f} s to stop"
    assert "cancelled: 0 finished case(s) kept in run 1" in err
