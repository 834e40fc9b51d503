"""Shared pytest set-up. Domain fixtures live in their own modules, listed here."""

pytest_plugins: list[str] = [
    "fixtures_ollama",
    "fixtures_project",
    "fixtures_tui",
    "fixtures_retrieval",
    "fixtures_finetune",
]
