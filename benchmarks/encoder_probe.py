"""What a trained model's visual tokens carry of the event, before any language is read.

    python benchmarks/encoder_probe.py --model runs/align/model --train data/train.json \
        --test data/t2/test.json --cache-dir runs/cache [--limit-train 800] [--json]

For each video, the model's two branches (frozen or learnt encoder, video Q-Former,
projection: exactly what the LLM is given) turn the cached features into tokens; their mean
and max over the query tokens, both branches side by side, feed a standardised logistic
regression fit on the training records' event types and scored on the test records (a
`hawk synth` split from an unseen seed). It prints event-type accuracy and anomaly vs normal
with 95% Wilson intervals, beside the majority-class baseline, and the features' relative
spread: the RMS distance of a test video's pooled features from their mean over the test
videos, divided by that mean's norm. The probe standardises its inputs, so it can read
differences of a fraction of a percent that an LLM reading the raw tokens does not see: a
spread near 0 means the branches hand every video the same tokens (the Q-Formers collapsed, as
L_MV alone does to them), whatever the accuracy says. Measured on the 120 seed-4 videos
(`benchmarks/feature_probe.md`): Q-Formers as initialised over a trained flow_cnn encoder 0.052
(probe 0.19), after 300 steps of their own head (`--head-on tokens --freeze-encoder`) 0.307
(probe 0.34). Check it before the language stage.

`--read encoder` fits the probe on the learnt motion encoder's own tokens instead (flow_cnn:
their mean and max over frames and cells, what `hawk train --head-on encoder` trains), to tell
what the encoder carries from what the Q-Formers pass on.

Use it to choose a stage-A checkpoint before the (much dearer) language stage, or to tell
whether a model that names the wrong event fails in its visual side or in its language side.
Fit it on videos the model did not train on (a fresh `hawk synth` seed): fit on its own
training videos, it reads tokens that may be fit to those very descriptions and can show a
decline with training that an unseen fit does not (`benchmarks/feature_probe.md`).
Features missing from the cache are computed (as `hawk train` would) and stored there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ablation import wilson  # noqa: E402


def _progress(what: str, total: int):
    return lambda done, seconds: print(f"  {what}: {done}/{total} videos, {seconds:.0f} s", file=sys.stderr)


def relative_spread(x: "np.ndarray") -> float:  # noqa: F821
    """RMS distance of the rows of ``x`` from their mean, divided by the mean's norm (0: all rows equal)."""
    import numpy as np

    centre = x.mean(0)
    rms = float(np.sqrt(((x - centre) ** 2).sum(1).mean()))
    norm = float(np.linalg.norm(centre))
    return rms / norm if norm > 0 else float("inf") if rms > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a hawk checkpoint folder (config.json + adapter)")
    ap.add_argument("--train", type=Path, required=True, help="hawk synth records the probe is fit on")
    ap.add_argument("--test", type=Path, required=True, help="hawk synth records from an unseen seed")
    ap.add_argument("--cache-dir", type=Path, required=True, help="hawk train's feature cache (missing entries are added)")
    ap.add_argument("--limit-train", type=int, default=800, help="the first N training records (0: all)")
    ap.add_argument("--limit-test", type=int, default=0, help="the first N test records (0: all)")
    ap.add_argument("--read", choices=("tokens", "encoder"), default="tokens",
                    help="tokens: both branches' tight features, as the LLM's tokens are made (default); encoder: the "
                         "learnt motion encoder's own tokens (flow_cnn), what `hawk train --head-on encoder` trains")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    import numpy as np
    import torch

    from hawk_core.data.records import load_hawk_records
    from hawk_core.errors import HawkError
    from hawk_core.model.hawk import HawkModel
    from hawk_core.runtime import autocast_dtype, set_threads
    from hawk_core.training.heads import fit_linear_head, pooled_features
    from hawk_core.training.samples import feature_cache

    set_threads(a.threads)
    try:
        train = [r for r in load_hawk_records(a.train) if r.extra.get("event_type")]
        test = [r for r in load_hawk_records(a.test) if r.extra.get("event_type")]
        if a.limit_train:
            train = train[: a.limit_train]
        if a.limit_test:
            test = test[: a.limit_test]
        if not train or not test:
            raise SystemExit("error: the records hold no event_type (a hawk synth split is needed)")
        model = HawkModel.from_pretrained(a.model)
        if a.read == "encoder" and ("motion" not in model.branches or model.branches["motion"].encoder is None):
            raise SystemExit(f"error: {a.model} has no learnt motion encoder (vision.motion_encoder flow_cnn) for --read encoder")
        amp = autocast_dtype("auto", torch.device("cpu"))
        cache = feature_cache(model, a.cache_dir, "float16", motion_branch=bool(model.use_motion), amp=amp)
        x_train = pooled_features(model, cache, train, amp, read=a.read, on_progress=_progress("train", len(train)))
        x_test = pooled_features(model, cache, test, amp, read=a.read, on_progress=_progress("test", len(test)))
    except HawkError as e:
        raise SystemExit(f"error: {e}") from None
    y_train = [r.extra["event_type"] for r in train]
    y_test = [r.extra["event_type"] for r in test]
    classes, weight, bias = fit_linear_head(x_train, y_train, c=0.1)  # what recipes/fit_head.py puts in a model
    pred = [classes[i] for i in (x_test @ weight.T + bias).argmax(1)]
    n = len(y_test)
    k_event = int(sum(p == g for p, g in zip(pred, y_test)))
    k_anom = int(sum((p == "normal") == (g == "normal") for p, g in zip(pred, y_test)))
    per = {e: round(float(np.mean([p == e for p, g in zip(pred, y_test) if g == e])), 3) for e in sorted(set(y_test))}
    out = {"model": str(a.model), "read": a.read, "train": len(train), "test": n, "event_acc": k_event / n, "event_ci": wilson(k_event, n),
           "anomaly_acc": k_anom / n, "anomaly_ci": wilson(k_anom, n),
           "majority": Counter(y_test).most_common(1)[0][1] / n,
           "always_anomaly": sum(g != "normal" for g in y_test) / n, "per_event": per,
           "spread": relative_spread(x_test)}
    if a.json:
        print(json.dumps(out, indent=2))
        return
    what = "the motion encoder's tokens" if a.read == "encoder" else "the visual tokens"
    print(f"{a.model}: linear probe on {what}, {len(train)} training / {n} test videos")
    print(f"  event-type accuracy {out['event_acc']:.3f} [{out['event_ci'][0]:.3f}, {out['event_ci'][1]:.3f}]"
          f"   (majority class {out['majority']:.3f})")
    print(f"  anomaly vs normal   {out['anomaly_acc']:.3f} [{out['anomaly_ci'][0]:.3f}, {out['anomaly_ci'][1]:.3f}]"
          f"   (always anomaly {out['always_anomaly']:.3f})")
    print("  per event: " + ", ".join(f"{e} {v:.2f}" for e, v in per.items()))
    print(f"  relative spread of the features over the test videos {out['spread']:.4f}   (near 0: one output for every video)")


if __name__ == "__main__":
    main()
