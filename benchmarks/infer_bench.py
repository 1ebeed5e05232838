"""`hawk describe` speed on this machine: cold (a fresh process, as a user runs it) and warm
(the model already loaded, as `hawk chat` / `hawk predict` run), per stage.

    python benchmarks/infer_bench.py                       # embedded default, 16 and 32 frames
    python benchmarks/infer_bench.py --frames 8 16 32 --max-new-tokens 64 --model tiny
    python benchmarks/infer_bench.py --first-run           # also time the one-time LLM conversion

Stages: model load, frame sampling + motion (Farneback), vision encoding (frozen encoders of
both branches), generation (new tokens / second). The clip is ../shared/data/videos/
fighting_ucf033.mp4 (271 frames at 30 fps, 9 s, 320x240; $HAWK_SHARED_DATA overrides
../shared/data) unless --video is given.
Threads: one torch thread (the CLI's default on small machines) unless --threads. Warm runs
are timed with the float32 LLM (the default) and with --quantize int8.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_VIDEO = SHARED / "videos" / "fighting_ucf033.mp4"


def cold(video: Path, frames: int, args: argparse.Namespace, env: dict | None = None) -> dict:
    """A fresh `python -m hawk_cli describe --json` process: wall time includes imports."""
    cmd = [sys.executable, "-m", "hawk_cli", "describe", str(video), "--frames", str(frames), "--max-new-tokens", str(args.max_new_tokens), "--json"]
    if args.model:
        cmd += ["--model", args.model]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"describe failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    d = json.loads(p.stdout)
    return {"wall_s": wall, **d["timings"], "text": d["text"]}


def warm(video: Path, frames: list[int], args: argparse.Namespace, quantize: str | None = None) -> list[dict]:
    """One process, the model loaded once; each frame count described twice, the second timed."""
    sys.path.insert(0, str(ROOT))
    from hawk_cli._common import set_torch_threads

    set_torch_threads(args.threads)
    from hawk_core.inference.predictor import GenerationOptions, Predictor

    t0 = time.perf_counter()
    predictor = Predictor.load(args.model, quantize=quantize)
    load_s = time.perf_counter() - t0
    options = GenerationOptions(max_new_tokens=args.max_new_tokens)
    rows = []
    for t in frames:
        predictor.num_frames = t
        for rep in range(2):
            t0 = time.perf_counter()
            prepared = predictor.prepare(video)
            answer = predictor.describe(prepared, options)
            total = time.perf_counter() - t0
        rows.append(
            {
                "frames": t,
                "load_s": load_s,
                **prepared.timings,
                "generate_s": answer.generate_s,
                "new_tokens": answer.tokens,
                "tokens_per_s": answer.tokens_per_s,
                "total_s": total,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--frames", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--model", default=None, help="--model for describe (default: the embedded default)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--first-run", action="store_true", help="also time a cold run with an empty cache (LLM conversion)")
    args = ap.parse_args()
    if not args.video.exists():
        raise SystemExit(f"no such video: {args.video}")

    print(f"video: {args.video.name}; max_new_tokens={args.max_new_tokens}; model={args.model or 'default (embedded)'}")
    print(f"cpus: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f} (figures scale with how busy the machine is)")
    if args.first_run:
        with tempfile.TemporaryDirectory() as cache:
            r = cold(args.video, args.frames[0], args, env={"HAWK_CACHE": cache})
        print(f"first run (empty cache, LLM converted): {r['wall_s']:.1f} s wall, of which model load {r['load_s']:.1f} s")

    print("\ncold: a fresh `hawk describe --json` process (imports + load + everything)")
    print(f"{'frames':>6} {'wall s':>8} {'load s':>8} {'frames+motion s':>16} {'encode s':>9} {'generate s':>11} {'tokens':>7} {'tok/s':>7}")
    for t in args.frames:
        r = cold(args.video, t, args)
        print(
            f"{t:>6} {r['wall_s']:>8.2f} {r['load_s']:>8.2f} {r['frames_motion_s']:>16.2f} {r['encode_s']:>9.2f} "
            f"{r['generate_s']:>11.2f} {r['new_tokens']:>7} {r['tokens_per_s']:>7.1f}"
        )

    for quantize in (None, "int8"):
        label = "float32 LLM" if quantize is None else "--quantize int8"
        print(f"\nwarm, {label}: model already loaded (second describe of the clip in one process)")
        print(f"{'frames':>6} {'total s':>8} {'frames+motion s':>16} {'encode s':>9} {'generate s':>11} {'tokens':>7} {'tok/s':>7}")
        for r in warm(args.video, args.frames, args, quantize):
            print(
                f"{r['frames']:>6} {r['total_s']:>8.2f} {r['frames_motion_s']:>16.2f} {r['encode_s']:>9.2f} "
                f"{r['generate_s']:>11.2f} {r['new_tokens']:>7} {r['tokens_per_s']:>7.1f}"
            )
        print(f"(model load in that process: {r['load_s']:.2f} s; load average now: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
