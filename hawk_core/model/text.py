"""The text side of the HAWK model: the examples' text (:class:`TextSample`), prompt
rendering in the LLM's format (the paper's instruction in its chat template, plain, or the
authors' ``release`` prompt) and tokenisation into a :class:`TextBatch`, with the slots the
visual tokens are spliced into (:meth:`~hawk_core.model.hawk.HawkModel.embed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError, InputError
from ..language.prompts import MOTION_PLACEHOLDER, RELEASE_SYSTEM, VIDEO_PLACEHOLDER, render_instruction, render_release_prompt
from .losses import IGNORE_INDEX

if TYPE_CHECKING:  # pragma: no cover
    from .config import LLMConfig
    from .hawk import HawkModel

VIDEO_SLOT = -1  # placeholder ids in TextBatch.input_ids, replaced by visual tokens
MOTION_SLOT = -2


@dataclass
class TextSample:
    """One training/inference example's text.

    ``instruction``: a question or describe prompt (rendered into the paper's template) or an
    already rendered instruction containing ``<VIDEO_EMBEDDING>`` (used as is).
    ``answer``: the target (empty for generation). ``motion_text``: the motion phrases Y_m for
    L_ML, or None. ``history``: earlier (question, answer) turns of a chat; the video goes
    into the first turn. ``frame_times``: seconds of the sampled frames, which the ``release``
    prompt format writes into the prompt (other formats ignore them). ``event``: the class
    a guided model (``head.guide``) names after the first question, or None (no guide
    sentence; ignored by a model without the guide). ``start``: the seconds at which the
    guide says the event starts (``head.guide_start``), or None (no start named).
    """

    instruction: str
    answer: str = ""
    motion_text: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    frame_times: list[float] | None = None
    event: str | None = None
    start: float | None = None


def _moved(batch, device):
    """A copy of the dataclass ``batch`` with each of its tensors on ``device`` (other fields kept)."""
    return type(batch)(**{f.name: (v.to(device) if isinstance(v := getattr(batch, f.name), torch.Tensor) else v) for f in fields(batch)})


@dataclass
class TextBatch:
    """Tokenised batch. Shapes: B samples, L text+visual positions, Bm samples with motion
    phrases, Lm their sequence length.

    input_ids (B, L) long: token ids, VIDEO_SLOT / MOTION_SLOT where visual tokens go, pad
    elsewhere; attention_mask (B, L); labels (B, L): answer ids, IGNORE_INDEX elsewhere.
    motion_ids / motion_attention_mask / motion_labels (Bm, Lm) and motion_index (Bm,) (rows of
    the batch they belong to), or None when no sample has motion phrases. classes (B,) long:
    the records' classes for the class head of ``train.label_weight`` (-1: none), or None.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    motion_ids: torch.Tensor | None = None
    motion_attention_mask: torch.Tensor | None = None
    motion_labels: torch.Tensor | None = None
    motion_index: torch.Tensor | None = None
    classes: torch.Tensor | None = None  # (B,) long: each sample's record class (-1: none), for train.label_weight

    def to(self, device) -> TextBatch:
        return _moved(self, device)

    def __len__(self) -> int:
        return self.input_ids.size(0)


@dataclass
class WordBatch:
    """The alignment stage's targets (``train.objective: words``), read by
    :meth:`HawkModel.forward` in place of a :class:`TextBatch`: the vocabulary's LLM token ids
    (K,) and each sample's target distribution over them (B, K); built by
    :class:`hawk_core.data.words.WordVocab`. ``mode`` is ``train.words_loss``: ``bag`` scores
    the targets as one softmax (:func:`hawk_core.model.losses.words_loss`), ``tags`` each word
    of ``active`` (K,) bool as a yes/no offset by its prior ``log_odds`` (K,)
    (:func:`~hawk_core.model.losses.tags_loss`), ``contrastive`` each target row as one text
    against the batch's others (:func:`~hawk_core.model.losses.contrastive_loss`), ``clusters``
    each sample's text cluster ``labels`` (B,) long (-1: none) (:func:`~hawk_core.model.losses.clusters_loss`), ``labels`` its record class the same way."""

    word_ids: torch.Tensor
    targets: torch.Tensor
    log_odds: torch.Tensor | None = None
    active: torch.Tensor | None = None
    mode: str = "bag"
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.size(0))

    def to(self, device) -> WordBatch:
        return _moved(self, device)


def chat_format(tokenizer, llm: LLMConfig) -> str:
    """How prompts are written: ``release``, ``chat_template`` or ``plain`` (``llm.prompt_format``
    with ``auto`` resolved by whether the tokenizer has a chat template)."""
    fmt = llm.prompt_format
    if fmt == "release":
        return "release"
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if fmt == "chat_template" and not has_template:
        raise ConfigError("llm.prompt_format is 'chat_template' but the LLM's tokenizer has no chat template")
    return "chat_template" if (fmt == "chat_template" or (fmt == "auto" and has_template)) else "plain"


def render_prompt(model: HawkModel, instruction: str, history: list[tuple[str, str]] | None = None,
                  frame_times: list[float] | None = None, event: str | None = None, start: float | None = None) -> str:
    """The LLM's prompt text (placeholders still in), ending where the answer starts.
    ``frame_times`` (seconds of the sampled frames) are needed by the release format.
    ``event``: with ``head.guide``, the class named in the guide sentence after the first
    turn's question (None: no guide sentence); ``start``: with ``head.guide_start``, the seconds
    at which that sentence says the event starts (None: not said)."""
    turns = [(q, a) for q, a in (history or [])] + [(instruction, None)]
    head = model.config.head
    guide = head.guide_sentence(event, start) if (head.guide and event is not None) else None
    if model.chat_format == "release":
        if any(VIDEO_PLACEHOLDER in q or MOTION_PLACEHOLDER in q for q, _ in turns):
            raise InputError(f"the release prompt format places the visual tokens itself; give the question without {VIDEO_PLACEHOLDER}")
        if frame_times is None:
            raise InputError("the release prompt format needs the sampled frames' times (frame_times)")
        tok = model.tokenizer
        system = model.config.llm.system_prompt
        if guide is not None:
            turns[0] = (f"{turns[0][0].rstrip()} {guide}", turns[0][1])
        return render_release_prompt(turns, frame_times, bos=tok.bos_token or "", eos=tok.eos_token or "",
                                     system=RELEASE_SYSTEM if system is None else system, motion=model.use_motion)
    first = turns[0][0]
    if VIDEO_PLACEHOLDER not in first:
        first = render_instruction(first, motion=model.use_motion)
    elif model.use_motion and MOTION_PLACEHOLDER not in first:
        raise InputError(f"instruction has {VIDEO_PLACEHOLDER} but not {MOTION_PLACEHOLDER}: {first[:80]!r}")
    if not model.use_motion and MOTION_PLACEHOLDER in first:
        raise InputError(f"the model has no motion branch (ablated) but the instruction has {MOTION_PLACEHOLDER}")
    if guide is not None:  # after the first question, nearest the answer
        first = f"{first.rstrip()} {guide}"
    turns[0] = (first, turns[0][1])
    for q, _ in turns[1:]:
        if VIDEO_PLACEHOLDER in q or MOTION_PLACEHOLDER in q:
            raise InputError("only the first turn of a chat may carry the video placeholders")
    system = model.config.llm.system_prompt
    if model.chat_format == "chat_template":
        messages = [{"role": "system", "content": system}] if system else []
        for q, a in turns:
            messages.append({"role": "user", "content": q})
            if a is not None:
                messages.append({"role": "assistant", "content": a})
        return model.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    eos = model.tokenizer.eos_token or ""
    text = (model.tokenizer.bos_token or "") + (f"{system}\n" if system else "")
    for q, a in turns:
        text += f"USER: {q}\nASSISTANT:" + ("" if a is None else f" {a}{eos}\n")
    return text


def encode(model: HawkModel, text: str) -> list[int]:
    """Token ids of ``text`` (no special tokens)."""
    return model.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def prompt_ids(model: HawkModel, instruction: str, history, frame_times=None, event: str | None = None,
               start: float | None = None) -> list[int]:
    """The rendered prompt's ids, each visual placeholder replaced by Q slot ids."""
    text = render_prompt(model, instruction, history, frame_times, event, start)
    q = model.num_query_tokens
    ids: list[int] = []
    rest = text
    for placeholder, slot in ((VIDEO_PLACEHOLDER, VIDEO_SLOT), (MOTION_PLACEHOLDER, MOTION_SLOT)):
        if placeholder not in rest:
            continue
        before, rest = rest.split(placeholder, 1)
        ids += encode(model, before) + [slot] * q
    return ids + encode(model, rest)


def collate(model: HawkModel, samples: list[TextSample], *, for_generation: bool = False) -> TextBatch:
    """Tokenise prompts (+ answers + eos) and motion phrases; right padding for training,
    left padding with ``for_generation`` (no answers)."""
    if not samples:
        raise InputError("empty batch")
    tok = model.tokenizer
    pad = tok.pad_token_id
    eos = tok.eos_token_id
    max_len = model.config.llm.max_length
    samples = [TextSample(**s) if isinstance(s, dict) else s for s in samples]
    rows, labels = [], []
    for s in samples:
        p = prompt_ids(model, s.instruction, s.history, s.frame_times, s.event, s.start)
        a = [] if for_generation else encode(model, s.answer.strip()) + [eos]
        text_len = sum(1 for i in p if i >= 0)
        a = a[: max(0, max_len - text_len)]
        rows.append(p + a)
        labels.append([IGNORE_INDEX] * len(p) + a)
    input_ids, attn = pad_rows(rows, pad, left=for_generation)
    lab, _ = pad_rows(labels, IGNORE_INDEX, left=for_generation)
    batch = TextBatch(input_ids=input_ids, attention_mask=attn, labels=lab)
    if for_generation or not model.config.loss.use_ml:
        return batch
    m_rows, m_labels, index = [], [], []
    for i, s in enumerate(samples):
        text = s.motion_text
        if not text or not text.strip():
            continue
        prefix = [tok.bos_token_id] if tok.bos_token_id is not None else []
        prefix += [MOTION_SLOT] * model.num_query_tokens
        y = (encode(model, text.strip()) + [eos])[:max_len]
        m_rows.append(prefix + y)
        m_labels.append([IGNORE_INDEX] * len(prefix) + y)
        index.append(i)
    if index:
        batch.motion_ids, batch.motion_attention_mask = pad_rows(m_rows, pad)
        batch.motion_labels, _ = pad_rows(m_labels, IGNORE_INDEX)
        batch.motion_index = torch.tensor(index, dtype=torch.long)
    return batch


def pad_rows(rows: list[list[int]], value: int, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) (N, W) long: the rows padded with ``value`` to the longest (left or right)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if not r:
            continue
        sl = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, sl] = torch.tensor(r, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask
