"""The one clock format for times in a video: ``mm:ss.s`` below an hour, ``h:mm:ss.s`` from one.

Rounds to tenths *before* splitting into hours, minutes and seconds, so 59.95 s reads
``01:00.0`` (never ``00:60.0``) and 3599.96 s reads ``1:00:00.0``.
"""

from __future__ import annotations


def format_clock(seconds: float) -> str:
    """``mm:ss.s`` (or ``h:mm:ss.s`` at one hour and over); negative times read as 0."""
    tenths = round(max(0.0, float(seconds)) * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    sec = f"{tenths // 10:02d}.{tenths % 10}"
    if hours:
        return f"{hours}:{minutes:02d}:{sec}"
    return f"{minutes:02d}:{sec}"
