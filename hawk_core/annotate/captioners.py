"""Dense captions per key clip, from a captioner chosen by name (:func:`build_captioner`):

* ``perception`` (offline): what the embedded models and OpenCV can see, written as text:
  EfficientNet-Lite0 ImageNet tags (averaged over the clip's key frames), a person count from
  OpenCV's HOG people detector, and the motion energy and direction per region of a 3x3 grid
  from the clip's optical flow. Crude beside a vision-language model, but real evidence, and
  free.
* ``vision``: any OpenAI-compatible vision chat model; the clip's key frames go as base64
  JPEG images with the prompt ``prompts/annotate/caption.txt``.
* ``file``: captions the user supplies, UCF-Crime style (the UCA dense captions): a JSON file
  keyed by video name, or a folder of per-video ``.txt`` / ``.json`` files (formats in
  :func:`parse_caption_value` and :func:`parse_caption_text`).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, VideoError
from ..media.timefmt import format_clock
from .clips import ClipSpan, VideoAnalysis
from .llm import ChatModel, MalformedOutput, RetryPolicy, Usage, call_with_retries
from .prompts import AnnotatePrompts, render

CAPTIONERS = ("perception", "vision", "file")
_REGIONS = [["top-left", "top", "top-right"], ["left", "centre", "right"], ["bottom-left", "bottom", "bottom-right"]]


class Captioner:
    name = "?"
    needs_video = True

    def signature(self) -> dict:
        """What identifies this captioner's output (cached captions are reused only when equal)."""
        return {"captioner": self.name}

    def caption_video(self, video: Path, analysis: VideoAnalysis | None) -> list[dict]:
        """[{start, end, caption}] per key clip."""
        raise NotImplementedError


# ---- perception --------------------------------------------------------------------------


def imagenet_labels() -> list[str]:
    path = Path(__file__).resolve().parents[1] / "assets" / "imagenet_classes.txt"
    labels = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if len(labels) != 1000:
        raise DataError(f"{path}: expected 1000 ImageNet class names, found {len(labels)}")
    return labels


class PerceptionCaptioner(Captioner):
    name = "perception"

    def __init__(self, *, top_k: int = 3, min_prob: float = 0.08, hog_scale: float = 2.0, frames_per_clip: int = 3) -> None:
        self.frames_per_clip = frames_per_clip
        self.top_k = top_k
        self.min_prob = min_prob
        self.hog_scale = hog_scale
        self._model = None
        self._labels: list[str] | None = None
        self._lock = threading.Lock()

    def signature(self) -> dict:
        return {"captioner": self.name, "top_k": self.top_k, "min_prob": self.min_prob, "hog_scale": self.hog_scale, "frames_per_clip": self.frames_per_clip}

    def _load(self):
        with self._lock:
            if self._model is None:
                from ..embedded import load_efficientnet_lite0

                self._labels = imagenet_labels()
                self._model = load_efficientnet_lite0()
        return self._model, self._labels

    def tags(self, frames: np.ndarray) -> list[tuple[str, float]]:
        """ImageNet tags of (N, S, S, 3) RGB frames: mean softmax, top-k above min_prob."""
        import cv2
        import torch

        from ..embedded import IMAGENET_MEAN, IMAGENET_STD

        model, labels = self._load()
        x = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA) for f in frames]).astype(np.float32) / 255.0
        x = (x - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
        t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # (N, 3, 224, 224)
        with self._lock, torch.no_grad():
            probs = torch.softmax(model(t), dim=-1).mean(0).numpy()  # (1000,)
        top = np.argsort(-probs)[: self.top_k]
        return [(labels[i], float(probs[i])) for i in top if probs[i] >= self.min_prob]

    @staticmethod
    def hog_available() -> bool:
        """OpenCV 4.x ships the HOG people detector; OpenCV 5 moved it out of the main package."""
        import cv2

        return hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")

    def people(self, frames: np.ndarray) -> int:
        """Most people found in any one frame by OpenCV's HOG + linear SVM people detector."""
        import cv2

        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        best = 0
        for f in frames:
            img = cv2.resize(f, None, fx=self.hog_scale, fy=self.hog_scale, interpolation=cv2.INTER_LINEAR) if self.hog_scale != 1 else f
            rects, weights = hog.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), winStride=(8, 8), padding=(8, 8), scale=1.05)
            if len(rects) == 0:
                continue
            w = np.asarray(weights, dtype=np.float32).reshape(-1)
            keep = cv2.dnn.NMSBoxes([list(map(int, r)) for r in rects], w.tolist(), 0.5, 0.3)
            best = max(best, len(np.asarray(keep).reshape(-1)))
        return best

    @staticmethod
    def moving_regions(flow: np.ndarray, min_area: float = 0.003) -> int:
        """Most separate moving regions in any one frame: connected components of the pixels
        moving > 1 px/frame, after a morphological open/close, each at least ``min_area`` of
        the frame. The fallback where OpenCV lacks the HOG people detector."""
        import cv2

        best = 0
        kernel = np.ones((5, 5), np.uint8)
        for f in flow:
            mag = np.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2)
            m = (mag > 1.0).astype(np.uint8)
            m = cv2.morphologyEx(cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
            n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
            areas = stats[1:, cv2.CC_STAT_AREA] / float(m.size)
            best = max(best, int((areas >= min_area).sum()))
        return best

    @staticmethod
    def motion_text(analysis: VideoAnalysis, span: ClipSpan) -> str:
        flow = analysis.flow[span.samples]  # (n, S, S, 2)
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)  # (n, S, S)
        mean = float(mag.mean())
        ref = max(analysis.mean_energy, 1e-6)
        moving = mag > 0.5
        frac = float(moving.mean())
        if mean < 0.15 or frac < 0.01:
            return "the scene is almost still"
        level = "strong" if mean > 2.0 else "moderate" if mean > 0.6 else "slight"
        ratio = mean / ref
        rel = (
            f", {ratio:.1f}x the video's average: a motion peak"
            if ratio >= 1.5
            else ", quieter than the rest of the video"
            if ratio <= 0.5
            else ""
        )
        s = mag.shape[1]
        cells = np.zeros((3, 3))
        for r in range(3):
            for c in range(3):
                cells[r, c] = mag[:, r * s // 3 : (r + 1) * s // 3, c * s // 3 : (c + 1) * s // 3].mean()
        order = np.argsort(-cells, axis=None)
        top = [divmod(int(i), 3) for i in order[:2]]
        where = _REGIONS[top[0][0]][top[0][1]]
        if cells[top[1]] >= 0.6 * cells[top[0]]:
            where += f" and {_REGIONS[top[1][0]][top[1][1]]}"
        r, c = top[0]
        cell_flow = flow[:, r * s // 3 : (r + 1) * s // 3, c * s // 3 : (c + 1) * s // 3]
        cell_mov = moving[:, r * s // 3 : (r + 1) * s // 3, c * s // 3 : (c + 1) * s // 3]
        direction = ""
        if cell_mov.any():
            dx, dy = float(cell_flow[..., 0][cell_mov].mean()), float(cell_flow[..., 1][cell_mov].mean())
            coherence = math.hypot(dx, dy) / max(float(mag[:, r * s // 3 : (r + 1) * s // 3, c * s // 3 : (c + 1) * s // 3][cell_mov].mean()), 1e-6)
            from ..media.motion import direction_label

            direction = f", heading {direction_label(dx, dy)}" if coherence > 0.35 else ", in mixed directions (agitated or turbulent)"
        return f"{level} motion (mean {mean:.2f} px/frame{rel}) mostly in the {where} of the frame{direction}; {100 * frac:.0f}% of the frame moving"

    def caption_clip(self, analysis: VideoAnalysis, span: ClipSpan, frames_per_clip: int) -> str:
        keys = span.key_samples(frames_per_clip)
        frames = analysis.frames[keys]
        tags = self.tags(frames)
        parts = []
        if tags:
            parts.append("scene and objects (ImageNet tags, may be wrong): " + ", ".join(f"{n} ({p:.2f})" for n, p in tags))
        else:
            parts.append("scene and objects: no confident ImageNet tag")
        if self.hog_available():
            people = self.people(frames)
            parts.append("no person detected" if people == 0 else f"{people} {'person' if people == 1 else 'people'} detected")
        else:
            blobs = self.moving_regions(analysis.flow[keys])
            parts.append("no separate moving object" if blobs == 0 else f"{blobs} separate moving object{'s' if blobs != 1 else ''}")
        parts.append(self.motion_text(analysis, span))
        return "; ".join(parts) + "."

    def caption_video(self, video: Path, analysis: VideoAnalysis | None) -> list[dict]:
        assert analysis is not None
        return [{"start": s.start, "end": s.end, "caption": self.caption_clip(analysis, s, self.frames_per_clip)} for s in analysis.clips]


# ---- vision LLM --------------------------------------------------------------------------


def jpeg_data_url(frame_rgb: np.ndarray, quality: int = 85) -> str:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VideoError("cannot encode a frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def validate_caption(text: str) -> str:
    text = (text or "").strip()
    if len(text) < 10:
        raise MalformedOutput(f"caption too short ({len(text)} characters)")
    return text


class VisionCaptioner(Captioner):
    name = "vision"

    def __init__(self, model: ChatModel, prompts: AnnotatePrompts, *, policy: RetryPolicy, usage: Usage, frames_per_clip: int = 3, max_tokens: int = 200) -> None:
        if not model.supports_images:
            raise ConfigError(f"captioner 'vision' needs an OpenAI-compatible vision model; {model.name} reads text only")
        self.model = model
        self.prompts = prompts
        self.policy = policy
        self.usage = usage
        self.frames_per_clip = frames_per_clip
        self.max_tokens = max_tokens

    def signature(self) -> dict:
        return {"captioner": self.name, "model": self.model.name, "prompt": self.prompts.version, "frames_per_clip": self.frames_per_clip}

    def caption_video(self, video: Path, analysis: VideoAnalysis | None) -> list[dict]:
        assert analysis is not None
        out = []
        for span in analysis.clips:
            keys = span.key_samples(self.frames_per_clip)
            text = render(self.prompts.caption, num_frames=len(keys), start=format_clock(span.start), end=format_clock(span.end))
            content: list[dict] = [{"type": "text", "text": text}]
            content += [{"type": "image_url", "image_url": {"url": jpeg_data_url(analysis.frames[i])}} for i in keys]
            messages = [{"role": "system", "content": self.prompts.system}, {"role": "user", "content": content}]
            caption = call_with_retries(
                self.model, messages, validate_caption, policy=self.policy, usage=self.usage, max_tokens=self.max_tokens, what=f"caption of clip {span.index + 1}"
            )
            out.append({"start": span.start, "end": span.end, "caption": caption})
        return out


# ---- user-supplied caption files -------------------------------------------------------

_TIME = r"(\d+(?::\d+){0,2}(?:\.\d+)?)"


def _seconds(t: str) -> float:
    v = 0.0
    for part in t.split(":"):
        v = v * 60 + float(part)
    return v


def parse_caption_text(text: str) -> list[dict]:
    """Lines ``START END caption`` (seconds or [hh:]mm:ss), ``[START-END] caption`` or
    ``START-END caption``; lines without times are captions of unknown span (start/end null)."""
    out = []
    pat = [
        re.compile(rf"^\[?\s*{_TIME}\s*(?:-|–|,|\s)\s*{_TIME}\s*\]?\s*[:|]?\s*(.+)$"),
    ]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = pat[0].match(line)
        if m:
            out.append({"start": _seconds(m.group(1)), "end": _seconds(m.group(2)), "caption": m.group(3).strip()})
        else:
            out.append({"start": None, "end": None, "caption": line})
    return out


def parse_caption_value(value, where: str) -> list[dict]:
    """One video's captions in JSON: ``{"timestamps": [[s, e], ...], "sentences": [...]}``
    (UCA / ActivityNet Captions style), a list of ``{"start", "end", "caption"}`` objects, or
    a list of strings."""
    if isinstance(value, dict) and "sentences" in value:
        sents = value["sentences"]
        stamps = value.get("timestamps") or [[None, None]] * len(sents)
        if not isinstance(sents, list) or len(stamps) != len(sents):
            raise DataError(f"{where}: 'timestamps' and 'sentences' differ in length")
        return [{"start": _num(a), "end": _num(b), "caption": str(s).strip()} for (a, b), s in zip(stamps, sents)]
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, str):
                out.append({"start": None, "end": None, "caption": item.strip()})
            elif isinstance(item, dict) and ("caption" in item or "sentence" in item):
                out.append({"start": _num(item.get("start")), "end": _num(item.get("end")), "caption": str(item.get("caption", item.get("sentence"))).strip()})
            else:
                raise DataError(f"{where}: expected caption strings or {{start, end, caption}} objects")
        return out
    raise DataError(f"{where}: unrecognised caption format (expected {{timestamps, sentences}} or a list)")


def _num(v):
    return None if v is None else round(float(v), 3)


class FileCaptioner(Captioner):
    """Captions from a JSON file keyed by video name (stem or file name), or a folder of
    ``<stem>.txt`` / ``<stem>.json`` files."""

    name = "file"
    needs_video = False

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        if not self.source.exists():
            raise ConfigError(f"captions not found: {self.source}")
        self._table: dict | None = None
        if self.source.is_file():
            try:
                table = json.loads(self.source.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise DataError(f"{self.source}: not a JSON caption file ({e})") from None
            if not isinstance(table, dict):
                raise DataError(f"{self.source}: expected a JSON object keyed by video name")
            self._table = table

    def signature(self) -> dict:
        return {"captioner": self.name, "source": str(self.source)}

    def caption_video(self, video: Path, analysis: VideoAnalysis | None) -> list[dict]:
        video = Path(video)
        names = [video.stem, video.name, str(video)]
        if self._table is not None:
            for n in names:
                if n in self._table:
                    caps = parse_caption_value(self._table[n], f"{self.source}[{n}]")
                    break
            else:
                raise VideoError(f"no captions for {video.stem!r} in {self.source}")
        else:
            for ext in (".json", ".txt"):
                p = self.source / f"{video.stem}{ext}"
                if p.is_file():
                    text = p.read_text(encoding="utf-8")
                    if ext == ".json":
                        try:
                            caps = parse_caption_value(json.loads(text), str(p))
                        except json.JSONDecodeError as e:
                            raise DataError(f"{p}: invalid JSON ({e.msg})") from None
                    else:
                        caps = parse_caption_text(text)
                    break
            else:
                raise VideoError(f"no caption file {video.stem}.txt or .json in {self.source}")
        caps = [c for c in caps if c["caption"]]
        if not caps:
            raise VideoError(f"the captions of {video.stem!r} are empty")
        return caps


def build_captioner(name: str, *, model: ChatModel | None = None, prompts: AnnotatePrompts | None = None, policy: RetryPolicy | None = None, usage: Usage | None = None, captions: Path | None = None, frames_per_clip: int = 3) -> Captioner:
    if name == "perception":
        return PerceptionCaptioner(frames_per_clip=frames_per_clip)
    if name == "vision":
        if model is None or prompts is None or policy is None or usage is None:
            raise ConfigError("captioner 'vision' needs a vision model (--caption-model)")
        return VisionCaptioner(model, prompts, policy=policy, usage=usage, frames_per_clip=frames_per_clip)
    if name == "file":
        if captions is None:
            raise ConfigError("captioner 'file' needs --captions FILE_OR_FOLDER")
        return FileCaptioner(captions)
    raise ConfigError(f"unknown captioner {name!r}; choose one of {', '.join(CAPTIONERS)}")
