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


@dataclass(frozen=True)
class HostConfig:
    """One server of a host pool: `- http://gpu1:11434` or `- {url: ..., concurrency: 4}`."""

    url: str
    # Requests this server runs at once; match the server's own setting (OLLAMA_NUM_PARALLEL,
    # whose default is 1; vLLM and TGI batch many).
    concurrency: int = field(default=1, metadata={"gt": 0})


@dataclass
class ModelConfig:
    """The model a prompt is sent to first."""

    provider: Literal["ollama", "embedded", "openai"] = "ollama"
    name: str = "llama3.2"  # Ollama model tag / the model id an OpenAI-compatible server knows
    host: str | None = None  # Ollama URL; None -> $OLLAMA_HOST -> http://127.0.0.1:11434
    # provider openai: the API's base URL, e.g. http://gpu1:8000/v1 (vLLM) or https://api.openai.com/v1
    base_url: str | None = None
    # provider openai: the NAME of the environment variable holding the API key (the key itself
    # never goes in this file, in runs or in messages). None sends no key (local servers).
    api_key_env: str | None = None
    # Several servers with the same weights, for evals: each case goes to the least busy one.
    # Ollama hosts or OpenAI base URLs; replaces host / base_url when set.
    hosts: list[Any] = field(default_factory=list)  # URLs or HostConfig mappings
    # Ollama option names (temperature, seed, top_p, top_k, num_ctx, num_predict, stop, ...).
    # Set num_ctx explicitly: Ollama silently cuts prompts that do not fit it.
    options: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0, "seed": 42})
    # Thinking models: auto (the server decides: on for models that can think), true or false.
    # Sent to Ollama as `think`; on servers before 0.12.4 a <think>…</think> at the start of the
    # answer is split out as thinking, so evals score only the answer.
    think: Any = "auto"

    @property
    def spec(self) -> str:
        """The model as users write it on the command line: `ollama:NAME`, `openai:NAME` or `embedded`."""
        return "embedded" if self.provider == "embedded" else f"{self.provider}:{self.name}"


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
    # Where this variant's model is served (see ModelConfig): one model spec, one set of hosts.
    base_url: str | None = None
    api_key_env: str | None = None
    hosts: list[Any] = field(default_factory=list)  # URLs or HostConfig mappings


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
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict, init=False)  # keypath -> line, for later errors
    # Problems that do not stop loading: `workbench.yaml:12: model.options.mirostat: ...`.
    warnings: list[str] = field(default_factory=list, init=False)

    def line_of(self, *keypath: Any) -> int | None:
        """The line of a setting in workbench.yaml (or None), so later errors can point at it."""
        return self.lines.get(tuple(keypath))


# Ollama's model options (api/types.go Options + Runner) with the type each must have. The
# server silently ignores unknown keys, so a typo like `tempreature` would never take effect:
# checking here turns it into a config error with a did-you-mean.
OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "temperature": (int, float),
    "seed": int,
    "top_k": int,
    "top_p": (int, float),
    "min_p": (int, float),
    "typical_p": (int, float),
    "num_predict": int,
    "num_ctx": int,
    "num_keep": int,
    "num_batch": int,
    "num_gpu": int,
    "main_gpu": int,
    "num_thread": int,
    "stop": list,
    "repeat_penalty": (int, float),
    "repeat_last_n": int,
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
    "use_mmap": bool,
    "draft_num_predict": int,
}
# Options Ollama used to have and removed from api/types.go Options/Runner (mirostat and tfs_z
# went with the llama.cpp sampler change, the rest with the runner's load options). The server
# only logs "invalid option provided" for them (FromMap) and ignores them, so a setting that
# looks active would do nothing: a config warning says so instead of silently accepting it.
REMOVED_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "mirostat": int,
    "mirostat_eta": (int, float),
    "mirostat_tau": (int, float),
    "tfs_z": (int, float),
    "penalize_newline": bool,
    "low_vram": bool,
    "vocab_only": bool,
    "use_mlock": bool,
    "numa": bool,
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
        kind = {int: "a whole number", bool: "true or false", list: "a list of strings"}.get(expected, "a number")  # type: ignore[arg-type]
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
    """`embedded`, `ollama:NAME`, `openai:NAME`; raises ValueError with a friendly message otherwise."""
    if spec == "embedded" or any(spec.startswith(p) and len(spec) > len(p) for p in ("ollama:", "openai:")):
        return spec
    raise ValueError(f"model must be 'embedded', 'ollama:NAME' or 'openai:NAME', got {spec!r}")


@dataclass(frozen=True)
class Endpoint:
    """Where one model spec is served: its hosts (empty: the provider's default) and API key
    variable. Hosts do not change the answer (every host must serve the same weights, checked
    by digest), so they are not part of a variant's id and cached answers are shared."""

    hosts: tuple[HostConfig, ...] = ()
    api_key_env: str | None = None

    @property
    def capacity(self) -> int:
        return sum(h.concurrency for h in self.hosts) or 1


def _endpoint_of(owner: ModelConfig | VariantConfig) -> Endpoint | None:
    """The endpoint a model section or variant sets, or None when it sets none."""
    hosts = [HostConfig(h) if isinstance(h, str) else h for h in owner.hosts]
    ollama_host = owner.host if isinstance(owner, ModelConfig) and owner.provider == "ollama" else None
    single = owner.base_url or ollama_host
    if not hosts and single:
        hosts = [HostConfig(single)]
    if not hosts and not owner.api_key_env:
        return None
    return Endpoint(tuple(hosts), owner.api_key_env)


def endpoint_for(config: Config, spec: str) -> Endpoint:
    """The hosts and key variable for `spec`: the model section's when it is that model, else a
    variant's that names it; none for a spec configured nowhere (the provider's defaults)."""
    if spec == config.model.spec:
        found = _endpoint_of(config.model)
        if found is not None:
            return found
    for variant in config.variants.values():
        if (variant.model or config.model.spec) == spec:
            found = _endpoint_of(variant)
            if found is not None:
                return found
    return Endpoint()


def _check_endpoints(config: Config, builder: Builder) -> None:
    """Hosts are URLs, one model spec has one set of hosts, and each setting fits its provider."""
    owners: list[tuple[tuple[Any, ...], str, Any]] = [(("model",), config.model.spec, config.model)] + [
        (("variants", name), v.model or config.model.spec, v) for name, v in config.variants.items()
    ]
    seen: dict[str, tuple[tuple[Any, ...], Endpoint]] = {}
    for keypath, spec, owner in owners:
        where = ".".join(keypath)
        owner.hosts = [
            builder.build(HostConfig, h, keypath + ("hosts", i)) if isinstance(h, dict) else h
            for i, h in enumerate(owner.hosts)
        ]
        for index, host in enumerate(owner.hosts):
            if not isinstance(host, (str, HostConfig)):
                builder.fail(
                    keypath + ("hosts", index),
                    f"{where}.hosts[{index}] must be a URL or {{url: URL, concurrency: N}}, got {host!r}",
                )
        for index, host in enumerate(owner.hosts):
            url = host if isinstance(host, str) else host.url
            problem = host_problem(url)
            if problem:
                builder.fail(keypath + ("hosts", index), f"{where}.hosts[{index}]: {problem}")
        single = "base_url" if owner.base_url else ("host" if getattr(owner, "host", None) else None)
        if owner.hosts and single:
            builder.fail(keypath + (single,), f"{where}: set {single} or hosts, not both")
        if owner.base_url:
            problem = host_problem(owner.base_url)
            if problem:
                builder.fail(keypath + ("base_url",), f"{where}.base_url: {problem}")
        provider = spec.split(":", 1)[0]
        for key in ("base_url", "api_key_env"):
            if getattr(owner, key) and provider != "openai":
                builder.fail(
                    keypath + (key,),
                    f"{where}.{key} is for an OpenAI-compatible model (provider openai), but this model is {spec}",
                )
        if provider == "embedded" and owner.hosts:
            builder.fail(
                keypath + ("hosts",),
                f"{where}.hosts: the embedded model runs in this process; hosts are for ollama: and openai: models",
            )
        endpoint = _endpoint_of(owner)
        if endpoint is None:
            continue
        if spec in seen and seen[spec][1] != endpoint:
            builder.fail(
                keypath + ("hosts",),
                f"{where}: {spec} is already served elsewhere by "
                f"{'.'.join(seen[spec][0])}; one model has one set of hosts (move the "
                "hosts to one place)",
            )
        seen.setdefault(spec, (keypath, endpoint))
    users = owners + [(("fallback", i), spec, None) for i, spec in enumerate(config.fallback)]
    for keypath, spec, _ in users:
        if spec.startswith("openai:") and not endpoint_for(config, spec).hosts:
            where = "model.base_url" if keypath == ("model",) else ".".join(map(str, keypath))
            builder.fail(
                keypath + (("base_url",) if keypath == ("model",) else ()),
                f"{where}: {spec} needs its server's URL: base_url: http://HOST:8000/v1 "
                "(or hosts: [...]) in the model section or in a variant that uses it",
            )


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
    _check_endpoints(config, builder)
    uris: list[tuple[tuple[str, ...], Any]] = [(("retrieval", "uri"), config.retrieval.uri)] + [
        (("variants", name, "retrieval", "uri"), v.retrieval.get("uri")) for name, v in config.variants.items()
    ]
    for keypath, uri in uris:
        if not uri:  # unset or "": the local folder; the storage module (and index.py) stay unimported
            continue
        from workbench.core.retrieval.storage import uri_problem

        problem = uri_problem(uri) if uri is None or isinstance(uri, str) else "retrieval.uri must be a string"
        if problem:
            builder.fail(keypath, problem)
    option_sets: list[tuple[tuple[str, ...], dict[str, Any]]] = [(("model", "options"), config.model.options)] + [
        (("variants", name, "options"), v.options) for name, v in config.variants.items()
    ]
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
                config.warnings.append(
                    str(
                        WorkbenchError(
                            f"{'.'.join(keypath)}.{key}: Ollama removed this option and ignores it, so "
                            "it has no effect; delete it",
                            path=path,
                            line=located.line(keypath + (key,)),
                        )
                    )
                )
    config.path = path
    config.lines = located.lines
    return config
