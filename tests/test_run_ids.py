"""One parser of run ids (workbench/core/run_ids.py): an id past SQLite's range is a bad id
(exit 2, 'no run with id'), never an OverflowError, in every command that takes one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_project import write_project
from workbench.cli import main
from workbench.core.run_ids import parse_run_id

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "show", f"e{HUGE}"],
        ["eval", "show", HUGE],
        ["finetune", "show", f"f{HUGE}"],
        ["runs", "show", f"f{HUGE}"],
    ],
)
def test_an_id_past_sqlites_range_is_no_run_with_that_id(tmp_path: Path, capsys, argv: list[str]) -> None:
    root = write_project(tmp_path / "p")
    assert main(["-p", str(root), *argv]) == 2
    err = capsys.readouterr().err
    assert f"no run with id '{argv[-1]}'" in err
    assert "Traceback" not in err and "Overflow" not in err


def test_a_malformed_id_names_the_forms_each_command_takes(tmp_path: Path, capsys) -> None:
    root = write_project(tmp_path / "p")
    assert main(["-p", str(root), "eval", "show", "e1x"]) == 2
    assert "not an eval run id: 'e1x' (use a number, e<N>, last or best)" in capsys.readouterr().err
    assert main(["-p", str(root), "finetune", "show", "fx"]) == 2
    assert "not a fine-tune job id: 'fx' (use a number, f<N> or last)" in capsys.readouterr().err


def test_every_prefix_reads_the_same_way_everywhere() -> None:
    assert parse_run_id("RE12") == ("retrieval-eval", 12) and parse_run_id("r3") == ("retrieval", 3)
    assert parse_run_id("e3") == ("eval", 3) and parse_run_id("f3") == ("finetune", 3)
    assert parse_run_id(f"e{HUGE}") is None and parse_run_id("²") is None


def test_each_kind_reads_its_own_prefix_the_longest_first():
    assert parse_run_id("12") == ("generation", 12)
    assert parse_run_id("r3") == ("retrieval", 3)
    assert parse_run_id("re3") == ("retrieval-eval", 3)
    assert parse_run_id("RT3") == ("retrieval-tune", 3)
    assert parse_run_id("e3") == ("eval", 3) and parse_run_id("f3") == ("finetune", 3)
    assert parse_run_id("rx3") is None and parse_run_id("rt") is None
