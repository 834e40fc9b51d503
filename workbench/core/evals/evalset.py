"""Eval-set files (`evals/*.yaml`) -> typed, validated objects.

The eval set is the fixed point every variant is measured against, so a mistake in it must stop
the run before any model is called, with an error that says exactly where: file, line, case id
and field. That is why this loader walks the YAML *node* tree (`yaml.compose`) instead of the
plain loaded dict: nodes keep their line numbers, and every check below reports one.

The format is described in notes/EVALSET_FORMAT.md. Choices made where the format leaves room:
- `defaults` may hold inputs, expected, relevant, tags, split and assert. Case values win; for
  `inputs` the win is per key (a default input is kept unless the case sets the same key);
  `assert` lists are concatenated (defaults first).
- `not-X` exists for equals, contains, icontains, contains-any, contains-all, regex, json-schema,
  similar and cites. It is refused for llm-judge, max-latency-ms and max-tokens, where a negation
  has no sensible meaning.
- `similar` needs a `value` or the case's `expected`; its default threshold is 0.75.
- `llm-judge` passes when the judge says pass, or when its score (0-1) >= `threshold` (0.5).
- Unknown keys anywhere are errors (with a did-you-mean), so a typo never disables a check.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.core.errors import WorkbenchError
from workbench.core.evals.jsonschema_lite import check_schema
from workbench.core.evals.matching import pattern_problem
from workbench.core.yamlfile import BoundedLoader, compose, yaml_error_where

# The checks on the answer's text, shared by the lists below and assertions.CONTENT_TYPES.
TEXT_TYPES = (
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "regex",
)
BASE_TYPES = (
    *TEXT_TYPES,
    "json-schema",
    "similar",
    "llm-judge",
    "max-latency-ms",
    "max-tokens",
    "cites",
    "python",
)
NEGATABLE = (
    *TEXT_TYPES,
    "json-schema",
    "similar",
    "cites",
)
ASSERTION_TYPES = BASE_TYPES + tuple(f"not-{t}" for t in NEGATABLE)

# Keys each base type accepts besides the common `type`, `name`, `weight`.
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "equals": ("value",),
    "contains": ("value",),
    "icontains": ("value",),
    "contains-any": ("value",),
    "contains-all": ("value",),
    "regex": ("value", "format"),
    "json-schema": ("value",),
    "similar": ("value", "threshold"),
    "llm-judge": ("rubric", "model", "threshold"),
    "max-latency-ms": ("value",),
    "max-tokens": ("value",),
    "cites": (),
    "python": ("value", "expr", "threshold", "timeout", "memory_mb"),  # python_scorer.py
}
_COMMON_KEYS = ("type", "name", "weight")
TOP_KEYS = ("name", "description", "defaults", "cases")
CASE_KEYS = ("id", "inputs", "expected", "relevant", "tags", "split", "source", "assert", "description")
DEFAULT_KEYS = ("inputs", "expected", "relevant", "tags", "split", "assert")
SPLITS = ("train", "heldout")
CASE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
SIMILAR_DEFAULT_THRESHOLD = 0.75
JUDGE_DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Assertion:
    """One check on a case's output. `type` is as written (`not-contains`); `base` drops `not-`."""

    type: str
    value: Any = None
    name: str | None = None
    weight: float = 1.0
    threshold: float | None = None
    rubric: str | None = None
    model: str | None = None
    line: int | None = None  # 1-based line of the assertion in the file
    format: bool = False  # a regex that checks the answer's shape, not what it says

    @property
    def negated(self) -> bool:
        return self.type.startswith("not-")

    @property
    def base(self) -> str:
        return self.type[4:] if self.negated else self.type

    @property
    def label(self) -> str:
        """Name for reports: the user's `name`, else the type."""
        return self.name or self.type


@dataclass(frozen=True)
class Case:
    """One eval case after defaults were merged in."""

    id: str
    inputs: dict[str, Any]
    expected: str | None = None
    relevant: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    split: str | None = None
    source: dict[str, Any] | None = None
    assertions: tuple[Assertion, ...] = ()
    description: str | None = None
    line: int | None = None  # 1-based line where the case's mapping starts
    inputs_line: int | None = None  # the case's own `inputs:` key; None when only defaults give inputs


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    content_hash: str  # sha256 hex of the file's bytes: stored with every run
    cases: tuple[Case, ...]
    description: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    # Set when `eval run --limit/--tag/--case` narrowed the file: how it was narrowed and how many
    # cases the file has, so a run over 10 of 93 cases never reads like a run over the set.
    selection: str | None = None
    file_size: int | None = None

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(case_id)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cases]


# --------------------------------------------------------------------------- loading


_CASE_ID_LINE = re.compile(r"^\s*-\s*id:\s*['\"]?([^'\"#\s]+)")


def _case_before(text: str, line: int | None) -> str | None:
    """The id of the case a YAML syntax error sits in (the last `- id:` at or above `line`), so
    even a file that does not parse names its case; None above the first case."""
    if line is None:
        return None
    for raw in reversed(text.splitlines()[:line]):
        m = _CASE_ID_LINE.match(raw)
        if m:
            return m.group(1)
    return None


def load_evalset(path: str | Path) -> EvalSet:
    """Read and validate an eval-set file. Raises WorkbenchError naming file, line, case, field."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"eval set not found: {p}", path=p) from None
    except OSError as exc:
        raise WorkbenchError(f"cannot read eval set: {exc}", path=p) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"eval set is not UTF-8 text ({exc})", path=p) from None
    return parse_evalset(text, p, content_hash=hashlib.sha256(data).hexdigest())


def parse_evalset(text: str, path: str | Path = "<string>", *, content_hash: str | None = None) -> EvalSet:
    """Validate eval-set YAML text. `path` is only used for naming and the default set name."""
    p = Path(path)
    if content_hash is None:
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _Parser(p).parse(text, content_hash)


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.scorer_hashes: dict[str, str] = {}  # scorer file -> sha256, for the set's identity
        self._constructor = BoundedLoader("")

    # -- helpers
    def err(
        self,
        message: str,
        node: yaml.Node | None = None,
        *,
        line: int | None = None,
        case: str | None = None,
        field: str | None = None,
    ) -> WorkbenchError:
        if line is None and node is not None:
            line = node.start_mark.line + 1
        prefix = f"case '{case}': " if case else ""
        where = f"{field}: " if field else ""
        return WorkbenchError(f"{prefix}{where}{message}", path=self.path, line=line, field=field)

    def value(self, node: yaml.Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:  # `!!int abc`, a date like 2020-13-45
            line, problem = yaml_error_where(exc)
            raise self.err(f"bad YAML: {problem}", line=line) from None

    def mapping(
        self, node: yaml.Node, allowed: tuple[str, ...], what: str, *, case: str | None = None, field: str | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys of a mapping node -> (key node, value node); unknown or repeated keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.err(f"{what} must be a mapping, got {_kind(node)}", node, case=case, field=field)
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, yaml.ScalarNode) else None
            if key is None:
                raise self.err(f"{what} has a non-text key", knode, case=case, field=field)
            fname = f"{field}.{key}" if field else key
            if key in out:
                raise self.err(
                    f"'{key}' appears twice in {what} (first on line {out[key][0].start_mark.line + 1})",
                    knode,
                    case=case,
                    field=fname,
                )
            if allowed and key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                msg = f"unknown field '{key}' in {what}" + (
                    f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
                )
                raise self.err(msg, knode, case=case, field=fname)
            out[key] = (knode, vnode)
        return out

    def text(self, node: yaml.Node, what: str, *, case: str | None, field: str, allow_numbers: bool = True) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            raise self.err(f"{what} must be text, got {_kind(node)}", node, case=case, field=field)
        v = self.value(node)
        if isinstance(v, bool):
            raise self.err(
                f'{what} must be text, got a boolean (quote it: "{node.value}")', node, case=case, field=field
            )
        if isinstance(v, str):
            return v
        if allow_numbers:
            return str(node.value)  # numbers: keep the text as written ("1.10" stays "1.10")
        raise self.err(f"{what} must be text, got {_kind(node)}", node, case=case, field=field)

    def str_list(
        self, node: yaml.Node, what: str, *, case: str | None, field: str, allow_single: bool = True
    ) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and allow_single and node.tag != "tag:yaml.org,2002:null":
            return (self.text(node, what, case=case, field=field),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(f"{what} must be a list of text, got {_kind(node)}", node, case=case, field=field)
        return tuple(self.text(n, f"each item of {what}", case=case, field=field) for n in node.value)

    def number(
        self,
        node: yaml.Node,
        *,
        case: str | None,
        field: str,
        integer: bool = False,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
    ) -> float:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        kind = "a whole number" if integer else "a number"
        if (
            not isinstance(v, (int, float))
            or isinstance(v, bool)
            or (integer and not (isinstance(v, int) or float(v).is_integer()))
        ):
            raise self.err(
                f"must be {kind}, got {node.value if isinstance(node, yaml.ScalarNode) else _kind(node)!r}",
                node,
                case=case,
                field=field,
            )
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise self.err(f"must be {'>' if lo_open else '>='} {lo}, got {v}", node, case=case, field=field)
        if hi is not None and v > hi:
            raise self.err(f"must be <= {hi}, got {v}", node, case=case, field=field)
        return int(v) if integer else float(v)

    # -- parse
    def parse(self, text: str, content_hash: str) -> EvalSet:
        try:
            root = compose(text, self.path)
        except yaml.MarkedYAMLError as exc:
            line, problem = yaml_error_where(exc, text)
            if "flow" in (exc.context or "") and "but got '?'" in (exc.problem or ""):
                problem += " (inside { } or [ ], quote text that contains '?' or ': ')"
            raise self.err(f"bad YAML: {problem}", line=line, case=_case_before(text, line)) from None
        except yaml.YAMLError as exc:
            raise WorkbenchError(f"bad YAML: {exc}", path=self.path) from None
        if root is None:
            raise WorkbenchError("eval set is empty (expected a mapping with `cases:`)", path=self.path, line=1)
        top = self.mapping(root, TOP_KEYS, "the eval set")
        name = self.path.stem
        if "name" in top:
            name = self.text(top["name"][1], "name", case=None, field="name")
        description = None
        if "description" in top:
            description = self.text(top["description"][1], "description", case=None, field="description")

        defaults_raw: dict[str, Any] = {}
        default_fields: dict[str, Any] = {}
        if "defaults" in top:
            dnode = top["defaults"][1]
            if not (isinstance(dnode, yaml.ScalarNode) and dnode.tag == "tag:yaml.org,2002:null"):
                d = self.mapping(dnode, DEFAULT_KEYS, "defaults", field="defaults")
                defaults_raw = self.value(dnode)
                default_fields = self.case_fields(d, case=None, prefix="defaults.")

        if "cases" not in top:
            raise WorkbenchError("eval set has no `cases:` list", path=self.path, line=1, field="cases")
        cnode = top["cases"][1]
        if not isinstance(cnode, yaml.SequenceNode):
            raise self.err(f"`cases` must be a list, got {_kind(cnode)}", cnode, field="cases")
        if not cnode.value:
            raise self.err("`cases` is empty", cnode, field="cases")

        cases: list[Case] = []
        seen: dict[str, int] = {}
        for i, node in enumerate(cnode.value):
            line = node.start_mark.line + 1
            if not isinstance(node, yaml.MappingNode):
                raise self.err(f"cases[{i}] must be a mapping with an `id`, got {_kind(node)}", node, field="cases")
            # Find the id first so every later error can name the case.
            idnode = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "id"), None)
            if idnode is None:
                raise self.err(f"cases[{i}] has no `id`", node, field="id")
            case_id = self.text(idnode, "id", case=None, field="id")
            if not CASE_ID_RE.match(case_id):
                raise self.err(
                    f"case id {case_id!r} may only contain letters, digits, '_', '.' and '-'", idnode, field="id"
                )
            if case_id in seen:
                raise self.err(
                    f"duplicate case id '{case_id}' on lines {seen[case_id]} and {line}",
                    idnode,
                    line=line,
                    case=case_id,
                    field="id",
                )
            seen[case_id] = line
            m = self.mapping(node, CASE_KEYS, f"case '{case_id}'", case=case_id)
            f = self.case_fields(m, case=case_id, prefix="")
            inputs = dict(default_fields.get("inputs", {}))
            inputs.update(f.get("inputs", {}))
            expected = f.get("expected", default_fields.get("expected"))
            assertions = tuple(default_fields.get("assert", ())) + tuple(f.get("assert", ()))
            for a in assertions:
                if a.base == "similar" and a.value is None and expected is None:
                    raise self.err(
                        f"{a.type} has no `value` and the case has no `expected` to compare with",
                        line=a.line,
                        case=case_id,
                        field="assert.value",
                    )
            cases.append(
                Case(
                    id=case_id,
                    inputs=inputs,
                    expected=expected,
                    relevant=f.get("relevant", default_fields.get("relevant", ())),
                    tags=f.get("tags", default_fields.get("tags", ())),
                    split=f.get("split", default_fields.get("split")),
                    source=f.get("source"),
                    assertions=assertions,
                    description=f.get("description"),
                    line=line,
                    inputs_line=m["inputs"][0].start_mark.line + 1 if "inputs" in m else None,
                )
            )
        if self.scorer_hashes:  # a changed scorer is a new set version (answers stay cached)
            content_hash = scorers_identity(content_hash, self.scorer_hashes)
        return EvalSet(
            name=name,
            path=self.path,
            content_hash=content_hash,
            cases=tuple(cases),
            description=description,
            defaults=defaults_raw or {},
        )

    def case_fields(
        self, m: dict[str, tuple[yaml.Node, yaml.Node]], *, case: str | None, prefix: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (_knode, vnode) in m.items():
            fname = prefix + key
            if key == "id":
                continue
            if key == "inputs":
                im = self.mapping(vnode, (), "inputs", case=case, field=fname)
                out["inputs"] = {k: self.value(v) for k, (_, v) in im.items()}
            elif key in ("expected", "description"):
                out[key] = self.text(vnode, key, case=case, field=fname)
            elif key in ("relevant", "tags"):
                out[key] = self.str_list(vnode, key, case=case, field=fname)
            elif key == "split":
                s = self.text(vnode, "split", case=case, field=fname)
                if s not in SPLITS:
                    raise self.err(
                        f"split must be one of {', '.join(SPLITS)}, got {s!r}", vnode, case=case, field=fname
                    )
                out["split"] = s
            elif key == "source":
                if not isinstance(vnode, yaml.MappingNode):
                    raise self.err(f"source must be a mapping, got {_kind(vnode)}", vnode, case=case, field=fname)
                out["source"] = self.value(vnode)
            elif key == "assert":
                if isinstance(vnode, yaml.ScalarNode) and vnode.tag == "tag:yaml.org,2002:null":
                    out["assert"] = ()
                    continue
                if not isinstance(vnode, yaml.SequenceNode):
                    raise self.err(f"assert must be a list, got {_kind(vnode)}", vnode, case=case, field=fname)
                out["assert"] = tuple(self.assertion(n, i, case=case, prefix=fname) for i, n in enumerate(vnode.value))
        return out

    def assertion(self, node: yaml.Node, index: int, *, case: str | None, prefix: str) -> Assertion:
        field0 = f"{prefix}[{index}]"
        if not isinstance(node, yaml.MappingNode):
            raise self.err(
                f"each assertion must be a mapping with a `type`, got {_kind(node)}", node, case=case, field=field0
            )
        raw = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        if "type" not in raw:
            raise self.err("assertion has no `type`", node, case=case, field=f"{field0}.type")
        tnode = raw["type"][1]
        atype = self.text(tnode, "type", case=case, field=f"{field0}.type")
        if atype not in ASSERTION_TYPES:
            hint = difflib.get_close_matches(atype, ASSERTION_TYPES, n=1, cutoff=0.5)
            if atype.startswith("not-") and atype[4:] in BASE_TYPES:
                msg = f"'{atype[4:]}' has no not- form"
            else:
                msg = f"unknown assertion type '{atype}'" + (
                    f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(BASE_TYPES)})"
                )
            raise self.err(msg, tnode, case=case, field=f"{field0}.type")
        base = atype[4:] if atype.startswith("not-") else atype
        m = self.mapping(node, _COMMON_KEYS + _TYPE_KEYS[base], f"{atype} assertion", case=case, field=field0)
        line = node.start_mark.line + 1
        kw: dict[str, Any] = {"type": atype, "line": line}

        def f(key: str) -> str:
            return f"{field0}.{key}"

        if "name" in m:
            kw["name"] = self.text(m["name"][1], "name", case=case, field=f("name"))
        if "weight" in m:
            kw["weight"] = self.number(m["weight"][1], case=case, field=f("weight"), lo=0)
        vnode = m.get("value", (None, None))[1]
        needs_value = base not in ("similar", "cites", "llm-judge", "python")
        if needs_value and vnode is None:
            raise self.err(f"{atype} needs a `value`", node, case=case, field=f("value"))
        if base in ("equals", "contains", "icontains"):
            kw["value"] = self.text(vnode, "value", case=case, field=f("value"))
        elif base in ("contains-any", "contains-all"):
            vals = self.str_list(vnode, "value", case=case, field=f("value"), allow_single=False)
            if not vals:
                raise self.err(f"{atype} needs at least one value", vnode, case=case, field=f("value"))
            kw["value"] = vals
        elif base == "regex":
            pattern = self.text(vnode, "value", case=case, field=f("value"))
            problem = pattern_problem(pattern)  # re's syntax, and the engine that runs it
            if problem:
                raise self.err(f"bad regex {pattern!r}: {problem}", vnode, case=case, field=f("value"))
            kw["value"] = pattern
            if "format" in m:
                fnode = m["format"][1]
                flag = self.value(fnode) if isinstance(fnode, yaml.ScalarNode) else None
                if not isinstance(flag, bool):
                    raise self.err(
                        f"format must be true or false, got {fnode.value if isinstance(fnode, yaml.ScalarNode) else _kind(fnode)!r}",
                        fnode,
                        case=case,
                        field=f("format"),
                    )
                kw["format"] = flag
        elif base == "json-schema":
            schema = self.value(vnode)
            problems = check_schema(schema)
            if problems:
                raise self.err(f"invalid JSON schema: {'; '.join(problems)}", vnode, case=case, field=f("value"))
            kw["value"] = schema
        elif base == "similar":
            if vnode is not None:
                kw["value"] = self.text(vnode, "value", case=case, field=f("value"))
            kw["threshold"] = SIMILAR_DEFAULT_THRESHOLD
            if "threshold" in m:
                kw["threshold"] = self.number(m["threshold"][1], case=case, field=f("threshold"), lo=-1, hi=1)
        elif base == "llm-judge":
            if "rubric" not in m:
                raise self.err("llm-judge needs a `rubric`", node, case=case, field=f("rubric"))
            kw["rubric"] = self.text(m["rubric"][1], "rubric", case=case, field=f("rubric"))
            if not kw["rubric"].strip():
                raise self.err("llm-judge rubric is empty", m["rubric"][1], case=case, field=f("rubric"))
            if "model" in m:
                kw["model"] = self.text(m["model"][1], "model", case=case, field=f("model"))
            kw["threshold"] = JUDGE_DEFAULT_THRESHOLD
            if "threshold" in m:
                kw["threshold"] = self.number(m["threshold"][1], case=case, field=f("threshold"), lo=0, hi=1)
        elif base == "max-latency-ms":
            kw["value"] = self.number(vnode, case=case, field=f("value"), lo=0, lo_open=True)
        elif base == "max-tokens":
            kw["value"] = self.number(vnode, case=case, field=f("value"), integer=True, lo=0, lo_open=True)
        elif base == "python":
            kw["value"], kw["threshold"] = self.python_scorer(node, m, case=case, field0=field0)
        return Assertion(**kw)

    def python_scorer(
        self, node: yaml.Node, m: dict[str, tuple[yaml.Node, yaml.Node]], *, case: str | None, field0: str
    ) -> tuple[Any, float]:
        """`value: FILE.py:FUNCTION` or `expr: PYTHON`, checked now (the file parses and defines
        the function, the expression compiles); the file's hash joins the set's identity."""
        from workbench.core.evals import python_scorer as ps

        def f(key: str) -> str:
            return f"{field0}.{key}"

        if ("value" in m) == ("expr" in m):
            raise self.err(
                "python needs either `value: FILE.py:FUNCTION` or `expr: PYTHON`, not "
                + ("both" if "value" in m else "neither"),
                node,
                case=case,
                field=f("value"),
            )
        kw: dict[str, Any] = {}
        if "timeout" in m:
            kw["timeout_s"] = self.number(m["timeout"][1], case=case, field=f("timeout"), lo=0, lo_open=True, hi=3600)
        if "memory_mb" in m:
            kw["memory_mb"] = self.number(m["memory_mb"][1], case=case, field=f("memory_mb"), integer=True, lo=32)
        threshold = ps.DEFAULT_THRESHOLD
        if "threshold" in m:
            threshold = self.number(m["threshold"][1], case=case, field=f("threshold"), lo=0, hi=1)
        if "expr" in m:
            enode = m["expr"][1]
            expr = self.text(enode, "expr", case=case, field=f("expr"))
            try:
                compile(expr, "<expr>", "eval")
            except SyntaxError as exc:
                raise self.err(
                    f"expr is not a Python expression: {exc.msg}", enode, case=case, field=f("expr")
                ) from None
            return ps.ScorerSpec(label="expr", expr=expr, **kw), threshold
        vnode = m["value"][1]
        ref = self.text(vnode, "value", case=case, field=f("value"))
        file_part, sep, function = ref.rpartition(":")
        if not sep or not file_part.endswith(".py") or not function.isidentifier():
            raise self.err(f"python value must be FILE.py:FUNCTION, got {ref!r}", vnode, case=case, field=f("value"))
        path, tried = ps.resolve_file(file_part, self.path)
        if path is None:
            raise self.err(
                f"scorer file {file_part} not found (looked in {', '.join(str(t.parent) for t in tried)})",
                vnode,
                case=case,
                field=f("value"),
            )
        problem = ps.file_problem(path, function)
        if problem:
            raise self.err(f"scorer {ref}: {problem}", vnode, case=case, field=f("value"))
        digest = self.scorer_hashes.setdefault(str(path), ps.file_hash(path))
        return ps.ScorerSpec(label=ref, file=str(path), function=function, sha256=digest, **kw), threshold


def scorers_identity(file_hash: str, scorer_hashes: dict[str, str]) -> str:
    """The set's version when `type: python` checks use scorer files: the YAML's hash and each
    scorer file's (by name). Scores then follow the scorer; the pipeline's answer cache is keyed
    on model, options and messages only, so cached answers survive a scorer edit."""
    h = hashlib.sha256(file_hash.encode())
    for path, digest in sorted(scorer_hashes.items()):
        h.update(f"\n{Path(path).name}:{digest}".encode())
    return h.hexdigest()


def _kind(node: yaml.Node | None) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "an empty value"
    if node.tag.endswith(":int") or node.tag.endswith(":float"):
        return f"the number {node.value}"
    if node.tag.endswith(":bool"):
        return f"the boolean {node.value}"
    return f"text {node.value!r}"
