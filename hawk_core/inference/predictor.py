"""Inference: load a HAWK model once, turn videos into features, answer about them.

:class:`Predictor` is what `hawk describe`, `hawk ask`, `hawk chat` and `hawk predict` use:

* :meth:`Predictor.load` resolves ``--model`` (:func:`hawk_core.model.checkpoints.resolve_model`),
  the device and the precision (:mod:`hawk_core.runtime`) and loads the model once;
* :meth:`Predictor.prepare` samples the video and runs the frozen encoders of both branches
  through the one video -> features path (:mod:`hawk_core.data.features`, the one training
  uses too); every question about that video reuses the result;
* :meth:`Predictor.answer` generates for many (video, question, history) items at once,
  batching the LLM, after fitting each prompt to the context window
  (:mod:`hawk_core.inference.context`); :meth:`Predictor.prepare_many` batches the encoders.

Around it: :mod:`~hawk_core.inference.chat` (conversations), :mod:`~hawk_core.inference.windows`
(long videos) and :mod:`~hawk_core.inference.split` (a whole test split). Everything raises typed
errors from :mod:`hawk_core.errors`; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, HawkError

if TYPE_CHECKING:  # pragma: no cover
    from ..media.motion import MotionResult
    from ..media.video import SampledClip
    from ..model import HawkModel
    from ..model.checkpoints import ModelSpec


# ---- generation options -----------------------------------------------------------------


@dataclass(frozen=True)
class GenerationOptions:
    """How answers are decoded, one beam. ``temperature == 0`` is greedy (deterministic).
    ``top_k`` / ``repetition_penalty``: None keeps the LLM's generation config's."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    trim_to_sentence: bool = False  # cut an answer stopped at max_new_tokens back to its last full sentence

    @classmethod
    def preset(cls, name: str, *, seed: int | None = None) -> GenerationOptions:
        """A named decoding preset (:data:`SAMPLING_PRESETS`)."""
        if name not in SAMPLING_PRESETS:
            raise ConfigError(f"unknown sampling preset {name!r}; choose one of {', '.join(SAMPLING_PRESETS)}")
        return dataclasses.replace(SAMPLING_PRESETS[name], seed=seed)

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}")
        if self.repetition_penalty is not None and not self.repetition_penalty > 0:
            raise ConfigError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")

    def to_dict(self) -> dict:
        d = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}
        if self.top_k is not None:
            d["top_k"] = self.top_k
        if self.repetition_penalty is not None:
            d["repetition_penalty"] = self.repetition_penalty
        if self.trim_to_sentence:  # only when on: settings recorded before the option still match
            d["trim_to_sentence"] = True
        return d


#: Named decoding presets: ``greedy`` (the default, reproducible) and ``release`` (the
#: authors' demo: sampling at temperature 1.0, top-p 0.9, one beam, up to 300 new tokens,
#: repetition penalty 1.0; top-k 50 is the transformers default it ran with).
SAMPLING_PRESETS: dict[str, GenerationOptions] = {
    "greedy": GenerationOptions(),
    "release": GenerationOptions(max_new_tokens=300, temperature=1.0, top_p=0.9, top_k=50, repetition_penalty=1.0),
}


# ---- prepared videos and answers -------------------------------------------------------


@dataclass
class PreparedVideo:
    """One video, sampled, with its motion input and its frozen-encoder features."""

    source: str
    feats_v: Any  # Tensor (1, T, N, D): appearance branch, frozen encoder output
    feats_m: Any  # Tensor (1, T, N, D) or None when the model has no motion branch
    frames: list[dict]  # per sampled frame: t, index, timestamp (s), motion (mean flow magnitude)
    num_native_frames: int
    fps: float
    duration: float
    timings: dict = field(default_factory=dict)  # frames_motion_s, encode_s
    frame_times: list[float] = field(default_factory=list)  # index / fps per sampled frame (the release prompt's times)

    def to_dict(self) -> dict:
        return {
            "video": self.source,
            "num_frames": len(self.frames),
            "num_native_frames": self.num_native_frames,
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration, 3),
            "frames": self.frames,
        }


@dataclass
class Answer:
    """One generated answer and what it took."""

    question: str
    text: str
    tokens: int  # generated tokens
    generate_s: float  # wall time of the generate call this answer was part of
    batch_tokens: int = 0  # tokens that call generated for all its answers
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # generation stopped at max_new_tokens, not at the end-of-text token
    event: str | None = None  # a guided model's (head.guide) class, named in its prompt; None otherwise
    event_start: float | None = None  # with head.guide_start, the start (s) its prompt named; None otherwise

    def guide_fields(self) -> dict:
        """What a guided model's prompt named, for an output record: ``event`` (head.guide) and
        ``event_start_s`` (head.guide_start), each only when named."""
        return {k: v for k, v in (("event", self.event), ("event_start_s", self.event_start)) if v is not None}

    @property
    def tokens_per_s(self) -> float:
        """Generation throughput of the call this answer was part of."""
        return max(self.batch_tokens, self.tokens) / self.generate_s if self.generate_s > 0 else 0.0


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


def trim_to_sentence(text: str) -> str:
    """``text`` up to its last full sentence (ending in . ! or ?, closing quotes kept);
    unchanged when it has none, so an answer never becomes empty."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].rstrip() if ends else text


def _frame_records(clip: SampledClip, motion: MotionResult) -> list[dict]:
    return [
        {"t": s["t"], "index": s["index"], "timestamp": s["timestamp"], "motion": s["mean_magnitude"]}
        for s in motion.stats
    ]


# ---- the predictor ----------------------------------------------------------------------


class Predictor:
    """A loaded HAWK model plus the data settings it was trained with."""

    def __init__(
        self,
        model: HawkModel,
        spec: ModelSpec,
        *,
        device: str,
        dtype=None,
        llm_dtype=None,
        num_frames: int | None = None,
        load_s: float = 0.0,
    ) -> None:
        import torch

        self.model = model
        self.spec = spec
        self.device = device
        self.dtype = dtype or torch.float32
        self.llm_dtype = llm_dtype or self.dtype
        cfg = model.config.data
        self.num_frames = int(num_frames or cfg.num_frames)
        if self.num_frames < 2:
            raise ConfigError(f"frames must be >= 2 (motion needs a pair), got {self.num_frames}")
        self.load_s = load_s
        self.quantize: str | None = None
        self.context_window = _context_window(model)

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        *,
        device: str = "auto",
        dtype: str | None = "auto",
        frames: int | None = None,
        quantize: str | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> Predictor:
        """Resolve ``model`` (see :func:`resolve_model`), load it once on ``device``.

        ``dtype="auto"``: :func:`hawk_core.runtime.inference_dtypes` (a bfloat16 LLM on CPUs
        with native bfloat16). ``quantize="int8"`` (CPU only, deprecated): the frozen LLM's
        linear layers get dynamic int8 weights and activations, twice as fast to generate
        with, but the answers change from the first tokens (benchmarks/infer_bench.py). ``on_status`` is told (one line) when a slow first-run step starts,
        e.g. the one-time conversion of the embedded LLM.
        """
        from ..model.checkpoints import needs_llm_conversion, peek_config, resolve_model
        from ..runtime import inference_dtypes, resolve_device

        spec = resolve_model(model)
        dev = str(resolve_device(device))
        torch_dtype, llm_dtype = inference_dtypes(dtype, dev)
        if quantize not in (None, "none", "int8"):
            raise ConfigError(f"unknown quantization {quantize!r}; choose int8 or none")
        quantize = None if quantize == "none" else quantize
        if quantize and dev != "cpu":
            raise ConfigError(f"--quantize {quantize} is for CPUs; on {dev} use --dtype bfloat16 or float16")
        if quantize:
            import torch

            llm_dtype = torch.float32  # dynamic int8 quantizes float32 linear layers
        from ..embedded import quiet_transformers

        quiet_transformers()
        from ..model import HawkModel

        config = peek_config(spec)
        if on_status is not None and config is not None and needs_llm_conversion(config):
            on_status("first run: converting the embedded LLM (SmolLM2 GGUF) once and caching it (~30 s)")
        t0 = time.perf_counter()
        with _no_gguf_progress_bar():
            m = HawkModel.from_pretrained(spec.source, device=dev, dtype=torch_dtype, llm_dtype=llm_dtype)
        if quantize:
            _quantize_llm_int8(m)
        p = cls(m, spec, device=dev, dtype=torch_dtype, llm_dtype=llm_dtype, num_frames=frames, load_s=time.perf_counter() - t0)
        p.quantize = quantize
        return p

    @property
    def config(self):
        return self.model.config

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def has_motion(self) -> bool:
        return bool(self.model.use_motion)

    def describe_model(self) -> dict:
        return {
            **self.spec.to_dict(),
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "llm_dtype": str(self.llm_dtype).replace("torch.", ""),
            "quantize": self.quantize,
            "frames": self.num_frames,
        }

    # -- videos -----------------------------------------------------------------------------

    def prepare(self, video: str | Path) -> PreparedVideo:
        """Sample, compute motion, encode one video."""
        out = self.prepare_many([video])[0]
        if isinstance(out, HawkError):
            raise out
        return out

    def prepare_many(self, videos: Sequence[str | Path], *, on_video: Callable[[str], None] | None = None) -> list[PreparedVideo | HawkError]:
        """Sample + motion for each video, then the frozen encoders once on the whole batch.

        A video that cannot be read gives its :class:`HawkError` in its slot, so one bad
        file does not sink a batch.
        """
        from ..data.features import sample_for_model

        loaded: list[tuple[int, SampledClip, MotionResult, float]] = []
        results: list[PreparedVideo | HawkError | None] = [None] * len(videos)
        for i, v in enumerate(videos):
            t0 = time.perf_counter()
            try:
                clip, motion = sample_for_model(v, self.config.data, num_frames=self.num_frames)
            except HawkError as e:
                results[i] = e
                continue
            loaded.append((i, clip, motion, time.perf_counter() - t0))
            if on_video is not None:
                on_video(str(v))
        if loaded:
            encoded = self.encode([(clip, motion) for _, clip, motion, _ in loaded])
            for (i, _, _, fm_s), p in zip(loaded, encoded):
                p.source = str(videos[i])
                p.timings["frames_motion_s"] = round(fm_s, 4)
                results[i] = p
        return results  # type: ignore[return-value]

    def encode(self, clips: Sequence[tuple[SampledClip, MotionResult]]) -> list[PreparedVideo]:
        """Run the frozen encoders of both branches once over a batch of sampled clips."""
        from ..data.features import encode_clips, per_video

        t0 = time.perf_counter()
        feats_v, feats_m = encode_clips(self.model, clips)  # (B, T, N, D) each; feats_m None without a motion branch
        encode_s = (time.perf_counter() - t0) / len(clips)
        fv = per_video(feats_v)
        fm = None if feats_m is None else per_video(feats_m)
        return [
            PreparedVideo(
                source=clip.source,
                feats_v=fv[b][None],
                feats_m=None if fm is None else fm[b][None],
                frame_times=clip.frame_times,
                frames=_frame_records(clip, motion),
                num_native_frames=clip.num_native_frames,
                fps=clip.fps,
                duration=clip.duration,
                timings={"encode_s": round(encode_s, 4)},
            )
            for b, (clip, motion) in enumerate(clips)
        ]

    # -- questions --------------------------------------------------------------------------

    def describe_prompt(self, index: int = 0) -> str:
        """The paper's describe prompt number ``index`` (appendix D; 0 = the first)."""
        from ..language.prompts import DESCRIBE_PROMPTS

        if not 0 <= index < len(DESCRIBE_PROMPTS):
            raise ConfigError(f"describe prompt index must be in [0, {len(DESCRIBE_PROMPTS) - 1}], got {index}")
        return DESCRIBE_PROMPTS[index]

    def describe(self, video: PreparedVideo, options: GenerationOptions = GenerationOptions(), *, prompt: str | None = None) -> Answer:
        return self.answer([(video, prompt or self.describe_prompt(), None)], options)[0]

    def ask(
        self,
        video: PreparedVideo,
        question: str,
        options: GenerationOptions = GenerationOptions(),
        *,
        history: list[tuple[str, str]] | None = None,
    ) -> Answer:
        return self.answer([(video, question, history)], options)[0]

    def answer(
        self,
        items: Sequence[tuple[PreparedVideo, str, list[tuple[str, str]] | None]],
        options: GenerationOptions = GenerationOptions(),
        *,
        streamer=None,
    ) -> list[Answer]:
        """Generate for ``(video, question, history)`` items in one LLM batch.

        Empty questions are an :class:`InputError`; a question (or history) too long for the
        context window is cut to fit, and the answer carries a warning saying so.
        ``streamer`` (a transformers streamer, one item only) is told each token as it comes.
        """
        from ..data.features import join_videos
        from .context import fit_to_context

        if not items:
            return []
        if streamer is not None and len(items) != 1:
            raise ConfigError(f"a streamer follows one answer at a time, got {len(items)} items")
        questions, histories, warns = [], [], []
        for video, q, hist in items:
            q2, h2, w = fit_to_context(self, q, hist or [], options.max_new_tokens, frame_times=video.frame_times)
            questions.append(q2)
            histories.append(h2)
            warns.append(w)
        feats_v = join_videos([v.feats_v[0] for v, _, _ in items])  # (B, T, N, D), or a list when T differs
        feats_m = None if items[0][0].feats_m is None else join_videos([v.feats_m[0] for v, _, _ in items])
        t0 = time.perf_counter()
        texts, truncated, events, starts = self.model.generate(
            feats_v,
            feats_m,
            questions,
            history=histories if any(histories) else None,
            frame_times=[v.frame_times for v, _, _ in items],
            max_new_tokens=options.max_new_tokens,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            repetition_penalty=options.repetition_penalty,
            seed=options.seed,
            streamer=streamer,
            with_truncation=True,
            with_events=True,  # head.guide: the class each prompt named (all None otherwise)
            with_starts=True,  # head.guide_start: and the start it named
        )
        dt = time.perf_counter() - t0
        texts = [t.strip() for t in texts]
        counts = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) if t else 0 for t in texts]
        answers = []
        for q, t, n, w, cut, ev, st in zip(questions, texts, counts, warns, truncated, events, starts):
            if cut:
                if options.trim_to_sentence:
                    t = trim_to_sentence(t)
                    w = [*w, f"answer reached --max-new-tokens ({options.max_new_tokens}); trimmed to its last full sentence"]
                else:
                    w = [*w, f"answer cut at --max-new-tokens ({options.max_new_tokens}) mid-sentence; raise it, or pass --trim-to-sentence"]
            answers.append(Answer(question=q, text=t, tokens=n, generate_s=dt, batch_tokens=sum(counts), warnings=w, truncated=cut,
                                  event=ev, event_start=st))
        return answers

# ---- helpers on the model object ---------------------------------------------------------


def _context_window(model) -> int:
    """The LLM's context length in tokens."""
    for obj in (getattr(model, "llm", None), getattr(model, "language_model", None)):
        cfg = getattr(obj, "config", None)
        n = getattr(cfg, "max_position_embeddings", None)
        if isinstance(n, int) and n > 0:
            return n
    n = getattr(getattr(model.config, "llm", None), "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n
    n = getattr(model.tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < 10**7:
        return n
    return 2048


def _quantize_llm_int8(model) -> None:
    """Dynamic int8 weights for the frozen LLM's linear layers (CPU inference only)."""
    import warnings

    import torch

    if model.config.llm.lora.enabled:
        raise ConfigError("--quantize int8 does not support checkpoints with LoRA adapters on the LLM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice points at torchao
        model.llm = torch.ao.quantization.quantize_dynamic(model.llm, {torch.nn.Linear}, dtype=torch.qint8)


@contextlib.contextmanager
def _no_gguf_progress_bar():
    """transformers' GGUF loader draws its own tqdm bar, which its progress-bar switch does
    not reach; hawk says what is happening in one status line instead."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - no gguf support in this transformers
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original
