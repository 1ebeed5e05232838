"""Pooled features of a model's visual side, and a class head fitted on them in closed form.

:func:`pooled_features` reads, for each record, what a linear probe or head sees: both
branches' tight features (their mean and maximum over the query tokens, ``read="tokens"``) or
the learnt motion encoder's own tokens (their mean and maximum over frames and cells,
``read="encoder"``, what ``head.on: encoder`` reads; ``"own_encoder"``, the class head's own
encoder's, what ``head.on: own_encoder`` reads). :func:`fit_linear_head` fits a
standardised logistic regression on such features and folds the standardisation into one
linear layer, so the model's own class head (``config.head``) can hold it
(``recipes/fit_head.py``; ``benchmarks/encoder_probe.py`` is the same fit, scored).
:func:`frame_features` reads what the per-frame anomaly head (``head.frames``) sees of each
sampled frame, and :func:`fit_binary_head` fits that head's one logit the same way, or
:func:`fit_sequence_head` its GRU form by gradient; :func:`appearance_frame_rows` and
:func:`fit_projection` give the fixed PCA projection of the appearance features it can read.
:func:`fit_encoder_head` trains a learnt motion encoder from scratch with a linear class head
on its pooled tokens, end to end (``benchmarks/learned_probe.py``; what ``head.on: own_encoder``
holds, installed by ``recipes/fit_head.py --encoder-head``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DataError

READS = ("tokens", "encoder", "own_encoder")


def pooled_features(model: Any, cache: Any, records: Sequence[Any], amp: Any, *, read: str = "tokens",
                    on_progress: Callable[[int, float], None] | None = None) -> Any:
    """(N, F) float32 numpy: each record's pooled features (module docstring). Features
    missing from ``cache`` (:func:`hawk_core.training.samples.feature_cache`) are computed as
    ``hawk train`` would and stored there. ``on_progress(done, seconds)`` every 200 videos."""
    import numpy as np
    import torch

    if read not in READS:
        raise ValueError(f"read must be one of {', '.join(READS)}, got {read!r}")
    out = []
    for rec, fv, fm in _cached(model, cache, records, amp, on_progress):
        with torch.no_grad(), torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            if read in ("encoder", "own_encoder"):  # the branch's learnt encoder, or the class head's own
                row = model.encoder_pooled(fm[None].float(), own=read == "own_encoder")[0]
            else:
                _, tight_v, _, tight_m = model.visual_tokens(fv[None].float(), None if fm is None else fm[None].float())
                parts = [t.float()[0] for t in (tight_v, tight_m) if t is not None]  # (Q, tight) each
                row = torch.cat([torch.cat([p.mean(0), p.amax(0)]) for p in parts])
        out.append(row.float().numpy())
    return np.stack(out)


def frame_features(model: Any, cache: Any, records: Sequence[Any], amp: Any, *,
                   on_progress: Callable[[int, float], None] | None = None) -> list[tuple[Any, list[float]]]:
    """Per record, ((T, F) float32 numpy, the T sampled frames' seconds): what the frame head
    (``head.frames``) reads of each sampled frame (:meth:`HawkModel.encoder_frames`). Features
    missing from ``cache`` are computed and stored, as in :func:`pooled_features`."""
    import torch

    out = []
    appearance = model.frame_proj is not None
    for rec, fv, fm in _cached(model, cache, records, amp, on_progress):
        times = cache.load_times(rec.path)
        if times is None or len(times) != fm.size(0):
            raise DataError(f"{rec.path}: the feature cache holds no frame times for it (rebuild with a newer hawk)")
        with torch.no_grad(), torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            rows = model.encoder_frames(fm[None].float(), fv[None].float() if appearance else None)[0]
        out.append((rows.float().numpy(), times))
    return out


def appearance_frame_rows(model: Any, cache: Any, records: Sequence[Any], amp: Any, *, every: int = 1,
                          on_progress: Callable[[int, float], None] | None = None) -> Any:
    """(N, 2 C) float32 numpy: the appearance features of the sampled frames of every
    ``every``-th record (:meth:`HawkModel.appearance_frames`), what the frame head's fixed
    projection (``head.frames_appearance``) is fitted on. Missing features are computed and stored."""
    import numpy as np

    rows = [model.appearance_frames(fv[None])[0].numpy() for _, fv, _ in _cached(model, cache, records[::every], amp, on_progress)]
    return np.concatenate(rows)


def fit_projection(x: Any, components: int, *, seed: int = 0) -> tuple[Any, Any]:
    """The top ``components`` principal directions of ``x`` (N, F) as one linear layer:
    (weight (components, F), bias (components,)) float32, ``x @ weight.T + bias`` the centred
    projection (scikit-learn's PCA, randomised SVD)."""
    from sklearn.decomposition import PCA

    if not 0 < components <= min(x.shape):
        raise DataError(f"a projection to {components} components needs at least that many rows and columns, got {x.shape}")
    pca = PCA(components, random_state=seed, svd_solver="randomized").fit(x)
    weight = pca.components_.astype("float32")
    return weight, (-weight @ pca.mean_).astype("float32")


def _cached(model: Any, cache: Any, records: Sequence[Any], amp: Any, on_progress: Callable[[int, float], None] | None):
    """(record, frozen features, motion input) of each record from ``cache`` (missing entries
    computed and stored first), the model in eval mode; ``on_progress(done, seconds)`` every
    200 videos."""
    from ..data.features import encode_clips, sample_for_model

    model.eval()
    t0 = time.time()
    for i, rec in enumerate(records):
        if not cache.has(rec.path):
            pair = sample_for_model(rec.path, model.config.data, with_motion=bool(model.use_motion))
            fv, fm = encode_clips(model, [pair], amp=amp)
            cache.store(rec.path, fv[0], None if fm is None else fm[0], times=pair[0].frame_times)
        fv, fm = cache.load(rec.path)
        yield rec, fv, fm
        if on_progress is not None and (i + 1) % 200 == 0:
            on_progress(i + 1, time.time() - t0)


def fit_binary_head(x: Any, labels: Any, *, c: float = 0.1, max_iter: int = 2000) -> tuple[Any, Any]:
    """A standardised L2 logistic regression of 0/1 ``labels`` on ``x`` (N, F), folded into one
    logit: (weight (1, F), bias (1,)) float32, ``sigmoid(x @ weight.T + bias)`` the fitted
    probability of a 1."""
    import numpy as np

    y = _binary_labels(labels, "a binary head")
    _, weight, bias = fit_linear_head(x, ["1" if v else "0" for v in y], c=c, max_iter=max_iter)
    return weight[1:] - weight[:1], bias[1:] - bias[:1]


def _binary_labels(labels: Any, what: str) -> Any:
    """``labels`` as an int numpy array; a DataError naming ``what`` unless both 0 and 1 occur."""
    import numpy as np

    y = np.asarray(labels).astype(int)
    if set(np.unique(y).tolist()) != {0, 1}:
        raise DataError(f"{what} needs both 0 and 1 labels, got only {sorted(set(y.tolist()))}")
    return y


def fit_linear_head(x: Any, labels: Sequence[str], *, c: float = 0.1, max_iter: int = 2000) -> tuple[list[str], Any, Any]:
    """A standardised L2 logistic regression of ``labels`` on ``x`` (N, F), folded into one
    linear layer on the raw features: (classes sorted, weight (C, F), bias (C,)) float32, with
    ``softmax(x @ weight.T + bias)`` the fitted probabilities. Two classes give two rows
    (the first all zero), so the layer always has one logit per class."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(f"a class head needs at least 2 classes, the records name {classes}")
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=c, max_iter=max_iter).fit(scaler.transform(x), list(labels))
    if list(clf.classes_) != classes:  # sklearn sorts them too
        raise AssertionError(f"classes {list(clf.classes_)} != {classes}")
    w, b = clf.coef_, clf.intercept_
    if len(classes) == 2:  # one decision function: logits (0, z)
        w, b = np.vstack([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    scale = scaler.scale_
    weight = w / scale  # (C, F): w . (x - mean) / scale = (w / scale) . x - (w / scale) . mean
    bias = b - weight @ scaler.mean_
    return classes, weight.astype(np.float32), bias.astype(np.float32)


def fit_sequence_head(seqs: Sequence[Any], labels: Sequence[Any], *, hidden: int = 64, epochs: int = 20, dropout: float = 0.3,
                      lr: float = 2e-3, weight_decay: float = 1e-2, batch: int = 32, seed: int = 0,
                      on_epoch: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Fit :class:`~hawk_core.model.frame_head.FrameSequenceHead` on clips of per-frame features:
    ``seqs`` (each (T, F) numpy, the clip's rows), ``labels`` (each (T,) 0/1). Per-frame binary
    cross-entropy, AdamW with a cosine schedule, dropout on the standardised inputs; clips of one
    length are batched together. The standardisation is folded into the first layer, so the
    returned state dict (float32 tensors, the head's own names) reads raw rows.
    ``on_epoch(epoch, mean loss)`` after each epoch."""
    import numpy as np
    import torch

    from ..model.frame_head import FrameSequenceHead

    if len(seqs) != len(labels) or not seqs:
        raise DataError(f"a sequence head needs one label row per clip, got {len(seqs)} clips and {len(labels)} label rows")
    _binary_labels(np.concatenate([np.asarray(y).ravel() for y in labels]), "a frame head")
    rows = np.concatenate([np.asarray(x, dtype=np.float32) for x in seqs])
    mu, sd = rows.mean(0), rows.std(0) + 1e-6
    groups: dict[int, list[int]] = {}
    for i, x in enumerate(seqs):
        groups.setdefault(len(x), []).append(i)
    data = {t: (torch.tensor(np.stack([(np.asarray(seqs[i], dtype=np.float32) - mu) / sd for i in idx])),
                torch.tensor(np.stack([np.asarray(labels[i], dtype=np.float32) for i in idx]))) for t, idx in groups.items()}
    with torch.random.fork_rng(devices=[]):  # reproducible for a seed, the caller's RNG untouched
        torch.manual_seed(seed)
        net = FrameSequenceHead(rows.shape[1], hidden)
        drop = torch.nn.Dropout(dropout)
        opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=weight_decay)
        steps = epochs * sum((len(x) + batch - 1) // batch for x, _ in data.values())
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        net.train()
        for epoch in range(epochs):
            order = [(t, b) for t, (x, _) in data.items() for b in torch.randperm(len(x)).split(batch)]
            total = 0.0
            for i in torch.randperm(len(order)).tolist():
                t, b = order[i]
                x, y = data[t]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(net(drop(x[b])), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(b)
            if on_epoch is not None:
                on_epoch(epoch + 1, total / len(seqs))
        net.eval()
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    scale = torch.from_numpy(1.0 / sd)
    state["inp.weight"] = state["inp.weight"] * scale  # w . (x - mu) / sd = (w / sd) . x - (w / sd) . mu
    state["inp.bias"] = state["inp.bias"] - state["inp.weight"] @ torch.from_numpy(mu)
    return state


def fit_encoder_head(inputs: Any, labels: Any, classes: int, *, width: int = 64, channels: Sequence[int] = (0, 1, 2, 3, 4),
                     epochs: int = 12, batch: int = 16, lr: float = 2e-3, weight_decay: float = 0.05, seed: int = 0,
                     amp: Any = None, flip: bool = True, init: tuple[dict, dict] | None = None,
                     on_epoch: Callable[[int, float, Any, Any], None] | None = None) -> tuple[Any, Any]:
    """Train a :class:`~hawk_core.model.motion_encoder.FlowEncoder` of ``width`` from scratch,
    with a linear head on its tokens' mean and maximum over frames and cells, on ``inputs``
    ((N, T, S, S, 5) frames + flow as :func:`~hawk_core.model.motion_encoder.flow_encoder_input`
    gives them; a memory-mapped array works) and ``labels`` ((N,) class indices below
    ``classes``): cross-entropy, AdamW with a one-cycle schedule (10% warm-up), batches of
    ``batch`` in a seeded random order, each video mirrored left-right with probability 1/2
    (``flip``; the flow's x component negated). ``channels``: the input channels read (RGB 0-2,
    flow dx dy 3-4). ``amp``: an autocast dtype for the encoder (e.g. bf16 on CPUs with native
    support). ``on_epoch(epoch, mean loss, encoder, head)`` after each epoch (the encoder is
    back in training mode after it). ``init``: (encoder, head) state dicts to start from (a
    head saved by ``benchmarks/learned_probe.py --save``, trained further on more videos) in
    place of the seeded random start; their shapes must match ``width``, ``channels`` and
    ``classes``. Returns (encoder, head), the encoder in eval mode. The caller's random state
    is left alone."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from ..model.motion_encoder import FlowEncoder

    keep = list(channels)
    labels = np.asarray(labels)
    if len(inputs) != len(labels) or len(labels) < batch:
        raise DataError(f"fit_encoder_head needs as many labels as inputs and at least one batch ({batch}); "
                        f"got {len(inputs)} inputs, {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= classes:
        raise DataError(f"labels must be class indices in [0, {classes}), got {labels.min()}..{labels.max()}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = FlowEncoder(in_channels=len(keep), width=width)
        head = torch.nn.Linear(enc.dim * 2, classes)
    if init is not None:
        try:
            enc.load_state_dict(init[0])
            head.load_state_dict(init[1])
        except (RuntimeError, KeyError, TypeError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"the encoder and head to start from do not fit width {width}, {len(keep)} channels and "
                            f"{classes} classes ({first[:200]})") from None
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * (len(labels) // batch), pct_start=0.1)
    dx = keep.index(3) if 3 in keep else None

    def tensor(idx, mirror):
        t = torch.from_numpy(np.asarray(inputs[idx])[..., keep].astype(np.float32))  # (B, T, S, S, C)
        if mirror is not None and mirror.any():
            f = torch.from_numpy(mirror)
            t[f] = t[f].flip(3)
            if dx is not None:
                t[f, ..., dx] = -t[f, ..., dx]
        return t

    rng = np.random.default_rng(seed)
    enc.train()
    for epoch in range(epochs):
        order = rng.permutation(len(labels))
        total = 0.0
        for i in range(0, len(order) - batch + 1, batch):
            idx = np.sort(order[i : i + batch])
            x = tensor(idx, (rng.random(len(idx)) < 0.5) if flip else None)
            loss = F.cross_entropy(encoder_head_logits(enc, head, x, amp), torch.from_numpy(labels[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if on_epoch is not None:
            on_epoch(epoch + 1, total / len(order), enc, head)
            enc.train()
    return enc.eval(), head


def encoder_head_logits(enc: Any, head: Any, x: Any, amp: Any = None) -> Any:
    """(B, C) float32 logits of ``head`` on ``enc``'s tokens of ``x`` (B, T, S, S, C), their mean
    and maximum over frames and cells (:meth:`HawkModel.encoder_pooled`); ``amp``: the encoder's
    autocast dtype."""
    import torch

    from ..model.motion_encoder import pool_tokens

    with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
        tok = enc(x).float()  # (B, T, N, D)
    return head(pool_tokens(tok))


__all__ = ["READS", "appearance_frame_rows", "encoder_head_logits", "fit_binary_head", "fit_encoder_head", "fit_linear_head",
           "fit_projection", "fit_sequence_head", "frame_features", "pooled_features"]
