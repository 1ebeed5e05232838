"""What changes with the step: the learning-rate schedule and the order of the data.

Data order: items (see :mod:`hawk_core.data.items`) are shuffled once per epoch by an RNG
seeded from (seed, epoch); the run walks that permutation in global micro-batches of
``batch_size * world_size`` items, rank r taking the r-th slice (DistributedSampler's
sharding without its padding: the epoch's remainder is dropped). The state is just
(epoch, position), saved in each checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..data.items import item_rng
from ..errors import CheckpointError, DataError


@dataclass
class DataOrder:
    """Seeded epoch permutations walked in global micro-batches; state = (epoch, pos)."""

    n: int
    global_batch: int
    seed: int
    epoch: int = 0
    pos: int = 0
    _perm: list[int] | None = field(default=None, repr=False)
    _perm_epoch: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self.n < self.global_batch:
            raise DataError(
                f"the training split has {self.n} items, fewer than one global batch of {self.global_batch} "
                "(batch size x processes); lower --batch-size or add data"
            )

    def perm(self) -> list[int]:
        if self._perm_epoch != self.epoch:
            p = list(range(self.n))
            item_rng(self.seed, "order", self.epoch).shuffle(p)
            self._perm, self._perm_epoch = p, self.epoch
        return self._perm  # type: ignore[return-value]

    def next(self) -> list[tuple[int, int, int]]:
        """The next global micro-batch: (item index, epoch, position in epoch) each."""
        if self.pos + self.global_batch > self.n:
            self.epoch += 1
            self.pos = 0
        p = self.perm()
        out = [(p[self.pos + k], self.epoch, self.pos + k) for k in range(self.global_batch)]
        self.pos += self.global_batch
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "n": self.n, "global_batch": self.global_batch, "seed": self.seed}

    def load_state_dict(self, s: dict) -> None:
        if s["n"] != self.n or s["seed"] != self.seed:
            raise CheckpointError(
                f"the checkpoint's data order is for {s['n']} items (seed {s['seed']}), this data has {self.n} (seed {self.seed}); "
                "resume with the same data, or start a new run"
            )
        if s["global_batch"] != self.global_batch:
            raise CheckpointError(
                f"the checkpoint was written with a global batch of {s['global_batch']}, this run has {self.global_batch}; "
                "resume with the same --batch-size and number of processes"
            )
        self.epoch, self.pos = int(s["epoch"]), int(s["pos"])


def lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warm-up from lr/warmup to lr, then cosine down to lr * min_ratio at ``total``."""

    def f(step: int) -> float:  # step = optimiser steps already taken
        if warmup and step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def build_scheduler(opt: Any, warmup: int, total: int, min_ratio: float) -> Any:
    """A LambdaLR of :func:`lr_lambda` for the *current* config. On resume, build it anew and
    load the saved state into it (the saved state holds no function), then :func:`sync_lr`."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(warmup, total, min_ratio))


def sync_lr(opt: Any, sched: Any, step: int) -> None:
    """Set each parameter group's lr to the schedule's value at ``step`` (after a resume whose
    --steps differ from the saved run's, the saved lr belongs to the old schedule)."""
    for group, base in zip(opt.param_groups, sched.base_lrs):
        group["lr"] = base * sched.lr_lambdas[0](step)
