"""How the motion input is built (:mod:`hawk_core.media.motion`), as plain dataclasses: part
of a model's config, so reading a config never imports OpenCV."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import ConfigError

MASK_MODES = ("soft", "threshold")
FIRST_FRAME_RULES = ("reverse_pair", "as_index_1")
MOTION_INPUTS = ("mask", "flow")


@dataclass(frozen=True)
class FarnebackParams:
    """cv2.calcOpticalFlowFarneback parameters; defaults are the authors' release's."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 10
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    flags: int = 0

    def __post_init__(self) -> None:
        """Each bad value named as the config field and the `hawk flow` flag (``levels ... (--levels)``)."""

        def flag(field_name: str) -> str:
            return f"(--{field_name.replace('_', '-')})"

        if not 0 < self.pyr_scale < 1:
            raise ConfigError(f"pyr_scale must be in (0, 1), got {self.pyr_scale} {flag('pyr_scale')}")
        for name in ("levels", "winsize", "iterations", "poly_n"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)} {flag(name)}")
        if self.poly_sigma <= 0:
            raise ConfigError(f"poly_sigma must be > 0, got {self.poly_sigma} {flag('poly_sigma')}")


@dataclass(frozen=True)
class MotionConfig:
    """How the motion input is built from sampled frames.

    ``first_frame``: native frame 0 has no predecessor. ``reverse_pair``: its flow is taken
    from frame 1 back to frame 0 and masks frame 0. ``as_index_1`` (the authors' release):
    it gets the motion frame of index 1 (flow 0 -> 1 masking frame 1).
    ``input``: ``mask`` (the paper's Eq. 4: the frame times its magnitude mask) or ``flow``
    (the flow itself as a colour-wheel image: hue = direction, brightness = magnitude over
    the clip's mask scale). The mask keeps how fast pixels move but not which way, so a car
    driving the wrong way looks like any other car; the flow image keeps the direction.
    """

    mask: str = "soft"
    input: str = "mask"
    threshold: float = 0.2  # pixels/frame; the hard mask of `threshold` mode, and "moving" in stats
    soft_percentile: float = 99.0
    soft_floor: float = 1.0
    flow: FarnebackParams = field(default_factory=FarnebackParams)
    first_frame: str = "reverse_pair"

    def __post_init__(self) -> None:
        if self.input not in MOTION_INPUTS:
            raise ConfigError(f"unknown motion input {self.input!r}; choose one of {', '.join(MOTION_INPUTS)}")
        if self.mask not in MASK_MODES:
            raise ConfigError(f"unknown mask mode {self.mask!r}; choose one of {', '.join(MASK_MODES)}")
        if self.first_frame not in FIRST_FRAME_RULES:
            raise ConfigError(f"unknown first_frame rule {self.first_frame!r}; choose one of {', '.join(FIRST_FRAME_RULES)}")
        if self.threshold < 0:
            raise ConfigError(f"threshold must be >= 0, got {self.threshold}")
        if not 0 < self.soft_percentile <= 100:
            raise ConfigError(f"soft_percentile must be in (0, 100], got {self.soft_percentile}")
        if self.soft_floor <= 0:
            raise ConfigError(f"soft_floor must be > 0, got {self.soft_floor}")
        if isinstance(self.flow, dict):  # built from a saved config
            object.__setattr__(self, "flow", FarnebackParams(**self.flow))

    def to_dict(self) -> dict:
        return asdict(self)
