"""The one parser of run ids: `12` a generation, `r12` a retrieval trace, `re12` a retrieval
eval, `rt12` a retrieval tune, `e12` an eval run, `f12` a fine-tune job. The CLI, the TUI and the run store all read ids
through here, so an id one of them accepts the others accept too."""

from __future__ import annotations

from workbench.core.errors import WorkbenchError

PREFIX: dict[str, str] = {
    "generation": "",
    "retrieval": "r",
    "retrieval-eval": "re",
    "retrieval-tune": "rt",
    "eval": "e",
    "finetune": "f",
}
MAX_ROW_ID = 2**63 - 1  # SQLite's largest INTEGER PRIMARY KEY

# Longest prefix first, so `re3` is a retrieval eval and not a malformed retrieval trace.
_BY_PREFIX = sorted(((p, k) for k, p in PREFIX.items() if p), key=lambda pk: -len(pk[0]))


def _number(text: str) -> int | None:
    # isdecimal, not isdigit: int() refuses digits such as '²'. Past SQLite's largest INTEGER
    # the lookup itself would fail (OverflowError), so such an id is simply not a run.
    return int(text) if text.isdecimal() and int(text) <= MAX_ROW_ID else None


def parse_run_id(run_id: str) -> tuple[str, int] | None:
    """`12` -> ("generation", 12); `r3` -> ("retrieval", 3); `re3` -> ("retrieval-eval", 3);
    None when malformed or past SQLite's range."""
    text = run_id.strip().lower()
    for prefix, kind in _BY_PREFIX:
        if text.startswith(prefix):
            number = _number(text[len(prefix) :])
            if number is not None:
                return kind, number
    number = _number(text)
    return ("generation", number) if number is not None else None


def parse_kind_id(ref: str | int, kind: str, *, noun: str, accepts: str, listing: str) -> int:
    """The number of `ref` read as a `kind` id, the prefix optional (`eval show 3` is `e3`).
    Malformed or past SQLite's range is a WorkbenchError (exit 2), never an OverflowError:
    `noun` names the kind ("an eval run"), `accepts` the forms, `listing` the command that lists."""
    text = str(ref).strip().lower()
    prefix = PREFIX[kind]
    rest = text[len(prefix) :] if prefix and text.startswith(prefix) else text
    if not rest.isdecimal():
        raise WorkbenchError(f"not {noun} id: {ref!r} (use {accepts})")
    number = _number(rest)
    if number is None:
        raise WorkbenchError(f"no run with id {str(ref).strip()!r} (see `{listing}`)")
    return number
