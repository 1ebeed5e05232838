"""Fit a model's own class head (or its per-frame anomaly head) on its learnt motion encoder and write the model.

    python recipes/fit_head.py RUN/model --data train.json --cache-dir runs/cache --out RUN_HEAD/model \
        [--test val.json] [--label-field event_type] [--c 0.1] [--guide]
    python recipes/fit_head.py RUN/model --encoder-head enc.pt --data train.json --cache-dir runs/cache --out RUN_HEAD/model \
        [--test val.json] [--guide]
    python recipes/fit_head.py RUN/model --frames --data train.json --cache-dir runs/cache --out RUN_HEAD/model \
        [--gt annotations] [--test val.json] [--test-gt annotations] [--head gru|linear] [--appearance 64] [--no-flow]

The head `head.on: encoder` reads the learnt motion encoder's tokens (`vision.motion_encoder:
flow_cnn`), their mean and maximum over frames and cells. Trained by gradient beside the language
loss it learns slowly on these unnormalised features. So this fits it as
`benchmarks/encoder_probe.py --read encoder` does (a standardised L2 logistic regression on every
training record with a `--label-field` class) and folds the standardisation into the linear
layer (`hawk_core.training.heads.fit_linear_head`). The written model is the source with that
head (`head.classes`, `head.on: encoder`): the rest of its adapter is unchanged, LoRA included.
`--guide` / `--no-guide` sets `head.guide` (default: the source's). `--test` also scores the head
on other records (e.g. a validation seed). Features missing from the cache are computed and
stored there, as `hawk train` would. The output is written atomically and checked by loading it
back.

`--encoder-head FILE` gives the class head its own learnt encoder instead (`head.on:
own_encoder`): it installs the encoder and linear head that `benchmarks/learned_probe.py --save
FILE` trained end to end on the event types (`hawk_core.training.heads.fit_encoder_head`), with
their classes, and scores the head on `--test`. The motion branch the LLM reads is unchanged, so a
guided model names the new head's class without retraining its language side.

`--frames` fits the per-frame anomaly head instead (`head.frames`, what `hawk detect --scorer
frames` reads; the class head, if any, is kept). It reads, per sampled frame, the encoder's
tokens of that frame (mean and maximum over its cells), the frame's appearance features
projected to `--appearance` principal components (a PCA of the training frames' features, kept
in the adapter as `frame_proj`; 0: none) and, with `--flow` (the default), the frame's flow
statistics (direction histograms on a 3 x 3 grid, magnitude percentiles). `--head gru` (the
default) fits a bidirectional GRU over the clip's frames on them (per-frame binary cross-entropy,
AdamW, `--epochs`, `--hidden`, `--seed`; under a minute for 3,600 clips on 2 cores); `--head
linear` fits one logit per frame in closed form on them, their deviation from the clip's mean
and their neighbours' means up to `--context` frames away. A frame's
label is 1 when its time lies in one of the video's anomalous intervals, read from `--gt` (by
default the `--data` records' `time_span`; also UCF-Crime's temporal annotation text or
HIVAU-70k's JSON, as `hawk score --detection --gt` reads them). Records the ground truth does not
name are skipped and counted. Frame-level ROC-AUC is printed for the fit and for `--test`. The
head also keeps the span its fit clips cover (`head.frames_span`, the median; `--span` sets it),
which `hawk detect` reads the video in.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _labelled(path: Path, field: str, limit: int):
    from hawk_core.data.records import load_hawk_records
    from hawk_core.data.words import ClassLabels

    named = [(r, ClassLabels.name_of(r.extra.get(field))) for r in load_hawk_records(path)]
    named = [(r, n) for r, n in named if n is not None]
    named = named[:limit] if limit else named
    if not named:
        raise SystemExit(f"error: no record of {path} has a {field!r} class")
    return [r for r, _ in named], [n for _, n in named]


def _timed(path: Path, gt_path: Path | None, limit: int):
    """The records of ``path`` the temporal ground truth names, with their anomalous intervals."""
    from hawk_core.data.records import load_hawk_records
    from hawk_core.scoring.detection_gt import read_ground_truth

    truth = read_ground_truth(gt_path or path)
    named, skipped = [], 0
    for r in load_hawk_records(path):
        gt = truth.lookup(r.extra.get("id"), r.video, str(r.path))
        if gt is None:
            skipped += 1
        else:
            named.append((r, list(gt.intervals)))
    named = named[:limit] if limit else named
    if skipped:
        print(f"  {path}: {skipped} record(s) without temporal ground truth in {gt_path or path}, skipped", file=sys.stderr)
    if not named:
        raise SystemExit(f"error: no record of {path} has temporal ground truth in {gt_path or path}")
    return [r for r, _ in named], [s for _, s in named]


def _frame_rows(model, cache, amp, records, spans, say, what):
    """(per clip its (T, F) frame features, per clip its (T,) 0/1 labels, the median seconds the
    records' sampled frames cover)."""
    import numpy as np

    from hawk_core.scoring.detection import frame_labels
    from hawk_core.training.heads import frame_features

    rows = frame_features(model, cache, records, amp, on_progress=say(what, len(records)))
    y = [frame_labels(s, np.asarray(t, dtype=float)) for (_, t), s in zip(rows, spans)]
    covered = [(t[-1] - t[0]) * len(t) / (len(t) - 1) for _, t in rows if len(t) > 1]  # one frame's share past each end
    return [f for f, _ in rows], y, float(np.median(covered)) if covered else 0.0


def _write_with_head(out: Path, model, head: dict, parts: dict[str, dict]):
    """Write ``model`` to ``out`` with ``head`` merged into its config and each module of
    ``parts`` (name -> its tensors under their own names: ``weight``, ``bias``, ...) replaced;
    the rest of the adapter is the source's (less what the new config no longer holds).
    Checked by loading it back; returns the model loaded back."""
    import torch

    from hawk_core.model.hawk import HawkModel, trainable_shapes, write_checkpoint

    config = model.config.with_overrides({"head": head})
    keep = trainable_shapes(config)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.adapter_tensors().items()
             if k in keep and not k.startswith(tuple(f"{n}." for n in parts))}
    for name, tensors in parts.items():
        state.update({f"{name}.{k}": torch.as_tensor(v) for k, v in tensors.items()})
    write_checkpoint(out, config, state)
    back = HawkModel.from_pretrained(out)  # strict: every tensor fits the written config
    tensors = back.adapter_tensors()
    fitted = [k for k in state if k.startswith(tuple(f"{n}." for n in parts))]
    if not all(torch.allclose(tensors[k].float(), state[k].float()) for k in fitted):
        raise SystemExit(f"error: {out} did not load back the fitted {', '.join(parts)}")
    return back


def _fit_frames(a, model, cache, amp, train, spans, test, say) -> int:
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    from hawk_core.model.frame_head import frame_logits
    from hawk_core.training.heads import appearance_frame_rows, fit_binary_head, fit_projection, fit_sequence_head

    model.new_frame_head(context=a.context, appearance=a.appearance, flow=a.flow, model=a.head, hidden=a.hidden)
    if a.appearance:  # the fixed projection first: a PCA of the training frames' appearance features
        every = max(1, len(train) // 2000)  # every video's frames below 4,000 videos, every k-th one above
        rows = appearance_frame_rows(model, cache, train, amp, every=every, on_progress=say("appearance", len(train[::every])))
        weight, bias = fit_projection(rows, a.appearance)
        with torch.no_grad():
            model.frame_proj.weight.copy_(torch.from_numpy(weight))
            model.frame_proj.bias.copy_(torch.from_numpy(bias))
        print(f"projected the appearance features of {len(rows)} frames to {a.appearance} components")
    x, y, span = _frame_rows(model, cache, amp, train, spans, say, "fit")
    span = round(span, 3) if a.span is None else a.span
    if a.head == "gru":
        say_epoch = lambda e, loss: print(f"  epoch {e}/{a.epochs}: loss {loss:.4f}", file=sys.stderr)  # noqa: E731
        tensors = fit_sequence_head(x, y, hidden=a.hidden, epochs=a.epochs, seed=a.seed, on_epoch=say_epoch)
    else:
        weight, bias = fit_binary_head(np.concatenate(x), np.concatenate(y), c=a.c)
        tensors = {"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias)}
    model.frame_head.load_state_dict(tensors)
    model.frame_head.eval()

    def auc(x_, y_) -> float:
        with torch.no_grad():
            s_ = np.concatenate([frame_logits(model.frame_head, torch.from_numpy(np.asarray(r, dtype=np.float32))).numpy() for r in x_])
        y_ = np.concatenate(y_)
        return roc_auc_score(y_, s_) if 0 < y_.sum() < len(y_) else float("nan")

    n = sum(len(r) for r in y)
    share = float(np.concatenate(y).mean())
    print(f"fitted the frame head ({a.head}) on {n} frames of {len(train)} videos ({share:.2f} anomalous; "
          f"training frame AUC {auc(x, y):.3f})")
    if test is not None:
        xt, yt, _ = _frame_rows(model, cache, amp, test[0], test[1], say, "test")
        print(f"  on {a.test}: frame AUC {auc(xt, yt):.3f} over {sum(len(r) for r in yt)} frames "
              f"({float(np.concatenate(yt).mean()):.2f} anomalous)")
    head = {"frames": True, "frames_span": span, "frames_context": a.context, "frames_appearance": a.appearance,
            "frames_flow": a.flow, "frames_model": a.head, "frames_hidden": a.hidden}
    _write_with_head(a.out, model, head, {"frame_head": tensors})
    print(f"{a.out}: {a.model} with the fitted frame head (head.frames, {a.head}; it reads {span:g} s at once, "
          f"{a.appearance or 'no'} appearance components, {'with' if a.flow else 'no'} flow statistics)")
    return 0


def _install_encoder_head(a, model, cache, amp, test, say) -> int:
    """``--encoder-head FILE``: the class head on its own learnt encoder (``head.on:
    own_encoder``), the encoder and linear head FILE holds (``benchmarks/learned_probe.py
    --save``), scored on ``--test``."""
    import torch

    from hawk_core.synth.events import EVENT_TYPES
    from hawk_core.training.heads import pooled_features

    try:
        saved = torch.load(a.encoder_head, map_location="cpu", weights_only=True)
        enc, lin = saved["encoder"], saved["head"]
    except Exception as e:  # noqa: BLE001 - a missing, corrupt or foreign file
        raise SystemExit(f"error: {a.encoder_head}: not an encoder head written by learned_probe.py --save ({e})") from None
    classes = list(saved.get("classes", EVENT_TYPES))  # the probe trains on hawk synth's event types, in that order
    width = model.config.vision.flow_width
    if list(saved.get("keep", [])) != [0, 1, 2, 3, 4] or saved.get("width") != width:
        raise SystemExit(f"error: {a.encoder_head}: the encoder must read the whole motion input (RGB and flow) at the "
                         f"model's vision.flow_width {width}; it reads channels {saved.get('keep')} at width {saved.get('width')}")
    if tuple(lin["weight"].shape) != (len(classes), lin["weight"].shape[1]):
        raise SystemExit(f"error: {a.encoder_head}: its head has {lin['weight'].shape[0]} rows for {len(classes)} classes")
    head = {"classes": classes, "on": "own_encoder"}
    if a.guide is not None:
        head["guide"] = a.guide
    back = _write_with_head(a.out, model, head, {"cluster_head": lin, "head_encoder": enc})
    print(f"{a.out}: {a.model} with the class head on its own encoder from {a.encoder_head} (head.on own_encoder, "
          f"{len(classes)} classes{', guided' if back.config.head.guide else ''})")
    if test is not None:
        x = torch.from_numpy(pooled_features(back, cache, test[0], amp, read="own_encoder", on_progress=say("test", len(test[0]))))
        with torch.no_grad():
            pred = [classes[i] for i in back.cluster_head(x).argmax(1).tolist()]
        _say_test(a.test, pred, test[1], normal=back.config.head.normal)
    return 0


def _say_test(path: Path, pred: list[str], truth: list[str], normal: str | None = None) -> None:
    """Print a class head's accuracy on ``path``'s records, beside the majority class (and, with
    ``normal``, how often it tells that class from the others)."""
    k = sum(p_ == g for p_, g in zip(pred, truth))
    an = "" if normal is None else \
        f"anomaly vs normal {sum((p_ == normal) == (g == normal) for p_, g in zip(pred, truth)) / len(pred):.3f}; "
    print(f"  on {path}: accuracy {k / len(pred):.3f} ({k} of {len(pred)}); {an}majority class "
          f"{Counter(truth).most_common(1)[0][1] / len(pred):.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a checkpoint folder with a learnt motion encoder (vision.motion_encoder flow_cnn)")
    p.add_argument("--data", type=Path, required=True, help="the records the head is fit on (JSON / JSONL, HAWK format)")
    p.add_argument("--out", type=Path, required=True, help="the model folder to write (config.json + adapter.safetensors)")
    p.add_argument("--cache-dir", type=Path, required=True, help="hawk train's feature cache (missing entries are added)")
    p.add_argument("--test", type=Path, help="records to score the fitted head on (printed, not used in the fit)")
    p.add_argument("--label-field", default="event_type", help="the record field naming each video's class")
    p.add_argument("--limit", type=int, default=0, help="fit on the first N labelled records (0: all)")
    p.add_argument("--c", type=float, default=0.1, help="inverse L2 strength of the logistic regression")
    p.add_argument("--guide", action=argparse.BooleanOptionalAction, default=None, help="set head.guide (default: the source's)")
    p.add_argument("--encoder-head", type=Path, help="give the class head its own learnt encoder (head.on own_encoder): "
                   "install the encoder and head this file holds (benchmarks/learned_probe.py --save) instead of fitting one")
    p.add_argument("--frames", action="store_true", help="fit the per-frame anomaly head (head.frames) instead of the class head")
    p.add_argument("--gt", type=Path, help="with --frames: temporal ground truth for --data (default: its records' time_span)")
    p.add_argument("--span", type=float, help="with --frames: head.frames_span, the seconds hawk detect reads at once "
                   "(default: the median the fit records' sampled frames cover; 0: each window)")
    p.add_argument("--context", type=int, default=5, help="with --frames: head.frames_context, the neighbour distances "
                   "each frame is read with (default 5; 1: the adjacent frames only)")
    p.add_argument("--appearance", type=int, default=64, help="with --frames: head.frames_appearance, the appearance "
                   "components it also reads (default 64; 0: the motion encoder alone)")
    p.add_argument("--flow", action=argparse.BooleanOptionalAction, default=True, help="with --frames: head.frames_flow, "
                   "each frame's flow statistics read beside (default: on)")
    p.add_argument("--head", choices=("gru", "linear"), default="gru", help="with --frames: head.frames_model, a "
                   "bidirectional GRU over the clip's frames (default) or one logit per frame with --context")
    p.add_argument("--hidden", type=int, default=64, help="with --frames --head gru: head.frames_hidden (default 64)")
    p.add_argument("--epochs", type=int, default=20, help="with --frames --head gru: passes over the training clips (default 20)")
    p.add_argument("--seed", type=int, default=0, help="with --frames --head gru: the fit's seed (default 0)")
    p.add_argument("--test-gt", type=Path, help="with --frames: temporal ground truth for --test (default: its records' time_span)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    from hawk_core.errors import HawkError
    from hawk_core.model.hawk import HawkModel, write_checkpoint
    from hawk_core.runtime import autocast_dtype, set_threads
    from hawk_core.training.heads import fit_linear_head, pooled_features
    from hawk_core.training.samples import feature_cache

    if a.c <= 0:
        raise SystemExit(f"error: --c must be > 0, got {a.c}")
    if a.span is not None and not 0 <= a.span < float("inf"):
        raise SystemExit(f"error: --span must be seconds >= 0, got {a.span}")
    if a.hidden < 1 or a.epochs < 1:
        raise SystemExit(f"error: --hidden and --epochs must be >= 1, got {a.hidden} and {a.epochs}")
    if not 1 <= a.context <= 64:
        raise SystemExit(f"error: --context must be in [1, 64], got {a.context}")
    if not 0 <= a.appearance <= 4096:
        raise SystemExit(f"error: --appearance must be in [0, 4096], got {a.appearance}")
    if a.frames and a.encoder_head is not None:
        raise SystemExit("error: --frames fits the frame head and --encoder-head installs the class head: give one")
    if a.out.resolve() == a.model.resolve():
        raise SystemExit("error: --out must be another folder than the source model")
    set_threads(a.threads)
    try:
        if a.frames:
            train, y_train = _timed(a.data, a.gt, a.limit)
            test = _timed(a.test, a.test_gt, 0) if a.test else None
        else:
            train, y_train = _labelled(a.data, a.label_field, a.limit)
            test = _labelled(a.test, a.label_field, 0) if a.test else None
        model = HawkModel.from_pretrained(a.model)
        if "motion" not in model.branches or model.branches["motion"].encoder is None:
            raise SystemExit(f"error: {a.model} has no learnt motion encoder (vision.motion_encoder flow_cnn) for the head to read")
        amp = autocast_dtype("auto", torch.device("cpu"))
        cache = feature_cache(model, a.cache_dir, "float16", motion_branch=bool(model.use_motion), amp=amp)
        say = lambda what, n: (lambda done, s: print(f"  {what}: {done}/{n} videos, {s:.0f} s", file=sys.stderr))  # noqa: E731
        if a.frames:
            return _fit_frames(a, model, cache, amp, train, y_train, test, say)
        if a.encoder_head is not None:
            return _install_encoder_head(a, model, cache, amp, test, say)
        x_train = pooled_features(model, cache, train, amp, read="encoder", on_progress=say("fit", len(train)))
        classes, weight, bias = fit_linear_head(x_train, y_train, c=a.c)
        acc = float(((x_train @ weight.T + bias).argmax(1) == [classes.index(y) for y in y_train]).mean())
        print(f"fitted a {len(classes)}-class head on {len(train)} records' {a.label_field!r} "
              f"(training accuracy {acc:.3f}; majority class {Counter(y_train).most_common(1)[0][1] / len(y_train):.3f})")
        if test is not None:
            x_test = pooled_features(model, cache, test[0], amp, read="encoder", on_progress=say("test", len(test[0])))
            _say_test(a.test, [classes[i] for i in (x_test @ weight.T + bias).argmax(1)], test[1])
        head = {"classes": classes, "on": "encoder"}
        if a.guide is not None:
            head["guide"] = a.guide
        config = _write_with_head(a.out, model, head, {"cluster_head": {"weight": weight, "bias": bias}}).config
    except HawkError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{a.out}: {a.model} with the fitted head (head.on encoder, {len(classes)} classes"
          f"{', guided' if config.head.guide else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
