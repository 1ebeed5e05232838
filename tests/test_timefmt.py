"""The one clock formatter (issue 18, defect 5): rounds before splitting."""

import pytest

from hawk_core.media.timefmt import format_clock


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "00:00.0"),
        (-3, "00:00.0"),
        (57.0, "00:57.0"),
        (59.94, "00:59.9"),
        (59.95, "01:00.0"),  # was 00:60.0
        (60.0, "01:00.0"),
        (63.04, "01:03.0"),
        (754.24, "12:34.2"),
        (3599.94, "59:59.9"),
        (3599.96, "1:00:00.0"),  # was 59:60.0
        (3725.5, "1:02:05.5"),
        (36000, "10:00:00.0"),
    ],
)
def test_format_clock(seconds, text):
    assert format_clock(seconds) == text


def test_every_time_label_uses_the_one_formatter():
    import importlib

    for name in ("hawk_cli.commands.describe", "hawk_core.annotate.captioners", "hawk_core.annotate.pipeline", "hawk_core.review.log"):
        module = importlib.import_module(name)
        assert module.format_clock is format_clock, module.__name__
        assert not hasattr(module, "fmt_time") and not hasattr(module, "_clock")
