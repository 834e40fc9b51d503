"""Comparing two stored retrieval evals: `retrieval diff reA reB`, `retrieval eval --against reN`.

Details: docs/NOTES.md, section core/retrieval/compare.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.core.retrieval.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from workbench.core.store import Store


# settings stored with an eval that are bookkeeping, not levers
_NOT_LEVERS = {"k", "modes", "index_build", "corpus", "batch_size", "stale_index"}
AT_K = tuple(n for n in METRIC_NAMES if n.endswith("@k"))


@dataclass
class CaseMove:
    case_id: str
    ranks: dict[str, tuple[int | None, int | None]]  # mode -> (rank in A, rank in B), moved only
    hit: dict[str, tuple[bool, bool]]  # mode -> (hit@k in A, in B), for the moved modes


@dataclass
class EvalComparison:
    before_id: int
    after_id: int
    evalset: str
    deltas: dict[str, dict[str, float]]  # mode -> metric -> after - before (comparable ones)
    warnings: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # settings / index differences
    moved: list[CaseMove] = field(default_factory=list)

    def notes(self) -> list[str]:
        """The warnings, then one line of what changed: what a report lists under the deltas."""
        return self.warnings + (
            [f"changed since re{self.before_id}: " + "; ".join(self.changes)] if self.changes else []
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before_id,
            "after": self.after_id,
            "evalset": self.evalset,
            "deltas": self.deltas,
            "warnings": self.warnings,
            "changes": self.changes,
            "moved": [{"case_id": m.case_id, "ranks": m.ranks, "hit": m.hit} for m in self.moved],
        }


def compare_evals(before: dict[str, Any], after: dict[str, Any]) -> EvalComparison:
    """Compare two stored eval rows (traces.get_eval's shape: settings/metrics/cases parsed)."""
    a_id, b_id = before["id"], after["id"]
    sa, sb = before.get("settings") or {}, after.get("settings") or {}
    ma, mb = before.get("metrics") or {}, after.get("metrics") or {}
    warnings: list[str] = []
    comparable = set(METRIC_NAMES)
    if sa.get("k") != sb.get("k"):
        comparable -= set(AT_K)
        warnings.append(
            f"k differs (re{a_id} k={sa.get('k')}, re{b_id} k={sb.get('k')}): the @k metrics "
            "are not comparable, only MRR@10 and nDCG@10 deltas are shown"
        )
    warnings += _evalset_warnings(before, after)
    deltas = {
        mode: {n: ms[n] - ma[mode][n] for n in ms if n in ma[mode] and n in comparable}
        for mode, ms in mb.items()
        if mode in ma
    }
    return EvalComparison(
        a_id, b_id, after.get("evalset") or "", deltas, warnings, _changes(before, after), _moved(before, after)
    )


def _cases(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("case_id"): c for c in row.get("cases") or []}


def _evalset_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    a_id, b_id = before["id"], after["id"]
    name_a, name_b = before.get("evalset") or "?", after.get("evalset") or "?"
    if name_a != name_b:
        return [
            f"re{a_id} and re{b_id} scored different eval sets ({name_a} vs {name_b}): the deltas "
            "compare different questions"
        ]
    if before.get("evalset_hash") == after.get("evalset_hash"):
        return []
    ca, cb = _cases(before), _cases(after)
    added = [c for c in cb if c not in ca]
    removed = [c for c in ca if c not in cb]
    relabelled = [
        c for c in cb if c in ca and sorted(ca[c].get("relevant") or []) != sorted(cb[c].get("relevant") or [])
    ]
    reworded = [c for c in cb if c in ca and ca[c].get("question") != cb[c].get("question")]
    parts = [
        f"{len(ids)} {what} ({_ids(ids)})"
        for what, ids in (("added", added), ("removed", removed), ("re-labelled", relabelled), ("re-worded", reworded))
        if ids
    ]
    if not parts:
        return [
            f"the eval set {name_b} changed between re{a_id} and re{b_id}, but not its labelled cases "
            "(same questions and relevant labels): the deltas compare like with like"
        ]
    return [
        f"the eval set {name_b} changed between re{a_id} and re{b_id}: cases "
        + ", ".join(parts)
        + "; the deltas mix that with any settings change"
    ]


def _ids(ids: list[str], most: int = 5) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    sa, sb = before.get("settings") or {}, after.get("settings") or {}
    out = [
        f"{key} {sa.get(key)!r} → {sb.get(key)!r}"
        if isinstance(sb.get(key), str)
        else f"{key} {sa.get(key)} → {sb.get(key)}"
        for key in sorted(set(sa) | set(sb))
        if key not in _NOT_LEVERS and sa.get(key) != sb.get(key)
    ]
    va, vb = before.get("index_version"), after.get("index_version")
    ba, bb = sa.get("index_build"), sb.get("index_build")
    if ba and bb and ba != bb:
        out.append(f"the index was rebuilt in between (version {va} → {vb} of another build)")
    elif va != vb:
        out.append(f"index version {va} → {vb} (an ingest in between)")
    # an eval of chunking settings the index was never re-chunked with scored the old chunks: a
    # "chunk_tokens 80 → 200" with no delta would otherwise read as "chunking makes no difference"
    out += [
        f"re{row['id']}'s index was not re-chunked, so its chunking settings were not measured: {stale}"
        for row in (before, after)
        if (stale := (row.get("settings") or {}).get("stale_index"))
    ]
    return out


def _moved(before: dict[str, Any], after: dict[str, Any]) -> list[CaseMove]:
    ca, cb = _cases(before), _cases(after)
    out = []
    for cid, b in cb.items():
        a = ca.get(cid)
        if a is None:
            continue
        ranks, hit = {}, {}
        for mode, rb in (b.get("gold_rank") or {}).items():
            ra = (a.get("gold_rank") or {}).get(mode, rb)
            if ra != rb:
                ranks[mode] = (ra, rb)
                hit[mode] = (_hit(a, mode), _hit(b, mode))
        if ranks:
            out.append(CaseMove(cid, ranks, hit))
    return out


def _hit(case: dict[str, Any], mode: str) -> bool:
    return bool(((case.get("metrics") or {}).get(mode) or {}).get("hit@k"))


def parse_eval_id(text: str) -> int | None:
    """`re12` (as `runs` lists it) or `12` -> 12; None when it is neither."""
    t = text.strip().lower()
    t = t[2:] if t.startswith("re") else t
    return int(t) if t.isdigit() else None


def load_eval(store: Store, text: str) -> dict[str, Any]:
    """The stored eval `text` names, or WorkbenchError (exit 2) saying what is wrong."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.retrieval.traces import get_eval

    eval_id = parse_eval_id(text)
    if eval_id is None:
        raise WorkbenchError(
            f"{text!r} is not a retrieval eval id (like re3; `workbench runs --kind retrieval-eval` lists them)"
        )
    row = get_eval(store, eval_id)
    if row is None:
        raise WorkbenchError(f"no retrieval eval re{eval_id} (`workbench runs --kind retrieval-eval` lists them)")
    return row
