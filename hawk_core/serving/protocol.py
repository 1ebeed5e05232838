"""The OpenAI chat-completions protocol as `hawk serve` speaks it.

A request's ``messages`` become hawk's conversation: ``system`` / ``developer`` messages are
accepted and ignored (the model has its own system prompt), consecutive messages of one role
are joined, and the rest must alternate user / assistant and end with a user message. The
pairs before the last user message are the chat history; its text is the question. Exactly
one video is given, as a ``{"type": "video_url", "video_url": {"url": ...}}`` content part of
a user message (vLLM's form); hawk answers about one video per conversation.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

IGNORED_ROLES = ("system", "developer")
UNSUPPORTED = {  # request fields hawk cannot honour: refused rather than silently dropped
    "tools": "tool calls",
    "functions": "function calls",
    "response_format": "response_format",
    "stop": "stop sequences",
}


class APIError(InputError):
    """An error answered to the client as ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict:
        """The reply (plain or streamed); a request quoting an API key back (``"model": KEY``)
        gets it masked, as every other message (:func:`hawk_core.secrets.redact`)."""
        from ..secrets import redact

        return {"error": {"message": redact(self.message), "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


@dataclass
class ChatRequest:
    """A parsed chat-completions request."""

    video_url: str
    question: str
    history: list[tuple[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    extra: dict = field(default_factory=dict)


def _number(body: dict, name: str, lo: float, hi: float, *, lo_open: bool = False) -> float | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise bad_request(f"'{name}' must be a number", name)
    if v < lo or v > hi or (lo_open and v == lo):
        raise bad_request(f"'{name}' must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v}", name)
    return float(v)


def _integer(body: dict, name: str, lo: int | None = None) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad_request(f"'{name}' must be an integer", name)
    if lo is not None and v < lo:
        raise bad_request(f"'{name}' must be >= {lo}, got {v}", name)
    return v


def _content(msg: dict, i: int, role: str) -> tuple[str, list[str]]:
    """A message's text (parts joined by newlines) and the video URLs it carries."""
    content = msg.get("content")
    where = f"messages[{i}].content"
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of content parts", where)
    texts: list[str] = []
    videos: list[str] = []
    for j, part in enumerate(content):
        pw = f"{where}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise bad_request(f"{pw} must be an object with a 'type'", pw)
        kind = part["type"]
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise bad_request(f"{pw}.text must be a string", pw)
            texts.append(part["text"])
        elif kind == "video_url":
            if role != "user":
                raise bad_request(f"{pw}: only user messages may carry a video", pw)
            ref = part.get("video_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if not isinstance(url, str) or not url.strip():
                raise bad_request(f"{pw}.video_url.url must be a non-empty string", pw)
            videos.append(url.strip())
        else:
            raise bad_request(f"{pw}: content type {kind!r} is not supported (hawk takes 'text' and 'video_url' parts)", pw, "unsupported_content")
    return "\n".join(t for t in texts if t), videos


def parse_chat_request(raw: bytes, *, default_max_tokens: int, model_id: str) -> ChatRequest:
    """Body bytes -> :class:`ChatRequest`; any problem is an :class:`APIError` (400/404)."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON ({getattr(e, 'msg', None) or e})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if model is not None and model != model_id:
        raise APIError(404, f"The model `{model}` does not exist. This server serves `{model_id}`.", type="not_found_error", param="model", code="model_not_found")
    for name, what in UNSUPPORTED.items():
        if body.get(name) not in (None, [], {}):
            raise bad_request(f"'{name}': {what} are not supported by hawk serve", name, "unsupported_parameter")
    if body.get("logprobs"):
        raise bad_request("'logprobs' are not supported by hawk serve", "logprobs", "unsupported_parameter")
    n = _integer(body, "n", 1)
    if n not in (None, 1):
        raise bad_request("'n' must be 1: hawk serve returns one choice", "n", "unsupported_parameter")

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    turns: list[list[Any]] = []  # [role, texts]
    videos: list[str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise bad_request(f"messages[{i}] must be an object", f"messages[{i}]")
        role = msg.get("role")
        if role in IGNORED_ROLES:
            continue
        if role not in ("user", "assistant"):
            raise bad_request(f"messages[{i}].role {role!r} is not supported (user, assistant, system)", f"messages[{i}].role")
        text, vids = _content(msg, i, role)
        videos.extend(vids)
        if turns and turns[-1][0] == role:
            turns[-1][1].append(text)
        else:
            turns.append([role, [text]])
    if not turns or turns[0][0] != "user" or turns[-1][0] != "user":
        raise bad_request("'messages' must start and end with a user message (after any system message)", "messages")
    texts = ["\n".join(t for t in ts if t).strip() for _, ts in turns]
    question = texts[-1]
    if not question:
        raise bad_request("the last user message has no text: ask something about the video", "messages")
    history = [(texts[k], texts[k + 1]) for k in range(0, len(texts) - 1, 2)]
    distinct = list(dict.fromkeys(videos))
    if not distinct:
        raise bad_request("no video: give one as a {\"type\": \"video_url\", \"video_url\": {\"url\": ...}} part of a user message", "messages", "missing_video")
    if len(distinct) > 1:
        raise bad_request(f"{len(distinct)} different videos in one conversation; hawk answers about one", "messages", "too_many_videos")

    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    temperature = _number(body, "temperature", 0.0, 2.0)
    top_p = _number(body, "top_p", 0.0, 1.0, lo_open=True)
    seed = _integer(body, "seed")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    return ChatRequest(
        video_url=distinct[0],
        question=question,
        history=history,
        max_tokens=max_tokens or default_max_tokens,
        temperature=0.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        seed=seed,
        stream=stream,
        include_usage=bool(opts.get("include_usage")),
        model=model,
    )


# ---- responses ----------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def completion_body(cid: str, model_id: str, text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chunk_body(cid: str, model_id: str, created: int, delta: dict | None, finish_reason: str | None = None, usage_: dict | None = None) -> dict:
    body: dict = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_id}
    body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    if usage_ is not None:
        body["usage"] = usage_
    return body


def sse(obj: dict | str) -> str:
    """One server-sent event: ``data: <json>`` and a blank line."""
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)}\n\n"
