"""How much of the event does each visual input carry? A probe on frozen features.

For every video of a `hawk synth` train and test split this script samples the frames the
embedded preset samples, builds several candidate inputs for the frozen image encoder
(EfficientNet-Lite0), encodes them once (bf16 autocast where the CPU supports it) and caches
the token maps. It then trains small probes on the cached tokens (no LLM) and prints, for
each input and combination, the event-type accuracy, anomaly-vs-normal accuracy and the
share of anomalous videos whose start time is predicted within 1 s, on the unseen test seed.

Inputs (``--inputs``):

* ``rgb``: the frames (the appearance branch).
* ``mask``: the paper's motion input, frames times the soft magnitude mask (the motion
  branch today).
* ``flow``: the flow itself as a colour-wheel image (hue = direction, brightness =
  magnitude / the clip's 99th percentile, floored at 1 px/frame): keeps the direction.

Each is kept at two depths of the encoder: ``final`` (7x7x1280, the preset's tokens) and
``mid`` (14x14x112, the output of the last stride-16 stage: four times the cells).

Probes: ``mean`` (logistic regression on the tokens averaged over space and time) and
``attn`` (a small attention pooling: project, add frame and cell positions, four learned
queries cross-attend, linear heads for the event type and the start time).

    python benchmarks/feature_probe.py --train data/synth/train.json --test data/synth/test.json \
        --cache runs/probe --frames 16

Extraction resumes (one file per video); the probes take a minute each on two cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

INPUTS = ("rgb", "mask", "flow")
CROP_INPUTS = ("crop_rgb", "crop_flow")
DEPTHS = ("final", "mid")


def flow_image(flow: np.ndarray) -> np.ndarray:
    """(T, S, S, 2) flow -> (T, S, S, 3) uint8 colour wheel, one scale for the clip (the
    motion branch's ``data.motion.input: flow``)."""
    from hawk_core.media.motion import MotionConfig, flow_images, flow_magnitude

    return flow_images(flow, flow_magnitude(flow), MotionConfig(input="flow"))


def motion_crops(frames: np.ndarray, flow_rgb: np.ndarray, flow: np.ndarray, side: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the ``side`` x ``side`` window around the strongest motion (flow magnitude
    box-filtered over a person-sized area), of the frame and of its flow image, resized back
    to the encoder's 224 px: an anomaly-focused spatial sampler (fast movers get four times
    the pixels)."""
    import cv2

    from hawk_core.media.motion import flow_magnitude

    T, S = frames.shape[:2]
    out_rgb, out_flow = [], []
    for t in range(T):
        mag = cv2.boxFilter(flow_magnitude(flow[t]).astype(np.float32), -1, (side // 3, side // 3))
        y, x = np.unravel_index(int(mag.argmax()), mag.shape)
        y0 = int(np.clip(y - side // 2, 0, S - side))
        x0 = int(np.clip(x - side // 2, 0, S - side))
        out_rgb.append(cv2.resize(frames[t, y0 : y0 + side, x0 : x0 + side], (S, S), interpolation=cv2.INTER_LINEAR))
        out_flow.append(cv2.resize(flow_rgb[t, y0 : y0 + side, x0 : x0 + side], (S, S), interpolation=cv2.INTER_LINEAR))
    return np.stack(out_rgb), np.stack(out_flow)


class Encoder:
    """EfficientNet-Lite0 returning the stride-16 (mid) and final token maps."""

    def __init__(self) -> None:
        import torch

        from hawk_core.embedded import IMAGENET_MEAN as EFFICIENTNET_MEAN, IMAGENET_STD as EFFICIENTNET_STD, load_efficientnet_lite0

        self.torch = torch
        self.net = load_efficientnet_lite0()
        self.mean = torch.tensor(EFFICIENTNET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(EFFICIENTNET_STD).view(1, 3, 1, 1)
        # the last block at stride 16 (14x14 at 224 px): find it from the block strides
        self.mid_idx = self._mid_block()

    def _mid_block(self) -> int:
        torch = self.torch
        x = torch.zeros(1, 3, 224, 224)
        net = self.net
        with torch.no_grad():
            x = net._swish(net._bn0(net._conv_stem(x)))
            last = -1
            for i, b in enumerate(net._blocks):
                x = b(x)
                if x.shape[-1] == 14:
                    last = i
        return last

    def __call__(self, images: np.ndarray, bf16: bool) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        net = self.net
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self.mean) / self.std
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            x = net._swish(net._bn0(net._conv_stem(x)))
            mid = None
            for i, b in enumerate(net._blocks):
                x = b(x)
                if i == self.mid_idx:
                    mid = x
            x = net._swish(net._bn1(net._conv_head(x)))
        fin = x.float().flatten(2).transpose(1, 2)  # (N, 49, 1280)
        mid = mid.float().flatten(2).transpose(1, 2)  # (N, 196, 112)
        return fin.half().numpy(), mid.half().numpy()


def extract(records: list[dict], root: Path, cache: Path, frames: int, bf16: bool, inputs: tuple[str, ...] = INPUTS, suffix: str = "") -> None:
    from hawk_core.media.motion import MotionConfig, load_clip_and_motion

    enc = None
    cache.mkdir(parents=True, exist_ok=True)
    t_start, done = time.perf_counter(), 0
    for i, rec in enumerate(records):
        out = cache / f"{rec['id']}{suffix}.npz"
        if out.is_file():
            continue
        if enc is None:
            enc = Encoder()
        clip, motion = load_clip_and_motion(root / rec["video"], frames, 224, MotionConfig())
        imgs = {"rgb": clip.frames, "mask": motion.motion, "flow": flow_image(motion.flow)}
        if any(k.startswith("crop_") for k in inputs):
            imgs["crop_rgb"], imgs["crop_flow"] = motion_crops(clip.frames, imgs["flow"], motion.flow)
        arrays = {}
        batch = np.concatenate([imgs[k] for k in inputs])
        fin, mid = enc(batch, bf16)
        for j, k in enumerate(inputs):
            arrays[f"{k}_final"] = fin[j * frames : (j + 1) * frames]
            arrays[f"{k}_mid"] = mid[j * frames : (j + 1) * frames]
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.rename(out)
        done += 1
        if done % 50 == 0:
            rate = (time.perf_counter() - t_start) / done
            print(f"  {i + 1}/{len(records)} videos, {rate:.2f} s/video", flush=True)


def labels(records: list[dict], classes: list[str], duration: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([classes.index(r["event_type"]) for r in records])
    start = np.array([(r.get("time_span") or {}).get("start_s", -1.0) for r in records], dtype=np.float32)
    return y, start


def load(records: list[dict], cache: Path, key: str) -> np.ndarray:
    """(B, T, N, C) float32 tokens of ``key`` for ``records``; stacked once into KEY.npy."""
    stacked = cache / f"_{key}_{len(records)}.npy"
    suffix = "_crop" if key.startswith("crop_") else ""
    if not stacked.is_file():
        arr = np.stack([np.load(cache / f"{r['id']}{suffix}.npz")[key] for r in records])
        np.save(stacked, arr)
    return np.load(stacked).astype(np.float32)


def pca_reduce(xtr: np.ndarray, xte: np.ndarray, dim: int = 96, sample: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Project (B, T, N, C) tokens onto the top ``dim`` principal components of the training
    tokens (fitted on a random sample of them), whitened: keeps the probe cheap on 2 cores
    without looking at the labels."""
    import torch

    c = xtr.shape[-1]
    flat = xtr.reshape(-1, c)
    idx = np.random.default_rng(seed).choice(len(flat), size=min(sample, len(flat)), replace=False)
    sub = torch.from_numpy(flat[idx])
    mu = sub.mean(0)
    torch.manual_seed(seed)
    _, s, v = torch.pca_lowrank(sub - mu, q=dim, center=False, niter=3)
    w = (v / (s / np.sqrt(len(idx))).clamp(min=1e-6)).numpy()
    mu = mu.numpy()
    return ((xtr - mu) @ w).astype(np.float32), ((xte - mu) @ w).astype(np.float32)


def pooled(x: np.ndarray, how: str = "meanmax") -> np.ndarray:
    """(B, T, N, C) tokens -> (B, F) features: ``mean`` over space and time, or ``meanmax``:
    that, plus the spatial max averaged over time and the spatial mean's max over time."""
    if how == "mean":
        return x.mean(axis=(1, 2))
    return np.concatenate([x.mean(axis=(1, 2)), x.max(axis=2).mean(1), x.mean(2).max(1)], 1)


def probe_mean(xtr, ytr, xte, yte, how: str = "meanmax", normal: int | None = None) -> tuple[float, float]:
    """Logistic regression (standardised, C = 0.1) on pooled tokens: (event accuracy,
    anomaly-vs-normal accuracy)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    ftr = np.concatenate([pooled(x, how) for x in xtr], 1)
    fte = np.concatenate([pooled(x, how) for x in xte], 1)
    sc = StandardScaler().fit(ftr)
    clf = LogisticRegression(max_iter=3000, C=0.1).fit(sc.transform(ftr), ytr)
    pred = clf.predict(sc.transform(fte))
    an = float(((pred != normal) == (yte != normal)).mean()) if normal is not None else float("nan")
    return float((pred == yte).mean()), an


def probe_attn(xtr_list, ytr, str_, xte_list, yte, ste, classes, duration, epochs=60, seed=0):
    """Attention pooling over (T, N, C) token maps of one or more inputs."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    T = xtr_list[0].shape[1]

    class Probe(nn.Module):
        def __init__(self, dims: list[tuple[int, int]], d: int = 128, q: int = 4) -> None:
            super().__init__()
            self.proj = nn.ModuleList([nn.Sequential(nn.LayerNorm(c), nn.Linear(c, d)) for n, c in dims])
            self.cell = nn.ParameterList([nn.Parameter(torch.zeros(n, d)) for n, c in dims])
            self.frame = nn.Parameter(torch.zeros(T, d))
            self.src = nn.Parameter(torch.zeros(len(dims), d))
            self.q = nn.Parameter(torch.randn(q, d) * 0.02)
            self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
            self.ln = nn.LayerNorm(d)
            self.cls = nn.Linear(q * d, len(classes))
            self.start = nn.Linear(q * d, 1)

        def forward(self, xs):
            toks = []
            for k, x in enumerate(xs):  # (B, T, N, C)
                h = self.proj[k](x) + self.cell[k][None, None] + self.frame[None, :, None] + self.src[k]
                toks.append(h.flatten(1, 2))
            kv = torch.cat(toks, 1)
            q = self.q[None].expand(kv.shape[0], -1, -1)
            o, _ = self.attn(q, kv, kv)
            o = self.ln(o).flatten(1)
            return self.cls(o), self.start(o).squeeze(-1)

    m = Probe([(x.shape[2], x.shape[3]) for x in xtr_list])
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    xtr_t = [torch.from_numpy(x) for x in xtr_list]
    xte_t = [torch.from_numpy(x) for x in xte_list]
    ytr_t, str_t = torch.from_numpy(ytr), torch.from_numpy(str_)
    n = len(ytr)
    bs = 32
    for ep in range(epochs):
        perm = torch.randperm(n)
        m.train()
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            logits, st = m([x[idx] for x in xtr_t])
            loss = nn.functional.cross_entropy(logits, ytr_t[idx])
            has = str_t[idx] >= 0
            if has.any():
                loss = loss + nn.functional.smooth_l1_loss(st[has], str_t[idx][has] / duration)
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        logits, st = m(xte_t)
    pred = logits.argmax(-1).numpy()
    normal = classes.index("normal")
    acc = float((pred == yte).mean())
    an = float(((pred != normal) == (yte != normal)).mean())
    has = ste >= 0
    within = float((np.abs(st.numpy()[has] * duration - ste[has]) <= 1.0).mean()) if has.any() else float("nan")
    return acc, an, within


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("runs/probe"))
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0, help="use the first N training videos (0: all)")
    ap.add_argument("--extract-only", action="store_true")
    ap.add_argument("--crops", action="store_true", help="also the crop_rgb / crop_flow inputs (motion-centred crops)")
    ap.add_argument("--probes", default="rgb_final,mask_final,flow_final,rgb_mid,mask_mid,flow_mid,rgb_final+flow_final,rgb_mid+flow_mid")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--pool", default="meanmax", choices=["mean", "meanmax"], help="pooling of the regression probe")
    ap.add_argument("--no-attn", action="store_true", help="only the regression probe (fast)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    train = json.loads(args.train.read_text())
    test = json.loads(args.test.read_text())
    if args.limit:
        train = train[: args.limit]
    print(f"extracting features ({len(train)} train, {len(test)} test videos, {args.frames} frames, bf16={bf16})", flush=True)
    extract(train, args.train.parent, args.cache / "train", args.frames, bf16)
    extract(test, args.test.parent, args.cache / "test", args.frames, bf16)
    if args.crops:
        extract(train, args.train.parent, args.cache / "train", args.frames, bf16, CROP_INPUTS, "_crop")
        extract(test, args.test.parent, args.cache / "test", args.frames, bf16, CROP_INPUTS, "_crop")
    if args.extract_only:
        return
    classes = sorted({r["event_type"] for r in train + test})
    duration = max((r.get("time_span") or {}).get("end_s", 0) for r in train + test) or 5.0
    ytr, str_ = labels(train, classes, duration)
    yte, ste = labels(test, classes, duration)
    major = np.bincount(ytr).argmax()
    print(f"majority class: {classes[major]} ({float((yte == major).mean()):.3f} of test)")
    normal = classes.index("normal")
    print(f"{'input':28s} {'LR acc':>7s} {'LR anom':>8s} {'attn acc':>9s} {'anom':>6s} {'start<=1s':>10s}")
    for spec in args.probes.split(","):
        keys = spec.split("+")
        xtr = [load(train, args.cache / "train", k) for k in keys]
        xte = [load(test, args.cache / "test", k) for k in keys]
        lr, lr_an = probe_mean(xtr, ytr, xte, yte, args.pool, normal)
        acc = an = within = float("nan")
        t0 = time.perf_counter()
        if not args.no_attn:
            reduced = [pca_reduce(a, b) for a, b in zip(xtr, xte)]
            xtr, xte = [a for a, _ in reduced], [b for _, b in reduced]
            acc, an, within = probe_attn(xtr, ytr, str_, xte, yte, ste, classes, duration, epochs=args.epochs)
        print(f"{spec:28s} {lr:7.3f} {lr_an:8.3f} {acc:9.3f} {an:6.3f} {within:10.3f}   ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
