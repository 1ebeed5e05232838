"""Merge HAWK-format record files into one training file.

    python recipes/merge_records.py data/train.json data/z2/train.json data/z1/train.json

Each record's relative video path is rewritten relative to the output's folder (absolute ones
are kept), so the merged file reads the same videos from where it is written. The output is
written atomically; record ids must stay unique.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("inputs", type=Path, nargs="+")
    a = ap.parse_args()
    from hawk_core.io import atomic_path, read_json_or_jsonl

    out_dir = a.out.resolve().parent
    merged, seen = [], set()
    for src in a.inputs:
        recs = read_json_or_jsonl(src)
        if not isinstance(recs, list):
            raise SystemExit(f"error: {src}: expected a list of records")
        for r in recs:
            if not isinstance(r, dict) or "video" not in r:
                raise SystemExit(f"error: {src}: a record without a 'video' field")
            rid = r.get("id")
            if rid is not None and rid in seen:
                raise SystemExit(f"error: {src}: record id {rid!r} is already in an earlier file")
            seen.add(rid)
            video = Path(r["video"])
            if not video.is_absolute():
                r = {**r, "video": os.path.relpath((src.resolve().parent / video), out_dir)}
            merged.append(r)
    with atomic_path(a.out) as tmp:
        tmp.write_text(json.dumps(merged, indent=1), encoding="utf-8")
    print(f"{a.out}: {len(merged)} records from {len(a.inputs)} files")


if __name__ == "__main__":
    main()
