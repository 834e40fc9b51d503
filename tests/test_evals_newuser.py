"""`workbench eval ...` as a new user meets it: the problems an audit of issue 4 found, each
checked through the CLI against the Ollama stand-in, asserting what the user reads."""

from __future__ import annotations

import json

# the capitals set, its stand-in answers (japan fails) and the `proj` fixture, as a user has them
from test_evals_cli import EVALS, chats, proj, wb  # noqa: F401


def test_a_truncated_answer_is_served_from_cache_on_an_unchanged_rerun(proj, capsys):
    """An answer cut at num_predict is complete and deterministic: the re-run reuses it."""
    root, standin = proj
    standin.configure(done_reason="length")
    assert wb(root, "eval", "run", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["summary"]["cache_hits"] == 0 and chats(standin) == 4
    assert wb(root, "eval", "run") == 0
    out = capsys.readouterr().out
    assert "4 of 4 from cache" in out and chats(standin) == 4  # no model call the second time
    assert "pass rate 75% (3/4)" in out  # the cached truncated answers score as before
