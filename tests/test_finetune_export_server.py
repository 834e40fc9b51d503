"""`finetune export` against a stand-in that follows Ollama's handlers: a real-sized adapter
exported under two names, the prompt Ollama's runner sees (no second BOS, compared as token
ids), and the model's SYSTEM (`--system ""` clears the base's, which otherwise survives)."""

from __future__ import annotations

import re

import pytest

from workbench.cli import main
from workbench.core.finetune.export import _TEMPLATES, ChatFormat, chat_format, prompt_problems, runner_ids

LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' "
    "else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}"
    "<start_of_turn>model\n{% endif %}"
)


def word_tokenizer(bos: str, specials: list[str], chat_template: str):
    """A real HF fast tokenizer (word level) that adds `bos` like Llama 3's and Gemma's do."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = [
        "[UNK]",
        bos,
        *specials,
        "system",
        "user",
        "assistant",
        "model",
        "PROBE",
        "-",
        "USER",
        "SYSTEM",
        "Q1",
        "A1",
        "Q2",
        "\n",
    ]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.add_special_tokens([bos, *specials])
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, unk_token="[UNK]", chat_template=chat_template)


@pytest.mark.parametrize(
    "bos, specials, template, family",
    [
        ("<|begin_of_text|>", ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], LLAMA3, "llama3"),
        ("<bos>", ["<start_of_turn>", "<end_of_turn>"], GEMMA, "gemma"),
    ],
)
def test_the_runner_gets_one_bos_like_training(bos, specials, template, family):
    tok = word_tokenizer(bos, specials, template)
    fmt, problems = chat_format(tok)
    assert fmt.family == family and problems == []
    assert bos not in fmt.template
    msgs = [{"role": "user", "content": "Q1"}]
    ids = runner_ids(tok, fmt.render(msgs))
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    # The old TEMPLATE, BOS text first, reads the same as training's text but gives the runner
    # two BOS tokens; the check compares ids, so it says so.
    with_bos = ChatFormat(family, bos + _TEMPLATES[family][0], None, [])
    with_bos.render = lambda m: bos + fmt.render(m)  # the old Python twin rendered that text
    [problem] = prompt_problems(tok, with_bos)
    assert "differ at token 1" in problem and f"runner '{bos}" in problem


def test_clearing_the_system_drops_the_bases_in_the_template():
    chatml = ChatFormat("chatml", _TEMPLATES["chatml"][0], "trained default", [])
    cleared = chatml.skipping_system('Be "Base".\nAlways.')
    assert cleared.template == (
        '{{- range $i, $m := .Messages }}{{ if and (eq $i 0) (eq .Role "system") '
        '(eq .Content "Be \\"Base\\".\\nAlways.") }}{{ else }}<|im_start|>{{ .Role }}\n{{ .Content }}'
        "<|im_end|>\n{{ end }}{{ end }}<|im_start|>assistant\n"
    )
    # What Ollama renders: its ChatHandler prepends the kept base SYSTEM; the template drops it.
    assert (
        cleared.render([{"role": "user", "content": "hi"}]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    own = [{"role": "system", "content": "mine"}, {"role": "user", "content": "hi"}]
    assert cleared.render(own).startswith("<|im_start|>system\nmine<|im_end|>\n")


# -- the CLI, end to end ------------------------------------------------------------------------------

FINETUNE = """
finetune:
  rank: 64
  alpha: 128
  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
  lr: 0.001
  batch_size: 4
  max_length: 48
  threads: 1
  save_every: 100
"""


@pytest.fixture(scope="module")
def big_job(tmp_path_factory):
    """One real training step of an r=64 adapter on every linear layer (~78 MB of fp32)."""
    from fixtures_project import write_project
    from test_finetune_train import write_data

    from workbench.core.finetune.train import TrainingRun, prepare_job
    from workbench.core.project import Project

    root = write_project(tmp_path_factory.mktemp("big") / "proj", host=NOWHERE, extra=FINETUNE)
    project = Project.open(root)
    plan = prepare_job(project, override="test: a real-sized adapter", data=write_data(root / "d.jsonl"), steps=1)
    outcome = TrainingRun(project, plan.job_id).run()
    assert outcome.status == "done", outcome.error
    project.close()
    return root, plan.job_id


NOWHERE = "http://127.0.0.1:9"  # replaced by the stand-in's address in each test


def export(root, *args):
    return main(["--project", str(root), "finetune", "export", *args, "--no-eval"])


def at_standin(job, standin):
    """The trained project, pointed at this test's stand-in, which has the base model."""
    root, job_id = job
    path = root / "workbench.yaml"
    path.write_text(re.sub(r"^  host: .*$", f"  host: {standin.url}", path.read_text(), flags=re.M))
    standin.configure(models=["smollm2:135m"])
    return root, job_id


@pytest.mark.slow
def test_a_real_sized_adapter_exports_under_two_names(big_job, ollama_standin, capsys):
    """The second export finds the blob on the server (HEAD 200) and uploads nothing; the old
    upload POSTed it again and died on Ollama's early 200 + close."""
    root, job_id = at_standin(big_job, ollama_standin)
    assert export(root, str(job_id), "--name", "a") == 0
    first = capsys.readouterr()
    assert export(root, str(job_id), "--name", "b") == 0
    second = capsys.readouterr()
    [blob] = [d for d in ollama_standin.blobs]
    assert len(ollama_standin.blobs[blob]) > 8_000_000
    posts = [r for r in ollama_standin.requests if r.method == "POST" and r.path.startswith("/api/blobs/")]
    assert len(posts) == 1 and posts[0].status == 201
    assert "uploading adapter.gguf: 0.0 of" in first.err and "(100%)" in first.err
    assert "adapter.gguf is already on the server" in second.err
    assert "created ollama:a" in first.out and "created ollama:b" in second.out
    assert [r.body["adapters"] for r in ollama_standin.requests_to("/api/create")] == [{"adapter.gguf": blob}] * 2


def llama3_job(project, tiny_adapter, smol_folder, tmp_path):
    """A finished job on a llama base whose chat template (Llama 3's) inserts no system prompt:
    SmolLM2's config.json and weights' shapes, a Llama 3 style tokenizer."""
    import shutil

    from test_finetune_export import make_job

    from workbench.core.finetune import jobs

    base = tmp_path / "llama3-base"
    base.mkdir()
    shutil.copy(smol_folder / "config.json", base / "config.json")
    word_tokenizer(
        "<|begin_of_text|>", ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], LLAMA3
    ).save_pretrained(str(base))
    job_id, _ = make_job(project, tiny_adapter)
    config = jobs.get_job(project.store, job_id)["config"]
    config["base"].update({"spec": str(base), "folder": str(base)})
    jobs.update_job(project.store, job_id, {"config": config})
    return job_id


BASE_SYSTEM = 'You are "Smol".\nBe brief.'


@pytest.mark.slow
def test_the_bases_system_is_named_and_system_empty_clears_it(
    project_factory, ollama_standin, tiny_adapter, smol_folder, tmp_path, capsys
):
    ollama_standin.configure(models=["smollm2:135m"], systems={"smollm2:135m": BASE_SYSTEM})
    project = project_factory(host=ollama_standin.url)
    job_id = llama3_job(project, tiny_adapter, smol_folder, tmp_path)

    assert export(project.root, str(job_id), "--name", "kept") == 0
    out = capsys.readouterr().out
    assert (
        "warning: this export sets no SYSTEM and the base model smollm2:135m has one "
        "('You are \"Smol\". Be brief.'): Ollama keeps it for kept"
    ) in out
    assert '`--system ""` clears it' in out
    first = ollama_standin.requests_to("/api/create")[-1].body
    assert "system" not in first and "<|begin_of_text|>" not in first["template"]

    assert export(project.root, str(job_id), "--name", "cleared", "--system", "") == 0
    out = capsys.readouterr().out
    assert "SYSTEM" not in out and "created ollama:cleared" in out
    body = ollama_standin.requests_to("/api/create")[-1].body
    assert body["system"] == ""  # sent, though Ollama keeps the base's for an empty one...
    assert '(eq .Content "You are \\"Smol\\".\\nBe brief.")' in body["template"]  # ...so the template drops it
    assert body["template"].startswith("{{- range $i, $m := .Messages }}")

    assert export(project.root, str(job_id), "--name", "set", "--system", "Answer in French.") == 0
    assert "SYSTEM" not in capsys.readouterr().out
    body = ollama_standin.requests_to("/api/create")[-1].body
    assert body["system"] == "Answer in French." and "$i" not in body["template"]
