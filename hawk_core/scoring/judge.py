"""The GPT-guided metrics (paper, section 5 and appendix E): an LLM judge scores each
prediction against its reference on three dimensions, Reasonability, Detail and
Consistency, each a float in [0, 1].

* Prompts: the paper's system prompt and user prompt (description; question-answer adds the
  question) are editable text files under ``prompts/judge/`` (see its README).
* Endpoint: any OpenAI-compatible server through the ``openai`` client; ``OPENAI_API_KEY``
  and ``OPENAI_BASE_URL`` are honoured; temperature 0.
* Parsing: ``{'score': 0.675}`` as a Python dict or JSON, bare or inside code fences or
  prose, curly quotes tolerated; ``score: 0.7`` in prose; a bare number. Scores within 0.01
  of [0, 1] are clamped; anything else is invalid.
* Failures: an unparseable / out-of-range answer, a rate limit, a server error, a timeout or
  a dropped connection is retried ``retries`` times with exponential backoff (honouring
  ``Retry-After``), then recorded as failed: excluded from the mean and counted. A 400 is
  not retried. A rejected key (401/403) or an unknown model (404) stops the run at once
  (:class:`RemoteError`) since every request would fail the same way, and so do
  ``max_consecutive_failures`` verdicts in a row lost to transport errors (endpoint down).
  Never an endless loop.
* Bounded concurrency (a thread pool of ``workers``), identical requests sent once.
* Cache: one JSONL line per answered request, keyed by (model, template hash, dimension,
  item content). A rerun or a resumed interrupted run sends no request twice. Answers that
  stayed unparseable after every retry are cached as failed (at temperature 0 asking again
  gives the same answer; ``retry_failed=True`` asks again); transport failures are not
  cached, so a rerun retries them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, RemoteError
from ..io import JsonlAppender
from ..locks import output_lock
from ..secrets import redact
from ..secrets import register as register_secret
from ..language.prompts import prompts_dir
from .records import TASKS, ScoreItem

DIMENSIONS = ("reasonability", "detail", "consistency")
DIMENSION_TITLES = {"reasonability": "Reasonability", "detail": "Detail", "consistency": "Consistency"}
PLACEHOLDERS = {
    "description": ("<DIMENSION>", "<DESCRIPTION_GT>", "<DESCRIPTION_Ours>"),
    "qa": ("<DIMENSION>", "<QUESTION>", "<ANSWER_GT>", "<ANSWER_Ours>"),
}
DEFAULT_MODEL = "gpt-4"


# ---- templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeTemplates:
    """The system prompt and one user template per (task, dimension)."""

    system: str
    user: dict[tuple[str, str], str]
    source: Path

    @classmethod
    def load(cls, root: Path | None = None) -> JudgeTemplates:
        """Read ``<root>/judge/`` (or ``root`` itself when it holds system.txt)."""
        base = Path(root) if root else prompts_dir()
        folder = base if (base / "system.txt").is_file() else base / "judge"
        system_path = folder / "system.txt"
        if not system_path.is_file():
            raise ConfigError(f"judge prompts not found: {system_path} (set HAWK_PROMPTS or --prompts)")
        system = system_path.read_text(encoding="utf-8").strip()
        user: dict[tuple[str, str], str] = {}
        for task in TASKS:
            for dim in DIMENSIONS:
                path = folder / f"{task}_{dim}.txt"
                if not path.is_file():
                    path = folder / f"{task}.txt"
                if not path.is_file():
                    raise ConfigError(f"judge prompt not found: {folder / (task + '.txt')}")
                text = path.read_text(encoding="utf-8").strip()
                missing = [p for p in PLACEHOLDERS[task] if p not in text]
                if missing:
                    raise ConfigError(f"{path}: template lacks the placeholder(s) {', '.join(missing)}")
                user[(task, dim)] = text
        return cls(system, user, folder)

    def template_hash(self, task: str, dimension: str) -> str:
        blob = self.system + "\x00" + self.user[(task, dimension)]
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def messages(self, item: ScoreItem, dimension: str) -> list[dict[str, str]]:
        """The chat messages for one item and one dimension (the judge sees the first reference)."""
        values = {"<DIMENSION>": DIMENSION_TITLES[dimension]}
        if item.task == "description":
            values |= {"<DESCRIPTION_GT>": item.references[0], "<DESCRIPTION_Ours>": item.prediction}
        else:
            values |= {"<QUESTION>": item.question or "", "<ANSWER_GT>": item.references[0], "<ANSWER_Ours>": item.prediction}
        pattern = re.compile("|".join(re.escape(k) for k in values))
        text = pattern.sub(lambda m: values[m.group(0)], self.user[(item.task, dimension)])
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]


# ---- parsing -----------------------------------------------------------------------------


class ScoreParseError(ValueError):
    """The judge's answer holds no usable score."""


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'", "`": "'"})
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)```", re.S)
_DICT = re.compile(r"\{[^{}]*\}")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PROSE = re.compile(r"""\bscore\b['"]?\s*(?:[:=]|\bis\b|\bof\b)\s*['"]?(""" + _NUMBER + ")", re.I)
_BARE = re.compile(r"\s*(" + _NUMBER + r")\s*\.?\s*")


def _validate(value: Any) -> float:
    if isinstance(value, bool):
        raise ScoreParseError(f"score is a boolean ({value})")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ScoreParseError(f"score is not a number ({value!r})") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScoreParseError(f"score is not a finite number ({value!r})")
    v = float(value)
    if -0.01 <= v < 0.0:
        return 0.0
    if 1.0 < v <= 1.01:
        return 1.0
    if not 0.0 <= v <= 1.0:
        raise ScoreParseError(f"score {v} outside [0, 1]")
    return v


def _as_mapping(text: str) -> dict | None:
    try:
        obj = json.loads(text)
    except ValueError:
        try:
            obj = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return obj if isinstance(obj, dict) else None


def parse_score(text: str | None, validate: Callable[[Any], float] = _validate) -> float:
    """The score in a judge's answer, validated to [0, 1] (or by ``validate``, which raises
    :class:`ScoreParseError` for an unusable value); :class:`ScoreParseError` if none.

    Accepts ``{'score': 0.675}`` (Python) or ``{"score": 0.675}`` (JSON), with spaces or
    curly quotes around the key, bare or in a code fence or inside prose; ``score: 0.7`` /
    ``a score of 0.7`` in prose; or an answer that is just a number.
    """
    if text is None or not text.strip():
        raise ScoreParseError("empty answer")
    t = text.translate(_QUOTES)
    # fences are found before the quote folding, which turns their backticks into quotes
    bodies = [m.group(1).translate(_QUOTES) for m in _FENCE.finditer(text)] + [t]
    for body in bodies:
        for m in _DICT.finditer(body):
            obj = _as_mapping(m.group(0))
            if obj is None:
                continue
            for k, v in obj.items():
                if isinstance(k, str) and k.strip().lower() == "score":
                    return validate(v)
    m = _PROSE.search(t)
    if m:
        return validate(m.group(1))
    m = _BARE.fullmatch(t)
    if m:
        return validate(m.group(1))
    raise ScoreParseError("no score found")


# ---- configuration and outcomes ----------------------------------------------------------


@dataclass(frozen=True)
class JudgeConfig:
    model: str = DEFAULT_MODEL
    base_url: str | None = None  # None: $OPENAI_BASE_URL, else api.openai.com
    api_key: str | None = field(default=None, repr=False)  # None: $OPENAI_API_KEY; never printed
    workers: int = 4
    retries: int = 3  # extra attempts after the first
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    max_backoff: float = 30.0
    timeout: float = 60.0
    max_tokens: int = 128
    temperature: float = 0.0
    cache_path: Path | None = None  # None: no cache
    retry_failed: bool = False
    prompts: Path | None = None
    price_per_mtok: tuple[float, float] | None = None  # USD per 1M (input, output) tokens
    max_consecutive_failures: int = 12  # transport-failed verdicts in a row that stop the run (0: never)

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ConfigError("judge model must not be empty")
        if self.workers < 1:
            raise ConfigError(f"judge workers must be >= 1 (got {self.workers})")
        if not 0 <= self.retries <= 20:
            raise ConfigError(f"judge retries must be in 0..20 (got {self.retries})")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError("judge backoff must be >= 0")
        if self.timeout <= 0:
            raise ConfigError(f"judge timeout must be > 0 (got {self.timeout})")
        if self.max_tokens < 1:
            raise ConfigError(f"judge max_tokens must be >= 1 (got {self.max_tokens})")
        if self.max_consecutive_failures < 0:
            raise ConfigError("judge max_consecutive_failures must be >= 0")
        if self.price_per_mtok is not None and (len(self.price_per_mtok) != 2 or min(self.price_per_mtok) < 0):
            raise ConfigError("judge price must be two non-negative numbers: input,output USD per 1M tokens")


@dataclass
class JudgeOutcome:
    """The judge's verdict on one (item, dimension)."""

    status: str  # "ok" | "failed" | "empty"
    score: float | None = None
    attempts: int = 0
    cached: bool = False
    error: str | None = None
    answer: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failure: str | None = None  # "invalid" (answer) | "transport" | "request"


@dataclass
class JudgeUsage:
    requests: int = 0  # HTTP requests sent in this run (retries included)
    calls: int = 0  # (item, dimension) verdicts asked for in this run
    cached: int = 0  # verdicts taken from the cache
    failed: int = 0
    cache_dropped: int = 0  # corrupt cache lines dropped on open (their verdicts are asked again)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    price_per_mtok: tuple[float, float] | None = None

    @property
    def cost_usd(self) -> float | None:
        if self.price_per_mtok is None:
            return None
        pin, pout = self.price_per_mtok
        return (self.prompt_tokens * pin + self.completion_tokens * pout) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "verdicts_asked": self.calls, "verdicts_cached": self.cached,
            "failed": self.failed, "cache_dropped": self.cache_dropped, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd,
        }


class _Fatal(Exception):
    pass


# ---- cache -------------------------------------------------------------------------------


class JudgeCache:
    """Append-only JSONL of verdicts, keyed by content; a torn last line is repaired.

    Several runs may share one cache: opening it (repair + load) and each append hold its
    writer lock (:func:`hawk_core.locks.output_lock`, waiting for the other run), so lines
    from two processes never interleave and a repair never cuts another run's line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with output_lock(self.path, wait=True):
                self._app = JsonlAppender(self.path, key="key")
        except OSError as e:
            raise InputError(f"cannot open the judge cache {self.path}: {e.strerror}") from None
        self.dropped = self._app.dropped  # corrupt lines (numbers from 1), dropped and asked again
        self._entries: dict[str, dict] = {}
        for rec in self._app.existing:
            if isinstance(rec.get("key"), str):
                self._entries[rec["key"]] = rec  # later lines win

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def put(self, record: dict) -> None:
        self._entries[record["key"]] = record
        with output_lock(self.path, wait=True):
            self._app.write(record)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        self._app.close()


# ---- the judge ---------------------------------------------------------------------------


def _make_client(cfg: JudgeConfig):
    try:
        import openai
    except ImportError:
        from ..errors import DependencyError

        raise DependencyError("the judge needs the `openai` package: pip install openai") from None
    base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = cfg.api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        if not base_url:
            raise ConfigError("the judge needs OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server)")
        key = "no-key"  # local servers often need none; the client requires a value
    register_secret(key)
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=cfg.timeout)


class Judge:
    """Scores items on the three dimensions through an OpenAI-compatible chat endpoint."""

    templates_class: Any = JudgeTemplates  # another protocol brings its own templates and parser
    parse = staticmethod(parse_score)

    def __init__(self, config: JudgeConfig, *, client: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.templates = self.templates_class.load(config.prompts)
        self._client = client
        self._sleep = sleep
        self._stop = threading.Event()

    @property
    def client(self):
        if self._client is None:
            self._client = _make_client(self.config)
        return self._client

    def key(self, item: ScoreItem, dimension: str) -> str:
        blob = json.dumps(
            [self.config.model, self.templates.template_hash(item.task, dimension), dimension,
             item.task, item.question or "", item.references[0], item.prediction],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    # one verdict, with bounded retries
    def _ask(self, messages: list[dict[str, str]]) -> JudgeOutcome:
        import openai

        cfg = self.config
        out = JudgeOutcome(status="failed")
        for attempt in range(1, cfg.retries + 2):
            if self._stop.is_set():
                out.error = out.error or "run stopped"
                out.failure = out.failure or "transport"
                return out
            out.attempts = attempt
            retry_after = None
            try:
                resp = self.client.chat.completions.create(
                    model=cfg.model, messages=messages, temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                )
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise _Fatal(f"the judge endpoint rejected the API key (HTTP {e.status_code}); check OPENAI_API_KEY") from None
            except openai.NotFoundError as e:
                raise _Fatal(f"the judge endpoint has no model {cfg.model!r} or no chat API at this URL (HTTP {e.status_code}); check --judge-model and OPENAI_BASE_URL") from None
            except openai.BadRequestError as e:
                out.error, out.failure = f"HTTP 400: {_short(e)}", "request"
                return out
            except openai.APIStatusError as e:  # 429, 5xx, other statuses
                out.error, out.failure = f"HTTP {e.status_code}: {_short(e)}", "transport"
                retry_after = _retry_after(e)
            except (openai.APIConnectionError, openai.APITimeoutError) as e:  # APITimeoutError is a connection error
                out.error, out.failure = f"{type(e).__name__}: {_short(e)}", "transport"
            else:
                usage = getattr(resp, "usage", None)
                out.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                out.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                choices = getattr(resp, "choices", None) or []
                text = choices[0].message.content if choices and choices[0].message else None
                out.answer = text
                try:
                    out.score = self.parse(text)
                except ScoreParseError as e:
                    out.error, out.failure = f"unparseable answer ({e}): {(text or '')[:80]!r}", "invalid"
                else:
                    out.status, out.error, out.failure = "ok", None, None
                    return out
            if attempt <= cfg.retries:
                delay = min(cfg.max_backoff, cfg.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)
                if retry_after is not None:
                    delay = max(delay, min(cfg.max_backoff, retry_after))
                if delay > 0 and self._sleep is time.sleep:
                    self._stop.wait(delay)  # wakes at once when the run is stopped
                elif delay > 0:
                    self._sleep(delay)
        return out

    def run(
        self,
        items: Sequence[ScoreItem],
        progress: Callable[[int, int], None] | None = None,
        dimensions: Sequence[str] = DIMENSIONS,
    ) -> tuple[dict[tuple[int, str], JudgeOutcome], JudgeUsage]:
        """Verdicts for every (item index, dimension). Empty predictions score 0 without a
        request. ``progress(done, total)`` is called with the number of verdicts to ask for."""
        cfg = self.config
        usage = JudgeUsage(price_per_mtok=cfg.price_per_mtok)
        results: dict[tuple[int, str], JudgeOutcome] = {}
        todo: dict[str, list[tuple[int, str]]] = {}
        messages: dict[str, list[dict[str, str]]] = {}
        cache = JudgeCache(cfg.cache_path) if cfg.cache_path else None
        usage.cache_dropped = len(cache.dropped) if cache is not None else 0
        try:
            for i, item in enumerate(items):
                for dim in dimensions:
                    if item.is_empty:
                        results[(i, dim)] = JudgeOutcome(status="empty", score=0.0)
                        continue
                    key = self.key(item, dim)
                    hit = cache.get(key) if cache is not None else None
                    if hit is not None and (hit.get("status") == "ok" or not cfg.retry_failed):
                        results[(i, dim)] = JudgeOutcome(
                            status="ok" if hit.get("status") == "ok" else "failed", score=hit.get("score"),
                            attempts=int(hit.get("attempts", 0)), cached=True, error=hit.get("error"),
                            answer=hit.get("answer"), failure=hit.get("failure"),
                        )
                        usage.cached += 1
                        continue
                    if key not in todo:
                        messages[key] = self.templates.messages(item, dim)
                    todo.setdefault(key, []).append((i, dim))
            total = len(todo)
            if progress:
                progress(0, total)
            fatal = self._dispatch(todo, messages, results, usage, cache, progress, total)
        finally:
            if cache is not None:
                cache.close()
        usage.failed = sum(1 for o in results.values() if o.status == "failed")
        if fatal:
            raise RemoteError(fatal)
        return results, usage

    def _dispatch(self, todo, messages, results, usage, cache, progress, total) -> str | None:
        cfg = self.config
        if not todo:
            return None
        self._stop.clear()
        fatal: str | None = None
        done = 0
        streak = 0  # verdicts in a row that failed in transport (endpoint down or unreachable)
        keys = iter(list(todo))
        pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="hawk-judge")
        running: dict[Future, str] = {}
        try:
            def submit_next() -> None:
                for key in keys:
                    running[pool.submit(self._ask, messages[key])] = key
                    return

            for _ in range(cfg.workers):
                submit_next()
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    key = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except _Fatal as e:
                        fatal = fatal or str(e)
                        self._stop.set()
                        continue
                    usage.requests += outcome.attempts
                    usage.calls += 1
                    usage.prompt_tokens += outcome.prompt_tokens
                    usage.completion_tokens += outcome.completion_tokens
                    if cache is not None and (outcome.status == "ok" or outcome.failure == "invalid"):
                        cache.put({
                            "key": key, "model": cfg.model, "dimension": todo[key][0][1],
                            "status": "ok" if outcome.status == "ok" else "invalid", "score": outcome.score,
                            "answer": outcome.answer, "attempts": outcome.attempts, "error": outcome.error,
                            "failure": outcome.failure, "prompt_tokens": outcome.prompt_tokens,
                            "completion_tokens": outcome.completion_tokens, "time": round(time.time(), 3),
                        })
                    for slot in todo[key]:
                        results[slot] = outcome
                    streak = streak + 1 if outcome.failure == "transport" else 0
                    if cfg.max_consecutive_failures and streak >= cfg.max_consecutive_failures and not fatal:
                        fatal = (f"the judge endpoint failed {streak} verdicts in a row, each after {cfg.retries + 1} attempts "
                                 f"(last: {outcome.error}); answered verdicts are cached, rerun to resume")
                        self._stop.set()
                    done += 1
                    if progress:
                        progress(done, total)
                    if not self._stop.is_set():
                        submit_next()
        except BaseException:  # Ctrl-C: verdicts already cached are kept; abort requests in flight
            self._stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            close = getattr(self._client, "close", None)
            if callable(close):
                close()
            raise
        pool.shutdown(wait=True)
        if fatal:
            for key, slots in todo.items():
                for slot in slots:
                    results.setdefault(slot, JudgeOutcome(status="failed", error="run stopped", failure="transport"))
        return fatal


def _short(e: Exception) -> str:
    msg = getattr(e, "message", None) or str(e)
    return redact(" ".join(str(msg).split()))[:160]


def _retry_after(e: Exception) -> float | None:
    resp = getattr(e, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def mean_scores(outcomes: Sequence[JudgeOutcome]) -> tuple[float | None, int, int]:
    """(mean over the scored, number scored, number failed); failures are left out."""
    scored = [o.score for o in outcomes if o.status in ("ok", "empty") and o.score is not None]
    failed = sum(1 for o in outcomes if o.status == "failed")
    return (sum(scored) / len(scored) if scored else None), len(scored), failed
