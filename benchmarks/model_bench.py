"""Speed of the HAWK model's pieces: build, frozen encoding, forward, greedy generation.

    python benchmarks/model_bench.py                      # tiny and embedded, 32 frames, 60 tokens
    python benchmarks/model_bench.py --presets embedded --frames 32 --tokens 60 --threads 1

Prints one row per preset. Generation is greedy with ``min_new_tokens`` = ``max_new_tokens``
so every run produces exactly --tokens tokens. Features are encoded from random frames
(the numbers do not depend on the content). Peak RSS is the process's, so it accumulates
across presets.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(preset: str, frames: int, tokens: int, repeats: int) -> dict:
    import torch

    from hawk_core.model.config import HawkConfig
    from hawk_core.model.hawk import HawkModel
    from hawk_core.model.text import TextSample

    cfg = HawkConfig.from_preset(preset, overrides={"data": {"num_frames": frames}})
    t = time.perf_counter()
    model = HawkModel.build(cfg).eval()
    build = time.perf_counter() - t
    s = cfg.data.size
    raw = torch.randint(0, 256, (frames, s, s, 3), dtype=torch.uint8)
    pixels = model.preprocess(raw)[None]
    t = time.perf_counter()
    fv, fm = model.encode_visual(pixels, pixels)
    encode = time.perf_counter() - t
    batch = model.collate([TextSample("Can you describe the anomaly in the video?", "A man hits a parked car with a bat.", "man hits car")])
    with torch.no_grad():
        model(fv, fm, batch)  # warm-up
        t = time.perf_counter()
        model(fv, fm, batch)
        forward = time.perf_counter() - t
    q = ["Can you describe the anomaly in the video?"]
    model.generate(fv, fm, q, max_new_tokens=4, min_new_tokens=4)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.generate(fv, fm, q, max_new_tokens=tokens, min_new_tokens=tokens)
        times.append(time.perf_counter() - t)
    gen = min(times)
    return {"preset": preset, "build_s": build, "encode_s": encode, "forward_s": forward, "generate_s": gen,
            "tokens_per_s": tokens / gen, "peak_rss_mb": peak_rss_mb(), "feats": tuple(fv.shape)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "embedded"])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    import transformers  # noqa: F401 - imported once here so "build" times the model alone
    from transformers import Blip2VisionModel, LlamaForCausalLM  # noqa: F401

    print(f"importing transformers: {time.perf_counter() - t:.2f}s")
    print(f"{a.frames} frames, {a.tokens}-token greedy generate, {a.threads} torch thread(s), CPU")
    print(f"{'preset':10} {'build':>7} {'encode(2 br.)':>14} {'forward':>8} {'generate':>9} {'tok/s':>6} {'peak RSS':>9}  features")
    for p in a.presets:
        r = bench(p, a.frames, a.tokens, a.repeats)
        print(f"{r['preset']:10} {r['build_s']:6.2f}s {r['encode_s']:13.2f}s {r['forward_s']:7.2f}s {r['generate_s']:8.2f}s "
              f"{r['tokens_per_s']:6.1f} {r['peak_rss_mb']:7.0f}MB  {r['feats']}")


if __name__ == "__main__":
    main()
