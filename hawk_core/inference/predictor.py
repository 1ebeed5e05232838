"""Inference: load a HAWK model once, turn videos into features, answer about them.

:class:`Predictor` is what `hawk describe`, `hawk ask`, `hawk chat` and `hawk predict` use:

* :func:`resolve_model` turns ``--model`` into something :meth:`HawkModel.from_pretrained`
  loads: a checkpoint folder written by `hawk train` (``config.json`` +
  ``adapter.safetensors``; a run folder is searched for its latest checkpoint) or a preset
  name. With no ``--model`` the ``embedded`` preset is used, with the project's trained
  adapter when the package ships one under ``hawk_core/assets/embedded/`` (until then its
  adapter is untrained: the answers are not meaningful, and :attr:`ModelSpec.note` says so).
* :meth:`Predictor.prepare` samples the video's frames and computes its motion input with the
  model's own data settings (:func:`hawk_core.media.motion.load_clip_and_motion`), then runs the
  frozen encoders of both branches once; every question about that video reuses the result.
* :meth:`Predictor.answer` generates for many (video, question, history) items at once,
  batching the LLM; :meth:`Predictor.prepare_many` batches the encoders.
* :class:`ChatSession` keeps the conversation history in the prompt; when the history no
  longer fits the LLM's context window, the oldest turns are dropped (with a warning).
* :func:`plan_predictions` / :func:`run_predictions`: a HAWK-format split -> one
  description record and one record per QA pair, ``{id, video, task, question?, prediction,
  reference}``, appended to a JSONL file one line at a time so an interrupted run resumes.

Everything raises typed errors from :mod:`hawk_core.errors`; nothing here prints.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, ConfigError, DataError, HawkError, InputError, VideoError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..model import HawkModel
    from ..media.motion import MotionResult
    from ..media.video import SampledClip

PRESETS = ("tiny", "embedded", "paper")
DEFAULT_PRESET = "embedded"
#: Where the package ships the trained adapter of the embedded preset (a `hawk train` checkpoint).
DEFAULT_ADAPTER_DIR = Path(__file__).resolve().parents[1] / "assets" / "embedded"
CHECKPOINT_FILES = ("config.json", "adapter.safetensors")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


# ---- what to load, where ----------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` resolved to."""

    source: str  # a checkpoint folder or a preset name, as given to HawkModel.from_pretrained
    kind: str  # "checkpoint" | "preset"
    label: str  # short name for messages and --json
    trained: bool  # False for a bare preset: its adapter (Q-Formers, projections) is random
    note: str | None = None  # a one-line caveat to show the user

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "label": self.label, "trained": self.trained}


def is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in CHECKPOINT_FILES)


def find_checkpoint(path: Path) -> Path:
    """``path`` itself when it is a checkpoint folder, else the checkpoint inside a `hawk train`
    run folder (``final``, else the latest by name). Raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no such checkpoint folder: {path}")
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint folder (expected a folder with {' + '.join(CHECKPOINT_FILES)})")
    if is_checkpoint_dir(path):
        return path
    from ..media.video import natural_key

    subs = [p for p in path.iterdir() if is_checkpoint_dir(p)]
    for name in ("final", "best", "last"):
        for p in subs:
            if p.name == name:
                return p
    if subs:
        return max(subs, key=lambda p: natural_key(p.name))
    present = [f for f in CHECKPOINT_FILES if (path / f).exists()]
    if present:
        missing = [f for f in CHECKPOINT_FILES if f not in present]
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    raise CheckpointError(f"{path}: holds no checkpoint ({' + '.join(CHECKPOINT_FILES)}) nor a run folder with checkpoints")


def resolve_model(model: str | Path | None = None) -> ModelSpec:
    """``--model`` -> :class:`ModelSpec`. ``None`` is the default (see module doc)."""
    if model is None or str(model).strip() == "":
        if is_checkpoint_dir(DEFAULT_ADAPTER_DIR):
            return ModelSpec(str(DEFAULT_ADAPTER_DIR), "checkpoint", "embedded (trained adapter)", True)
        return ModelSpec(
            DEFAULT_PRESET,
            "preset",
            "embedded (untrained adapter)",
            False,
            "the embedded model's adapter is not trained yet: descriptions are not meaningful "
            "(pass --model with a `hawk train` checkpoint)",
        )
    text = str(model)
    path = Path(text).expanduser()
    if text in PRESETS and not path.exists():
        note = None if text == "paper" else f"preset {text!r} has an untrained adapter: answers are not meaningful"
        return ModelSpec(text, "preset", text, False, note)
    if path.exists() or "/" in text or text.startswith("."):
        ckpt = find_checkpoint(path)
        return ModelSpec(str(ckpt), "checkpoint", str(path), True)
    raise CheckpointError(f"--model {text!r} is neither a checkpoint folder nor a preset ({', '.join(PRESETS)})")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> cuda, else mps, else cpu. An explicit device that is absent is an error."""
    import torch

    device = (device or "auto").lower()
    kind = device.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)} (cuda:N for a given GPU)")
    if kind == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (torch sees none); use --device cpu")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available here; use --device cpu")
    return device


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """``auto`` -> bfloat16 on a GPU that supports it (else float16), float32 elsewhere."""
    import torch

    dtype = (dtype or "auto").lower()
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


# ---- generation options -----------------------------------------------------------------


@dataclass(frozen=True)
class GenerationOptions:
    """How answers are decoded. ``temperature == 0`` is greedy (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")

    def to_dict(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


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

    @property
    def tokens_per_s(self) -> float:
        """Generation throughput of the call this answer was part of."""
        return max(self.batch_tokens, self.tokens) / self.generate_s if self.generate_s > 0 else 0.0


def _frame_records(clip: SampledClip, motion: MotionResult) -> list[dict]:
    return [
        {"t": s["t"], "index": s["index"], "timestamp": s["timestamp"], "motion": s["mean_magnitude"]}
        for s in motion.stats
    ]


# ---- the predictor ----------------------------------------------------------------------


class Predictor:
    """A loaded HAWK model plus the data settings it was trained with."""

    def __init__(
        self, model: HawkModel, spec: ModelSpec, *, device: str, dtype=None, num_frames: int | None = None, load_s: float = 0.0
    ) -> None:
        import torch

        self.model = model
        self.spec = spec
        self.device = device
        self.dtype = dtype or torch.float32
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

        ``quantize="int8"`` (CPU only): the frozen LLM's linear layers get dynamic int8
        weights, about twice as fast to generate with on a CPU; the text can differ slightly
        from float32's. ``on_status`` is told (one line) when a slow first-run step starts,
        e.g. the one-time conversion of the embedded LLM.
        """
        spec = resolve_model(model)
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev)
        if quantize not in (None, "none", "int8"):
            raise ConfigError(f"unknown quantization {quantize!r}; choose int8 or none")
        quantize = None if quantize == "none" else quantize
        if quantize and dev != "cpu":
            raise ConfigError(f"--quantize {quantize} is for CPUs; on {dev} use --dtype bfloat16 or float16")
        from ..embedded import quiet_transformers

        quiet_transformers()
        from ..model import HawkConfig, HawkModel

        config = _peek_config(spec, HawkConfig)
        if on_status is not None and config is not None and needs_llm_conversion(config):
            on_status("first run: converting the embedded LLM (SmolLM2 GGUF) once and caching it (~30 s)")
        t0 = time.perf_counter()
        with _no_gguf_progress_bar():
            m = HawkModel.from_pretrained(spec.source, device=dev, dtype=torch_dtype)
        if quantize:
            _quantize_llm_int8(m)
        p = cls(m, spec, device=dev, dtype=torch_dtype, num_frames=frames, load_s=time.perf_counter() - t0)
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
            "quantize": self.quantize,
            "frames": self.num_frames,
        }

    # -- videos -----------------------------------------------------------------------------

    def load_video(self, video: str | Path) -> tuple[SampledClip, MotionResult]:
        """Sample ``num_frames`` frames and build the motion input, with the model's settings."""
        from ..media.motion import load_clip_and_motion

        d = self.config.data
        return load_clip_and_motion(video, self.num_frames, d.size, d.motion, resize=d.resize)

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
        loaded: list[tuple[int, SampledClip, MotionResult, float]] = []
        results: list[PreparedVideo | HawkError | None] = [None] * len(videos)
        for i, v in enumerate(videos):
            t0 = time.perf_counter()
            try:
                clip, motion = self.load_video(v)
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
        import torch

        t0 = time.perf_counter()
        m = self.model
        vid = torch.stack([m.preprocess(clip.frames) for clip, _ in clips])  # (B, T, 3, S, S)
        mot = torch.stack([m.preprocess(mo.motion) for _, mo in clips]) if self.has_motion else None  # (B, T, 3, S, S)
        with torch.inference_mode():
            feats_v, feats_m = m.encode_visual(vid, mot)  # (B, T, N, D) each; feats_m None without a motion branch
        encode_s = (time.perf_counter() - t0) / len(clips)
        return [
            PreparedVideo(
                source=clip.source,
                feats_v=feats_v[b : b + 1],
                feats_m=None if feats_m is None else feats_m[b : b + 1],
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
    ) -> list[Answer]:
        """Generate for ``(video, question, history)`` items in one LLM batch.

        Empty questions are an :class:`InputError`; a question (or history) too long for the
        context window is cut to fit, and the answer carries a warning saying so.
        """
        import torch

        if not items:
            return []
        questions, histories, warns = [], [], []
        for video, q, hist in items:
            q2, h2, w = self.fit_to_context(q, hist or [], options.max_new_tokens)
            questions.append(q2)
            histories.append(h2)
            warns.append(w)
        feats_v = torch.cat([v.feats_v for v, _, _ in items])  # (B, T, N, D)
        feats_m = None if items[0][0].feats_m is None else torch.cat([v.feats_m for v, _, _ in items])
        t0 = time.perf_counter()
        texts = self.model.generate(
            feats_v,
            feats_m,
            questions,
            history=histories if any(histories) else None,
            max_new_tokens=options.max_new_tokens,
            temperature=options.temperature,
            top_p=options.top_p,
            seed=options.seed,
        )
        dt = time.perf_counter() - t0
        texts = [t.strip() for t in texts]
        counts = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) if t else 0 for t in texts]
        return [
            Answer(question=q, text=t, tokens=n, generate_s=dt, batch_tokens=sum(counts), warnings=w)
            for q, t, n, w in zip(questions, texts, counts, warns)
        ]

    # -- long videos: sliding windows ---------------------------------------------------------

    def describe_windows(
        self,
        video: str | Path,
        window_s: float,
        stride_s: float | None = None,
        options: GenerationOptions = GenerationOptions(),
        *,
        top: int | None = None,
        prompt: str | None = None,
        batch: int = 4,
        on_plan: Callable[[int], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list:
        """Describe ``window_s``-second windows every ``stride_s`` seconds (see
        :mod:`hawk_core.media.windows`); with ``top``, only the K windows with the most motion are
        described (the others keep their motion energy and rank). Returns
        :class:`~hawk_core.media.windows.WindowResult` s in time order. ``on_plan(n)`` is told how
        many windows will be encoded and described; ``on_progress(k)`` after each batch."""
        from ..media.motion import extract_motion
        from ..media.video import count_frames, probe
        from ..media.windows import iter_window_clips, plan_windows, rank, window_result

        if top is not None and top < 1:
            raise ConfigError(f"top must be >= 1, got {top}")
        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        d = self.config.data
        n = count_frames(video)
        fps = probe(video)["fps"] or 25.0
        windows = plan_windows(n, fps, window_s, stride_s)
        prompt = prompt or self.describe_prompt()
        results: dict[int, Any] = {}

        def describe(pairs):
            prepared = self.encode(pairs)
            answers = self.answer([(p, prompt, None) for p in prepared], options)
            for (clip, _), a in zip(pairs, answers):
                results[clip.meta["window"]].text = a.text
            if on_progress is not None:
                on_progress(len(pairs))

        def clips(ws):
            for w, clip in iter_window_clips(video, ws, self.num_frames, d.size, total_frames=n, resize=d.resize):
                clip.meta["window"] = w.index
                yield w, clip, extract_motion(clip, d.motion)

        chosen = windows
        if top is not None and top < len(windows):
            for w, _, motion in clips(windows):  # pass 1: motion energy of every window
                results[w.index] = window_result(w, motion)
            rank(list(results.values()))
            chosen = [w for w in windows if results[w.index].rank <= top]
        if on_plan is not None:
            on_plan(len(chosen))
        pending: list = []
        for w, clip, motion in clips(chosen):
            if w.index not in results:
                results[w.index] = window_result(w, motion)
            pending.append((clip, motion))
            if len(pending) == batch:
                describe(pending)
                pending = []
        if pending:
            describe(pending)
        return rank(list(results.values()))

    # -- the context window ------------------------------------------------------------------

    def prompt_length(self, question: str, history: list[tuple[str, str]] | None = None) -> int:
        """Positions the LLM sees before the answer: template, visual tokens, history, question."""
        from ..model import TextSample

        batch = self.model.collate([TextSample(question, history=list(history or []))], for_generation=True)
        return int(batch.input_ids.shape[1])

    def fit_to_context(
        self, question: str, history: list[tuple[str, str]], max_new_tokens: int
    ) -> tuple[str, list[tuple[str, str]], list[str]]:
        """Check ``question``; drop the oldest history turns, then cut the question, until the
        prompt plus ``max_new_tokens`` fits the LLM's context window.
        Returns (question, history, warnings)."""
        question = (question or "").strip()
        if not question:
            raise InputError("the question is empty")
        limit = self.context_window - max_new_tokens
        overhead = self.prompt_length("?")
        if overhead >= limit:
            raise ConfigError(
                f"--max-new-tokens {max_new_tokens} leaves no room for a question in the model's "
                f"{self.context_window}-token context window (the prompt alone takes {overhead})"
            )
        warns: list[str] = []
        history = list(history)
        if self.prompt_length(question, history) <= limit:
            return question, history, warns
        dropped = 0
        while history and self.prompt_length(question, history) > limit:
            history.pop(0)
            dropped += 1
        if dropped:
            warns.append(f"dropped the {dropped} oldest turn(s) of the conversation to fit the {self.context_window}-token context window")
        n = self.prompt_length(question, history)
        if n <= limit:
            return question, history, warns
        ids = self.tokenizer(question, add_special_tokens=False)["input_ids"]
        keep = max(1, len(ids) - (n - limit))
        while True:
            cut = self.tokenizer.decode(ids[:keep], skip_special_tokens=True).strip()
            if (cut and self.prompt_length(cut, history) <= limit) or keep <= 1:
                break
            keep -= max(1, (self.prompt_length(cut, history) - limit) if cut else 1)
        warns.append(
            f"question truncated to its first {keep} of {len(ids)} tokens to fit the model's "
            f"{self.context_window}-token context window (with {max_new_tokens} new tokens)"
        )
        return cut, history, warns

    # -- chat ----------------------------------------------------------------------------------

    def chat(self, video: PreparedVideo, options: GenerationOptions = GenerationOptions()) -> ChatSession:
        return ChatSession(self, video, options)


class ChatSession:
    """A multi-turn conversation about one video; earlier turns go back into the prompt."""

    def __init__(self, predictor: Predictor, video: PreparedVideo, options: GenerationOptions) -> None:
        self.predictor = predictor
        self.video = video
        self.options = options
        self.history: list[tuple[str, str]] = []

    def ask(self, question: str) -> Answer:
        ans = self.predictor.ask(self.video, question, self.options, history=list(self.history))
        self.history.append((ans.question, ans.text))
        return ans

    def reset(self) -> None:
        self.history.clear()


# ---- batch prediction over a HAWK-format split -----------------------------------------


@dataclass(frozen=True)
class PredictionItem:
    """One question to answer about one video of a split."""

    id: str
    video: str  # as written in the data file
    path: Path  # resolved on disk
    task: str  # "description" | "qa"
    question: str
    reference: str | None

    def record(self, prediction: str, **extra: Any) -> dict:
        rec: dict[str, Any] = {"id": self.id, "video": self.video, "task": self.task}
        if self.task == "qa":
            rec["question"] = self.question
        rec["prediction"] = prediction
        rec["reference"] = self.reference
        rec.update(extra)
        return rec


def resolve_video_path(video: str, data_path: Path, video_root: Path | None = None) -> Path:
    """A data file's video path on disk: absolute as is; relative to ``video_root`` when given,
    else to the data file's folder, else to the working directory (first that exists)."""
    p = Path(video).expanduser()
    if p.is_absolute():
        return p
    bases = [video_root] if video_root is not None else [Path(data_path).resolve().parent, Path.cwd()]
    for base in bases:
        if (base / p).exists():
            return base / p
    return bases[0] / p


def plan_predictions(
    records: list[dict],
    data_path: Path,
    *,
    describe_prompt: str,
    video_root: Path | None = None,
    tasks: Iterable[str] = ("description", "qa"),
) -> list[PredictionItem]:
    """HAWK-format records ``{video, description?, QA?: [{q, a}]}`` -> prediction items.

    Ids are stable: ``<video>#description`` and ``<video>#qa<j>`` (``<video>`` the path as
    written, or the record's own ``id`` when it has one; a video listed twice gets ``@<i>``).
    """
    tasks = tuple(tasks)
    for t in tasks:
        if t not in ("description", "qa"):
            raise ConfigError(f"unknown task {t!r}; choose description and/or qa")
    seen: dict[str, int] = {}
    items: list[PredictionItem] = []
    for i, rec in enumerate(records):
        where = f"{data_path}: record {i}"
        video = rec.get("video")
        if not isinstance(video, str) or not video.strip():
            raise DataError(f"{where}: missing \"video\" (a path)")
        base = str(rec["id"]) if rec.get("id") not in (None, "") else video
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            base = f"{base}@{i}"
        path = resolve_video_path(video, data_path, video_root)
        desc = rec.get("description")
        if desc is not None and not isinstance(desc, str):
            raise DataError(f"{where}: \"description\" must be a string")
        qa = rec.get("QA", rec.get("qa")) or []
        if not isinstance(qa, list):
            raise DataError(f"{where}: \"QA\" must be a list of {{\"q\", \"a\"}}")
        if "description" in tasks:
            items.append(PredictionItem(f"{base}#description", video, path, "description", describe_prompt, desc))
        if "qa" in tasks:
            for j, pair in enumerate(qa):
                if not isinstance(pair, dict) or not isinstance(pair.get("q"), str) or not pair["q"].strip():
                    raise DataError(f"{where}: QA[{j}] needs a non-empty \"q\"")
                a = pair.get("a")
                items.append(PredictionItem(f"{base}#qa{j}", video, path, "qa", pair["q"].strip(), a if isinstance(a, str) else None))
    return items


def load_split(path: Path) -> list[dict]:
    """Records of a HAWK-format JSON / JSONL file (see :func:`plan_predictions`)."""
    from ..io import read_json_or_jsonl

    records = read_json_or_jsonl(Path(path))
    if not records:
        raise DataError(f"{path}: holds no records")
    return records


@dataclass
class PredictionSummary:
    total: int = 0
    already_done: int = 0
    written: int = 0
    failed_videos: dict[str, str] = field(default_factory=dict)  # video -> error
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=lambda: {"frames_motion_s": 0.0, "encode_s": 0.0, "generate_s": 0.0, "tokens": 0})

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "already_done": self.already_done,
            "written": self.written,
            "failed_videos": self.failed_videos,
            "warnings": self.warnings,
            "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.timings.items()},
        }


def run_predictions(
    predictor: Predictor,
    items: list[PredictionItem],
    out: Path,
    options: GenerationOptions = GenerationOptions(),
    *,
    video_batch: int = 4,
    gen_batch: int = 8,
    on_progress: Callable[[int, str], None] | None = None,
) -> PredictionSummary:
    """Answer every item, appending one JSONL record each to ``out`` as soon as it exists.

    Items whose id is already in ``out`` are skipped (resume). Videos are prepared
    ``video_batch`` at a time (frozen encoders batched), answers generated ``gen_batch`` at a
    time. A video that cannot be read is skipped with its error in the summary (its items
    are not written, so a rerun retries them). ``on_progress(n, label)`` reports ``n`` more
    items handled.
    """
    from ..io import JsonlAppender

    if video_batch < 1 or gen_batch < 1:
        raise ConfigError("batch sizes must be >= 1")
    summary = PredictionSummary(total=len(items))
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"duplicate prediction id {dup!r}")
    with JsonlAppender(out, key="id") as sink:
        done = sink.done_keys()
        todo = [it for it in items if it.id not in done]
        summary.already_done = len(items) - len(todo)
        if summary.already_done and on_progress is not None:
            on_progress(summary.already_done, "already done")
        by_video: dict[str, list[PredictionItem]] = {}
        for it in todo:
            by_video.setdefault(str(it.path), []).append(it)
        videos = list(by_video)
        for start in range(0, len(videos), video_batch):
            chunk = videos[start : start + video_batch]
            prepared = predictor.prepare_many([Path(v) for v in chunk])
            queue: list[tuple[PreparedVideo, PredictionItem]] = []
            for v, p in zip(chunk, prepared):
                if isinstance(p, HawkError):
                    summary.failed_videos[by_video[v][0].video] = str(p)
                    if on_progress is not None:
                        on_progress(len(by_video[v]), f"skipped {Path(v).name}")
                    continue
                summary.timings["frames_motion_s"] += p.timings["frames_motion_s"]
                summary.timings["encode_s"] += p.timings["encode_s"]
                queue.extend((p, it) for it in by_video[v])
            for g in range(0, len(queue), gen_batch):
                group = queue[g : g + gen_batch]
                answers = predictor.answer([(p, it.question, None) for p, it in group], options)
                for (p, it), ans in zip(group, answers):
                    sink.write(it.record(ans.text))
                    summary.written += 1
                    summary.warnings.extend(f"{it.id}: {w}" for w in ans.warnings)
                    summary.timings["tokens"] += ans.tokens
                summary.timings["generate_s"] += answers[0].generate_s if answers else 0.0
                if on_progress is not None:
                    on_progress(len(group), Path(group[0][1].video).name)
    return summary


def meta_path(out: Path) -> Path:
    """The settings file beside a predictions file: ``OUT.meta.json``."""
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def check_prediction_meta(out: Path, predictor: Predictor, options: GenerationOptions, tasks: Sequence[str], prompt_index: int) -> dict:
    """Record the settings of a prediction run beside ``out``; refuse to resume a file that
    was written with other settings (mixing two models' answers in one file would be
    silently wrong). Returns the settings."""
    import json

    from ..io import write_json

    meta = {
        "model": predictor.spec.source,
        "frames": predictor.num_frames,
        "quantize": predictor.quantize,
        "generation": options.to_dict(),
        "tasks": list(tasks),
        "prompt_index": prompt_index,
    }
    mp = meta_path(out)
    has_records = Path(out).is_file() and Path(out).stat().st_size > 0
    if has_records and mp.is_file():
        try:
            old = json.loads(mp.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            old = None
        if isinstance(old, dict):
            for key, value in meta.items():
                if key in old and old[key] != value:
                    raise InputError(
                        f"{out} was written with other settings ({key}: {old[key]!r}, now {value!r}); "
                        "pass --overwrite to start it afresh, or another --out"
                    )
    write_json(mp, meta)
    return meta


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


def _peek_config(spec: ModelSpec, config_cls) -> Any:
    """The config a spec will load, without loading weights (None if unreadable: loading
    itself then reports the problem)."""
    try:
        if spec.kind == "preset":
            return config_cls.from_preset(spec.source)
        return config_cls.load(Path(spec.source))
    except HawkError:
        return None


def needs_llm_conversion(config) -> bool:
    """True when loading ``config`` will first convert the embedded GGUF LLM (first run)."""
    from ..embedded import smollm2_is_cached

    llm = config.llm
    return llm.kind == "smollm2" and not llm.source and not smollm2_is_cached()
