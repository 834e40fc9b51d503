"""The Retrieval tab says when the index is incomplete (an ingest killed part-way), and ctrl+g
finishes it (real model, real LanceDB)."""

from __future__ import annotations

import json
from pathlib import Path

from test_tui_retrieval import indexed_dir, indexed_template, open_tab, settle, until_text  # noqa: F401


def leave_as_a_killed_ingest(root: Path, expected: int) -> None:
    """meta.json as a process killed mid-ingest leaves it (state and expected count)."""
    meta_path = root / ".workbench" / "index" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(state="ingesting", files_expected=expected)
    meta_path.write_text(json.dumps(meta))


async def test_an_incomplete_index_says_so_and_ctrl_g_finishes_it(indexed_dir, make_app):
    leave_as_a_killed_ingest(indexed_dir, 6)
    app = make_app(indexed_dir, probe=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tab(app, pilot)
        await until_text(app, pilot, "index incomplete: 4/6 files: ctrl+g finishes it")
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        text = await until_text(app, pilot, "4 docs · ")
        assert "incomplete" not in text
