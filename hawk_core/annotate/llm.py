"""Chat models for the annotation pipeline: any OpenAI-compatible endpoint, or the embedded
SmolLM2 offline, behind one small interface with retries, backoff and token accounting.

:func:`call_with_retries` is the one retry loop: transient failures (connection errors,
timeouts, HTTP 408/409/429/5xx) and malformed replies (a ``validate`` callback raising
:class:`MalformedOutput`) are retried with exponential backoff; after the last attempt a
:class:`RemoteError` is raised naming the cause. Permanent failures (bad key, unknown model,
bad request) raise :class:`FatalRemoteError` at once: every later call would fail the same way,
so the pipeline stops rather than burning through the whole video list.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import ConfigError, RemoteError
from ..secrets import redact
from ..secrets import register as register_secret

T = TypeVar("T")

EMBEDDED_NAMES = ("embedded", "smollm2")


class MalformedOutput(ValueError):
    """A reply that does not have the expected form (empty, no question, a refusal...)."""


class TransientError(RuntimeError):
    """A failure worth retrying (network, timeout, rate limit, server error)."""


class FatalRemoteError(RemoteError):
    """A failure that every later call would repeat (authentication, unknown model)."""


@dataclass
class ChatReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Usage:
    """Token and call counts, shared by threads (update through :meth:`add`)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    malformed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def cost(self, price_in: float, price_out: float) -> float:
        """Dollars at ``price_in`` / ``price_out`` per million prompt / completion tokens."""
        return (self.prompt_tokens * price_in + self.completion_tokens * price_out) / 1e6

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("calls", "prompt_tokens", "completion_tokens", "retries", "malformed")}


class ChatModel:
    """One chat-completion model. ``complete`` raises :class:`TransientError` for failures
    worth retrying and :class:`FatalRemoteError` for the others."""

    name: str = "?"
    low_quality: bool = False
    supports_images: bool = False

    def complete(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0) -> ChatReply:
        raise NotImplementedError


class OpenAIChat(ChatModel):
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server...).

    ``base_url`` / ``api_key`` default to $OPENAI_BASE_URL / $OPENAI_API_KEY. A local server
    usually needs no key; one is only required when no base URL is set (api.openai.com).
    """

    supports_images = True

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, timeout: float = 120.0) -> None:
        import openai

        if not model:
            raise ConfigError("an LLM model name is required (--llm-model)")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if base_url is None:
                raise ConfigError(
                    f"model {model!r} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server); "
                    "use --llm-model embedded to run offline"
                )
            api_key = "none"  # local servers ignore it, the client insists on one
        self.name = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self._openai = openai
        register_secret(api_key)
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def complete(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0) -> ChatReply:
        openai = self._openai
        try:
            r = self.client.chat.completions.create(model=self.name, messages=messages, max_tokens=max_tokens, temperature=temperature)
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise TransientError(f"cannot reach {self.base_url}: {type(e).__name__}") from None
        except openai.APIStatusError as e:
            msg = _status_message(e)
            if e.status_code in (408, 409, 429) or e.status_code >= 500:
                raise TransientError(f"HTTP {e.status_code} from {self.base_url}: {msg}") from None
            raise FatalRemoteError(f"HTTP {e.status_code} from {self.base_url} for model {self.name!r}: {msg}") from None
        except openai.OpenAIError as e:  # e.g. a reply that is not JSON
            raise TransientError(f"bad reply from {self.base_url}: {redact(str(e).splitlines()[0]) if str(e) else type(e).__name__}") from None
        if not getattr(r, "choices", None):
            raise MalformedOutput("reply has no choices")
        text = r.choices[0].message.content or ""
        usage = getattr(r, "usage", None)
        return ChatReply(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )


def _status_message(e: Any) -> str:
    """The server's one-line error message, with any API key in it masked (a proxy may echo it)."""
    return redact(_raw_status_message(e))


def _raw_status_message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"]).splitlines()[0][:200]
        if isinstance(err, str):
            return err.splitlines()[0][:200]
    return (str(getattr(e, "message", "")) or type(e).__name__).splitlines()[0][:200]


class LocalChat(ChatModel):
    """The embedded SmolLM2-135M-Instruct (or a transformers checkpoint given by path / hub
    id): chat template, greedy decoding, one generation at a time. Small and offline, so its
    annotations are flagged ``low_quality``."""

    low_quality = True
    supports_images = False

    def __init__(self, source: str | None = None) -> None:
        from ..embedded import SMOLLM2_HUB_ID, load_smollm2

        self.model, self.tokenizer = load_smollm2(source)
        self.name = f"embedded:{SMOLLM2_HUB_ID}" if not source else f"local:{source}"
        self._lock = threading.Lock()

    def complete(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0) -> ChatReply:
        import torch

        for m in messages:
            if not isinstance(m.get("content"), str):
                raise FatalRemoteError(f"{self.name} reads text only; images need an OpenAI-compatible vision model")
        with self._lock:
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            n_in = int(enc["input_ids"].shape[1])
            with torch.no_grad():
                out = self.model.generate(
                    **enc,
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    repetition_penalty=1.15,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            new = out[0, n_in:]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
        return ChatReply(text=text.strip(), prompt_tokens=n_in, completion_tokens=int(new.shape[0]))


def build_chat_model(model: str | None, *, base_url: str | None = None, api_key: str | None = None, timeout: float = 120.0) -> ChatModel:
    """``None`` / ``"embedded"`` -> the embedded SmolLM2; ``"local:PATH"`` -> a transformers
    checkpoint; anything else -> that model on the OpenAI-compatible endpoint."""
    if model is None or model.lower() in EMBEDDED_NAMES:
        return LocalChat(None)
    if model.startswith("local:"):
        return LocalChat(model[len("local:") :])
    return OpenAIChat(model, base_url=base_url, api_key=api_key, timeout=timeout)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries per call
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retries: need at least 1 attempt, got {self.attempts}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError("backoff must be >= 0")

    def delay(self, attempt: int) -> float:
        """Sleep before retry number ``attempt`` (1-based): exponential with +-25% jitter."""
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base * random.uniform(0.75, 1.25)


def call_with_retries(
    model: ChatModel,
    messages: list[dict],
    validate: Callable[[str], T],
    *,
    policy: RetryPolicy,
    usage: Usage,
    max_tokens: int = 512,
    temperature: float = 0.0,
    what: str = "reply",
) -> T:
    """Call ``model`` until ``validate(text)`` accepts a reply; see the module doc."""
    last = ""
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1:
            usage.add(retries=1)
            time.sleep(policy.delay(attempt - 1))
        try:
            reply = model.complete(messages, max_tokens=max_tokens, temperature=temperature)
        except TransientError as e:
            last = str(e)
            continue
        except MalformedOutput as e:
            usage.add(malformed=1)
            last = f"malformed {what}: {e}"
            continue
        usage.add(calls=1, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
        try:
            return validate(reply.text)
        except MalformedOutput as e:
            usage.add(malformed=1)
            last = f"malformed {what}: {e}"
    raise RemoteError(f"{what} failed after {policy.attempts} attempt(s): {last}")
