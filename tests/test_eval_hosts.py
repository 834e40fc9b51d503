"""Evals across several model servers for one model (`model.hosts`), against real Ollama
stand-ins on loopback: least-busy routing, a dead host skipped, a host killed mid-stream, the
digest check at the start of a run, and answers cached across hosts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from ollama_standin import OllamaStandin, closed_port_url

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.runner import EvalRunner
from workbench.core.project import Project
from workbench.core.variants import resolve_variant
from workbench.present.runs import attempt_line


def hosts_project(root: Path, hosts: list[str], *, concurrency: int = 2, retries: int = 2) -> Project:
    root.mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "plain.yaml").write_text('template: "{question}"\n', encoding="utf-8")
    listing = "".join(f"    - {{url: {h}, concurrency: {concurrency}}}\n" for h in hosts)
    (root / "workbench.yaml").write_text(
        "model:\n  provider: ollama\n  name: llama3.2\n  hosts:\n"
        + listing
        + "  options: {temperature: 0, seed: 1}\nfallback: []\n"
        "timeouts: {connect_s: 1, first_token_s: 10, idle_s: 5, total_s: 30}\n"
        f"retries: {{count: {retries}, backoff_s: 0.01, max_backoff_s: 0.02}}\n"
        "default_prompt: plain\n",
        encoding="utf-8",
    )
    return Project.open(root)


def write_cases(path: Path, n: int) -> Path:
    cases = "".join(
        f"  - id: c{i}\n    inputs: {{question: q{i}}}\n    assert: [{{type: contains, value: o}}]\n" for i in range(n)
    )
    path.write_text("name: many\ncases:\n" + cases, encoding="utf-8")
    return path


def run_eval(project: Project, path: Path, progress: list | None = None):
    runner = EvalRunner(
        project,
        load_evalset(path),
        resolve_variant(project),
        concurrency=1,
        on_progress=(progress.append if progress is not None else None),
    )
    return asyncio.run(runner.run())


@pytest.fixture
def three_hosts():
    servers = [OllamaStandin().start() for _ in range(3)]
    for s in servers:
        s.configure(reply=["Hell", "o", " world"], token_delay_s=0.02)
    yield servers
    for s in servers:
        s.stop()


def chat_requests(server: OllamaStandin) -> int:
    return len(server.requests_to("/api/chat"))


def test_cases_spread_over_the_hosts_and_progress_names_each(three_hosts, tmp_path):
    project = hosts_project(tmp_path / "p", [s.url for s in three_hosts])
    seen: list = []
    try:
        outcome = run_eval(project, write_cases(tmp_path / "e.yaml", 18), seen)
    finally:
        project.close()
    assert outcome.status == "done" and len(outcome.results) == 18
    assert all(r.status == "ok" and r.verdict == "pass" for r in outcome.results)
    counts = [chat_requests(s) for s in three_hosts]
    assert sum(counts) == 18 and min(counts) >= 3, counts  # runner concurrency 1, the pool's is 6
    final = seen[-1].hosts
    assert [h.url for h in final] == [s.url for s in three_hosts]
    assert sum(h.done for h in final) == 18 and all(h.state == "up" for h in final)
    assert "hosts" in json.dumps(project_runs_config(tmp_path / "p"))


def project_runs_config(root: Path) -> dict:
    project = Project.open(root)
    try:
        return json.loads(project.store.db.execute("select config from eval_runs").fetchone()[0])
    finally:
        project.close()


def test_a_dead_host_is_marked_down_and_its_cases_go_elsewhere(three_hosts, tmp_path):
    dead = closed_port_url()
    project = hosts_project(tmp_path / "p", [dead, three_hosts[0].url])
    seen: list = []
    try:
        outcome = run_eval(project, write_cases(tmp_path / "e.yaml", 6), seen)
    finally:
        project.close()
    assert all(r.status == "ok" for r in outcome.results)
    assert chat_requests(three_hosts[0]) == 6
    states = {h.url: h.state for h in seen[-1].hosts}
    assert states[dead] == "down"  # found at the start of the run (digest check), never sent work


def test_a_host_killed_mid_stream_costs_only_that_attempt(three_hosts, tmp_path):
    for s in three_hosts:
        s.configure(reply=["a"] * 10 + ["o"], token_delay_s=0.03)
    project = hosts_project(tmp_path / "p", [s.url for s in three_hosts])
    victim = three_hosts[1]
    victim_url = victim.url

    def kill_when_streaming() -> None:
        deadline = time.monotonic() + 10
        while chat_requests(victim) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # a few tokens into its streams
        victim.stop()

    killer = threading.Thread(target=kill_when_streaming)
    killer.start()
    try:
        outcome = run_eval(project, write_cases(tmp_path / "e.yaml", 24))
        killer.join()
        rows = project.store.db.execute("select attempt_log, output from generations where source = 'eval'").fetchall()
    finally:
        project.close()
    assert outcome.status == "done"
    assert sorted(r.case_id for r in outcome.results) == sorted(f"c{i}" for i in range(24))
    assert all(r.status == "ok" and r.output == "a" * 10 + "o" for r in outcome.results)
    logs = [json.loads(log) for log, _ in rows]
    restarted = [log for log in logs if any(a.get("partial_output") for a in log)]
    assert restarted, "some case was mid-stream on the killed host"
    for log in restarted:
        cut = next(a for a in log if a.get("partial_output"))
        assert cut["host"] == victim_url and cut["outcome"] == "dropped"
        assert cut["partial_output"].startswith("a") and log[-1]["outcome"] == "ok"
        assert "cut after" in attempt_line(cut)  # what `runs show` prints for it


def test_different_weights_on_two_hosts_stop_the_run_naming_them(three_hosts, tmp_path):
    three_hosts[2].remake("llama3.2")
    project = hosts_project(tmp_path / "p", [s.url for s in three_hosts])
    try:
        with pytest.raises(WorkbenchError) as info:
            run_eval(project, write_cases(tmp_path / "e.yaml", 2))
    finally:
        project.close()
    message = str(info.value)
    assert "serve different weights" in message
    assert three_hosts[2].url in message and three_hosts[0].url in message
    assert sum(chat_requests(s) for s in three_hosts) == 0  # nothing was generated


def test_cached_answers_are_shared_across_hosts(three_hosts, tmp_path):
    project = hosts_project(tmp_path / "p", [three_hosts[0].url, three_hosts[1].url])
    path = write_cases(tmp_path / "e.yaml", 4)
    try:
        run_eval(project, path)
    finally:
        project.close()
    # Same model and digest behind other hosts: the second run is served from the cache.
    (tmp_path / "p" / "workbench.yaml").write_text(
        (tmp_path / "p" / "workbench.yaml").read_text().replace(three_hosts[0].url, three_hosts[2].url)
    )
    project = Project.open(tmp_path / "p")
    try:
        outcome = run_eval(project, path)
    finally:
        project.close()
    assert all(r.cached for r in outcome.results)
    assert chat_requests(three_hosts[2]) == 0


def test_host_config_errors_name_file_line_and_field(tmp_path, monkeypatch):
    from workbench.core.config import load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.yaml").write_text("model:\n  name: m\n  hosts:\n    - http://a:11434\n    - ftp://b\n")
    with pytest.raises(WorkbenchError, match=r"workbench.yaml:5: model.hosts\[1\]: must be an http"):
        load_config(tmp_path)
    (tmp_path / "workbench.yaml").write_text(
        "model:\n  name: m\n  hosts: [http://a:11434]\nvariants:\n  v:\n    hosts: [http://b:11434]\n"
    )
    with pytest.raises(WorkbenchError, match=r"variants.v: ollama:m is already served elsewhere by model"):
        load_config(tmp_path)
