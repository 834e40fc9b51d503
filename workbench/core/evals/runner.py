"""The eval runner: every case of an eval set through one variant, concurrently, cached,
written as it goes, resumable, cancellable.

Design:
- Each (case, repeat) is one task behind a semaphore (`concurrency`, default 4). The generation
  goes through `pipeline.run_generation(source="eval")`, the same path as the playground, so an
  eval run's generations are ordinary stored generations.
- Cache: `run_generation(use_cache=True)` reuses a stored *complete* generation whose model,
  options, messages and adapter are byte-identical (the pipeline never caches errors or partial
  output). Repeats after the first bypass the cache: they exist to measure variation, and
  serving them from cache would hide it.
- A case's result row is written the moment it finishes. The rows are the resume state:
  `resume=RUN` skips the (case, repeat) pairs already stored. A killed run is marked
  `interrupted` by the store on next open; cancel keeps what finished and marks `cancelled`.
- Scoring (assertions, attribution) happens right after each generation; the judge and the
  embedding model are injected (defaults: the configured judge model through the resilience
  layer, and the bundled embedding model, loaded only if a `similar` check exists).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.evals import runstore
from workbench.core.evals.assertions import (
    Embed,
    GenerationOutcome,
    Judge,
    Source,
    gold_rank,
    run_assertions,
    verdict,
)
from workbench.core.evals.attribution import attribute
from workbench.core.evals.evalset import Case, EvalSet
from workbench.core.evals.results import CaseResult
from workbench.core.evals.summary import resolution_vs_previous, summarize

if TYPE_CHECKING:
    from workbench.core.project import Project


Generate = Callable[..., Awaitable[Any]]  # pipeline.run_generation's signature


@dataclass
class RunProgress:
    """Sent to `on_progress` after every finished case (and once at the start)."""

    run_id: int
    done: int
    total: int
    passed: int = 0
    failed: int = 0
    judge_errors: int = 0
    scorer_errors: int = 0  # a `type: python` check that failed to decide (python_scorer.py)
    cached: int = 0
    skipped: int = 0  # finished before a resume, not redone
    last: CaseResult | None = None
    hosts: list[Any] | None = None  # per-host HostStat when the model has several hosts


@dataclass
class RunOutcome:
    run_id: int
    status: str  # done | cancelled
    summary: dict[str, Any]
    results: list[CaseResult] = field(default_factory=list)
    skipped: int = 0


def outcome_from_record(record: Any) -> GenerationOutcome:
    """A pipeline GenerationRecord -> what the scorers read."""
    result, grounding = record.result, record.grounding
    sources = tuple(Source(s.n, s.path, s.chunk_id) for s in grounding.sources)
    retrieved = tuple(s.path for s in grounding.sources) if grounding.status == "used" else None
    return GenerationOutcome(
        output=result.output or "",
        status=result.status,
        latency_ms=result.total_ms,
        completion_tokens=result.completion_tokens,
        prompt_tokens=result.prompt_tokens,
        cost=result.cost,
        sources=sources,
        retrieved=retrieved,
        error=result.error,
        generation_id=record.id,
        cached=bool(record.cached),
    )


def incomplete_index(project: Project) -> str | None:
    """ "index incomplete: 36/45 files" when the index was stopped part-way (a killed first
    ingest): stored with the run, so its misses are not read as the variant's."""
    from workbench.core.retrieval.service import incomplete_note

    return incomplete_note(project)


def index_build(project: Project) -> str | None:
    """The index's build id (new at every (re)build): a table version can repeat after
    `ingest --reindex`, so the diff compares this too. None without an index."""
    from workbench.core.retrieval.index import Index, IndexUnavailable
    from workbench.core.retrieval.service import project_index

    try:
        return Index.read_meta(project_index(project)).get("build_id")
    except IndexUnavailable:
        return None


def index_version(project: Project) -> int | None:
    """The retrieval index's table version, as the last ingest recorded it in meta.json (the
    version this run's searches see and their traces store); None without an index.

    Recorded with the run, not in the variant hash: a re-ingest changes the documents, not the
    settings, and must not make every later run a new variant. `eval diff` warns instead.
    """
    from workbench.core.retrieval.index import Index, IndexUnavailable
    from workbench.core.retrieval.service import project_index

    try:
        return Index.read_meta(project_index(project)).get("table_version")
    except IndexUnavailable:
        return None


def project_judge(project: Project) -> Judge:
    """Grade through the configured judge model (evals.judge_model, else the main model), with the
    project's timeouts and retries but no fallback: a different judge would change the grading."""
    from workbench.core.llm.registry import make_provider
    from workbench.core.llm.resilience import ResilientCall

    config = project.config

    async def judge(request: Any, model: str | None) -> str:
        spec = model or config.evals.judge_model or config.model.spec
        call = ResilientCall(
            [make_provider(spec, config)], timeouts=config.timeouts, retries=config.retries, pricing=config.pricing
        )
        async for _ in call.stream(request):
            pass
        if call.result.status != "ok":
            raise RuntimeError(f"judge {spec} {call.result.status}: {call.result.error or 'no answer'}")
        return call.result.output

    return judge


class EvalRunner:
    def __init__(
        self,
        project: Project,
        evalset: EvalSet,
        variant: Any,
        *,
        concurrency: int = 4,
        repeat: int = 1,
        use_cache: bool = True,
        judge: Judge | None = None,
        embed: Embed | None = None,
        on_progress: Callable[[RunProgress], Any] | None = None,
        generate: Generate | None = None,
    ) -> None:
        if concurrency < 1:
            raise WorkbenchError("--concurrency must be at least 1", field="concurrency")
        if repeat < 1:
            raise WorkbenchError("--repeat must be at least 1", field="repeat")
        self.project = project
        self.evalset = evalset
        self.variant = variant
        self.concurrency = concurrency
        self.repeat = repeat
        self.use_cache = use_cache
        self.judge = judge
        self.embed = embed
        self.on_progress = on_progress
        self.generate = generate
        self.run_id: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._cancelled = False
        self._skipped = 0
        self._known: dict[str, Any] = {}  # model spec -> ModelIdentity, looked up once per run
        self._pool: Any = None  # the variant model's HostPool when it has several hosts

    # -- public ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop: in-flight cases are interrupted (their partial output is stored as such),
        finished cases are kept, and `run()` returns with status `cancelled`."""
        self._cancelled = True
        for task in self._tasks:
            task.cancel()

    async def _identities(self) -> dict[str, Any]:
        """Each model of the chain -> the weights it names now, looked up once for the whole
        run (one /api/tags per Ollama model, the embedded GGUF's remembered hash)."""
        from workbench.core.llm.hosts import pool_of
        from workbench.core.llm.registry import chain_specs, make_provider_or_placeholder
        from workbench.core.pipeline import _is_down, model_identity

        out = {}
        for spec in chain_specs(self.project.config, self.variant.model):
            pool = pool_of(make_provider_or_placeholder(spec, self.project.config))
            if pool is not None:  # every host's digest: a mismatch stops the run, naming them
                out[spec] = await pool.check_identity(self.variant.adapter)
                self._pool = self._pool or (pool if spec == self.variant.model else None)
            elif not await _is_down(self.project, spec):
                out[spec] = await model_identity(self.project, spec, self.variant.adapter)
        return out

    def check_inputs(self) -> None:
        """Refuse, before a run is stored, a case whose inputs miss a value the variant's prompt
        template uses (case_inputs.py): asked anyway, each such case would fail as
        "infrastructure". `run` calls it; the CLI calls it earlier too, before its header."""
        from workbench.core.evals.case_inputs import check_case_inputs

        check_case_inputs(self.evalset, self.variant.prompt)

    async def run(self, *, resume: int | None = None) -> RunOutcome:
        store = self.project.store
        if resume is None:  # a resumed run is checked once it is narrowed to its own cases, below
            self.check_inputs()
        self._known = await self._identities()
        primary = self._known.get(self.variant.model)
        if resume is not None:
            run_id = self.check_resume(resume)
            self.check_inputs()
            before = ((runstore.get_run(store, run_id) or {}).get("config") or {}).get("model_digest")
            if before and primary and primary.digest and primary.digest != before:
                from workbench.core.evals.answered import answered_by
                from workbench.core.llm.base import short_digest

                answered = answered_by(store, run_id)
                fallback = answered[0] if len(answered) == 1 and answered[0].get("fell_back_from") else None
                if fallback is not None:  # not new weights: Ollama was down, the fallback answered
                    raise WorkbenchError(
                        f"e{run_id}'s finished cases were answered by {fallback['model']}, the fallback for "
                        f"{fallback['fell_back_from']} ({fallback.get('why') or 'unavailable'} then), and "
                        f"{self.variant.model} answers now: its cases would mix two models; start a new run"
                    )
                raise WorkbenchError(
                    f"the model's weights changed since e{run_id} started (digest {short_digest(before)} "
                    f"→ {short_digest(primary.digest)}): its cases would mix two models; start a new run"
                )
            runstore.mark_running(store, run_id)
        else:
            run_id = runstore.create_run(
                store,
                evalset=self.evalset,
                variant_id=self.variant.id,
                variant_name=self.variant.name,
                repeat=self.repeat,
                config={
                    "variant": self.variant.spec(),
                    "concurrency": self.concurrency,
                    "repeat": self.repeat,
                    "cache": self.use_cache,
                    "index_version": index_version(self.project) if self.variant.prompt.grounded else None,
                    "index_build": index_build(self.project) if self.variant.prompt.grounded else None,
                    "index_incomplete": incomplete_index(self.project) if self.variant.prompt.grounded else None,
                    "model_digest": primary.digest if primary else None,
                    "model_identity": primary.as_dict() if primary and primary.digest else None,
                    **({"hosts": [h.url for h in self._pool.hosts]} if self._pool else {}),
                    **(
                        {
                            "selection": {
                                "how": self.evalset.selection,
                                "of": self.evalset.file_size,
                                "cases": self.evalset.ids,
                            }
                        }
                        if self.evalset.selection
                        else {}
                    ),
                },
            )
        self.run_id = run_id
        done_keys = runstore.finished_keys(store, run_id)
        todo = [(case, i) for i in range(self.repeat) for case in self.evalset.cases if (case.id, i) not in done_keys]
        total = len(self.evalset.cases) * self.repeat
        self._skipped = total - len(todo)
        progress = RunProgress(run_id, done=self._skipped, total=total, skipped=self._skipped)
        for r in runstore.load_results(store, run_id):
            self._count(progress, r)
        self._emit(progress)

        judge = self.judge or (project_judge(self.project) if self._needs("llm-judge") else None)
        embed = self.embed
        if embed is None and self._needs("similar"):
            from workbench.core.evals.assertions import default_embed
            from workbench.core.threads import in_daemon_thread

            # off the event loop, in a daemon thread: Ctrl-C/SIGTERM during the load (5-10 s)
            # stops the run at once (asyncio.to_thread's executor is joined at exit: threads.py)
            embed = await in_daemon_thread(default_embed)
        # With several hosts the pool sets the pace (each host takes its `concurrency`).
        sem = asyncio.Semaphore(max(self.concurrency, self._pool.capacity if self._pool else 0))

        async def one(case: Case, repeat_index: int) -> None:
            async with sem:
                if self._cancelled:
                    return
                result = await self._run_case(case, repeat_index, judge, embed)
                runstore.write_result(store, run_id, result)
                progress.done += 1
                self._count(progress, result)
                progress.last = result
                self._emit(progress)

        self._tasks = [asyncio.create_task(one(c, i)) for c, i in todo]
        try:
            outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        except asyncio.CancelledError:
            # The run itself was cancelled (Ctrl-C in the CLI): stop the rest, keep what finished.
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._finish(run_id, "cancelled")
            raise
        errors = [o for o in outcomes if isinstance(o, Exception)]
        if errors:  # a bug or a broken environment (not a model failure): stop, resumable
            self._finish(run_id, "interrupted")
            raise errors[0]
        cancelled = self._cancelled or any(isinstance(o, asyncio.CancelledError) for o in outcomes)
        return self._finish(run_id, "cancelled" if cancelled else "done")

    # -- internals ------------------------------------------------------------------------------
    def _finish(self, run_id: int, status: str) -> RunOutcome:
        store = self.project.store
        results = runstore.load_results(store, run_id)
        summary = summarize(
            results, expected_results=len(self.evalset.cases) * self.repeat, grounded=self.variant.prompt.grounded
        )
        if self.evalset.selection:
            summary["selection"] = {
                "how": self.evalset.selection,
                "cases": len(self.evalset.cases),
                "of": self.evalset.file_size,
            }
        if status == "done":  # what the set resolves at the flip rate against the previous run
            summary["resolution"] = resolution_vs_previous(store, run_id, results)
        summary["answered_by"] = self._record_answering_model(run_id)
        runstore.finish_run(store, run_id, status, summary)
        return RunOutcome(run_id, status, summary, results, skipped=self._skipped)

    def _record_answering_model(self, run_id: int) -> list[dict[str, Any]]:
        """The models that answered (answered.py). When one model answered every case and it is
        not the one whose digest the run recorded at its start (the fallback answered: Ollama
        was down), the run's `model_digest` becomes the answering weights': the diff, the
        history's segments and a resume compare the weights that answered, not the ones asked."""
        from workbench.core.evals.answered import answered_by

        store = self.project.store
        answered = answered_by(store, run_id)
        config = dict(runstore.get_run(store, run_id).get("config") or {})
        digest = answered[0].get("digest") if len(answered) == 1 else None
        if digest and digest != config.get("model_digest"):
            config.update(model_digest=digest, model_identity={"digest": digest})
            store.update("eval_runs", run_id, {"config": config})
        return answered

    def _needs(self, base: str) -> bool:
        return any(a.base == base for c in self.evalset.cases for a in c.assertions)

    def check_resume(self, run_id: int) -> int:
        """Whether run `run_id` can be resumed with these settings (raises WorkbenchError saying
        why not); adopts its repeat count and, for a subset run, narrows to its own cases. Safe
        to call twice: the CLI calls it before printing what it will run."""
        row = runstore.get_run(self.project.store, run_id)
        if row["status"] == "running":
            raise WorkbenchError(
                f"eval run e{run_id} is still running (process {row.get('pid')}); stop it first or wait"
            )
        if row["status"] == "done":
            raise WorkbenchError(f"eval run e{run_id} already finished; nothing to resume")
        if row["evalset_hash"] != self.evalset.content_hash:
            raise WorkbenchError(
                f"the eval set changed since e{run_id} started ({row['evalset_hash'][:10]} -> "
                f"{self.evalset.content_hash[:10]}); start a new run instead of resuming",
                path=self.evalset.path,
            )
        if row["variant_id"] != self.variant.id:
            raise WorkbenchError(
                f"e{run_id} used variant {row.get('variant_name') or row['variant_id']} "
                f"({row['variant_id']}), but the settings now give {self.variant.id}; resume with the "
                "same --variant and unchanged prompts and config"
            )
        if (row.get("repeat") or 1) != self.repeat:
            self.repeat = row.get("repeat") or 1
        selection = (row.get("config") or {}).get("selection")
        if selection:  # a resumed subset run finishes its own cases, not the whole file
            import dataclasses

            wanted = set(selection.get("cases") or [])
            self.evalset = dataclasses.replace(
                self.evalset,
                cases=tuple(c for c in self.evalset.cases if c.id in wanted),
                selection=selection.get("how"),
                file_size=selection.get("of"),
            )
        return run_id

    async def _run_case(self, case: Case, repeat_index: int, judge: Judge | None, embed: Embed | None) -> CaseResult:
        generate = self.generate
        if generate is None:
            from workbench.core.pipeline import run_generation

            generate = run_generation
        try:
            record = await generate(
                self.project,
                self.variant,
                dict(case.inputs),
                source="eval",
                use_cache=self.use_cache and repeat_index == 0,
                identities=dict(self._known),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as this case's infra failure, visibly
            message = str(exc) or type(exc).__name__
            out = GenerationOutcome(output="", status="error", error=message)
        else:
            out = outcome_from_record(record)
        assertion_results = await run_assertions(case, out, embed=embed, judge=judge)
        return CaseResult(
            case_id=case.id,
            verdict=verdict(assertion_results),
            assertions=assertion_results,
            failure_kind=attribute(case, out, assertion_results),
            repeat_index=repeat_index,
            output=out.output,
            status=out.status,
            error=out.error,
            latency_ms=out.latency_ms,
            prompt_tokens=out.prompt_tokens,
            completion_tokens=out.completion_tokens,
            cost=out.cost,
            generation_id=out.generation_id,
            cached=out.cached,
            tags=case.tags,
            relevant=case.relevant,
            retrieved=out.retrieved,
            gold_rank=gold_rank(case.relevant, out.retrieved),
            chunks=tuple((src.chunk_id or "", src.path) for src in out.sources) if out.retrieved is not None else (),
        )

    @staticmethod
    def _count(p: RunProgress, r: CaseResult) -> None:
        if r.verdict == "pass":
            p.passed += 1
        elif r.verdict == "fail":
            p.failed += 1
        elif r.verdict == "judge-error":
            from workbench.core.evals.python_scorer import scorer_error_only

            if scorer_error_only(r):
                p.scorer_errors += 1
            else:
                p.judge_errors += 1
        if r.cached:
            p.cached += 1

    def _emit(self, p: RunProgress) -> None:
        if self._pool is not None:
            p.hosts = self._pool.snapshot()
        if self.on_progress is not None:
            self.on_progress(p)


async def run_evalset(project: Project, evalset: EvalSet, variant: Any, **kwargs: Any) -> RunOutcome:
    """Convenience: build an EvalRunner and run it (`resume=` is passed to `run`)."""
    resume = kwargs.pop("resume", None)
    return await EvalRunner(project, evalset, variant, **kwargs).run(resume=resume)
