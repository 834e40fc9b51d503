"""The eval sets tests write into projects, in one place: "capitals" (four questions, japan's
scripted answer fails) in the shapes the CLI, runner, TUI and runs tests rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_CHECKS = {
    "france": ("France", "icontains, value: paris"),
    "italy": ("Italy", "icontains, value: rome"),
    "japan": ("Japan", "icontains, value: tokyo"),
    "peru": ("Peru", "contains, value: Lima"),
}


def capitals(ids: tuple[str, ...] = tuple(_CHECKS), *, defaults: str = "", tags: dict[str, str] | None = None) -> str:
    """The capitals eval set's YAML for the cases `ids`, with default tags and per-case tags
    written as YAML lists (`defaults="[geo]"`, `tags={"italy": "[geo, eu]"}`)."""
    lines = ["name: capitals"] + (["defaults:", f"  tags: {defaults}"] if defaults else []) + ["cases:"]
    for case in ids:
        country, check = _CHECKS[case]
        lines += [f"  - id: {case}", f"    inputs: {{question: Capital of {country}}}"]
        lines += [f"    tags: {(tags or {})[case]}"] if case in (tags or {}) else []
        lines += ["    assert:", f"      - {{type: {check}}}"]
    return "\n".join(lines) + "\n"


# Default tag geo, italy also eu; japan fails on "Kyoto" answers (by tag: eu 1/1, geo 3/4).
CAPITALS = capitals(defaults="[geo]", tags={"italy": "[geo, eu]"})
# No default tags, france and italy tagged eu (`--tag eu`: 2 cases).
CAPITALS_EU = capitals(tags={"france": "[eu]", "italy": "[eu]"})
# Only france and italy, untagged: a run that passes whole with "Paris."/"Rome." answers.
CAPITALS_PAIR = capitals(("france", "italy"))

# Answers a user would see from a model that knows three of the four capitals.
GOOD = {
    "France": "Paris is the capital.",
    "Italy": "Rome is the capital of Italy.",
    "Japan": "Kyoto was the capital.",
    "Peru": "Lima",
}


def scripted(answers: dict[str, str]) -> Callable[[dict[str, Any]], list[str]]:
    """The stand-in's reply: the answer for the country in the question, word by word."""

    def reply(body: dict[str, Any]) -> list[str]:
        text = body["messages"][-1]["content"]
        for country, answer in answers.items():
            if country in text:
                words = answer.split(" ")
                return [w + " " for w in words[:-1]] + [words[-1]]
        return ["I don't know."]

    return reply
