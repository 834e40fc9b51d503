"""Data-parallel LoRA training over several processes (`finetune.processes`, `--processes N`).

The parent (train.py) starts every rank itself, torchrun-style (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in the environment), so it still owns, signals and
outlives each one; in the worker, accelerate's `PartialState` joins the process group (gloo on
CPU, NCCL on CUDA with one GPU per rank). Every rank reads the whole dataset and computes the
same global batch for a step (train_worker.batch_for_step); each trains on its share, and one
all-reduce per step sums the gradients, the loss and a stop flag, so every rank applies the same
update, or every rank stops at the same step (a cancel seen by one rank stops them all).
"""

from __future__ import annotations

import os
import socket
from typing import Any

DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    """A loopback port nobody listens on now (rank 0's TCPStore binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_envs(base: dict[str, str], world: int) -> list[dict[str, str]]:
    """The environment of each rank: torchrun's variables on one machine. One process gets none
    (a CLI itself started by torchrun must not make its worker join that job)."""
    clean = {k: v for k, v in base.items() if k not in DIST_VARS}
    if world <= 1:
        return [clean]
    port = str(free_port())
    return [
        {
            **clean,
            "RANK": str(r),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(r),
            "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
        }
        for r in range(world)
    ]


def row_answer_tokens(row: tuple[list[int], int]) -> int:
    """Tokens of one row the loss averages over (= train_worker.answer_tokens of it alone):
    labels from prompt_len on, shifted by one as the model computes the loss."""
    ids, prompt_len = row
    return max(0, len(ids) - max(prompt_len, 1))


class RankGroup:
    """This process's place in the group: rank, world size, device, and the per-step sync."""

    def __init__(self, wanted_device: str) -> None:
        import torch
        from accelerate import PartialState

        cuda = wanted_device in ("auto", "cuda") and torch.cuda.is_available()
        # cpu=True selects accelerate's MULTI_CPU (gloo); without it, LOCAL_RANK and no GPU
        # would mean "not distributed" (accelerate state.py PartialState._prepare_backend).
        self.state = PartialState(cpu=not cuda, **({} if cuda else {"backend": "gloo"}))
        self.rank = int(self.state.process_index)
        self.world = int(self.state.num_processes)
        # accelerate names the CPU "cpu:0", which torch.load cannot map a checkpoint back to
        self.device = self.state.device if cuda else torch.device("cpu")
        if cuda and self.world > torch.cuda.device_count():
            raise ValueError(
                f"finetune.processes is {self.world} but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s): one process per GPU"
            )

    @property
    def lead(self) -> bool:
        return self.rank == 0

    def share(self, idx: list[int]) -> list[int]:
        """This rank's rows of a global batch (every world-th row, so shares differ by at most one)."""
        return idx[self.rank :: self.world]

    def broadcast(self, params: list[Any]) -> None:
        """Rank 0's trainable weights to every rank (seeded alike, but this makes sure)."""
        import torch
        import torch.distributed as dist

        flat = torch.cat([p.detach().reshape(-1).float() for p in params])
        dist.broadcast(flat, src=0)
        self._unflatten(flat, params, grads=False)

    def sync(self, params: list[Any], loss: float, stop: bool) -> tuple[float, bool]:
        """Sum every rank's gradients (each already weighted by its share of the batch's answer
        tokens, so the sum is the one-process gradient), loss part and stop flag in one
        all-reduce; returns (the batch's loss, whether any rank stops)."""
        import torch
        import torch.distributed as dist

        parts = [
            (p.grad if p.grad is not None and not stop else torch.zeros_like(p)).reshape(-1).float() for p in params
        ]
        parts.append(torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float32, device=parts[0].device))
        flat = torch.cat(parts)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        if float(flat[-1]) > 0:
            return float(flat[-2]), True
        self._unflatten(flat, params, grads=True)
        return float(flat[-2]), False

    @staticmethod
    def _unflatten(flat: Any, params: list[Any], *, grads: bool) -> None:
        offset = 0
        for p in params:
            n = p.numel()
            chunk = flat[offset : offset + n].view_as(p).to(p.dtype)
            if grads:
                p.grad = chunk.clone()
            else:
                p.data.copy_(chunk)
            offset += n

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - a peer already gone: nothing left to tidy
                pass


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE") or 1) > 1
