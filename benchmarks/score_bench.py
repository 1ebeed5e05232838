"""`hawk score` speed: BLEU, the MiniLM semantic metric, and the judge's throughput and cache.

    python benchmarks/score_bench.py                      # 248 real pairs x 8 = 1,984 items
    python benchmarks/score_bench.py --repeat 4 --latency 0.2 --workers 4 8 16

Pairs come from the HIVAU-70k test instructions in ../shared/data/text (see
tests/scoring_data.py); they are repeated with an index appended so every item is distinct.
The judge runs against the local OpenAI-compatible test server (tests/fake_openai.py) that
answers after ``--latency`` seconds, so the figures measure hawk's overhead and concurrency,
not a real model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HIVAU = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "text" / "hivau70k_test_instructions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.1, help="seconds the fake judge takes per request")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--judge-items", type=int, default=100)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from hawk_core.scoring import BleuConfig, Judge, JudgeConfig, ScoreItem, bleu_scores
    from hawk_core.scoring.semantic import SentenceEmbedder
    from tests.fake_openai import FakeOpenAI
    from tests.scoring_data import build_pairs

    refs, preds = build_pairs(HIVAU)
    by_video = {r["video"]: r for r in refs}
    items = []
    for k in range(args.repeat):
        for p in preds:
            ref = by_video[p["video"]]["description"] if p["task"] == "description" else by_video[p["video"]]["QA"][0]["a"]
            items.append(ScoreItem(id=f"{p['id']}#{k}", task=p["task"], prediction=f"{p['prediction']} ({k})", references=(ref,), question=p.get("question")))
    hyps, rs = [i.prediction for i in items], [i.references for i in items]
    bleu_scores(hyps[:2], rs[:2])  # import nltk before timing
    print(f"{len(items)} items ({len(preds)} real pairs x {args.repeat})")

    for mode in ("corpus", "sentence"):
        t = time.perf_counter()
        b = bleu_scores(hyps, rs, BleuConfig(mode=mode))
        dt = time.perf_counter() - t
        print(f"BLEU-1..4 {mode:8s}: {dt:6.2f} s ({len(items) / dt:7.0f} items/s)  BLEU-4 = {b[3]:.4f}")

    t = time.perf_counter()
    emb = SentenceEmbedder()
    load = time.perf_counter() - t
    t = time.perf_counter()
    emb.similarities(hyps, rs)
    dt = time.perf_counter() - t
    n_texts = len(set(hyps) | {r for x in rs for r in x})
    print(f"semantic (MiniLM, 1 thread): load {load:.2f} s, {n_texts} texts in {dt:.2f} s ({n_texts / dt:.0f} texts/s)")

    sub = items[: args.judge_items]
    with FakeOpenAI(delay=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            cache = Path(tmp) / f"cache{w}.jsonl"
            cfg = JudgeConfig(model="bench", base_url=server.base_url, api_key="test-key", workers=w, backoff=0, cache_path=cache)
            t = time.perf_counter()
            _, usage = Judge(cfg).run(sub)
            dt = time.perf_counter() - t
            server.reset()
            t = time.perf_counter()
            _, again = Judge(cfg).run(sub)
            dt2 = time.perf_counter() - t
            print(f"judge, {w:2d} workers, {args.latency * 1000:.0f} ms/request: {usage.requests} requests in {dt:6.2f} s "
                  f"({usage.requests / dt:6.1f} req/s); cached rerun {dt2:.2f} s, {len(server.requests)} requests")


if __name__ == "__main__":
    main()
