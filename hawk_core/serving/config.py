"""The settings of `hawk serve`, checked before anything loads."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, ``localhost``).
    Any other name or address, ``0.0.0.0`` included, is taken as reachable from outside."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """What `hawk serve` was asked for; ``__post_init__`` names the flag of a bad value."""

    host: str = DEFAULT_HOST
    port: int = 8000
    api_key: str | None = field(default=None, repr=False)  # never in a repr, log or error
    allowed_media_paths: tuple[Path, ...] = ()
    allow_remote_media: bool = False
    max_body_mb: float = 64.0  # request bodies (and downloaded media) above this get 413
    max_queue: int = 4  # requests waiting behind the one being answered; more get 429
    cache_size: int = 16  # prepared videos kept (LRU); 0 = none
    max_tokens: int = 128  # when a request gives no max_tokens
    model_name: str | None = None  # the id clients use; default hawk-<preset or checkpoint folder>
    remote_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ConfigError("--host is empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in [0, 65535], got {self.port}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("--api-key (or HAWK_API_KEY) is empty")
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(
                f"--host {self.host} accepts connections from other machines: set --api-key (or HAWK_API_KEY) "
                "so that requests must carry it, or bind 127.0.0.1"
            )
        if not (self.max_body_mb > 0 and math.isfinite(self.max_body_mb)):
            raise ConfigError(f"--max-body-mb must be > 0, got {self.max_body_mb}")
        if self.max_queue < 0:
            raise ConfigError(f"--max-queue must be >= 0, got {self.max_queue}")
        if self.cache_size < 0:
            raise ConfigError(f"--cache-size must be >= 0, got {self.cache_size}")
        if self.max_tokens < 1:
            raise ConfigError(f"--max-tokens must be >= 1, got {self.max_tokens}")
        if self.remote_timeout_s <= 0:
            raise ConfigError(f"remote media timeout must be > 0 s, got {self.remote_timeout_s}")
        folders = []
        for p in self.allowed_media_paths:
            p = Path(p).expanduser()
            if not p.is_dir():
                raise ConfigError(f"--allowed-media-path {p}: not a folder")
            folders.append(p.resolve())
        object.__setattr__(self, "allowed_media_paths", tuple(folders))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)
