"""Guarded LoRA fine-tuning: evidence gate, dataset, training subprocess, adapter eval, export.

Nothing heavy is imported here: torch, transformers and peft load only inside the functions
(and the training subprocess) that need them.
"""
