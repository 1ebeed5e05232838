"""The warm model behind `hawk serve`.

One inference runs at a time, in one worker thread (the model is not re-entrant, and on a
small machine two would only slow each other down); at most ``max_queue`` more wait. A
request beyond that is refused at once (:class:`QueueFull` -> HTTP 429) rather than left to
time out.

Prepared videos (sampled frames -> motion -> frozen-encoder features) are kept in an LRU
keyed by the video's identity (see :mod:`.media`) and the model's sampling settings, so a
follow-up question about the same video goes straight to the LLM.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..inference.predictor import GenerationOptions

if TYPE_CHECKING:  # pragma: no cover
    from ..inference.predictor import PreparedVideo, Predictor
    from .media import VideoRef


class QueueFull(Exception):
    """Every slot (the running request and the waiting ones) is taken."""


class Cancelled(Exception):
    """The client went away (or the server is stopping): generation was stopped."""


class FeatureCache:
    """A bounded, thread-safe LRU of prepared videos."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple, PreparedVideo] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> PreparedVideo | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple, item: PreparedVideo) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Completion:
    """One answer and what it took."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of text) | "length" (max_tokens reached)
    cached: bool  # the video's features came from the cache
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def _streamer(tokenizer, on_text: Callable[[str], None] | None, cancel: threading.Event | None):
    """A transformers TextStreamer that hands each piece of text to ``on_text``, counts the
    generated tokens, and stops generation (raises :class:`Cancelled`) once ``cancel`` is set."""
    from transformers import TextStreamer

    eos = tokenizer.eos_token_id

    class _Streamer(TextStreamer):
        def __init__(self) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.generated = 0
            self.saw_eos = False

        def put(self, value) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if not self.next_tokens_are_prompt:
                ids = value.reshape(-1).tolist()
                self.saw_eos = self.saw_eos or (eos is not None and eos in ids)
                self.generated += sum(1 for i in ids if i != eos)
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if on_text is not None and text:
                on_text(text)

    return _Streamer()


class _Trimmer:
    """Streams text as :meth:`Predictor.answer` returns it (stripped at both ends): leading
    whitespace is dropped and trailing whitespace held back until more text follows, so the
    deltas add up to exactly the non-streamed answer."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.raw = ""
        self.sent = 0

    def feed(self, text: str) -> None:
        self.raw += text
        visible = self.raw.lstrip().rstrip()
        if len(visible) > self.sent:
            self.emit(visible[self.sent :])
            self.sent = len(visible)


class Engine:
    """A loaded :class:`Predictor`, its worker thread, queue and feature cache."""

    def __init__(self, predictor: Predictor, *, max_queue: int = 4, cache_size: int = 16) -> None:
        self.predictor = predictor
        self.cache = FeatureCache(cache_size)
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hawk-infer")
        self._slots = threading.BoundedSemaphore(max_queue + 1)
        self._cancels: set[threading.Event] = set()
        self._lock = threading.Lock()
        self.closed = False
        d = predictor.config.data
        # what makes two preparations of one file differ: the model and its sampling settings
        self.settings_key = (predictor.spec.source, predictor.num_frames, d.size, d.resize, repr(d.motion))

    # -- the queue ------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on the worker; :class:`QueueFull` when no slot is free."""
        if self.closed:
            raise QueueFull("the server is shutting down")
        if not self._slots.acquire(blocking=False):
            raise QueueFull(f"{self.max_queue + 1} requests are already running or waiting")
        try:
            fut = self._executor.submit(fn, *args)
        except RuntimeError:  # shut down meanwhile
            self._slots.release()
            raise QueueFull("the server is shutting down") from None
        fut.add_done_callback(lambda _f: self._slots.release())
        return fut

    def new_cancel(self) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._cancels.add(ev)
        return ev

    def forget_cancel(self, ev: threading.Event) -> None:
        with self._lock:
            self._cancels.discard(ev)

    def close(self) -> None:
        """Stop running generations, drop waiting ones, wait for the worker."""
        self.closed = True
        with self._lock:
            for ev in self._cancels:
                ev.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- work (on the worker thread) ---------------------------------------------------------

    def prepared(self, ref: VideoRef) -> tuple[PreparedVideo, bool]:
        """The video's features, from the cache when it holds them; ``(video, cached)``."""
        key = (ref.key, self.settings_key)
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        try:
            video = self.predictor.prepare(ref.path)
        finally:
            ref.discard()
        self.cache.put(key, video)
        return video, False

    def complete(
        self,
        video: PreparedVideo,
        question: str,
        history: list[tuple[str, str]],
        options: GenerationOptions,
        *,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Answer one question about a prepared video; ``on_text`` gets the answer piece by
        piece as it is generated (pieces add up to :attr:`Completion.text`)."""
        from ..inference.context import fit_to_context, prompt_length

        p = self.predictor
        question, history, warns = fit_to_context(p, question, history, options.max_new_tokens)
        prompt_tokens = prompt_length(p, question, history)
        trimmer = _Trimmer(on_text) if on_text is not None else None
        streamer = _streamer(p.tokenizer, trimmer.feed if trimmer else None, cancel)
        t0 = time.perf_counter()
        answer = p.answer([(video, question, history)], options, streamer=streamer)[0]
        generated = streamer.generated
        finish = "length" if not streamer.saw_eos and generated >= options.max_new_tokens else "stop"
        return Completion(
            text=answer.text,
            prompt_tokens=prompt_tokens,
            completion_tokens=generated,
            finish_reason=finish,
            cached=False,
            warnings=warns + answer.warnings,
            timings={"generate_s": round(time.perf_counter() - t0, 3)},
        )
