"""Training data in the form a step needs: the frozen features of every video (computed once,
through the one video -> features path, and cached), the motion phrases of every target text,
and batches of (features, text) built from items.

Frozen encoders run once per video (before the first step) and their outputs are read from
the :class:`~hawk_core.data.cache.FeatureCache` afterwards, so there is no per-step spatial
augmentation: both branches see the same frames, as the paper requires.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.cache import FeatureCache, MotionTextCache, sampled_frames_spec, weights_fingerprint
from ..data.features import encode_clips, sample_for_model
from ..data.items import Item, caption_prompts, describe_prompts, item_rng, question_and_answer, target_texts
from ..data.records import TASK_DESCRIPTION, HawkRecord
from ..errors import DataError, VideoError
from .distributed import Dist
from .state import to_device

Emit = Callable[..., None]


def feature_cache(model: Any, directory: Path, dtype: str, *, motion_branch: bool, amp: Any = None) -> FeatureCache:
    """The cache whose keys name everything the features depend on: the sampling and motion
    settings, the frozen image encoder's config, weights and autocast precision (``amp``),
    and whether motion is kept."""
    from ..runtime import precision_name

    dcfg = model.config.data
    spec = sampled_frames_spec(dcfg.num_frames, dcfg.size, dcfg.resize, dcfg.motion,
                               frame_indices=dcfg.frame_indices, short_clips=dcfg.short_clips)
    spec["backbone"] = model.config.to_dict()["vision"]
    spec["frozen_weights"] = weights_fingerprint(getattr(model, "vision", model))
    spec["motion_branch"] = motion_branch
    if amp is not None:  # fp32 features keep the keys they always had
        spec["encoder_precision"] = precision_name(amp)
    return FeatureCache(directory, spec, dtype)


def prepare_features(model: Any, cache: FeatureCache, videos: list[Path], dist: Dist, amp: Any, emit: Emit) -> list[str]:
    """Encode (this process's share of) the videos not cached yet; returns every process's
    unreadable videos (their errors).

    Every process lists the uncached videos only once all have arrived here, before any
    writes: a process that starts late (e.g. one that waited for another to convert the
    embedded LLM) would otherwise see the first one's new entries, split a shorter list
    and leave videos to nobody. Afterwards, a video neither cached nor failed is an error."""
    dist.barrier()
    todo = [v for v in videos if not cache.has(v)]
    if cache.corrupt and dist.main:
        emit("note", text=f"feature cache: {len(cache.corrupt)} corrupt file(s) removed and recomputed (first: {cache.corrupt[0]})")
    mine = todo[dist.rank :: dist.world]
    emit("phase", name="features", total=len(mine))  # rank 0 reports its own share
    failed: list[tuple[str, str]] = []  # (video, error)
    model.eval()
    for v in mine:
        try:
            pair = sample_for_model(v, model.config.data, with_motion=bool(model.use_motion))
        except VideoError as e:
            failed.append((str(v), str(e)))
        else:
            fv, fm = encode_clips(model, [pair], amp=amp)  # (1, T, N, D) each; fm None without a motion branch
            cache.store(v, fv[0], None if fm is None else fm[0], times=pair[0].frame_times)
        emit("advance", name="features", n=1)
    all_failed = [f for part in dist.gather_objects(failed) for f in part]
    dist.barrier()
    unreadable = {v for v, _ in all_failed}
    lost = [v for v in todo if str(v) not in unreadable and not cache.has(v)]
    if lost:
        raise DataError(f"feature extraction left {len(lost)} of {len(todo)} videos without features (first: {lost[0]}); "
                        f"check that {cache.dir} is writable and shared by every process")
    return [e for _, e in all_failed]


def prepare_phrases(cache_dir: Path, records: list[HawkRecord], dist: Dist, emit: Emit) -> MotionTextCache:
    """Motion phrases (L_ML targets) of every target text, parsed once by rank 0 and cached."""
    texts = target_texts(records)
    mt = MotionTextCache(cache_dir / "motion_text.json")
    if dist.main:
        todo = len({t for t in texts if t and mt.get(t) is None})
        emit("phase", name="phrases", total=todo)
        mt.fill(texts, progress=lambda n: emit("advance", name="phrases", n=n))
    dist.barrier()
    return mt if dist.main else MotionTextCache(cache_dir / "motion_text.json")


class Split:
    """One side of the split: its records and items."""

    def __init__(self, records: list[HawkRecord], items: list[Item]) -> None:
        self.records = records
        self.items = items


class BatchMaker:
    """(features, text) batches from item picks; features are read from the cache through a
    small LRU in RAM."""

    def __init__(self, model: Any, cache: FeatureCache, phrases: MotionTextCache | None, *, seed: int,
                 ram_items: int, device: Any, feat_dtype: Any, motion: bool) -> None:
        self.model = model
        self.cache = cache
        self.phrases = phrases
        self.seed = seed
        self.ram_items = ram_items
        self.device = device
        self.feat_dtype = feat_dtype
        self.motion = motion
        # head.guide: the record field whose class the prompt names in training (the teacher's; set by the trainer)
        self.guide_field: str | None = None
        self.describe = describe_prompts()
        self.caption = caption_prompts()
        self._ram: OrderedDict[str, Any] = OrderedDict()

    def features(self, record: HawkRecord) -> tuple[Any, Any, list[float] | None]:
        """(video (T, N, D), motion (T, N, D) or None, the frames' seconds or None)."""
        key = str(record.path)
        hit = self._ram.get(key)
        if hit is not None:
            self._ram.move_to_end(key)
            return hit
        val = (*self.cache.load(record.path), self.cache.load_times(record.path))
        if self.ram_items:
            self._ram[key] = val
            while len(self._ram) > self.ram_items:
                self._ram.popitem(last=False)
        return val

    def features_of(self, split: Split, picks: list[tuple[int, int, int]]) -> tuple[Any, Any, list[HawkRecord], list]:
        """The picked items' features on the device: feats_v (B, T, N, D), or a list when frame
        counts differ; feats_m likewise, or None without a motion branch), their records and
        their frames' seconds (None each where the cache has none)."""
        from ..data.features import join_videos

        recs = [split.records[split.items[i].record] for i, _, _ in picks]
        fv, fm, times = [], [], []
        for rec in recs:
            v, m, t = self.features(rec)
            fv.append(v.to(self.device, self.feat_dtype))
            fm.append(None if m is None else m.to(self.device, self.feat_dtype))
            times.append(t)
        return join_videos(fv), (join_videos(fm) if self.motion else None), recs, times

    def guide_event(self, record: HawkRecord) -> str | None:
        """The class a guided model's training prompt names for ``record``: its own
        ``guide_field`` value when that is one of the head's classes, else None (no guide)."""
        from ..data.words import ClassLabels

        if self.guide_field is None:
            return None
        name = ClassLabels.name_of(record.extra.get(self.guide_field))
        return name if name in self.model.config.head.classes else None

    def guide_start(self, record: HawkRecord, event: str | None) -> float | None:
        """The start (s) a guided model's training prompt names for ``record``
        (``head.guide_start``): the first start of its own ``time_span`` (the teacher's), for
        a record whose guide names an anomalous class; None when it has no span."""
        from ..scoring.detection_gt import first_start

        head = self.model.config.head
        if not head.guide_start or event is None or event == head.normal:
            return None
        return first_start(record.extra, record.video)

    def batch(self, split: Split, picks: list[tuple[int, int, int]], name: str) -> tuple[Any, Any, Any]:
        """``picks``: (item index, epoch, position) each -> (feats_v, feats_m, TextBatch) on the device."""
        from ..model import TextSample

        feats_v, feats_m, recs, times = self.features_of(split, picks)
        samples = []
        for (item_idx, epoch, pos), rec, frame_times in zip(picks, recs, times):
            it = split.items[item_idx]
            rng = item_rng(self.seed, name, epoch, pos, item_idx)
            prompts = self.caption if (it.task == TASK_DESCRIPTION and not rec.description) else self.describe
            question, answer = question_and_answer(rec, it, rng, describe=prompts, caption=prompts)
            mt = self.phrases.get(answer) if self.phrases is not None else None
            # the model renders its prompt format around the question (the paper's instruction, or the release's)
            event = self.guide_event(rec)
            samples.append(TextSample(instruction=question, answer=answer, motion_text=mt or None, frame_times=frame_times,
                                      event=event, start=self.guide_start(rec, event)))
        return feats_v, feats_m, to_device(self.model.collate(samples), self.device)


def check_stage(records: list[HawkRecord], stage: int, data: Path) -> None:
    if stage == 2:
        for i, r in enumerate(records, 1):
            if not r.description and not r.qa:
                raise DataError(
                    f"{data}: record {i} ({r.video}) has a caption but no description or QA; "
                    "that is stage-1 data: pass --stage 1"
                )
