"""Export a `hawk train` checkpoint as a compact adapter: config.json + float16 adapter.safetensors.

    python recipes/export_adapter.py RUN/model hawk_core/assets/embedded

The loader (`HawkModel.load_trainable_state`) casts every tensor to the parameter's dtype, so a
float16 file loads into the float32 adapter unchanged in shape and names; the script prints the
relative rounding error (L2 over all weights). Written atomically.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path, help="a checkpoint folder (config.json + adapter.safetensors), e.g. RUN/model")
    p.add_argument("dst", type=Path, help="the folder to write (created; its two files are replaced)")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch
    from safetensors.torch import load_file, save_file

    from hawk_core import __version__
    from hawk_core.io import atomic_path

    for name in ("config.json", "adapter.safetensors"):
        if not (a.src / name).is_file():
            sys.exit(f"error: {a.src} is not a checkpoint folder (no {name})")
    state = load_file(str(a.src / "adapter.safetensors"))
    dtype = getattr(torch, a.dtype)
    out = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    # relative L2 error over all weights (per tensor it is meaningless for the attention key
    # biases, ~1e-8: softmax ignores them, so they never train away from zero)
    err = sum(float((out[k].float() - v.float()).pow(2).sum()) for k, v in state.items()) ** 0.5
    norm = sum(float(v.float().pow(2).sum()) for v in state.values()) ** 0.5
    a.dst.mkdir(parents=True, exist_ok=True)
    with atomic_path(a.dst / "adapter.safetensors") as tmp:
        save_file(out, str(tmp), metadata={"format": "pt", "hawk_version": __version__, "exported_from": str(a.src), "dtype": a.dtype})
    with atomic_path(a.dst / "config.json") as tmp:
        shutil.copyfile(a.src / "config.json", tmp)
    n = sum(v.numel() for v in out.values())
    size = (a.dst / "adapter.safetensors").stat().st_size
    print(f"{a.dst}: {len(out)} tensors, {n / 1e6:.2f} M parameters, {a.dtype}, {size / 2**20:.1f} MiB; "
          f"relative rounding error (L2, all weights) {err / max(norm, 1e-12):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
