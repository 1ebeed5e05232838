"""Typed errors raised by hawk_core. The CLI catches :class:`HawkError` once and prints
``error: <message>``; each message is one line that names the problem and, where it can,
the fix."""

from __future__ import annotations


class HawkError(Exception):
    """Base class of every error hawk raises on purpose."""

    exit_code = 1


class InputError(HawkError):
    """A path, argument or value given by the user is unusable."""

    exit_code = 2


class VideoError(InputError):
    """A video (or folder of frames) cannot be read or has too few frames."""


class DataError(InputError):
    """A dataset / predictions / JSON(L) file is malformed."""


class ConfigError(InputError):
    """A configuration value or key is invalid."""


class CheckpointError(InputError):
    """A checkpoint folder is missing, corrupt, or of another architecture (bad input: exit 2)."""


class CheckpointInputError(CheckpointError, InputError):
    """A checkpoint file given as input cannot be used (unsafe pickle, keys or shapes that
    do not fit): bad input, exit code 2."""

    exit_code = 2


class DependencyError(HawkError):
    """An optional dependency or model package is not installed."""


class RemoteError(HawkError):
    """A remote (OpenAI-compatible) endpoint failed after the allowed retries."""


class TrainingError(HawkError):
    """Training cannot go on (e.g. the loss became NaN)."""


class OutputLockedError(InputError):
    """Another hawk process is writing the same output (its lock file is held)."""


class OutputWriteError(InputError):
    """An output could not be written (under a file or a missing folder, permission denied, disk
    full); what was complete is kept. Exit 2, as other unusable paths."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason  # the operating system's words ("No space left on device"), when it said any
