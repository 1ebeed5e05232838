"""Prediction over many processes or machines: shards, their part files, and the merge.

A run over a split is cut into N shards *by video*: the split's distinct videos, in order of
first appearance, are dealt round-robin (video j goes to shard ``j mod N``), so every shard
gets all the questions about its videos (each video is read and encoded once) and the shard
sizes differ by at most one video. The assignment depends only on the split and the tasks,
so every process computes the same one on its own - no coordination is needed, and a SLURM
array works as well as torchrun.

Shard K of N writes ``OUT.part-K-of-N.jsonl`` (resumable like any predictions file, with its
own ``.meta.json``) and ``OUT.part-K-of-N.jsonl.plan.json``: the ids it must produce, their
places in the whole run's order, and a fingerprint of the whole run's ids. :func:`merge_parts`
checks that all N parts are there, come from the same run (same fingerprint, same settings),
and hold every planned id exactly once, then writes OUT atomically, in the order one process
would have written it.
An incomplete set is refused (naming what is missing) unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError, InputError
from .split import PredictionItem, meta_path

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--shard: the number of shards must be >= 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"--shard {self.index}/{self.count}: K must be in 0..{self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` (K counted from 0, as torchrun's RANK and ``--array=0-N`` in SLURM)."""
        m = _SHARD.match(text or "")
        if not m:
            raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 0/4 (K from 0 to N-1)")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def from_env(cls, env: dict | None = None) -> Shard | None:
        """The shard torchrun describes (RANK of WORLD_SIZE), or None outside torchrun."""
        env = os.environ if env is None else env
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
        except ValueError:
            raise ConfigError(f"WORLD_SIZE / RANK are not integers: {env.get('WORLD_SIZE')!r}, {env.get('RANK')!r}") from None
        return cls(rank, world) if world > 1 else None

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def part_path(out: Path, shard: Shard) -> Path:
    """``preds.jsonl`` -> ``preds.part-K-of-N.jsonl``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.part-{shard.index}-of-{shard.count}{out.suffix or '.jsonl'}")


def plan_path(part: Path) -> Path:
    return Path(part).with_name(Path(part).name + ".plan.json")


def fingerprint(items: Sequence[PredictionItem]) -> str:
    """What makes two shards parts of one run: the whole run's ids, in order."""
    h = hashlib.sha256()
    for it in items:
        h.update(it.id.encode("utf-8") + b"\n")
    return h.hexdigest()[:16]


def shard_items(items: Sequence[PredictionItem], shard: Shard) -> list[PredictionItem]:
    """The items of ``shard``: those of every N-th distinct video (see module doc)."""
    order: dict[str, int] = {}
    for it in items:
        order.setdefault(str(it.path), len(order))
    return [it for it in items if order[str(it.path)] % shard.count == shard.index]


def write_plan(out: Path, shard: Shard, items: Sequence[PredictionItem]) -> Path:
    """Write shard ``shard``'s plan beside its part file; returns the part file's path.
    Refuses a part file planned for another run (other split, tasks or --limit)."""
    from ..io import write_json

    part = part_path(out, shard)
    mine = shard_items(items, shard)
    # the order one process writes in: grouped by video, videos in order of first appearance
    first: dict[str, int] = {}
    for it in items:
        first.setdefault(str(it.path), len(first))
    ranked = sorted(range(len(items)), key=lambda i: (first[str(items[i].path)], i))
    position = {items[i].id: rank for rank, i in enumerate(ranked)}
    plan = {
        "shard": str(shard),
        "run": fingerprint(items),
        "total": len(items),
        "ids": [it.id for it in mine],
        "positions": [position[it.id] for it in mine],
    }
    pp = plan_path(part)
    if pp.is_file() and part.is_file() and part.stat().st_size > 0:
        old = _read_json(pp)
        if old.get("run") != plan["run"]:
            raise InputError(f"{part} belongs to another run (other split, --tasks or --limit); pass --overwrite or another --out")
    write_json(pp, plan, indent=None)
    return part


@dataclass
class MergeReport:
    out: Path
    shards: int
    records: int
    total: int
    missing: dict[str, int] = field(default_factory=dict)  # part file name -> planned ids it lacks
    merged: bool = False

    def to_dict(self) -> dict:
        return {"out": str(self.out), "shards": self.shards, "records": self.records, "total": self.total,
                "missing": self.missing, "merged": self.merged}


def find_parts(out: Path) -> dict[int, list[Path]]:
    """Part files of ``out`` by shard count: ``{N: [part 0, ..., part N-1 (those present)]}``."""
    out = Path(out)
    pat = re.compile(re.escape(out.stem) + r"\.part-(\d+)-of-(\d+)" + re.escape(out.suffix or ".jsonl") + "$")
    found: dict[int, dict[int, Path]] = {}
    if out.parent.is_dir():
        for p in out.parent.iterdir():
            m = pat.match(p.name)
            if m:
                found.setdefault(int(m.group(2)), {})[int(m.group(1))] = p
    return {n: [ks[k] for k in sorted(ks)] for n, ks in found.items()}


def merge_parts(out: Path, *, shards: int | None = None, force: bool = False) -> MergeReport:
    """Merge ``OUT.part-K-of-N.jsonl`` into ``OUT`` (see module doc). Raises
    :class:`DataError` for a set that is incomplete (unless ``force``) or inconsistent."""
    from ..io import atomic_path, read_jsonl_prefix, write_json

    out = Path(out)
    groups = find_parts(out)
    if shards is not None:
        groups = {n: ps for n, ps in groups.items() if n == shards}
    if not groups:
        raise InputError(f"no part files {out.stem}.part-K-of-N{out.suffix} beside {out}" + (f" for {shards} shards" if shards else ""))
    if len(groups) > 1:
        raise DataError(f"part files of {out} for {' and '.join(str(n) for n in sorted(groups))} shards; remove the stale ones")
    n, parts = next(iter(groups.items()))
    present = {int(re.search(r"\.part-(\d+)-of-", p.name).group(1)) for p in parts}
    absent = [k for k in range(n) if k not in present]
    plans = [(_read_plan(p), p) for p in parts]
    runs = {plan["run"] for plan, _ in plans}
    if len(runs) > 1:
        raise DataError(f"the part files of {out} come from different runs (other split, --tasks or --limit); rerun or remove the stale ones")
    metas = {json.dumps(_read_json(meta_path(p)), sort_keys=True) for p in parts if meta_path(p).is_file()}
    if len(metas) > 1:
        raise DataError(f"the part files of {out} were written with different settings (model, frames or generation); they cannot be merged")
    total = plans[0][0]["total"]
    by_pos: dict[int, dict] = {}
    report = MergeReport(out, n, 0, total)
    for plan, part in plans:
        position = dict(zip(plan["ids"], plan["positions"]))
        seen: set[str] = set()
        for rec in read_jsonl_prefix(part):
            rid = rec.get("id")
            if rid not in position:
                raise DataError(f"{part}: record {rid!r} is not in its shard's plan")
            if rid in seen:
                raise DataError(f"{part}: record {rid!r} appears twice")
            seen.add(rid)
            by_pos[position[rid]] = rec
        if len(seen) < len(position):
            report.missing[part.name] = len(position) - len(seen)
    for k in absent:
        report.missing[part_path(out, Shard(k, n)).name] = -1  # the whole part
    report.records = len(by_pos)
    if report.missing and not force:
        what = ", ".join(f"{name}: {'absent' if c < 0 else f'{c} missing'}" for name, c in sorted(report.missing.items()))
        raise DataError(
            f"{report.records} of {total} predictions in {n} part(s) ({what}); rerun the incomplete shard(s) to "
            "resume them, or merge what there is with --force"
        )
    with atomic_path(out) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for pos in sorted(by_pos):
                fh.write(json.dumps(by_pos[pos], ensure_ascii=False) + "\n")
    if metas:
        write_json(meta_path(out), json.loads(next(iter(metas))))
    report.merged = True
    return report


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _read_plan(part: Path) -> dict:
    plan = _read_json(plan_path(part))
    if not {"run", "total", "ids", "positions"} <= set(plan) or len(plan["ids"]) != len(plan["positions"]):
        raise DataError(f"{plan_path(part)}: missing or unreadable (it is written when the shard starts); rerun that shard")
    return plan
