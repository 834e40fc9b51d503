"""`workbench.yaml` -> typed settings, with errors that name file, line and field.

Every field carries a comment saying what it changes; defaults are chosen so that a project
folder with an empty workbench.yaml works offline at once (Ollama if it answers, else the
embedded model). `WORKBENCH_CONFIG` points at another config file (tests, CI).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workbench.core.errors import WorkbenchError
from workbench.core.finetune.settings import FinetuneSettings
from workbench.core.retrieval.settings import RetrievalSettings
from workbench.core.yamlfile import Builder, load_located

CONFIG_NAME = "workbench.yaml"


@dataclass
class ModelConfig:
    """The model a prompt is sent to first."""

    provider: Literal["ollama", "embedded"] = "ollama"
    name: str = "llama3.2"  # Ollama model tag; ignored for the embedded provider
    host: str | None = None  # Ollama URL; None -> $OLLAMA_HOST -> http://127.0.0.1:11434
    # Ollama option names (temperature, seed, top_p, top_k, num_ctx, num_predict, stop, ...).
    # Set num_ctx explicitly: Ollama silently cuts prompts that do not fit it.
    options: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0, "seed": 42})
    # Thinking models: auto (the server decides: on for models that can think), true or false.
    # Sent to Ollama as `think`; on servers before 0.12.4 a <think>…</think> at the start of the
    # answer is split out as thinking, so evals score only the answer.
    think: Any = "auto"

    @property
    def spec(self) -> str:
        """The model as users write it on the command line: `ollama:NAME` or `embedded`."""
        return "embedded" if self.provider == "embedded" else f"ollama:{self.name}"


@dataclass
class TimeoutConfig:
    """Deadlines around one model call. first_token_s must cover a cold model load."""

    connect_s: float = field(default=3.0, metadata={"gt": 0})
    first_token_s: float = field(default=120.0, metadata={"gt": 0})
    idle_s: float = field(default=30.0, metadata={"gt": 0})  # longest gap between two tokens
    total_s: float = field(default=600.0, metadata={"gt": 0})


@dataclass
class RetryConfig:
    """Retries happen only before the first token (connection refused, 503 busy)."""

    count: int = field(default=2, metadata={"ge": 0})
    backoff_s: float = field(default=0.5, metadata={"ge": 0})  # doubled each attempt, plus jitter
    max_backoff_s: float = field(default=8.0, metadata={"ge": 0})


@dataclass
class PricingConfig:
    """Price local runs as their hosted equivalent, so token cost stays visible."""

    prompt_per_1k: float = field(default=0.0, metadata={"ge": 0})
    completion_per_1k: float = field(default=0.0, metadata={"ge": 0})
    currency: str = "USD"


@dataclass
class BudgetConfig:
    """Optional spending limits, checked before a call from an estimate of the prompt."""

    max_tokens_per_request: int | None = field(default=None, metadata={"gt": 0})
    max_cost_per_request: float | None = field(default=None, metadata={"gt": 0})
    max_cost_per_day: float | None = field(default=None, metadata={"gt": 0})
    max_tokens_per_day: int | None = field(default=None, metadata={"gt": 0})
    action: Literal["warn", "refuse"] = "warn"


@dataclass
class EvalSettings:
    """Defaults for `workbench eval`."""

    dir: str = "evals"
    default_set: str | None = None  # file name under dir; None -> the only/first file
    concurrency: int = field(default=4, metadata={"gt": 0})
    judge_model: str | None = None  # `ollama:NAME` or `embedded`; None -> the main model


@dataclass
class VariantConfig:
    """A named change on top of the base settings ("prompt v3 with k=8" is one line)."""

    prompt: str | None = None
    system: str | None = None
    model: str | None = None  # `ollama:NAME` or `embedded`
    options: dict[str, Any] = field(default_factory=dict)  # merged over model.options
    retrieval: dict[str, Any] = field(default_factory=dict)  # overrides of retrieval settings
    adapter: str | None = None  # LoRA adapter folder
    description: str | None = None


@dataclass
class Config:
    """Everything in workbench.yaml."""

    name: str | None = None  # project name shown in the header
    model: ModelConfig = field(default_factory=ModelConfig)
    # Tried in order when the model above cannot answer: `ollama:NAME` or `embedded`.
    fallback: list[str] = field(default_factory=lambda: ["embedded"])
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    retries: RetryConfig = field(default_factory=RetryConfig)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    prompts_dir: str = "prompts"
    default_prompt: str | None = None  # prompt file stem; None -> the first prompt found
    data_dir: str = ".workbench"  # runs.db and the retrieval index live here
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    evals: EvalSettings = field(default_factory=EvalSettings)
    variants: dict[str, VariantConfig] = field(default_factory=dict)
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    theme: str = "workbench-dark"

    # Filled by load_config, not read from YAML.
    path: Path | None = field(default=None, init=False)
    lines: dict = field(default_factory=dict, init=False)  # keypath -> line, for later errors
    # Problems that do not stop loading: `workbench.yaml:12: model.options.mirostat: ...`.
    warnings: list[str] = field(default_factory=list, init=False)

    def line_of(self, *keypath: Any) -> int | None:
        """The line of a setting in workbench.yaml (or None), so later errors can point at it."""
        return self.lines.get(tuple(keypath))


# Ollama's model options (api/types.go Options + Runner) with the type each must have. The
# server silently ignores unknown keys, so a typo like `tempreature` would never take effect:
# checking here turns it into a config error with a did-you-mean.
OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "temperature": (int, float), "seed": int, "top_k": int, "top_p": (int, float),
    "min_p": (int, float), "typical_p": (int, float), "num_predict": int, "num_ctx": int,
    "num_keep": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "num_thread": int,
    "stop": list, "repeat_penalty": (int, float), "repeat_last_n": int,
    "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "use_mmap": bool, "draft_num_predict": int,
}
# Options Ollama used to have and removed from api/types.go Options/Runner (mirostat and tfs_z
# went with the llama.cpp sampler change, the rest with the runner's load options). The server
# only logs "invalid option provided" for them (FromMap) and ignores them, so a setting that
# looks active would do nothing: a config warning says so instead of silently accepting it.
REMOVED_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "mirostat": int, "mirostat_eta": (int, float), "mirostat_tau": (int, float),
    "tfs_z": (int, float), "penalize_newline": bool, "low_vram": bool, "vocab_only": bool,
    "use_mlock": bool, "numa": bool,
}
THINK_CHOICES = ("auto", "true", "false")


def option_problem(key: str, value: Any) -> str | None:
    """Why an option key/value is wrong, or None when it is fine."""
    import difflib

    known = {**OPTION_TYPES, **REMOVED_OPTIONS}
    if key not in known:
        hint = difflib.get_close_matches(key, list(OPTION_TYPES), n=1, cutoff=0.6)
        return f"unknown model option '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    expected = known[key]
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if key == "stop" and ok:
        ok = all(isinstance(v, str) for v in value)
    if not ok:
        kind = {int: "a whole number", bool: "true or false", list: "a list of strings"}.get(
            expected, "a number")  # type: ignore[arg-type]
        return f"model option '{key}' must be {kind}, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):  # YAML's .nan / .inf
        return f"model option '{key}' must be a finite number, got {value!r}"
    return None


def host_problem(host: str) -> str | None:
    """Why an Ollama host can't be used (None when it can): caught at load, not at request time,
    where it would read as 'no model could answer'."""
    from urllib.parse import urlsplit

    text = host.strip()
    if not text:
        return "must be a URL like http://127.0.0.1:11434, got an empty string"
    url = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"must be a URL like http://127.0.0.1:11434, got {host!r} ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"must be an http:// or https:// URL, got {host!r}"
    if not parts.hostname:
        return f"must name a host, like http://127.0.0.1:11434, got {host!r}"
    return None


def validate_model_spec(spec: str) -> str:
    """`embedded`, `ollama:NAME`; raises ValueError with a friendly message otherwise."""
    if spec == "embedded" or (spec.startswith("ollama:") and len(spec) > len("ollama:")):
        return spec
    raise ValueError(f"model must be 'embedded' or 'ollama:NAME', got {spec!r}")


def load_config(project_root: Path) -> Config:
    """Load `<project_root>/workbench.yaml` (or $WORKBENCH_CONFIG); a missing file means defaults."""
    override = os.environ.get("WORKBENCH_CONFIG")
    path = Path(override) if override else project_root / CONFIG_NAME
    if not path.exists():
        if override:
            raise WorkbenchError("WORKBENCH_CONFIG points at a file that does not exist", path=path)
        return Config()
    located = load_located(path)
    builder = Builder(located)
    config = builder.build(Config, located.data)
    for index, spec in enumerate(config.fallback):
        try:
            validate_model_spec(spec)
        except ValueError as exc:
            builder.fail(("fallback", index), f"fallback[{index}]: {exc}")
    for name, variant in config.variants.items():
        if variant.model is not None:
            try:
                validate_model_spec(variant.model)
            except ValueError as exc:
                builder.fail(("variants", name, "model"), f"variants.{name}.model: {exc}")
        unknown = set(variant.retrieval) - set(RetrievalSettings.__dataclass_fields__)
        if unknown:
            key = sorted(unknown)[0]
            builder.fail(
                ("variants", name, "retrieval", key),
                f"unknown key 'variants.{name}.retrieval.{key}'",
            )
    if config.model.host is not None:
        problem = host_problem(config.model.host)
        if problem:
            builder.fail(("model", "host"), f"model.host: {problem}")
    option_sets = [(("model", "options"), config.model.options)] + [
        (("variants", name, "options"), v.options) for name, v in config.variants.items()]
    think = config.model.think
    if not isinstance(think, bool) and str(think).lower() not in THINK_CHOICES:
        builder.fail(("model", "think"), f"model.think must be auto, true or false, got {think!r}")
    for keypath, options in option_sets:
        for key, value in options.items():
            problem = option_problem(key, value)
            if problem:
                builder.fail(keypath + (key,), f"{'.'.join(keypath)}.{key}: {problem}")
            if key in REMOVED_OPTIONS:
                # Worded and located like a WorkbenchError (`workbench.yaml:12: ...`), not raised.
                config.warnings.append(str(WorkbenchError(
                    f"{'.'.join(keypath)}.{key}: Ollama removed this option and ignores it, so "
                    "it has no effect; delete it", path=path, line=located.line(keypath + (key,)))))
    config.path = path
    config.lines = located.lines
    return config
