"""Agents: their appearance, their per-frame state (trajectories) and how they are drawn.

An :class:`Agent` holds one array per state variable over the T frames of a clip: ground
position (metres), heading, a pose mode, the gait phase, a body tilt (falls), an arm action
(punches, throws) and a height above ground (thrown objects). Behaviours in
:mod:`hawk_core.synth.events` write these arrays; :func:`draw_agent` turns one frame's state
into pixels with OpenCV primitives and returns the drawn bounding box.

Pedestrians are articulated figures (head, torso, two-segment legs, arms) whose legs and arms
swing with the gait phase; the phase advances with the distance walked, so a runner's legs
cycle faster and wider than a walker's although both look the same standing still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..media.video import cv2
from .scene import CAR_COLOURS, CLOTHES, HAIR, SKIN, TROUSERS, Camera

# pose modes
WALK, RUN, STAND, FIGHT, THROW, RIDE, SKATE, LIE = range(8)
STRIDE = {WALK: 1.5, RUN: 2.8, SKATE: 6.0, RIDE: 4.5}  # metres per full gait cycle



@dataclass
class Agent:
    kind: str
    style: dict
    pos: np.ndarray  # (T, 2) ground metres
    head: np.ndarray  # (T, 2) unit heading
    visible: np.ndarray  # (T,) bool: exists in the scene at frame t
    mode: np.ndarray  # (T,) int pose mode
    phase: np.ndarray  # (T,) radians, gait
    tilt: np.ndarray  # (T,) radians, body rotation (0 upright, +-pi/2 lying)
    act: np.ndarray  # (T,) arm action in [-1, 1]
    lift: np.ndarray  # (T,) metres above ground
    role: str = "normal"  # "normal" or "actor" (part of the anomaly)
    id: int = 0
    meta: dict = field(default_factory=dict)
    # filled by project_agent() before drawing: image foot point, pixels/metre, image heading x
    uv: np.ndarray | None = None
    sc: np.ndarray | None = None
    dx: np.ndarray | None = None

    @classmethod
    def still(cls, kind: str, style: dict, T: int, pos=(0.0, 0.0), head=(1.0, 0.0), mode: int = WALK) -> Agent:
        return cls(
            kind=kind, style=style,
            pos=np.tile(np.asarray(pos, dtype=np.float64), (T, 1)), head=np.tile(np.asarray(head, dtype=np.float64), (T, 1)),
            visible=np.ones(T, dtype=bool), mode=np.full(T, mode, dtype=np.int8), phase=np.zeros(T),
            tilt=np.zeros(T), act=np.zeros(T), lift=np.zeros(T),
        )

    @property
    def T(self) -> int:
        return len(self.pos)

    def finish(self, start_phase: float = 0.0, *, from_frame: int = 0) -> Agent:
        """Derive the gait phase from the distance moved (legs cycle once per stride). With
        ``from_frame``, frames before it keep their phase and the gait continues from there."""
        step = np.r_[0.0, np.hypot(*np.diff(self.pos, axis=0).T)]
        stride = np.array([STRIDE.get(int(m), 1.5) for m in self.mode])
        phase = start_phase + np.cumsum(2 * math.pi * step / stride)
        if from_frame > 0:
            phase[from_frame:] = self.phase[from_frame - 1] + np.cumsum(2 * math.pi * step[from_frame:] / stride[from_frame:])
            phase[:from_frame] = self.phase[:from_frame]
        self.phase = phase
        return self


def person_style(rng: np.random.Generator) -> dict:
    shirt = str(rng.choice(list(CLOTHES)))
    trousers = str(rng.choice(list(TROUSERS)))
    return {
        "shirt": shirt, "shirt_rgb": CLOTHES[shirt], "trousers": trousers, "trousers_rgb": TROUSERS[trousers],
        "skin": SKIN[int(rng.integers(len(SKIN)))], "hair": HAIR[int(rng.integers(len(HAIR)))],
        "height": float(rng.uniform(1.55, 1.9)), "build": float(rng.uniform(0.85, 1.2)),
        "top": str(rng.choice(["shirt", "jacket", "top", "coat", "hoodie"])),
        "bag": bool(rng.random() < 0.25),
    }


def car_style(rng: np.random.Generator) -> dict:
    colour = str(rng.choice(list(CAR_COLOURS)))
    body = str(rng.choice(["sedan", "hatchback", "SUV", "van"], p=[0.4, 0.25, 0.25, 0.1]))
    dims = {"sedan": (4.6, 1.8, 1.45), "hatchback": (4.0, 1.75, 1.5), "SUV": (4.8, 1.95, 1.75), "van": (5.2, 2.0, 2.1)}[body]
    return {"colour": colour, "rgb": CAR_COLOURS[colour], "body": body, "length": dims[0], "width": dims[1], "height": dims[2]}


def cart_style(rng: np.random.Generator) -> dict:
    colour = str(rng.choice(["white", "green", "yellow", "grey"]))
    rgb = {"white": (230, 230, 225), "green": (50, 120, 60), "yellow": (220, 190, 40), "grey": (120, 120, 120)}[colour]
    return {"colour": colour, "rgb": rgb, "body": "cart", "length": 2.2, "width": 1.2, "height": 1.7}


def object_style(rng: np.random.Generator) -> dict:
    name = str(rng.choice(["ball", "bottle", "bag", "rock"]))
    colour = {"ball": (220, 60, 40), "bottle": (60, 160, 90), "bag": (200, 200, 60), "rock": (90, 85, 80)}[name]
    return {"name": name, "rgb": colour, "radius": {"ball": 0.2, "bottle": 0.16, "bag": 0.25, "rock": 0.18}[name]}


# --------------------------------------------------------------------------------------
# Drawing. Each function draws one agent at frame t into ``img`` and returns its bbox.


def _th(x: float) -> int:
    return int(x + 0.5) if x >= 1.5 else 1


def project_agent(cam: Camera, a: Agent) -> None:
    """Vectorised projection of all T states: foot point, local scale, heading in the image."""
    T = a.T
    pts = np.concatenate([a.pos, a.pos + np.array([0.5, 0.0]), a.pos + 0.5 * a.head])
    h = pts @ cam.H[:, :2].T + cam.H[:, 2]
    w = h[:, 2]
    bad = w <= 1e-9
    uv = h[:, :2] / np.where(bad, 1.0, w)[:, None]
    foot, right, ahead = uv[:T], uv[T : 2 * T], uv[2 * T :]
    a.uv = foot
    a.sc = np.where(bad[:T] | bad[T : 2 * T], 0.0, 2.0 * np.hypot(*(right - foot).T))
    d = ahead - foot
    n = np.hypot(*d.T)
    a.dx = np.where(n > 1e-9, d[:, 0] / np.where(n > 1e-9, n, 1.0), 1.0)


_AMP = {WALK: 0.22, RUN: 0.42, FIGHT: 0.12, SKATE: 0.05}
_LEAN = {RUN: 0.12, FIGHT: 0.08, SKATE: 0.05}


def draw_person(img: np.ndarray, cam: Camera, a: Agent, t: int, *, seated: bool = False, lift: float | None = None) -> tuple:
    st = a.style
    u, v = float(a.uv[t, 0]), float(a.uv[t, 1])
    s = float(a.sc[t])
    h = st["height"] * s  # pixels
    v -= (a.lift[t] if lift is None else lift) * s
    dx = float(a.dx[t])
    side = abs(dx)  # 1: seen from the side, 0: walking to/away from the camera
    face = 1.0 if dx >= 0 else -1.0
    mode = int(a.mode[t])
    ph = float(a.phase[t])
    amp = _AMP.get(mode, 0.0)
    lean = _LEAN.get(mode, 0.0) * face
    sw = math.sin(ph)
    # local figure coordinates in units of body height: x right, y up; foot point at (0, 0)
    hip = (lean * 0.3, 0.5 if not seated else 0.62)
    sh = (lean, 0.82)
    head = (lean * 1.15, 0.91)
    spread = 0.045 * (1.0 - side) + 0.01
    if mode == RIDE:  # pedalling: feet on a circle
        feet = [(hip[0] + 0.08 * face + 0.12 * math.cos(ph + k * math.pi) * face, hip[1] - 0.42 + 0.1 * math.sin(ph + k * math.pi)) for k in (0, 1)]
    elif mode == SKATE:
        feet = [(-0.1 * face, 0.06), (0.12 * face, 0.06)]
    else:
        feet = [(k * spread + face * side * amp * sw * k, max(0.0, 0.05 * math.sin(ph + (0.0 if k > 0 else math.pi)))) for k in (-1, 1)]
    kb = 0.06 * face * (1.0 if mode in (RUN, RIDE) else 0.5)
    knees = [((hip[0] + f[0]) / 2 + kb, (hip[1] + f[1]) / 2) for f in feet]
    arm_sw = -sw * amp * 0.8 * side
    act = float(a.act[t])
    hands = []
    for k, sgn in ((0, 1.0), (1, -1.0)):
        if mode == FIGHT:  # alternating punches toward the facing direction
            ext = max(0.0, act * sgn)
            hands.append((sh[0] + face * (0.12 + 0.28 * ext), sh[1] - 0.08 + 0.06 * ext))
        elif mode == THROW and k == 0:
            ang = math.pi * (0.75 * act)  # act -1..1: arm back over the head, then forward
            hands.append((sh[0] + face * 0.3 * math.sin(ang), sh[1] + 0.3 * math.cos(ang)))
        elif mode == RIDE:
            hands.append((sh[0] + face * 0.25, sh[1] - 0.18))
        elif mode == SKATE:
            hands.append((sh[0] + sgn * 0.2, sh[1] - 0.2))
        else:
            hands.append((sh[0] + face * sgn * arm_sw + (k - 0.5) * 0.06 * (1 - side), sh[1] - 0.32))
    c, sn = math.cos(a.tilt[t]), math.sin(a.tilt[t])
    local = (hip, sh, head, feet[0], feet[1], knees[0], knees[1], hands[0], hands[1])
    xs = [u + (p[0] * c + p[1] * sn) * h for p in local]  # rotate about the foot point
    ys = [v - (-p[0] * sn + p[1] * c) * h for p in local]
    P = [(int(x + 0.5), int(y + 0.5)) for x, y in zip(xs, ys)]
    HIP, SH, HEAD, F0, F1, K0, K1, H0, H1 = range(9)
    build = st["build"]
    leg_w, arm_w, torso_w = _th(0.075 * h * build), _th(0.05 * h * build), _th(0.17 * h * build)
    trousers, shirt, skin = st["trousers_rgb"], st["shirt_rgb"], st["skin"]
    if a.lift[t] <= 0.01 and abs(a.tilt[t]) < 0.3 and lift is None:
        cv2.ellipse(img, (int(u), int(v)), (_th(0.14 * h), _th(0.04 * h)), 0, 0, 360, SHADOW, -1)
    legs = np.array([[P[F0], P[K0], P[HIP], P[K1], P[F1]]], dtype=np.int32)
    cv2.polylines(img, legs, False, trousers, leg_w)
    cv2.line(img, P[HIP], P[SH], shirt, torso_w)
    cv2.polylines(img, np.array([[P[H0], P[SH], P[H1]]], dtype=np.int32), False, shirt, arm_w)
    if h > 40:  # hands are sub-pixel on smaller figures
        cv2.circle(img, P[H0], _th(0.025 * h), skin, -1)
        cv2.circle(img, P[H1], _th(0.025 * h), skin, -1)
    if st.get("bag"):
        cv2.circle(img, P[H1], _th(0.045 * h), (90, 60, 40), -1)
    cv2.circle(img, P[HEAD], _th(0.065 * h), skin, -1)
    if h > 12:
        cv2.ellipse(img, (P[HEAD][0], int(ys[HEAD] - 0.02 * h)), (_th(0.065 * h), _th(0.045 * h)), 0, 180, 360, st["hair"], -1)
    pad = 0.09 * h
    return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)


SHADOW = (40, 40, 42)


_UNIT_BOX = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]])


def draw_vehicle(img: np.ndarray, cam: Camera, a: Agent, t: int) -> tuple:
    """A car (or utility cart): body box, glass cabin, roof; ``tilt`` yaws it (crashes)."""
    st = a.style
    p = a.pos[t]
    hd = a.head[t]
    if a.tilt[t] != 0.0:
        c, s_ = math.cos(a.tilt[t]), math.sin(a.tilt[t])
        hd = np.array([hd[0] * c - hd[1] * s_, hd[0] * s_ + hd[1] * c])
    nrm = np.array([-hd[1], hd[0]])
    s = float(a.sc[t])
    L, Wd, Ht = st["length"], st["width"], st["height"]
    boxes = []
    for back, ln, wd in ((0.0, L, Wd), (0.1 * L, 0.55 * L, 0.9 * Wd), (0.12 * L, 0.45 * L, 0.82 * Wd)):
        centre = p - hd * back
        boxes.append(centre + (_UNIT_BOX[:, :1] * ln) * hd + (_UNIT_BOX[:, 1:] * wd) * nrm)
    img_pts = cam.project(np.vstack(boxes))
    base, cab_base, roof = img_pts[:4], img_pts[4:8].copy(), img_pts[8:].copy()
    up = np.array([0.0, -s])
    mid = base + up * Ht * 0.5
    cab_base += up * Ht * 0.5
    roof += up * Ht
    col = st["rgb"]
    dark = st.get("rgb_dark") or tuple(int(c * 0.55) for c in col)
    glass = st.get("glass") or (60, 70, 85)
    shadow = np.round(base + np.array([0.08 * s, 0.05 * s])).astype(np.int32)
    cv2.fillConvexPoly(img, cv2.convexHull(shadow), SHADOW)
    cv2.fillConvexPoly(img, cv2.convexHull(np.round(np.vstack([base, mid])).astype(np.int32)), dark)
    cv2.fillConvexPoly(img, cv2.convexHull(np.round(mid).astype(np.int32)), col)
    cv2.fillConvexPoly(img, cv2.convexHull(np.round(np.vstack([cab_base, roof])).astype(np.int32)), glass)
    cv2.fillConvexPoly(img, cv2.convexHull(np.round(roof).astype(np.int32)), col)
    if s > 4:  # lights: front corners white, back corners red
        r = _th(0.12 * s)
        for i, colr in ((0, (250, 250, 220)), (1, (250, 250, 220)), (2, (200, 20, 20)), (3, (200, 20, 20))):
            q = mid[i] * 0.7 + base[i] * 0.3
            cv2.circle(img, (int(q[0]), int(q[1])), r, colr, -1)
    allp = np.vstack([base, mid, roof])
    return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())


def draw_bicycle(img: np.ndarray, cam: Camera, a: Agent, t: int) -> tuple:
    u, v = float(a.uv[t, 0]), float(a.uv[t, 1])
    s = float(a.sc[t])
    dx = float(a.dx[t])
    side = max(0.25, abs(dx))
    face = 1.0 if dx >= 0 else -1.0
    r = 0.34 * s
    wb = 0.55 * s * side
    for k in (-1, 1):
        cv2.ellipse(img, (int(u + k * wb), int(v - r)), (_th(r * side), _th(r)), 0, 0, 360, (30, 30, 30), _th(0.05 * s))
    frame_col = a.style.get("bike_rgb", (180, 30, 30))
    cv2.line(img, (int(u - wb), int(v - r)), (int(u), int(v - 0.8 * s)), frame_col, _th(0.06 * s))
    cv2.line(img, (int(u), int(v - 0.8 * s)), (int(u + wb), int(v - r)), frame_col, _th(0.06 * s))
    cv2.line(img, (int(u + face * wb * 0.8), int(v - 1.0 * s)), (int(u + wb * face), int(v - r)), frame_col, _th(0.05 * s))
    bb = draw_person(img, cam, a, t, seated=True, lift=0.35)  # the rider sits above the frame
    return (min(bb[0], u - wb - r), bb[1], max(bb[2], u + wb + r), max(bb[3], v))


def draw_skateboard(img: np.ndarray, cam: Camera, a: Agent, t: int) -> tuple:
    u, v = float(a.uv[t, 0]), float(a.uv[t, 1])
    s = float(a.sc[t])
    half = 0.45 * s * max(0.3, abs(float(a.dx[t])))
    cv2.ellipse(img, (int(u), int(v)), (_th(half), _th(0.1 * s)), 0, 0, 360, SHADOW, -1)
    cv2.line(img, (int(u - half), int(v - 0.05 * s)), (int(u + half), int(v - 0.05 * s)), a.style.get("board_rgb", (200, 120, 40)), _th(0.08 * s))
    bb = draw_person(img, cam, a, t, lift=0.1)
    return (min(bb[0], u - half), bb[1], max(bb[2], u + half), max(bb[3], v + 0.05 * s))


def draw_object(img: np.ndarray, cam: Camera, a: Agent, t: int) -> tuple:
    u, v = float(a.uv[t, 0]), float(a.uv[t, 1])
    s = float(a.sc[t])
    r = a.style["radius"] * s
    cv2.ellipse(img, (int(u), int(v)), (_th(r), _th(r * 0.4)), 0, 0, 360, SHADOW, -1)  # shadow on the ground
    cy = v - a.lift[t] * s - r
    if a.style["name"] == "bottle":
        ang = float(a.phase[t])
        ex, ey = math.cos(ang) * 1.6 * r, math.sin(ang) * 1.6 * r
        cv2.line(img, (int(u - ex), int(cy - ey)), (int(u + ex), int(cy + ey)), a.style["rgb"], _th(0.9 * r))
    else:
        cv2.circle(img, (int(u), int(cy)), _th(r), a.style["rgb"], -1)
    return (u - 2 * r, cy - 2 * r, u + 2 * r, v + r)


DRAW = {
    "person": draw_person,
    "car": draw_vehicle,
    "cart": draw_vehicle,
    "cyclist": draw_bicycle,
    "skateboarder": draw_skateboard,
    "object": draw_object,
}
EXTENT = {"person": 2.2, "car": 6.0, "cart": 3.0, "cyclist": 2.5, "skateboarder": 2.3, "object": 12.0}  # metres, for culling


def draw_agent(img: np.ndarray, cam: Camera, a: Agent, t: int) -> tuple | None:
    """Draw agent ``a`` at frame ``t``; returns its image bbox (x0, y0, x1, y1) or None when
    hidden or off screen. :func:`project_agent` must have run on ``a``."""
    if not a.visible[t]:
        return None
    s = float(a.sc[t])
    u, v = float(a.uv[t, 0]), float(a.uv[t, 1])
    if s <= 0 or v < cam.horizon - 1:
        return None
    e = EXTENT[a.kind] * s
    S = cam.size
    if u + e < 0 or u - e > S or v - e > S or v + e < 0:
        return None
    return DRAW[a.kind](img, cam, a, t)


_COLOUR_KEYS = ("shirt_rgb", "trousers_rgb", "skin", "hair", "rgb", "bike_rgb", "board_rgb")


def lit_style(style: dict, lut: np.ndarray) -> dict:
    """The style with its colours passed through the scene's lighting table (256, 1, 3)."""
    out = dict(style)
    for k in _COLOUR_KEYS:
        if k in out:
            out[k] = tuple(int(lut[int(c), 0, i]) for i, c in enumerate(out[k]))
    if "rgb" in out:
        out["rgb_dark"] = tuple(int(c * 0.55) for c in out["rgb"])
        out["glass"] = tuple(int(lut[c, 0, i]) for i, c in enumerate((60, 70, 85)))
    return out
