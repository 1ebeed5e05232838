"""`hawk split`: the seeded train/test split of a HAWK-format dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hawk_cli._common import JsonOut, console, guarded


@guarded
def split(
    data: Annotated[Path, typer.Argument(help="HAWK-format (or caption) records, JSON or JSONL.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for train.json, test.json and split.json.")] = Path("split"),
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=0.99, help="Share of videos held out (the paper: 0.1).")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shuffle; the same seed gives the same split.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing split in --out.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Split a dataset 90/10 by video, deterministically (seeded; independent of record order).

    All records of one video land on the same side, so no test video is trained on. Writes
    OUT/train.json and OUT/test.json (same record format, video paths rewritten relative to
    OUT so they still resolve) and OUT/split.json (seed, fraction, counts, test videos).
    `hawk train` makes the same split itself from --seed and --test-fraction.

    Examples:
      hawk split hawk_data.json --out splits/
      hawk split captions.jsonl --out splits/webvid --test-fraction 0.05 --seed 1
    """
    import json

    from hawk_core.data.records import load_hawk_records, relativize, split_records, write_records
    from hawk_core.errors import InputError
    from hawk_core.io import write_json

    records = load_hawk_records(data)
    train, test = split_records(records, test_fraction, seed)
    names = ("train.json", "test.json", "split.json")
    if not overwrite and any((out / n).exists() for n in names):
        raise InputError(f"{out} already holds a split; pass --overwrite to replace it")
    write_records(out / "train.json", relativize(train, out))
    write_records(out / "test.json", relativize(test, out))
    summary = {
        "data": str(data),
        "seed": seed,
        "test_fraction": test_fraction,
        "records": {"train": len(train), "test": len(test)},
        "videos": {"train": len({r.path for r in train}), "test": len({r.path for r in test})},
        "qa_pairs": {"train": sum(len(r.qa) for r in train), "test": sum(len(r.qa) for r in test)},
        "test_videos": sorted({r.video for r in test}),
    }
    write_json(out / "split.json", summary)
    if json_out:
        console.print_json(json.dumps({"out": str(out), **summary}))
        return
    console.print(
        f"[bold]{summary['videos']['train']}[/] train / [bold]{summary['videos']['test']}[/] test videos "
        f"({len(train)} / {len(test)} records, seed {seed}) -> {out}/train.json, {out}/test.json"
    )
