"""Ground-truth language from the scene graph: a description (template grammar with varied
wording for who, what, where, when, how and why) and answers to the paper's open-world
questions (appendix D) that the scene graph can answer.

Everything said is read off the scene graph: actors' clothes and vehicles' colours, the
measured time span and image region, directions of motion in the image, speeds, counts. The
wording varies by the video's random stream, so a model cannot learn one fixed sentence per
event type. :func:`event_type_from_text` maps a description (generated or ground truth) back
to an event type by keywords; every description this module writes maps back to its own
type (tested), which makes it usable as an event-type accuracy metric.
"""

from __future__ import annotations

import re

import numpy as np

from .events import SceneGraph

# The paper's open-world questions (appendix D) that a synthetic scene graph can answer: their
# number in the paper's list of 100 -> (5W2H class, answer slot). The texts are read from
# hawk_core.language.prompts.OPEN_QUESTIONS (prompts/open_questions.txt), the one place they live.
QUESTION_SLOTS: dict[int, tuple[str, str]] = {
    1: ("who", "who"),  # Who is causing the disturbance in the video?
    2: ("what", "what"),  # What is the unusual activity happening in the video?
    3: ("when", "when"),  # When did the anomaly occur in the video?
    4: ("where", "where"),  # Where is the strange event taking place in the video?
    5: ("why", "why"),  # Why is the object in the video behaving abnormally?
    6: ("how", "effect"),  # How is the anomaly in the video affecting the surroundings?
    7: ("how much", "damage"),  # How much damage was caused by the incident in the video?
    8: ("who", "who"),  # Who is the main person involved in the unusual event?
    9: ("what", "cause"),  # What is the cause of the sudden change in the video?
    10: ("when", "start"),  # When does the suspicious activity start in the video?
    12: ("why", "reaction"),  # Why are the people in the video reacting in that way?
    13: ("how", "cue"),  # How can I identify the source of the problem in the video?
    14: ("how much", "duration"),  # How much time does the abnormal event last in the video?
    15: ("who", "others"),  # Who are the other people affected by the anomaly in the video?
    19: ("why", "vehicle"),  # Why is the vehicle in the video moving erratically?
    21: ("how much", "impact"),  # How much impact does the abnormal event have on the overall situation?
    27: ("how", "contrast"),  # How can I differentiate between normal and abnormal behavior in a video?
    51: ("what", "cue"),  # What are the signs that indicate a potential anomaly in a video?
}


def questions() -> dict[int, tuple[str, str, str]]:
    """Paper number -> (question text, 5W2H class, answer slot) for the answerable questions."""
    from ..errors import ConfigError
    from ..language.prompts import OPEN_QUESTIONS, prompts_dir

    if len(OPEN_QUESTIONS) < max(QUESTION_SLOTS):
        raise ConfigError(
            f"{prompts_dir() / 'open_questions.txt'} holds {len(OPEN_QUESTIONS)} questions; hawk synth answers the paper's "
            f"numbers up to {max(QUESTION_SLOTS)}, so it needs the paper's list of 100"
        )
    return {k: (OPEN_QUESTIONS[k - 1], c, slot) for k, (c, slot) in QUESTION_SLOTS.items()}


# event type -> keyword pattern; checked in this order (more specific first)
_KEYWORDS: list[tuple[str, str]] = [
    ("collision", r"\b(crash\w*|collid\w*|collision)\b"),
    ("fighting", r"\b(fight\w*|punch\w*|brawl\w*|shov\w*|scuffle\w*)\b"),
    ("dispersal", r"\b(scatter\w*|dispers\w*|flee\w*|stampede\w*)\b"),
    ("throwing", r"\b(throw\w*|threw|thrown|hurl\w*|toss\w*)\b"),
    ("cycling", r"\b(bicycle\w*|bikes?|cyclists?|cycling|cycles)\b"),
    ("skateboarding", r"\b(skateboard\w*|skaters?)\b"),
    ("cart", r"\b(carts?|buggy)\b"),
    ("wrong_way", r"\b(wrong way|wrong direction|against the (flow|traffic|direction)|opposite direction)\b"),
    ("falling", r"\b(falls?|fell|fallen|falling|collaps\w*|trips?|tripped)\b"),
    ("loitering", r"\b(loiter\w*|linger\w*|pac(es|ing)|hangs? around)\b"),
    ("running", r"\b(run|runs|running|ran|sprint\w*|dash\w*|jog\w*)\b"),
]


def event_type_from_text(text: str) -> str:
    """The event type a description names (keyword rules, most specific first), else "normal"."""
    low = text.lower()
    for name, pat in _KEYWORDS:
        if re.search(pat, low):
            return name
    return "normal"


_START_PATTERNS = (
    re.compile(r"\bfrom the (?:very )?(?:start|beginning)\b"),
    re.compile(r"\b(?:at|from) (?:about |around |roughly )?(\d+(?:\.\d+)?) ?(?:s\b|sec\w*)"),
    re.compile(r"\b(\d+(?:\.\d+)?) ?(?:s\b|sec\w*) into\b"),
)


def start_time_from_text(text: str) -> float | None:
    """The start time (seconds) a description states, read as :func:`when` writes it ("from the
    start of the video" -> 0.0, "at about 6.3 seconds", "about 6.3 seconds into the clip"): the
    first statement in the text, None if it states none."""
    low = text.lower()
    found: list[tuple[int, float]] = []
    for pat in _START_PATTERNS:
        m = pat.search(low)
        if m:
            found.append((m.start(), float(m.group(1)) if m.groups() else 0.0))
    return min(found)[1] if found else None


# --------------------------------------------------------------------------------------
# phrases read off the scene graph


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def who(rng, g: SceneGraph, i: int, short: bool = False) -> str:
    a = g.agents[i]
    st = a.style
    if a.kind in ("car",):
        return f"a {st['colour']} {st['body']}" if rng.random() < 0.6 else f"a {st['colour']} car"
    if a.kind == "cart":
        return f"a small {st['colour']} utility cart"
    if a.kind == "object":
        return f"a {st['name']}"
    # figures carry no gender cue, so the grammar does not name one
    base = {"person": ["a person", "a pedestrian", "someone"], "cyclist": ["a cyclist"], "skateboarder": ["a skateboarder"]}[a.kind]
    noun = _pick(rng, base)
    if short:
        return f"{noun} in {st['shirt']}"
    return _pick(rng, [
        f"{noun} in a {st['shirt']} {st['top']}",
        f"{noun} wearing a {st['shirt']} {st['top']} and {st['trousers']} trousers",
        f"{noun} dressed in {st['shirt']}",
    ])


def scene_phrase(rng, g: SceneGraph) -> str:
    lay = g.layout
    if g.kind == "walkway":
        place = _pick(rng, [f"a {lay.surface} pedestrian walkway", "a footpath crossing a lawn", f"a {lay.surface} walkway through a park"])
    elif g.kind == "plaza":
        place = _pick(rng, [f"an open {lay.surface} plaza", "a paved square", "a pedestrian plaza"])
    else:
        n = len(lay.lanes)
        place = _pick(rng, [f"a {n}-lane road with sidewalks", f"a two-way street with {n} lanes", "a city road with sidewalks on both sides"])
    cam = _pick(rng, ["seen from a fixed surveillance camera", "filmed from an elevated camera", "viewed by a static camera"])
    return f"{place} {cam} {light_phrase(g)}"


def light_phrase(g: SceneGraph) -> str:
    return {"bright daylight": "in bright daylight", "daylight": "in daylight", "overcast": "on an overcast day",
            "late afternoon": "in the late afternoon", "dusk": "at dusk"}.get(g.lighting, "")


def place_word(g: SceneGraph, actor_kind: str = "person") -> str:
    if g.kind == "road":
        return "on the sidewalk" if actor_kind == "person" else "on the road"
    return {"walkway": "on the walkway", "plaza": "in the plaza"}[g.kind]


def where(rng, g: SceneGraph, bbox) -> str:
    S = g.camera.size
    cx, cy = (bbox[0] + bbox[2]) / 2 / S, (bbox[1] + bbox[3]) / 2 / S
    h = "left" if cx < 0.36 else "right" if cx > 0.64 else "centre"
    v = "far" if cy < 0.4 else "near" if cy > 0.7 else "mid"
    if h == "centre" and v == "mid":
        return _pick(rng, ["in the centre of the frame", "in the middle of the view"])
    hs = {"left": "on the left side of the frame", "right": "on the right side of the frame", "centre": "in the middle of the frame"}[h]
    vs = {"far": "in the background", "near": "in the foreground, close to the camera", "mid": ""}[v]
    return f"{hs}{', ' + vs if vs else ''}"


def when(rng, g: SceneGraph, start: int) -> str:
    T, fps = g.T, g.fps
    s = start / fps
    if start == 0:
        return _pick(rng, ["from the start of the video", "from the beginning of the clip"])
    frac = start / T
    if frac < 0.34:
        return _pick(rng, [f"early in the video, at about {s:.1f} seconds", f"about {s:.1f} seconds into the clip"])
    if frac < 0.67:
        return _pick(rng, [f"midway through the video, at about {s:.1f} seconds", f"about {s:.1f} seconds into the video"])
    return _pick(rng, [f"towards the end of the clip, at about {s:.1f} seconds", f"late in the video, at about {s:.1f} seconds"])


def direction(g: SceneGraph, i: int, start: int, end: int) -> str:
    a = g.agents[i]
    p = g.camera.project(np.array([a.pos[start], a.pos[max(end, start + 1) if end > start else min(start + 1, g.T - 1)]]))
    d = p[1] - p[0]
    if abs(d[0]) >= abs(d[1]) * 1.2:
        return "from left to right" if d[0] > 0 else "from right to left"
    return "towards the camera" if d[1] > 0 else "away from the camera"


def _crowd(rng, g: SceneGraph) -> str:
    people = sum(1 for i, a in enumerate(g.agents) if a.kind == "person" and a.role == "normal" and i in g.on_screen)
    if g.kind == "road":
        return _pick(rng, ["Cars drive steadily in their lanes", "Traffic flows normally in both directions", "Vehicles keep to their lanes at a steady speed"]) + (
            (" and a pedestrian walks along the sidewalk" if people == 1 else
             _pick(rng, [f" and {'a few' if people <= 4 else 'several'} pedestrians walk along the sidewalks", " while pedestrians walk on the sidewalks"]))
            if people else "")
    if people == 0:
        return "Few people are around"
    q = "a few" if people <= 4 else "several" if people <= 8 else "many"
    return _pick(rng, [f"{_cap(q)} pedestrians walk at a calm pace", f"{_cap(q)} people walk through the scene at a normal pace", f"{_cap(q)} pedestrians stroll past"]) + (
        " in both directions" if g.kind == "walkway" else "")


# --------------------------------------------------------------------------------------
# per event: what happened, and the slots the questions ask for


def _event_slots(rng, g: SceneGraph, span: tuple[int, int, list[float]] | None) -> dict:
    ev = g.event
    T, fps = g.T, g.fps
    if ev.type == "normal" or span is None:
        return {"type": ev.type, **_normal_slots(rng, g)}
    start, end, bbox = span
    actors = ev.actors
    main = actors[0]
    W = who(rng, g, main)
    where_s = where(rng, g, bbox)
    when_s = when(rng, g, start)
    dur = (end - start + 1) / fps
    dirn = direction(g, main, start, end)
    to_end = end >= T - 1
    lasting = f"from about {start / fps:.1f} s to {'the end of the clip' if to_end else f'about {(end + 1) / fps:.1f} s'}"
    place = place_word(g, g.agents[main].kind)
    t = ev.type
    story = _story(rng, g, t, W, place, dirn)
    W, why = story["W"], story["why"]
    return {
        "type": t, "what": story["what"], "who": _cap(W.rstrip(",")) + f", {where_s}.", "where": f"{_cap(place)}, {where_s}.",
        "when": f"It happens {when_s} and lasts {('until the end of the clip' if to_end else f'until about {(end + 1) / fps:.1f} s')}.",
        "start": _cap(when_s) + f" (frame {start} of {T}).", "why": why, "effect": story["effect"], "damage": story["damage"],
        "cause": why, "reaction": story["reaction"], "cue": story["cue"], "duration": f"About {dur:.1f} seconds: {lasting}.",
        "others": _others(rng, g, actors), "vehicle": why if t in ("wrong_way", "collision", "cart") else None,
        "impact": _impact(t), "contrast": story["contrast"], "where_s": where_s, "when_s": when_s,
    }


def _normal_slots(rng, g: SceneGraph) -> dict:
    """The answers for a video where nothing unusual happens."""
    return dict(
        what="Nothing unusual happens: " + _pick(rng, ["everyone moves at a normal pace along the usual paths", "people and vehicles behave as expected", "all the activity is ordinary"]),
        who="No one; nobody causes a disturbance and everyone behaves normally.",
        when="There is no anomaly in this video; nothing unusual happens at any time.",
        start="No suspicious activity starts; the whole video shows normal activity.",
        where="Nowhere; the scene stays normal throughout.",
        why="Nothing behaves abnormally; every person and vehicle moves in the usual way for this place.",
        effect="There is no anomaly, so the surroundings are not affected.",
        damage="None; no incident happens in the video.",
        cause="There is no sudden change; the scene stays calm throughout.",
        reaction="People simply go about their business; there is nothing unusual to react to.",
        cue="There is no anomaly to find: all motion is ordinary walking" + (" and driving in lane" if g.kind == "road" else "") + " at steady speeds.",
        duration="No abnormal event happens, so none lasts any time.",
        others="No one is affected; there is no anomaly.",
        vehicle="No vehicle moves erratically; traffic is normal." if g.kind == "road" else None,
        impact="None; the situation stays normal.",
        contrast="Here everything is normal: people walk steadily along their paths" + (" and cars keep to their lanes" if g.kind == "road" else "") + "; an anomaly would stand out as unusual motion, such as running, falling, fighting or driving the wrong way.",
    )


def _story(rng, g: SceneGraph, t: str, W: str, place: str, dirn: str) -> dict:
    """What happened in an anomaly of type ``t`` and why, as the question slots say it; ``W`` (who
    did it) may be rewritten to name every actor."""
    actors, d = g.event.actors, g.event.details
    if t == "running":
        ratio = d["speed"] / max(d["walk_speed"], 0.1)
        what = _pick(rng, [f"{W} suddenly starts running {dirn} {place}", f"{W} breaks into a run {dirn} {place}", f"{W} sprints {dirn} {place}"])
        why = f"The runner moves about {ratio:.0f} times faster than the people walking around, which is unusual here and may mean a chase, a theft or an emergency."
        cue = "Look for the one person whose legs move much faster and who covers far more ground per second than everyone else."
        effect, damage = "The runner weaves past the walking pedestrians, who keep walking.", "No damage is visible; nobody is hit."
        reaction = "The other people keep walking normally; only the runner behaves unusually."
        contrast = f"Normal pedestrians walk at about {d['walk_speed']:.1f} m/s; the abnormal one runs at about {d['speed']:.1f} m/s, several times faster."
    elif t in ("cycling", "skateboarding", "cart"):
        vehicle = {"cycling": "rides a bicycle", "skateboarding": "rides a skateboard", "cart": "drives"}[t]
        noun = {"cycling": "bicycle", "skateboarding": "skateboard", "cart": "cart"}[t]
        what = f"{W} {vehicle} {dirn} {place} among the pedestrians" if t != "cart" else f"{W} {vehicle} {dirn} along the pedestrian {'walkway' if g.kind == 'walkway' else 'area'}"
        why = f"A {noun} does not belong on a pedestrian {'walkway' if g.kind == 'walkway' else 'plaza'}; it moves at about {d['speed']:.1f} m/s, much faster than walking, and could hit someone."
        cue = f"Look for the {noun} gliding smoothly and faster than the walking pedestrians, without a walking gait."
        effect, damage = "Pedestrians have to share the path with a faster vehicle, which puts them at risk.", "No damage is visible; no one is hit."
        reaction = "The pedestrians keep walking; the vehicle passes among them."
        contrast = f"Normal people walk along the path on foot; the abnormal one is a {noun} moving through the pedestrian area."
    elif t == "falling":
        up = d.get("gets_up")
        what = f"{W} walking {place} suddenly falls to the ground" + (" and gets up again after a few seconds" if up else " and stays lying there")
        why = "The person lost their balance and fell; a fall may mean injury or a health problem and the person may need help."
        cue = "Look for a person whose upright walking motion suddenly turns into a rapid tipping over, followed by lying still on the ground."
        effect, damage = "The fallen person lies in the way" + (" briefly" if up else "") + "; others walk past.", "No property damage; the fallen person may be hurt."
        reaction = "Nobody stops; the other people keep walking past the fallen person."
        contrast = "Normal people stay upright and keep walking; the abnormal one tips over and " + ("lies on the ground before getting up." if up else "stays on the ground without moving.")
    elif t == "fighting":
        W2 = who(rng, g, actors[1], short=True)
        what = f"two people, {W} and {W2}, get into a fight {place}: they face each other, punching and shoving back and forth"
        W = f"two people, {W} and {W2},"
        why = "The two people are fighting; violent behaviour like this can injure them and threaten bystanders."
        cue = "Look for two people who stop face to face and move rapidly back and forth with jerky arm movements while everyone else walks smoothly."
        effect, damage = "The fight blocks part of the path and passers-by go around it.", "No property damage is visible, but the two people may be injured by the blows."
        reaction = "The other people keep their distance and walk around the fight."
        contrast = "Normal people walk past each other; the abnormal pair stop and exchange blows with quick, jerky, back-and-forth motion."
    elif t == "loitering":
        what = f"{W} lingers {place}, pacing back and forth in the same spot instead of walking through"
        why = "Everyone else passes through; staying in one place and pacing for a long time is loitering, which may mean the person is waiting for an opportunity or watching someone."
        cue = "Look for the person who keeps reversing direction within a few metres while everyone else crosses the scene."
        effect, damage = "Other people have to walk around the person.", "None; no damage is caused."
        reaction = "The other people walk past without reacting."
        contrast = "Normal pedestrians cross the scene in one direction; the abnormal one turns around again and again and stays in the same area."
    elif t == "wrong_way":
        lanes = d["lanes"]
        what = f"{W} drives {dirn} against the flow of traffic in its lane on the {lanes}-lane road"
        why = "The car is driving the wrong way: the lane arrows and the other cars in that direction go the opposite way, so it risks a head-on accident."
        cue = "Look for the car moving opposite to the painted arrows and to the other cars in its lane."
        effect, damage = "Oncoming traffic in that lane is put in danger.", "No damage is visible in the clip, but a head-on accident could follow."
        reaction = "The other drivers keep to their lanes; the wrong-way car passes them."
        contrast = "Normal cars drive in the direction of their lane's arrows; the abnormal one moves against them."
    elif t == "collision":
        W2 = who(rng, g, actors[1])
        kind = "side" if d.get("same_direction") else "front"
        what = f"{W} swerves out of its lane and crashes into {W2}; both cars stop abruptly and stay still"
        W = f"{W}, which crashed into {W2}"
        why = "The car left its lane and hit another car: it is a traffic accident."
        cue = "Look for a car drifting sideways across the lane line, then two cars stopping abruptly and turning at the point of impact."
        effect, damage = "The crashed cars block the lanes and the traffic behind them has to stop.", f"Both cars are damaged, the {kind}s most of all, and they are left standing in the road."
        reaction = "Drivers behind the crash stop and wait because the lanes are blocked."
        contrast = "Normal cars drive straight in their lanes at a steady speed; the abnormal ones swerve, hit each other and stop."
    elif t == "throwing":
        obj = d["object"]
        what = f"{W} stops {place} and throws a {obj} that flies through the air and lands about {d['distance']:.0f} metres away"
        why = f"The person deliberately threw a {obj}; throwing objects in a public place can hit and hurt people."
        cue = f"Look for a small {obj} moving fast along an arc, away from the person who threw it."
        effect, damage = f"The {obj} lands on the ground near the people.", "No damage is visible; the object lands on the ground."
        reaction = "The people nearby keep walking; no one is hit."
        contrast = f"Normal people just walk; the abnormal one swings an arm and a {obj} flies through the air."
    elif t == "dispersal":
        n = d["count"]
        what = f"a group of {n} people standing together {place} suddenly scatter, fleeing in all directions"
        W = f"a group of {n} people"
        why = "The whole group flees at once, which suggests panic or a threat such as violence, a loud noise or danger nearby."
        cue = "Look for many people who were standing still and then all run outwards from the same point at the same moment."
        effect, damage = "The scene changes from a calm gathering to people fleeing.", "No damage is visible; people leave the area."
        reaction = "They are fleeing: something alarming made the whole group flee at the same moment."
        contrast = "Normal people stand or walk calmly; in the anomaly the whole group runs apart from one point at once."
    else:  # pragma: no cover - EVENTS and this branch list are kept in step by tests
        raise ValueError(t)
    return dict(W=W, what=what, why=why, cue=cue, effect=effect, damage=damage, reaction=reaction, contrast=contrast)


def _others(rng, g: SceneGraph, actors: list[int]) -> str:
    people = sum(1 for i, a in enumerate(g.agents) if a.kind == "person" and a.role == "normal" and i in g.on_screen)
    cars = sum(1 for i, a in enumerate(g.agents) if a.kind == "car" and a.role == "normal" and i in g.on_screen)
    parts = []
    if people:
        parts.append(f"{'the ' + str(people) if people < 12 else 'the many'} other pedestrian{'s' if people != 1 else ''} nearby")
    if cars:
        parts.append(f"the drivers of the other car{'s' if cars != 1 else ''} on the road")
    if not parts:
        return "Nobody else is nearby, so no one else is directly affected."
    return _cap(" and ".join(parts)) + " share the space with the anomaly and could be put at risk."


def _impact(t: str) -> str:
    return {
        "collision": "High: the crash blocks the road and stops the traffic behind it.",
        "fighting": "High: a violent fight endangers the people involved and bystanders.",
        "dispersal": "High: the whole group flees and the scene turns chaotic.",
        "falling": "Moderate: one person may be hurt, the rest of the scene carries on.",
        "wrong_way": "High: a wrong-way driver risks a head-on accident with oncoming cars.",
        "throwing": "Moderate: the thrown object could hit someone, though nobody is hit here.",
        "running": "Low to moderate: one person moves unusually fast; others are not disturbed.",
        "loitering": "Low: the person does not disturb others, but the behaviour is suspicious.",
        "cycling": "Moderate: a fast bicycle among pedestrians risks a collision with them.",
        "skateboarding": "Moderate: a fast skateboard among pedestrians risks hitting them.",
        "cart": "Moderate: a vehicle on a pedestrian walkway puts walkers at risk.",
    }[t]


def describe(rng: np.random.Generator, g: SceneGraph, span) -> tuple[str, dict]:
    """(description, slots) for one video."""
    slots = _event_slots(rng, g, span)
    scene = scene_phrase(rng, g)
    intro = _pick(rng, [f"The video shows {scene}.", f"This is {scene}.", f"A fixed camera watches {scene.split(' seen from')[0].split(' filmed from')[0].split(' viewed by')[0]} {light_phrase(g)}."])
    crowd = _crowd(rng, g) + "."
    if g.event.type == "normal" or span is None:
        tail = _pick(rng, ["No anomaly occurs: everyone behaves normally.", "Nothing unusual happens in the video.", "It is a normal scene without any anomaly."])
        return " ".join([intro, crowd, tail]), slots
    event_sentence = _cap(slots["when_s"]) + ", " + slots["what"] + f" {slots['where_s']}."
    if rng.random() < 0.5:
        event_sentence = _cap(slots["what"]) + f" {slots['when_s']}, {slots['where_s']}."
    parts = [intro, crowd, event_sentence, slots["why"]] if rng.random() < 0.7 else [intro, event_sentence, slots["why"]]
    return " ".join(parts), slots


def answer_questions(rng: np.random.Generator, slots: dict, n: int) -> list[dict]:
    """``n`` question-answer pairs, covering different 5W2H classes before repeating one."""
    usable = [(k, q) for k, q in questions().items() if slots.get(q[2])]
    by_class: dict[str, list] = {}
    for k, q in usable:
        by_class.setdefault(q[1], []).append((k, q))
    classes = list(by_class)
    order = [classes[i] for i in rng.permutation(len(classes))]
    out: list[dict] = []
    used: set[int] = set()
    while len(out) < n and len(used) < len(usable):
        for c in order:
            choices = [x for x in by_class[c] if x[0] not in used]
            if not choices or len(out) >= n:
                continue
            k, (text, _cls, slot) = choices[int(rng.integers(len(choices)))]
            used.add(k)
            out.append({"q": text, "a": slots[slot], "id": k, "type": _cls})
    return out
