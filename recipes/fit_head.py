"""Fit a model's own class head on its learnt motion encoder, in closed form, and write the model.

    python recipes/fit_head.py RUN/model --data train.json --cache-dir runs/cache --out RUN_HEAD/model \
        [--test val.json] [--label-field event_type] [--c 0.1] [--guide]

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
    if a.out.resolve() == a.model.resolve():
        raise SystemExit("error: --out must be another folder than the source model")
    set_threads(a.threads)
    try:
        train, y_train = _labelled(a.data, a.label_field, a.limit)
        test = _labelled(a.test, a.label_field, 0) if a.test else None
        model = HawkModel.from_pretrained(a.model)
        if "motion" not in model.branches or model.branches["motion"].encoder is None:
            raise SystemExit(f"error: {a.model} has no learnt motion encoder (vision.motion_encoder flow_cnn) for the head to read")
        amp = autocast_dtype("auto", torch.device("cpu"))
        cache = feature_cache(model, a.cache_dir, "float16", motion_branch=bool(model.use_motion), amp=amp)
        say = lambda what, n: (lambda done, s: print(f"  {what}: {done}/{n} videos, {s:.0f} s", file=sys.stderr))  # noqa: E731
        x_train = pooled_features(model, cache, train, amp, read="encoder", on_progress=say("fit", len(train)))
        classes, weight, bias = fit_linear_head(x_train, y_train, c=a.c)
        acc = float(((x_train @ weight.T + bias).argmax(1) == [classes.index(y) for y in y_train]).mean())
        print(f"fitted a {len(classes)}-class head on {len(train)} records' {a.label_field!r} "
              f"(training accuracy {acc:.3f}; majority class {Counter(y_train).most_common(1)[0][1] / len(y_train):.3f})")
        if test is not None:
            x_test = pooled_features(model, cache, test[0], amp, read="encoder", on_progress=say("test", len(test[0])))
            pred = [classes[i] for i in (x_test @ weight.T + bias).argmax(1)]
            k = sum(p_ == g for p_, g in zip(pred, test[1]))
            print(f"  on {a.test}: accuracy {k / len(pred):.3f} ({k} of {len(pred)}); majority class "
                  f"{Counter(test[1]).most_common(1)[0][1] / len(pred):.3f}")
        head = {"classes": classes, "on": "encoder"}
        if a.guide is not None:
            head["guide"] = a.guide
        config = model.config.with_overrides({"head": head})
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.adapter_tensors().items() if not k.startswith("cluster_head.")}
        state["cluster_head.weight"] = torch.from_numpy(weight)
        state["cluster_head.bias"] = torch.from_numpy(bias)
        write_checkpoint(a.out, config, state)
        back = HawkModel.from_pretrained(a.out)  # strict: every tensor fits the written config
        if not torch.allclose(back.cluster_head.weight.detach(), state["cluster_head.weight"]):
            raise SystemExit(f"error: {a.out} did not load back the fitted head")
    except HawkError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{a.out}: {a.model} with the fitted head (head.on encoder, {len(classes)} classes"
          f"{', guided' if config.head.guide else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
