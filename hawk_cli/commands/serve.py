"""`hawk serve`: an OpenAI-compatible HTTP server over a warm model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hawk_cli._common import Device, DType, InferFrames, ModelOpt, Quantize, Threads, err_console, guarded


@guarded
def serve(
    model: ModelOpt = None,
    frames: InferFrames = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind. Anything but a loopback address needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")] = 8000,
    api_key: Annotated[
        Optional[str],
        typer.Option("--api-key", envvar="HAWK_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 requests.", show_default=False),
    ] = None,
    allowed_media_path: Annotated[
        Optional[list[Path]],
        typer.Option("--allowed-media-path", help="A folder whose videos file:// URLs may name (repeatable). None: no local files.", show_default=False),
    ] = None,
    allow_remote_media: Annotated[bool, typer.Option("--allow-remote-media", help="Let requests name http(s) video URLs (the server downloads them).")] = False,
    served_model_name: Annotated[
        Optional[str], typer.Option("--served-model-name", help="The model id clients use (default: hawk-<preset or checkpoint folder>).", show_default=False)
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Answer length when a request sets no max_tokens.")] = 128,
    max_queue: Annotated[int, typer.Option("--max-queue", min=0, help="Requests that may wait behind the running one; more get 429.")] = 4,
    cache_size: Annotated[int, typer.Option("--cache-size", min=0, help="Prepared videos kept in memory for follow-up questions.")] = 16,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001, help="Largest request body (and downloaded video), MB.")] = 64.0,
    device: Device = "auto",
    dtype: DType = "auto",
    threads: Threads = None,
    quantize: Quantize = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug (adds an access log), info, warning or error.")] = "info",
) -> None:
    """Serve the model over HTTP with OpenAI's chat-completions API (as vLLM).

    POST /v1/chat/completions takes a user message whose content holds a
    {"type": "video_url", "video_url": {"url": ...}} part beside text parts:
    a file:// path inside an --allowed-media-path folder, a
    data:video/mp4;base64,... URL, or http(s) with --allow-remote-media.
    Earlier turns become the chat history; stream, max_tokens, temperature,
    top_p and seed are honoured. GET /v1/models lists the model.

    The model loads once; each video's features are cached, so follow-up
    questions skip sampling and encoding. One request is answered at a time,
    --max-queue more wait, others get 429. Binds 127.0.0.1 by default;
    SIGTERM or Ctrl-C stops it cleanly.

    Examples:
      hawk serve --allowed-media-path ~/videos
      HAWK_API_KEY=k hawk serve --host 0.0.0.0 --allowed-media-path data/
    """
    import logging

    from hawk_core.errors import ConfigError
    from hawk_core.serving.config import ServeConfig

    levels = ("debug", "info", "warning", "error")
    if log_level.lower() not in levels:
        raise ConfigError(f"--log-level {log_level!r}: choose one of {', '.join(levels)}")
    log_level = log_level.lower()
    from hawk_core.secrets import register as register_secret

    register_secret(api_key)  # never printed, logged or echoed (hawk_core.secrets)
    cfg = ServeConfig(
        host=host, port=port, api_key=api_key, allowed_media_paths=tuple(allowed_media_path or ()),
        allow_remote_media=allow_remote_media, max_body_mb=max_body_mb, max_queue=max_queue, cache_size=cache_size,
        max_tokens=max_tokens, model_name=served_model_name,
    )  # checked before the model loads
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")

    from hawk_cli._inference import load_predictor
    from hawk_core.serving.app import default_model_id, serve as run_server
    from hawk_core.serving.engine import Engine

    predictor = load_predictor(model, device=device, dtype=dtype, frames=frames, threads=threads, quantize=quantize)
    engine = Engine(predictor, max_queue=max_queue, cache_size=cache_size)
    name = served_model_name or default_model_id(predictor)
    folders = ", ".join(str(p) for p in cfg.allowed_media_paths) or "none (file:// URLs refused)"
    err_console.print(
        f"[bold]hawk serve[/]: model [bold]{name}[/] on http://{host}:{port}/v1 "
        f"(auth: {'API key' if api_key else 'none'}; local media: {folders})",
        soft_wrap=True, markup=True, highlight=False,
    )
    _run_until_signal(lambda: run_server(engine, cfg, log_level=log_level))
    err_console.print("hawk serve: stopped", highlight=False)


class _Stopped(Exception):
    pass


def _run_until_signal(run) -> None:
    """uvicorn shuts down on SIGINT / SIGTERM, then raises the signal again for the process;
    here that ends the command normally (exit 0) instead of as an interruption."""
    import signal

    def stop(signum, frame):  # noqa: ARG001
        raise _Stopped()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        run()
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
