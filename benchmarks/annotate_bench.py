"""Figures for `hawk annotate`: the offline perception captioner on the real clips, and the
pipeline's throughput against a local OpenAI-compatible server with a fixed latency per call
(sequential vs concurrent).

    python benchmarks/annotate_bench.py [--latency 0.2] [--videos 8]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def perception(shared: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from hawk_core.annotate.captioners import PerceptionCaptioner
    from hawk_core.annotate.clips import ClipConfig, analyse_video

    cap = PerceptionCaptioner()
    cap.tags(__import__("numpy").zeros((1, 224, 224, 3), dtype="uint8"))  # load weights once
    print("perception captioner (2-core CPU, one torch thread; weights already loaded)")
    for v in sorted((shared / "videos").glob("*.mp4")):
        for mode in ("fixed", "motion"):
            t0 = time.perf_counter()
            a = analyse_video(v, ClipConfig(mode=mode))
            t1 = time.perf_counter()
            caps = cap.caption_video(v, a)
            t2 = time.perf_counter()
            print(f"  {v.name:26s} {mode:6s} {a.duration:5.1f} s video, {len(a.timestamps):3d} samples, {len(caps)} clips: "
                  f"analysis {t1 - t0:.2f} s + captions {t2 - t1:.2f} s")


def throughput(latency: float, n: int) -> None:
    from tests.annotate_fake_llm import FakeOpenAI
    from tests.helpers import invoke, moving_square_frames, write_video

    tmp = Path(tempfile.mkdtemp())
    try:
        for i in range(n):
            write_video(tmp / f"v{i}.mp4", moving_square_frames(30, 64))
        print(f"pipeline against a local server, {latency:.2f} s per call, {n} videos, vision captions, 3 questions")
        import os

        with FakeOpenAI(delay=latency) as srv:
            os.environ["OPENAI_BASE_URL"] = srv.base_url
            for j in (1, 4, 8):
                out = tmp / f"ds{j}.json"
                t0 = time.perf_counter()
                r = invoke("annotate", tmp, "--out", out, "-c", "vision", "-m", "bench", "-j", str(j))
                dt = time.perf_counter() - t0
                assert r.exit_code == 0, r.output
                calls = len(srv.log)
                srv.log.clear()
                print(f"  --concurrency {j}: {dt:6.2f} s, {calls} calls, {n / dt:5.2f} videos/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    if (args.shared / "videos").is_dir():
        perception(args.shared)
    else:
        print(f"(no shared data at {args.shared}; skipping the perception figures)")
    throughput(args.latency, args.videos)
