"""Crafted and unlucky input, as an attacker or a tired user would type it: YAML alias bombs are
refused at the alias that crosses the budget (file:line, well under a second), prompt templates
take plain {name} fields only, and odd argv / ids / config numbers are bad input (exit 2), never
a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_project import write_project

from workbench.cli import main
from workbench.core.config import load_config
from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import parse_evalset
from workbench.core.prompts import load_prompt
from workbench.core.yamlfile import load_located


def alias_bomb(levels: int, key: str = "a") -> str:
    """The auditor's bomb: each level a list of 10 aliases of the level below (10**levels)."""
    lines = [f"{key}0: &{key}0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"{key}{i}: &{key}{i} [" + ", ".join([f"*{key}{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_in_workbench_yaml_is_refused_by_the_cli_in_under_a_second(tmp_path):
    root = write_project(tmp_path / "p")
    (root / "workbench.yaml").write_text(alias_bomb(7), encoding="utf-8")
    started = time.perf_counter()
    # a subprocess with a timeout, so the old (exponential) loader fails instead of eating GBs
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "-p", str(root), "runs"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "workbench.yaml:5: too many YAML aliases" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.perf_counter() - started < 10  # interpreter start-up included, on a busy machine
    started = time.perf_counter()
    with pytest.raises(WorkbenchError, match="too many YAML aliases"):
        load_config(root)
    assert time.perf_counter() - started < 1.0


def test_alias_bombs_in_prompts_and_eval_sets_name_file_and_line(tmp_path):
    prompt = tmp_path / "bomb.yaml"
    prompt.write_text("template: '{question}'\n" + alias_bomb(9, "p"), encoding="utf-8")
    with pytest.raises(WorkbenchError) as info:
        load_prompt(prompt)
    assert str(info.value).startswith(f"{prompt}:6: too many YAML aliases")

    text = "cases:\n  - id: one\n    inputs: {question: hi}\n" + alias_bomb(9, "e")
    with pytest.raises(WorkbenchError) as info:
        parse_evalset(text, tmp_path / "set.yaml")
    assert info.value.line == 8 and "too many YAML aliases" in info.value.message


def test_recursive_and_deeply_nested_yaml_are_errors_with_a_line(tmp_path):
    path = tmp_path / "x.yaml"
    with pytest.raises(WorkbenchError) as info:
        load_located(path, "ok: 1\nloop: &l [1, *l]\n")
    assert info.value.line == 2 and "recursive alias" in info.value.message
    with pytest.raises(WorkbenchError) as info:
        load_located(path, "a:\n  " + "[" * 5000 + "]" * 5000 + "\n")
    assert info.value.line == 2 and "nested more than" in info.value.message


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path):
    root = write_project(
        tmp_path / "p",
        extra=(
            "variants:\n"
            "  warm:\n    options: &warm {temperature: 0.7, top_k: 20}\n"
            "  warm-seeded:\n    options:\n      <<: *warm\n      seed: 7\n"
        ),
    )
    config = load_config(root)
    assert config.variants["warm-seeded"].options == {"temperature": 0.7, "top_k": 20, "seed": 7}


@pytest.mark.parametrize(
    "setting, where",
    [
        ("model:\n  options: {temperature: .nan}\n", "model.options.temperature"),
        ("timeouts:\n  total_s: .nan\n", "timeouts.total_s"),
        ("pricing:\n  prompt_per_1k: .inf\n", "pricing.prompt_per_1k"),
    ],
)
def test_nan_and_infinite_numbers_are_config_errors(tmp_path, setting, where):
    root = tmp_path / "p"
    root.mkdir()
    (root / "workbench.yaml").write_text("name: x\n" + setting, encoding="utf-8")
    with pytest.raises(WorkbenchError) as info:
        load_config(root)
    assert info.value.line == 3 and where in str(info.value) and "finite number" in str(info.value)


@pytest.mark.parametrize(
    "template",
    [
        "{question:>999999999}",
        "{question!r}",
        "{question.__class__}",
        "{question[0]}",
        "{question:{width}}",
    ],
)
def test_template_format_specs_conversions_and_access_are_refused_at_load(tmp_path, template):
    path = tmp_path / "bad.yaml"
    path.write_text(f'system: hi\ntemplate: "Answer {template}"\n', encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(WorkbenchError) as info:
        load_prompt(path)
    assert time.perf_counter() - started < 1.0
    assert str(info.value).startswith(f"{path}:2: template placeholder")
    assert "only plain {name} fields" in str(info.value)


def test_plain_fields_and_literal_braces_still_render(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text('template: "{{json}} {question} for {audience}"\n', encoding="utf-8")
    prompt = load_prompt(path)
    messages = prompt.render({"question": "{x:>9}", "audience": "kids"})
    assert messages[-1]["content"] == "{json} {x:>9} for kids"  # values are never re-formatted


def test_invalid_utf8_in_argv_is_bad_input(tmp_path, capsys):
    root = write_project(tmp_path / "p")
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python hands over a Latin-1 arg
    assert main(["-p", str(root), "ask", bad]) == 2
    err = capsys.readouterr().err
    assert "argument 4 is not valid UTF-8 text: 'caf\\xe9'" in err and "Traceback" not in err


@pytest.mark.parametrize("run_id", ["99999999999999999999999", "r99999999999999999999999", "²"])
def test_runs_show_of_an_impossible_id_is_bad_input(tmp_path, capsys, run_id):
    root = write_project(tmp_path / "p")
    assert main(["-p", str(root), "runs", "show", run_id]) == 2
    err = capsys.readouterr().err
    assert f"no run with id '{run_id}'" in err and "Error:" not in err


def test_retrieval_status_prints_settings_as_text_and_escapes_odd_names(retrieval_project: Path, capsys):
    import json

    p = ["--project", str(retrieval_project)]
    assert main([*p, "ingest"]) == 0
    meta_path = retrieval_project / ".workbench" / "index" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["last_ingest_at"] = "2024-01-01\nstate ready\x1b[2J"  # a crafted or odd value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    capsys.readouterr()
    assert main([*p, "retrieval", "status"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one status line: the newline is shown as \n
    assert "last ingest 2024-01-01\\nstate ready\\x1b[2J;" in out
    assert "{'" not in out and "chunking chunk_tokens " in out  # not a Python dict
