"""YAML that remembers where each value came from, and typed validation that says where it failed.

Users write workbench.yaml and prompts/*.yaml by hand; an error that says only "invalid config"
wastes their afternoon. So values are loaded together with the line of every key and list item,
and `build()` turns plain data into dataclasses, raising a WorkbenchError that names
`file:line: dotted.field` and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from workbench.core.errors import WorkbenchError
from workbench.core.message_numbers import plural

KeyPath = tuple[Any, ...]
_T = typing.TypeVar("_T")


@dataclasses.dataclass
class Located:
    """Parsed YAML data plus the 1-based line of every mapping key and sequence item."""

    data: Any
    path: Path
    lines: dict[KeyPath, int]

    def line(self, keypath: KeyPath) -> int | None:
        """The line of `keypath`, or of its nearest ancestor that has one."""
        kp = tuple(keypath)
        while kp:
            if kp in self.lines:
                return self.lines[kp]
            kp = kp[:-1]
        return self.lines.get((), None)


# Aliases are allowed (`<<: *defaults` is a common idiom) but every alias adds the size of what
# it points at to this budget, checked while composing: nested anchors multiply (10 aliases x 7
# levels is 10 million values from a few hundred bytes), and everything after composing (the
# line walk below, validation, JSON dumps) would expand them.
MAX_ALIAS_VALUES = 100_000
MAX_DEPTH = 100  # nesting beyond this is refused before Python's recursion limit is reached


class YamlBudgetError(yaml.YAMLError):  # type: ignore[misc]  # PyYAML ships no types: its classes are Any
    """Raised while composing: aliases expand past MAX_ALIAS_VALUES, or nesting past MAX_DEPTH."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types: its classes are Any
    """SafeLoader that counts, per node, how many values it stands for once aliases are expanded.

    PyYAML composes an alias as a second reference to the anchored node (linear in the input);
    the size of each finished node is recorded, so an alias costs a dict lookup and the budget
    is refused at the alias that crosses it, before anything walks the result."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._alias_values = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                size = self._sizes.get(id(target))
                if size is None:  # the anchor is still open: the alias is inside itself
                    raise YamlBudgetError(
                        f"too many YAML aliases: *{event.anchor} refers to a value that "
                        "contains it (a recursive alias)",
                        line,
                    )
                self._alias_values += size
                if self._alias_values > MAX_ALIAS_VALUES:
                    raise YamlBudgetError(
                        f"too many YAML aliases: expanding them (*{event.anchor} here) makes "
                        f"more than {MAX_ALIAS_VALUES:,} values; nested anchors multiply, so "
                        "write the values out or alias fewer levels",
                        line,
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlBudgetError(f"YAML nested more than {MAX_DEPTH} levels deep", line)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """SafeConstructor's, with a value it cannot build (`!!int abc`, the date 2020-13-45,
        `!!bool maybe`) reported at its node like any YAML error, not as a ValueError."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise whatever they hit
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]} ({type(exc).__name__}: {exc})",
                node.start_mark,
            ) from None


def compose(text: str, path: Path | str | None) -> yaml.Node | None:
    """The node tree of one YAML document, within the alias and depth budgets.

    Budget overruns become a WorkbenchError naming `path:line`; syntax errors stay
    yaml.MarkedYAMLError so each caller can word them for its file kind."""
    try:
        loader = BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, path) from None
    try:
        return loader.get_single_node()
    except YamlBudgetError as exc:
        raise WorkbenchError(exc.message, path=path, line=exc.line) from None
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, path) from None
    finally:
        loader.dispose()


def reader_error(exc: yaml.reader.ReaderError, text: str, path: Path | str | None) -> WorkbenchError:
    """A character YAML does not allow (a control character, say), with the line it is on:
    PyYAML's reader gives only a character position."""
    line = text.count("\n", 0, exc.position) + 1
    char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return WorkbenchError(
        f"invalid YAML: character {char} is not allowed in a YAML file "
        "(delete it, or write it as an escape such as \\x1f inside double "
        "quotes)",
        path=path,
        line=line,
    )


def load_located(path: Path, text: str | None = None) -> Located:
    """Parse a YAML file; syntax errors, duplicate keys and alias bombs become WorkbenchErrors
    with a line."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkbenchError("file not found", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkbenchError(f"cannot read file: {exc}", path=path) from None
    try:
        loader = BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, path) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except YamlBudgetError as exc:
        raise WorkbenchError(exc.message, path=path, line=exc.line) from None
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, path) from None
    except yaml.MarkedYAMLError as exc:
        line, problem = yaml_error_where(exc, text)
        raise WorkbenchError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise WorkbenchError(f"invalid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, path)
    return Located(data=data, path=path, lines=lines)


def _walk(node: yaml.Node, keypath: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise WorkbenchError(
                    f"duplicate key {key!r} (first defined on line {seen[key]})",
                    path=path,
                    line=line,
                    field=".".join(map(str, keypath + (key,))),
                )
            seen[key] = line
            lines[keypath + (key,)] = line
            _walk(value_node, keypath + (key,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[keypath + (index,)] = item.start_mark.line + 1
            _walk(item, keypath + (index,), lines, path)


def dotted(keypath: KeyPath) -> str:
    """`("timeouts", "total_s")` -> `timeouts.total_s`; list items as `cases[3]`."""
    out = ""
    for part in keypath:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)


class Builder:
    """Turns located data into dataclass instances, checking types from annotations.

    Supported annotations: dataclasses, str, int, float, bool, Any, Literal[...], `X | None`,
    list[X], dict[str, X]. Field metadata may carry `gt` / `ge` / `le` (numeric bounds).
    """

    def __init__(self, located: Located) -> None:
        self.located = located

    def fail(self, keypath: KeyPath, message: str) -> typing.NoReturn:
        raise WorkbenchError(message, path=self.located.path, line=self.located.line(keypath), field=dotted(keypath))

    def build(self, cls: type[_T], value: Any, keypath: KeyPath = ()) -> _T:
        """`value` (parsed YAML) checked against the dataclass `cls` and built as one."""
        built: _T = self._convert(cls, value, keypath, {})
        return built

    def _dataclass(self, cls: type, value: Any, keypath: KeyPath) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            where = dotted(keypath) if keypath else "the file"
            self.fail(keypath, f"{where} must be a mapping of settings, got {_describe(value)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        for key in value:
            if key not in fields:
                hint = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                known = ", ".join(sorted(fields))
                self.fail(
                    keypath + (key,),
                    f"unknown key '{dotted(keypath + (key,))}'{suggestion}; known keys: {known}",
                )
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = self._convert(hints[name], value[name], keypath + (name,), f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(keypath, f"missing required key '{dotted(keypath + (name,))}'")
        return cls(**kwargs)

    def _convert(self, tp: Any, value: Any, keypath: KeyPath, meta: Any) -> Any:
        name = dotted(keypath)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            return value
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tp, value, keypath)
        if origin in (Union, types.UnionType):
            non_none = [a for a in args if a is not type(None)]
            if value is None and len(non_none) < len(args):
                return None
            if len(non_none) == 1:
                return self._convert(non_none[0], value, keypath, meta)
            for option in non_none:
                try:
                    return self._convert(option, value, keypath, meta)
                except WorkbenchError:
                    continue
            self.fail(keypath, f"{name} has an unsupported value {_describe(value)}")
        if origin is Literal:
            if value not in args:
                choices = ", ".join(repr(a) for a in args)
                self.fail(keypath, f"{name} must be one of {choices}, got {_describe(value)}")
            return value
        if origin is list:
            if not isinstance(value, list):
                self.fail(keypath, f"{name} must be a list, got {_describe(value)}")
            return [self._convert(args[0], v, keypath + (i,), meta) for i, v in enumerate(value)]
        if origin is dict:
            if value is None:
                return {}
            if not isinstance(value, dict):
                self.fail(keypath, f"{name} must be a mapping, got {_describe(value)}")
            return {str(k): self._convert(args[1], v, keypath + (k,), meta) for k, v in value.items()}
        if tp is bool:
            if not isinstance(value, bool):
                self.fail(keypath, f"{name} must be true or false, got {_describe(value)}")
            return value
        if tp in (int, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if tp is int and ok and float(value) != int(value):
                ok = False
            kind = "a whole number" if tp is int else "a number"
            if "gt" in meta and meta["gt"] == 0:
                kind = "a positive " + kind.split(" ", 1)[1]
            if not ok:
                self.fail(keypath, f"{name} must be {kind}, got {_describe(value)}")
            if not math.isfinite(value):  # .nan compares false with every bound, so it passed them
                self.fail(keypath, f"{name} must be a finite number, got {value}")
            if "gt" in meta and not value > meta["gt"]:
                self.fail(keypath, f"{name} must be {kind}, got {_describe(value)}")
            if "ge" in meta and not value >= meta["ge"]:
                self.fail(keypath, f"{name} must be at least {meta['ge']}, got {_describe(value)}")
            if "le" in meta and not value <= meta["le"]:
                self.fail(keypath, f"{name} must be at most {meta['le']}, got {_describe(value)}")
            return tp(value)
        if tp is str:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.fail(keypath, f"{name} must be text, got {_describe(value)}")
            return str(value)
        raise TypeError(f"unsupported annotation {tp!r} for {name}")  # a bug, not a user error


def yaml_error_where(exc: yaml.MarkedYAMLError, text: str | None = None) -> tuple[int | None, str]:
    """(line, message) of a YAML syntax error, pointing where the fix is.

    PyYAML reports where it *noticed* the problem: for an unclosed quote that is the end of the
    file, for a missing `}` the next line. For an unfinished quote or flow collection ({ }, [ ])
    the line where it began (the context mark) is the one to fix, and the line where the problem
    surfaced is added to the message. For block structure (indentation) the problem line is.

    With the file's `text`, the common mistakes get a plain sentence first (yaml_hint), and
    PyYAML's own words follow in parentheses."""
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    problem = " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
    unfinished = any(w in (exc.context or "") for w in ("quoted scalar", "flow"))  # a quote, { or [
    hint = yaml_hint(exc, text) if text is not None else None
    if hint:
        line, where = hint
        return line, f"{where} (YAML parser: {problem})"
    if unfinished and context_mark is not None and problem_mark is not None and context_mark.line < problem_mark.line:
        return context_mark.line + 1, f"{problem} (noticed on line {problem_mark.line + 1})"
    mark = problem_mark or context_mark
    return (mark.line + 1 if mark else None), problem


_NO_SPACE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*):(?![\s/:]|$)(\S.*)$")  # `name:llama` (not `http://`)


def _space_fixes(lines: list[str], n: int, found: re.Match[str], p: int) -> bool:
    """Whether adding the space after line n's colon gets the parser past line p. `- ollama:qwen2.5`
    is a valid item (a plain scalar with a colon): naming it would send the user after the wrong
    line and turn a model spec into a mapping. Parse events only, so no alias is expanded."""
    colon = found.start(2)
    fixed = [*lines[:n], lines[n][:colon] + " " + lines[n][colon:], *lines[n + 1 :]]
    try:
        for _ in yaml.parse("\n".join(fixed), Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as exc:
        return exc.problem_mark is not None and exc.problem_mark.line > p
    except yaml.YAMLError:
        return False
    return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _code_lines(lines: list[str], before: int) -> list[int]:
    """0-based numbers of the lines before `before` that hold something (not blank, not a
    comment), nearest first."""
    return [
        n
        for n in range(min(before, len(lines)) - 1, -1, -1)
        if lines[n].strip() and not lines[n].lstrip().startswith("#")
    ]


def yaml_hint(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str] | None:
    """(line, a plain sentence) for the YAML mistakes people make by hand, or None: a tab
    character, an unclosed quote or bracket, no space after a key's colon, a line indented more
    or less than the keys around it. PyYAML's wording (`expected <block end>, but found
    '<block mapping start>'`) names its parser's states, not the mistake."""
    lines = text.splitlines()
    context, problem = exc.context or "", exc.problem or ""
    pm, cm = exc.problem_mark, exc.context_mark
    if pm is None:
        return None
    p = pm.line  # 0-based
    if "'\\t'" in problem or "\t" in problem:
        return p + 1, (f"line {p + 1} has a tab character; YAML indents with spaces only (replace the tab with spaces)")
    if "quoted scalar" in context and cm is not None:
        quote = lines[cm.line][cm.column] if cm.line < len(lines) and cm.column < len(lines[cm.line]) else '"'
        return cm.line + 1, (
            f"the {quote} that opens on line {cm.line + 1} is never closed: add the closing {quote} "
            f"(noticed on line {p + 1})"
        )
    if "flow" in context and cm is not None:
        opener = "[" if "sequence" in context else "{"
        closer = "]" if opener == "[" else "}"
        return cm.line + 1, (
            f"the {opener} on line {cm.line + 1} is never closed, or an item in it lacks a comma: "
            f"close it with {closer} (noticed on line {p + 1})"
        )
    block = "mapping values are not allowed" in problem or "could not find expected ':'" in problem
    block = block or "<block end>" in problem
    if not block or not lines:
        return None
    p = min(p, len(lines) - 1)  # a problem noticed at the end of the file
    near = [p, *([cm.line] if cm is not None and cm.line < len(lines) else []), *_code_lines(lines, p)[:2]]
    for n in near:  # the key without a space is often on the line before the one noticed
        found = _NO_SPACE.match(lines[n])
        if found and not lines[n].rstrip().endswith(":") and _space_fixes(lines, n, found, p):
            key, rest = found.groups()
            return n + 1, f"line {n + 1} has no space after the colon of `{key}:` (write `{key}: {rest.strip()}`)"
    above = _code_lines(lines, p)
    if not above:
        return None
    q = above[0]
    here, there = _indent(lines[p]), _indent(lines[q])
    if here > there:
        return p + 1, (
            f"line {p + 1} is indented more than the key above it expects ({plural(here, 'space')}; line {q + 1} has "
            f"{there} and a value of its own): line it up with line {q + 1}"
        )
    if here < there and not any(_indent(lines[n]) == here for n in above):
        return p + 1, (
            f"line {p + 1} is indented {plural(here, 'space')}, which lines up with no key above it: keys of one "
            "mapping start in the same column"
        )
    return None
