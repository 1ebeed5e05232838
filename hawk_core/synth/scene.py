"""Fixed-camera scenes: a ground plane seen through a pinhole camera, its layout (walkway,
plaza, road) and a static background rendered once per video.

World coordinates are metres on the ground plane: ``x`` across the view, ``z`` away from the
camera, the visible ground is the rectangle ``[-W/2, W/2] x [0, D]``. The camera is the
homography that maps that rectangle onto a trapezoid in the image (near edge at the bottom,
wide; far edge higher up and narrower), which is exactly the image of a plane under a
pinhole camera. Varying the trapezoid varies the camera height, tilt, zoom and yaw.

A layout is defined in its own axes (``u`` along the path or road, ``v`` across it), rotated
by ``angle`` about the view centre: paths run across the image (UCSD Ped2, Avenue) or recede
from the camera (UCSD Ped1, DoTA dash-cam-like roads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..media.video import cv2

SCENE_KINDS = ("walkway", "plaza", "road")

# Named colours (RGB); the names are what the text grammar says.
CLOTHES = {
    "red": (200, 40, 40), "blue": (40, 70, 200), "green": (40, 150, 60), "yellow": (230, 200, 40),
    "white": (235, 235, 235), "black": (30, 30, 32), "grey": (128, 128, 128), "orange": (240, 130, 30),
    "purple": (120, 50, 160), "brown": (120, 80, 45), "pink": (235, 130, 170), "navy": (25, 35, 90),
    "beige": (210, 190, 150), "teal": (30, 140, 140),
}
TROUSERS = {"dark": (40, 40, 50), "blue": (50, 70, 130), "black": (25, 25, 25), "grey": (110, 110, 115), "beige": (190, 170, 130), "brown": (100, 70, 40)}
SKIN = [(240, 200, 170), (220, 170, 130), (180, 130, 90), (140, 95, 60), (95, 65, 45)]
HAIR = [(30, 25, 20), (80, 50, 30), (160, 120, 70), (200, 200, 200), (60, 40, 30)]
CAR_COLOURS = {
    "white": (235, 235, 235), "black": (25, 25, 30), "silver": (175, 178, 182), "red": (190, 30, 30),
    "blue": (35, 70, 170), "grey": (100, 102, 108), "green": (40, 110, 60), "yellow": (225, 190, 30), "dark blue": (20, 30, 80),
}


@dataclass
class Camera:
    """Homography from ground metres (x, z) to image pixels (u, v)."""

    H: np.ndarray  # (3, 3)
    size: int
    width_m: float
    depth_m: float
    horizon: float  # image row of the far edge of the ground (may be < 0: ground fills the frame)

    def project(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) ground points -> (N, 2) image points."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        h = np.c_[pts, np.ones(len(pts))] @ self.H.T
        return h[:, :2] / h[:, 2:3]

    def project1(self, x: float, z: float) -> tuple[float, float]:
        h = self.H @ np.array([x, z, 1.0])
        return float(h[0] / h[2]), float(h[1] / h[2])

    def unproject(self, uv: np.ndarray) -> np.ndarray:
        inv = np.linalg.inv(self.H)
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        h = np.c_[uv, np.ones(len(uv))] @ inv.T
        return h[:, :2] / h[:, 2:3]

    def scale_at(self, x: float, z: float) -> float:
        """Pixels per metre (horizontal) at a ground point: the size of things standing there."""
        a = self.project(np.array([[x - 0.5, z], [x + 0.5, z]]))
        return float(np.hypot(*(a[1] - a[0])))

    def in_view_many(self, pts: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(N, 2) ground points -> (N,) bool: projects inside the frame (less ``margin`` x size)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        h = np.c_[pts, np.ones(len(pts))] @ self.H.T
        ok = h[:, 2] > 1e-9
        uv = h[:, :2] / np.where(ok, h[:, 2], 1.0)[:, None]
        m = margin * self.size
        return ok & (uv[:, 0] >= m) & (uv[:, 0] <= self.size - m) & (uv[:, 1] >= max(m, self.horizon + m)) & (uv[:, 1] <= self.size - m)

    def in_view(self, x: float, z: float, margin: float = 0.0) -> bool:
        u, v = self.project1(x, z)
        m = margin * self.size
        return m <= u <= self.size - m and max(m, self.horizon + m) <= v <= self.size - m


def make_camera(rng: np.random.Generator, size: int, kind: str, zoom: float = 1.0) -> Camera:
    """A random fixed camera: zoom (ground width), perspective strength, tilt and yaw.
    ``zoom`` > 1 divides the drawn ground width (people and cars ``zoom`` times larger); the
    random stream is the same, so zoom 1 is the camera every earlier dataset drew."""
    width = float(rng.uniform(16, 26) if kind != "road" else rng.uniform(22, 34)) / float(zoom)
    depth = width * float(rng.uniform(1.0, 1.6))
    ratio = float(rng.uniform(0.35, 0.85))  # far edge / near edge in the image: perspective strength
    near_extra = float(rng.uniform(0.0, 0.25)) * size
    near_w = size + 2 * near_extra
    far_w = near_w * ratio
    horizon = float(rng.uniform(-0.05, 0.3)) * size
    shift = float(rng.uniform(-0.12, 0.12)) * size
    near_y = size * float(rng.uniform(1.0, 1.08))
    src = np.float32([[-width / 2, 0], [width / 2, 0], [width / 2, depth], [-width / 2, depth]])
    cx = size / 2
    dst = np.float32(
        [[cx - near_w / 2, near_y], [cx + near_w / 2, near_y], [cx + shift + far_w / 2, horizon], [cx + shift - far_w / 2, horizon]]
    )
    H = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    return Camera(H=H, size=size, width_m=width, depth_m=depth, horizon=horizon)


@dataclass
class Layout:
    """Where things may move. ``u``/``v``: along/across the main axis, metres from ``centre``."""

    kind: str
    centre: np.ndarray  # (2,) world
    angle: float  # radians; axis direction in the world
    path_width: float = 0.0  # walkway: band width; road: carriageway width
    lanes: list[dict] = field(default_factory=list)  # road: {"v": offset, "dir": +1/-1}
    sidewalk: float = 0.0  # road: sidewalk width each side
    extent: float = 60.0  # half-length of paths (beyond the view)
    orientation: str = "across"  # "across" the image or "receding" from the camera
    surface: str = ""

    @property
    def axis(self) -> np.ndarray:
        return np.array([math.cos(self.angle), math.sin(self.angle)])

    @property
    def normal(self) -> np.ndarray:
        return np.array([-math.sin(self.angle), math.cos(self.angle)])

    def to_world(self, u: float | np.ndarray, v: float | np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        return self.centre + u[..., None] * self.axis + v[..., None] * self.normal

    def to_uv(self, p: np.ndarray) -> np.ndarray:
        d = np.asarray(p, dtype=np.float64) - self.centre
        return np.stack([d @ self.axis, d @ self.normal], axis=-1)

    def walk_band(self) -> tuple[float, float]:
        """Across-axis range (v) where pedestrians walk."""
        if self.kind == "walkway":
            return -self.path_width / 2 + 0.4, self.path_width / 2 - 0.4
        if self.kind == "road":  # the far sidewalk side is chosen by the caller; this is the near one
            return self.path_width / 2 + 0.3, self.path_width / 2 + self.sidewalk - 0.3
        return -8.0, 8.0


def make_layout(rng: np.random.Generator, kind: str, cam: Camera) -> Layout:
    centre = np.array([float(rng.uniform(-0.1, 0.1)) * cam.width_m, cam.depth_m * float(rng.uniform(0.35, 0.5))])
    receding = rng.random() < 0.35
    base = math.pi / 2 if receding else 0.0
    angle = base + float(rng.uniform(-0.3, 0.3))
    orientation = "receding" if receding else "across"
    if kind == "walkway":
        return Layout(kind, centre, angle, path_width=float(rng.uniform(4.0, 8.0)), orientation=orientation,
                      surface=str(rng.choice(["paved", "concrete", "brick"])))
    if kind == "plaza":
        return Layout(kind, centre, angle, orientation=orientation, surface=str(rng.choice(["paved", "tiled", "stone"])))
    if kind == "road":
        n = int(rng.choice([2, 4]))
        lane_w = float(rng.uniform(3.2, 3.8))
        # lanes ordered by v; the negative-v half drives along +u, the positive half along -u
        lanes = [{"v": (i - n / 2 + 0.5) * lane_w, "dir": 1 if i < n // 2 else -1, "width": lane_w} for i in range(n)]
        return Layout(kind, centre, angle, path_width=n * lane_w, lanes=lanes, sidewalk=float(rng.uniform(2.5, 4.0)),
                      orientation=orientation, surface="asphalt")
    raise ValueError(f"unknown scene kind {kind!r}")


# --------------------------------------------------------------------------------------
# Background


@dataclass
class Lighting:
    gain: float
    tint: tuple[float, float, float]
    gamma: float
    name: str  # "bright daylight", "overcast", "dusk", ...

    def lut(self) -> np.ndarray:
        x = np.arange(256, dtype=np.float32) / 255.0
        chans = [np.clip(255.0 * (np.clip(x * self.gain * t, 0, 1) ** self.gamma), 0, 255) for t in self.tint]
        return np.stack(chans, axis=-1).astype(np.uint8).reshape(256, 1, 3)


def make_lighting(rng: np.random.Generator) -> Lighting:
    name = str(rng.choice(["bright daylight", "daylight", "overcast", "late afternoon", "dusk"], p=[0.2, 0.35, 0.2, 0.15, 0.1]))
    gain = {"bright daylight": 1.15, "daylight": 1.0, "overcast": 0.85, "late afternoon": 0.95, "dusk": 0.62}[name]
    tint = {"late afternoon": (1.08, 1.0, 0.88), "dusk": (0.95, 0.95, 1.12), "overcast": (0.97, 1.0, 1.03)}.get(name, (1.0, 1.0, 1.0))
    jitter = rng.uniform(0.95, 1.05, size=3)
    return Lighting(gain=gain * float(rng.uniform(0.93, 1.07)), tint=tuple(float(a * b) for a, b in zip(tint, jitter)),
                    gamma=float(rng.uniform(0.85, 1.15)), name=name)


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    small = rng.standard_normal((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _jitter(rng: np.random.Generator, colour, amount: float = 14.0) -> np.ndarray:
    return np.clip(np.asarray(colour, dtype=np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def render_background(rng: np.random.Generator, cam: Camera, layout: Layout, px_per_m: float = 8.0) -> tuple[np.ndarray, list[dict]]:
    """The static frame (RGB uint8, before lighting) and the static props drawn on it."""
    tex, x0 = _ground_texture(rng, cam, layout, px_per_m)
    # texture pixel (i, j) -> world (j / px + x0, i / px) -> image
    T = np.array([[1 / px_per_m, 0, x0], [0, 1 / px_per_m, 0], [0, 0, 1]], dtype=np.float64)
    sky = _jitter(rng, rng.choice([(150, 180, 215), (190, 195, 200), (120, 135, 150)]), 10)
    bg = cv2.warpPerspective(tex, cam.H @ T, (cam.size, cam.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=tuple(float(c) for c in sky))
    if layout.kind == "road":
        _draw_lane_arrows(rng, bg, cam, layout)
    if cam.horizon > 2:
        _draw_skyline(rng, bg, cam)
    return bg, _draw_posts(rng, bg, cam, layout)


def _ground_texture(rng: np.random.Generator, cam: Camera, layout: Layout, px_per_m: float) -> tuple[np.ndarray, float]:
    """The ground as a top-down texture (uint8, ``px_per_m`` pixels a metre) and the world x of
    its left edge."""
    W, D = cam.width_m, cam.depth_m
    # the ground seen in the frame can be wider than the near edge (a narrow far edge shows more)
    size = cam.size
    corners = cam.unproject(np.array([[0, max(cam.horizon, 0) + 1], [size, max(cam.horizon, 0) + 1], [0, size], [size, size]]))
    x0 = float(np.clip(corners[:, 0].min(), -2 * W, -W / 2)) - 1.0
    x1 = float(np.clip(corners[:, 0].max(), W / 2, 2 * W)) + 1.0
    tw, th = int((x1 - x0) * px_per_m), int(D * px_per_m)
    xs = ((np.arange(tw) + 0.5) / px_per_m + x0).astype(np.float32)[None, :]  # (1, tw)
    zs = ((np.arange(th) + 0.5) / px_per_m).astype(np.float32)[:, None]  # (th, 1)
    ax, nx = layout.axis.astype(np.float32), layout.normal.astype(np.float32)
    cx, cz = (float(c) for c in layout.centre)
    U = (xs - cx) * ax[0] + (zs - cz) * ax[1]  # (th, tw) along the layout axis
    V = (xs - cx) * nx[0] + (zs - cz) * nx[1]  # across it
    grass = _jitter(rng, rng.choice([(70, 120, 50), (90, 130, 60), (110, 120, 70), (130, 115, 80)]), 10)
    tex = np.empty((th, tw, 3), dtype=np.float32)
    tex[:] = grass
    fine = _noise(rng, th, tw, 2)[..., None]
    coarse = _noise(rng, th, tw, 24)[..., None]
    {"walkway": _paint_walkway, "plaza": _paint_plaza}.get(layout.kind, _paint_road)(rng, tex, U, V, layout)
    tex *= 1.0 + 0.05 * fine + 0.07 * coarse
    if rng.random() < 0.5:  # a shadow band from a building or tree line
        s = float(rng.uniform(-10, 10))
        shade = np.clip((xs * math.cos(s) + zs * math.sin(s) - rng.uniform(-5, 15)) / 2.0, 0, 1)[..., None]
        tex *= 1.0 - 0.25 * shade
    return np.clip(tex, 0, 255).astype(np.uint8), x0


def _paint_walkway(rng: np.random.Generator, tex: np.ndarray, U: np.ndarray, V: np.ndarray, layout: Layout) -> None:
    pave = _jitter(rng, rng.choice([(170, 165, 155), (150, 145, 140), (175, 140, 115), (190, 185, 170)]))
    on = np.abs(V) <= layout.path_width / 2
    tex[on] = pave
    tile = float(rng.uniform(0.6, 1.2))
    joints = on & ((np.abs((U / tile) % 1.0 - 0.5) > 0.46) | (np.abs((V / tile) % 1.0 - 0.5) > 0.46))
    tex[joints] *= 0.85
    edge = np.abs(np.abs(V) - layout.path_width / 2) < 0.12
    tex[edge] = (120, 118, 112)


def _paint_plaza(rng: np.random.Generator, tex: np.ndarray, U: np.ndarray, V: np.ndarray, layout: Layout) -> None:
    pave = _jitter(rng, rng.choice([(175, 170, 160), (160, 150, 140), (185, 175, 150), (150, 150, 155)]))
    tex[:] = pave
    tile = float(rng.uniform(1.0, 2.5))
    joints = (np.abs((U / tile) % 1.0 - 0.5) > 0.47) | (np.abs((V / tile) % 1.0 - 0.5) > 0.47)
    tex[joints] *= 0.86
    if rng.random() < 0.6:  # a planter or fountain
        c = layout.to_uv(layout.centre)  # (0, 0)
        ru, rv = float(rng.uniform(-9, 9)), float(rng.choice([-1, 1])) * float(rng.uniform(6, 9))
        r = float(rng.uniform(1.0, 2.0))
        ring = np.hypot(U - ru - c[0], V - rv - c[1])
        tex[ring < r] = (80, 130, 60) if rng.random() < 0.5 else (90, 140, 190)
        tex[np.abs(ring - r) < 0.15] = (140, 140, 140)


def _paint_road(rng: np.random.Generator, tex: np.ndarray, U: np.ndarray, V: np.ndarray, layout: Layout) -> None:
    asphalt = _jitter(rng, rng.choice([(70, 70, 75), (90, 90, 92), (60, 62, 66)]), 8)
    walk = _jitter(rng, (165, 160, 150))
    half = layout.path_width / 2
    side = (np.abs(V) > half) & (np.abs(V) <= half + layout.sidewalk)
    tex[np.abs(V) <= half] = asphalt
    tex[side] = walk
    tex[np.abs(np.abs(V) - half) < 0.15] = (185, 185, 180)  # kerbs
    # lane markings: solid centre line between directions, dashed between same-direction lanes
    for a, b in zip(layout.lanes, layout.lanes[1:]):
        vb = (a["v"] + b["v"]) / 2
        line = np.abs(V - vb) < 0.09
        if a["dir"] == b["dir"]:
            line &= (U % 6.0) < 3.0
            tex[line] = (225, 225, 220)
        else:
            tex[line] = (230, 200, 60)


def _draw_lane_arrows(rng: np.random.Generator, bg: np.ndarray, cam: Camera, layout: Layout) -> None:
    """Painted arrows that give each lane's direction."""
    off = float(rng.uniform(0, 12))
    shape = np.array([[-1.2, -0.12], [0.3, -0.12], [0.3, -0.4], [1.2, 0.0], [0.3, 0.4], [0.3, 0.12], [-1.2, 0.12]])
    for lane in layout.lanes:
        for u0 in np.arange(-36 + off, 36, 12.0):
            pts = layout.to_world(u0 + lane["dir"] * shape[:, 0], lane["v"] + shape[:, 1])
            img = cam.project(pts)
            if np.all((img[:, 1] > cam.horizon + 4) & (img[:, 1] < cam.size + 50)):
                cv2.fillPoly(bg, [np.round(img).astype(np.int32)], (215, 215, 210))


def _draw_skyline(rng: np.random.Generator, bg: np.ndarray, cam: Camera) -> None:
    """Buildings and trees beyond the far edge of the ground."""
    x = -5
    while x < cam.size:
        w = int(rng.integers(18, 60))
        h = int(rng.integers(8, max(10, int(cam.horizon) + 20)))
        top = max(0, int(cam.horizon) - h)
        col = _jitter(rng, rng.choice([(150, 140, 130), (120, 115, 110), (170, 160, 140), (60, 100, 50)]), 15)
        cv2.rectangle(bg, (x, top), (x + w, int(cam.horizon) + 2), tuple(float(c) for c in col), -1)
        for wy in range(top + 3, int(cam.horizon) - 2, 6):  # windows
            for wx in range(x + 3, x + w - 3, 7):
                if rng.random() < 0.6:
                    cv2.rectangle(bg, (wx, wy), (wx + 2, wy + 2), (70, 80, 95), -1)
        x += w + int(rng.integers(0, 10))


def _draw_posts(rng: np.random.Generator, bg: np.ndarray, cam: Camera, layout: Layout) -> list[dict]:
    """Lamp posts / bollards along the paths (static props, drawn in the image); their records."""
    props: list[dict] = []
    n_posts = int(rng.integers(0, 5))
    for _ in range(n_posts):
        if layout.kind == "plaza":
            p = layout.to_world(rng.uniform(-10, 10), rng.choice([-1, 1]) * rng.uniform(7, 11))
        else:
            off = layout.path_width / 2 + (layout.sidewalk if layout.kind == "road" else 0.0) + 0.6
            p = layout.to_world(rng.uniform(-15, 15), rng.choice([-1, 1]) * off)
        if not cam.in_view(float(p[0]), float(p[1]), 0.0):
            continue
        u, v = cam.project1(float(p[0]), float(p[1]))
        s = cam.scale_at(float(p[0]), float(p[1]))
        h = 4.0 * s
        cv2.line(bg, (int(u), int(v)), (int(u), int(v - h)), (60, 62, 66), max(1, int(0.12 * s)))
        cv2.circle(bg, (int(u), int(v - h)), max(1, int(0.2 * s)), (230, 225, 200), -1)
        props.append({"kind": "lamp post", "pos": [float(p[0]), float(p[1])]})
    return props
