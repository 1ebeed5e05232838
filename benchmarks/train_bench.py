"""Training cost of the HAWK presets: frozen-encoder time per video, step time, peak memory.

For each preset, in a fresh subprocess (so peak memory is its own): build the model, encode
one real clip with the frozen encoders (the one-time cost the feature cache pays per video),
then run optimiser steps (forward + backward + AdamW) on batches of cached features with
real HIVAU descriptions as answers, exactly as `hawk train` does.

    python benchmarks/train_bench.py                          # tiny and embedded on CPU
    python benchmarks/train_bench.py --presets embedded --batch-size 2 --steps 5
    python benchmarks/train_bench.py --device cuda --precision bf16   # on a GPU
    python benchmarks/train_bench.py --presets embedded --batch-size 2 --frames 16 --precision fp32 --full-logits  # before
    python benchmarks/train_bench.py --presets embedded --batch-size 2 --frames 16                                # after
    python benchmarks/train_bench.py --presets embedded --batch-size 2 --frames 16 --motion-encoder flow_cnn      # learnt motion encoder

Prints one row per preset: trainable / total parameters, encode s/video, step s (mean of
the timed steps after one warm-up step), samples/s and peak memory (RSS on CPU, CUDA
max-allocated on GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data"))
CLIP = SHARED / "videos/fighting_ucf033.mp4"
TEXTS = SHARED / "text/hivau70k_test_instructions.jsonl"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import torch
from hawk_core.data.items import item_rng
from hawk_core.model import HawkConfig, HawkModel, TextSample
from hawk_core.media.motion import load_clip_and_motion
from hawk_core.language.prompts import DESCRIBE_PROMPTS, render_instruction
from hawk_core.training.schedule import lr_lambda

preset, clip, texts, B, steps, device, precision, threads, full_logits, frames, motion_encoder = sys.argv[1:12]
B, steps, threads, full_logits, frames = int(B), int(steps), int(threads), full_logits == "1", int(frames)
torch.set_num_threads(threads)
device = torch.device(device)
from hawk_core.runtime import autocast_dtype
amp = autocast_dtype(precision, device)
t0 = time.perf_counter()
cfg0 = HawkConfig.from_preset(preset, overrides={{"vision": {{"motion_encoder": motion_encoder}}}})
if frames:
    cfg0 = cfg0.with_overrides({{"data": {{"num_frames": frames}}, "video_qformer": {{"max_frames": max(frames, cfg0.video_qformer.max_frames)}}}})
model = HawkModel.build(cfg0, device=str(device), dtype=amp if device.type == "cuda" else None)
build_s = time.perf_counter() - t0
cfg = model.config
t0 = time.perf_counter()
c, m = load_clip_and_motion(clip, cfg.data.num_frames, cfg.data.size, cfg.data.motion, resize=cfg.data.resize)
sample_s = time.perf_counter() - t0
t0 = time.perf_counter()
with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
    fv, fm = model.encode_visual(model.preprocess(c.frames)[None].to(device), model.motion_input(c, m)[None].to(device))
if device.type == "cuda": torch.cuda.synchronize()
encode_s = time.perf_counter() - t0
answers = []
for line in open(texts):
    r = json.loads(line)
    if r["task"] == "description":
        answers.append(r["anwser"])
    if len(answers) >= 64: break
trainable = model.trainable_parameters()
opt = torch.optim.AdamW(trainable, lr=1e-4)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(1, steps + 1, 0.1))
model.train()
fvb = fv.float().expand(B, *fv.shape[1:]).contiguous()
fmb = None if fm is None else fm.float().expand(B, *fm.shape[1:]).contiguous()
if device.type == "cuda": torch.cuda.reset_peak_memory_stats()
def sync():
    if device.type == "cuda": torch.cuda.synchronize()
times, parts = [], {{"collate_s": 0.0, "qformers_fwd_s": 0.0, "forward_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0}}
for s in range(steps + 1):
    rng = item_rng(0, "bench", s)
    samples = [TextSample(render_instruction(rng.choice(DESCRIBE_PROMPTS)), answers[(s * B + i) % len(answers)], "man hits man; man knocked down") for i in range(B)]
    t0 = time.perf_counter()
    batch = model.collate(samples)
    t1 = time.perf_counter()
    with torch.no_grad(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        model.visual_tokens(fvb, fmb)  # the two video Q-Formers + projections alone (timed apart)
    sync(); t2 = time.perf_counter()
    with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        out = model(fvb, fmb, batch, full_logits=full_logits)
    sync(); t3 = time.perf_counter()
    out.loss.backward()
    sync(); t4 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
    sync(); t5 = time.perf_counter()
    if s:
        times.append((t1 - t0) + (t5 - t2))  # a training step: collate, forward, backward, optimiser
        for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[k] += v / steps
step = sum(times) / len(times)
peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{
    "preset": preset, "trainable_M": sum(p.numel() for p in trainable) / 1e6,
    "total_M": sum(p.numel() for p in model.parameters()) / 1e6, "build_s": build_s, "sample_s": sample_s,
    "encode_s": encode_s, "step_s": step, "samples_per_s": B / step, "peak_mb": peak, "text_tokens": int(batch.attention_mask.sum(1).float().mean()),
    "loss": float(out.loss), "frames": cfg.data.num_frames, "size": cfg.data.size,
    "precision": "fp32" if amp is None else str(amp).replace("torch.", ""), "full_logits": full_logits,
    "motion_encoder": motion_encoder, **parts,
}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "embedded"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up step)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                    help="autocast; auto = bf16 on GPUs and on CPUs with native bf16, else fp32 (as hawk train)")
    ap.add_argument("--full-logits", action="store_true", help="the vocabulary head over every position (before the answer-only head)")
    ap.add_argument("--frames", type=int, default=0, help="frames per video (0: the preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--texts", type=Path, default=TEXTS, help="HIVAU-style JSONL whose 'description' answers are the targets")
    ap.add_argument("--motion-encoder", default="pretrained", choices=["pretrained", "flow_cnn"],
                    help="vision.motion_encoder (flow_cnn: the learnt motion encoder trains in the step)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for preset in args.presets:
        code = CHILD.format(root=str(ROOT))
        p = subprocess.run(
            [sys.executable, "-c", code, preset, str(args.clip), str(args.texts), str(args.batch_size), str(args.steps), args.device, args.precision, str(args.threads),
             "1" if args.full_logits else "0", str(args.frames), args.motion_encoder],
            capture_output=True, text=True,
        )
        if p.returncode:
            print(f"{preset}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    head = "full (B, L, V) logits" if args.full_logits else "answer-only head"
    print(f"device {args.device}, precision {args.precision}, batch {args.batch_size}, {args.threads} thread(s), {args.steps} timed steps, {head}")
    print(f"{'preset':9} {'prec':>8} {'trainable':>10} {'total':>9} {'frames':>7} {'encode s/video':>15} {'step s':>8} {'samples/s':>10} {'tokens':>7} {'peak MB':>8}")
    for r in rows:
        print(f"{r['preset']:9} {r['precision']:>8} {r['trainable_M']:9.2f}M {r['total_M']:8.1f}M {r['frames']:>4}x{r['size']:<3} {r['encode_s']:15.3f} "
              f"{r['step_s']:8.3f} {r['samples_per_s']:10.2f} {r['text_tokens']:7d} {r['peak_mb']:8.0f}")
    print("step breakdown (s): collate / video Q-Formers+projections (forward alone) / forward (all) / backward / optimiser")
    for r in rows:
        print(f"  {r['preset']:9} {r['collate_s']:.3f} / {r['qformers_fwd_s']:.3f} / {r['forward_s']:.3f} / {r['backward_s']:.3f} / {r['optimizer_s']:.3f}")


if __name__ == "__main__":
    main()
