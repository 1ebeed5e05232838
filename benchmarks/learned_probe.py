"""Can a *trained* motion encoder read the events the frozen features miss? (issue 13)

`feature_probe.py` showed that pooled frozen EfficientNet features saturate near 0.5
event-type accuracy on `hawk synth`. This probe trains the embedded preset's optional
learnt motion encoder (:class:`hawk_core.model.motion_encoder.FlowEncoder`: a small per-frame
CNN with temporal convolutions over the frames and their direction-keeping Farneback flow)
from scratch with an event-type head, no LLM, and prints its accuracy on an unseen test seed.

    python benchmarks/learned_probe.py --train data/synth/train.json --test data/synth/test.json \
        --cache runs/learned_probe --epochs 12

Inputs are extracted once per record file into ``--cache`` (frames and flow at the encoder's
size; the file's name is keyed by its records, so an edited file is extracted again). ``--train``
may be given several times: the files' videos train together, each file's inputs extracted once
(adding a file to a training set extracts only the new one). The training is
:func:`hawk_core.training.heads.fit_encoder_head`; ``--init FILE`` starts it from a saved encoder
and head instead of a random one (train a shipped head further on more videos). ``--save FILE`` keeps the
trained encoder and head (with their classes), which ``recipes/fit_head.py MODEL --encoder-head
FILE`` installs as a model's class head on its own encoder (``head.on: own_encoder``): how the
shipped default's guide reads the event.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _one(args):
    """One video's encoder input, sampled as the embedded preset samples for its model
    (:func:`hawk_core.data.features.sample_for_model`, the path training and inference take)."""
    video, frames, size = args
    from hawk_core.data.features import sample_for_model
    from hawk_core.model.config import HawkConfig
    from hawk_core.model.motion_encoder import flow_encoder_input

    clip, res = sample_for_model(video, HawkConfig.from_preset("embedded").data, num_frames=frames)
    return flow_encoder_input(clip.frames, res.flow, size)


def extract(records: list[dict], root: Path, out: Path, frames: int, size: int, workers: int) -> np.ndarray:
    """The inputs of every video, written into one .npy (memory-mapped, so a split larger than
    RAM works); an interrupted extraction starts again."""
    if out.exists():
        return np.load(out, mmap_mode="r")
    from multiprocessing import Pool

    jobs = [(str(root / r["video"]), frames, size) for r in records]
    t0 = time.time()
    tmp = out.with_suffix(".partial.npy")
    x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(jobs), frames, size, size, 5))
    with Pool(workers) as pool:
        for i, xi in enumerate(pool.imap(_one, jobs, chunksize=4)):
            x[i] = xi
    x.flush()
    del x
    tmp.rename(out)
    print(f"extracted {len(jobs)} videos in {time.time() - t0:.0f}s -> {out}", flush=True)
    return np.load(out, mmap_mode="r")


class Stacked:
    """Several memory-mapped input arrays read as one: ``len`` and indexing by an array of
    indices (what :func:`~hawk_core.training.heads.fit_encoder_head` reads), without copying them."""

    def __init__(self, parts: list[np.ndarray]) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, idx) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(idx))
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        out = np.empty((len(idx), *self.parts[0].shape[1:]), dtype=self.parts[0].dtype)
        for k in np.unique(which):
            sel = which == k
            out[sel] = self.parts[k][idx[sel] - self.offsets[k]]
        return out


def _tag(name: str, records: list[dict], frames: int, size: int) -> str:
    """A cache file name for these records' inputs: the split's role, how many, a digest of
    their videos, and the sampling."""
    digest = hashlib.sha1("\n".join(r["video"] for r in records).encode()).hexdigest()[:10]
    return f"{name}_{len(records)}_{digest}_{frames}_{size}.npy"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, required=True, action="append", help="training records (repeatable: the files train together)")
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-rgb", action="store_true")
    ap.add_argument("--no-flow", action="store_true")
    ap.add_argument("--save", type=Path, default=None, help="write the trained encoder + head here")
    ap.add_argument("--init", type=Path, default=None, help="start from this saved encoder + head (a --save file)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CPUs with native bf16)")
    args = ap.parse_args()

    import torch

    from hawk_core.synth.events import EVENT_TYPES

    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    data: dict[str, list] = {"train": [], "test": []}
    for name, path in [("train", p) for p in args.train] + [("test", args.test)]:
        recs = json.loads(path.read_text())
        if args.limit and name == "train":
            recs = recs[: args.limit]
        x = extract(recs, path.parent, args.cache / _tag(name, recs, args.frames, args.size), args.frames, args.size, args.workers)
        data[name].append((x, np.array([EVENT_TYPES.index(r["event_type"]) for r in recs])))
    xtr = data["train"][0][0] if len(data["train"]) == 1 else Stacked([x for x, _ in data["train"]])
    ytr = np.concatenate([y for _, y in data["train"]])
    xte, yte = data["test"][0]
    keep = []
    if not args.no_rgb:
        keep += [0, 1, 2]
    if not args.no_flow:
        keep += [3, 4]
    from hawk_core.training.heads import encoder_head_logits, fit_encoder_head

    amp = torch.bfloat16 if args.bf16 else None
    print(f"train {len(xtr)} test {len(xte)}", flush=True)

    def predict(enc, head) -> np.ndarray:
        """The test videos' predicted types (eval mode, batches of 32)."""
        enc.eval()
        with torch.no_grad():
            return np.concatenate([encoder_head_logits(enc, head, torch.from_numpy(xte[i : i + 32][..., keep].astype(np.float32)),
                                                       amp).argmax(-1).numpy() for i in range(0, len(xte), 32)])

    t0 = time.time()

    def report(epoch, loss, enc, head) -> None:
        p = predict(enc, head)
        normal = EVENT_TYPES.index("normal")
        acc, an = float((p == yte).mean()), float(((p != normal) == (yte != normal)).mean())
        print(f"epoch {epoch}: train loss {loss:.3f}  test event acc {acc:.3f}  anomaly-vs-normal {an:.3f}"
              f"  ({time.time() - t0:.0f}s)", flush=True)

    init = None
    if args.init is not None:
        saved = torch.load(args.init, map_location="cpu", weights_only=True)
        if saved.get("classes", list(EVENT_TYPES)) != list(EVENT_TYPES) or saved.get("keep") != keep:
            raise SystemExit(f"{args.init}: its classes or input channels differ from this run's")
        init = (saved["encoder"], saved["head"])
        args.width = int(saved.get("width", args.width))
    enc, head = fit_encoder_head(xtr, ytr, len(EVENT_TYPES), width=args.width, channels=keep, epochs=args.epochs,
                                 batch=args.batch, lr=args.lr, amp=amp, init=init, on_epoch=report)
    p = predict(enc, head)
    per = {EVENT_TYPES[c]: f"{float((p[yte == c] == c).mean()):.2f}" for c in range(len(EVENT_TYPES)) if (yte == c).any()}
    print("per event:", ", ".join(f"{k} {v}" for k, v in per.items()))
    if args.save:
        torch.save({"encoder": enc.state_dict(), "head": head.state_dict(), "keep": keep, "width": args.width,
                    "classes": list(EVENT_TYPES)}, args.save)
    majority = float(np.mean(yte == np.bincount(ytr).argmax()))
    print(f"majority class {majority:.3f}; 'always anomaly' {float(np.mean(yte != EVENT_TYPES.index('normal'))):.3f}")


if __name__ == "__main__":
    main()
