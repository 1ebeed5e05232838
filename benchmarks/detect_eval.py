"""Temporal anomaly detection on `hawk synth` test data from an unseen seed: frame-level AUC / AP
(and event mAP) of `hawk detect` with a model's own score against the motion-energy baseline.

1. Data: `hawk synth --split test --seed SEED --n N --frames FRAMES` (resumable; or --data, any
   HAWK-format split with time_span). `hawk synth` clips are 48 frames (4.8 s at 10 fps) by
   default, which leaves little to localise in; `--frames` makes longer ones (default 120:
   12 s), and the event is placed and timed by the simulation within the longer clip (it
   starts 8-60% into the clip, depending on the type, and lasts to its natural end), with
   about 20% normal videos, so every video has normal stretches and the normal videos normal
   frames throughout.
2. `hawk detect DATA --out det_<scorer>.jsonl --no-describe` for each scorer (`model`: the
   LLM's P(yes) to "Is there an anomaly in this video? Answer yes or no."; `head`: 1 - P(normal)
   of the model's class head, for a model trained with `--label-weight`; `frames`: the mean of
   the model's per-frame anomaly head over the window (`recipes/fit_head.py --frames`); `motion`: the
   window's mean flow magnitude, min-max normalised per video), with the default windows
   (duration / 8 within 2-16 s: 2 s every 1 s for these clips). Resumable.
3. `hawk score --detection det_<scorer>.jsonl --gt DATA --bootstrap 1000`: micro frame AUC and
   AP at each video's own frame rate (scikit-learn) with 95% intervals over resampled videos,
   event mAP at IoU 0.1-0.5.

    python benchmarks/detect_eval.py                          # 60 videos, the default model and the baseline
    python benchmarks/detect_eval.py --n 12 --out-dir /tmp/detect_eval
    python benchmarks/detect_eval.py --model runs/events/model --n 200
    python benchmarks/detect_eval.py --data data/test.json --scorers motion

Prints a table and writes OUT_DIR/summary.json; --timeline PNG also draws the model's timeline
of the first anomalous video with its ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def hawk(*args: str) -> list[str]:
    return [sys.executable, "-m", "hawk_cli", *map(str, args)]


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(argv, cwd=ROOT, env=env, text=True, capture_output=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(argv)}\n{r.stderr.strip()[-2000:]}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="A HAWK-format split with time_span (default: render one with hawk synth).")
    ap.add_argument("--n", type=int, default=60, help="Videos to render (default 60).")
    ap.add_argument("--seed", type=int, default=7, help="hawk synth seed; the shipped model was trained on seed 1 (default 7).")
    ap.add_argument("--frames", type=int, default=120, help="Frames per synthetic video at 10 fps (default 120: 12 s).")
    ap.add_argument("--model", default=None, help="--model for the model, head and frames scorers (default: the shipped default model).")
    ap.add_argument("--scorers", default="model,motion", help="Comma-separated scorers (default: model,motion).")
    ap.add_argument("--window", type=float, default=None, help="--window for hawk detect (default: its own).")
    ap.add_argument("--stride", type=float, default=None, help="--stride for hawk detect (default: its own).")
    ap.add_argument("--bootstrap", type=int, default=1000, help="Resamples of the videos for the 95%% intervals (default 1000; 0: none).")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1).")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "detect_eval", help="Where data and detections go.")
    ap.add_argument("--timeline", type=Path, default=None, help="Also draw the model's timeline of the first anomalous video (PNG).")
    a = ap.parse_args()
    # the hawk subprocesses run in the repository root: paths given relative to here are resolved first
    a.out_dir = a.out_dir.resolve()
    a.data = a.data.resolve() if a.data is not None else None
    a.timeline = a.timeline.resolve() if a.timeline is not None else None
    if a.model is not None and Path(a.model).exists():
        a.model = str(Path(a.model).resolve())

    a.out_dir.mkdir(parents=True, exist_ok=True)
    data = a.data
    if data is None:
        synth = a.out_dir / f"synth_s{a.seed}_f{a.frames}"
        log(f"hawk synth: {a.n} test videos, seed {a.seed}, {a.frames} frames -> {synth}")
        run(hawk("synth", "--out", synth, "--n", a.n, "--seed", a.seed, "--split", "test", "--frames", a.frames, "--qa", "0"))
        data = synth / "test.json"
    records = json.loads(data.read_text()) if data.suffix == ".json" else [json.loads(x) for x in data.read_text().splitlines() if x.strip()]
    anomalous = sum(1 for r in records if r.get("time_span"))
    log(f"{len(records)} videos ({anomalous} anomalous) in {data}")

    sys.path.insert(0, str(ROOT))
    from hawk_core.inference.anomaly import MODEL_SCORERS

    results = {}
    for scorer in [s.strip() for s in a.scorers.split(",") if s.strip()]:
        tag = scorer if scorer not in MODEL_SCORERS or a.model is None else f"{scorer}_{Path(str(a.model)).name}"
        dets = a.out_dir / f"det_{tag}_{data.parent.name}.jsonl"
        argv = hawk("detect", data, "--out", dets, "--scorer", scorer, "--no-describe", "--threads", a.threads, "--json")
        if scorer in MODEL_SCORERS and a.model:
            argv += ["--model", str(a.model)]  # resolved above when it is a path
        for flag, value in (("--window", a.window), ("--stride", a.stride)):
            if value is not None:
                argv += [flag, str(value)]
        t0 = time.time()
        log(f"hawk detect --scorer {scorer} -> {dets}")
        summary = json.loads(run(argv).stdout)
        wall = time.time() - t0
        log(f"  {summary['written']} written, {summary['already_done']} already there, {len(summary['failed_videos'])} skipped, {wall:.0f} s")
        rep = json.loads(run(hawk("score", "--detection", dets, "--gt", data, "--json", "--bootstrap", a.bootstrap)).stdout)
        results[tag] = {
            "frame_auc": rep["frame_auc"], "frame_ap": rep["frame_ap"], "frame_auc_ci": rep["frame_auc_ci"], "frame_ap_ci": rep["frame_ap_ci"], "map": rep["events"]["map"], "map_avg": rep["events"]["map_avg"],
            "mean_iou": rep["events"]["mean_iou"], "videos": rep["videos"]["scored"], "frames": rep["frames"], "detections": str(dets),
            "wall_s": round(wall, 1), "new_videos": summary["written"],
        }
    print()
    print(f"{'scorer':<24} {'videos':>6} {'frame AUC [95%]':>21} {'frame AP [95%]':>21} {'mAP@0.1':>8} {'mAP@0.5':>8} {'mean IoU':>8}")
    for tag, r in results.items():
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        ci = lambda v, c: f"{v:.3f}" + ("" if not c else f" [{c[0]:.3f}, {c[1]:.3f}]")  # noqa: E731
        print(f"{tag:<24} {r['videos']:>6} {ci(r['frame_auc'], r['frame_auc_ci']):>21} {ci(r['frame_ap'], r['frame_ap_ci']):>21} "
              f"{f(r['map'].get('0.1')):>8} {f(r['map'].get('0.5')):>8} {f(r['mean_iou']):>8}")
    frames = next(iter(results.values()))["frames"] if results else {}
    print(f"\nframes: {frames.get('total')} ({frames.get('anomalous')} anomalous); AUC/AP: scikit-learn on all frames of all videos "
          "(each video's own fps; a frame's score = max of its windows); events at threshold 0.5")
    out = {"data": str(data), "videos": len(records), "anomalous_videos": anomalous, "seed": a.seed, "frames": a.frames,
           "model": a.model or "default", "results": results, "load_average": os.getloadavg()[0]}
    (a.out_dir / "summary.json").write_text(json.dumps(out, indent=2) + "\n")
    log(f"summary: {a.out_dir / 'summary.json'}")

    model_tag = next((t for t in results if t.startswith(MODEL_SCORERS)), None)
    if a.timeline and model_tag:
        from hawk_core.inference.detect import Detection
        from hawk_core.inference.timeline import key_frames, plot_timeline
        from hawk_core.scoring.detection_gt import read_ground_truth

        truth = read_ground_truth(data)
        lines = [json.loads(x) for x in Path(results[model_tag]["detections"]).read_text().splitlines() if x.strip()]
        rec = next(r for r in lines if (truth.lookup(r["id"]) or truth.lookup(r["video"])) and truth.lookup(r["id"]).intervals)
        det = Detection.from_dict(rec)
        video = data.parent / rec["video"]
        plot_timeline(det, a.timeline, frames=key_frames(video), truth=list(truth.lookup(rec["id"]).intervals), scorer=model_tag.split("_")[0],
                      title=f"{rec['id']} ({next(r for r in records if r['id'] == rec['id']).get('event_type')})")
        log(f"timeline: {a.timeline}")


if __name__ == "__main__":
    main()
