"""Motion-language extraction throughput: hawk's extractor vs spaCy's own ``nlp.pipe``.

Over the 3,339 answers of HIVAU-70k's test split (../shared/data/text), three runs on the
same texts, same batch size, interleaved and repeated (CPU time, best of --repeats):

* ``spacy pipe (full)``: the embedded pipeline as spaCy ships it (with NER), parse only;
* ``spacy pipe (parser)``: the same pipeline without NER (the components hawk loads), parse only;
* ``hawk extract``: :func:`hawk_core.language.phrases.extract_phrases` (that parse + the extraction).

    python benchmarks/parse_bench.py
    python benchmarks/parse_bench.py --repeats 3 --batch-size 64 --limit 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_TEXTS = SHARED / "text" / "hivau70k_test_instructions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=Path, default=DEFAULT_TEXTS)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--slices", type=int, default=10, help="interleave the three runs over this many slices")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts (0: all)")
    args = ap.parse_args()

    import spacy

    from hawk_core.embedded import SPACY_PACKAGE
    from hawk_core.language.phrases import extract_phrases, load_parser

    texts = []
    with open(args.texts, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                texts.append(r.get("anwser") or r.get("answer") or r.get("description") or "")
    if args.limit:
        texts = texts[: args.limit]
    words = sum(len(t.split()) for t in texts)

    full = spacy.load(SPACY_PACKAGE)
    hawk_nlp = load_parser()
    list(full.pipe(texts[:50]))  # warm up both
    extract_phrases(texts[:50], hawk_nlp)

    def pipe_full(part):
        for _ in full.pipe(part, batch_size=args.batch_size):
            pass
        return 0

    def pipe_parser(part):
        for _ in hawk_nlp.pipe(part, batch_size=args.batch_size):
            pass
        return 0

    def hawk(part):
        return sum(len(p) for p in extract_phrases(part, hawk_nlp, batch_size=args.batch_size))

    # The machine may be shared: runs alternate slice by slice (so a burst of load hits all
    # three alike) and CPU time of this process is the measure (wall time is printed too).
    runs = {"spacy pipe (full)": pipe_full, "spacy pipe (parser)": pipe_parser, "hawk extract": hawk}
    n_slices = max(1, min(args.slices, len(texts)))
    step = -(-len(texts) // n_slices)
    slices = [texts[i : i + step] for i in range(0, len(texts), step)]
    best = {k: float("inf") for k in runs}
    wall = {k: float("inf") for k in runs}
    phrases = 0
    for _ in range(args.repeats):
        cpu = dict.fromkeys(runs, 0.0)
        wl = dict.fromkeys(runs, 0.0)
        count = 0
        for part in slices:
            for name, fn in runs.items():
                c0, w0 = time.process_time(), time.perf_counter()
                count += fn(part)
                cpu[name] += time.process_time() - c0
                wl[name] += time.perf_counter() - w0
        phrases = count
        for k in runs:
            best[k] = min(best[k], cpu[k])
            wall[k] = min(wall[k], wl[k])

    print(f"{len(texts)} texts, {words} words, {phrases} phrases; batch {args.batch_size}; {n_slices} interleaved slices; best of {args.repeats}")
    print(f"{'run':<22}{'CPU s':>8}{'wall s':>8}{'texts/s':>10}{'phrases/s':>11}{'words/s':>10}")
    for name, sec in best.items():
        ph = f"{phrases / sec:>11.0f}" if name == "hawk extract" else f"{'-':>11}"
        print(f"{name:<22}{sec:>8.2f}{wall[name]:>8.2f}{len(texts) / sec:>10.1f}{ph}{words / sec:>10.0f}")
    h = best["hawk extract"]
    print(f"hawk / spacy pipe (parser): {best['spacy pipe (parser)'] / h:.2f}x the throughput")
    print(f"hawk / spacy pipe (full):   {best['spacy pipe (full)'] / h:.2f}x the throughput")


if __name__ == "__main__":
    main()
