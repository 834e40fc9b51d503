"""Every generation for a model with `hosts` goes through one shared HostPool, not only evals:
`ask`, concurrent generations and both A/B panes, against real Ollama stand-ins on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fixtures_tui import PLAIN_QA, screen_text
from ollama_standin import OllamaStandin, closed_port_url

from workbench.cli import main
from workbench.core.pipeline import run_generation
from workbench.core.project import Project
from workbench.core.variants import resolve_variant


def pool_project_dir(root: Path, hosts: list[str], *, concurrency: int = 1) -> Path:
    """A project whose model is served by `hosts` (each with `concurrency`), no fallback."""
    root.mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "plain.yaml").write_text('system: You are terse.\ntemplate: "{question}"\n', encoding="utf-8")
    (root / "prompts" / "qa.yaml").write_text(PLAIN_QA, encoding="utf-8")
    listing = "".join(f"    - {{url: {h}, concurrency: {concurrency}}}\n" for h in hosts)
    (root / "workbench.yaml").write_text(
        "name: pooled\nmodel:\n  provider: ollama\n  name: llama3.2\n  hosts:\n"
        + listing
        + "  options: {temperature: 0, seed: 1}\nfallback: []\n"
        "timeouts: {connect_s: 1, first_token_s: 10, idle_s: 5, total_s: 30}\n"
        "retries: {count: 1, backoff_s: 0.01, max_backoff_s: 0.02}\n"
        "default_prompt: plain\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def two_hosts():
    servers = [OllamaStandin().start() for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


def chats(server: OllamaStandin) -> int:
    return len(server.requests_to("/api/chat"))


def test_ask_with_the_first_host_dead_answers_from_the_second(two_hosts, tmp_path, capsys):
    live = two_hosts[0]
    live.configure(reply=["from", " the", " live", " host"])
    root = pool_project_dir(tmp_path / "p", [closed_port_url(), live.url])
    assert main(["--project", str(root), "ask", "hello?"]) == 0
    out = capsys.readouterr().out
    assert "from the live host" in out
    assert chats(live) == 1


def test_a_host_marked_down_by_one_generation_is_skipped_by_the_next(two_hosts, tmp_path):
    live = two_hosts[0]
    live.configure(reply=["ok"])
    dead = closed_port_url()
    project = Project.open(pool_project_dir(tmp_path / "p", [dead, live.url]))
    try:
        variant = resolve_variant(project)

        async def twice():
            return [await run_generation(project, variant, {"question": q}) for q in ("a", "b")]

        first, second = asyncio.run(twice())
    finally:
        project.close()
    assert [a.host for a in first.result.attempts if a.outcome != "ok"] == [dead]
    assert all(a.host != dead for a in second.result.attempts)  # the shared pool knew it was down
    assert second.result.output == "ok" and chats(live) == 2


def test_two_concurrent_generations_land_on_different_hosts(two_hosts, tmp_path):
    for i, server in enumerate(two_hosts):
        server.configure(reply=[f"host{i}"] + [" tok"] * 10, token_delay_s=0.03)
    project = Project.open(pool_project_dir(tmp_path / "p", [s.url for s in two_hosts]))
    try:
        variant = resolve_variant(project)

        async def both():
            return await asyncio.gather(
                *(run_generation(project, variant, {"question": q}) for q in ("first", "second"))
            )

        records = asyncio.run(both())
    finally:
        project.close()
    assert [chats(s) for s in two_hosts] == [1, 1]  # not both queued on one host
    answers = sorted(r.result.output.split()[0] for r in records)
    assert answers == ["host0", "host1"]


async def test_ab_panes_on_a_two_host_model_each_use_one_host(two_hosts, tmp_path, xdg_config, make_app):
    for i, server in enumerate(two_hosts):
        server.configure(reply=[f"host{i}"] + [" answer"] * 10, token_delay_s=0.03)
    app = make_app(pool_project_dir(tmp_path / "p", [s.url for s in two_hosts]))
    async with app.run_test(size=(140, 34)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        app.query_one("#variant-b-select").value = "prompt:qa"
        await pilot.pause()
        field = app.query_one("#var-question")
        field.focus()
        field.value = "compare"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        a, b = app.query_one("#answer-a"), app.query_one("#answer-b")
        firsts = sorted([a.markdown.source.split()[0], b.markdown.source.split()[0]])
        assert firsts == ["host0", "host1"]  # both answered, each from its own host
        text = screen_text(app)
        assert "A · base (" in text and "B · qa (" in text
        assert "reachable" in text and "unreachable" not in text  # the header asks the hosts
    assert [chats(s) for s in two_hosts] == [1, 1]
