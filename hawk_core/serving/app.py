"""The FastAPI application of `hawk serve` (routes: ``GET /health``, ``GET /v1/models``,
``POST /v1/chat/completions``).

Every error a client can cause is answered with a 4xx and OpenAI's error object
``{"error": {"message", "type", "param", "code"}}``; anything unexpected is a 500 with the
same shape and no traceback (the traceback goes to the server's log). The API key is
compared in constant time and never written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, HawkError, InputError, VideoError
from ..inference.predictor import GenerationOptions
from .config import ServeConfig
from .engine import Cancelled, Completion, Engine, QueueFull
from .media import VideoRef, resolve_video_url
from .protocol import APIError, ChatRequest, bad_request, chunk_body, completion_body, completion_id, parse_chat_request, sse, usage

log = logging.getLogger("hawk.serve")
CACHE_HEADER = "x-hawk-video-cache"
_STATUS_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}


def default_model_id(predictor) -> str:
    spec = predictor.spec
    return f"hawk-{spec.source if spec.kind == 'preset' else Path(spec.source).name}"


def api_error(exc: BaseException) -> APIError:
    """Any exception -> the error the client gets."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, QueueFull):
        return APIError(429, f"the server is busy ({exc}); retry later", type="rate_limit_error", code="queue_full")
    if isinstance(exc, VideoError):
        return bad_request(str(exc).splitlines()[0], "messages", "invalid_video")
    if isinstance(exc, (InputError, ConfigError)):
        return bad_request(str(exc).splitlines()[0])
    if isinstance(exc, HawkError):
        return APIError(500, str(exc).splitlines()[0], type="server_error")
    log.error("internal error", exc_info=exc)
    return APIError(500, f"internal error ({type(exc).__name__})", type="server_error")


def error_response(err: APIError) -> JSONResponse:
    headers = {"Retry-After": "1"} if err.status == 429 else None
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"the request body is larger than {limit // (1024 * 1024)} MB (--max-body-mb)", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"the request body is larger than {limit // (1024 * 1024)} MB (--max-body-mb)", code="body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _on_api_error(_request: Request, exc: APIError) -> JSONResponse:
    return error_response(exc)


async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = _STATUS_TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
    return error_response(APIError(exc.status_code, str(exc.detail), type=kind))


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(api_error(exc))


async def health() -> dict:
    return {"status": "ok"}


def _tell(loop: asyncio.AbstractEventLoop, fn, *args) -> None:
    """Run ``fn(*args)`` on the event loop from the worker thread."""
    with contextlib.suppress(RuntimeError):  # the loop is gone (server stopping)
        loop.call_soon_threadsafe(fn, *args)


def _settle(fut: asyncio.Future, value=None, exc: BaseException | None = None) -> None:
    if not fut.done():
        fut.set_exception(exc) if exc is not None else fut.set_result(value)


class ChatRoutes:
    """The routes over one engine: the model list, and chat completions (whole or streamed)."""

    def __init__(self, engine: Engine, cfg: ServeConfig, model_id: str) -> None:
        self.engine = engine
        self.cfg = cfg
        self.model_id = model_id
        self.started = int(time.time())
        self.tmp: Path | None = None  # downloads of this server's life (lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        self.tmp = Path(tempfile.mkdtemp(prefix="hawk-serve-"))
        log.info("serving %s (%s)", self.model_id, self.engine.predictor.spec.label)
        try:
            yield
        finally:
            log.info("shutting down: stopping generation and the worker")
            await run_in_threadpool(self.engine.close)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def authorized(self, request: Request) -> None:
        if self.cfg.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.cfg.api_key.encode()):
            raise APIError(401, "missing or wrong API key: send the header 'Authorization: Bearer <key>'", type="authentication_error", code="invalid_api_key")

    async def models(self) -> dict:
        return {
            "object": "list",
            "data": [{"id": self.model_id, "object": "model", "created": self.started, "owned_by": "hawk",
                      "max_model_len": self.engine.predictor.context_window}],
        }

    def prepare_request(self, raw: bytes) -> tuple[ChatRequest, VideoRef, GenerationOptions]:
        req = parse_chat_request(raw, default_max_tokens=self.cfg.max_tokens, model_id=self.model_id)
        try:
            options = GenerationOptions(max_new_tokens=req.max_tokens, temperature=req.temperature, top_p=req.top_p, seed=req.seed)
        except ConfigError as e:
            raise bad_request(str(e)) from None
        ref = resolve_video_url(req.video_url, self.cfg, self.tmp)
        return req, ref, options

    async def chat_completions(self, request: Request):
        raw = await read_body(request, self.cfg.max_body_bytes)
        req, ref, options = await run_in_threadpool(self.prepare_request, raw)
        cid = completion_id()
        t0 = time.perf_counter()
        if not req.stream:
            return await self._complete(req, ref, options, cid, t0)
        return await self._stream(req, ref, options, cid, t0)

    def _log(self, cid: str, ref: VideoRef, c: Completion, t0: float) -> None:
        log.info("%s %s video=%s %d+%d tokens %s %.2fs", cid[9:21], ref.label, "cached" if c.cached else "new",
                 c.prompt_tokens, c.completion_tokens, c.finish_reason, time.perf_counter() - t0)
        for w in c.warnings:
            log.warning("%s %s", cid[9:21], w)

    async def _complete(self, req: ChatRequest, ref: VideoRef, options: GenerationOptions, cid: str, t0: float):
        engine = self.engine
        cancel = engine.new_cancel()

        def job() -> Completion:
            if cancel.is_set():
                raise Cancelled()
            video, cached = engine.prepared(ref)
            c = engine.complete(video, req.question, req.history, options, cancel=cancel)
            c.cached = cached
            return c

        try:
            try:
                fut = engine.submit(job)
            except QueueFull:
                ref.discard()
                raise
            c = await asyncio.wrap_future(fut)
        except BaseException as e:  # noqa: BLE001 - every failure becomes the client's error
            cancel.set()
            if isinstance(e, asyncio.CancelledError):
                raise
            raise api_error(e) from None
        finally:
            engine.forget_cancel(cancel)
        self._log(cid, ref, c, t0)
        body = completion_body(cid, self.model_id, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens)
        return JSONResponse(body, headers={CACHE_HEADER: "hit" if c.cached else "miss"})

    def _stream_job(self, req: ChatRequest, ref: VideoRef, options: GenerationOptions, cancel,
                    loop: asyncio.AbstractEventLoop, ready: asyncio.Future, events: asyncio.Queue):
        """The worker's job of a streamed request: ``ready`` gets whether the video was cached
        (or the error preparing it), ``events`` the text, then ``done`` or ``error``."""
        engine = self.engine

        def job() -> None:
            if cancel.is_set():
                _tell(loop, _settle, ready, None, Cancelled())
                return
            try:
                video, cached = engine.prepared(ref)
            except BaseException as e:  # noqa: BLE001 - handed to the request
                _tell(loop, _settle, ready, None, e)
                return
            _tell(loop, _settle, ready, cached)
            try:
                c = engine.complete(video, req.question, req.history, options,
                                    on_text=lambda text: _tell(loop, events.put_nowait, ("text", text)), cancel=cancel)
                c.cached = cached
                _tell(loop, events.put_nowait, ("done", c))
            except BaseException as e:  # noqa: BLE001 - handed to the stream
                _tell(loop, events.put_nowait, ("error", e))

        return job

    async def _stream(self, req: ChatRequest, ref: VideoRef, options: GenerationOptions, cid: str, t0: float):
        engine = self.engine
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        ready: asyncio.Future = loop.create_future()
        cancel = engine.new_cancel()
        try:
            try:
                engine.submit(self._stream_job(req, ref, options, cancel, loop, ready, events))
            except QueueFull:
                ref.discard()
                raise
            cached = await ready
        except BaseException as e:  # noqa: BLE001
            cancel.set()
            engine.forget_cancel(cancel)
            if isinstance(e, asyncio.CancelledError):
                raise
            raise api_error(e) from None
        return StreamingResponse(self._sse_body(req, ref, cid, t0, int(time.time()), events, cancel), media_type="text/event-stream",
                                 headers={CACHE_HEADER: "hit" if cached else "miss", "Cache-Control": "no-cache"})

    async def _sse_body(self, req: ChatRequest, ref: VideoRef, cid: str, t0: float, created: int,
                        events: asyncio.Queue, cancel) -> AsyncIterator[str]:
        model_id = self.model_id
        try:
            yield sse(chunk_body(cid, model_id, created, {"role": "assistant", "content": ""}))
            while True:
                kind, value = await events.get()
                if kind == "text":
                    yield sse(chunk_body(cid, model_id, created, {"content": value}))
                    continue
                if kind == "done":
                    self._log(cid, ref, value, t0)
                    yield sse(chunk_body(cid, model_id, created, {}, value.finish_reason))
                    if req.include_usage:
                        yield sse(chunk_body(cid, model_id, created, None, usage_=usage(value.prompt_tokens, value.completion_tokens)))
                else:
                    if not isinstance(value, Cancelled):
                        yield sse(api_error(value).body())
                break
            yield sse("[DONE]")
        finally:
            cancel.set()
            self.engine.forget_cancel(cancel)


def create_app(engine: Engine, cfg: ServeConfig, *, model_id: str | None = None) -> FastAPI:
    """The app over a loaded engine. Closing the app (lifespan end) closes the engine."""
    routes = ChatRoutes(engine, cfg, model_id or cfg.model_name or default_model_id(engine.predictor))
    app = FastAPI(title="hawk serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=routes.lifespan)
    app.add_exception_handler(APIError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.get("/health")(health)
    app.get("/v1/models", dependencies=[Depends(routes.authorized)])(routes.models)
    app.post("/v1/chat/completions", dependencies=[Depends(routes.authorized)])(routes.chat_completions)
    app.state.engine = engine
    app.state.model_id = routes.model_id
    return app


def serve(engine: Engine, cfg: ServeConfig, *, log_level: str = "info") -> None:
    """Run the app with uvicorn until SIGINT / SIGTERM (then shut down cleanly)."""
    import uvicorn

    app = create_app(engine, cfg)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level=log_level, timeout_graceful_shutdown=5,
                            access_log=log_level == "debug", server_header=False)
    uvicorn.Server(config).run()

