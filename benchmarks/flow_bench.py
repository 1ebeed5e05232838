"""Motion-input extraction: hawk's two readers vs the authors' release's approach.

The release decodes every native frame at 224x224 into memory, then runs Farneback at the T
sampled indices. hawk keeps only the T sampled frames and their predecessors, read either by
streaming (every frame decoded, only those kept) or by keyframe seeking (only the frames
from the keyframe before each needed one are decoded; hawk_core.media.seek). `auto` is what
`hawk flow` does: it picks one per video, and the table says which. Each approach runs in a
fresh subprocess so peak RSS is its own. The release's approach is skipped past 10 minutes
(a 1-hour video at 224x224 would need ~16 GB).

    python benchmarks/flow_bench.py                 # 1- and 3-minute 30 fps videos
    python benchmarks/flow_bench.py --minutes 1 3 60 --frames 32

The test video is built by looping the shared UCF-Crime clips (../shared/data/videos).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = [ROOT.parent / "shared/data/videos/fighting_ucf033.mp4", ROOT.parent / "shared/data/videos/road_accident_ucf133.mp4"]

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from hawk_core.media.video import cv2
cv2.setNumThreads(1)
mode, path, T = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
reader = None
if mode.startswith("hawk"):
    from hawk_core.media.motion import extract_motion
    from hawk_core.media.motion_config import MotionConfig
    from hawk_core.media.video import sample_clip
    clip = sample_clip(path, T, 224, with_prev=True, min_frames=2, reader=mode.split("-")[1])
    reader = clip.meta["reader"] + ": " + clip.meta["reader_why"]
    out = extract_motion(clip, MotionConfig(mask="threshold")).motion
else:  # the release: every frame decoded at 224 into a list, then flow at the sampled indices
    from hawk_core.media.motion import farneback
    from hawk_core.media.motion_config import FarnebackParams
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(f, (224, 224)), cv2.COLOR_BGR2RGB))
    n = len(frames)
    idx = np.linspace(0, n - 1, T).astype(int)
    masks = []
    for i in idx:
        fl = farneback(frames[max(i - 1, 0)], frames[i], FarnebackParams())
        m = (np.sqrt((fl ** 2).sum(-1)) > 0.2)
        masks.append(frames[i] * m[..., None])
    out = np.stack(masks)
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": dt, "peak_rss_mb": rss, "shape": list(out.shape), "reader": reader}}))
"""

BASELINE = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
import numpy as np
from hawk_core.media.video import cv2
from hawk_core.media import motion
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def build_video(minutes: float, clips: list[Path], out: Path, fps: float = 30.0) -> int:
    import cv2

    frames = []
    for c in clips:
        cap = cv2.VideoCapture(str(c))
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(f, (320, 240)))
    total = int(minutes * 60 * fps)
    wr = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    for i in range(total):
        wr.write(frames[i % len(frames)])
    wr.release()
    return total


def run_child(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--clips", type=Path, nargs="+", default=DEFAULT_CLIPS)
    args = ap.parse_args()
    code = CHILD.format(root=str(ROOT))
    base = run_child(BASELINE.format(root=str(ROOT)))["peak_rss_mb"]
    print(f"interpreter + numpy + cv2 baseline RSS: {base:.0f} MB; MB columns are peak RSS")
    print(f"{'video':>12} {'frames':>7} | {'stream s':>8} {'seek s':>7} {'auto s':>7} {'MB':>5} | {'release s':>9} {'MB':>5} | {'auto/release':>12}")
    with tempfile.TemporaryDirectory() as d:
        for m in args.minutes:
            path = Path(d) / f"bench_{m:g}min.mp4"
            n = build_video(m, args.clips, path)
            st = run_child(code, "hawk-stream", str(path), str(args.frames))
            sk = run_child(code, "hawk-seek", str(path), str(args.frames))
            au = run_child(code, "hawk-auto", str(path), str(args.frames))
            r = run_child(code, "release", str(path), str(args.frames)) if m <= 10 else None
            rel = f"{r['seconds']:>9.2f} {r['peak_rss_mb']:>5.0f}" if r else f"{'-':>9} {'-':>5}"
            ratio = f"{au['seconds'] / r['seconds']:>12.2f}" if r else f"{'-':>12}"
            print(
                f"{m:>9g}min {n:>7} | {st['seconds']:>8.2f} {sk['seconds']:>7.2f} {au['seconds']:>7.2f} {au['peak_rss_mb']:>5.0f} | {rel} | {ratio}"
            )
            print(f"{'':>22}auto chose {au['reader']}")

if __name__ == "__main__":
    main()
