"""Secret values (API keys) never leave the process in text: :func:`redact` replaces each
known secret in a message with ``***`` before it is printed, logged, cached or reported.

Known secrets: ``$OPENAI_API_KEY`` (read when redacting, so a key set after import counts) and
any value passed to :func:`register` (e.g. an ``--api-key`` given on the command line).
"""

from __future__ import annotations

import os
import threading

ENV_KEYS = ("OPENAI_API_KEY",)
MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words; no real key is this short

_registered: set[str] = set()
_guard = threading.Lock()


def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (an API key given as an option)."""
    if value and len(value) >= _MIN_LEN:
        with _guard:
            _registered.add(value)


def _secrets() -> list[str]:
    values = {os.environ.get(k) or "" for k in ENV_KEYS} | _registered
    return sorted((v for v in values if len(v) >= _MIN_LEN), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***``."""
    if not isinstance(text, str):
        text = str(text)
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text
