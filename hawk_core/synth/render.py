"""From a seed to a scene graph, frames, and the event's measured span and region."""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..media.video import cv2
from .agents import draw_agent, lit_style, project_agent
from .events import ANOMALY_TYPES, EVENTS, SceneGraph, build_event, populate
from .scene import make_camera, make_layout, make_lighting, render_background

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SynthConfig:
    """What one synthetic video looks like. Every field is part of a dataset's identity."""

    frames: int = 48
    fps: float = 10.0
    size: int = 224
    normal_fraction: float = 0.2
    events: tuple[str, ...] = ANOMALY_TYPES
    qa: int = 3
    zoom: float = 1.0  # cameras' ground width divided by this: actors zoom x larger in the frame

    def __post_init__(self) -> None:
        if not 0.5 <= float(self.zoom) <= 4.0:
            raise ConfigError(f"zoom must be in [0.5, 4], got {self.zoom}")
        object.__setattr__(self, "zoom", float(self.zoom))
        if not 16 <= self.frames <= 256:
            raise ConfigError(f"frames must be in [16, 256], got {self.frames}")
        if not 1.0 <= self.fps <= 60.0:
            raise ConfigError(f"fps must be in [1, 60], got {self.fps}")
        if not 64 <= self.size <= 1024:
            raise ConfigError(f"size must be in [64, 1024], got {self.size}")
        if not 0.0 <= self.normal_fraction <= 1.0:
            raise ConfigError(f"normal_fraction must be in [0, 1], got {self.normal_fraction}")
        if not 0 <= self.qa <= 16:
            raise ConfigError(f"qa must be in [0, 16], got {self.qa}")
        events = tuple(self.events)
        unknown = [e for e in events if e not in ANOMALY_TYPES]
        if unknown:
            hint = " (normal videos come from normal_fraction / --normal-fraction)" if "normal" in unknown else ""
            raise ConfigError(f"unknown event type(s) {', '.join(unknown)}; choose from {', '.join(ANOMALY_TYPES)}{hint}")
        if not events and self.normal_fraction < 1.0:
            raise ConfigError("events is empty: give at least one event type, or normal_fraction 1")
        object.__setattr__(self, "events", events)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "fps": self.fps, "size": self.size, "normal_fraction": self.normal_fraction,
                "events": list(self.events), "qa": self.qa, "generator": GENERATOR_VERSION,
                **({"zoom": self.zoom} if self.zoom != 1.0 else {})}  # zoom 1: the identity datasets always had


def video_rng(seed: int, split: str, index: int, attempt: int = 0) -> np.random.Generator:
    """The random stream of video ``index`` of ``split`` under ``seed``: different splits (or
    seeds) never share a stream, so a test split is unseen by construction. ``attempt`` > 0
    draws again when a drawn event did not show on screen."""
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(split.encode("utf-8")), int(index)] + ([int(attempt)] if attempt else [])
    return np.random.default_rng(np.random.SeedSequence(key))


def choose_event(rng: np.random.Generator, cfg: SynthConfig) -> tuple[str, str]:
    if not cfg.events or rng.random() < cfg.normal_fraction:
        event = "normal"
    else:
        event = str(cfg.events[int(rng.integers(len(cfg.events)))])
    kinds = EVENTS[event]
    return event, str(kinds[int(rng.integers(len(kinds)))])


def build_scene(seed: int, split: str, index: int, cfg: SynthConfig, *, counterfactual: bool = False,
                event: str | None = None, scene: str | None = None, attempt: int = 0) -> tuple[SceneGraph, np.random.Generator]:
    """The scene graph of one video. ``event``/``scene`` force a choice (tests, previews);
    ``counterfactual`` renders the same video with the anomaly replaced by normal behaviour."""
    rng = video_rng(seed, split, index, attempt)
    ev, kind = choose_event(rng, cfg)
    if event is not None:
        if event not in EVENTS:
            raise ConfigError(f"unknown event type {event!r}; choose from {', '.join(EVENTS)}")
        ev = event
        kind = scene or EVENTS[ev][index % len(EVENTS[ev])]
    if kind not in EVENTS[ev]:
        raise ConfigError(f"event {ev!r} does not happen in a {kind} scene; choose from {', '.join(EVENTS[ev])}")
    cam = make_camera(rng, cfg.size, kind, cfg.zoom)
    layout = make_layout(rng, kind, cam)
    light = make_lighting(rng)
    agents = populate(rng, cam, layout, cfg.frames, cfg.fps)
    bg_seed = int(rng.integers(2**63))  # drawn before the event, so a counterfactual has the same background
    event_obj = build_event(rng, ev, cam, layout, agents, cfg.frames, cfg.fps, counterfactual)
    for i, a in enumerate(agents):
        a.id = i
    g = SceneGraph(kind=kind, camera=cam, layout=layout, agents=agents, event=event_obj, fps=cfg.fps, T=cfg.frames, lighting=light.name)
    g._light = light  # type: ignore[attr-defined]
    g._bg_seed = bg_seed  # type: ignore[attr-defined]
    return g, rng


def render(g: SceneGraph, rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict[int, list]]:
    """Frames (T, S, S, 3) RGB uint8, and each actor's per-frame bbox (None when not drawn)."""
    bg, props = render_background(np.random.default_rng(g._bg_seed), g.camera, g.layout)  # type: ignore[attr-defined]
    g.props = props
    lut = g._light.lut()  # type: ignore[attr-defined]
    bg = cv2.LUT(bg, lut)  # lighting: the background once, agents' colours once
    S = g.camera.size
    frames = np.empty((g.T, S, S, 3), dtype=np.uint8)
    actors = set(g.event.actors)
    boxes: dict[int, list] = {i: [None] * g.T for i in actors}
    drawn = []
    for a in g.agents:
        project_agent(g.camera, a)
        a_lit = copy.copy(a)
        a_lit.style = lit_style(a.style, lut)
        drawn.append(a_lit)
    depth = np.stack([a.uv[:, 1] for a in drawn]) if drawn else np.zeros((0, g.T))  # (A, T) far first
    for t in range(g.T):
        img = frames[t]
        img[:] = bg
        for i in np.argsort(depth[:, t], kind="stable"):
            bb = draw_agent(img, g.camera, drawn[i], t)
            if bb is not None:
                g.on_screen.add(int(i))
            if i in boxes and bb is not None:
                x0, y0, x1, y1 = bb
                if x1 >= 0 and y1 >= 0 and x0 < S and y0 < S:  # on screen
                    boxes[i][t] = (max(0.0, x0), max(0.0, y0), min(S - 1.0, x1), min(S - 1.0, y1))
    return frames, boxes


def measure_event(g: SceneGraph, boxes: dict[int, list]) -> tuple[int, int, list[float]] | None:
    """The event's span narrowed to frames where an actor is on screen, and the union bbox."""
    ev = g.event
    if ev.type == "normal":
        return None
    frames = [t for t in range(ev.start, ev.end + 1) if any(boxes[i][t] is not None for i in ev.actors)]
    if not frames:
        return None
    x0 = min(boxes[i][t][0] for i in ev.actors for t in frames if boxes[i][t] is not None)
    y0 = min(boxes[i][t][1] for i in ev.actors for t in frames if boxes[i][t] is not None)
    x1 = max(boxes[i][t][2] for i in ev.actors for t in frames if boxes[i][t] is not None)
    y1 = max(boxes[i][t][3] for i in ev.actors for t in frames if boxes[i][t] is not None)
    return frames[0], frames[-1], [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]
