"""A small JSON Schema checker for the subset eval sets use.

Details: docs/NOTES.md, section core/evals/jsonschema_lite.py.
"""

from __future__ import annotations

import difflib
from typing import Any

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
KEYWORDS = (
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
)
ANNOTATIONS = ("$schema", "$id", "title", "description", "default", "examples", "format", "$comment")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_schema(schema: Any, where: str = "") -> list[str]:
    """Problems with the schema itself, each prefixed by its location (`properties.answer.type`)."""
    at = f"{where}: " if where else ""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [f"{at}a schema must be a mapping, got {type(schema).__name__}"]
    problems: list[str] = []
    for key in schema:
        if key in KEYWORDS or key in ANNOTATIONS:
            continue
        hint = difflib.get_close_matches(str(key), KEYWORDS, n=1)
        problems.append(
            f"{at}unsupported keyword '{key}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else f" (supported: {', '.join(KEYWORDS)})")
        )

    def sub(path: str) -> str:
        return f"{where}.{path}" if where else path

    if "type" in schema:
        t = schema["type"]
        names = t if isinstance(t, list) else [t]
        for name in names:
            if name not in TYPES:
                hint = difflib.get_close_matches(str(name), TYPES, n=1)
                problems.append(
                    f"{at}unknown type '{name}'"
                    + (f" (did you mean '{hint[0]}'?)" if hint else f" (one of: {', '.join(TYPES)})")
                )
    if "properties" in schema:
        props = schema["properties"]
        if not isinstance(props, dict):
            problems.append(f"{at}'properties' must be a mapping of name -> schema")
        else:
            for name, s in props.items():
                problems += check_schema(s, sub(f"properties.{name}"))
    if "required" in schema:
        req = schema["required"]
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            problems.append(f"{at}'required' must be a list of property names")
    if "items" in schema:
        problems += check_schema(schema["items"], sub("items"))
    if "additionalProperties" in schema:
        problems += check_schema(schema["additionalProperties"], sub("additionalProperties"))
    if "not" in schema:
        problems += check_schema(schema["not"], sub("not"))
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            val = schema[key]
            if not isinstance(val, list) or not val:
                problems.append(f"{at}'{key}' must be a non-empty list of schemas")
            else:
                for i, s in enumerate(val):
                    problems += check_schema(s, sub(f"{key}[{i}]"))
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        problems.append(f"{at}'enum' must be a non-empty list")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema and not _is_number(schema[key]):
            problems.append(f"{at}'{key}' must be a number")
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if key in schema and not _nonneg_int(schema[key]):
            problems.append(f"{at}'{key}' must be a non-negative integer")
    if "pattern" in schema:
        from workbench.core.evals.matching import pattern_problem

        problem = pattern_problem(schema["pattern"])
        if problem:
            problems.append(f"{at}bad 'pattern': {problem}")
    return problems


def _type_ok(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return _is_number(value)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    return False


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _type_ok(value, name):
            return name
    return type(value).__name__


def validate(instance: Any, schema: Any, where: str = "$", until: float | None = None) -> list[str]:
    """Errors of `instance` against a schema that passed `check_schema` (empty list: valid).
    Every `pattern` in one validation shares one time limit (`until`, matching.deadline())."""
    if until is None and not isinstance(schema, bool):
        from workbench.core.evals.matching import deadline

        until = deadline()
    if schema is True:
        return []
    if schema is False:
        return [f"{where}: no value is allowed here"]
    errors: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(instance, n) for n in names):
            return [f"{where}: expected {' or '.join(names)}, got {_type_name(instance)}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} is not one of {schema['enum']!r}")
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{where}: expected {schema['const']!r}, got {instance!r}")
    if _is_number(instance):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{where}: {instance} is below the minimum {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{where}: {instance} is above the maximum {schema['maximum']}")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {instance} must be > {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and instance >= schema["exclusiveMaximum"]:
            errors.append(f"{where}: {instance} must be < {schema['exclusiveMaximum']}")
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            errors.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']} characters")
        if "pattern" in schema:
            from workbench.core.evals.matching import PatternTimeout, search

            try:
                if not search(schema["pattern"], instance, until=until, what="string"):
                    errors.append(f"{where}: does not match pattern {schema['pattern']!r}")
            except PatternTimeout as exc:
                errors.append(f"{where}: pattern {schema['pattern']!r}: {exc}")
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += validate(item, schema["items"], f"{where}[{i}]", until)
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in instance:
                errors.append(f"{where}: missing required property '{name}'")
        for name, value in instance.items():
            if name in props:
                errors += validate(value, props[name], f"{where}.{name}", until)
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append(f"{where}: unexpected property '{name}'")
                elif isinstance(extra, dict):
                    errors += validate(value, extra, f"{where}.{name}", until)
    if "allOf" in schema:
        for s in schema["allOf"]:
            errors += validate(instance, s, where, until)
    if "anyOf" in schema and not any(not validate(instance, s, where, until) for s in schema["anyOf"]):
        errors.append(f"{where}: matches none of the anyOf schemas")
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not validate(instance, s, where, until))
        if n != 1:
            errors.append(f"{where}: matches {n} of the oneOf schemas (exactly 1 required)")
    if "not" in schema and not validate(instance, schema["not"], where, until):
        errors.append(f"{where}: must not match the 'not' schema")
    return errors
