"""Scene graphs: the normal population of a scene and the anomalous event injected into it.

Every event is built in two steps from the same random draws: the actors first get a normal
trajectory (walk through, drive in lane), then, unless ``counterfactual`` is set, the event
overwrites it from its start frame. The counterfactual render is therefore the same video
with the anomaly replaced by normal behaviour (walking on, driving in lane) or, for an agent
that does not belong (a bicycle on a walkway, a wrong-way car), without that agent. The tests
compare the two to prove that the ground-truth span and region hold the anomalous motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .agents import FIGHT, LIE, RIDE, RUN, SKATE, STAND, THROW, WALK, Agent, car_style, cart_style, object_style, person_style
from .scene import Camera, Layout

# event type -> scene kinds it can happen in
EVENTS: dict[str, tuple[str, ...]] = {
    "normal": ("walkway", "plaza", "road"),
    "running": ("walkway", "plaza"),
    "cycling": ("walkway", "plaza"),
    "skateboarding": ("walkway", "plaza"),
    "cart": ("walkway",),
    "falling": ("walkway", "plaza", "road"),
    "fighting": ("walkway", "plaza"),
    "loitering": ("walkway", "road"),
    "wrong_way": ("road",),
    "collision": ("road",),
    "throwing": ("walkway", "plaza", "road"),
    "dispersal": ("plaza",),
}
EVENT_TYPES = tuple(EVENTS)
ANOMALY_TYPES = tuple(e for e in EVENT_TYPES if e != "normal")


@dataclass
class Event:
    type: str
    actors: list[int] = field(default_factory=list)  # indices into SceneGraph.agents
    start: int = 0  # frames, inclusive
    end: int = 0
    details: dict = field(default_factory=dict)


@dataclass
class SceneGraph:
    kind: str
    camera: Camera
    layout: Layout
    agents: list[Agent]
    event: Event
    fps: float
    T: int
    lighting: str = ""
    props: list[dict] = field(default_factory=list)
    on_screen: set[int] = field(default_factory=set)  # agents drawn in at least one frame (filled by render)


# --------------------------------------------------------------------------------------
# trajectories


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = float(np.hypot(*v)) or 1.0
    return v / n


def straight(T: int, fps: float, through: np.ndarray, at_frame: float, direction, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 2) of a constant-velocity walk passing ``through`` at ``at_frame``, and headings."""
    d = _unit(direction)
    t = (np.arange(T) - at_frame) / fps
    return through + t[:, None] * speed * d, np.tile(d, (T, 1))


def visible_range(cam: Camera, layout: Layout, v: float, margin: float = 0.08) -> tuple[float, float]:
    """The along-axis (u) interval of the line at offset ``v`` that is in the frame."""
    us = np.linspace(-layout.extent, layout.extent, 241)
    pts = layout.to_world(us, np.full_like(us, v))
    idx = np.flatnonzero(cam.in_view_many(pts, margin))
    if len(idx) == 0:
        return -2.0, 2.0
    return float(us[idx[0]]), float(us[idx[-1]])


def view_point(rng: np.random.Generator, cam: Camera, layout: Layout, vband: tuple[float, float], margin: float = 0.18) -> np.ndarray:
    """A random ground point inside the frame's central area, within the across-axis band."""
    best = None
    for _ in range(60):
        v = float(rng.uniform(*vband))
        lo, hi = visible_range(cam, layout, v, margin)
        u = float(rng.uniform(lo, hi))
        p = layout.to_world(u, v)
        if cam.in_view(float(p[0]), float(p[1]), margin):
            return p
        best = p
    return best if best is not None else layout.centre.copy()


def _walker(rng, T, fps, cam, layout, vband, speed=None, direction=None, at_frame=None, style=None, through=None) -> Agent:
    speed = float(rng.uniform(1.0, 1.6)) if speed is None else speed
    if direction is None:
        direction = layout.axis * float(rng.choice([-1, 1])) if layout.kind != "plaza" else _unit(rng.standard_normal(2))
    through = view_point(rng, cam, layout, vband, 0.05) if through is None else through
    at_frame = float(rng.uniform(-0.2 * T, 1.2 * T)) if at_frame is None else at_frame
    pos, head = straight(T, fps, through, at_frame, direction, speed)
    a = Agent.still("person", style or person_style(rng), T)
    a.pos, a.head = pos, head
    a.mode[:] = WALK
    return a.finish(float(rng.uniform(0, 2 * math.pi)))


def _bands(layout: Layout) -> list[tuple[float, float]]:
    if layout.kind == "road":
        lo, hi = layout.walk_band()
        return [(lo, hi), (-hi, -lo)]
    if layout.kind == "walkway":
        return [layout.walk_band()]
    return [(-7.0, 7.0)]


def populate(rng: np.random.Generator, cam: Camera, layout: Layout, T: int, fps: float) -> list[Agent]:
    """The normal agents of a scene: pedestrians along the paths, cars in their lanes."""
    agents: list[Agent] = []
    n_people = {"walkway": (3, 10), "plaza": (4, 12), "road": (0, 5)}[layout.kind]
    for _ in range(int(rng.integers(*n_people))):
        band = _bands(layout)[int(rng.integers(len(_bands(layout))))]
        agents.append(_walker(rng, T, fps, cam, layout, band))
    if layout.kind == "plaza" and rng.random() < 0.5:
        agents.extend(_group(rng, cam, layout, T, fps, int(rng.integers(4, 8)))[0])
    if layout.kind == "road":
        for li, lane in enumerate(layout.lanes):
            speed = float(rng.uniform(8.0, 13.0))
            tau = float(rng.uniform(-6.0, -2.0))
            end = T / fps + 6.0
            while tau < end:
                st = car_style(rng)
                u0 = -lane["dir"] * speed * tau  # passes u=0 at time tau
                t = np.arange(T) / fps
                u = u0 + lane["dir"] * speed * t
                a = Agent.still("car", st, T)
                a.pos = layout.to_world(u, np.full(T, lane["v"]))
                a.head = np.tile(layout.axis * lane["dir"], (T, 1))
                a.meta = {"lane": li, "speed": speed}
                agents.append(a)
                tau += float(rng.uniform(1.3, 4.5)) + st["length"] / speed
    return agents


def _group(rng, cam, layout, T, fps, n) -> tuple[list[Agent], np.ndarray]:
    """People gathered around a point, milling about slowly (normal in a plaza)."""
    centre = view_point(rng, cam, layout, (-4.0, 4.0), 0.25)
    out = []
    for k in range(n):
        ang = 2 * math.pi * k / n + float(rng.uniform(-0.3, 0.3))
        r = float(rng.uniform(0.8, 2.6))
        base = centre + r * np.array([math.cos(ang), math.sin(ang)])
        a = Agent.still("person", person_style(rng), T, pos=base, head=-np.array([math.cos(ang), math.sin(ang)]), mode=STAND)
        _mill(rng, a, base, T, fps, 0, T)
        out.append(a.finish(float(rng.uniform(0, 2 * math.pi))))
    return out, centre


def _mill(rng, a: Agent, base: np.ndarray, T: int, fps: float, t0: int, t1: int) -> None:
    """Slow wandering around ``base`` between frames t0 and t1: short steps and pauses."""
    f = float(rng.uniform(0.05, 0.15))
    ph = rng.uniform(0, 2 * math.pi, 2)
    t = np.arange(t0, t1)
    off = 0.35 * np.stack([np.sin(2 * math.pi * f * t / fps * 3 + ph[0]), np.sin(2 * math.pi * f * t / fps * 2 + ph[1])], axis=1)
    a.pos[t0:t1] = base + off
    vel = np.gradient(a.pos[t0:t1], axis=0) if t1 - t0 > 1 else np.zeros((t1 - t0, 2))
    speed = np.hypot(*vel.T) * fps
    a.mode[t0:t1] = np.where(speed > 0.2, WALK, STAND)


# --------------------------------------------------------------------------------------
# events: each takes (rng, scene parts, counterfactual) and returns the actors and span


def _span_start(rng, T, lo=0.2, hi=0.45) -> int:
    return int(rng.integers(int(lo * T), max(int(lo * T) + 1, int(hi * T))))


def ev_running(rng, cam, layout, agents, T, fps, cf):
    band = _bands(layout)[0]
    t0 = _span_start(rng, T)
    P = view_point(rng, cam, layout, band, 0.25)
    d = layout.axis * float(rng.choice([-1, 1])) if layout.kind != "plaza" else _unit(rng.standard_normal(2))
    walk_v, run_v = float(rng.uniform(1.1, 1.5)), float(rng.uniform(4.0, 6.5))
    a = _walker(rng, T, fps, cam, layout, band, speed=walk_v, direction=d, at_frame=t0, through=P)
    if not cf:
        ramp = 3
        v = np.where(np.arange(T) < t0, walk_v, np.minimum(run_v, walk_v + (run_v - walk_v) * (np.arange(T) - t0 + 1) / ramp))
        dist = np.cumsum(v / fps) - np.sum(v[: t0 + 1] / fps)
        a.pos[t0:] = P + dist[t0:, None] * d
        a.mode[t0:] = RUN
        a.finish(from_frame=t0)
    return [a], t0, T - 1, {"speed": run_v, "walk_speed": walk_v}


def _vehicle_on_path(kind):
    def ev(rng, cam, layout, agents, T, fps, cf):
        band = _bands(layout)[0]
        P = view_point(rng, cam, layout, band, 0.2)
        d = layout.axis * float(rng.choice([-1, 1])) if layout.kind != "plaza" else _unit(rng.standard_normal(2))
        at = float(rng.uniform(0.35, 0.65)) * T
        speed = {"cycling": (4.5, 7.0), "skateboarding": (2.8, 4.2), "cart": (2.6, 3.8)}[kind]
        v = float(rng.uniform(*speed))
        style = person_style(rng)
        style["bike_rgb"] = tuple(int(c) for c in rng.integers(20, 230, 3))
        style["board_rgb"] = tuple(int(c) for c in rng.integers(20, 230, 3))
        cstyle = cart_style(rng)
        pos, head = straight(T, fps, P, at, d, v)
        if kind == "cart":
            a = Agent.still("cart", cstyle, T)
        else:
            a = Agent.still("cyclist" if kind == "cycling" else "skateboarder", style, T, mode=RIDE if kind == "cycling" else SKATE)
        a.pos, a.head = pos, head
        a.finish()
        if cf:  # the normal scene has no vehicle on the path
            a.visible[:] = False
        return [a], 0, T - 1, {"speed": v}

    return ev


def ev_falling(rng, cam, layout, agents, T, fps, cf):
    band = _bands(layout)[int(rng.integers(len(_bands(layout))))]
    t0 = _span_start(rng, T, 0.2, 0.5)
    P = view_point(rng, cam, layout, band, 0.22)
    d = layout.axis * float(rng.choice([-1, 1])) if layout.kind != "plaza" else _unit(rng.standard_normal(2))
    a = _walker(rng, T, fps, cam, layout, band, speed=float(rng.uniform(1.0, 1.5)), direction=d, at_frame=t0, through=P)
    fall_n = int(rng.integers(4, 7))
    gets_up = bool(rng.random() < 0.3)
    up_at = t0 + fall_n + int(rng.integers(int(0.25 * T), int(0.35 * T)))
    end = T - 1
    if not cf:
        dx = (cam.project(np.array([P, P + d]))[1] - cam.project(np.array([P, P]))[0])[0]
        sgn = -1.0 if dx >= 0 else 1.0  # fall forward, in the walking direction
        a.pos[t0:] = P + d * (np.minimum(np.arange(T - t0), fall_n) * 0.12)[:, None]
        a.mode[t0:] = LIE
        k = np.arange(T - t0)
        a.tilt[t0:] = sgn * 1.45 * np.clip(k / fall_n, 0, 1) ** 1.6
        if gets_up and up_at + 8 < T:
            rise = np.clip((np.arange(T) - up_at) / 8.0, 0, 1)
            a.tilt[up_at:] = sgn * 1.45 * (1 - rise[up_at:])
            a.mode[up_at + 8 :] = WALK
            a.mode[up_at : up_at + 8] = STAND
            walk = np.maximum(0, np.arange(T) - (up_at + 8)) / fps * 0.9
            a.pos[up_at:] = a.pos[up_at] + walk[up_at:, None] * d
            end = up_at + 8
        else:
            gets_up = False
        a.finish(from_frame=t0)
    return [a], t0, end, {"gets_up": gets_up}


def ev_fighting(rng, cam, layout, agents, T, fps, cf):
    band = _bands(layout)[0]
    t0 = _span_start(rng, T, 0.25, 0.45)
    P = view_point(rng, cam, layout, band, 0.25)
    d = layout.axis if layout.kind != "plaza" else _unit(rng.standard_normal(2))
    sp = float(rng.uniform(1.0, 1.4))
    n = layout.normal if layout.kind != "plaza" else np.array([-d[1], d[0]])
    # they walk towards each other on lines 0.8 m apart (the counterfactual: they pass)
    a = _walker(rng, T, fps, cam, layout, band, speed=sp, direction=d, at_frame=t0, through=P - 0.5 * d + 0.4 * n)
    b = _walker(rng, T, fps, cam, layout, band, speed=sp, direction=-d, at_frame=t0, through=P + 0.5 * d - 0.4 * n)
    if cf:
        return [a, b], t0, T - 1, {}
    freq = rng.uniform(1.8, 3.0, 2)
    ph = rng.uniform(0, 2 * math.pi, 2)
    t = (np.arange(T) - t0) / fps
    close = np.clip((np.arange(T) - t0 + 1) / 3.0, 0, 1)[:, None]  # step in line with each other over 3 frames
    for k, (ag, sgn) in enumerate(((a, -1.0), (b, 1.0))):
        lunge = 0.2 * np.sin(2 * math.pi * freq[k] * t + ph[k]) + 0.05 * rng.standard_normal(T)
        sway = 0.15 * np.sin(2 * math.pi * 0.7 * t + ph[k])[:, None] * n[None, :]
        pos = P + sgn * d * (0.5 + lunge[:, None]) - sgn * 0.4 * n * (1 - close) + sway
        ag.pos[t0:] = pos[t0:]
        ag.head[t0:] = -sgn * d
        ag.mode[t0:] = FIGHT
        ag.act[t0:] = np.sin(2 * math.pi * freq[k] * 1.3 * t[t0:] + ph[k])
        ag.finish(from_frame=t0)
    return [a, b], t0, T - 1, {}


def ev_loitering(rng, cam, layout, agents, T, fps, cf):
    band = _bands(layout)[0]
    t0 = _span_start(rng, T, 0.08, 0.25)
    P = view_point(rng, cam, layout, band, 0.25)
    d = layout.axis * float(rng.choice([-1, 1]))
    a = _walker(rng, T, fps, cam, layout, band, speed=float(rng.uniform(1.1, 1.4)), direction=d, at_frame=t0, through=P)
    if not cf:
        # pace back and forth along the path, turning round, with short stops
        amp = float(rng.uniform(1.0, 2.0))
        period = float(rng.uniform(2.4, 3.6))  # seconds per back-and-forth
        t = (np.arange(T) - t0) / fps
        s = amp * np.sin(2 * math.pi * t / period)
        s = np.sign(s) * np.minimum(np.abs(s) * 1.2, amp)  # a pause at each end
        a.pos[t0:] = P + s[t0:, None] * d
        vel = np.gradient(s)
        a.head[t0:] = np.where(vel[t0:, None] >= 0, d, -d)
        a.mode[t0:] = np.where(np.abs(vel[t0:]) * fps > 0.15, WALK, STAND)
        a.finish(from_frame=t0)
    return [a], t0, T - 1, {}


def _lane_agents(agents, lane):
    return [i for i, a in enumerate(agents) if a.kind == "car" and a.meta.get("lane") == lane]


def ev_wrong_way(rng, cam, layout, agents, T, fps, cf):
    li = int(rng.integers(len(layout.lanes)))
    lane = layout.lanes[li]
    lo, hi = visible_range(cam, layout, lane["v"], 0.0)
    speed = float(rng.uniform(8.0, 12.0))
    at = float(rng.uniform(0.35, 0.6)) * T
    P = layout.to_world((lo + hi) / 2, lane["v"])
    wrong, right = straight(T, fps, P, at, -layout.axis * lane["dir"], speed), straight(T, fps, P, at, layout.axis * lane["dir"], speed)
    pos, head = wrong
    car = Agent.still("car", car_style(rng), T)
    car.pos, car.head = pos, head
    if cf:  # the normal scene: no wrong-way car (its lane is cleared the same way)
        car.visible[:] = False
    car.meta = {"lane": li, "speed": speed}
    # cars in that lane that would meet it (or overlap its counterfactual) are taken out of the scene
    for traj in (wrong[0], right[0]):
        my_u = layout.to_uv(traj)[:, 0]
        for i in _lane_agents(agents, li):
            other_u = layout.to_uv(agents[i].pos)[:, 0]
            if np.any(np.abs(other_u - my_u) < 8.0) or np.any(np.sign(other_u - my_u)[:-1] != np.sign(other_u - my_u)[1:]):
                agents[i].visible[:] = False
    return [car], 0, T - 1, {"lane": li, "speed": speed, "lanes": len(layout.lanes)}


def ev_collision(rng, cam, layout, agents, T, fps, cf):
    n = len(layout.lanes)
    la = int(rng.integers(n - 1))
    lb = la + 1
    if rng.random() < 0.5:
        la, lb = lb, la
    A, B = layout.lanes[la], layout.lanes[lb]
    tc = _span_start(rng, T, 0.4, 0.6)
    swerve = min(int(rng.integers(5, 9)), tc)  # frames of veering before the impact
    lo, hi = visible_range(cam, layout, (A["v"] + B["v"]) / 2, 0.2)
    uc = float(rng.uniform(lo, hi))
    va, vb = float(rng.uniform(8.0, 11.0)), float(rng.uniform(9.0, 13.0))
    t = (np.arange(T) - tc) / fps
    ua = uc + A["dir"] * va * t
    ub = uc + B["dir"] * vb * t - B["dir"] * 4.5 * (A["dir"] == B["dir"])  # same direction: hit from behind-side
    car_a, car_b = Agent.still("car", car_style(rng), T), Agent.still("car", car_style(rng), T)
    car_a.pos = layout.to_world(ua, np.full(T, A["v"]))
    car_b.pos = layout.to_world(ub, np.full(T, B["v"]))
    car_a.head[:] = layout.axis * A["dir"]
    car_b.head[:] = layout.axis * B["dir"]
    car_a.meta, car_b.meta = {"lane": la, "speed": va}, {"lane": lb, "speed": vb}
    # keep the two lanes clear of other cars near the crash
    for i in _lane_agents(agents, la) + _lane_agents(agents, lb):
        ou = layout.to_uv(agents[i].pos)[:, 0]
        if np.any(np.abs(ou - ua) < 10.0) or np.any(np.abs(ou - ub) < 10.0) or np.any(np.abs(ou - uc) < 12.0):
            agents[i].visible[:] = False
    start = tc - swerve
    if not cf:
        # B veers into A's lane during the swerve frames and hits A at tc; both stop, spun round
        k = np.clip((np.arange(T) - start) / swerve, 0, 1)
        vlat = B["v"] + (A["v"] - B["v"]) * 0.75 * (k**1.5)
        ub2 = ub.copy()
        ua2 = ua.copy()
        stop_a = ua[tc] + A["dir"] * float(rng.uniform(0.8, 1.6))
        ua2[tc:] = ua[tc] + (stop_a - ua[tc]) * np.clip((np.arange(T - tc) + 1) / 4, 0, 1)
        ub2[tc:] = ub[tc] + B["dir"] * 0.6 * np.clip((np.arange(T - tc) + 1) / 3, 0, 1)
        car_b.pos = layout.to_world(ub2, vlat)
        car_a.pos = layout.to_world(ua2, np.full(T, A["v"]) + (A["v"] - B["v"]) * 0.12 * np.clip((np.arange(T) - tc) / 4, 0, 1))
        yaw_b = float(rng.uniform(0.35, 0.7)) * np.sign(A["v"] - B["v"]) * B["dir"]
        car_b.tilt[start:tc] = 0.4 * yaw_b * np.clip((np.arange(start, tc) - start) / swerve, 0, 1)
        car_b.tilt[tc:] = yaw_b * (0.4 + 0.6 * np.clip((np.arange(T - tc) + 1) / 4, 0, 1))
        car_a.tilt[tc:] = -0.3 * yaw_b * np.clip((np.arange(T - tc) + 1) / 4, 0, 1)
        # cars behind the wreck in the same lanes queue up instead of driving through
        for i in _lane_agents(agents, la) + _lane_agents(agents, lb):
            ag = agents[i]
            lane = layout.lanes[ag.meta["lane"]]
            ou = layout.to_uv(ag.pos)[:, 0]
            wreck = ua2[tc] if ag.meta["lane"] == la else ub2[tc]
            su = lane["dir"] * ou  # distance travelled along the lane direction
            limit = lane["dir"] * wreck - 7.0
            if su[tc] < limit:
                capped = lane["dir"] * np.where(np.arange(T) >= tc, np.minimum(su, limit), su)
                ag.pos = layout.to_world(capped, np.full(T, lane["v"]))
    same = A["dir"] == B["dir"]
    return [car_b, car_a], start, T - 1, {"same_direction": bool(same), "impact_frame": tc, "speed": vb}


def ev_throwing(rng, cam, layout, agents, T, fps, cf):
    bands = _bands(layout)
    band = bands[int(rng.integers(len(bands)))]
    t0 = _span_start(rng, T, 0.2, 0.45)
    P = view_point(rng, cam, layout, band, 0.25)
    d = layout.axis * float(rng.choice([-1, 1])) if layout.kind != "plaza" else _unit(rng.standard_normal(2))
    a = _walker(rng, T, fps, cam, layout, band, speed=float(rng.uniform(1.0, 1.4)), direction=d, at_frame=t0, through=P)
    obj = Agent.still("object", object_style(rng), T, pos=P)
    obj.visible[:] = False
    throw_dir = _unit(rng.standard_normal(2))
    dist = float(rng.uniform(5.0, 9.0))
    flight = float(rng.uniform(0.7, 1.0))
    wind = 3
    end = T - 1
    if not cf:
        a.pos[t0:] = P
        a.mode[t0:] = STAND
        a.mode[t0 : t0 + wind + 2] = THROW
        a.act[t0 : t0 + wind + 2] = np.linspace(-1, 1, wind + 2)
        a.head[t0:] = throw_dir
        rel = t0 + wind
        t = (np.arange(T) - rel) / fps
        g = 9.8
        vz = (g * flight / 2) - 1.5 / flight
        h = 1.5 + vz * t - 0.5 * g * t**2
        land = rel + int(math.ceil(flight * fps))
        ground = P + throw_dir * np.clip(t / flight, 0, None)[:, None] * dist
        # after landing: one small bounce, then roll to a stop
        roll = np.clip(t - flight, 0, None)
        ground = np.where((t > flight)[:, None], P + throw_dir * (dist + 1.2 * (1 - np.exp(-3 * roll)))[:, None], ground)
        h = np.where(t > flight, np.maximum(0, 0.5 * np.sin(math.pi * np.clip(roll / 0.35, 0, 1))), np.maximum(h, 0))
        obj.pos = ground
        obj.lift = h
        obj.visible[rel:] = True
        obj.phase = 9.0 * t
        rest = rel + int(math.ceil((flight + 0.9) * fps))
        end = min(T - 1, rest)
        a.finish(from_frame=t0)
    return [a, obj], t0, end, {"object": obj.style["name"], "distance": dist}


def ev_dispersal(rng, cam, layout, agents, T, fps, cf):
    n = int(rng.integers(7, 13))
    group, centre = _group(rng, cam, layout, T, fps, n)
    t0 = _span_start(rng, T, 0.3, 0.5)
    if not cf:
        for a in group:
            away = _unit(a.pos[t0] - centre + 0.1 * rng.standard_normal(2))
            delay = int(rng.integers(0, 3))
            v = float(rng.uniform(3.5, 6.0))
            k = np.clip(np.arange(T) - (t0 + delay), 0, None)
            dist = np.cumsum(np.minimum(v, v * k / 3.0) / fps)
            a.pos[t0:] = a.pos[t0] + dist[t0:, None] * away
            a.head[t0 + delay :] = away
            a.mode[t0 + delay :] = RUN
            a.finish(from_frame=t0)
    return group, t0, T - 1, {"count": n}


def ev_normal(rng, cam, layout, agents, T, fps, cf):
    return [], 0, 0, {}


BUILDERS = {
    "normal": ev_normal,
    "running": ev_running,
    "cycling": _vehicle_on_path("cycling"),
    "skateboarding": _vehicle_on_path("skateboarding"),
    "cart": _vehicle_on_path("cart"),
    "falling": ev_falling,
    "fighting": ev_fighting,
    "loitering": ev_loitering,
    "wrong_way": ev_wrong_way,
    "collision": ev_collision,
    "throwing": ev_throwing,
    "dispersal": ev_dispersal,
}
assert set(BUILDERS) == set(EVENTS)


def build_event(rng, event_type, cam, layout, agents, T, fps, counterfactual=False) -> Event:
    actors, start, end, details = BUILDERS[event_type](rng, cam, layout, agents, T, fps, counterfactual)
    first = len(agents)
    for a in actors:
        a.role = "actor"
        agents.append(a)
    return Event(event_type, list(range(first, first + len(actors))), int(start), int(end), details)
