"""The stored rows most code reads, as TypedDicts: one key per column of the table in runs.db
(core/store.py creates them; tests/test_records.py checks the keys against a store the app made).

SQLite has no NOT NULL here: a column is typed without None only where the one function that
creates the rows always writes it (named on each class); the rest may be None. JSON columns are
text in a raw row (`*Row`); a record a reader decodes (EvalRun, FinetuneJob) holds the parsed
value, typed Any because a hand-edited value that does not parse stays as it was (store.decode).
"""

from __future__ import annotations

from typing import Any, TypedDict


class GenerationRow(TypedDict):
    """One model call (`generations`), as stored: JSON columns are text (Store.start_generation)."""

    id: int
    created_at: str
    updated_at: str
    source: str | None  # cli | playground | eval
    variant_id: str | None
    variant_name: str | None
    prompt_name: str | None
    inputs: str | None  # JSON: template variables
    messages: str | None  # JSON: exactly what was sent
    options: str | None  # JSON
    adapter: str | None
    model_requested: str | None
    model_used: str | None
    fallback_used: int | None
    attempt_log: str | None  # JSON: every try, with the reason it failed
    attempts: int | None
    output: str | None
    thinking: str | None
    status: str  # running | ok | truncated | incomplete | error | timeout | interrupted
    error: str | None
    warnings: str | None  # JSON list
    ttft_ms: float | None
    total_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_s: float | None
    cost: float | None
    retrieval_id: int | None
    retrieval_status: str | None  # used | skipped | unavailable: <reason>
    sources: str | None  # JSON: [{n, chunk_id, path, heading, score, cited}]
    cache_key: str | None
    cached_from: int | None
    pid: int
    model_digest: str | None  # the weights that answered (schema v2)
    model_identity: str | None  # JSON: digest, quantization, modified_at (schema v2)


class EvalRun(TypedDict):
    """One eval run (`eval_runs`), with `config` and `summary` decoded (runstore.create_run)."""

    id: int
    created_at: str
    finished_at: str | None
    evalset_name: str
    evalset_path: str
    evalset_hash: str
    variant_id: str
    variant_name: str | None
    status: str  # running | done | cancelled | interrupted
    repeat: int
    total_cases: int
    config: Any  # variant spec, concurrency, flags, case_hashes, model_digest, selection
    summary: Any  # pass rate, counts, cost (None while running)
    pid: int


class EvalResultRow(TypedDict):
    """One case's outcome in one repeat (`eval_results`), as stored (runstore.write_result)."""

    id: int
    run_id: int
    case_id: str
    repeat_index: int
    generation_id: int | None
    passed: int | None
    judge_error: int | None
    failure_kind: str | None
    assertions: str | None  # JSON list of per-assertion results
    retrieval: str | None  # JSON: retrieved docs, gold rank
    cached: int | None
    latency_ms: float | None
    created_at: str


class FinetuneJob(TypedDict):
    """One LoRA job (`finetune_jobs`), with its JSON columns decoded (undecodable text becomes
    `{"raw": text}`, core/finetune/jobs.py get_job; rows made by create_job)."""

    id: int
    created_at: str
    updated_at: str
    status: str  # running | done | failed | cancelled | interrupted
    base_model: str
    signal: str | None
    config: Any
    guard_report: Any
    override_reason: str | None
    dataset_path: str | None
    dataset_hash: str | None
    loss_curve: Any  # [{step, loss, tokens_per_s}]
    adapter_path: str | None
    checkpoint_path: str | None
    eval_run_id: int | None
    export: Any  # [{name, at, ...}]
    error: str | None
    pid: int
