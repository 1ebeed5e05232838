"""Speed of `hawk synth`: videos per second, end to end (render + text + mp4 + records), and
where the time goes.

    python benchmarks/synth_bench.py                      # 60 videos, 1 and 2 workers
    python benchmarks/synth_bench.py --n 200 --workers 1 2 4 --frames 32

Wall-clock rates depend on what else the machine runs, and so, less, do CPU seconds. The
per-stage table takes the best of 3 runs of each video, which estimates the cost on an idle
machine; the end-to-end runs print wall time and CPU seconds (this process and its workers).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def stages(n: int, frames: int, repeats: int = 3) -> None:
    import numpy as np

    from hawk_core.synth import SynthConfig
    from hawk_core.synth.render import build_scene, measure_event, render
    from hawk_core.media.video import write_mp4
    from hawk_core.synth.text import answer_questions, describe

    cfg = SynthConfig(frames=frames)
    t = {"scene graph": 0.0, "render": 0.0, "text": 0.0, "mp4 encode": 0.0}
    with tempfile.TemporaryDirectory() as d:
        for i in range(n):
            best = [float("inf")] * 4
            for _ in range(repeats):  # best of `repeats`: robust to other jobs on the machine
                t0 = time.perf_counter()
                g, rng = build_scene(0, "bench", i, cfg)
                t1 = time.perf_counter()
                frames_, boxes = render(g, rng)
                span = measure_event(g, boxes)
                t2 = time.perf_counter()
                desc, slots = describe(np.random.default_rng(i), g, span)
                answer_questions(np.random.default_rng(i), slots, cfg.qa)
                t3 = time.perf_counter()
                write_mp4(Path(d) / "v.mp4", frames_, cfg.fps)
                t4 = time.perf_counter()
                best = [min(b, x) for b, x in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3))]
            for k, dt in zip(t, best):
                t[k] += dt
    total = sum(t.values())
    print(f"per video, {frames} frames at {cfg.size} px (mean over {n} videos of the best of {repeats} runs, one process):")
    for k, v in t.items():
        print(f"  {k:<12} {1000 * v / n:7.1f} ms  ({100 * v / total:4.1f}%)")
    print(f"  {'total':<12} {1000 * total / n:7.1f} ms  -> {n / total:.1f} videos/s")


def end_to_end(n: int, frames: int, workers: int) -> None:
    from hawk_core.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as d:
        c0 = cpu_seconds()
        s = synthesize(Path(d), n, 0, "bench", SynthConfig(frames=frames), workers=workers)
        cpu = cpu_seconds() - c0
        size = sum(p.stat().st_size for p in (Path(d) / "videos").glob("*.mp4"))
    print(
        f"hawk synth --n {n} --frames {frames} --workers {workers}: {s.seconds:.2f} s wall, {s.videos_per_s:.1f} videos/s; "
        f"{1000 * cpu / n:.0f} ms CPU per video; mp4 {size / n / 1024:.0f} KB per video"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    from hawk_core.media.video import cv2

    cv2.setNumThreads(1)
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    stages(min(args.n, 40), args.frames)
    for w in args.workers:
        end_to_end(args.n, args.frames, w)


if __name__ == "__main__":
    main()
