"""Export a trained adapter to Ollama, checked, so the exported model answers like the adapter.

The top complaint about fine-tuning tools is an Ollama export that answers worse than the model
that was trained (LLaMA-Factory #6020, #6320; Unsloth #798, #7792). The usual causes are all
checkable before anything is uploaded, so this module checks them:
- the base architecture: Ollama converts safetensors LoRA adapters only for `llama` and `gemma2`
  bases; anything else is refused with the alternative (merge, convert to GGUF, import that);
- the adapter: LoRA on q/k/v/o and gate/up/down projections only, no DoRA, no modules_to_save,
  no embedding or lm_head tensors, safetensors format; for llama bases it is exported as a GGUF
  LoRA file written here (gguf_adapter.py: Ollama's own converter permutes the wrong factor for
  q/k), for gemma2 as the peft safetensors that Ollama converts (no permutation involved);
- the prompt format: the Modelfile's TEMPLATE/SYSTEM/stop PARAMETERs are generated from the base
  model's own chat template (the one training used) and rendered back in Python to confirm
  Ollama's runner gets the token ids training used (no BOS text: the runner adds BOS);
- the base: FROM is the same model the adapter was trained on (finetune.ollama_base), checked on
  the server before any upload (Ollama >= 0.5.5, pulled, same GGUF architecture).
Then the model is created through the API (blob upload + /api/create; the CLI's `ADAPTER /dir`
is broken since Ollama v0.12.11) and, when the adapter has an eval run, the eval set is run
against `ollama:NAME` and a drop against the adapter's score is flagged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.finetune import jobs
from workbench.core.finetune.base import OLLAMA_ARCHITECTURES, read_model_config
from workbench.core.finetune.gguf_adapter import safetensors_header
from workbench.core.finetune.settings import OLLAMA_LORA_TARGETS
from workbench.core.message_numbers import pct
from workbench.core.records import FinetuneJob

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.store import Store


ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
GGUF_ADAPTER = "adapter.gguf"  # what a llama base's export folder holds instead of ADAPTER_FILES
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)?(:[A-Za-z0-9._-]+)?$")
# Ollama option names worth pinning in the Modelfile (the variant's options, as evaluated).
_PARAM_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "num_ctx", "num_predict")


class ExportRefused(WorkbenchError):
    """This adapter cannot be converted by Ollama; the message says why and what to do instead."""


@dataclass
class ChatFormat:
    """An Ollama TEMPLATE (Go template) plus its Python twin, for one chat-template family."""

    family: str  # chatml | llama3 | gemma
    template: str
    system: str | None  # the default system prompt the HF template inserts (Modelfile SYSTEM)
    stops: list[str]
    skip_system: str | None = None  # a base SYSTEM the template drops (`--system ""`)

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt text Ollama renders for these messages. The model's SYSTEM is prepended
        when the request has none (server/routes.go ChatHandler); there is no BOS text, since
        the runner adds BOS itself when it tokenizes (see `runner_ids`)."""
        msgs = list(messages)
        system = self.system or self.skip_system
        if system and not (msgs and msgs[0]["role"] == "system"):
            msgs = [{"role": "system", "content": system}] + msgs
        if (
            self.skip_system is not None
            and msgs
            and msgs[0]["role"] == "system"
            and msgs[0]["content"] == self.skip_system
        ):
            msgs = msgs[1:]
        if self.family == "chatml":
            body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
            return body + "<|im_start|>assistant\n"
        if self.family == "llama3":
            body = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in msgs)
            return body + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        body = "".join(
            f"<start_of_turn>{'model' if m['role'] == 'assistant' else m['role']}\n{m['content']}<end_of_turn>\n"
            for m in msgs
        )
        return body + "<start_of_turn>model\n"

    def skipping_system(self, text: str) -> ChatFormat:
        """This format with a TEMPLATE that drops a first system message equal to `text`.

        Ollama keeps the base's SYSTEM when a create sends an empty one (server/create.go
        createModel: `if r.System != ""`) and prepends it to every request without a system
        message; only the template can leave it out. A request sending that exact text as its
        own system message loses it too (the template cannot tell the two apart).
        """
        head = "{{- range .Messages }}"
        assert self.template.startswith(head)
        guard = (
            '{{- range $i, $m := .Messages }}{{ if and (eq $i 0) (eq .Role "system") '
            f"(eq .Content {json.dumps(text, ensure_ascii=False)}) }}}}{{{{ else }}}}"
        )
        body = self.template[len(head) :]
        end = body.rindex("{{ end }}")  # the range's own end: the last one in every family
        template = guard + body[:end] + "{{ end }}" + body[end:]
        return dataclasses.replace(self, template=template, system=None, skip_system=text)


# No BOS text (<|begin_of_text|>, <bos>): Ollama's runner adds BOS when it tokenizes the
# rendered prompt, so a BOS in TEMPLATE would be a second one (see `runner_ids`).
_TEMPLATES = {
    "chatml": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ["<|im_end|>", "<|im_start|>"],
    ),
    "llama3": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
        "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"],
    ),
    "gemma": (
        '{{- range .Messages }}<start_of_turn>{{ if eq .Role "assistant" }}model{{ else }}'
        "{{ .Role }}{{ end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
        ["<end_of_turn>"],
    ),
}
_SYSTEM_RE = {
    "chatml": re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", re.S),
    "llama3": re.compile(r"<\|start_header_id\|>system<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", re.S),
    "gemma": None,
}


def runner_ids(tokenizer: Any, text: str) -> list[int]:
    """The token ids Ollama's runner feeds the model for a rendered prompt: special tokens
    parsed, the vocabulary's BOS added once (runner/llamarunner/runner.go Server.inputs:
    `Tokenize(part, i == 0, true)`; runner/ollamarunner/runner.go: `Encode(part, i == 0)` ->
    tokenizer/vocabulary.go addSpecials). The HF tokenizer's add_special_tokens follows the same
    add_bos setting the GGUF's tokenizer.ggml.add_bos_token was converted from."""
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def training_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt ids training used (dataset.encode: the chat template's text, no BOS added)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def chat_format(tokenizer: Any) -> tuple[ChatFormat | None, list[str]]:
    """Derive the Ollama prompt format from the HF chat template and verify Ollama's runner
    gets the token ids training used.

    Returns (format or None, problems). A problem means the Modelfile would not reproduce the
    training prompts exactly; the export still writes the folder but says so.
    """
    source = getattr(tokenizer, "chat_template", None) or ""
    if "<|im_start|>" in source:
        family = "chatml"
    elif "<|start_header_id|>" in source:
        family = "llama3"
    elif "<start_of_turn>" in source:
        family = "gemma"
    else:
        return None, [
            "the base model's chat template is not ChatML, Llama 3 or Gemma; write the Modelfile "
            "TEMPLATE by hand from its tokenizer_config.json"
        ]
    probe = [{"role": "user", "content": "PROBE-USER"}]
    rendered = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    system = None
    pattern = _SYSTEM_RE[family]
    if pattern is not None:
        m = pattern.search(rendered.split("PROBE-USER")[0])
        system = m.group(1) if m else None
    template, stops = _TEMPLATES[family]
    fmt = ChatFormat(family, template, system, stops)
    return fmt, prompt_problems(tokenizer, fmt)


def prompt_problems(tokenizer: Any, fmt: ChatFormat) -> list[str]:
    """Where the runner's token ids for `fmt` differ from training's (compared as ids, not
    text: a BOS in the text and one added by the runner read alike but are two tokens)."""
    samples = [
        [{"role": "user", "content": "PROBE-USER"}],
        [{"role": "system", "content": "PROBE-SYSTEM"}, {"role": "user", "content": "PROBE-USER"}],
        [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}],
    ]
    for msgs in samples:
        if fmt.family == "gemma" and msgs[0]["role"] == "system":
            continue  # Gemma folds the system prompt into the first user turn; not templated here
        want = training_ids(tokenizer, msgs)
        got = runner_ids(tokenizer, fmt.render(msgs))
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
            return [
                f"the generated TEMPLATE does not give Ollama's runner the token ids training used for "
                f"{[m['role'] for m in msgs]}: they differ at token {at} (runner "
                f"{tokenizer.decode(got[at : at + 3])!r}, training {tokenizer.decode(want[at : at + 3])!r})"
            ]
    return []


def _quote(text: str) -> str:
    if '"""' in text:
        raise WorkbenchError('a template or system prompt containing """ cannot be written to a Modelfile')
    return f'"""{text}"""'


def modelfile_fields(
    fmt: ChatFormat | None, options: dict[str, Any], *, system: str | None = None, base_system: str | None = None
) -> dict[str, Any]:
    """TEMPLATE, SYSTEM and PARAMETERs as /api/create takes them (`template`, `system`,
    `parameters`). The Modelfile is written from this same dict, so the model created through
    the API is the one the Modelfile describes (a create with only `from` and `adapters` gets
    the base's template and options: another prompt format, another sampling).
    `system` overrides the training's SYSTEM (`--system`); "" clears it, which takes a template
    that drops the base's SYSTEM (`base_system`, Ollama keeps it otherwise)."""
    parameters: dict[str, Any] = {}
    if fmt is not None and fmt.stops:
        parameters["stop"] = list(fmt.stops)
    for key in _PARAM_KEYS:
        if options.get(key) is not None:
            parameters[key] = options[key]
    if fmt is not None and system == "" and base_system:
        fmt = fmt.skipping_system(base_system)
    chosen = system if system is not None else (fmt.system if fmt is not None else None)
    return {"template": fmt.template if fmt is not None else None, "system": chosen, "parameters": parameters}


def modelfile_text(*, base: str, fields: dict[str, Any], job_id: int, base_note: str, adapter: str = ".") -> str:
    """`adapter`: the ADAPTER argument, "." (the peft folder) or "./adapter.gguf"."""
    lines = [
        f"# Exported by llm-workbench from fine-tune job f{job_id}.",
        f"# Trained on: {base_note}",
        "# FROM must be the same base model the adapter was trained on.",
    ]
    if adapter.endswith(".gguf"):
        lines += [
            "# Create it with `workbench finetune export`, or `ollama create NAME -f Modelfile`",
            "# run in this folder (the GGUF adapter is uploaded as one blob).",
        ]
    else:
        lines += [
            "# Create it with `workbench finetune export` (the API route): `ollama create -f` with a",
            "# safetensors ADAPTER folder is broken since Ollama v0.12.11 (ollama#13314, #9505).",
        ]
    lines += [f"FROM {base}", f"ADAPTER {adapter}", ""]
    if fields.get("template"):
        lines.append(f"TEMPLATE {_quote(fields['template'])}")
    if fields.get("system"):
        lines.append(f"SYSTEM {_quote(fields['system'])}")
    for key, value in fields["parameters"].items():
        for one in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {json.dumps(one) if isinstance(one, str) else one}")
    return "\n".join(lines) + "\n"


def _safetensors_names(path: Path) -> list[str]:
    try:
        header = safetensors_header(path)
    except WorkbenchError as exc:
        raise ExportRefused(exc.message, path=path) from None
    return [k for k in header if k != "__metadata__"]


def check_adapter(adapter_dir: Path) -> dict[str, Any]:
    """Refuse adapters Ollama's converter cannot read; returns the adapter config."""
    for name in ADAPTER_FILES:
        if not (adapter_dir / name).is_file():
            raise ExportRefused(
                f"the adapter folder has no {name} (the export needs a peft safetensors adapter)", path=adapter_dir
            )
    cfg: dict[str, Any] = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    problems = []
    if cfg.get("peft_type", "LORA") != "LORA":
        problems.append(f"peft_type is {cfg.get('peft_type')}, only LORA converts")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters do not convert")
    if cfg.get("modules_to_save"):
        problems.append(f"modules_to_save {cfg['modules_to_save']} (fully trained layers) do not convert")
    if cfg.get("alpha_pattern"):
        problems.append("alpha_pattern (a lora_alpha per module): a GGUF adapter has one alpha")
    targets = cfg.get("target_modules") or []
    if isinstance(targets, str):
        problems.append(f"target_modules is a pattern ({targets!r}); list the projections explicitly")
        targets = []
    bad = sorted(set(targets) - set(OLLAMA_LORA_TARGETS))
    if bad:
        problems.append(f"LoRA on {bad}: Ollama converts LoRA on {', '.join(OLLAMA_LORA_TARGETS)} only")
    names = _safetensors_names(adapter_dir / "adapter_model.safetensors")
    stray = [n for n in names if "lora_" not in n]
    if stray:
        problems.append(f"non-LoRA tensors in the adapter (e.g. {stray[0]})")
    if problems:
        raise ExportRefused(
            "Ollama cannot convert this adapter: "
            + "; ".join(problems)
            + ". Retrain with finetune.target_modules limited to those projections, or merge "
            "the adapter into the base and export a GGUF instead",
            path=adapter_dir,
        )
    return cfg


def check_architecture(model_type: str, folder: str | None = None) -> None:
    if model_type not in OLLAMA_ARCHITECTURES:
        raise ExportRefused(
            f"Ollama converts safetensors LoRA adapters only for {' and '.join(OLLAMA_ARCHITECTURES)} bases; "
            f"this base is '{model_type}'. Alternative: merge the adapter into the base "
            "(peft `merge_and_unload()` + `save_pretrained`), convert the merged folder to GGUF with llama.cpp's "
            "convert_hf_to_gguf.py, and create the Ollama model FROM that .gguf file",
            path=folder,
            field="finetune.base_model",
        )


def sha256_file(path: Path) -> str:
    """The blob digest Ollama names this file by (the same one the upload computes)."""
    from workbench.core.llm.ollama_create import file_digest

    return file_digest(path)


@dataclass
class ExportResult:
    job_id: int
    name: str
    folder: Path
    modelfile: Path
    base: str
    digests: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)  # template, system, parameters
    created: bool = False
    ollama: str | None = None  # server version, None when not reachable
    eval: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    model_digest: str | None = None  # the created model's digest on the server (/api/tags)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "modelfile": str(self.modelfile),
            "base": self.base,
            "digests": self.digests,
            "created": self.created,
            "ollama": self.ollama,
            "model_digest": self.model_digest,
            "eval": self.eval,
            "warnings": self.warnings,
        }


def _base_folder(base: dict[str, Any]) -> Path:
    """The folder the job trained on; the embedded one is rebuilt if its cache was cleared."""
    folder = Path(base.get("folder") or "")
    if (folder / "config.json").is_file():
        return folder
    if base.get("spec") == "embedded":
        from workbench.core.finetune.base import embedded_hf_folder

        return embedded_hf_folder()
    raise WorkbenchError(
        "the base model folder this job was trained on is gone; restore it to export "
        "(its tokenizer defines the Modelfile TEMPLATE)",
        path=str(folder),
    )


def write_export(
    project: Project, job: FinetuneJob, name: str, *, system: str | None = None, base_system: str | None = None
) -> ExportResult:
    """Check everything and write `<job>/export-<name>/` (adapter files + Modelfile)."""
    from workbench.core.finetune.dataset import load_tokenizer

    if not NAME_RE.match(name):
        raise WorkbenchError(
            f"not a valid Ollama model name: {name!r} (letters, digits, . _ -, optional :tag)", field="name"
        )
    adapter_path = job.get("adapter_path")
    if job.get("status") != "done" or not adapter_path:
        raise WorkbenchError(jobs.unfinished_words(project, job))
    config = job.get("config") or {}
    base = config.get("base") or {}
    check_architecture(base.get("model_type", "unknown"), base.get("folder"))
    adapter = Path(adapter_path)
    check_adapter(adapter)
    ollama_base = base.get("ollama_base") or project.config.finetune.ollama_base
    if not ollama_base:
        raise WorkbenchError(
            "set finetune.ollama_base to the Ollama model with the same weights as "
            f"{base.get('folder')} (the Modelfile's FROM)",
            path=project.config.path,
            field="finetune.ollama_base",
        )
    base_folder = _base_folder(base)
    tokenizer = load_tokenizer(base_folder)
    fmt, warnings = chat_format(tokenizer)
    from workbench.core.variants import resolve_variant

    options = resolve_variant(project, config.get("variant")).options
    folder = jobs.job_dir(project, job["id"]) / f"export-{name.replace('/', '_').replace(':', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    digests = _write_adapter(adapter, folder, base.get("model_type", "unknown"), base_folder)
    note = f"{base.get('spec')} ({base.get('model_type')}, {base.get('folder')})"
    fields = modelfile_fields(fmt, options, system=system, base_system=base_system)
    text = modelfile_text(
        base=ollama_base,
        fields=fields,
        job_id=job["id"],
        base_note=note,
        adapter=f"./{GGUF_ADAPTER}" if GGUF_ADAPTER in digests else ".",
    )
    modelfile = folder / "Modelfile"
    modelfile.write_text(text, encoding="utf-8")
    return ExportResult(job["id"], name, folder, modelfile, ollama_base, digests, fields, warnings=warnings)


def _write_adapter(adapter: Path, folder: Path, model_type: str, base_folder: Path) -> dict[str, str]:
    """The adapter file(s) the model is created from, into `folder`; returns {name: digest}.

    llama: one adapter.gguf (the only file, so the upload sends it alone; Ollama's create takes
    a single .gguf adapter blob as is). gemma2: the peft files, which Ollama converts correctly.
    Files of an earlier export to the same folder are removed first.
    """
    for stale in (*ADAPTER_FILES, GGUF_ADAPTER):
        (folder / stale).unlink(missing_ok=True)
    if model_type == "llama":
        from workbench.core.finetune.gguf_adapter import write_gguf_adapter

        cfg = read_model_config(base_folder)
        n_head = cfg.get("num_attention_heads")
        if not isinstance(n_head, int) or n_head <= 0:
            raise WorkbenchError(
                "the base config.json has no num_attention_heads (needed to order the "
                "adapter's q/k rows as the GGUF base does)",
                path=base_folder / "config.json",
                field="num_attention_heads",
            )
        write_gguf_adapter(
            adapter,
            folder / GGUF_ADAPTER,
            model_type="llama",
            n_head=n_head,
            n_head_kv=cfg.get("num_key_value_heads"),
            n_layers=cfg.get("num_hidden_layers"),
        )
        return {GGUF_ADAPTER: sha256_file(folder / GGUF_ADAPTER)}
    digests = {}
    for fname in ADAPTER_FILES:
        shutil.copy2(adapter / fname, folder / fname)
        digests[fname] = sha256_file(folder / fname)
    return digests


async def export_job(
    project: Project,
    job_id: int,
    name: str,
    *,
    host: str | None = None,
    run_eval: bool = True,
    on_status: Callable[[str], Any] | None = None,
    eval_kwargs: dict[str, Any] | None = None,
    system: str | None = None,
) -> ExportResult:
    """Write the export folder; when Ollama answers, create the model and re-run the eval set.

    The base is checked on the server before anything is written or uploaded (version, pulled,
    architecture). `system` overrides the Modelfile SYSTEM; "" clears it (the base's too).
    """
    from workbench.core.llm.base import ProviderError
    from workbench.core.llm.ollama import probe
    from workbench.core.llm.ollama_create import check_base_at, create_model_with_adapter, ensure_architecture

    store = project.store
    job = jobs.get_job(store, job_id)
    host = host or project.config.model.host
    timeout = project.config.timeouts.connect_s
    version = await probe(host, timeout_s=timeout)
    base = (job.get("config") or {}).get("base") or {}
    ollama_base = base.get("ollama_base") or project.config.finetune.ollama_base
    info = None
    try:
        if version is not None and ollama_base and job.get("status") == "done":
            info = await check_base_at(host, ollama_base, architecture=None, connect_timeout_s=timeout)
    except ProviderError as exc:
        raise WorkbenchError(f"cannot check the base model {ollama_base} on Ollama: {exc}") from None
    result = write_export(project, job, name, system=system, base_system=info.system if info else None)
    result.ollama = version
    if info is None:
        # Only an unreachable server is "not reachable": write_export refuses an unfinished job
        # and a missing ollama_base first, and any other gap is said as what it is.
        if version is None:
            why, then = f"Ollama is not reachable at {host}", " once Ollama runs"
        elif not ollama_base:
            why, then = "finetune.ollama_base is not set (the Modelfile's FROM)", " once it is set"
        else:
            why, then = f"job {job['id']} is {job.get('status')}, not done", " once it is done"
        result.warnings.append(
            f"{why}: the folder is written; create the model later with `workbench finetune export`{then}"
        )
        _store_export(store, job, result)
        return result
    # HF `mistral` is `llama` in GGUF (llama.cpp convert_hf_to_gguf.py MistralModel).
    model_type: str | None = base.get("model_type")
    ensure_architecture(info, {"mistral": "llama"}.get(model_type or "", model_type))
    if system is None and not result.fields.get("system") and info.system:
        result.warnings.append(
            f"this export sets no SYSTEM and the base model {info.name} has one ({_short(info.system)}): "
            f"Ollama keeps it for {name}, so every request without a system message gets it (training "
            'did not); `--system ""` clears it, `--system TEXT` sets another'
        )
    try:
        await create_model_with_adapter(
            host,
            name,
            result.base,
            result.folder,
            on_status=on_status,
            connect_timeout_s=timeout,
            checked=info,
            **result.fields,
        )
    except ProviderError as exc:
        hint = (
            f" (pull it first: `ollama pull {result.base}`)"
            if exc.kind == "not_found" and "ollama pull" not in str(exc)
            else ""
        )
        _store_export(store, job, result)
        raise WorkbenchError(f"Ollama refused to create {name}: {exc}{hint}") from None
    result.created = True
    # Which weights the name now points at: a later re-export of the same name changes it, and
    # eval runs of ollama:NAME record the same digest, so the two can be matched.
    from workbench.core.llm.ollama import model_identity

    identity = await model_identity(host, name, timeout_s=project.config.timeouts.connect_s)
    result.model_digest = identity.digest
    if run_eval:
        result.eval = await _eval_exported(project, job, name, eval_kwargs or {})
        if result.eval and result.eval.get("drop"):
            result.warnings.append(result.eval["words"])
    _store_export(store, job, result)
    return result


def _short(text: str, limit: int = 60) -> str:
    one = " ".join(text.split())
    return repr(one if len(one) <= limit else one[: limit - 1] + "…")


def _store_export(store: Store, job: FinetuneJob, result: ExportResult) -> None:
    jobs.add_export(store, job["id"], result.as_dict())


def export_run_name(variant: str | None, name: str, job_id: int) -> str:
    return f"{variant or 'base'} → {name} (f{job_id} export)"


async def _eval_exported(
    project: Project, job: FinetuneJob, name: str, kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """Run the eval set on ollama:NAME and compare with the adapter's own eval run."""
    from workbench.core.evals import runstore
    from workbench.core.evals.diff import diff_runs
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.runner import EvalRunner
    from workbench.core.variants import resolve_variant

    config = job.get("config") or {}
    adapter_eval = config.get("eval") or {}
    adapter_run = job.get("eval_run_id") or adapter_eval.get("run_id")
    if not adapter_run:
        return {
            "skipped": True,
            "words": "no eval run of the adapter yet (`workbench finetune eval "
            f"{job['id']}`), so the exported model was not compared",
            "drop": False,
        }
    evalset = load_evalset(config["evalset_path"])
    variant = resolve_variant(project, config.get("variant"), model=f"ollama:{name}")
    # Named for what it is wherever runs are listed (`runs`, diffs, the Evals tab), not as the
    # variant it was framed with: "terse → quack (f3 export)". The name is display only; the
    # variant id still hashes the settings.
    variant = dataclasses.replace(variant, name=export_run_name(config.get("variant"), name, job["id"]))
    mark = {"job": job["id"], "role": "export", "exported_model": name}
    kwargs = {"concurrency": 1, **kwargs}
    kwargs["on_progress"] = jobs.mark_runs(project.store, mark, kwargs.get("on_progress"))
    runner = EvalRunner(project, evalset, variant, **kwargs)
    outcome = await runner.run()
    store = project.store
    diff = diff_runs(
        runstore.load_results(store, adapter_run),
        outcome.results,
        a=runstore.run_info(runstore.get_run(store, adapter_run)),
        b=runstore.run_info(runstore.get_run(store, outcome.run_id)),
    )
    st = diff.stats
    rate_a = st.pass_rate_a if st else None
    rate_b = st.pass_rate_b if st else None
    drop = bool(st and st.delta < 0)
    words = (
        f"exported model ollama:{name} scores {pct(st.pass_rate_b)} vs the adapter's {pct(st.pass_rate_a)} "
        f"(run e{outcome.run_id} vs e{adapter_run}): {st.words}"
        if st
        else "no decided case in common"
    )
    if drop:
        words = "DROP after export: " + words + " — check FROM (same base weights?), TEMPLATE and quantization"
    return {
        "run_id": outcome.run_id,
        "adapter_run_id": adapter_run,
        "pass_rate": rate_b,
        "adapter_pass_rate": rate_a,
        "drop": drop,
        "significant": bool(st and st.p_value < 0.05),
        "words": words,
    }
