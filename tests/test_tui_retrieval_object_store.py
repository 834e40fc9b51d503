"""The Retrieval tab over an index on object storage (retrieval.uri), against moto's real S3
server on loopback (the fixtures of test_retrieval_object_store.py)."""

from __future__ import annotations

import socket

from test_retrieval_object_store import _project, s3, s3_env  # noqa: F401  (fixtures)
from test_tui_retrieval import open_tab, settle, until_text


async def test_the_tab_ingests_into_s3_and_shows_its_stats(tmp_path, s3_env, embedder, make_app):
    root = _project(tmp_path, "tui")
    app = make_app(root, probe=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tab(app, pilot)
        await until_text(app, pilot, "No retrieval index yet — press ctrl+g")
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        await until_text(app, pilot, "5 docs · ")
    assert "tui/meta.json" in s3_env.objects("tui")
    assert not (root / ".workbench" / "index").exists()


async def test_an_unreachable_store_is_said_not_taken_for_no_index(tmp_path, s3_env, make_app, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    app = make_app(_project(tmp_path, "gone"), probe=False)
    async with app.run_test(size=(160, 30)) as pilot:
        await open_tab(app, pilot)
        text = await until_text(app, pilot, "cannot reach the object store")
        assert "No retrieval index yet" not in text and "rebuilds" not in text
