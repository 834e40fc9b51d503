"""The dataset builder with the real SmolLM2 tokenizer: chat template, answer-only loss, held-out
cases never trained on, bad JSONL rows reported by line, grounded examples reuse stored context."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.evals.evalset import load_evalset
from workbench.core.finetune.dataset import (
    build_dataset,
    examples_from_evalset,
    examples_from_jsonl,
    load_tokenizer,
    read_encoded,
    render_inputs,
)
from workbench.core.variants import resolve_variant


@pytest.fixture(scope="module")
def tokenizer(smol_folder):
    return load_tokenizer(smol_folder)


def test_evalset_examples_mask_the_prompt_and_keep_heldout_out_of_training(sample_project, tokenizer, tmp_path):
    project = sample_project
    es = load_evalset(project.root / "evals" / "format.yaml")
    variant = resolve_variant(project, "terse")  # not grounded: no retrieval needed
    examples = examples_from_evalset(project, es, variant)
    report = build_dataset(examples, tokenizer, tmp_path / "job", max_length=512)

    heldout_ids = {c.id for c in es.cases if c.split == "heldout" and c.expected}
    train = read_encoded(report.train_path)
    held = read_encoded(report.heldout_path)
    assert heldout_ids and {e.id for e in held} == heldout_ids
    assert not heldout_ids & {e.id for e in train}
    assert report.train == len(train) == sum(1 for c in es.cases if c.split != "heldout" and c.expected)

    first = train[0]
    case = es.case(first.id)
    labels = first.labels
    assert all(x == -100 for x in labels[: first.prompt_len])
    answer = tokenizer.decode([t for t in labels if t != -100])
    assert answer == case.expected + "<|im_end|>\n"
    prompt = tokenizer.decode(first.input_ids[: first.prompt_len])
    assert prompt.endswith("<|im_start|>assistant\n") and case.inputs["question"].strip()[:40] in prompt
    assert variant.system_prompt and variant.system_prompt.strip() in prompt  # the variant's own framing

    digest = hashlib.sha256(report.train_path.read_bytes() + b"\0" + report.heldout_path.read_bytes()).hexdigest()
    assert report.sha256 == digest
    assert json.loads((tmp_path / "job" / "dataset.json").read_text())["sha256"] == digest


def test_bad_jsonl_rows_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "train.jsonl"
    good = {"prompt": "Say hi", "completion": "Hi."}
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({"messages": [{"role": "user", "content": "Q"}]}),
                "",
                json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
                json.dumps({"prompt": "Q", "completion": ""}),
                json.dumps(good),
            ]
        )
        + "\n"
    )
    with pytest.raises(WorkbenchError) as info:
        examples_from_jsonl(path)
    err = info.value
    assert err.line == 2 and err.path == str(path)
    text = str(err)
    assert "4 bad row(s)" in text
    assert "line 2: not valid JSON" in text
    assert "line 3: the last message must be the assistant's answer" in text
    assert "line 5: messages[0].role must be one of system, user, assistant, got 'robot'" in text
    assert "line 6: field 'completion' must be non-empty text" in text


def test_jsonl_formats_and_splits(tmp_path, tokenizer):
    path = tmp_path / "train.jsonl"
    rows = [{"prompt": f"Q{i}", "completion": f"A{i}", "system": "Be brief."} for i in range(5)]
    rows.append(
        {
            "messages": [{"role": "user", "content": "Q held"}, {"role": "assistant", "content": "A held"}],
            "split": "heldout",
        }
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = examples_from_jsonl(path, heldout_fraction=0.0)
    assert [e.split for e in examples] == ["train"] * 5 + ["heldout"]
    assert examples[0].messages[0] == {"role": "system", "content": "Be brief."}
    assert examples[0].source == "jsonl:train.jsonl:1"
    # Every prompt is too long: the error leads with that, the numbers, and the fix.
    with pytest.raises(
        WorkbenchError,
        match=r"^no training examples: 6 of 6 examples are longer than "
        r"finetune.max_length=8 \(prompts are 1\d-\d\d tokens, median \d+\): raise it to at least 256",
    ):
        build_dataset(examples, tokenizer, tmp_path / "job", max_length=8)


def test_too_long_prompts_are_skipped_with_a_reason(tmp_path, tokenizer):
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps({"prompt": "word " * 200, "completion": "ok"})
        + "\n"
        + json.dumps({"prompt": "short", "completion": "ok"})
        + "\n"
    )
    report = build_dataset(examples_from_jsonl(path, heldout_fraction=0.0), tokenizer, tmp_path / "job", max_length=64)
    assert report.train == 1
    assert len(report.skipped) == 1 and "jsonl:train.jsonl:1: prompt is" in report.skipped[0]
    assert "finetune.max_length" in report.skipped[0]


def test_grounded_examples_reuse_the_context_the_eval_run_saw(sample_project):
    project = sample_project
    variant = resolve_variant(project)  # grounded_qa
    assert variant.prompt.grounded
    inputs = {"question": "Where is the AUTOINCREMENT counter kept?"}
    sent = variant.prompt.render(
        {**inputs, "context": "[1] autoinc.md — sqlite_sequence\nThe table..."}, system=variant.system
    )
    gen = project.store.start_generation(
        {"source": "eval", "variant_id": variant.id, "inputs": inputs, "messages": sent}
    )
    project.store.update_generation(gen, {"status": "ok", "output": "In sqlite_sequence [1]."})
    assert render_inputs(project, variant, inputs) == sent


def test_grounded_examples_without_retrieval_stop_the_build(sample_project):
    variant = resolve_variant(sample_project)  # grounded_qa, and no index was ingested
    with pytest.raises(
        WorkbenchError, match=r"needs retrieved context .* retrieval is unavailable: no retrieval index"
    ):
        render_inputs(sample_project, variant, {"question": "What does WAL mode change?"})


def test_too_long_examples_stop_after_a_few_with_the_cause_and_the_fix(tokenizer, tmp_path):
    """When the first examples are all longer than max_length, the rest are not prepared (for a
    grounded eval set each would cost a retrieval): the error says how many, how long, and to
    what to raise the setting."""
    from workbench.core.finetune.dataset import PILOT_EXAMPLES, Example, encode_examples

    taken = []

    def examples():
        for i in range(20):
            taken.append(i)
            yield Example(
                f"c{i}",
                [
                    {"role": "user", "content": f"question {i} " + "context " * 60},
                    {"role": "assistant", "content": "ok"},
                ],
                f"evalset:long#c{i}",
            )

    with pytest.raises(WorkbenchError) as info:
        encode_examples(
            examples(),
            tokenizer,
            max_length=32,
            total=20,
            where={"path": tmp_path / "workbench.yaml", "line": 7, "field": "finetune.max_length"},
        )
    assert len(taken) == PILOT_EXAMPLES == 5
    err = info.value
    assert err.line == 7 and err.field == "finetune.max_length"
    assert err.message.startswith(
        "no training examples: the first 5 of 20 examples are longer than finetune.max_length=32 (prompts are "
    )
    assert err.message.endswith("(the other 15 were not prepared)")


def test_grounded_examples_retrieve_without_storing_traces(retrieval_project, embedder, capsys):
    """Dataset building retrieves context for grounded cases with no stored run of them, but it
    is not a search anyone asked for: no retrieval trace is stored (83 of them buried the
    user's own runs in `workbench runs`). With max_length too small the build stops early,
    before any job row, pointing at the setting."""
    from workbench.cli import main
    from workbench.core.finetune.train import prepare_job
    from workbench.core.project import Project
    from workbench.core.retrieval.ingest import ingest

    root = retrieval_project
    with open(root / "workbench.yaml", "a", encoding="utf-8") as f:
        f.write("variants:\n  g:\n    prompt: grounded\nfinetune:\n  max_length: 40\n")
    cases = "".join(
        f'  - id: q{i}\n    inputs: {{question: "How long do cats sleep, try {i}?"}}\n'
        f"    expected: Twelve to sixteen hours.\n"
        for i in range(8)
    )
    (root / "evals" / "long.yaml").write_text(f"name: long\ncases:\n{cases}", encoding="utf-8")
    project = Project.open(root)
    ingest([root / "docs"], project.data_dir, project.config.retrieval, embedder=embedder)
    line = (root / "workbench.yaml").read_text().splitlines().index("  max_length: 40") + 1

    code = main(
        ["--project", str(root), "finetune", "train", "--override", "CI", "--variant", "g", "--evalset", "long"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"workbench.yaml:{line}: no training examples: the first 5 of 8 examples are longer than "
        "finetune.max_length=40" in err
    )
    assert project.store.rows("finetune_jobs") == []  # no failed job left behind
    assert project.store.rows("retrievals") == []

    settings = dataclasses.replace(project.config.finetune, max_length=2048)
    plan = prepare_job(project, override="CI", variant="g", evalset="long", settings=settings, steps=1)
    assert plan.dataset.train == 8
    assert "Sources:\n[1] " in read_encoded(plan.dataset.train_path)[0].messages[-2]["content"]
    assert project.store.rows("retrievals") == []
    project.close()


def test_the_default_max_length_fits_the_samples_grounded_prompts(sample_project, tokenizer):
    """The sample's default prompt is grounded_qa with k=4 chunks: prompts of ~850 tokens (663-978
    measured on its index), so the old default max_length 512 skipped every case. Each case here
    carries a context of 4 passages of the sample's docs, as an eval run would have stored it."""
    from workbench.core.finetune.dataset import encode_examples
    from workbench.core.finetune.settings import FinetuneSettings

    project = sample_project
    variant = resolve_variant(project, model="embedded")  # how prepare_job frames the examples
    assert variant.prompt.grounded and variant.retrieval.k == 4
    docs = sorted((project.root / "docs").glob("*.md"))
    es = load_evalset(project.root / "evals" / "sqlite_qa.yaml")
    for i, case in enumerate(es.cases):
        text = docs[i % len(docs)].read_text(encoding="utf-8")
        # four retrieved chunks of about chunk_tokens (200) each, in the pipeline's context format
        context = "\n\n".join(
            f"[{n + 1}] {docs[i % len(docs)].name} — section {n}\n{text[n * 800 : (n + 1) * 800]}" for n in range(4)
        )
        sent = variant.prompt.render({**case.inputs, "context": context}, system=variant.system)
        gen = project.store.start_generation(
            {"source": "eval", "variant_id": variant.id, "inputs": dict(case.inputs), "messages": sent}
        )
        project.store.update_generation(gen, {"status": "ok", "output": "..."})
    examples = examples_from_evalset(project, es, variant)
    encoding = encode_examples(examples, tokenizer, max_length=FinetuneSettings().max_length, total=len(es.cases))
    assert encoding.too_long == [] and len(encoding.train) + len(encoding.heldout) == len(es.cases)
    assert min(e.prompt_len for e in encoding.train) > 512  # the old default fitted none of them
