"""Where and how models run: the one device policy, the one precision vocabulary, CPU threads.

Used by training (:mod:`hawk_core.training`) and inference (:mod:`hawk_core.inference`) alike.

* Devices: ``auto`` (CUDA, else Apple MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
  Asking for a device that is absent is a :class:`~hawk_core.errors.ConfigError`.
* Precision: ``auto``, ``fp32``, ``bf16``, ``fp16``; ``float32``, ``bfloat16`` and ``float16``
  are accepted as aliases. ``auto`` is bfloat16 on a CUDA GPU that supports it (float16
  otherwise) and float32 elsewhere. For *autocast* (training, and the frozen encoders at
  inference) ``auto`` is also bfloat16 on a CPU with native bfloat16 arithmetic (AVX-512 BF16
  or AMX, detected at run time by :func:`cpu_supports_bf16`; ``HAWK_CPU_BF16=0`` or ``1``
  overrides the detection), where it measured 2-3x faster than float32; on other CPUs bf16
  is emulated and slower, so ``auto`` stays float32 there. Trainable weights stay float32.
* Inference weights (:func:`inference_dtypes`): ``auto`` on such a CPU also holds the frozen
  LLM's weights in bfloat16 (64 greedy tokens in 2.24 s instead of 3.03 s in
  benchmarks/infer_bench.py's decode study; 56% of the tokens a common prefix with float32's
  over its four clips); the frozen encoders keep float32 weights under bf16 autocast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_device(name: str | None = "auto", *, local_rank: int | None = None) -> torch.device:
    """``name`` -> a torch device. ``local_rank`` (a torchrun process) picks ``cuda:RANK`` for
    ``auto`` and a bare ``cuda``."""
    import torch

    name = (name or "auto").strip().lower()
    kind = name.split(":")[0]
    if kind not in DEVICES or (":" in name and kind != "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)} (cuda:N for a given GPU)")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda" if local_rank is None else f"cuda:{local_rank}")
        return torch.device("mps" if _mps_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is available here (torch sees none); use --device cpu")
    if kind == "mps" and not _mps_available():
        raise ConfigError("--device mps: Apple MPS is not available here; use --device cpu")
    if name == "cuda" and local_rank is not None:
        return torch.device(f"cuda:{local_rank}")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from None


def check_precision(name: str | None, what: str = "precision") -> str:
    """The canonical precision name (``auto``/``fp32``/``bf16``/``fp16``) of ``name`` or an alias."""
    key = (name or "auto").strip().lower()
    key = PRECISION_ALIASES.get(key, key)
    if key not in PRECISIONS:
        aliases = ", ".join(PRECISION_ALIASES)
        raise ConfigError(f"unknown {what} {name!r}; choose one of {', '.join(PRECISIONS)} (or {aliases})")
    return key


def resolve_precision(name: str | None, device: torch.device | str, *, what: str = "precision") -> torch.dtype:
    """The torch dtype of a precision name on ``device`` (``auto`` resolved as the module says)."""
    import torch

    key = check_precision(name, what)
    on_cuda = str(device).startswith("cuda")
    if key == "auto":
        if on_cuda:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[key]


def cpu_supports_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX-512 BF16 or AMX tiles), as oneDNN
    reports it; ``HAWK_CPU_BF16=0``/``1`` overrides."""
    env = os.environ.get("HAWK_CPU_BF16", "").strip().lower()
    if env in ("0", "1", "true", "false", "yes", "no"):
        return env in ("1", "true", "yes")
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def inference_dtypes(name: str | None, device: torch.device | str) -> tuple[torch.dtype, torch.dtype]:
    """(frozen-encoder weights, frozen-LLM weights) dtypes for inference at precision ``name``.

    An explicit precision applies to both. ``auto`` is :func:`resolve_precision`'s for both,
    except on a CPU with native bfloat16 (:func:`cpu_supports_bf16`), where the LLM is held in
    bfloat16 and the encoders stay float32 (they run under bf16 autocast, which keeps their
    normalisation layers in float32)."""
    import torch

    dtype = resolve_precision(name, device, what="dtype")
    if check_precision(name, "dtype") == "auto" and str(device).startswith("cpu") and cpu_supports_bf16():
        return torch.float32, torch.bfloat16
    return dtype, dtype


def autocast_dtype(name: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None: plain fp32). ``auto``: as :func:`resolve_precision` on a GPU;
    on a CPU bfloat16 where :func:`cpu_supports_bf16`, else fp32. fp16 autocast needs CUDA."""
    import torch

    device = torch.device(device) if isinstance(device, str) else device
    if check_precision(name) == "auto" and device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16() else None
    dtype = resolve_precision(name, device)
    if dtype is torch.float16 and device.type != "cuda":
        raise ConfigError("fp16 autocast needs a CUDA device; use --precision bf16 or fp32 on CPU")
    return None if dtype is torch.float32 else dtype


def precision_name(dtype: torch.dtype | None) -> str:
    """``torch.bfloat16`` -> ``bfloat16`` (None: ``float32``), for messages and --json."""
    return "float32" if dtype is None else str(dtype).replace("torch.", "")


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads; by default one on small machines (5-10x faster for small
    models on 2 cores), half the cores (at most 8) on larger ones."""
    import torch

    if threads is None:
        cores = os.cpu_count() or 1
        threads = 1 if cores <= 4 else min(8, cores // 2)
    torch.set_num_threads(max(1, threads))
