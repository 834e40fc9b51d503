"""workbench.yaml and prompt files: typed values, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core.config import load_config
from workbench.core.errors import WorkbenchError
from workbench.core.project import Project
from workbench.core.prompts import load_prompt


def config_error(tmp_path: Path, text: str) -> str:
    (tmp_path / "workbench.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(WorkbenchError) as info:
        load_config(tmp_path)
    return str(info.value)


def test_missing_file_means_working_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config.model.spec == "ollama:llama3.2"
    assert config.fallback == ["embedded"]
    assert config.timeouts.first_token_s >= 60  # must cover a cold model load


def test_values_are_typed(tmp_path):
    (tmp_path / "workbench.yaml").write_text(
        "model:\n  provider: embedded\n  options: {num_ctx: 2048}\n"
        "timeouts: {total_s: 30}\nretrieval: {k: 8, mode: fts}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert config.model.spec == "embedded" and config.model.options == {"num_ctx": 2048}
    assert config.timeouts.total_s == 30.0 and isinstance(config.timeouts.total_s, float)
    assert config.retrieval.k == 8 and config.retrieval.mode == "fts"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\ntimeouts:\n  total_s: ten\n",
            'workbench.yaml:3: timeouts.total_s must be a positive number, got "ten"',
        ),
        ("timeouts:\n  idle_s: 0\n", "workbench.yaml:2: timeouts.idle_s must be a positive number, got 0"),
        ("model:\n  provder: ollama\n", "workbench.yaml:2: unknown key 'model.provder' (did you mean 'provider'?)"),
        ("retrieval:\n  mode: semantic\n", "workbench.yaml:2: retrieval.mode must be one of 'dense', 'fts', 'hybrid'"),
        ("model: [\n", "workbench.yaml:2: invalid YAML"),
        (
            "fallback: [gpt4]\n",
            "workbench.yaml:1: fallback[0]: model must be 'embedded', 'ollama:NAME' or 'openai:NAME'",
        ),
        ("retries:\n  count: 1\n  count: 2\n", "workbench.yaml:3: duplicate key 'count' (first defined on line 2)"),
        ("retries: 3\n", "workbench.yaml:1: retries must be a mapping of settings, got 3"),
        ("budget:\n  action: explode\n", "workbench.yaml:2: budget.action must be one of 'warn', 'refuse'"),
        (
            "model:\n  options:\n    tempreature: 0.2\n",
            "workbench.yaml:3: model.options.tempreature: unknown model option 'tempreature' (did you mean 'temperature'?)",
        ),
        (
            "model:\n  options: {num_ctx: big}\n",
            "workbench.yaml:2: model.options.num_ctx: model option 'num_ctx' must be a whole number, got 'big'",
        ),
        (
            "variants:\n  v:\n    options:\n      stop: 3\n",
            "workbench.yaml:4: variants.v.options.stop: model option 'stop' must be a list of strings",
        ),
        ("model:\n  host: 'http://[::1'\n", "workbench.yaml:2: model.host: must be a URL like http://127.0.0.1:11434"),
        ("model:\n  host: ftp://x\n", "workbench.yaml:2: model.host: must be an http:// or https:// URL"),
        ("budget:\n  max_tokens_per_day: -5\n", "workbench.yaml:2: budget.max_tokens_per_day must be"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    assert config_error(tmp_path, text).startswith(expected)


def test_prompt_renders_system_examples_and_template(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "system: Be brief.\nexamples:\n  - user: 2+2?\n    assistant: '4'\n"
        "template: 'Q: {question} for {who}'\ndefaults: {who: me}\n",
        encoding="utf-8",
    )
    prompt = load_prompt(path)
    assert prompt.variables == ["question", "who"] and not prompt.grounded
    assert prompt.render({"question": "why"}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Q: why for me"},
    ]


def test_missing_prompt_variable_names_file_line_and_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "p.yaml"
    path.write_text("description: d\ntemplate: 'Explain {question} to {audience}'\n", encoding="utf-8")
    with pytest.raises(WorkbenchError) as info:
        load_prompt(path).render({"question": "WAL"})
    assert str(info.value) == (
        "p.yaml:2: prompt 'p' template uses {audience} but no value was given (pass --var audience=...)"
    )


def test_literal_braces_and_bad_placeholders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok = tmp_path / "ok.yaml"
    ok.write_text("template: 'JSON like {{\"a\": 1}} for {question}'\n", encoding="utf-8")
    assert load_prompt(ok).render({"question": "x"})[-1]["content"] == 'JSON like {"a": 1} for x'
    bad = tmp_path / "bad.yaml"
    bad.write_text("template: 'JSON like {\"a\": 1}'\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match=r"bad.yaml:1: template placeholder"):
        load_prompt(bad)


def test_unknown_prompt_and_variant_are_clear(tmp_path):
    (tmp_path / "workbench.yaml").write_text("default_prompt: nope\n", encoding="utf-8")
    project = Project.open(tmp_path)
    with pytest.raises(WorkbenchError, match="no prompt named 'nope'"):
        project.prompt()
    from workbench.core.variants import resolve_variant

    with pytest.raises(WorkbenchError, match="no variant named 'v9'"):
        resolve_variant(project, "v9", prompt="x")


def test_variants_override_base_settings():
    sample = Path(__file__).resolve().parents[1] / "sample_data"
    from workbench.core.variants import resolve_variant

    project = Project.open(sample)
    base = resolve_variant(project)
    k8 = resolve_variant(project, "k8")
    terse = resolve_variant(project, "terse")
    assert base.prompt.name == "grounded_qa" and base.retrieval.k == 4
    assert k8.retrieval.k == 8 and k8.id != base.id
    assert terse.prompt.name == "terse_qa" and not terse.prompt.grounded
    assert resolve_variant(project).id == base.id  # stable
    assert resolve_variant(project, options={"temperature": 0.7}).id != base.id


def test_a_missing_prompt_points_at_the_line_that_names_it(tmp_path, monkeypatch):
    from workbench.core.variants import resolve_variant

    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "qa.yaml").write_text("template: '{question}'\n", encoding="utf-8")
    (tmp_path / "workbench.yaml").write_text(
        "name: p\ndefault_prompt: qa\nvariants:\n  short:\n    prompt: brief\n", encoding="utf-8"
    )
    project = Project.open(tmp_path)
    with pytest.raises(WorkbenchError) as info:
        resolve_variant(project, "short")
    assert str(info.value).startswith("workbench.yaml:5: no prompt named 'brief' in prompts/ (found: qa)")
    with pytest.raises(WorkbenchError) as info:
        resolve_variant(project, prompt="nosuch")  # from the command line: not the file's fault
    assert str(info.value).startswith("no prompt named 'nosuch'")
