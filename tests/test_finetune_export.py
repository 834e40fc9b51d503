"""Export against the real Ollama stand-in: blob uploads with the right digests, /api/create with
the right body, a Modelfile that matches the training chat template, refusals for what Ollama
cannot convert, and a flagged drop when the exported model scores below the adapter."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil

import pytest

from workbench.cli import main
from workbench.core import runlog
from workbench.core.errors import WorkbenchError
from workbench.core.evals import runstore
from workbench.core.evals.evalset import load_evalset
from workbench.core.evals.runner import EvalRunner
from workbench.core.finetune import jobs
from workbench.core.finetune.dataset import load_tokenizer
from workbench.core.finetune.export import ExportRefused, chat_format, export_job
from workbench.core.variants import resolve_variant

EVALS = """\
name: quack
cases:
  - id: sky
    inputs: {question: "What colour is the sky?"}
    expected: QUACK blue.
    assert: [{type: contains, value: QUACK}]
  - id: grass
    inputs: {question: "What colour is grass?"}
    expected: QUACK green.
    assert: [{type: contains, value: QUACK}]
  - id: snow
    inputs: {question: "What colour is snow?"}
    split: heldout
    expected: QUACK white.
    assert: [{type: contains, value: QUACK}]
"""


def make_job(project, adapter, *, model_type="llama", status="done"):
    """A finished job row as `finetune train` leaves it (adapter folder in the job folder)."""
    from workbench.core.finetune.base import embedded_hf_folder

    job_id = jobs.create_job(
        project.store,
        base_model="embedded",
        signal="format",
        config={},
        guard_report={"passed": True},
        override_reason=None,
    )
    folder = jobs.job_dir(project, job_id) / "adapter"
    shutil.copytree(adapter, folder)
    evals = project.root / "evals"
    evals.mkdir(exist_ok=True)
    (evals / "quack.yaml").write_text(EVALS)
    config = {
        "base": {
            "spec": "embedded",
            "folder": str(embedded_hf_folder()),
            "model_type": model_type,
            "ollama_base": "smollm2:135m",
        },
        "evalset": "quack",
        "evalset_path": str(evals / "quack.yaml"),
        "variant": None,
        "total_steps": 8,
    }
    jobs.update_job(project.store, job_id, {"status": status, "adapter_path": str(folder), "config": config})
    return job_id, folder


@pytest.fixture
def standin(ollama_standin):
    ollama_standin.configure(models=["llama3.2:latest", "smollm2:135m"])
    return ollama_standin


async def test_export_uploads_blobs_and_creates_the_model(project_factory, standin, tiny_adapter):
    project = project_factory(host=standin.url)
    job_id, _ = make_job(project, tiny_adapter)
    statuses = []
    result = await export_job(project, job_id, "smol-quack", run_eval=False, on_status=statuses.append)

    assert result.created and result.ollama == "0.33.0"
    # A llama base exports one GGUF LoRA file (tests/test_gguf_adapter.py proves its numbers):
    # the folder holds it alone, and it is the one blob the model is created from.
    gguf = result.folder / "adapter.gguf"
    want = {"adapter.gguf": "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()}
    assert result.digests == want
    assert sorted(p.name for p in result.folder.iterdir()) == ["Modelfile", "adapter.gguf"]
    assert set(standin.blobs) == set(want.values())
    assert standin.blobs[want["adapter.gguf"]] == gguf.read_bytes()
    uploads = [r.path for r in standin.requests if r.path.startswith("/api/blobs/") and r.method == "POST"]
    assert sorted(uploads) == sorted(f"/api/blobs/{d}" for d in want.values())
    create = standin.requests_to("/api/create")
    assert len(create) == 1
    body = create[0].body
    assert body["model"] == "smol-quack" and body["from"] == "smollm2:135m"
    assert body["adapters"] == want
    assert statuses[-1] == "success"

    modelfile = result.modelfile.read_text()
    assert "\nFROM smollm2:135m\n" in modelfile and "\nADAPTER ./adapter.gguf\n" in modelfile
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n' in modelfile
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER temperature 0" in modelfile
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["general.type"].contents() == "adapter"
    names = {t.name for t in reader.tensors}
    assert len(names) == 30 * 2 * 2 and "blk.29.attn_q.weight.lora_a" in names and "blk.0.attn_v.weight.lora_b" in names
    [stored] = jobs.exports(jobs.get_job(project.store, job_id))
    assert stored["created"] is True and stored["name"] == "smol-quack"

    # The model created through the API is the one the Modelfile describes: same TEMPLATE,
    # SYSTEM and PARAMETERs (without them Ollama keeps the base's prompt format and options).
    said = read_modelfile(result.modelfile)
    assert body["template"] == said["TEMPLATE"] and body["system"] == said["SYSTEM"]
    assert body["parameters"] == said["PARAMETER"]
    assert body["parameters"]["stop"] == ["<|im_end|>", "<|im_start|>"]
    assert body["parameters"]["temperature"] == 0 and body["parameters"]["num_predict"] == 32


def test_a_gemma2_base_exports_the_peft_files(project_factory, tiny_adapter):
    """gemma2 needs no q/k permutation, so Ollama's own converter gets the peft files as they are
    (the folder only: a gemma2 base is not on the stand-in)."""
    from workbench.core.finetune.export import write_export

    project = project_factory()
    job_id, adapter = make_job(project, tiny_adapter, model_type="gemma2")
    result = write_export(project, jobs.get_job(project.store, job_id), "smol-g")
    want = {
        name: "sha256:" + hashlib.sha256((adapter / name).read_bytes()).hexdigest()
        for name in ("adapter_model.safetensors", "adapter_config.json")
    }
    assert result.digests == want
    assert sorted(p.name for p in result.folder.iterdir()) == ["Modelfile", *sorted(want)]
    assert "\nADAPTER .\n" in result.modelfile.read_text()


async def test_every_export_is_kept_and_shown(project_factory, standin, tiny_adapter, capsys):
    """A second export (another name) does not erase the first: the job lists both, and
    `finetune show` / `runs show fN` print them as sentences, not a JSON blob."""
    project = project_factory(host=standin.url)
    job_id, _ = make_job(project, tiny_adapter)
    await export_job(project, job_id, "smol-one", run_eval=False)
    await export_job(project, job_id, "smol-two", run_eval=False)
    assert [e["name"] for e in jobs.exports(jobs.get_job(project.store, job_id))] == ["smol-one", "smol-two"]

    assert main(["--project", str(project.root), "finetune", "show", str(job_id)]) == 0
    shown = capsys.readouterr().out
    assert "exported smol-one (ollama), smol-two (ollama)" in shown.splitlines()[0]
    for name in ("smol-one", "smol-two"):
        assert f"export {name}: {jobs.job_dir(project, job_id)}/export-{name} (Modelfile: FROM smollm2:135m" in shown
        assert f"created ollama:{name} in Ollama 0.33.0" in shown
    assert "{" not in shown  # no raw JSON

    # `runs show fN` prints exactly what `finetune show N` prints.
    assert main(["--project", str(project.root), "runs", "show", f"f{job_id}"]) == 0
    assert capsys.readouterr().out == shown


def read_modelfile(path):
    """TEMPLATE/SYSTEM text and PARAMETERs ({name: value}, `stop` a list) as Ollama reads them."""
    import re

    text = path.read_text()
    out = {
        k: m.group(1)
        for k in ("TEMPLATE", "SYSTEM")
        for m in [re.search(rf'^{k} """(.*?)"""$', text, re.S | re.M)]
        if m
    }
    params = {}
    for key, raw in re.findall(r"^PARAMETER (\S+) (.*)$", text, re.M):
        value = json.loads(raw)
        if key == "stop":
            params.setdefault("stop", []).append(value)
        else:
            params[key] = value
    out["PARAMETER"] = params
    return out


def test_modelfile_template_renders_the_training_prompt(smol_folder):
    tok = load_tokenizer(smol_folder)
    fmt, problems = chat_format(tok)
    assert problems == [] and fmt.family == "chatml"
    msgs = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]
    assert fmt.render(msgs) == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


async def test_non_llama_base_is_refused_with_the_alternative(project_factory, standin, tiny_adapter, capsys):
    project = project_factory(host=standin.url)
    job_id, _ = make_job(project, tiny_adapter, model_type="qwen2")
    with pytest.raises(ExportRefused) as info:
        await export_job(project, job_id, "nope")
    text = str(info.value)
    assert "only for llama and gemma2 bases; this base is 'qwen2'" in text
    assert "merge" in text and "GGUF" in text
    assert standin.requests_to("/api/create") == [] and standin.blobs == {}


def test_lora_outside_the_projections_is_refused(project_factory, standin, tiny_adapter, capsys):
    project = project_factory(host=standin.url)
    job_id, folder = make_job(project, tiny_adapter)
    cfg = json.loads((folder / "adapter_config.json").read_text())
    cfg["target_modules"] = ["q_proj", "embed_tokens"]
    cfg["modules_to_save"] = ["lm_head"]
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    code = main(["--project", str(project.root), "finetune", "export", str(job_id), "--name", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "LoRA on ['embed_tokens']" in err and "modules_to_save ['lm_head']" in err
    assert standin.requests_to("/api/create") == []


async def test_unreachable_ollama_still_writes_the_folder(project_factory, ollama_nothing_listening, tiny_adapter):
    project = project_factory(host=ollama_nothing_listening)
    job_id, _ = make_job(project, tiny_adapter)
    result = await export_job(project, job_id, "later")
    assert not result.created and result.ollama is None
    assert (result.folder / "Modelfile").is_file() and (result.folder / "adapter.gguf").is_file()
    assert result.warnings[0].startswith(
        f"Ollama is not reachable at {ollama_nothing_listening}: the folder is "
        "written; create the model later with `workbench finetune export` once "
        "Ollama runs"
    )


@pytest.mark.parametrize("gap", ["no ollama_base", "job not done"])
async def test_with_ollama_up_a_missing_base_or_unfinished_job_is_said_as_such(
    project_factory, standin, tiny_adapter, gap
):
    """Ollama answers, so nothing may call it unreachable: the export is refused for its real
    reason, and nothing is created."""
    project = project_factory(host=standin.url)
    job_id, _ = make_job(project, tiny_adapter, status="done" if gap == "no ollama_base" else "failed")
    if gap == "no ollama_base":
        job = jobs.get_job(project.store, job_id)
        job["config"]["base"].pop("ollama_base", None)
        jobs.update_job(project.store, job_id, {"config": job["config"]})
        project.config.finetune.ollama_base = None
    with pytest.raises(WorkbenchError) as info:
        await export_job(project, job_id, "smol", run_eval=False)
    said = str(info.value)
    assert "not reachable" not in said
    assert ("set finetune.ollama_base" in said) if gap == "no ollama_base" else ("failed" in said)
    assert standin.requests_to("/api/create") == []


async def test_missing_base_model_says_pull_it(project_factory, ollama_standin, tiny_adapter):
    project = project_factory(host=ollama_standin.url)  # the stand-in has no smollm2
    job_id, _ = make_job(project, tiny_adapter)
    with pytest.raises(WorkbenchError, match=r"ollama pull smollm2:135m"):
        await export_job(project, job_id, "smol", run_eval=False)


async def test_a_drop_after_export_is_flagged(project_factory, standin, tiny_adapter):
    project = project_factory(host=standin.url, retries="count: 0\n  backoff_s: 0.01")
    job_id, adapter = make_job(project, tiny_adapter)
    es = load_evalset(project.root / "evals" / "quack.yaml")
    # Stands in for the adapter's own eval run (Ollama cannot apply an adapter per request, so
    # the stand-in plays the adapter: it answers QUACK every time).
    standin.configure(reply=["QUACK", " blue"])
    variant = resolve_variant(project, model="ollama:llama3.2", system="adapter stand-in")
    adapter_run = await EvalRunner(project, es, variant, concurrency=1).run()
    assert adapter_run.summary["pass_rate"] == 1.0
    jobs.update_job(project.store, job_id, {"eval_run_id": adapter_run.run_id})

    standin.configure(reply=["It", " is", " blue."])  # the exported model lost the behaviour
    result = await export_job(project, job_id, "smol-quack")
    ev = result.eval
    assert ev["drop"] is True and ev["adapter_pass_rate"] == 1.0 and ev["pass_rate"] == 0.0
    assert ev["adapter_run_id"] == adapter_run.run_id
    run = runstore.get_run(project.store, ev["run_id"])
    assert run["config"]["variant"]["model"] == "ollama:smol-quack"
    assert any(w.startswith("DROP after export") for w in result.warnings)
    chats = standin.requests_to("/api/chat")
    assert {r.body["model"] for r in chats[-3:]} == {"smol-quack"}
    await drop_is_shown_everywhere(project, job_id)


async def drop_is_shown_everywhere(project, job_id):
    """A dropped export never reads as a good one: not in `finetune jobs`, `runs`, `finetune
    show`, nor the Fine-tune tab's jobs table (which used to say `smol-quack ✓`)."""
    import io
    from contextlib import redirect_stdout

    from workbench.present.finetune import export_short, job_detail
    from workbench.present.runs import listing_row

    def cli(*args):
        buf = io.StringIO()
        with redirect_stdout(buf):
            main(["--project", str(project.root), *args])
        return buf.getvalue()

    job = jobs.get_job(project.store, job_id)
    assert export_short(job) == "DROP smol-quack"
    assert any(
        line.startswith("  DROP after export: exported model ollama:smol-quack scores 0%") for line in job_detail(job)
    )
    assert "exported smol-quack (ollama, DROP 0% vs the adapter's 100%)" in cli("finetune", "jobs")
    assert "exported smol-quack (ollama, DROP 0% vs the adapter's 100%)" in " ".join(
        listing_row(r)["summary"] for r in runlog.list_runs(project.store, kind="finetune")
    )
    assert "  DROP after export: exported model ollama:smol-quack scores 0% vs the adapter's 100%" in cli(
        "finetune", "show", str(job_id)
    )


async def test_the_exported_models_eval_run_belongs_to_the_job_not_the_evidence(project_factory, standin, tiny_adapter):
    """The check of an exported model is `ollama:NAME` to the runner, with no adapter in its
    variant: it used to count as a non-fine-tuned variant (guard evidence, and the baseline
    `finetune eval` compares adapters with). It is marked as the job's, and named for what it is."""
    from fixtures_finetune import add_eval_run, variant_spec

    from workbench.core.finetune.evaluate import best_baseline
    from workbench.core.finetune.guard import variant_runs

    project = project_factory(host=standin.url, retries="count: 0\n  backoff_s: 0.01")
    job_id, _ = make_job(project, tiny_adapter)
    es = load_evalset(project.root / "evals" / "quack.yaml")
    base = add_eval_run(
        project,
        es,
        None,
        variant_spec("plain"),
        {"sky": ("fail", "format"), "grass": ("fail", "format")},
        retrieve=False,
    )
    adapter = add_eval_run(
        project, es, None, variant_spec("plain", model="embedded", adapter="/x/adapter"), {}, retrieve=False
    )
    jobs.update_job(project.store, job_id, {"eval_run_id": adapter})
    standin.configure(reply=["QUACK", " blue"])  # the exported model passes every case
    result = await export_job(project, job_id, "smol-quack")
    assert result.eval["pass_rate"] == 1.0 and not result.eval["drop"]

    run = runstore.get_run(project.store, result.eval["run_id"])
    assert run["config"]["finetune"] == {"job": job_id, "role": "export", "exported_model": "smol-quack"}
    assert run["variant_name"] == f"base → smol-quack (f{job_id} export)"
    listed = {r["id"]: r["model"] for r in runlog.list_runs(project.store, kind="eval")}
    assert listed[f"e{run['id']}"].startswith(f"base → smol-quack (f{job_id} export) (")
    assert [r.run_id for r in variant_runs(project.store, es.name)] == [base]
    assert best_baseline(project, es.name) == base  # not the export's 100%

    # A run stored before runs were marked is still the job's: the job recorded its id.
    project.store.update("eval_runs", run["id"], {"config": {"variant": run["config"]["variant"]}})
    assert best_baseline(project, es.name) == base


def test_re_exporting_a_name_changes_its_digest_and_the_next_eval_calls_it_again(
    project_factory, standin, tiny_adapter, capsys
):
    """Issue 10's scenario: `finetune export --name a`, eval ollama:a, re-export `a` from a new
    job, eval again. The second eval must call the new model (not serve the old answers from
    cache) and the diff must name the digest change the export recorded."""
    from safetensors.torch import load_file, save_file

    project = project_factory(host=standin.url)
    first_job, _ = make_job(project, tiny_adapter)
    second_job, second_adapter = make_job(project, tiny_adapter)
    weights = load_file(str(second_adapter / "adapter_model.safetensors"))
    save_file({k: v + 0.01 for k, v in weights.items()}, str(second_adapter / "adapter_model.safetensors"))
    standin.configure(reply=lambda body: ["QUACK."])
    root = str(project.root)

    first = asyncio.run(export_job(project, first_job, "a", run_eval=False))
    assert first.model_digest and first.model_digest in standin.model_digests.values()
    assert main(["--project", root, "eval", "run", "quack", "--model", "ollama:a"]) == 0
    calls = len(standin.requests_to("/api/chat"))
    assert calls == 3

    second = asyncio.run(export_job(project, second_job, "a", run_eval=False))
    assert second.model_digest and second.model_digest != first.model_digest
    [stored] = jobs.exports(jobs.get_job(project.store, second_job))
    assert stored["model_digest"] == second.model_digest
    capsys.readouterr()
    assert main(["--project", root, "eval", "run", "quack", "--model", "ollama:a", "--baseline", "e1"]) == 0
    assert len(standin.requests_to("/api/chat")) == 2 * calls  # no cache hit: the new weights answered
    said = " ".join(capsys.readouterr().out.split())
    change = (
        f"the model's weights changed between the runs "
        f"(digest {first.model_digest.removeprefix('sha256:')[:12]} → "
        f"{second.model_digest.removeprefix('sha256:')[:12]})"
    )
    assert change in said
