"""What the commands that run over many videos (predict, flow) share to run as shards:
the --shard option, the torchrun environment, and the device each rank takes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:  # pragma: no cover
    from hawk_core.inference.shards import Shard
    from hawk_core.training.distributed import Dist

ShardOpt = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        help="Do only shard K of N (K/N, K from 0), e.g. one task of a SLURM array. "
        "Under torchrun: RANK/WORLD_SIZE.",
        show_default=False,
    ),
]


def resolve_shard(text: str | None) -> tuple[Shard | None, bool]:
    """(the shard to do, whether it came from torchrun's environment)."""
    from hawk_core.inference.shards import Shard

    if text is not None:
        return Shard.parse(text), False
    env = Shard.from_env()
    return env, env is not None


def join_torchrun(device: str) -> tuple[Dist, str]:
    """Join torchrun's process group (gloo on CPU, NCCL on GPUs) for the final barrier;
    with ``--device auto`` / ``cuda`` each rank takes the GPU of its LOCAL_RANK."""
    import torch

    from hawk_core.training.distributed import init_distributed

    dist = init_distributed(device)
    if device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{dist.local_rank}"
    return dist, device
