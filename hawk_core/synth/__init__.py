"""A procedural video-anomaly benchmark where motion is the cue (`hawk synth`).

Fixed-camera scenes in the spirit of UCSD Ped, CUHK Avenue, ShanghaiTech (walkways, plazas)
and DoTA (roads), rendered with numpy/OpenCV: articulated pedestrians with a swinging-leg
gait, cars in lanes, varied appearance, backgrounds, lighting and camera placement. Anomalies
are defined by motion, several with the same appearance as normal agents (running, a fall,
a fight, loitering, wrong-way driving, ...). Each video comes with HAWK-format ground truth
(description, open-world QA) plus the event type, time span and image region.

Modules: :mod:`.scene` (camera, layout, background), :mod:`.agents` (appearance, drawing),
:mod:`.events` (normal population, anomalies), :mod:`.render` (seed -> frames, span,
region), :mod:`.text` (description grammar, questions, answers), :mod:`.dataset` (records,
incremental resumable writing).
"""

from .dataset import SynthSummary, SynthVideo, make_video, synthesize, validate_record, video_id, write_single
from .events import ANOMALY_TYPES, EVENT_TYPES, EVENTS
from .render import GENERATOR_VERSION, SynthConfig, build_scene, render
from .text import QUESTION_SLOTS, event_type_from_text, questions, start_time_from_text

__all__ = [
    "ANOMALY_TYPES", "EVENTS", "EVENT_TYPES", "GENERATOR_VERSION", "QUESTION_SLOTS", "SynthConfig", "SynthSummary", "SynthVideo",
    "build_scene", "event_type_from_text", "make_video", "questions", "render", "start_time_from_text", "synthesize", "validate_record", "video_id", "write_single",
]
