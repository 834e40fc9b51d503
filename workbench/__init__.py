"""llm-workbench: integrate, then evaluate, then fine-tune."""

__version__ = "0.1.0"
