"""Training items: the records flattened into what one sample asks and answers.

One description item per record with a description (or caption) and one item per QA pair, so
both tasks are trained jointly (paper, section 5) and every QA pair is seen once per epoch.
Each time a description item is drawn, one of the paper's 20 describe prompts (appendix D;
stage 1 captions: ``prompts/caption_prompts.txt``) is picked by an RNG seeded from (seed,
epoch, position), so the draw is reproducible and a resumed run sees exactly the prompts an
uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DataError
from .records import TASK_DESCRIPTION, TASK_QA, HawkRecord


def describe_prompts() -> list[str]:
    """The paper's 20 describe prompts (appendix D)."""
    from ..language.prompts import DESCRIBE_PROMPTS

    if not DESCRIBE_PROMPTS:
        raise DataError("no describe prompts found (prompts/describe_prompts.txt is empty)")
    return list(DESCRIBE_PROMPTS)


def caption_prompts() -> list[str]:
    """Prompts for stage-1 caption records, one per line in ``prompts/caption_prompts.txt``."""
    from ..language.prompts import prompts_dir

    path = prompts_dir() / "caption_prompts.txt"
    if not path.is_file():
        raise DataError(f"missing prompt file {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    prompts = [ln for ln in lines if ln and not ln.startswith("#")]
    if not prompts:
        raise DataError(f"{path} holds no prompts")
    return prompts


@dataclass(frozen=True)
class Item:
    """One trainable unit: a record and what to ask about it."""

    record: int  # index into the record list
    task: str  # "description" | "qa"
    qa: int = -1  # index into record.qa for task "qa"


def build_items(records: Sequence[HawkRecord]) -> list[Item]:
    """One describe item per record with a description/caption, one item per QA pair."""
    items: list[Item] = []
    for i, r in enumerate(records):
        if r.text:
            items.append(Item(i, TASK_DESCRIPTION))
        items.extend(Item(i, TASK_QA, j) for j in range(len(r.qa)))
    return items


def item_rng(seed: int, *keys: int | str) -> random.Random:
    """An RNG determined by ``seed`` and ``keys`` alone (stable across processes and runs)."""
    h = hashlib.sha256(json.dumps([seed, *keys]).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


def question_and_answer(record: HawkRecord, item: Item, rng: random.Random, *, describe: Sequence[str], caption: Sequence[str]) -> tuple[str, str]:
    """The question (a drawn describe/caption prompt, or the QA question) and its answer."""
    if item.task == TASK_QA:
        p = record.qa[item.qa]
        return p.q, p.a
    if record.description:
        return rng.choice(list(describe)), record.description
    return rng.choice(list(caption)), record.caption or ""


def target_texts(records: Sequence[HawkRecord]) -> list[str]:
    """Every ground-truth text a sample can be trained on (descriptions/captions, answers)."""
    out = []
    for r in records:
        if r.text:
            out.append(r.text)
        out.extend(p.a for p in r.qa)
    return out
